"""Faces travel between push (ADMS) clocks: learnt from a clock's OPERLOG ``BIODATA`` line
into att_bio_template (encrypted), copied with ``DATA UPDATE BIODATA`` to the push clocks the
person should be on whose face algorithm has the same major version, reported per person on
a clock of another version. The real push receiver on loopback HTTP, simulated push clocks,
on every database backend; the site date is always given."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from punchd.app.enrolment import EnrolmentRun
from punchd.drivers.adms import protocol
from punchd.drivers.adms.simulator import PushClock, SimUser
from punchd.storage import push as push_store
from punchd.storage import templates as template_store
from punchd.storage.schema import att_bio_template, att_device, att_device_command
from tests.test_enrol_push import KEY, Push, audit_count, load_roster, only, roster, wait_for

#: a face template as a clock makes it (bytes no text search finds by accident)
FACE = bytes((i * 13 + 5) % 256 for i in range(1600))
FACE_TEXT = base64.b64encode(FACE).decode()


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Iterator[Push]:
    """Push clocks a, b (face algorithm 7 both) and c (face algorithm 9)."""
    p = Push(
        engine, tmp_path, more=[{"name": "c", "driver": "adms", "serial": "PC", "enrol": "all"}]
    )
    try:
        yield p
    finally:
        p.close()


def _stored(push: Push) -> list:
    with push.engine.connect() as conn:
        return conn.execute(select(att_bio_template)).all()


def _device_id(push: Push, name: str) -> int:
    with push.engine.connect() as conn:
        return conn.execute(select(att_device.c.id).where(att_device.c.name == name)).scalar_one()


def test_a_face_enrolled_at_push_clock_a_reaches_b_of_the_same_version_not_c(
    site: Push, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _travel(site, tmp_path)
    captured = capsys.readouterr()
    logged = captured.out + captured.err  # the receiver's log lines
    assert "push faces and palms learnt" in logged
    assert FACE_TEXT[:64] not in logged


def _travel(push: Push, tmp_path: Path) -> None:
    load_roster(push.site, tmp_path, roster(4))
    on_a = [SimUser(str(i), f"Person {i}") for i in range(1, 5)]
    with (
        push.clock("PA", users=on_a, face_version="7") as a,
        push.clock("PB", face_version="7") as b,
        push.clock("PC", face_version="9") as c,
    ):
        a.enrol_face("2", FACE)
        wait_for(lambda: len(_stored(push)) == 1)
        (row,) = _stored(push)
        assert (row.bio_type, row.bio_no, row.bio_index, row.major_ver) == (2, 0, 0, "7")
        assert row.source_device == "a"
        # encrypted at rest: not the clear bytes, opens only with the key, bound to its place
        assert FACE not in bytes(row.template) and bytes(row.template) != FACE
        cipher = template_store.TemplateCipher(KEY)
        with push.engine.connect() as conn:
            opened = template_store.open_bio(conn, cipher, row.employee_id, (2, 0, 0))
            assert opened.template == FACE
            with pytest.raises(template_store.TemplateKeyWrong):
                cipher.open_bio(row.employee_id, (9, 0, 0), bytes(row.template))
            # each clock's face algorithm, from its first poll's INFO
        wait_for(lambda: _versions(push, "c") == {2: "9"})
        wait_for(lambda: _versions(push, "b") == {2: "7"})

        assert "f 2 Person 2 (E0002): face" in _printed(push.plan("b"), applied=False, code=0)
        run = push.apply()
        b_run, c_run = only(run, "b"), only(run, "c")
        assert [(t.enroll_no, t.reason) for t in b_run.templates_queued] == [("2", "face")]
        assert not only(run, "a").templates_queued
        # c: everyone added, the face reported per person, not queued
        assert not c_run.templates_queued and len(c_run.queued) == 4
        (refused,) = c_run.template_failures
        assert refused.copy.enroll_no == "2" and refused.kind == "not_supported"
        assert "version 7" in refused.message and "version 9" in refused.message
        # the queue holds no template: the receiver puts it in when it sends the command
        with push.engine.connect() as conn:
            texts = conn.execute(select(att_device_command.c.command)).scalars().all()
        biodata = [t for t in texts if t.startswith("DATA UPDATE BIODATA")]
        assert biodata == [
            "DATA UPDATE BIODATA Pin=2\tNo=0\tIndex=0\tValid=1\tDuress=0\tType=2"
            "\tMajorVer=7\tMinorVer=0\tFormat=0\tTmp=@stored"
        ]
        assert all(FACE_TEXT[:64] not in t for t in texts)

        push.settle(b, "b")
        push.settle(c, "c")
        assert b.faces["2"][(2, 0, 0)][1] == FACE and len(b.users) == 4
        assert not c.faces and len(c.users) == 4
        # b's own report of the copy does not replace the template learnt from a
        assert [r.source_device for r in _stored(push)] == ["a"]
        again = push.plan()
        b_again, c_again = only(again, "b"), only(again, "c")
        assert not b_again.templates_pending and not b_again.template_failures
        assert b_again.templates is not None and b_again.templates.empty
        assert [f.kind for f in c_again.template_failures] == ["not_supported"]
        printed = _printed(again, applied=False)
        assert (
            "! templates 2 Person 2: last try: not supported: face of algorithm version 7: "
            "the clock reported version 9 for it" in printed
        )
        nothing = only(push.apply("b"), "b")
        assert not nothing.templates_queued and not nothing.queued

    assert audit_count(push.engine, "enrol-bio-template") == 1
    assert audit_count(push.engine, "enrol-bio-store") == 1


def _printed(run: EnrolmentRun, *, applied: bool, code: int = 1) -> str:
    from punchd.cli import _common
    from punchd.cli.enrol import _report

    with _common.out.capture() as captured:
        assert _report(run, applied=applied) == code
    return " ".join(captured.get().split())


def _versions(push: Push, device: str) -> dict[int, str]:
    with push.engine.connect() as conn:
        return push_store.bio_versions(conn, _device_id(push, device))


def test_without_a_template_key_no_face_is_stored(engine: Engine, tmp_path: Path) -> None:
    push = Push(engine, tmp_path)
    settings = push.site.settings
    keyless = settings.enrolment.model_copy(update={"template_key": None})
    push.service.update_settings(settings.model_copy(update={"enrolment": keyless}))
    try:
        load_roster(push.site, tmp_path, roster(2))
        with push.clock("PA", users=[SimUser("1", "Person 1")], face_version="7") as a:
            a.enrol_face("1", FACE)
            wait_for(lambda: not a._reports)
            # the clock's version is kept (no biometric data); the template is not
            wait_for(lambda: _versions(push, "a") == {2: "7"})
        assert _stored(push) == []
    finally:
        push.close()


def test_the_simulator_keeps_faces_of_its_own_version_only() -> None:
    clock = PushClock("http://127.0.0.1:9", "PX", users=[SimUser("1", "A")], face_version="7")

    def command(pin: str, major: str, bio_type: int = 2) -> str:
        return protocol.check_command(
            protocol.biodata_command(
                pin,
                bio_type=bio_type,
                no=0,
                index=0,
                valid=1,
                duress=0,
                major_ver=major,
                minor_ver="0",
                fmt=0,
                tmp=FACE_TEXT,
            )
        )

    assert "Return=0" in clock.execute("1", command("1", "7"))
    assert clock.faces["1"][(2, 0, 0)][1] == FACE
    assert "Return=-1002" in clock.execute("2", command("1", "9"))
    assert "Return=-1002" in clock.execute("3", command("1", "7", bio_type=8))
    assert "Return=-10" in clock.execute("4", command("5", "7"))
    assert "Return=-1" in clock.execute("5", command("1", "7").replace(FACE_TEXT, "%%%"))
    (line,) = clock._reports
    (record,) = protocol.parse_biodata(line.encode())
    assert (record.pin, record.bio_type, record.major_ver, record.template) == ("1", 2, "7", FACE)
    assert "Return=0" in clock.execute("6", "DATA DELETE USERINFO PIN=1")
    assert "1" not in clock.faces
    faceless = PushClock("http://127.0.0.1:9", "PY", users=[SimUser("1", "A")])
    assert "Return=-1002" in faceless.execute("7", command("1", "7"))


def test_revision_0012_adds_and_drops_the_face_table(db_url: str) -> None:
    from sqlalchemy import inspect

    from punchd.storage.database import current_revision, downgrade, make_engine, upgrade

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0011")
        assert "att_bio_template" not in inspect(engine).get_table_names()
        upgrade(engine, "0012")
        assert current_revision(engine) == "0012"
        columns = {c["name"] for c in inspect(engine).get_columns("att_bio_template")}
        assert {"employee_id", "bio_type", "bio_index", "major_ver", "template"} <= columns
        state = {c["name"] for c in inspect(engine).get_columns("att_push_state")}
        assert "bio_versions" in state
        downgrade(engine, "0011")
        assert "att_bio_template" not in inspect(engine).get_table_names()
        state = {c["name"] for c in inspect(engine).get_columns("att_push_state")}
        assert "bio_versions" not in state
        upgrade(engine, "0012")
        assert current_revision(engine) == "0012"
    finally:
        engine.dispose()
