"""Attendance processing: HR master data, rules, payroll tables, the monthly summary view.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}

_STATUSES = ("present", "absent", "leave", "holiday", "rest", "incomplete")
_SUMS = (
    "scheduled_minutes",
    "worked_minutes",
    "late_minutes",
    "early_minutes",
    "absent_minutes",
    "leave_minutes",
    "overtime_minutes",
    "holiday_overtime_minutes",
    "rest_overtime_minutes",
    "missing_punches",
)


def _month_expression(dialect: str) -> str:
    return {
        "sqlite": "strftime('%Y-%m', d.work_date)",
        "postgresql": "to_char(d.work_date, 'YYYY-MM')",
    }.get(dialect, "DATE_FORMAT(d.work_date, '%Y-%m')")


def month_summary_sql(dialect: str) -> str:
    """The SELECT behind the ``att_month_summary`` view (documented in docs/schema.md)."""
    month = _month_expression(dialect)
    by_status = ",\n    ".join(
        f"SUM(CASE WHEN d.status = '{s}' THEN 1 ELSE 0 END) AS {s}_days" for s in _STATUSES
    )
    sums = ",\n    ".join(f"SUM(d.{c}) AS {c}" for c in _SUMS)
    return f"""SELECT
    d.employee_id AS employee_id,
    e.employee_no AS employee_no,
    e.name AS employee_name,
    p.code AS department_code,
    {month} AS month,
    COUNT(*) AS days,
    {by_status},
    SUM(CASE WHEN d.late_minutes > 0 THEN 1 ELSE 0 END) AS late_days,
    SUM(CASE WHEN d.early_minutes > 0 THEN 1 ELSE 0 END) AS early_days,
    {sums}
