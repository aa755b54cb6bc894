"""Text from devices is shown, not obeyed: a clock serving a serial number with terminal
escape sequences and rich markup, under a device name with more of them, through the real
``punchd collect``, ``devices`` and ``status`` commands."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import structlog
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from punchd import logs
from punchd.drivers.zk.simulator import ZKSimulator, generate
from punchd.storage.schema import att_device, att_device_poll

from .cli_helpers import punchd, subprocess_env

SERIAL = "SN\x1b[2J[/bold]\x07"
NAME = "gate[red]\x1b]0;owned\x07"
ERROR = "refused [/bold] \x1b[31mred\x1b[0m\x00"
#: Anything a terminal would act on: C0 controls but newline, DEL, C1 controls.
RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    users, punches = generate(users=5, punches=20, seed=7)
    with ZKSimulator(port=0, users=users, punches=punches, serial_number=SERIAL) as s:
        yield s


@pytest.fixture
def env(db_url: str, tmp_path: Path, sim: ZKSimulator) -> dict[str, str]:
    config = tmp_path / "punchd.toml"
    config.write_text(
        "[[devices]]\n"
        f"name = {json.dumps(NAME)}\n"  # JSON string escapes are valid TOML escapes
        'driver = "zk"\nhost = "127.0.0.1"\n'
        f"port = {sim.port}\ntimeout = 2\n",
        encoding="utf-8",
    )
    return subprocess_env(
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_CONFIG=str(config),
        XDG_DATA_HOME=str(tmp_path / "data"),
        COLUMNS="300",
        NO_COLOR="1",
        TERM="xterm",
    )


def _shown_not_obeyed(text: str) -> None:
    assert not RAW_CONTROL.search(text), repr(text)
    assert "Traceback" not in text


def test_device_serial_and_name_are_shown_not_obeyed(env: dict[str, str], engine: Engine) -> None:
    collected = punchd("collect", env=env)
    assert collected.returncode == 0, collected.stderr
    _shown_not_obeyed(collected.stdout)
    assert "gate[red]\\x1b]0;owned\\x07" in collected.stdout  # the name, as text
    with engine.connect() as c:
        stored = c.execute(select(att_device.c.serial_number, att_device.c.name)).one()
    assert stored == (SERIAL, NAME)  # the stored values are untouched

    listing = punchd("devices", env=env)
    assert listing.returncode == 0, listing.stderr
    _shown_not_obeyed(listing.stdout)
    assert "SN\\x1b[2J[/bold]\\x07" in listing.stdout
    assert "gate[red]\\x1b]0;owned\\x07" in listing.stdout

    # the poll state as the daemon leaves it after a failure with a hostile error text
    # (PostgreSQL cannot store a NUL character: there the error has none)
    error = ERROR.replace("\x00", "") if engine.dialect.name == "postgresql" else ERROR
    with engine.begin() as c:
        device_id = c.execute(select(att_device.c.id)).scalar_one()
        values = dict(
            consecutive_failures=2,
            last_failure_at=datetime(2026, 1, 1),
            last_error=error,
            updated_at=datetime(2026, 1, 1),
        )
        poll = select(att_device_poll).where(att_device_poll.c.device_id == device_id)
        if c.execute(poll).all():
            c.execute(update(att_device_poll).values(**values))
        else:
            c.execute(insert(att_device_poll).values(device_id=device_id, **values))
    status = punchd("status", env=env)
    assert "Traceback" not in status.stderr, status.stderr
    _shown_not_obeyed(status.stdout)
    assert "gate[red]\\x1b]0;owned\\x07" in status.stdout
    assert "refused [/bold] \\x1b[31mred\\x1b[0m" in status.stdout
    assert "2 failed polls in a row" in status.stdout


def test_console_log_lines_show_control_characters() -> None:
    stream = io.StringIO()
    saved = structlog.get_config()
    logs.configure("console", stream=stream)
    try:
        logs.get_logger(device=NAME).info("collection", serial=SERIAL)
    finally:
        structlog.configure(**saved)
    line = stream.getvalue()
    _shown_not_obeyed(line.rstrip("\n"))
    assert "SN\\x1b[2J[/bold]\\x07" in line and "gate[red]\\x1b]0;owned\\x07" in line
