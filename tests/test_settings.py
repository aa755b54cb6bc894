"""Settings: TOML file + PUNCHD_* environment, one clear message per bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from punchd import logs
from punchd.config import ConfigError, load_settings
from punchd.drivers.zk.driver import ZKConfig

GOOD = """
database_url = "postgresql+psycopg://punchd:hunter2pw@db.invalid/punchd"
[[devices]]
name = "gate-1"
driver = "zk"
host = "10.0.0.5"
comm_key = 424242
timezone = "Asia/Shanghai"
encoding = "gbk"
[[devices]]
name = "gate-2"
driver = "zk"
host = "10.0.0.6"
protocol = "udp"
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("PUNCHD_CONFIG", "PUNCHD_DATABASE_URL", "PUNCHD_DATA_DIR", "STATE_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "punchd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_values_and_defaults(tmp_path: Path) -> None:
    s = load_settings(write(tmp_path, GOOD))
    gate1, gate2 = s.devices
    assert isinstance(gate1, ZKConfig)
    assert (gate1.port, gate1.protocol, gate1.encoding, gate1.timezone) == (
        4370,
        "tcp",
        "gbk",
        "Asia/Shanghai",
    )
    assert gate1.comm_key.get_secret_value() == 424242
    assert "424242" not in repr(gate1) and "424242" not in str(s)
    assert gate2.protocol == "udp" and gate2.comm_key.get_secret_value() == 0
    assert gate2.address() == "udp://10.0.0.6:4370"
    assert s.db_url.endswith("@db.invalid/punchd")


def test_default_file_is_found_in_cwd_and_env_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, GOOD)
    assert load_settings().devices[0].name == "gate-1"
    monkeypatch.setenv("PUNCHD_DATABASE_URL", "sqlite:///elsewhere.db")
    assert load_settings().db_url == "sqlite:///elsewhere.db"


def test_config_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[[devices]]\nname = "x"\ndriver = "zk"\nhost = "h"\n')
    monkeypatch.setenv("PUNCHD_CONFIG", str(other))
    assert [d.name for d in load_settings().devices] == ["x"]


def test_default_database_is_sqlite_under_the_data_dir(tmp_path: Path) -> None:
    s = load_settings()
    assert s.devices == []
    assert s.db_url == f"sqlite:///{tmp_path / 'xdg' / 'punchd' / 'punchd.db'}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[devices]]\nname="a"\ndriver="zk"\nhost="h"\nport=70000\n',
            "devices[0] ('a'): port: Input should be less than or equal to 65535",
        ),
        (
            '[[devices]]\nname="a"\ndriver="zk"\nhost="h"\nprotokol="udp"\n',
            "devices[0] ('a'): protokol: unknown key",
        ),
        (
            '[[devices]]\nname="a"\ndriver="zk"\nhost="h"\nprotocol="ftp"\n',
            "devices[0] ('a'): protocol: Input should be 'tcp' or 'udp'",
        ),
        (
            '[[devices]]\nname="a"\ndriver="zk"\nhost="h"\ntimezone="Mars/Base"\n',
            "devices[0] ('a'): timezone: unknown time zone 'Mars/Base'",
        ),
        ('[[devices]]\nname="a"\ndriver="nope"\nhost="h"\n', "devices[0]: unknown driver 'nope'"),
        ('[[devices]]\nname="a"\ndriver="zk"\n', "devices[0] ('a'): host: Field required"),
        (
            '[[devices]]\nname="a"\ndriver="zk"\nhost="h"\n[[devices]]\nname="a"\ndriver="zk"\n'
            'host="i"\n',
            "the name 'a' is used twice",
        ),
        ('log_levl = "debug"\n', "log_levl: unknown key"),
        ('[[devices]\nname="a"', "not valid TOML"),
    ],
)
def test_bad_file_gets_one_clear_message(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_settings(tmp_path / "nope.toml")


def test_secrets_are_masked_by_field_not_by_value(tmp_path: Path) -> None:
    load_settings(write(tmp_path, GOOD))
    # A secret's value elsewhere in a text is left alone (masking it would damage the text);
    # the secret fields and URL passwords are masked.
    assert logs.scrub("key 424242 and pw hunter2pw") == "key 424242 and pw hunter2pw"
    assert logs.scrub("comm_key=424242 at postgresql://u:hunter2pw@db/x") == (
        "comm_key=*** at postgresql://u:***@db/x"
    )


def test_the_shipped_example_configuration_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "config" / "punchd.example.toml"
    s = load_settings(example)
    assert s.devices and all(d.name for d in s.devices)
    assert s.daemon.poll_every == "5m"
