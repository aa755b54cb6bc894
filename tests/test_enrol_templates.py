"""Fingerprint templates travel: learnt from one ZK clock into the database (encrypted),
written onto the other clocks a person belongs on, refilled after a separation is undone.
Against two ZK simulators over real TCP loopback, on every database the suite has; the site
date is always given."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from zk import ZK

from punchd.app import Actor, Site, people
from punchd.app.enrolment import NO_TEMPLATE_KEY, enrol_apply, enrol_plan
from punchd.config import ConfigError, load_settings
from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.simulator import SimUser, ZKSimulator
from punchd.storage import templates as template_store
from punchd.storage.schema import att_audit, att_finger_template

CLERK = Actor("clerk")
HEADER = "employee_no,name,department,department_name,enroll_no,card_no,hire_date,separation_date"
DAY = date(2026, 3, 10)
KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
#: a template as a ZKFinger 10 clock would give it (the bytes do not matter to a clock)
PRINT = bytes((i * 7 + 3) % 256 for i in range(1200))
OTHER = bytes((i * 11 + 5) % 256 for i in range(900))


def roster(count: int = 4) -> list[str]:
    return [f"E{i:04d},Person {i},OPS,,{100000 + i},,2024-01-01," for i in range(1, count + 1)]


def load_roster(site: Site, tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    people.import_roster(site, people.read_roster_file(site.settings, path), actor=CLERK)


@pytest.fixture
def gate() -> Iterator[ZKSimulator]:
    with ZKSimulator(port=0) as s:
        yield s


@pytest.fixture
def canteen() -> Iterator[ZKSimulator]:
    with ZKSimulator(port=0, serial_number="SIM0002") as s:
        yield s


def make_site(engine: Engine, tmp_path: Path, *sims: ZKSimulator, key: str | None = KEY) -> Site:
    devices = [
        {
            "name": name,
            "driver": "zk",
            "host": "127.0.0.1",
            "port": sim.port,
            "timeout": 2,
            "enrol": "all",
        }
        for name, sim in zip(("gate", "canteen"), sims, strict=False)
    ]
    enrolment = {"template_key": key} if key else {}
    s = load_settings(
        None,
        data_dir=tmp_path / "data",
        timezone="Asia/Shanghai",
        devices=devices,
        enrolment=enrolment,
    )
    return Site(s, engine)


@pytest.fixture
def site(engine: Engine, tmp_path: Path, gate: ZKSimulator, canteen: ZKSimulator) -> Site:
    site = make_site(engine, tmp_path, gate, canteen)
    load_roster(site, tmp_path, roster())
    enrol_apply(site, actor=CLERK, today=DAY)  # everyone on both clocks, no fingers yet
    assert len(gate.users) == len(canteen.users) == 4
    return site


def stored_rows(engine: Engine) -> list[tuple[int, int, bytes, str | None, str]]:
    t = att_finger_template
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.employee_id, t.c.finger, t.c.template, t.c.fp_version, t.c.source_device)
        ).all()
    return [(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows]


def audit_count(engine: Engine, action: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(att_audit).where(att_audit.c.action == action)
        return int(conn.execute(query).scalar_one())


# --------------------------------------------------------------------------- the whole path


def test_finger_on_gate_reaches_canteen_encrypted_and_second_apply_is_a_no_op(
    site: Site, gate: ZKSimulator, canteen: ZKSimulator
) -> None:
    gate.set_template("100001", 6, PRINT)
    gate.set_template("100002", 1, OTHER)

    plan = enrol_plan(site, today=DAY)
    assert plan.templates_note is None and plan.templates_learnt == {"gate": 2, "canteen": 0}
    by = {d.device: d for d in plan.devices}
    assert by["canteen"].templates is not None
    assert [(c.enroll_no, c.fingers) for c in by["canteen"].templates.copies] == [
        ("100001", (6,)),
        ("100002", (1,)),
    ]
    assert stored_rows(site.engine) == [] and canteen.template_writes == 0  # a plan: nothing

    run = enrol_apply(site, actor=CLERK, today=DAY)
    by = {d.device: d for d in run.devices}
    assert by["canteen"].error is None and by["canteen"].template_failures == []
    assert canteen.templates_of("100001") == {6: PRINT}
    assert canteen.templates_of("100002") == {1: OTHER}
    assert gate.template_writes == 0  # the gate had them: nothing written there
    # the user records written with the templates are the ones the clock had
    assert {u.user_id: u.name for u in canteen.users}["100001"] == "Person 1"

    rows = stored_rows(site.engine)
    assert sorted((r[1], r[3], r[4]) for r in rows) == [(1, "10", "gate"), (6, "10", "gate")]
    for _employee, _finger, sealed, _v, _src in rows:
        assert PRINT not in sealed and OTHER not in sealed
        assert PRINT[:32] not in sealed and OTHER[:32] not in sealed
    cipher = template_store.TemplateCipher(KEY)
    with site.engine.connect() as conn:
        opened = {r.finger: r.template for r in template_store.load(conn, cipher)}
    assert opened == {6: PRINT, 1: OTHER}
    assert audit_count(site.engine, "enrol-template") == 2
    assert audit_count(site.engine, "enrol-template-store") == 2
    with site.engine.connect() as conn:
        details = " ".join(conn.execute(select(att_audit.c.detail)).scalars().all())
    assert PRINT.hex()[:40] not in details and KEY not in details

    writes = (gate.template_writes, canteen.template_writes, gate.user_writes)
    applies = audit_count(site.engine, "enrol-apply")
    again = enrol_apply(site, actor=CLERK, today=DAY)
    assert all(d.templates_done == [] and d.template_failures == [] for d in again.devices)
    assert again.templates_learnt == {"gate": 0, "canteen": 0}
    assert (gate.template_writes, canteen.template_writes, gate.user_writes) == writes
    assert audit_count(site.engine, "enrol-apply") == applies
    assert [r[2] for r in stored_rows(site.engine)] == [r[2] for r in rows]  # not re-sealed


def test_replaced_clock_is_refilled_from_the_database(
    engine: Engine, tmp_path: Path, site: Site, gate: ZKSimulator
) -> None:
    gate.set_template("100003", 0, PRINT)
    enrol_apply(site, actor=CLERK, today=DAY)
    with ZKSimulator(port=0, serial_number="SIM0003") as fresh:  # the canteen's new clock
        refill = make_site(engine, tmp_path, gate, fresh)
        done = {d.device: d for d in enrol_apply(refill, actor=CLERK, today=DAY).devices}
        assert len(done["canteen"].done) == 4  # the users first
        assert fresh.templates_of("100003") == {0: PRINT}
        assert [c.enroll_no for c in done["canteen"].templates_done] == ["100003"]


def test_no_key_says_so_and_stores_and_copies_nothing(
    engine: Engine, tmp_path: Path, site: Site, gate: ZKSimulator, canteen: ZKSimulator
) -> None:
    gate.set_template("100001", 6, PRINT)
    keyless = make_site(engine, tmp_path, gate, canteen, key=None)
    plan = enrol_plan(keyless, today=DAY)
    assert plan.templates_note == NO_TEMPLATE_KEY
    assert all(d.templates is None for d in plan.devices)
    run = enrol_apply(keyless, actor=CLERK, today=DAY)
    assert run.templates_note == NO_TEMPLATE_KEY
    assert canteen.templates_of("100001") == {} and canteen.template_writes == 0
    assert stored_rows(engine) == []
    assert "template_key" in NO_TEMPLATE_KEY and "PUNCHD_ENROLMENT__TEMPLATE_KEY" in NO_TEMPLATE_KEY


def test_refused_template_write_is_reported_and_others_go_ahead(
    site: Site, gate: ZKSimulator, canteen: ZKSimulator
) -> None:
    for enroll_no in ("100001", "100002", "100003"):
        gate.set_template(enroll_no, 2, PRINT)
    canteen.faults = ["refuse-template-write:1"]
    run = enrol_apply(site, actor=CLERK, today=DAY)
    c = {d.device: d for d in run.devices}["canteen"]
    assert [(f.copy.enroll_no, f.kind) for f in c.template_failures] == [("100001", "refused")]
    assert [x.enroll_no for x in c.templates_done] == ["100002", "100003"]
    assert canteen.templates_of("100001") == {}
    assert canteen.templates_of("100002") == {2: PRINT}
    assert len(canteen.users) == 4 and canteen.enabled
    # the next run retries the one refused, and only it
    retry = {d.device: d for d in enrol_apply(site, actor=CLERK, today=DAY).devices}
    assert [x.enroll_no for x in retry["canteen"].templates_done] == ["100001"]
    assert canteen.templates_of("100001") == {2: PRINT}


def test_template_capacity_full_is_reported(
    site: Site, gate: ZKSimulator, canteen: ZKSimulator
) -> None:
    gate.set_template("100001", 2, PRINT)
    gate.set_template("100002", 2, PRINT)
    canteen.finger_capacity = 1
    c = {d.device: d for d in enrol_apply(site, actor=CLERK, today=DAY).devices}["canteen"]
    assert [(f.copy.enroll_no, f.kind) for f in c.template_failures] == [
        ("100002", "capacity_full")
    ]
    assert "1 of 1 fingerprint templates" in c.template_failures[0].message


def test_other_algorithm_version_is_reported_per_person_and_nothing_written(
    engine: Engine, tmp_path: Path, site: Site, gate: ZKSimulator
) -> None:
    gate.set_template("100001", 6, PRINT)
    with ZKSimulator(port=0, options={"~ZKFPVersion": "9"}) as old:
        mixed = make_site(engine, tmp_path, gate, old)
        run = enrol_apply(mixed, actor=CLERK, today=DAY)
        c = {d.device: d for d in run.devices}["canteen"]
        assert len(c.done) == 4 and c.templates_done == []  # users yes, fingers no
        [failure] = c.template_failures
        assert (failure.copy.enroll_no, failure.kind) == ("100001", "not_supported")
        assert "version 10 (from gate)" in failure.message and "version 9" in failure.message
        assert old.template_writes == 0 and old.template_count == 0
        again = {d.device: d for d in enrol_apply(mixed, actor=CLERK, today=DAY).devices}
        assert [f.copy.enroll_no for f in again["canteen"].template_failures] == ["100001"]
        assert again["canteen"].done == [] and old.template_writes == 0


def test_unseparating_restores_the_fingers(
    site: Site, gate: ZKSimulator, canteen: ZKSimulator
) -> None:
    gate.set_template("100004", 3, PRINT)
    enrol_apply(site, actor=CLERK, today=DAY)
    assert canteen.templates_of("100004") == {3: PRINT}
    people.separate(site, "E0004", DAY, actor=CLERK)
    enrol_apply(site, actor=CLERK, today=date(2026, 3, 11))
    assert "100004" not in {u.user_id for u in gate.users}
    assert gate.templates_of("100004") == {} and canteen.templates_of("100004") == {}
    people.unseparate(site, "E0004", actor=CLERK)
    run = enrol_apply(site, actor=CLERK, today=date(2026, 3, 11))
    for sim in (gate, canteen):
        assert "100004" in {u.user_id for u in sim.users}
        assert sim.templates_of("100004") == {3: PRINT}
    assert all(d.template_failures == [] for d in run.devices)


def test_a_stored_template_under_another_key_is_refused_without_the_key(
    engine: Engine, tmp_path: Path, site: Site, gate: ZKSimulator, canteen: ZKSimulator
) -> None:
    from punchd.errors import PunchdError

    gate.set_template("100001", 6, PRINT)
    enrol_apply(site, actor=CLERK, today=DAY)
    other = base64.urlsafe_b64encode(bytes(32)).decode()
    wrong = make_site(engine, tmp_path, gate, canteen, key=other)
    with pytest.raises(PunchdError) as caught:
        enrol_plan(wrong, today=DAY)
    assert other not in str(caught.value) and KEY not in str(caught.value)
    assert "does not open" in str(caught.value)


def test_bad_key_setting_is_refused_without_echoing_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, data_dir=tmp_path, enrolment={"template_key": "not-a-key-secret"})
    assert "not-a-key-secret" not in str(caught.value)
    assert "32 bytes" in str(caught.value)


# --------------------------------------------------------------------------- the packets


def test_template_buffer_round_trip() -> None:
    body = p.pack_template(5, 6, 1, PRINT) + p.pack_template(7, 0, 3, b"\x01\x02")
    assert body[:6] == struct.pack("<HHBB", 6 + len(PRINT), 5, 6, 1)
    assert list(p.iter_templates(body)) == [(5, 6, 1, PRINT), (7, 0, 3, b"\x01\x02")]
    with pytest.raises(ValueError):
        list(p.iter_templates(body[:-1]))


def test_save_usertemps_upload_layout() -> None:
    record = p.pack_user(72, uid=9, user_id="100009", name="Nine", card=42, group_id="1")
    upload = p.pack_save_usertemps([(record, 9, [(2, b"abc"), (7, b"defg")])])
    head = struct.unpack_from("<III", upload)
    assert head == (73, 16, 2 + 3 + 2 + 4)
    user = upload[12 : 12 + 73]
    assert user[0] == 2 and user[1:40] == record[:39] and user[40] == 1
    assert user[41:] == record[40:]
    table = upload[12 + 73 : 12 + 73 + 16]
    assert struct.unpack("<BHBI", table[:8]) == (2, 9, 0x12, 0)
    assert struct.unpack("<BHBI", table[8:]) == (2, 9, 0x17, 5)
    assert upload[12 + 73 + 16 :] == b"\x03\x00abc\x04\x00defg"
    users, fingers = p.unpack_save_usertemps(upload)
    assert users == [(9, 0, "", "Nine", 42, "1", "100009")]
    assert fingers == [(9, 2, b"abc"), (9, 7, b"defg")]
    short = p.pack_user(28, uid=3, user_id="33", name="T")
    assert p.save_user_record(short) == b"\x02" + short
    assert p.SAVE_COMMIT.pack(*p.SAVE_COMMIT_ARGS) == struct.pack("<IHH", 12, 0, 8)


def test_unmodified_pyzk_reads_and_writes_templates_on_the_simulator() -> None:
    from zk.finger import Finger

    with ZKSimulator(port=0, users=[SimUser(1, "100001", "A"), SimUser(2, "100002", "B")]) as sim:
        sim.set_template("100002", 4, OTHER)
        conn = ZK("127.0.0.1", port=sim.port, timeout=3, ommit_ping=True).connect()
        try:
            fingers = conn.get_templates()
            assert [(f.uid, f.fid, f.valid, f.template) for f in fingers] == [(2, 4, 1, OTHER)]
            [user] = [u for u in conn.get_users() if u.user_id == "100001"]
            conn.save_user_template(user, [Finger(1, 6, 1, PRINT)])
        finally:
            conn.disconnect()
        assert sim.templates_of("100001") == {6: PRINT}
        assert sim.template_writes == 1


def test_template_write_of_pyzk_and_punchd_are_the_same_bytes() -> None:
    """The upload punchd sends equals the one pyzk's save_user_template sends."""
    from zk.finger import Finger
    from zk.user import User

    user = User(9, "Nine", 0, "", "", "100009", 42)
    finger = Finger(9, 3, 1, PRINT)
    table = struct.pack("<bHbI", 2, 9, 0x10 + 3, 0)
    theirs = user.repack73()
    body = finger.repack_only()
    expected = struct.pack("III", len(theirs), len(table), len(body)) + theirs + table + body
    record = p.pack_user(72, uid=9, user_id="100009", name="Nine", card=42)
    assert p.pack_save_usertemps([(record, 9, [(3, PRINT)])]) == expected


