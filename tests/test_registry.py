"""Drivers are found by name: built-ins plus the ``punchd.drivers`` entry-point group."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from punchd.config import ConfigError, load_settings
from punchd.drivers import DeviceConfig, DeviceInfo, DeviceUser, Driver, Punch, registry
from punchd.drivers.registry import UnknownDriver, get_driver
from punchd.drivers.zk.driver import ZKDriver


class AcmeConfig(DeviceConfig):
    serial_port: str
    baudrate: int = 9600


class AcmeDriver(Driver):
    """A third-party driver as a plug-in package would ship it."""

    name = "acme"
    config_model = AcmeConfig

    def connect(self) -> None: ...
    def close(self) -> None: ...
    def device_info(self) -> DeviceInfo:
        return DeviceInfo(serial_number="ACME-1")

    def users(self) -> list[DeviceUser]:
        return []

    def punches(self, progress=None, *, all_records=False) -> list[Punch]:
        return [Punch(enroll_no="7", punched_at=datetime(2026, 11, 2, 8, 0))]

    def get_time(self) -> datetime:
        return datetime(2026, 11, 2, 8, 0)

    def set_time(self, when: datetime) -> None: ...


NotADriver = object


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    eps = [
        EntryPoint(name="acme", value=f"{__name__}:AcmeDriver", group=registry.ENTRY_POINT_GROUP),
        EntryPoint(name="zk", value=f"{__name__}:AcmeDriver", group=registry.ENTRY_POINT_GROUP),
        EntryPoint(name="bogus", value=f"{__name__}:NotADriver", group=registry.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    registry.available.cache_clear()
    yield
    registry.available.cache_clear()


def test_entry_point_drivers_are_found(plugins: None) -> None:
    assert set(registry.available()) == {"acme", "bogus"} | set(registry._BUILTIN)
    assert get_driver("acme") is AcmeDriver
    assert get_driver("zk") is ZKDriver, "a plug-in cannot replace a built-in"
    with pytest.raises(TypeError, match="not a punchd Driver"):
        get_driver("bogus")


def test_unknown_driver_names_the_known_ones() -> None:
    with pytest.raises(UnknownDriver, match=r"unknown driver 'nope' \(known: .*zk"):
        get_driver("nope")


def test_settings_validate_a_plugin_device_with_its_own_model(
    plugins: None, tmp_path: Path
) -> None:
    path = tmp_path / "punchd.toml"
    path.write_text('[[devices]]\nname = "door"\ndriver = "acme"\nserial_port = "/dev/ttyS0"\n')
    (device,) = load_settings(path).devices
    assert isinstance(device, AcmeConfig) and device.baudrate == 9600
    path.write_text('[[devices]]\nname = "door"\ndriver = "acme"\n')
    with pytest.raises(ConfigError, match=r"devices\[0\] \('door'\): serial_port: Field required"):
        load_settings(path)


def test_the_collector_runs_a_plugin_driver_unchanged(plugins: None, engine) -> None:
    from punchd.collector.collect import collect_device

    device = AcmeConfig(name="door", driver="acme", serial_port="/dev/ttyS0", timezone="UTC")
    result = collect_device(engine, device)
    assert result.ok and (result.records_read, result.records_new) == (1, 1)
    assert collect_device(engine, device).records_new == 0
