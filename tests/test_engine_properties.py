"""Property-style checks of the engine on the benchmark's generated dataset."""

from __future__ import annotations

import importlib.util
import random
import sys
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from punchd.processing import FindingKind, Rules, Status, process_day, process_range

_BENCH = Path(__file__).resolve().parent.parent / "bench" / "engine.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_engine", _BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ds():
    return _load_bench().make_dataset(employees=120, days=31, seed=7)


@pytest.fixture(scope="module")
def results(ds):
    return list(
        process_range(ds.employees, ds.punches, ds.rules, ds.date_from, ds.date_to, now=None)
    )


def test_one_row_per_employed_day(ds, results):
    assert len(results) == ds.employee_days
    assert len({(r.employee_id, r.work_date) for r in results}) == len(results)
    for r in results:
        assert ds.date_from <= r.work_date <= ds.date_to


def test_the_mix_is_realistic(results):
    statuses = Counter(r.status for r in results)
    assert {Status.PRESENT, Status.ABSENT, Status.LEAVE, Status.REST, Status.HOLIDAY} <= set(
        statuses
    )
    kinds = Counter(f.kind for r in results for f in r.findings)
    for kind in ("late", "early", "absent", "missing_in", "missing_out", "leave", "overtime"):
        assert kinds[FindingKind(kind)] > 0, kind


def test_finding_minutes_add_up_to_the_day_columns(results):
    for r in results:
        by_kind = Counter()
        for f in r.findings:
            by_kind[f.kind] += f.minutes
        assert r.late_minutes == by_kind["late"] + by_kind["missing_in"], r
        assert r.early_minutes == by_kind["early"] + by_kind["missing_out"], r
        assert r.absent_minutes == by_kind["absent"], r
        assert r.leave_minutes == by_kind["leave"], r
        assert r.overtime_minutes == by_kind["overtime"], r
        assert r.rest_overtime_minutes == by_kind["rest_overtime"], r
        assert r.holiday_overtime_minutes == by_kind["holiday_overtime"], r
        assert r.missing_punches == sum(
            1 for f in r.findings if f.kind in ("missing_in", "missing_out")
        )


def test_scheduled_minutes_are_accounted_for(results):
    for r in results:
        if r.status in (Status.PRESENT, Status.ABSENT, Status.LEAVE):
            parts = (
                r.worked_minutes
                + r.late_minutes
                + r.early_minutes
                + r.absent_minutes
                + r.leave_minutes
            )
            assert parts == r.scheduled_minutes, r
        else:
            assert r.scheduled_minutes == r.worked_minutes == r.absent_minutes == 0


def test_process_day_matches_process_range(ds, results):
    rng = random.Random(3)
    employees = {e.id: e for e in ds.employees}
    for r in rng.sample(results, 150):
        e = employees[r.employee_id]
        assert process_day(e, r.work_date, ds.punches[e.id], ds.rules, now=None) == r


def test_splitting_the_range_changes_nothing(ds, results):
    parts = []
    d = ds.date_from
    while d <= ds.date_to:
        end = min(d + timedelta(days=6), ds.date_to)
        parts += process_range(ds.employees, ds.punches, ds.rules, d, end, now=None)
        d = end + timedelta(days=1)
    key = lambda r: (r.employee_id, r.work_date)  # noqa: E731
    assert sorted(parts, key=key) == sorted(results, key=key)


def test_input_order_does_not_matter(ds, results):
    rng = random.Random(5)
    punches = {}
    for k, v in ds.punches.items():
        v = list(v)
        rng.shuffle(v)
        punches[k] = v
    leaves = list(ds.rules.leaves)
    rng.shuffle(leaves)
    rules = replace(ds.rules, leaves=tuple(leaves))
    employees = list(ds.employees)
    rng.shuffle(employees)
    again = list(process_range(employees, punches, rules, ds.date_from, ds.date_to, now=None))
    key = lambda r: (r.employee_id, r.work_date)  # noqa: E731
    assert sorted(again, key=key) == sorted(results, key=key)


def test_loading_only_the_punch_load_range_changes_nothing(ds, results):
    from punchd.processing import punch_load_range

    lo, hi = punch_load_range(ds.rules, ds.date_from, ds.date_to)
    trimmed = {k: [p for p in v if lo <= p.at < hi] for k, v in ds.punches.items()}
    again = list(process_range(ds.employees, trimmed, ds.rules, ds.date_from, ds.date_to, now=None))
    assert again == results


def test_open_windows_are_never_absent(ds):
    now = datetime.combine(ds.date_from + timedelta(days=10), datetime.min.time())
    now += timedelta(hours=14)
    rows = list(
        process_range(ds.employees, ds.punches, ds.rules, ds.date_from, ds.date_to, now=now)
    )
    for r in rows:
        if r.work_date > now.date():
            assert r.absent_minutes == 0 and r.missing_punches == 0, r
            assert r.status in (Status.INCOMPLETE, Status.REST, Status.HOLIDAY, Status.LEAVE), r
        if r.work_date < now.date() - timedelta(days=1):
            assert r.status is not Status.INCOMPLETE, r


def test_empty_input():
    d = datetime(2024, 3, 4).date()
    assert list(process_range([], {}, Rules(), d, d, now=None)) == []


def test_schedules_stored_per_employee_give_the_same_results(results):
    ds2 = _load_bench().make_dataset(employees=120, days=31, seed=7, per_employee=True)
    assert all(a.employee_id is not None for a in ds2.rules.assignments)
    again = list(
        process_range(ds2.employees, ds2.punches, ds2.rules, ds2.date_from, ds2.date_to, now=None)
    )
    assert again == results
