"""The attendance engine: punches + rules → one :class:`DayResult` per employee and date.

Pure: no database, no clock (``now`` is a parameter), no I/O. docs/processing.md states
every rule; this module follows it. Internally everything is integer minutes on one time
axis per run (minute 0 = midnight starting the first context day), so the hot loops do no
datetime arithmetic:

* per run: the calendar is resolved and each distinct schedule (per department, plus one per
  employee with own assignments/overrides) is laid out once as a *skeleton*: the period
  instances of every date with their punch windows, clipped so that no two windows overlap
  (consecutive periods — also across midnight and days — are separated at the midpoint of
  the gap between them);
* per employee: punches are converted, sorted and collapsed once; each punch gets an owner
  date (the date of the window it falls in, else its calendar date); each period takes its
  check-in / check-out by bisecting the sorted punch minutes.

Two days of context on each side of the range are laid out, which is enough because a
window reaches at most 12 h beyond its period and a period lasts at most 24 h.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from itertools import pairwise

from punchd.processing.model import (
    DAY,
    DayResult,
    Employee,
    EmployeePunch,
    Finding,
    FindingKind,
    Leave,
    Period,
    Rules,
    Status,
    format_minutes,
)
from punchd.processing.options import ProcessingSettings
from punchd.processing.plan import DayKind, PlannedDay, ScheduleIndex, all_shifts

__all__ = ["process_day", "process_range", "punch_load_range"]

MARGIN_DAYS = 2
_BIG = 1 << 60

_LATE = FindingKind.LATE
_EARLY = FindingKind.EARLY
_ABSENT = FindingKind.ABSENT
_MISSING_IN = FindingKind.MISSING_IN
_MISSING_OUT = FindingKind.MISSING_OUT
_LEAVE = FindingKind.LEAVE
_OVERTIME = FindingKind.OVERTIME

_WORKDAY = DayKind.WORKDAY
_REST = DayKind.REST
_HOLIDAY = DayKind.HOLIDAY


# ------------------------------------------------------------------------------ templates


class _Template:
    """A period compiled against the settings: offsets relative to its start / end."""

    __slots__ = (
        "ci_from",
        "ci_to",
        "co_from",
        "co_to",
        "early_grace",
        "end",
        "late_grace",
        "minutes",
        "must_in",
        "must_out",
        "start",
    )

    def __init__(self, p: Period, settings: ProcessingSettings) -> None:
        self.start = p.start
        self.end = p.end
        self.minutes = p.counted_minutes
        self.late_grace = p.late_grace
        self.early_grace = p.early_grace
        self.must_in = p.must_check_in
        self.must_out = p.must_check_out
        # Half-open windows; None = the (effective) period's midpoint.
        self.ci_from = (
            -settings.default_checkin_before if p.checkin_from is None else p.checkin_from - p.start
        )
        self.ci_to = None if p.checkin_until is None else p.checkin_until - p.start + 1
        self.co_from = None if p.checkout_from is None else p.checkout_from - p.end
        self.co_to = (
            settings.default_checkout_after + 1
            if p.checkout_until is None
            else p.checkout_until - p.end + 1
        )


class _Inst:
    """One period on one date, on the run's minute axis, windows clipped to its slot."""

    __slots__ = ("ci_from", "ci_to", "co_from", "co_to", "code", "day", "e", "hi", "lo", "s", "t")

    def __init__(self, day: int, t: _Template, code: str, base: int) -> None:
        self.day = day
        self.t = t
        self.code = code
        self.s = base + t.start
        self.e = base + t.end
        self.lo = -_BIG
        self.hi = _BIG

    def place(self, s: int, e: int) -> None:
        """Set windows for the (effective) period [s, e), clipped to [lo, hi)."""
        t = self.t
        mid = s + (e - s) // 2
        lo, hi = self.lo, self.hi
        self.ci_from = max(s + t.ci_from, lo)
        self.ci_to = min(mid if t.ci_to is None else s + t.ci_to, hi)
        self.co_from = max(mid if t.co_from is None else e + t.co_from, lo)
        self.co_to = min(e + t.co_to, hi)

    def copy(self) -> _Inst:
        c = _Inst.__new__(_Inst)
        for name in _Inst.__slots__:
            setattr(c, name, getattr(self, name))
        return c