# --------------------------------------------------------------------------- revision 0011


def test_revision_0011_adds_and_drops_the_template_table(db_url: str) -> None:
    from sqlalchemy import inspect

    from punchd.storage.database import current_revision, downgrade, make_engine, upgrade

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0010")
        assert "att_finger_template" not in inspect(engine).get_table_names()
        upgrade(engine, "0011")
        assert current_revision(engine) == "0011"
        columns = {c["name"] for c in inspect(engine).get_columns("att_finger_template")}
        assert {"employee_id", "finger", "fp_version", "template", "source_device"} <= columns
        downgrade(engine, "0010")
        assert "att_finger_template" not in inspect(engine).get_table_names()
        upgrade(engine, "0011")
        assert current_revision(engine) == "0011"
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the command


def test_cli_says_no_key_then_copies_with_the_key_from_the_environment(
    db_url: str, tmp_path: Path, site: Site, gate: ZKSimulator, canteen: ZKSimulator
) -> None:
    from .cli_helpers import punchd, subprocess_env

    gate.set_template("100001", 6, PRINT)
    config = tmp_path / "punchd.toml"
    devices = "".join(
        f"""
[[devices]]
name = "{name}"
driver = "zk"
host = "127.0.0.1"
port = {sim.port}
timeout = 2
enrol = "all"
"""
        for name, sim in (("gate", gate), ("canteen", canteen))
    )
    config.write_text(
        f'timezone = "Asia/Shanghai"\ndata_dir = "{tmp_path / "data"}"\n{devices}',
        encoding="utf-8",
    )
    base = {"PUNCHD_DATABASE_URL": db_url, "COLUMNS": "200", "NO_COLOR": "1"}
    keyless = punchd("-c", str(config), "enrol", "plan", "--on", "2026-03-10",
                     env=subprocess_env(**base))  # fmt: skip
    assert keyless.returncode == 0, keyless.stderr
    assert keyless.stdout.splitlines()[0] == NO_TEMPLATE_KEY

    env = subprocess_env(**base, PUNCHD_ENROLMENT__TEMPLATE_KEY=KEY)
    planned = punchd("-c", str(config), "enrol", "plan", "--on", "2026-03-10", env=env)
    assert planned.returncode == 0, planned.stderr
    assert "gate: fingerprints: 1 new to store (encrypted)" in planned.stdout
    assert "  f 100001 Person 1 (E0001): fingers 6" in planned.stdout
    assert "canteen: fingerprints: 1 to copy for 1 people" in planned.stdout

    canteen.faults = ["refuse-template-write:1"]
    refused = punchd("-c", str(config), "enrol", "apply", env=env)
    assert refused.returncode == 1
    assert "! fingerprints 100001 Person 1: refused: canteen" in refused.stdout
    applied = punchd("-c", str(config), "enrol", "apply", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "canteen: fingerprints: copied 1 for 1 people" in applied.stdout
    assert canteen.templates_of("100001") == {6: PRINT}
    for result in (keyless, planned, refused, applied):
        assert KEY not in result.stdout + result.stderr

    made = punchd("enrol", "new-key", env=subprocess_env())
    assert made.returncode == 0
    key = made.stdout.strip()
    assert len(base64.urlsafe_b64decode(key)) == 32 and key != KEY
