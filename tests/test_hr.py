"""HR storage on every backend: roster import, separation, cards and the card index."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from punchd.hr import service as hr
from punchd.hr.roster import RosterRow, parse_rows
from punchd.storage import hr as hr_store
from punchd.storage.schema import att_audit, att_card, att_department, att_employee

NOW = datetime(2025, 6, 15, 9, 30, 0)
HEADER = [
    "employee_no",
    "name",
    "department",
    "department_name",
    "enroll_no",
    "card_no",
    "hire_date",
    "separation_date",
]


def rows(*lines: list) -> list[RosterRow]:
    parsed = parse_rows([(1, HEADER), *((n, line) for n, line in enumerate(lines, start=2))])
    assert parsed.errors == []
    return parsed.rows


def do_import(engine: Engine, roster: list[RosterRow], actor: str = "clerk") -> hr.ImportSummary:
    with engine.begin() as conn:
        assert hr.check_roster(conn, roster) == []
        return hr.apply_roster(conn, roster, actor=actor, now=NOW)


def employees(engine: Engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {
            e.employee_no: (e.name, e.department_code, e.enroll_no, e.hire_date, e.separation_date)
            for e in hr.list_employees(conn)
        }


def cards(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [(c.card_no, c.employee_no, c.effective_from) for c in hr.card_history(conn)]


def audit_rows(engine: Engine, entity: str) -> list[tuple]:
    with engine.connect() as conn:
        result = conn.execute(
            select(
                att_audit.c.changed_by,
                att_audit.c.action,
                att_audit.c.entity_key,
                att_audit.c.detail,
            )
            .where(att_audit.c.entity == entity)
            .order_by(att_audit.c.id)
        )
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in result]


BASE = [
    ["E1", "Zhang", "OPS", "Operations", "000101", "10000001", "2024-03-01", None],
    ["E2", "Li", "OPS", None, "000102", None, "2024-04-01", None],
    ["E3", "Wang", "QA", None, None, "10000003", "2023-01-01", "2024-12-31"],
]


def test_import_creates_departments_employees_cards_and_audit(engine: Engine) -> None:
    summary = do_import(engine, rows(*BASE))
    assert (summary.created, summary.updated, summary.unchanged) == (["E1", "E2", "E3"], [], [])
    assert summary.cards_issued == ["10000001", "10000003"]
    assert summary.departments_created == ["OPS", "QA"]
    assert employees(engine) == {
        "E1": ("Zhang", "OPS", "000101", date(2024, 3, 1), None),
        "E2": ("Li", "OPS", "000102", date(2024, 4, 1), None),
        "E3": ("Wang", "QA", None, date(2023, 1, 1), date(2024, 12, 31)),
    }
    with engine.connect() as conn:
        depts = {d.code: d.name for d in hr.list_departments(conn)}
        stamps = conn.execute(select(att_employee.c.updated_by, att_employee.c.created_at)).all()
    assert depts == {"OPS": "Operations", "QA": "QA"}
    assert {s.updated_by for s in stamps} == {"clerk"}
    # A new employee's card counts from the start of the hire date.
    assert cards(engine) == [
        ("10000001", "E1", datetime(2024, 3, 1)),
        ("10000003", "E3", datetime(2023, 1, 1)),
    ]
    assert [(a, k) for _, a, k, _ in audit_rows(engine, "department")] == [
        ("create", "OPS"),
        ("create", "QA"),
    ]
    created = audit_rows(engine, "employee")
    assert created[0] == (
        "clerk",
        "create",
        "E1",
        {"department": "OPS", "enroll_no": "000101", "hire_date": "2024-03-01", "name": "Zhang"},
    )
    assert [(a, k, d["employee_no"]) for _, a, k, d in audit_rows(engine, "card")] == [
        ("issue", "10000001", "E1"),
        ("issue", "10000003", "E3"),
    ]


def test_reimport_updates_by_employee_no_and_is_idempotent(engine: Engine) -> None:
    do_import(engine, rows(*BASE))
    changed = [
        ["E1", "Zhang San", "QA", None, "000101", "10000001", "2024-03-01", None],  # name, dept
        ["E2", "Li", "OPS", None, None, None, "2024-04-01", "2025-05-31"],  # separated
        ["E3", "Wang", "QA", None, "000103", None, "2023-01-01", None],  # enroll; keeps sep.
        ["E4", "Zhao", "NEW", None, None, None, "2025-06-01", None],
    ]
    summary = do_import(engine, rows(*changed), actor="hr2")
    assert (summary.created, summary.updated, summary.unchanged) == (
        ["E4"],
        ["E1", "E2", "E3"],
        [],
    )
    assert summary.cards_issued == []
    assert employees(engine) == {
        "E1": ("Zhang San", "QA", "000101", date(2024, 3, 1), None),
        "E2": ("Li", "OPS", "000102", date(2024, 4, 1), date(2025, 5, 31)),  # enroll kept
        "E3": ("Wang", "QA", "000103", date(2023, 1, 1), date(2024, 12, 31)),  # not cleared
        "E4": ("Zhao", "NEW", None, date(2025, 6, 1), None),
    }
    updates = [(by, k, d) for by, a, k, d in audit_rows(engine, "employee") if a == "update"]
    assert updates == [
        ("hr2", "E1", {"department": ["OPS", "QA"], "name": ["Zhang", "Zhang San"]}),
        ("hr2", "E2", {"separation_date": [None, "2025-05-31"]}),
        ("hr2", "E3", {"enroll_no": [None, "000103"]}),
    ]
    again = do_import(engine, rows(*changed))
    assert (again.created, again.updated, again.cards_issued) == ([], [], [])
    assert again.unchanged == ["E1", "E2", "E3", "E4"]
    assert len(audit_rows(engine, "employee")) == 7


def test_changed_card_starts_now_and_replaces_the_old_one(engine: Engine) -> None:
    do_import(engine, rows(*BASE))
    line = ["E1", "Zhang", "OPS", None, "000101", "10000009", "2024-03-01", None]
    summary = do_import(engine, rows(line))
    assert (summary.updated, summary.cards_issued, summary.cards_withdrawn) == (
        ["E1"],
        ["10000009"],
        ["10000001"],
    )
    assert cards(engine) == [
        ("10000001", "E1", datetime(2024, 3, 1)),
        ("10000001", None, NOW),
        ("10000003", "E3", datetime(2023, 1, 1)),
        ("10000009", "E1", NOW),
    ]
    assert do_import(engine, rows(line)).unchanged == ["E1"]


def test_clashes_with_other_employees_in_the_database(engine: Engine) -> None:
    do_import(engine, rows(*BASE))
    bad = rows(
        ["E5", "New", "OPS", None, "000101", None, "2025-01-01", None],  # E1's enroll_no
        ["E6", "New", "OPS", None, None, "10000003", "2025-01-01", None],  # E3's card
        ["E3", "Wang", "QA", None, None, None, "2025-02-01", None],  # hired after separation
        ["E1", "Zhang", "OPS", None, None, "10000001", "2024-03-01", None],  # own card: fine
    )
    with engine.connect() as conn:
        errors = hr.check_roster(conn, bad)
    assert [str(e) for e in errors] == [
        "row 2, enroll_no: 000101 belongs to employee E1 (Zhang)",
        "row 3, card_no: card 10000003 is held by employee E3 (Wang); withdraw it first or "
        "pass it on with `punchd cards issue`",
        "row 4, hire_date: 2025-02-01 is after the separation date 2024-12-31 already recorded "
        "(run `punchd employees unseparate` first, or fill in separation_date)",
    ]


def test_enroll_numbers_and_cards_can_swap_in_one_import(engine: Engine) -> None:
    do_import(
        engine,
        rows(
            ["E1", "A", "D", None, "1", "11", "2024-01-01", None],
            ["E2", "B", "D", None, "2", "22", "2024-01-01", None],
        ),
    )
    swapped = rows(
        ["E1", "A", "D", None, "2", "22", "2024-01-01", None],
        ["E2", "B", "D", None, "1", "11", "2024-01-01", None],
    )
    summary = do_import(engine, swapped)
    assert summary.updated == ["E1", "E2"]
    assert summary.cards_withdrawn == []  # both pass on, neither is withdrawn
    assert {k: v[2] for k, v in employees(engine).items()} == {"E1": "2", "E2": "1"}
    with engine.connect() as conn:
        index = hr_store.card_owner_index(conn)
        e1, e2 = hr.get_employee(conn, "E1").id, hr.get_employee(conn, "E2").id
    assert (index.owner("11", datetime(2025, 1, 1)), index.owner("11", NOW)) == (e1, e2)
    assert (index.owner("22", datetime(2025, 1, 1)), index.owner("22", NOW)) == (e2, e1)


def test_separate_and_unseparate(engine: Engine) -> None:
    do_import(engine, rows(*BASE))
    with engine.begin() as conn:
        with pytest.raises(hr.HRError) as refused:
            hr.separate(conn, "E1", date(2024, 2, 29), actor="hr")
        assert str(refused.value) == (
            "the separation date 2024-02-29 is before the hire date 2024-03-01 of employee 'E1'"
        )
        assert hr.separate(conn, "E1", date(2024, 3, 1), actor="hr").separation_date == date(
            2024, 3, 1
        )  # the hire date itself is allowed
        emp = hr.separate(conn, "E1", date(2025, 5, 31), actor="hr")
        assert emp.employed_on(date(2025, 5, 31)) and not emp.employed_on(date(2025, 6, 1))
        assert hr.unseparate(conn, "E1", actor="hr").separation_date is None
        assert hr.unseparate(conn, "E1", actor="hr").separation_date is None  # no-op
        with pytest.raises(hr.NotFound, match="unknown employee 'E9'"):
            hr.separate(conn, "E9", date(2025, 1, 1), actor="hr")
        listed = hr.list_employees(conn, include_leavers=False, today=date(2025, 1, 1))
        assert [e.employee_no for e in listed] == ["E1", "E2"]  # E3 left 2024-12-31
    changes = [(a, d) for _, a, k, d in audit_rows(engine, "employee") if k == "E1"][1:]
    assert changes == [
        ("separate", {"separation_date": [None, "2024-03-01"]}),
        ("separate", {"separation_date": ["2024-03-01", "2025-05-31"]}),
        ("unseparate", {"separation_date": ["2025-05-31", None]}),
    ]


def test_cards_issue_withdraw_pass_on_and_index(engine: Engine) -> None:
    do_import(engine, rows(*BASE))
    with engine.begin() as conn:
        e1, e2, e3 = (hr.get_employee(conn, no).id for no in ("E1", "E2", "E3"))
        change = hr.issue_card(conn, "555", "E2", datetime(2025, 1, 1, 8, 0), actor="hr")
        assert (change.previous_owner, change.new_owner) == (None, "E2")
        hr.withdraw_card(conn, "555", datetime(2025, 2, 1), actor="hr")
        change = hr.issue_card(conn, "555", "E1", datetime(2025, 3, 1, 12, 0, 30), actor="hr")
        assert change.previous_owner is None
        change = hr.issue_card(conn, "555", "E2", datetime(2025, 4, 1), actor="hr")
        assert change.previous_owner == "E1"
        with pytest.raises(hr.HRError, match="card 555 already has an entry at 2025-04-01"):
            hr.issue_card(conn, "555", "E1", datetime(2025, 4, 1), actor="hr")
        with pytest.raises(hr.HRError, match="card 555 already belongs to employee 'E2'"):
            hr.issue_card(conn, "555", "E2", datetime(2025, 5, 1), actor="hr")
        with pytest.raises(hr.NotFound, match="unknown card '999'"):
            hr.withdraw_card(conn, "999", NOW, actor="hr")
        with pytest.raises(hr.HRError, match="must be digits only"):
            hr.issue_card(conn, "12ab", "E1", NOW, actor="hr")
        index = hr_store.card_owner_index(conn)
        assert [c.card_no for c in hr.card_history(conn, employee_no="E1")] == [
            "10000001",
            "555",
            "555",
            "555",
            "555",
        ]
        assert hr.cards_held(conn) == {e1: ["10000001"], e2: ["555"], e3: ["10000003"]}
    for at, owner in [
        (datetime(2024, 12, 31, 23, 59, 59), None),  # not issued yet
        (datetime(2025, 1, 1, 8, 0), e2),  # from the effective second on
        (datetime(2025, 1, 31, 23, 0), e2),
        (datetime(2025, 2, 1), None),  # withdrawn
        (datetime(2025, 3, 1, 12, 0, 29), None),
        (datetime(2025, 3, 1, 12, 0, 30), e1),
        (datetime(2025, 3, 31, 23, 59, 59), e1),
        (datetime(2025, 4, 1), e2),  # passed on
        (datetime(2030, 1, 1), e2),
    ]:
        assert index.owner("555", at) == owner, at
    assert index.owner("10000001", datetime(2024, 2, 29, 23, 59)) is None
    assert index.owner("10000001", datetime(2024, 3, 1)) == e1
    assert index.owner("unknown", NOW) is None
    assert "555" in index and len(index) == 3
    issued = [(a, k, d) for _, a, k, d in audit_rows(engine, "card") if k == "555"]
    assert issued[-1] == (
        "issue",
        "555",
        {
            "effective_from": "2025-04-01 00:00:00",
            "employee_no": "E2",
            "previous_employee_no": "E1",
        },
    )
    assert [a for a, _, _ in issued] == ["issue", "withdraw", "issue", "issue"]


def test_departments_and_add_employee(engine: Engine) -> None:
    with engine.begin() as conn:
        hr.add_department(conn, "OPS", "Operations", actor="hr")
        with pytest.raises(hr.HRError, match="department 'OPS' already exists"):
            hr.add_department(conn, "OPS", "Again", actor="hr")
        with pytest.raises(hr.HRError, match="department code is too long"):
            hr.add_department(conn, "X" * 33, "Long", actor="hr")
        assert hr.rename_department(conn, "OPS", "Ops", actor="hr").name == "Ops"
        emp = hr.add_employee(
            conn, "E7", "Seven", "OPS", date(2025, 1, 1), actor="hr", now=NOW, card_no="77"
        )
        assert (emp.department_name, emp.enroll_no) == ("Ops", None)
        with pytest.raises(hr.HRError, match="enroll_no: 'x' must be digits only"):
            hr.add_employee(
                conn, "E8", "Eight", "OPS", date(2025, 1, 1), actor="hr", now=NOW, enroll_no="x"
            )
        with pytest.raises(hr.NotFound, match="unknown department 'NOPE'"):
            hr.list_employees(conn, department="NOPE")
        names = conn.execute(select(att_department.c.name)).scalars().all()
        assert names == ["Ops"]
        assert conn.execute(select(att_card.c.effective_from)).scalar() == datetime(2025, 1, 1)


def test_two_thousand_rows_import_and_reimport_unchanged(engine: Engine) -> None:
    lines = [
        [
            f"E{i:05d}",
            f"Person {i}",
            f"D{i % 20}",
            None,
            f"{i:06d}",
            f"{10_000_000 + i}",
            "2024-01-01",
            None,
        ]
        for i in range(2000)
    ]
    roster = rows(*lines)
    summary = do_import(engine, roster)
    assert len(summary.created) == 2000 and len(summary.cards_issued) == 2000
    again = do_import(engine, roster)
    assert len(again.unchanged) == 2000
    with engine.connect() as conn:
        index = hr_store.card_owner_index(conn)
        owner = index.owner("10001999", NOW)
        assert owner == hr.get_employee(conn, "E01999").id
