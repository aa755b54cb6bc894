"""People on push (ADMS) clocks: planned against what the clock last reported, carried out
through its command queue. The real push receiver on loopback HTTP, simulated push clocks
(``PushClock``) polling it, on every database backend; the site date is always given."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site, people
from punchd.app.enrolment import EnrolmentRun, enrol_apply, enrol_plan
from punchd.collector.push.receiver import Receiver, build_app
from punchd.collector.push.service import PushService
from punchd.collector.spool import Spool
from punchd.config import load_settings
from punchd.drivers.adms import protocol
from punchd.drivers.adms.simulator import PushClock, SimUser
from punchd.drivers.zk.simulator import ZKSimulator
from punchd.storage import push as push_store
from punchd.storage import templates as template_store
from punchd.storage.schema import att_audit, att_device, att_device_command

CLERK = Actor("clerk")
HEADER = "employee_no,name,department,department_name,enroll_no,card_no,hire_date,separation_date"
DAY = date(2026, 3, 10)
#: the receiver's clock (naive UTC): commands sent are never re-sent within a test
NOW = datetime(2026, 3, 10, 2, 0, 0)
KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
PRINT = bytes((i * 7 + 3) % 256 for i in range(1200))


def roster(count: int, *, left: set[int] = frozenset()) -> list[str]:  # type: ignore[assignment]
    return [
        f"E{i:04d},Person {i},OPS,,{i},{'' if i % 3 else 9000 + i},2024-01-01,"
        + ("2026-02-28" if i in left else "")
        for i in range(1, count + 1)
    ]


def load_roster(site: Site, tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    people.import_roster(site, people.read_roster_file(site.settings, path), actor=CLERK)


class Push:
    """A site with push clocks A and B (serials PA/PB), its receiver on loopback, and the
    simulated clocks started on demand (stopped at the end)."""

    def __init__(self, engine: Engine, tmp_path: Path, *, more: Sequence[dict] = ()) -> None:
        devices = [
            {"name": name, "driver": "adms", "serial": serial, "enrol": "all"}
            for name, serial in (("a", "PA"), ("b", "PB"))
        ]
        devices += more
        settings = load_settings(
            None,
            data_dir=tmp_path / "data",
            timezone="Asia/Shanghai",
            devices=devices,
            enrolment={"template_key": KEY},
            push={"listen": "127.0.0.1:0", "command_check_seconds": 0},
        )
        self.site = Site(settings, engine)
        self.engine = engine
        spool = Spool(tmp_path / "data" / "spool")
        self.service = PushService(settings, engine, spool, now=lambda: NOW)
        self.receiver = Receiver(build_app(self.service), "127.0.0.1", 0, graceful_seconds=2)
        self.receiver.start()
        self.url = f"http://127.0.0.1:{self.receiver.port}"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @contextmanager
    def clock(self, serial: str, **kw: object) -> Iterator[PushClock]:
        """A simulated clock polling every 20 ms, reported users and fingers posted."""
        clock = PushClock(self.url, serial, delay=0.02, timeout=5, **kw)  # type: ignore[arg-type]
        stop = threading.Event()
        thread = threading.Thread(target=clock.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: clock._users_posted and not clock._need_handshake)
            yield clock
        finally:
            stop.set()
            clock._wake.set()
            thread.join(5)

    def close(self) -> None:
        self.receiver.stop(5)

    def plan(self, *devices: str) -> EnrolmentRun:
        return enrol_plan(self.site, list(devices) or None, today=DAY)

    def apply(self, *devices: str) -> EnrolmentRun:
        return enrol_apply(self.site, list(devices) or None, actor=CLERK, today=DAY)

    def open_commands(self, device: str) -> int:
        t, d = att_device_command, att_device
        with self.engine.connect() as conn:
            query = (
                select(func.count())
                .select_from(t.join(d, d.c.id == t.c.device_id))
                .where(d.c.name == device, t.c.answered_at.is_(None))
            )
            return int(conn.execute(query).scalar_one())

    def settle(self, clock: PushClock, device: str) -> None:
        """Until the clock answered every command and uploaded what it changed."""
        wait_for(
            lambda: (
                self.open_commands(device) == 0
                and not clock._reports
                and not clock._pending_results
            )
        )


def wait_for(done: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def push(engine: Engine, tmp_path: Path) -> Iterator[Push]:
    p = Push(engine, tmp_path)
    try:
        yield p
    finally:
        p.close()


def audit_count(engine: Engine, action: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(att_audit).where(att_audit.c.action == action)
        return int(conn.execute(query).scalar_one())


def only(run: EnrolmentRun, device: str):  # type: ignore[no-untyped-def]
    return next(d for d in run.devices if d.device == device)


def test_roster_of_300_reaches_a_push_clock_and_the_next_plan_is_empty(
    push: Push, tmp_path: Path
) -> None:
    load_roster(push.site, tmp_path, roster(300))
    # The clock holds an admin of its own and a contractor the roster does not know.
    extra = [SimUser("1", "Person 1", 14), SimUser("7777", "Contractor")]
    # Results of a poll's commands posted in one devicecmd (as much firmware does).
    with push.clock("PB", users=extra, faults=["batched-results"]) as b:
        b_plan = only(push.plan("b"), "b")
        assert b_plan.push and b_plan.known_at == NOW and b_plan.last_contact is not None
        plan = b_plan.plan
        assert plan is not None
        assert len(plan.adds) == 299 and not plan.removes and not plan.updates
        assert plan.unknown_kept == 1 and [k.enroll_no for k in plan.kept] == ["1"]

        first = only(push.apply("b"), "b")
        assert len(first.queued) == 299 and not first.pending
        # A second apply right after (the clock polling meanwhile: it has answered none,
        # some or all) queues nothing: each change is queued and unanswered, or done.
        second = only(push.apply("b"), "b")
        assert not second.queued and not second.failures
        push.settle(b, "b")

        assert set(b.users) == {str(i) for i in range(1, 301)} | {"7777"}
        assert b.users["3"].card == "9003" and b.users["1"].privilege == 14
        again = only(push.plan("b"), "b")
        assert again.plan is not None and again.plan.empty and not again.pending
        assert again.plan.unchanged == 299
        nothing = only(push.apply("b"), "b")
        assert not nothing.queued and not nothing.failures
        assert audit_count(push.engine, "enrol-add") == 299

        # A leaver comes off the clock; the contractor and the admin stay.
        load_roster(push.site, tmp_path, roster(300, left={5}))
        leaving = only(push.apply("b"), "b")
        assert [(c.kind, c.enroll_no) for c in leaving.queued] == [("remove", "5")]
        push.settle(b, "b")
        assert "5" not in b.users and "7777" in b.users and "1" in b.users
        final = only(push.plan("b"), "b")
        assert final.plan is not None and final.plan.empty
        with push.engine.connect() as conn:
            device_id = conn.execute(
                select(att_device.c.id).where(att_device.c.name == "b")
            ).scalar_one()
            users, _ = push_store.clock_users(conn, device_id)
        assert "5" not in {u.enroll_no for u in users} and len(users) == 300


def test_second_apply_before_the_clock_polls_queues_nothing(push: Push, tmp_path: Path) -> None:
    load_roster(push.site, tmp_path, roster(20))
    first = only(push.apply("b"), "b")  # the clock has never called in
    assert first.known_at is None and len(first.queued) == 20
    second = only(push.apply("b"), "b")
    assert not second.queued and len(second.pending) == 20
    plan = only(push.plan("b"), "b")
    assert plan.plan is not None and len(plan.plan.adds) == 20 and len(plan.pending) == 20
    assert push.open_commands("b") == 20
    with push.clock("PB") as b:
        push.settle(b, "b")
        assert len(b.users) == 20
    after = only(push.plan("b"), "b")
    assert after.plan is not None and after.plan.empty


def test_a_finger_enrolled_on_push_clock_a_reaches_push_clock_b(push: Push, tmp_path: Path) -> None:
    load_roster(push.site, tmp_path, roster(6))
    on_a = [SimUser(str(i), f"Person {i}", 0, "" if i % 3 else str(9000 + i)) for i in range(1, 7)]
    with push.clock("PA", users=on_a, fingers={"2": {6: PRINT}}) as a:
        wait_for(lambda: _stored_fingers(push) == 1)  # learnt from A's FP line, encrypted
        with push.clock("PB") as b:
            run = push.apply()
            b_run = only(run, "b")
            assert [c.fingers for c in b_run.templates_queued] == [(6,)]
            assert not only(run, "a").queued and not only(run, "a").templates_queued
            # the queue holds no template: the receiver puts it in when it sends the command
            with push.engine.connect() as conn:
                texts = conn.execute(select(att_device_command.c.command)).scalars().all()
            assert all(base64.b64encode(PRINT).decode() not in t for t in texts)
            push.settle(b, "b")
            assert b.fingers["2"] == {6: (PRINT, 1)} and len(b.users) == 6
            # A finger enrolled at B later reaches A the same way.
            b.enrol_finger("4", 1, PRINT[::-1])
            wait_for(lambda: _stored_fingers(push) == 2)
            again = push.apply()
            assert [c.fingers for c in only(again, "a").templates_queued] == [(1,)]
            assert not only(again, "b").templates_queued
            push.settle(a, "a")
            assert a.fingers["4"] == {1: (PRINT[::-1], 1)}
            for device in ("a", "b"):
                d = only(push.plan(device), device)
                assert d.plan is not None and d.plan.empty
                assert d.templates is not None and d.templates.empty
                assert not d.templates_pending and not d.template_failures
    assert audit_count(push.engine, "enrol-template") == 2


def test_a_finger_learnt_from_a_zk_clock_reaches_a_push_clock(
    engine: Engine, tmp_path: Path
) -> None:
    with ZKSimulator(port=0) as gate:
        zk = {"name": "gate", "driver": "zk", "host": "127.0.0.1", "port": gate.port}
        push = Push(engine, tmp_path, more=[{**zk, "timeout": 2, "enrol": "all"}])
        try:
            load_roster(push.site, tmp_path, roster(4))
            push.apply("gate")  # everyone on the gate
            gate.set_template("3", 2, PRINT)
            with push.clock("PB", faults=["batched-results"]) as b:
                run = push.apply("gate", "b")  # learnt from the gate, queued for b
                assert run.templates_learnt == {"gate": 1}
                assert [c.fingers for c in only(run, "b").templates_queued] == [(2,)]
                push.settle(b, "b")
                assert b.fingers["3"] == {2: (PRINT, 1)} and len(b.users) == 4
            again = only(push.plan("b"), "b")
            assert again.plan is not None and again.plan.empty
            assert again.templates is not None and again.templates.present == 1
            assert again.templates.empty
        finally:
            push.close()


def _stored_fingers(push: Push) -> int:
    with push.engine.connect() as conn:
        return len(template_store.load(conn, template_store.TemplateCipher(KEY)))


def test_a_full_clock_is_reported_per_person_and_retried(push: Push, tmp_path: Path) -> None:
    load_roster(push.site, tmp_path, roster(12))
    with push.clock("PB", capacity=10) as b:
        first = only(push.apply("b"), "b")
        assert len(first.queued) == 12
        push.settle(b, "b")
        assert len(b.users) == 10
        plan = only(push.plan("b"), "b")
        assert plan.plan is not None
        # exactly the two the clock refused, each with why; nothing else planned
        assert [c.enroll_no for c in plan.plan.changes] == ["11", "12"]
        assert [(f.change.enroll_no, f.kind) for f in plan.failures] == [
            ("11", "capacity_full"),
            ("12", "capacity_full"),
        ]
        assert str(protocol.CAPACITY_FULL) in plan.failures[0].message
        assert plan.plan.unchanged == 10
        printed = _printed(push.plan("b"), applied=False)
        assert "b: push clock, not read live: users as the clock last reported them" in printed
        assert "+ 11 Person 11 (E0011): new (last try: capacity full:" in printed
        b.capacity = 11  # room for one more: the next apply tries both again
        applied = push.apply("b")
        retry = only(applied, "b")
        assert [c.enroll_no for c in retry.queued] == ["11", "12"]
        printed = _printed(applied, applied=True)
        assert "b: queued 2 to add, 0 to update, 0 to remove, 0 fingers" in printed
        assert "! add 12 Person 12: last try: capacity full" in printed
        assert "(queued again)" in printed
        push.settle(b, "b")
        assert len(b.users) == 11
        last = only(push.plan("b"), "b")
        assert [f.change.enroll_no for f in last.failures] == ["12"]


def _printed(run: EnrolmentRun, *, applied: bool) -> str:
    from punchd.cli import _common
    from punchd.cli.enrol import _report

    with _common.out.capture() as captured:
        code = _report(run, applied=applied)
    assert code == 1  # a person was refused
    return " ".join(captured.get().split())


def test_the_simulator_answers_like_a_clock() -> None:
    clock = PushClock("http://127.0.0.1:9", "PX", users=[SimUser("1", "A")], capacity=1)
    assert clock.execute("1", "DATA DELETE USERINFO PIN=2").endswith("Return=-10&CMD=DATA")
    assert "Return=-1001" in clock.execute("2", protocol.userinfo_command("2", "B", 0, None))
    assert "Return=-1002" in clock.execute("3", "USER ADD PIN=2")
    tmp = base64.b64encode(PRINT).decode()
    ok = clock.execute("4", protocol.fingertmp_command("1", 3, len(tmp), 1, tmp))
    assert "Return=0" in ok and clock.fingers["1"][3] == (PRINT, 1)
    bad_size = clock.execute("5", protocol.fingertmp_command("1", 4, 7, 1, tmp))
    assert "Return=-1" in bad_size
    assert "Return=-10" in clock.execute("6", protocol.fingertmp_command("9", 1, len(tmp), 1, tmp))
    assert "Return=0" in clock.execute("7", "DATA DELETE USERINFO PIN=1")
    assert "1" not in clock.fingers and not clock.users
    reported = [line.split(" ", 1)[0] for line in clock._reports]
    assert reported == ["FP", "OPLOG"]
