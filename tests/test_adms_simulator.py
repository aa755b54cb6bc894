"""The push-clock simulator against a tiny receiver written here (real HTTP on loopback)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from punchd.drivers.adms import protocol as p
from punchd.drivers.adms.simulator import PushClock, PushFleet, generate, parse_fault
from punchd.drivers.adms.simulator.client import BATCH

SPEED = 50.0  # Delay=1 / ErrorDelay=1 become 20 ms


class Receiver:
    """What a receiver must do, per the note, and a record of everything it got."""

    def __init__(self, *, bare_ok_first: bool = False, refuse: frozenset[str] = frozenset()):
        self.bare_ok_first = bare_ok_first
        self.refuse = refuse
        self.lock = threading.Lock()
        self.stored: dict[str, set[tuple[str, datetime]]] = defaultdict(set)
        self.posts: dict[str, list[tuple[int, list[p.AttLog]]]] = defaultdict(list)
        self.problems: list[p.LineProblem] = []
        self.users: dict[str, list[p.UserRecord]] = defaultdict(list)
        self.queue: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.results: dict[str, list[p.CommandResult]] = defaultdict(list)
        self.info: dict[str, dict[str, str]] = {}
        self.handshakes: dict[str, int] = defaultdict(int)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, text: str) -> None:
                body = text.encode()
                self.send_response(status)  # adds the Date: header the devices sync from
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self, method: str) -> None:
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                sn = query.get("SN", "")
                if sn in receiver.refuse:
                    return self._reply(403, "unknown device")
                self._reply(200, receiver.answer(method, url.path, query, sn, body))

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

        return Handler

    def answer(self, method: str, path: str, query: dict[str, str], sn: str, body: bytes) -> str:
        with self.lock:
            if path == "/iclock/cdata" and method == "GET":
                self.handshakes[sn] += 1
                return p.handshake_reply(
                    sn, attlog_stamp=None, tz_minutes=480, delay=1, error_delay=1
                )
            if path == "/iclock/cdata" and query.get("table") == "ATTLOG":
                records, problems = p.parse_attlog(body)
                self.problems.extend(problems)
                first = not self.posts[sn]
                self.posts[sn].append((int(query.get("Stamp", "-1")), records))
                self.stored[sn].update((r.pin, r.when) for r in records)
                if first and self.bare_ok_first:
                    return "OK"
                return p.acknowledge(len(records) + len(problems))
            if path == "/iclock/cdata" and query.get("table") == "OPERLOG":
                users, taken, problems = p.parse_operlog(body)
                self.users[sn].extend(users)
                self.problems.extend(problems)
                return p.acknowledge(taken + len(problems))
            if path == "/iclock/getrequest":
                if "INFO" in query:
                    self.info[sn] = p.parse_info(query["INFO"])
                text = p.command_lines(self.queue[sn])
                sent = len(p.fit_commands(self.queue[sn]))
                del self.queue[sn][:sent]
                return text or "OK"
            if path == "/iclock/devicecmd":
                self.results[sn].extend(p.parse_devicecmd(body))
                return "OK"
            return "OK"

    def __enter__(self) -> Receiver:
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def _wait(predicate: object, timeout: float = 5.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("times", [1, 3])
def test_bare_ok_resend_is_the_firmware_not_the_reply(receiver: Receiver, times: int) -> None:
    """Firmware that does not read the count re-sends every batch, even after ``OK: n``."""
    users, punches = generate(5, 300, seed=4)
    fault = "bare-ok-resend" if times == 1 else f"bare-ok-resend:{times}"
    clock = PushClock(receiver.url, "BARE1", users=users, punches=punches, faults=[fault])
    stop = threading.Event()
    thread = threading.Thread(target=clock.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert _wait(clock.caught_up)
    finally:
        stop.set()
        clock._wake.set()
        thread.join(5)
    # every reply was "OK: n", and each batch still went 1 + times times, then the next one
    stamps = [stamp for stamp, _ in receiver.posts["BARE1"]]
    assert stamps == [s for s in (0, 128, 256) for _ in range(1 + times)]
    assert clock.counters.bare_resent == 3 * times == clock.counters.resent
    assert clock.cursor == clock.counters.acked == 300
    assert receiver.stored["BARE1"] == {(r.pin, r.when) for r in punches}


def test_fleet_with_lost_acks_and_bare_ok_resends_delivers_every_punch() -> None:
    with Receiver(bare_ok_first=True) as receiver:
        fleet = PushFleet(
            receiver.url,
            3,
            users=15,
            punches=300,
            faults=["lost-ack:2", "bare-ok-resend"],
            speed=SPEED,
            seed=3,
        )
        with fleet:
            assert fleet.wait_caught_up(10)
    assert receiver.problems == []
    for clock in fleet.clocks:
        expected = {(r.pin, r.when) for r in clock.punches}
        assert len(expected) == 300
        assert receiver.stored[clock.serial] == expected
        counters = clock.counters
        assert counters.acked == 300 and clock.cursor == 300
        assert counters.bare_resent == 3  # every batch once more, whatever the reply
        assert counters.resent >= 4  # those, and the lost acknowledgements
        assert counters.lost_acks >= 1
        assert counters.uploads > 300 // BATCH + 1
        # Never a skipped record: each post starts where the acknowledged part ends (or
        # before, re-sending), and carries the device's records from there in order.
        acked_end = 0
        for stamp, records in receiver.posts[clock.serial]:
            assert 0 <= stamp <= acked_end
            assert len(records) <= BATCH
            assert [(r.pin, r.when) for r in records] == [
                (r.pin, r.when) for r in clock.punches[stamp : stamp + len(records)]
            ]
            acked_end = max(acked_end, stamp + len(records))
        assert acked_end == 300
        # the handshake and the OPERLOG users reached the server too
        assert receiver.handshakes[clock.serial] == 1
        assert {u.pin for u in receiver.users[clock.serial]} == set(clock.users)
        assert receiver.info[clock.serial]["logs"] == "300"


def test_delete_userinfo_round_trip(receiver: Receiver) -> None:
    users, punches = generate(5, 10, seed=1)
    clock = PushClock(receiver.url, "RT0001", users=users, punches=punches, speed=SPEED)
    receiver.queue["RT0001"] += [("7", "DATA DELETE USERINFO PIN=3"), ("8", "INFO")]
    stop = threading.Event()
    thread = threading.Thread(target=clock.run, args=(stop,))
    thread.start()
    try:
        assert _wait(lambda: len(receiver.results["RT0001"]) == 2)
    finally:
        stop.set()
        thread.join(5)
    assert "3" not in clock.users and len(clock.users) == 4
    delete, info = receiver.results["RT0001"]
    assert (delete.id, delete.code, delete.command) == ("7", 0, "DATA")
    assert (info.id, info.code) == ("8", 0)
    assert info.fields["UserCount"] == "4" and info.fields["TransactionCount"] == "10"
    assert clock.counters.commands == 2 and clock.counters.results_posted == 2
    # the device took the server's zone (TimeZone=8) and its Date: header
    assert clock.tz_minutes == 480


def test_commands_batched_unsupported_query_and_sum(receiver: Receiver) -> None:
    users, punches = generate(4, 40, seed=2)
    day = punches[0].when.date()
    span = f"StartTime={day} 00:00:00\tEndTime={day} 23:59:59"
    on_day = sum(1 for r in punches if r.when.date() == day)
    clock = PushClock(
        receiver.url,
        "CMD001",
        users=users,
        punches=punches,
        faults=["batched-results"],
        speed=SPEED,
    )
    receiver.queue["CMD001"] += [
        ("1", f"VERIFY SUM ATTLOG {span}"),
        ("2", "DATA UPDATE USERINFO PIN=99\tName=New Person\tPri=0"),
        ("3", "DATA DELETE USERINFO PIN=12345"),
        ("4", f"DATA QUERY ATTLOG {span}"),
    ]
    stop = threading.Event()
    thread = threading.Thread(target=clock.run, args=(stop,))
    thread.start()
    try:
        assert _wait(lambda: len(receiver.results["CMD001"]) == 4)
        assert _wait(lambda: clock.caught_up() and len(receiver.posts["CMD001"]) >= 2)
    finally:
        stop.set()
        thread.join(5)
    codes = {r.id: (r.code, r.fields) for r in receiver.results["CMD001"]}
    assert codes["1"] == (0, {"AttlogSum": str(on_day)})
    assert codes["2"][0] == 0 and clock.users["99"].name == "New Person"
    assert codes["3"][0] == -10
    assert codes["4"][0] == 0
    assert clock.counters.results_posted == 1  # all four in one post
    # the queried day arrived again as an ordinary ATTLOG post
    posts = [recs for _, recs in receiver.posts["CMD001"]]
    assert len(posts) == 2 and sorted(map(len, posts)) == [on_day, 40]
    assert receiver.stored["CMD001"] == {(r.pin, r.when) for r in punches}


def test_unsupported_fault_answers_minus_1002_except_info(receiver: Receiver) -> None:
    clock = PushClock(receiver.url, "OLD001", faults=["unsupported"], speed=SPEED)
    receiver.queue["OLD001"] += [("1", "DATA DELETE USERINFO PIN=1"), ("2", "INFO")]
    stop = threading.Event()
    thread = threading.Thread(target=clock.run, args=(stop,))
    thread.start()
    try:
        assert _wait(lambda: len(receiver.results["OLD001"]) == 2)
    finally:
        stop.set()
        thread.join(5)
    assert [(r.id, r.code) for r in receiver.results["OLD001"]] == [("1", -1002), ("2", 0)]


def test_data_faults_power_loss_state_gb2312_and_fields() -> None:
    with Receiver() as receiver:
        fleet = PushFleet(
            receiver.url,
            1,
            users=5,
            punches=100,
            faults=["power-loss:10", "state-255", "gb2312", "fields:12"],
            speed=SPEED,
        )
        with fleet:
            assert fleet.wait_caught_up(5)
    (clock,) = fleet.clocks
    records = [r for _, recs in receiver.posts[clock.serial] for r in recs]
    assert len(records) == 100 and receiver.problems == []
    assert sum(1 for r in records if r.when.year == 2000) == 10
    assert {r.status for r in records} == {255}
    assert len({(r.pin, r.when) for r in records}) == 100
    names = {u.name for u in receiver.users[clock.serial]}
    assert "张伟" in names


@pytest.mark.parametrize("fields", [5, 7, 12])
def test_fields_fault_line_shapes(fields: int) -> None:
    with Receiver() as receiver:
        fleet = PushFleet(
            receiver.url, 1, users=2, punches=4, faults=[f"fields:{fields}"], speed=SPEED
        )
        with fleet:
            assert fleet.wait_caught_up(5)
    assert len(receiver.stored[fleet.clocks[0].serial]) == 4


def test_unknown_serial_is_refused_and_retried() -> None:
    with Receiver(refuse=frozenset({"BAD001"})) as receiver:
        clock = PushClock(receiver.url, "BAD001", punches=generate(1, 3)[1], speed=300.0)
        stop = threading.Event()
        thread = threading.Thread(target=clock.run, args=(stop,))
        thread.start()
        try:
            assert _wait(lambda: clock.counters.refused >= 2)
        finally:
            stop.set()
            thread.join(5)
    assert clock.cursor == 0 and receiver.posts["BAD001"] == []


def test_server_down_then_up_loses_nothing() -> None:
    import socket

    with socket.socket() as s:  # a port with nothing listening (yet)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    users, punches = generate(3, 50, seed=4)
    clock = PushClock(f"http://127.0.0.1:{port}", "DOWN01", users=users, punches=punches)
    clock.speed = 200.0  # the default ErrorDelay (30 s) while there is no handshake
    stop = threading.Event()
    thread = threading.Thread(target=clock.run, args=(stop,))
    thread.start()
    try:
        assert _wait(lambda: clock.counters.failures >= 2)
        receiver = Receiver()
        receiver.server.server_close()
        from http.server import ThreadingHTTPServer as Server

        receiver.server = Server(("127.0.0.1", port), receiver.server.RequestHandlerClass)
        with receiver:
            assert _wait(clock.caught_up)
    finally:
        stop.set()
        thread.join(5)
    assert receiver.stored["DOWN01"] == {(r.pin, r.when) for r in punches}


def test_fault_grammar() -> None:
    assert parse_fault("lost-ack").args == (3,)
    assert parse_fault("fields:12").args == (12,)
    assert parse_fault("bare-ok-resend").args == (1,)
    assert parse_fault("bare-ok-resend:220").args == (220,)
    for bad in ("fields:6", "lost-ack:0", "crc", "state-255:1", "bare-ok-resend:0"):
        with pytest.raises(ValueError):
            parse_fault(bad)


def test_generated_data_is_unique_and_dated_from_the_start() -> None:
    users, punches = generate(30, 1000, seed=9)
    assert len(users) == 30 and len(punches) == 1000
    assert len({(r.pin, r.when) for r in punches}) == 1000
    assert punches == sorted(punches, key=lambda r: (r.when, r.pin))
    assert punches[0].when.date().isoformat() == "2024-01-08"
