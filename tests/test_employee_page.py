"""The employee list's page in one statement (storage.hr.employee_page) is the page, the
count and the cards of search_employees + cards_held_by: every filter, every page and one
past the end, cards withdrawn, moved to someone else or two at once — on every database."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import insert

from punchd.storage import hr
from punchd.storage.schema import att_card, att_department, att_employee

T0 = datetime(2026, 1, 1)
TODAY = date(2026, 3, 1)


def _site(engine) -> None:
    with engine.begin() as conn:
        ids = []
        for code in ("A", "B"):
            ids.append(
                conn.execute(
                    insert(att_department).values(
                        code=code, name=f"Dept {code}", created_at=T0, updated_at=T0, updated_by="t"
                    )
                ).inserted_primary_key[0]
            )
        people = []
        for i in range(23):
            people.append(
                conn.execute(
                    insert(att_employee).values(
                        employee_no=f"E{i:03d}",
                        name=("Zhang %d" if i % 3 else "li %d") % i,
                        department_id=ids[i % 2],
                        enroll_no=f"{100 + i}",
                        hire_date=date(2020, 1, 1),
                        separation_date=date(2026, 2, 1) if i % 7 == 0 else None,
                        created_at=T0,
                        updated_at=T0,
                        updated_by="t",
                    )
                ).inserted_primary_key[0]
            )
        cards = []
        for n, eid in enumerate(people):
            cards.append((f"C{n:03d}", eid, datetime(2024, 1, 1)))
            if n % 4 == 0:  # a second card at once
                cards.append((f"D{n:03d}", eid, datetime(2024, 6, 1)))
            if n % 5 == 0:  # withdrawn later
                cards.append((f"C{n:03d}", None, datetime(2025, 1, 1)))
            if n % 6 == 1:  # given to the next person later
                cards.append((f"C{n:03d}", people[(n + 1) % len(people)], datetime(2025, 2, 1)))
        conn.execute(
            insert(att_card),
            [
                {"card_no": c, "employee_id": e, "effective_from": at, "created_at": T0,
                 "created_by": "t"}
                for c, e, at in cards
            ],
        )  # fmt: skip


def test_the_one_statement_page_is_search_and_cards(engine) -> None:
    _site(engine)
    with engine.connect() as conn:
        dept_a = hr.department_id(conn, "A")
        asks = [
            {},
            {"employed_from": TODAY},
            {"left_before": TODAY},
            {"department_ids": [dept_a], "employed_from": TODAY},
            {"text": "zhang"},
            {"text": "E01"},
            {"text": "C002"},  # a card given on to the next person
            {"text": "D004"},
            {"text": "11"},  # enrolment numbers 110..119
            {"text": "nobody"},
            {"text": "li", "department_ids": [dept_a]},
        ]
        for ask in asks:
            for limit in (5, 50):
                for offset in (0, 5, 10, 20, 100):
                    total, rows = hr.search_employees(conn, limit=limit, offset=offset, **ask)
                    cards = hr.cards_held_by(conn, [r["id"] for r in rows])
                    got = hr.employee_page(conn, limit=limit, offset=offset, **ask)
                    assert got == (total, rows, cards), (ask, limit, offset)
        # the list without filters: a count of everybody and cards on the page
        total, rows, cards = hr.employee_page(conn, limit=5)
        assert total == 23 and rows[0]["employee_no"] == "E000"
        assert sorted(cards[rows[0]["id"]]) == ["D000"]  # C000 withdrawn, D000 kept