class _Skeleton:
    """The planned days and period instances of one schedule over the context range."""

    __slots__ = ("codes", "insts", "kinds", "names", "slices", "wday", "wend", "wstart")

    def __init__(
        self,
        plans: list[PlannedDay],
        templates: dict[int, _Template],
        settings: ProcessingSettings,
    ) -> None:
        self.codes = [p.shift_code for p in plans]
        self.kinds = [p.kind for p in plans]
        self.names = [p.calendar_name for p in plans]
        insts: list[_Inst] = []
        for k, plan in enumerate(plans):
            base = k * DAY
            for n, period in enumerate(plan.periods, 1):
                t = templates.get(id(period))
                if t is None:
                    t = templates[id(period)] = _Template(period, settings)
                insts.append(_Inst(k, t, period.code or str(n), base))
        insts.sort(key=lambda i: i.s)  # stable: already in order unless overnight overlaps
        for a, b in pairwise(insts):
            cut = (a.e + b.s) // 2
            a.hi = cut
            b.lo = cut
        slices: list[tuple[int, int]] = [(0, 0)] * len(plans)
        start = 0
        for idx in range(len(insts) + 1):
            if idx == len(insts) or (idx > start and insts[idx].day != insts[start].day):
                if idx > start:
                    slices[insts[start].day] = (start, idx)
                start = idx
        for i in insts:
            i.place(i.s, i.e)
        self.insts = insts
        self.slices = slices
        self.wstart, self.wend, self.wday = _ownership(insts)


def _ownership(insts: Sequence[_Inst]) -> tuple[list[int], list[int], list[int]]:
    """Sorted, disjoint intervals [start, end) → work-date index of the windows in them."""
    ws: list[int] = []
    we: list[int] = []
    wd: list[int] = []
    for i in insts:
        for a, b in sorted(((i.ci_from, i.ci_to), (i.co_from, i.co_to))):
            if a >= b:
                continue
            if we and a <= we[-1] and wd[-1] == i.day:
                we[-1] = max(we[-1], b)
            else:
                ws.append(a)
                we.append(b)
                wd.append(i.day)
    return ws, we, wd


# ---------------------------------------------------------------------------------- leave


class _EmployeeLeave:
    """One employee's leave on the run's axis: full work dates and merged part-day spans."""

    __slots__ = ("days", "spans")

    def __init__(self, leaves: Iterable[Leave], e0: int, n_days: int) -> None:
        days: dict[int, set[str]] = {}
        raw: list[tuple[int, int, str]] = []
        for lv in leaves:
            if lv.full_days:
                a = max(lv.start.toordinal() - e0, 0)
                b = min(lv.end.toordinal() - e0, n_days - 1)
                for k in range(a, b + 1):
                    days.setdefault(k, set()).add(lv.kind)
            else:
                a = _minute(lv.start, e0)
                b = _minute(lv.end, e0)
                if b > 0 and a < n_days * DAY:
                    raw.append((a, b, lv.kind))
        raw.sort()
        spans: list[list] = []
        for a, b, kind in raw:
            if spans and a <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], b)
                if kind not in spans[-1][2]:
                    spans[-1][2].append(kind)
            else:
                spans.append([a, b, [kind]])
        self.spans = [(a, b, "/".join(sorted(k))) for a, b, k in spans]
        self.days = {k: "/".join(sorted(v)) for k, v in days.items()}

    def cover(self, day: int, s: int, e: int) -> tuple[int, int, int, str]:
        """(covered minutes, effective start, effective end, kinds) of period [s, e)."""
        kind = self.days.get(day)
        if kind is not None:
            return e - s, e, e, kind
        covered = 0
        eff_s, eff_e = s, e
        kinds: list[str] = []
        for a, b, k in self.spans:
            if b <= s:
                continue
            if a >= e:
                break
            covered += min(b, e) - max(a, s)
            kinds.append(k)
            if a <= s:
                eff_s = b
            if b >= e:
                eff_e = a
        if eff_s >= eff_e:
            eff_s = eff_e = e
        return covered, eff_s, eff_e, "/".join(kinds)


