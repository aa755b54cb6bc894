"""What needs attention, in the reader's language: every notice code the site status can
produce is worded by the catalogue, the Chinese clocks and home pages show no English
sentence for them, and a device name stays escaped inside a translated sentence."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site, collection
from punchd.app import accounts as acc
from punchd.clock import utcnow
from punchd.collector.spool import Spool
from punchd.drivers.records import Punch, PunchState
from punchd.drivers.testing import memory
from punchd.notices import CODES, Notice
from punchd.processing import requeue
from punchd.storage import collection as store
from punchd.storage import devices as device_store
from punchd.storage.schema import att_reprocess
from punchd.web import i18n, notices, security
from punchd.web.notices import MESSAGES, say

from .conftest import ADMIN, ROLE_ACCOUNTS, _org, csrf_of, punches

MARKUP = "<b>x</b>"
ESCAPED = "&lt;b&gt;x&lt;/b&gt;"
#: one notice of every code, with values of the kind the status gives
SAMPLES = {
    "no_daemon": Notice("no_daemon", {}, "no punchd daemon is running (no heartbeat)"),
    "device_failing": Notice("device_failing", {"device": "gate-1", "failures": 3}, "x"),
    "drift_report": Notice("drift_report", {"device": "g", "seconds": -28800, "hint": "zone"}, "x"),
    "drift_correct": Notice("drift_correct", {"device": "g", "seconds": 95, "hint": ""}, "x"),
    "spool_backlog": Notice("spool_backlog", {"count": 1200}, "x"),
    "reprocess_stuck": Notice(
        "reprocess_stuck",
        {"count": 2, "since": "03-01 08:00:00", "since_at": "2026-03-01 08:00"},
        "x",
    ),
    "calendar_unconfirmed": Notice("calendar_unconfirmed", {"year": 2031}, "x"),
    "calendar_unreadable": Notice("calendar_unreadable", {"error": "bad"}, "x"),
    "left_disabled": Notice(
        "left_disabled",
        {"device": "g", "since": "2026-03-01 07:00 UTC", "since_at": "2026-03-01 15:00:00"},
        "x",
    ),
    "flagged_punches": Notice(
        "flagged_punches",
        {"device": "g", "days": 7, "total": 3, "flags": "future,power_loss", "n_future": 1,
         "n_power_loss": 2, "counts": "1 future, 2 power_loss"},
        "x",
    ),
    "leaver_punches": Notice("leaver_punches", {"count": 4, "days": 7}, "x"),
    "push_offline": Notice(
        "push_offline",
        {"device": "g", "minutes": 75, "since": "2026-03-01 07:00 UTC",
         "since_at": "2026-03-01 15:00:00"},
        "x",
    ),
    "push_pending": Notice("push_pending", {"count": 2, "serials": "SN1, SN2"}, "x"),
    "arrived_after_close": Notice(
        "arrived_after_close", {"count": 3, "months": "2026-11", "days": 7}, "x"
    ),
    "daemon_silent": Notice(
        "daemon_silent", {"host": "host-b", "daemon": 3, "seconds": 45, "devices": "g1, g2"}, "x"
    ),
    "host_skew": Notice(
        "host_skew", {"host": "host-c", "daemon": 4, "seconds": -300, "limit": 10.0}, "x"
    ),
    "device_unpolled": Notice("device_unpolled", {"device": "g"}, "x"),
}  # fmt: skip
#: what a Chinese sentence may still hold in Latin letters: commands, units, the program
ALLOWED_LATIN = re.compile(r"punchd devices set-time|punchd process|punchd|\bmin\b|\bh\b|\bs\b")


def _english_left(text: str, *values: str) -> list[str]:
    for value in values:
        text = text.replace(value, "")
    return re.findall(r"[A-Za-z]{2,}", ALLOWED_LATIN.sub("", text))


def test_every_code_is_worded_in_both_languages() -> None:
    assert set(SAMPLES) == set(CODES) == set(MESSAGES)
    zh = i18n.load_translations("zh_Hans")
    en = i18n.load_translations("en")
    for code, notice in SAMPLES.items():
        chinese = say(notice, zh, i18n.Formats("zh_Hans"))
        english = say(notice, en, i18n.Formats("en"))
        assert chinese != notice.text and english != notice.text, code
        assert re.search(r"[\u4e00-\u9fff]", chinese), (code, chinese)
        params = [str(v) for v in notice.params.values() if isinstance(v, str)]
        assert _english_left(chinese, *params) == [], (code, chinese)
    drift = say(SAMPLES["drift_report"], zh, i18n.Formats("zh_Hans"))
    assert "慢 8 h 00 min" in drift and "时区" in drift
    # just under a whole hour: the next hour, never "1 h 60 min" (the CLI's wording too)
    almost = Notice("drift_report", {"device": "g", "seconds": -7190, "hint": ""}, "x")
    assert "2 h 00 min" in say(almost, en, i18n.Formats("en"))
    assert "1,200" in say(SAMPLES["spool_backlog"], en, i18n.Formats("en"))


def test_unknown_codes_and_misfit_values_fall_back_to_the_english_sentence() -> None:
    zh = i18n.load_translations("zh_Hans")
    fmt = i18n.Formats("zh_Hans")
    assert say(Notice("brand_new", {"a": 1}, "something new"), zh, fmt) == "something new"
    assert say(Notice("device_failing", {"device": "g"}, "g: 2 failed"), zh, fmt) == "g: 2 failed"
    assert say(Notice("spool_backlog", {"count": "many"}, "many wait"), zh, fmt) == "many wait"


# ------------------------------------------------------------------ a real site's state


@pytest.fixture
def clocks(memory_device) -> dict[str, memory.MemoryDevice]:
    lost = Punch("1000", datetime(1999, 12, 31, 23, 0), PunchState.IN)  # the clock lost its time
    eight_h, ninety_s = timedelta(hours=8), timedelta(seconds=90)
    return {
        "gate-1": memory_device("gate-1", punches=[*punches(5), lost], clock_offset=eight_h),
        "gate-2": memory_device("gate-2", punches=punches(3), clock_offset=ninety_s),
        MARKUP: memory_device("bx", punches=punches(2)),
    }


@pytest.fixture
def site(engine: Engine, tmp_path: Path, clocks, monkeypatch: pytest.MonkeyPatch) -> Site:
    """No daemon; gate-1 8 h ahead with a punch from 1999, gate-2 90 s ahead, <b>x</b>
    failing and left disabled, punches in the spool, a change stuck in the re-process queue,
    a year not confirmed."""
    from punchd.config import load_settings
    from punchd.rules import calendar_status

    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        timezone="Asia/Shanghai",
        devices=[
            {"name": "gate-1", "driver": "memory"},
            {"name": "gate-2", "driver": "memory"},
            {"name": MARKUP, "driver": "memory", "channel": "bx"},
        ],
    )
    s = Site(settings, engine)
    _org(s)
    for role, name in ROLE_ACCOUNTS.items():
        acc.add_account(
            s,
            name,
            "correct horse battery",
            role,
            actor=ADMIN,
            departments=("OPS",) if role == "leader" else (),
            employee_no="E1" if role == "employee" else None,
        )
    assert all(r.ok for r in collection.collect_now(s, actor=Actor("t")))
    now = utcnow()  # the status reads the running clock
    with engine.begin() as conn:
        bx = store.upsert_device(conn, name=MARKUP, driver="memory", address="memory://bx")
        device_store.record_poll(
            conn,
            bx,
            consecutive_failures=3,
            next_poll_at=None,
            updated_at=now,
            last_failure_at=now,
            last_error="no route to host",
        )
        store.set_disabled(conn, bx, now - timedelta(hours=2))
        requeue.enqueue(conn, date_from=now.date(), date_to=now.date(), reason="test")
        conn.execute(update(att_reprocess).values(queued_at=now - timedelta(hours=1)))
    Spool(settings.data_dir / "spool").write(
        device="gate-2",
        driver="memory",
        address="memory://gate-2",
        rows=[{"enroll_no": "1000", "punched_at": datetime(2026, 3, 1, 9, i), "state": 0}
              for i in range(4)],
    )  # fmt: skip

    class Unconfirmed:
        def unconfirmed_years(self, date_from, date_to) -> list[int]:
            return [2031]

    monkeypatch.setattr(calendar_status, "load_calendar", lambda conn: Unconfirmed())
    return s


def test_the_site_status_gives_a_notice_for_every_line(site: Site) -> None:
    status = collection.site_status(site)
    assert status.attention == [n.text for n in status.notices]
    codes = [n.code for n in status.notices]
    # (push clocks: tests/web/test_push_clocks.py; several daemons: tests/test_cluster*.py;
    # pay periods: tests/test_periods.py)
    elsewhere = {"push_offline", "push_pending", "daemon_silent", "host_skew", "device_unpolled"}
    elsewhere |= {"arrived_after_close", "leaver_punches"}  # tests/test_leaver_punches.py
    assert set(codes) == set(CODES) - {"calendar_unreadable", *elsewhere}, codes
    by = {(n.code, n.params.get("device")): n for n in status.notices}
    assert by["device_failing", MARKUP].params["failures"] == 3
    assert by["drift_report", "gate-1"].params["hint"] == "zone"
    assert by["drift_correct", "gate-2"].params["seconds"] == pytest.approx(90, abs=2)
    assert by["spool_backlog", None].params["count"] == 4
    assert by["calendar_unconfirmed", None].params["year"] == 2031
    assert by["flagged_punches", "gate-1"].params["n_power_loss"] == 1


def _attention(page: str) -> list[str]:
    block = page.split('id="attention"', 1)[1].split("</section>", 1)[0]
    return re.findall(r"<li data-notice=\"[a-z_]+\">(.*?)</li>", block, re.S)


def test_the_chinese_pages_word_every_notice(site: Site, client_for) -> None:
    status = collection.site_status(site)
    client: TestClient = client_for("hr")
    client.cookies.set(security.LANG_COOKIE, "zh_Hans")
    for path in ("/clocks", "/"):
        page = client.get(path).text
        lines = _attention(page)
        assert len(lines) == len(status.notices), path
        for line, notice in zip(lines, status.notices, strict=True):
            assert notice.text not in html.unescape(line)
            assert re.search(r"[\u4e00-\u9fff]", line), line
            names = ["gate-1", "gate-2", ESCAPED]
            assert _english_left(line, *names) == [], (path, line)
        print(path, *lines, sep="\n")
        assert "缓存中有 4 条打卡记录待写入。" in lines
        assert any("时钟快 8 h 00 min" in line and "时区" in line for line in lines)
        assert "2031 年的节假日日历尚未确认" in page
    english = client_for("admin")
    lines = _attention(english.get("/clocks").text)
    assert f"{ESCAPED}: 3 failed polls in a row" in lines
    assert "4 punches wait in the spool." in lines


def test_a_device_name_with_markup_stays_escaped_in_a_translated_notice(
    site: Site, client_for
) -> None:
    client = client_for("admin")
    client.cookies.set(security.LANG_COOKIE, "zh_Hans")
    for path in ("/clocks", "/"):
        page = client.get(path).text
        assert MARKUP not in page
        lines = _attention(page)
        assert f"{ESCAPED}：连续 3 次采集失败" in lines
        assert any(line.startswith(f"{ESCAPED}：自 ") for line in lines)  # left disabled


def test_the_api_gives_the_notices_with_their_codes(site: Site, anonymous: TestClient) -> None:
    token = acc.create_api_token(site, "harry", "it", actor=Actor("t"))
    body = anonymous.get("/api/v1/clocks", headers={"authorization": f"Bearer {token}"}).json()
    assert body["attention"] == [n["text"] for n in body["notices"]]
    failing = [n["params"] for n in body["notices"] if n["code"] == "device_failing"]
    assert failing == [{"device": MARKUP, "failures": 3}]


def test_a_sayer_is_what_the_templates_call() -> None:
    sayer = notices.Sayer(i18n.load_translations("zh_Hans"), i18n.Formats("zh_Hans"))
    assert sayer(SAMPLES["calendar_unconfirmed"]).startswith("2031 年")


def test_a_failed_collection_says_why_in_chinese_with_the_english_detail(
    site: Site, client_for, clocks
) -> None:
    from punchd.drivers.errors import DeviceUnreachable

    from .test_collect import _cell, _wait_done

    clocks[MARKUP].fail_connect = DeviceUnreachable(f"{MARKUP}: no route to host 10.0.0.9")
    client = client_for("hr")
    client.cookies.set(security.LANG_COOKIE, "zh_Hans")
    csrf = csrf_of(client.get("/clocks").text)
    r = client.post("/clocks/collect", data={"csrf": csrf, "device": MARKUP})
    page = _wait_done(client, r.url.path.rsplit("/", 1)[1])
    cell = _cell(page, ESCAPED, "error")
    assert cell.startswith("连接不上考勤机")
    assert f'<small class="detail" lang="en">{ESCAPED}: no route to host 10.0.0.9</small>' in cell
    assert MARKUP not in page
    # … and the clocks page says it too, in the last-failure column
    clocks_page = client.get("/clocks").text
    row = clocks_page.split(f'<tr data-device="{ESCAPED}"', 1)[1].split("</tr>", 1)[0]
    failure = row.split('<td class="last-failure">', 1)[1].split("</td>", 1)[0]
    assert '<span class="reason-words">连接不上考勤机' in failure
    assert "no route to host" in failure and MARKUP not in clocks_page
