"""Rows straight into the tables, for tests that need a roster, rules or punches in place."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from punchd.storage.collection import recount_device_punches
from punchd.storage.schema import (
    att_card,
    att_department,
    att_device,
    att_employee,
    att_period,
    att_punch,
    att_schedule,
    att_shift,
    att_shift_period,
)

#: created_at / updated_at of every row these helpers write
T0 = datetime(2024, 1, 1)


def add_department(conn: Connection, code: str, name: str) -> int:
    return conn.execute(
        insert(att_department).values(
            code=code, name=name, created_at=T0, updated_at=T0, updated_by="test"
        )
    ).inserted_primary_key[0]


def add_employee(
    conn: Connection,
    no: str,
    name: str,
    department_id: int,
    enroll_no: str | None = None,
    hire: date = date(2020, 1, 1),
    separation: date | None = None,
) -> int:
    return conn.execute(
        insert(att_employee).values(
            employee_no=no,
            name=name,
            department_id=department_id,
            enroll_no=enroll_no,
            hire_date=hire,
            separation_date=separation,
            created_at=T0,
            updated_at=T0,
            updated_by="test",
        )
    ).inserted_primary_key[0]


def add_period(
    conn: Connection, code: str, start: int, end: int, late_grace: int = 0, early_grace: int = 0
) -> int:
    return conn.execute(
        insert(att_period).values(
            code=code,
            start_minute=start,
            end_minute=end,
            late_grace=late_grace,
            early_grace=early_grace,
            must_check_in=True,
            must_check_out=True,
            updated_at=T0,
            updated_by="test",
        )
    ).inserted_primary_key[0]


def add_shift(
    conn: Connection,
    code: str,
    days: dict[int, list[int]],
    *,
    unit: str = "week",
    cycle_days: int = 7,
    follows_calendar: bool = True,
) -> int:
    shift_id = conn.execute(
        insert(att_shift).values(
            code=code,
            name=code,
            unit=unit,
            cycle_days=cycle_days,
            follows_calendar=follows_calendar,
            updated_at=T0,
            updated_by="test",
        )
    ).inserted_primary_key[0]
    for day_index, periods in days.items():
        for period_id in periods:
            conn.execute(
                insert(att_shift_period).values(
                    shift_id=shift_id, day_index=day_index, period_id=period_id
                )
            )
    return shift_id


def add_schedule(
    conn: Connection,
    shift_id: int,
    *,
    department_id: int | None = None,
    employee_id: int | None = None,
    date_from: date = date(2024, 1, 1),
    date_to: date | None = None,
) -> None:
    conn.execute(
        insert(att_schedule).values(
            employee_id=employee_id,
            department_id=department_id,
            shift_id=shift_id,
            date_from=date_from,
            date_to=date_to,
            created_at=T0,
            created_by="test",
        )
    )


def add_device(conn: Connection, name: str, user_code: str = "enroll") -> int:
    return conn.execute(
        insert(att_device).values(
            name=name,
            driver="zk",
            address="10.0.0.1:4370",
            user_code=user_code,
            created_at=T0,
            updated_at=T0,
        )
    ).inserted_primary_key[0]


def add_punch(
    conn: Connection, device_id: int, enroll_no: str, when: datetime, *, void: bool = False
) -> int:
    punch_id = conn.execute(
        insert(att_punch).values(
            device_id=device_id,
            enroll_no=enroll_no,
            punched_at=when,
            punched_at_utc=when - timedelta(hours=8),
            state="unknown",
            source="device",
            collected_at=T0,
            void=void,
            void_reason="test" if void else None,
        )
    ).inserted_primary_key[0]
    recount_device_punches(conn, [device_id])  # as the one write path keeps it
    return punch_id


def add_manual(conn: Connection, employee_id: int, enroll_no: str, when: datetime) -> int:
    return conn.execute(
        insert(att_punch).values(
            device_id=None,
            employee_id=employee_id,
            enroll_no=enroll_no,
            punched_at=when,
            punched_at_utc=when - timedelta(hours=8),
            state="unknown",
            source="manual",
            collected_at=T0,
            note="forgot the card",
            created_by="hr",
        )
    ).inserted_primary_key[0]


def add_card(conn: Connection, card_no: str, employee_id: int | None, since: datetime) -> None:
    conn.execute(
        insert(att_card).values(
            card_no=card_no,
            employee_id=employee_id,
            effective_from=since,
            created_at=T0,
            created_by="test",
        )
    )