def _minute(dt: datetime, e0: int) -> int:
    return (dt.toordinal() - e0) * DAY + dt.hour * 60 + dt.minute


# --------------------------------------------------------------------------------- public


def punch_load_range(rules: Rules, date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """The wall-clock range ``[start, end)`` of punches the caller must pass so that every
    date in ``[date_from, date_to]`` is judged exactly as with all punches present.

    It is ``date_from`` minus the earliest check-in window reach before midnight (and
    ``collapse_minutes`` more, as an earlier punch can make one in the window a duplicate) to
    ``date_to + 1 day`` plus the latest check-out window reach (a 22:00–06:00 period with the
    default 240-minute check-out window needs punches up to 10:00 the day after ``date_to``).
    """
    settings = rules.settings
    lo, hi = 0, DAY
    for shift in all_shifts(rules):
        for day in shift.days:
            for p in day:
                t = _Template(p, settings)
                lo = min(lo, p.start + t.ci_from)
                hi = max(hi, p.end + t.co_to)
    lo -= settings.collapse_minutes
    start = datetime.combine(date_from, datetime.min.time()) + timedelta(minutes=lo)
    end = datetime.combine(date_to, datetime.min.time()) + timedelta(minutes=hi)
    return start, end


def process_day(
    employee: Employee,
    work_date: date,
    punches: Sequence[EmployeePunch | datetime],
    rules: Rules,
    *,
    now: datetime | None,
) -> DayResult | None:
    """One employee-day; None when the employee is not employed on ``work_date``.

    Same answer as the matching element of :func:`process_range` (it is that call).
    """
    for result in process_range(
        [employee], {employee.id: punches}, rules, work_date, work_date, now=now
    ):
        return result
    return None


def process_range(
    employees: Iterable[Employee],
    punches_by_employee: Mapping[Hashable, Sequence[EmployeePunch | datetime]],
    rules: Rules,
    date_from: date,
    date_to: date,
    *,
    now: datetime | None,
) -> Iterator[DayResult]:
    """Judge every employee on every date in ``[date_from, date_to]`` they were employed.

    * ``punches_by_employee``: employee id → that employee's punches (``EmployeePunch`` or bare
      ``datetime``, any order, void ones ignored), covering at least
      :func:`punch_load_range`; an employee without an entry has no punches.
    * ``now``: the current local wall-clock time. A period whose check-out window has not
      closed at ``now`` is not judged yet (status ``incomplete``). None: judge everything
      (processing of a closed past period).

    Yields results employee by employee (in the given order), dates ascending.
    """
    if date_to < date_from:
        return
    settings = rules.settings
    e0 = date_from.toordinal() - MARGIN_DAYS
    n_days = date_to.toordinal() - e0 + 1 + MARGIN_DAYS
    ctx_from = date.fromordinal(e0)
    ctx_to = date.fromordinal(e0 + n_days - 1)
    index = ScheduleIndex(rules, rules.calendar.resolve(ctx_from, ctx_to))
    dates = [date.fromordinal(e0 + k) for k in range(n_days)]
    templates: dict[int, _Template] = {}
    skeletons: dict[tuple, _Skeleton] = {}
    by_signature: dict[Hashable, _Skeleton] = {}
    leaves_by_employee: dict[Hashable, list[Leave]] = {}
    for lv in rules.leaves:
        leaves_by_employee.setdefault(lv.employee_id, []).append(lv)
    now_minute = _BIG if now is None else _minute(now, e0)
    judge = _Judge(settings, dates, now_minute)
    first_k = MARGIN_DAYS
    last_k = n_days - 1 - MARGIN_DAYS

    for emp in employees:
        k_from, k_to = first_k, last_k
        if emp.hire_date is not None:
            k_from = max(k_from, emp.hire_date.toordinal() - e0)
        if emp.separation_date is not None:
            k_to = min(k_to, emp.separation_date.toordinal() - e0)
        if k_from > k_to:
            continue
        sig = index.signature(emp)
        skel = by_signature.get(sig)
        if skel is None:
            # Employees with their own schedules often still have the same plan as others
            # (schedules stored per employee): share skeletons by plan content.
            plans = [index.day(emp, d) for d in dates]
            key = tuple((p.kind, p.shift_code, id(p.periods), p.calendar_name) for p in plans)
            skel = skeletons.get(key)
            if skel is None:
                skel = skeletons[key] = _Skeleton(plans, templates, settings)
            by_signature[sig] = skel
        emp_leaves = leaves_by_employee.get(emp.id)
        leave = _EmployeeLeave(emp_leaves, e0, n_days) if emp_leaves else None
        yield from judge.employee(
            emp.id, punches_by_employee.get(emp.id, ()), skel, leave, e0, k_from, k_to
        )


# ---------------------------------------------------------------------------------- judge


class _Judge:
    """The per-employee loop; holds what is constant during a run."""

    def __init__(self, settings: ProcessingSettings, dates: list[date], now: int) -> None:
        self.s = settings
        self.dates = dates
        self.now = now
        self.collapse = settings.collapse_minutes * 60
        self.policy_late = settings.missing_punch_policy == "late"
        self.missing = settings.missing_minutes
        self.late_absent = settings.late_as_absent_after
        self.early_absent = settings.early_as_absent_after
        self.ot_threshold = settings.overtime_threshold
        self.ot_before = settings.overtime_before_start
        self.ot_after = settings.overtime_after_end

    def _punches(self, raw: Sequence[EmployeePunch | datetime], e0: int) -> tuple[list[int], list]:
        """Sorted, collapsed punch minutes and their original datetimes."""
        dts: list[datetime] = []
        for p in raw:
            if isinstance(p, datetime):
                dts.append(p)
            elif not p[2]:  # EmployeePunch.void
                dts.append(p[0])
        base = e0 * 86400
        secs = [
            d.toordinal() * 86400 + d.hour * 3600 + d.minute * 60 + d.second - base for d in dts
        ]
        for a, b in pairwise(secs):
            if b < a:
                order = sorted(range(len(secs)), key=secs.__getitem__)
                secs = [secs[i] for i in order]
                dts = [dts[i] for i in order]
                break
        gap = self.collapse
        if gap and secs:
            kept_s = [secs[0]]
            kept_d = [dts[0]]
            last = secs[0]
            for i in range(1, len(secs)):
                x = secs[i]
                if x - last >= gap:
                    kept_s.append(x)
                    kept_d.append(dts[i])
                    last = x
            secs, dts = kept_s, kept_d
        return [x // 60 for x in secs], dts

    def employee(
        self,
        emp_id: Hashable,
        raw: Sequence[EmployeePunch | datetime],
        skel: _Skeleton,
        leave: _EmployeeLeave | None,
        e0: int,
        k_from: int,
        k_to: int,
    ) -> Iterator[DayResult]:
        mins, dts = self._punches(raw, e0) if raw else ([], [])
        insts = skel.insts
        ws, we, wd = skel.wstart, skel.wend, skel.wday
        # Part-day leave moves starts/ends and with them windows: this employee's own copy.
        eff: dict[int, tuple[int, int, int, str]] = {}
        if leave is not None:
            insts = list(insts)
            changed = False
            for n, i in enumerate(insts):
                c = leave.cover(i.day, i.s, i.e)
                if c[0]:
                    eff[n] = c
                    if c[1] < c[2] and (c[1] != i.s or c[2] != i.e):
                        lo, hi = i.ci_from, i.co_to  # leave never widens the search
                        i = insts[n] = i.copy()
                        i.place(c[1], c[2])
                        i.ci_from, i.ci_to = max(i.ci_from, lo), min(i.ci_to, hi)
                        i.co_from, i.co_to = max(i.co_from, lo), min(i.co_to, hi)
                        changed = True
            if changed:
                ws, we, wd = _ownership(insts)

        # Owner date of each punch: the window's date, else its calendar date.
        n_days = len(skel.kinds)
        first = [-1] * n_days
        last = [-1] * n_days
        strays: dict[int, list[int]] = {}
        for idx, m in enumerate(mins):
            w = bisect_right(ws, m) - 1
            if w >= 0 and m < we[w]:
                k = wd[w]
            else:
                k = m // DAY
                if k < 0 or k >= n_days:
                    continue
                strays.setdefault(k, []).append(idx)
            if first[k] < 0:
                first[k] = idx
            last[k] = idx

        kinds = skel.kinds
        codes = skel.codes
        names = skel.names
        slices = skel.slices
        dates = self.dates
        for k in range(k_from, k_to + 1):
            f = first[k]
            first_punch = dts[f] if f >= 0 else None
            last_punch = dts[last[k]] if f >= 0 else None
            if kinds[k] is _WORKDAY:
                i0, i1 = slices[k]
                yield self._workday(
                    emp_id, k, dates[k], codes[k], insts, i0, i1, eff, mins, strays.get(k),
                    first_punch, last_punch,
                )  # fmt: skip
            else:
                yield self._off_day(
                    emp_id, k, dates[k], codes[k], kinds[k], names[k], f, last[k], mins,
                    first_punch, last_punch,
                )  # fmt: skip

    def _workday(
        self,
        emp_id: Hashable,
        k: int,
        d: date,
        code: str | None,
        insts: list[_Inst],
        i0: int,
        i1: int,
        eff: dict[int, tuple[int, int, int, str]],
        mins: list[int],
        strays: list[int] | None,
        first_punch: datetime | None,
        last_punch: datetime | None,
    ) -> DayResult:
        """Judge each period of a workday, then the day."""
        findings: list[Finding] = []

        def note(period: str | None, kind: FindingKind, minutes: int, detail: str) -> None:
            findings.append(Finding(emp_id, d, period, kind, minutes, detail))

        n = len(mins)
        now = self.now
        scheduled = worked = late_t = early_t = absent_t = leave_t = overtime = 0
        missing_n = n_present = n_absent = n_pending = 0
        for ii in range(i0, i1):
            inst = insts[ii]
            t = inst.t
            period = inst.code
            minutes = t.minutes
            scheduled += minutes
            s, e = inst.s, inst.e
            on_leave = 0
            cover = eff.get(ii)
            if cover is not None:
                whole = cover[1] >= cover[2]
                on_leave = minutes if whole else min(cover[0], minutes)
                leave_t += on_leave
                note(period, _LEAVE, on_leave, cover[3])
                if whole:  # no punch requirement left
                    continue
                s, e = cover[1], cover[2]  # late / early measured against the leave's edge

            # Check-in: first punch in its window; check-out: last punch in its window.
            ci = co = None
            i = bisect_left(mins, inst.ci_from)
            if i < n and mins[i] < inst.ci_to:
                ci = mins[i]
            j = bisect_left(mins, inst.co_to) - 1
            if j >= 0 and mins[j] >= inst.co_from:
                if ci is None or j > i:
                    co = mins[j]
                elif j == i and ci - s > e - ci:  # one punch in both windows: the nearer
                    co, ci = ci, None
            late = ci - s if ci is not None and ci - s > t.late_grace else 0

            if now < inst.co_to:  # check-out window still open: judged later
                n_pending += 1
                if late:
                    late_t += late
                    note(period, _LATE, late, _judged("in", ci, s, k))
                continue

            early = e - co if co is not None and e - co > t.early_grace else 0
            absent_why = None
            miss_in = miss_out = False
            if ci is None and co is None:
                if t.must_in or t.must_out:
                    absent_why = "no punches"
            else:
                miss_in = ci is None and t.must_in
                miss_out = co is None and t.must_out
                if miss_in or miss_out:
                    missing_n += 1
                    if not self.policy_late:
                        absent_why = "no check-in" if miss_in else "no check-out"
                    elif miss_in:
                        late = self.missing
                    else:
                        early = self.missing
                if absent_why is None:
                    if self.late_absent is not None and late > self.late_absent:
                        absent_why = f"{late} min late > {self.late_absent}"
                    elif self.early_absent is not None and early > self.early_absent:
                        absent_why = f"{early} min early > {self.early_absent}"

            if absent_why is not None:
                if miss_in:
                    note(period, _MISSING_IN, 0, "no check-in; period absent")
                if miss_out:
                    note(period, _MISSING_OUT, 0, "no check-out; period absent")
                absent = minutes - on_leave
                absent_t += absent
                n_absent += 1
                note(period, _ABSENT, absent, absent_why)
                continue

            n_present += 1
            if miss_in:
                note(period, _MISSING_IN, late, f"no check-in; counted as {late} min late")
            elif late:
                note(period, _LATE, late, _judged("in", ci, s, k))
            if miss_out:
                note(period, _MISSING_OUT, early, f"no check-out; counted as {early} min early")
            elif early:
                note(period, _EARLY, early, _judged("out", co, e, k))
            late_t += late
            early_t += early
            worked += max(0, minutes - on_leave - late - early)

            # Normal overtime: before the day's first period, after its last one.
            if ii == i0 and ci is not None and s == inst.s and self.ot_before:
                x = s - ci
                if x > self.ot_threshold:
                    overtime += x
                    note(period, _OVERTIME, x, f"before start: in {_hm(ci, k)}")
            if ii == i1 - 1 and co is not None and e == inst.e and self.ot_after:
                x = co - e
                if x > self.ot_threshold:
                    overtime += x
                    note(period, _OVERTIME, x, f"after end: out {_hm(co, k)}")

        for idx in strays or ():
            note(None, FindingKind.STRAY_PUNCH, 0, f"punch at {_hm(mins[idx], k)} is in no window")
        if n_pending:
            status = Status.INCOMPLETE
        elif n_present:
            status = Status.PRESENT
        elif n_absent:
            status = Status.ABSENT
        else:
            status = Status.LEAVE
        return DayResult(
            emp_id, d, code, status, scheduled, worked, late_t, early_t, absent_t, leave_t,
            overtime, 0, 0, missing_n, first_punch, last_punch, tuple(findings),
        )  # fmt: skip

    def _off_day(
        self,
        emp_id: Hashable,
        k: int,
        d: date,
        code: str | None,
        kind: DayKind,
        name: str,
        f: int,
        la: int,
        mins: list[int],
        first_punch: datetime | None,
        last_punch: datetime | None,
    ) -> DayResult:
        """Rest day, holiday or unscheduled date: all worked time is rest/holiday overtime."""
        span = mins[la] - mins[f] if f >= 0 else 0
        findings: tuple[Finding, ...] = ()
        holiday_ot = rest_ot = 0
        if f >= 0:
            if f == la:
                findings = (
                    Finding(
                        emp_id, d, None, FindingKind.UNPAIRED_PUNCH, 0,
                        f"single punch at {_hm(mins[f], k)}",
                    ),
                )  # fmt: skip
            elif kind is _HOLIDAY:
                holiday_ot = span
                findings = (
                    Finding(
                        emp_id, d, None, FindingKind.HOLIDAY_OVERTIME, span,
                        f"{_hm(mins[f], k)}–{_hm(mins[la], k)} {name}".rstrip(),
                    ),
                )  # fmt: skip
            elif kind is _REST:
                rest_ot = span
                findings = (
                    Finding(
                        emp_id, d, None, FindingKind.REST_OVERTIME, span,
                        f"{_hm(mins[f], k)}–{_hm(mins[la], k)}",
                    ),
                )  # fmt: skip
            else:
                findings = (
                    Finding(
                        emp_id, d, None, FindingKind.UNSCHEDULED, span,
                        f"punches {_hm(mins[f], k)}–{_hm(mins[la], k)} but no schedule",
                    ),
                )  # fmt: skip
        status = Status.HOLIDAY if kind is _HOLIDAY else Status.REST
        return DayResult(
            emp_id, d, code, status, 0, 0, 0, 0, 0, 0, 0, holiday_ot, rest_ot, 0,
            first_punch, last_punch, findings,
        )  # fmt: skip


def _hm(minute: int, k: int) -> str:
    return format_minutes(minute - k * DAY)


def _judged(what: str, punch: int, reference: int, k: int) -> str:
    return f"{what} {_hm(punch, k)}, {'start' if what == 'in' else 'end'} {_hm(reference, k)}"
