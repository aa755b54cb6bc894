"""``punchd demo``: a simulated ZK clock and a simulated Anviz card clock on loopback,
collected into the default DB."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ..drivers.anviz.codec import Record
from ..drivers.anviz.driver import AnvizConfig
from ..drivers.anviz.simulator import AnvizSimulator
from ..drivers.zk.driver import ZKConfig
from ..drivers.zk.simulator import SimPunch, ZKSimulator, generate
from . import schema
from .database import safe_url
from .settings import Settings

DEMO_DEVICE = "demo-zk"
DEMO_ANVIZ = "demo-anviz"
DEMO_COMM_KEY = 20261102


def run_demo(
    s: Settings,
    engine: Engine,
    *,
    punches: int,
    users: int,
    console: Console,
    anviz_punches: int = 2_000,
) -> int:
    from .cli import print_results, run_collection

    sim_users, sim_punches = generate(users=users, punches=punches, seed=7)
    console.print(f"database: {safe_url(s.db_url)}", highlight=False)
    with (
        ZKSimulator(
            port=0, comm_key=DEMO_COMM_KEY, users=sim_users, punches=sim_punches, record_size=40
        ) as sim,
        AnvizSimulator(ids=[1], punches=anviz_punches, seed=7) as card_sim,
    ):
        card_port = card_sim.listen_tcp("127.0.0.1", 0)
        card_clock = AnvizConfig(
            name=DEMO_ANVIZ, driver="anviz", host="127.0.0.1", tcp_port=card_port, device_id=1
        )
        device = ZKConfig(
            name=DEMO_DEVICE,
            driver="zk",
            host="127.0.0.1",
            port=sim.port,
            comm_key=DEMO_COMM_KEY,
        )
        console.print(
            f"simulated ZK terminal on tcp://127.0.0.1:{sim.port} "
            f"({len(sim_users)} users, {len(sim_punches)} punches, comm key set)"
        )
        console.print(
            f"simulated Anviz card clock on {card_clock.address()} "
            f"({anviz_punches} punches flagged new)\n",
            highlight=False,
        )
        console.print("[bold]1. Collection[/] — every punch not yet in the database is stored")
        first = run_collection(engine, [device, card_clock], show_progress=console.is_terminal)
        print_results(first)

        # People keep punching between two collections.
        rng = random.Random()
        now = datetime.now().replace(microsecond=0)
        fresh = [
            SimPunch(
                user_id=rng.choice(sim_users).user_id,
                when=now - timedelta(minutes=i),
                status=1,
                punch=i % 2,
            )
            for i in range(5)
        ]
        sim.add_punches(fresh)
        badge = card_sim.device(1)
        last_code = badge.records[-1].user_code if badge.records else 1001
        card_sim.add_punches(
            1, [Record(last_code, now - timedelta(minutes=i), 3, i % 2) for i in range(3)]
        )
        console.print(
            "\n[bold]2. Second collection[/] — people punched since; only they are new "
            "(the Anviz clock sends only the records it still flags new)"
        )
        second = run_collection(engine, [device, card_clock], show_progress=False)
        print_results(second)

    with engine.connect() as conn:
        p = schema.att_punch
        d = schema.att_device
        rows = conn.execute(
            select(p.c.enroll_no, p.c.punched_at, p.c.state, p.c.verify_mode)
            .join(d, d.c.id == p.c.device_id)
            .where(d.c.name == DEMO_DEVICE)
            .order_by(p.c.punched_at.desc(), p.c.id.desc())
            .limit(5)
        ).all()
    table = Table(title="Latest punches stored (att_punch)", title_justify="left")
    for col in ("enroll_no", "punched_at (device local)", "state", "verify_mode"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.enroll_no, str(r.punched_at), r.state, str(r.verify_mode))
    console.print()
    console.print(table)
    console.print(
        "\nNext: put your clocks in a punchd.toml (see config/punchd.example.toml), "
        "then `punchd collect` and `punchd devices`."
    )
    return 0 if all(r.ok for r in first + second) else 1
