"""Schedule grid batch-fill benchmark: 300 people × 7 days painted from the month grid.

    .venv/bin/python bench/schedules.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--people 300] [--days 7]

Builds department ``FILL`` of ``--people`` people on a day shift with the month processed
(att_day rows, so every change queues its days), in a SQLite file of its own or, with
``--url``, in a PostgreSQL database of its own (``punchd_bench_sched`` beside the given
one, dropped and re-created). Then, measured once each in this run, on two different
weeks of the same month that start with no temporary schedules:

* one by one: ``rules.schedules.set_override`` per person-day in one transaction (what
  the batch fill did before);
* bulk: ``app.schedule_grid.fill_days`` (one bulk write, one transaction);
* bulk again: the same form sent twice (nothing changes);

each with its wall time, the process's own CPU time, the statements it ran and the rows
it queued, then the re-processing the console runs afterwards (``attendance.refresh``).
Prints the load average and the peak memory (RSS) of this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url

from punchd.app import Actor, Site, accounts, attendance, schedule_grid
from punchd.app.access import scope_for
from punchd.config import load_settings
from punchd.rules import schedules, sync
from punchd.rules.file import parse_rules
from punchd.storage.schema import att_day, att_department, att_employee, att_reprocess

MONTH = date(2026, 3, 1)
RULES = """
[[period]]
code = "P9"
start = "09:00"
end = "18:00"

[[shift]]
code = "DAY"
name = "Office day"
periods = ["P9"]

[[shift]]
code = "LATE"
name = "Late day"
periods = ["P9"]

[[schedule]]
shift = "DAY"
department = "FILL"
from = 2026-01-01
"""


def fresh_database(url: str) -> str:
    base = make_url(url)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS punchd_bench_sched WITH (FORCE)")
        conn.exec_driver_sql("CREATE DATABASE punchd_bench_sched")
    admin.dispose()
    return base.set(database="punchd_bench_sched").render_as_string(hide_password=False)


def populate(site: Site, people: int) -> list[str]:
    stamp = datetime(2026, 1, 1)
    with site.transaction() as conn:
        conn.execute(
            sa.insert(att_department).values(
                code="FILL", name="Fill bench", created_at=stamp, updated_at=stamp, updated_by="b"
            )
        )
        dept = conn.execute(
            sa.select(att_department.c.id).where(att_department.c.code == "FILL")
        ).scalar_one()
        nos = [f"F{i:04d}" for i in range(1, people + 1)]
        conn.execute(
            sa.insert(att_employee),
            [
                {"employee_no": no, "name": f"Fill person {no}", "department_id": dept,
                 "hire_date": date(2020, 1, 1), "created_at": stamp, "updated_at": stamp,
                 "updated_by": "b"}
                for no in nos
            ],
        )  # fmt: skip
        sync.apply_rules_file(conn, parse_rules(RULES), actor="bench")
        ids = conn.execute(sa.select(att_employee.c.id)).scalars().all()
        zero = dict.fromkeys(
            ("worked_minutes", "late_minutes", "early_minutes", "absent_minutes",
             "leave_minutes", "overtime_minutes", "holiday_overtime_minutes",
             "rest_overtime_minutes", "missing_punches"), 0,
        )  # fmt: skip
        conn.execute(
            sa.insert(att_day),
            [
                {"employee_id": eid, "work_date": MONTH + timedelta(days=d), "shift_code": "DAY",
                 "status": "absent", "scheduled_minutes": 480, "processed_at": stamp, **zero}
                for eid in ids
                for d in range(31)
            ],
        )  # fmt: skip
        conn.execute(att_reprocess.delete())
    return nos


def measure(site: Site, label: str, fn: Callable[[], int]) -> None:
    statements = [0]

    def count(*_: object) -> None:
        statements[0] += 1

    event.listen(site.engine, "before_cursor_execute", count)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        changed = fn()
    finally:
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        event.remove(site.engine, "before_cursor_execute", count)
    with site.engine.connect() as conn:
        queued = conn.execute(sa.select(sa.func.count()).select_from(att_reprocess)).scalar_one()
    load = os.getloadavg()[0]
    line = (
        f"{label:12} {wall * 1000:9.0f} {cpu * 1000:9.0f} {statements[0]:7} {changed:8} "
        f"{queued:7} {load:6.2f}"
    )
    wall, cpu = time.perf_counter(), time.process_time()
    refreshed = attendance.refresh(site, Actor("bench"))
    assert refreshed.ok, refreshed.error
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{line} {wall * 1000:11.0f} {cpu * 1000:10.0f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", help="a PostgreSQL database URL (default: a SQLite file)")
    ap.add_argument("--people", type=int, default=300)
    ap.add_argument("--days", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.url) if args.url else f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = load_settings(
            None, database_url=url, data_dir=Path(tmp) / "data", timezone="Asia/Shanghai"
        )
        site = Site.open(settings)
        nos = populate(site, args.people)
        actor = Actor("bench")
        hr = accounts.add_account(site, "bench-hr", "bench password", "hr", actor=actor)
        scope = scope_for(site, hr)
        week1 = MONTH + timedelta(days=1)
        week2 = week1 + timedelta(days=args.days)
        last = week1 + timedelta(days=args.days - 1)

        def one_by_one() -> int:
            changed = 0
            with site.transaction() as conn:
                for no in nos:
                    d = week1
                    while d <= last:
                        what = schedules.set_override(
                            conn, d, employee_no=no, shift_code="LATE", actor=actor.name
                        )
                        changed += what != "unchanged"
                        d += timedelta(days=1)
            return changed

        def bulk() -> int:
            return schedule_grid.fill_days(
                site,
                scope,
                "FILL",
                shift_code="LATE",
                employee_nos=nos,
                date_from=week2,
                date_to=week2 + timedelta(days=args.days - 1),
                month=MONTH,
                actor=actor,
            )

        kind = url.split(":", 1)[0].split("+")[0]
        print(f"{kind}: {args.people} people × {args.days} days, one run each")
        print(
            f"{'fill':12} {'wall ms':>9} {'cpu ms':>9} {'stmts':>7} {'changed':>8} "
            f"{'queued':>7} {'load1':>6} {'refresh ms':>11} {'refr cpu':>10}"
        )
        measure(site, "one by one", one_by_one)
        measure(site, "bulk", bulk)
        measure(site, "bulk again", bulk)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"peak RSS: {peak:.0f} MB; load average:", " ".join(f"{x:.2f}" for x in os.getloadavg())
        )
        site.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
