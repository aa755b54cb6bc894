"""``punchd demo``: a simulated ZK clock on loopback, collected into the default DB."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ..drivers.zk.driver import ZKConfig
from ..drivers.zk.simulator import SimPunch, ZKSimulator, generate
from . import schema
from .database import safe_url
from .settings import Settings

DEMO_DEVICE = "demo-zk"
DEMO_COMM_KEY = 20261102


def run_demo(s: Settings, engine: Engine, *, punches: int, users: int, console: Console) -> int:
    from .cli import print_results, run_collection

    sim_users, sim_punches = generate(users=users, punches=punches, seed=7)
    console.print(f"database: {safe_url(s.db_url)}", highlight=False)
    with ZKSimulator(
        port=0, comm_key=DEMO_COMM_KEY, users=sim_users, punches=sim_punches, record_size=40
    ) as sim:
        device = ZKConfig(
            name=DEMO_DEVICE,
            driver="zk",
            host="127.0.0.1",
            port=sim.port,
            comm_key=DEMO_COMM_KEY,
        )
        console.print(
            f"simulated ZK terminal on tcp://127.0.0.1:{sim.port} "
            f"({len(sim_users)} users, {len(sim_punches)} punches, comm key set)\n"
        )
        console.print("[bold]1. Collection[/] — every punch not yet in the database is stored")
        first = run_collection(engine, [device], show_progress=console.is_terminal)
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
        console.print("\n[bold]2. Second collection[/] — 5 people punched since; only they are new")
        second = run_collection(engine, [device], show_progress=False)
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
