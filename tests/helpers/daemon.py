"""``punchd run`` as a subprocess, and what daemon tests configure and read back."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from punchd.drivers.zk.simulator import SimPunch, ZKSimulator, generate
from punchd.storage import schema
from punchd.storage.database import make_engine

from ..cli_helpers import subprocess_env

USERS, PUNCHES = generate(users=100, punches=20_000, seed=44)


def cli_env(tmp_path: Path, db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a punchd subprocess: this test's config, database and data dir."""
    return subprocess_env(
        PUNCHD_CONFIG=str(tmp_path / "punchd.toml"),
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_DATA_DIR=str(tmp_path / "data"),
        **extra,
    )


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class DaemonProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "punchd", "run"],
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )

    def events(self) -> list[dict]:
        out = []
        for line in self.log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):  # a line cut by SIGKILL
                    out.append(json.loads(line))
        return out

    def wait_event(self, event: str, timeout: float = 20, **match: object) -> dict:
        def find() -> dict | None:
            for e in self.events():
                if e.get("event") == event and all(e.get(k) == v for k, v in match.items()):
                    return e
            return None

        return wait_until(find, timeout, f"log event {event} {match}")  # type: ignore[return-value]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._fh.close()


def zk(name: str, sim: ZKSimulator, **kw: object) -> str:
    lines = [
        "[[devices]]",
        f'name = "{name}"',
        'driver = "zk"',
        'host = "127.0.0.1"',
        f"port = {sim.port}",
        f"comm_key = {sim.comm_key}",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in kw.items()]
    return "\n".join(lines) + "\n"


def daemon_table(**kw: object) -> str:
    settings = {
        "poll_every": "1s",
        "heartbeat_every": 0.5,
        "backoff_base": "1s",
        "backoff_max": "2s",
        **kw,
    }
    return "[daemon]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())


def stored(url: str) -> tuple[int, int]:
    """(rows, distinct punch identities) in att_punch."""
    engine = make_engine(url)
    t = schema.att_punch
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(t)).scalar_one()
            distinct = conn.execute(
                select(func.count()).select_from(
                    select(t.c.device_id, t.c.enroll_no, t.c.punched_at, t.c.state)
                    .distinct()
                    .subquery()
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return rows, distinct


def runs(url: str) -> list[dict]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(
                    select(schema.att_collection_run, schema.att_device.c.name)
                    .join(
                        schema.att_device,
                        schema.att_device.c.id == schema.att_collection_run.c.device_id,
                    )
                    .order_by(schema.att_collection_run.c.id)
                ).mappings()
            ]
    finally:
        engine.dispose()


def extra_punches(start: int, n: int) -> list[SimPunch]:
    # today, after every generated punch: a punch more than a day ahead of the device's
    # clock would be stored flagged "future" (and listed by status) instead
    base = datetime.now().replace(hour=8, minute=0, second=0, microsecond=0)
    return [
        SimPunch(
            user_id=USERS[i % len(USERS)].user_id,
            when=base + timedelta(minutes=start + i),
            punch=i % 2,
        )
        for i in range(n)
    ]
