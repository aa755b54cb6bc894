"""The collection operations of the application layer, called directly (no CLI)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site
from punchd.app import collection as ops
from punchd.collector.collect import CollectionWatch, RunResult
from punchd.collector.errors import CollectionError, DeviceLeased, NoDevices
from punchd.collector.lease import database_lease
from punchd.config import ConfigError, load_settings
from punchd.drivers.zk.simulator import ZKSimulator, generate
from punchd.errors import PunchdError
from punchd.storage import collection as store

KEY = 4242
USERS, PUNCHES = generate(users=20, punches=300, seed=5)


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    with ZKSimulator(port=0, comm_key=KEY, users=USERS, punches=PUNCHES) as s:
        yield s


def site_for(engine: Engine, tmp_path: Path, sim: ZKSimulator | None = None) -> Site:
    devices = []
    if sim is not None:
        devices.append(
            {
                "name": "gate",
                "driver": "zk",
                "host": "127.0.0.1",
                "port": sim.port,
                "comm_key": KEY,
                "timeout": 2,
            }
        )
    devices.append({"name": "spare", "driver": "zk", "host": "127.0.0.1", "enabled": False})
    # The host's zone: the simulated clock keeps the host's wall-clock time.
    s = load_settings(None, data_dir=tmp_path / "data", devices=devices)
    return Site(s, engine)


def sim_config(site: Site):
    return site.settings.device("gate")


def test_errors_are_the_collectors_own_family() -> None:
    from punchd.drivers import DriverError

    for cls in (DeviceLeased, NoDevices):
        assert issubclass(cls, CollectionError) and issubclass(cls, PunchdError)
        assert not issubclass(cls, DriverError)
    assert DeviceLeased.reason == "leased"


def test_pick_devices(engine: Engine, tmp_path: Path) -> None:
    s = site_for(engine, tmp_path).settings
    with pytest.raises(NoDevices, match="no devices configured"):
        ops.pick_devices(s)  # the only device is disabled
    assert [d.name for d in ops.pick_devices(s, ["spare"])] == ["spare"]
    with pytest.raises(ConfigError):
        ops.pick_devices(s, ["nope"])


class Recorder(CollectionWatch):
    def __init__(self) -> None:
        self.events: list[str] = []

    def started(self, device: str) -> None:
        self.events.append(f"start {device}")

    def progress(self, device: str, done: int, total: int) -> None:
        if self.events[-1] != f"progress {device}":
            self.events.append(f"progress {device}")

    def finished(self, device: str, result: RunResult) -> None:
        self.events.append(f"end {device} {result.status}")


def test_collect_now_lists_and_status(engine: Engine, tmp_path: Path, sim: ZKSimulator) -> None:
    site = site_for(engine, tmp_path, sim)
    watch, refreshed = Recorder(), []
    (result,) = ops.collect_now(site, ["gate"], watch=watch, refresh=lambda: refreshed.append(1))
    assert result.ok and result.records_new == len(PUNCHES)
    assert watch.events == ["start gate", "progress gate", "end gate ok"]
    assert refreshed == [1]  # new punches: re-processed before it returns
    (again,) = ops.collect_now(site, refresh=lambda: refreshed.append(2))  # enabled devices
    assert again.ok and again.records_new == 0 and refreshed == [1]

    listing = ops.list_devices(site)
    gate, spare = listing.devices
    assert (gate.name, gate.configured, gate.last_run_status) == ("gate", True, "ok")
    assert gate.punch_count == len(PUNCHES) and gate.clock_drift_seconds is not None
    assert (spare.name, spare.last_run_status, spare.punch_count) == ("spare", None, 0)
    assert listing.warnings == [] and listing.timezone is None

    status = ops.site_status(site)
    assert [d["name"] for d in status.devices] == ["gate", "spare"]
    assert "no punchd daemon is running (no heartbeat)" in status.attention


def test_set_device_time_audited_and_leased(
    engine: Engine, tmp_path: Path, sim: ZKSimulator
) -> None:
    site = site_for(engine, tmp_path, sim)
    done = ops.set_device_time(site, "gate", datetime(2030, 1, 2, 3, 4, 5), Actor("hr-anna"))
    assert (done.device, done.zone) == ("gate", site.settings.device_zone(sim_config(site)).key)
    assert done.drift_after_s > 3600 * 24 * 300  # set years ahead
    assert ops.list_devices(site).warnings[0].startswith("gate: clock is ")
    with engine.begin() as conn:
        device_id = store.upsert_device(conn, name="gate", driver="zk", address="x")
    with (
        database_lease(engine, device_id, "gate", purpose="manual"),
        pytest.raises(DeviceLeased, match="gate: busy: another collector is using it"),
    ):
        ops.set_device_time(site, "gate", None, Actor("hr-anna"))
