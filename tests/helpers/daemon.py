"""``punchd run`` as a subprocess, the push receiver in the test's own process, and what
daemon tests configure and read back."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from punchd.clock import utcnow
from punchd.collector.push.receiver import Receiver, build_app
from punchd.collector.push.service import PushService
from punchd.collector.spool import Spool
from punchd.config import PushSettings, Settings
from punchd.drivers import DeviceConfig
from punchd.drivers.zk.simulator import SimPunch, ZKSimulator, generate
from punchd.storage import schema
from punchd.storage.database import make_engine

from ..cli_helpers import subprocess_env

USERS, PUNCHES = generate(users=100, punches=20_000, seed=44)
#: seconds a ``punchd run`` may take to start (seen: 19 s on a loaded 2-core machine)
STARTUP_S = 90


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


def logged_at(event: dict) -> datetime:
    """When the daemon logged ``event`` (UTC, aware)."""
    return datetime.fromisoformat(event["timestamp"])


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


class Daemons:
    """The ``punchd run`` subprocesses of one test, on its ``punchd.toml``, database and data
    directory (JSON logs); whatever still runs at the end is killed. A fixture::

        with Daemons(tmp_path, db_url) as daemons:
            yield daemons.start
    """

    def __init__(self, tmp_path: Path, db_url: str, **env: str) -> None:
        self.tmp_path = tmp_path
        self.db_url = db_url
        self.env = env  # more environment for every daemon (TZ, say)
        self.started: list[DaemonProcess] = []

    def start(self, config: str | None = None, *, url: str | None = None) -> DaemonProcess:
        """A daemon on ``config`` (written to punchd.toml; None: the file as it is) and on
        ``url`` instead of the test's database (a proxy in front of it, say)."""
        if config is not None:
            (self.tmp_path / "punchd.toml").write_text(config, encoding="utf-8")
        env = cli_env(self.tmp_path, url or self.db_url, PUNCHD_LOG_FORMAT="json", **self.env)
        daemon = DaemonProcess(env, self.tmp_path / f"daemon-{len(self.started)}.log")
        self.started.append(daemon)
        return daemon

    def running(self, config: str | None = None, *, url: str | None = None) -> DaemonProcess:
        """:meth:`start`, then wait until the daemon says it is up: on a loaded machine its
        start alone takes many seconds, which a deadline meant for its work must not pay."""
        daemon = self.start(config, url=url)
        daemon.wait_event("daemon started", timeout=STARTUP_S)
        return daemon

    def close(self) -> None:
        for daemon in self.started:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait()
            daemon._fh.close()

    def __enter__(self) -> Daemons:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def free_port() -> int:
    """A loopback port free now (a daemon restarted on it finds it again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningReceiver:
    """The push receiver running in the test's process, and an HTTP client (the clock)."""

    service: PushService
    client: httpx.Client
    receiver: Receiver
    spool: Spool

    @property
    def server(self) -> str:
        return f"http://127.0.0.1:{self.receiver.port}"

    @property
    def port(self) -> int:
        return self.receiver.port

    @property
    def settings(self) -> Settings:
        return self.service.settings

    def post(self, path: str, body: bytes | str, **params: str) -> httpx.Response:
        data = body.encode() if isinstance(body, str) else body
        return self.client.post(path, params=params, content=data)


class Receivers:
    """Push receivers in the test's process (uvicorn in a thread) on real loopback ports, on
    the test's engine and data directory; the site's zone is Europe/Berlin (the clocks run
    in their own). Stopped at the end. A fixture::

        with Receivers(engine, tmp_path, now=clock) as receivers:
            yield receivers.start
    """

    def __init__(
        self, engine: Engine, tmp_path: Path, *, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.engine = engine
        self.tmp_path = tmp_path
        self.now = now
        self.started: list[RunningReceiver] = []

    def start(
        self, *devices: DeviceConfig, engine_: Engine | None = None, **push_settings: object
    ) -> RunningReceiver:
        """A receiver for ``devices`` with these ``[push]`` settings (``engine_``: another
        engine than the test's, one through a proxy say)."""
        settings = Settings(
            data_dir=self.tmp_path / "data",
            timezone="Europe/Berlin",
            devices=list(devices),
            push=PushSettings(listen="127.0.0.1:0", **push_settings),  # type: ignore[arg-type]
        )
        spool = Spool(self.tmp_path / "data" / "spool")
        service = PushService(settings, engine_ or self.engine, spool, now=self.now)
        receiver = Receiver(build_app(service), "127.0.0.1", 0, graceful_seconds=2)
        receiver.start()
        client = httpx.Client(base_url=f"http://127.0.0.1:{receiver.port}", timeout=10)
        running = RunningReceiver(service, client, receiver, spool)
        self.started.append(running)
        return running

    def close(self) -> None:
        for running in self.started:
            running.client.close()
            running.receiver.stop(5)

    def __enter__(self) -> Receivers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
