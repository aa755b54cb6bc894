"""Secrets are masked by field, never by searching text for their value: a comm key of 7
must not turn the 7s of an address into ``***`` (revealing the key and damaging the text),
in the output, the log or the stored run error; a database password never shows."""

from __future__ import annotations

import io
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url

from punchd import logs
from punchd.drivers.zk.simulator import ZKSimulator, generate
from punchd.storage.schema import att_collection_run

from .cli_helpers import punchd, subprocess_env

KEY = 7


def _free_port_with(digit: str) -> int:
    """A free loopback port whose number contains ``digit`` (so that masking the digit
    everywhere would show)."""
    for _ in range(500):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if digit in str(port):
            return port
    raise AssertionError("no free port found")


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    users, punches = generate(users=5, punches=30, seed=17)
    for attempt in range(20):
        try:
            server = ZKSimulator(
                port=_free_port_with("7"), comm_key=KEY, users=users, punches=punches
            )
            server.start()
        except OSError:  # somebody took the port in between: pick another
            if attempt == 19:
                raise
            continue
        break
    try:
        yield server
    finally:
        server.stop()


def _env(tmp_path: Path, db_url: str, port: int, key: int) -> dict[str, str]:
    config = tmp_path / "punchd.toml"
    config.write_text(
        '[[devices]]\nname = "gate-7"\ndriver = "zk"\nhost = "127.0.0.1"\n'
        f"port = {port}\ncomm_key = {key}\ntimeout = 2\n",
        encoding="utf-8",
    )
    return subprocess_env(
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_CONFIG=str(config),
        XDG_DATA_HOME=str(tmp_path / "data"),
        COLUMNS="300",
        NO_COLOR="1",
    )


def test_comm_key_7_leaves_output_log_and_stored_error_intact(
    sim: ZKSimulator, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    address = f"tcp://127.0.0.1:{sim.port}"
    # the right key: collected, and the address shown as it is
    ok = punchd("collect", env=_env(tmp_path, db_url, sim.port, KEY))
    assert ok.returncode == 0, ok.stderr
    events = [json.loads(line) for line in ok.stderr.splitlines() if line.startswith("{")]
    assert any(e.get("device") == "gate-7" for e in events)
    listing = punchd("devices", env=_env(tmp_path, db_url, sim.port, KEY))
    assert f"127.0.0.1:{sim.port}" in listing.stdout and "gate-7" in listing.stdout

    # the wrong key (the device's is 7): refused, and every text says so undamaged
    bad = punchd("collect", env=_env(tmp_path, db_url, sim.port, 8))
    assert bad.returncode == 1
    expected = f"gate-7 ({address}): the device refused the comm key"
    assert expected in bad.stderr
    with engine.connect() as c:
        errors = c.execute(select(att_collection_run.c.error)).scalars().all()
    assert expected in errors  # stored as it was
    for text in (
        ok.stdout,
        ok.stderr,
        bad.stdout,
        bad.stderr,
        listing.stdout,
        *filter(None, errors),
    ):
        assert "***" not in text
        assert "comm_key" not in text  # the key is never printed, by name or value


def test_database_password_never_shown_and_nothing_else_masked(tmp_path: Path) -> None:
    port = _free_port_with("7")  # nothing listens there
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "data"), COLUMNS="300", NO_COLOR="1")
    for url, secret in (
        (f"postgresql+psycopg://postgres:s3cr7t@127.0.0.1:{port}/x", "s3cr7t"),
        (f"mysql+pymysql://root:Pa55w0rd-long@127.0.0.1:{port}/x", "Pa55w0rd-long"),
    ):
        result = punchd("devices", env=dict(env, PUNCHD_DATABASE_URL=url))
        assert result.returncode == 2
        (line,) = result.stderr.strip().splitlines()
        assert secret not in result.stdout + result.stderr
        user = make_url(url).username
        assert f"//{user}:***@127.0.0.1:{port}/x" in line  # the password, and only it
        assert "Connection refused" in line or "Can't connect" in line


@pytest.mark.skipif(
    not os.environ.get("PUNCHD_TEST_MYSQL_URL"), reason="PUNCHD_TEST_MYSQL_URL not set"
)
def test_password_equal_to_the_user_name_masks_only_the_password(tmp_path: Path) -> None:
    # A real server refusing the password: its message names the user, which here is
    # also the password; masking by value would have turned the user name into ***.
    server = make_url(os.environ["PUNCHD_TEST_MYSQL_URL"])
    url = server.set(password="root-wrong", username="root-wrong", database="x")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
    env.update(
        XDG_DATA_HOME=str(tmp_path / "data"),
        NO_COLOR="1",
        PUNCHD_DATABASE_URL=url.render_as_string(hide_password=False),
    )
    result = punchd("devices", env=env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "//root-wrong:***@" in line
    assert "Access denied for user 'root-wrong'" in line


def test_log_lines_mask_secret_fields_and_nothing_else() -> None:
    stream = io.StringIO()
    saved = structlog.get_config()
    logs.configure("json", stream=stream)
    try:
        logs.get_logger(device="gate-7").info(
            "collection",
            comm_key=7,
            password="hunter2",
            db_url="postgresql://u:hunter2@127.0.0.1:5437/x",
            address="tcp://127.0.0.1:24617",
            records=7,
            config={"comm_key": 7, "port": 4370},
            error="login failed: password=hunter2 user=u7",
        )
    finally:
        structlog.configure(**saved)
    event = json.loads(stream.getvalue())
    assert event["comm_key"] == "***" and event["password"] == "***"
    assert event["db_url"] == "postgresql://u:***@127.0.0.1:5437/x"
    assert event["address"] == "tcp://127.0.0.1:24617" and event["records"] == 7
    assert event["config"] == {"comm_key": "***", "port": 4370}
    assert event["error"] == "login failed: password=*** user=u7"
    assert event["device"] == "gate-7"
    assert "hunter2" not in stream.getvalue()


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("tcp://127.0.0.1:24617: timed out", "tcp://127.0.0.1:24617: timed out"),
        ("ZKConfig(comm_key=7, port=4370)", "ZKConfig(comm_key=***, port=4370)"),
        ("{'comm_key': 7, 'port': 4377}", "{'comm_key': ***, 'port': 4377}"),
        ('{"password": "a b", "user": "u7"}', '{"password": "***", "user": "u7"}'),
        ("host=db password=s3cr7t user=u", "host=db password=*** user=u"),
        ("mysql+pymysql://u:p@ss@db:3307/x", "mysql+pymysql://u:***@db:3307/x"),
        ("mysql+pymysql://root@127.0.0.1:3306/test", "mysql+pymysql://root@127.0.0.1:3306/test"),
        # prose about a setting is not a value
        ("comm_key: Input should be a valid integer", "comm_key: Input should be a valid integer"),
        ("the device refused the comm key", "the device refused the comm key"),
        ("passwords: 3, mypassword=x", "passwords: 3, mypassword=x"),
    ],
)
def test_scrub_masks_structure_only(text: str, masked: str) -> None:
    assert logs.scrub(text) == masked
