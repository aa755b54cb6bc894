"""Re-process queue benchmark: what keeping results fresh costs.

    .venv/bin/python bench/requeue.py [--employees 2000] [--days 31]
    .venv/bin/python bench/requeue.py --url postgresql+psycopg://…/empty_db   (or MySQL)

Builds the database of ``bench/process.py`` (not measured) and processes the month, then
prints, measured in this run (best of ``RUNS``):

* empty drain: what every command and report pays when nothing is queued;
* one change: one employee-day queued (a leave, a manual punch) and drained;
* a collection: one day of 200 employees queued as 200 rows and drained;
* rules changed: everyone, the whole month queued as one row and drained, next to a plain
  ``process()`` of the month (draining must cost no more than processing).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine import make_dataset
from bench.process import build

from punchd.processing import requeue
from punchd.processing import runner as proc
from punchd.storage.database import make_engine, upgrade

RUNS = 3


def best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--employees", type=int, default=2000)
    ap.add_argument("--days", type=int, default=31)
    ap.add_argument("--url", help="an empty PostgreSQL / MySQL database instead of SQLite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        ds = make_dataset(args.employees, args.days, 1)
        build(engine, ds)
        proc.process(engine, ds.date_from, ds.date_to, now=ds.now, actor="bench")
        ids = [e.id for e in ds.employees]
        mid = ds.date_from + (ds.date_to - ds.date_from) / 2

        def drain() -> requeue.DrainResult:
            return requeue.drain_all(engine, now=ds.now, actor="bench")

        def one_change() -> None:
            with engine.begin() as conn:
                requeue.enqueue(conn, employee_id=ids[0], date_from=mid, date_to=mid, reason="b")
            assert drain().employee_days == 1

        def collection() -> None:
            with engine.begin() as conn:
                for employee_id in ids[:200]:
                    requeue.enqueue(
                        conn, employee_id=employee_id, date_from=mid, date_to=mid, reason="b"
                    )
            assert drain().employees == 200

        def rules_changed() -> None:
            with engine.begin() as conn:
                requeue.enqueue_rules(conn)
            drain()

        empty = best(drain)
        one = best(one_change)
        many = best(collection)
        rules = best(rules_changed)
        plain = best(lambda: proc.process(engine, ds.date_from, ds.date_to, now=ds.now, actor="b"))
        engine.dispose()
    print(f"{len(ids):,} employees × {args.days} days")
    print(f"empty drain            {empty * 1000:8.1f} ms")
    print(f"one employee-day       {one * 1000:8.1f} ms  (queue + drain)")
    print(f"200 employees, one day {many * 1000:8.1f} ms  (200 rows, queue + drain)")
    print(f"rules changed          {rules:8.2f} s   (everyone, the month: queue + drain)")
    print(f"process() the month    {plain:8.2f} s")


if __name__ == "__main__":
    main()