FROM att_day d
JOIN att_employee e ON e.id = d.employee_id
JOIN att_department p ON p.id = e.department_id
GROUP BY d.employee_id, e.employee_no, e.name, p.code, {month}"""


def _stamp() -> list[sa.Column]:
    return [
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
    ]


def _created() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
    ]


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "att_department",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *_stamp(),
        sa.PrimaryKeyConstraint("id", name="pk_att_department"),
        sa.UniqueConstraint("code", name="uq_att_department_code"),
        **MYSQL,
    )
    op.create_table(
        "att_employee",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("employee_no", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("enroll_no", sa.String(24), nullable=True),
        sa.Column("hire_date", sa.Date(), nullable=False),
        sa.Column("separation_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        *_stamp(),
        _fk("att_employee", "department_id", "att_department"),
        sa.PrimaryKeyConstraint("id", name="pk_att_employee"),
        sa.UniqueConstraint("employee_no", name="uq_att_employee_employee_no"),
        sa.UniqueConstraint("enroll_no", name="uq_att_employee_enroll_no"),
        **MYSQL,
    )
    op.create_table(
        "att_card",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("card_no", sa.String(32), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=True),
        sa.Column("effective_from", sa.DateTime(), nullable=False),
        *_created(),
        _fk("att_card", "employee_id", "att_employee"),
        sa.PrimaryKeyConstraint("id", name="pk_att_card"),
        sa.UniqueConstraint("card_no", "effective_from", name="uq_att_card_card_no_effective_from"),
        **MYSQL,
    )
    op.create_index("ix_att_card_employee_id", "att_card", ["employee_id"])
    op.create_table(
        "att_audit",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_key", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_att_audit"),
        **MYSQL,
    )
    op.create_index("ix_att_audit_entity_entity_key", "att_audit", ["entity", "entity_key"])
    op.create_index("ix_att_audit_changed_at", "att_audit", ["changed_at"])

    op.create_table(
        "att_period",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("checkin_from", sa.Integer(), nullable=True),
        sa.Column("checkin_until", sa.Integer(), nullable=True),
        sa.Column("checkout_from", sa.Integer(), nullable=True),
        sa.Column("checkout_until", sa.Integer(), nullable=True),
        sa.Column("late_grace", sa.Integer(), nullable=False),
        sa.Column("early_grace", sa.Integer(), nullable=False),
        sa.Column("must_check_in", sa.Boolean(), nullable=False),
        sa.Column("must_check_out", sa.Boolean(), nullable=False),
        sa.Column("counted_minutes", sa.Integer(), nullable=True),
        *_stamp(),
        sa.PrimaryKeyConstraint("id", name="pk_att_period"),
        sa.UniqueConstraint("code", name="uq_att_period_code"),
        **MYSQL,
    )
    op.create_table(
        "att_shift",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("cycle_days", sa.Integer(), nullable=False),
        sa.Column("follows_calendar", sa.Boolean(), nullable=False),
        *_stamp(),
        sa.PrimaryKeyConstraint("id", name="pk_att_shift"),
        sa.UniqueConstraint("code", name="uq_att_shift_code"),
        **MYSQL,
    )
    op.create_table(
        "att_shift_period",
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("day_index", sa.Integer(), nullable=False),
        sa.Column("period_id", sa.Integer(), nullable=False),
        _fk("att_shift_period", "shift_id", "att_shift"),
        _fk("att_shift_period", "period_id", "att_period"),
        sa.PrimaryKeyConstraint("shift_id", "day_index", "period_id", name="pk_att_shift_period"),
        **MYSQL,
    )
    op.create_table(
        "att_schedule",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=True),
        sa.Column("anchor", sa.Date(), nullable=True),
        *_created(),
        _fk("att_schedule", "employee_id", "att_employee"),
        _fk("att_schedule", "department_id", "att_department"),
        _fk("att_schedule", "shift_id", "att_shift"),
        sa.PrimaryKeyConstraint("id", name="pk_att_schedule"),
        **MYSQL,
    )
    op.create_index("ix_att_schedule_employee_id", "att_schedule", ["employee_id"])
    op.create_index("ix_att_schedule_department_id", "att_schedule", ["department_id"])
    op.create_table(
        "att_schedule_override",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("shift_id", sa.Integer(), nullable=True),
        sa.Column("day_index", sa.Integer(), nullable=False),
        *_created(),
        _fk("att_schedule_override", "employee_id", "att_employee"),
        _fk("att_schedule_override", "department_id", "att_department"),
        _fk("att_schedule_override", "shift_id", "att_shift"),
        sa.PrimaryKeyConstraint("id", name="pk_att_schedule_override"),
        **MYSQL,
    )
    op.create_index("ix_att_schedule_override_work_date", "att_schedule_override", ["work_date"])
    op.create_table(
        "att_holiday",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("holiday_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        *_created(),
        sa.PrimaryKeyConstraint("id", name="pk_att_holiday"),
        sa.UniqueConstraint("holiday_date", name="uq_att_holiday_holiday_date"),
        **MYSQL,
    )
    op.create_table(
        "att_setting",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        *_stamp(),
        sa.PrimaryKeyConstraint("name", name="pk_att_setting"),
        **MYSQL,
    )
    op.create_table(
        "att_leave",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("end_at", sa.DateTime(), nullable=False),
        sa.Column("full_day", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        *_created(),
        _fk("att_leave", "employee_id", "att_employee"),
        sa.PrimaryKeyConstraint("id", name="pk_att_leave"),
        **MYSQL,
    )
    op.create_index("ix_att_leave_employee_id_start_at", "att_leave", ["employee_id", "start_at"])

    op.create_table(
        "att_day",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("shift_code", sa.String(32), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        *(
            sa.Column(c, sa.Integer(), nullable=False)
            for c in (
                "scheduled_minutes",
                "worked_minutes",
                "late_minutes",
                "early_minutes",
                "absent_minutes",
                "leave_minutes",
                "overtime_minutes",
                "holiday_overtime_minutes",
                "rest_overtime_minutes",
                "missing_punches",
            )
        ),
        sa.Column("first_punch", sa.DateTime(), nullable=True),
        sa.Column("last_punch", sa.DateTime(), nullable=True),
        sa.Column("processed_at", sa.DateTime(), nullable=False),
        _fk("att_day", "employee_id", "att_employee"),
        sa.PrimaryKeyConstraint("id", name="pk_att_day"),
        sa.UniqueConstraint("employee_id", "work_date", name="uq_att_day_employee_id_work_date"),
        **MYSQL,
    )
    op.create_index("ix_att_day_work_date", "att_day", ["work_date"])
    op.create_table(
        "att_exception",
        sa.Column("id", big_id, autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("period", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(255), nullable=False),
        _fk("att_exception", "employee_id", "att_employee"),
        sa.PrimaryKeyConstraint("id", name="pk_att_exception"),
        **MYSQL,
    )
    op.create_index(
        "ix_att_exception_employee_id_work_date", "att_exception", ["employee_id", "work_date"]
    )
    op.create_index("ix_att_exception_work_date_kind", "att_exception", ["work_date", "kind"])

    op.add_column("att_device", sa.Column("user_code", sa.String(8), nullable=True))
    with op.batch_alter_table("att_punch") as batch:
        batch.add_column(sa.Column("employee_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("created_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("void", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("void_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("voided_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("voided_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key(
            "fk_att_punch_employee_id_att_employee", "att_employee", ["employee_id"], ["id"]
        )
        batch.create_index("ix_att_punch_employee_id_punched_at", ["employee_id", "punched_at"])

    dialect = op.get_bind().dialect.name
    op.execute(f"CREATE VIEW att_month_summary AS\n{month_summary_sql(dialect)}")


def downgrade() -> None:
    op.execute("DROP VIEW att_month_summary")
    with op.batch_alter_table("att_punch") as batch:
        # MySQL needs the index for the foreign key: drop the key first.
        batch.drop_constraint("fk_att_punch_employee_id_att_employee", type_="foreignkey")
        batch.drop_index("ix_att_punch_employee_id_punched_at")
        for column in (
            "voided_at",
            "voided_by",
            "void_reason",
            "void",
            "created_by",
            "note",
            "employee_id",
        ):
            batch.drop_column(column)
    op.drop_column("att_device", "user_code")
    for table in (
        "att_exception",
        "att_day",
        "att_leave",
        "att_setting",
        "att_holiday",
        "att_schedule_override",
        "att_schedule",
        "att_shift_period",
        "att_shift",
        "att_period",
        "att_audit",
        "att_card",
        "att_employee",
        "att_department",
    ):
        op.drop_table(table)
