"""Pay periods: closed months (``att_pay_period``), the period state of each result, changes
that arrived after a close (``att_after_close``), the leave type as a column, and the views
payroll reads (``att_payroll_month``, ``att_payroll_leave``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

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
VIEWS = ("att_payroll_leave", "att_payroll_month", "att_month_summary")


def _month(dialect: str, column: str) -> str:
    return {
        "sqlite": f"strftime('%Y-%m', {column})",
        "postgresql": f"to_char({column}, 'YYYY-MM')",
    }.get(dialect, f"DATE_FORMAT({column}, '%Y-%m')")


def _summary_sql(dialect: str, *, periods: bool, closed_only: bool = False) -> str:
    """The SELECT of ``att_month_summary`` (``periods``: with the period columns of this
    revision) or, ``closed_only``, of ``att_payroll_month``."""
    month = _month(dialect, "d.work_date")
    by_status = ",\n    ".join(
        f"SUM(CASE WHEN d.status = '{s}' THEN 1 ELSE 0 END) AS {s}_days" for s in _STATUSES
    )
    sums = ",\n    ".join(f"SUM(d.{c}) AS {c}" for c in _SUMS)
    extra = ""
    if periods:
        extra = (
            ",\n    CASE WHEN SUM(CASE WHEN d.period_state = 'closed' THEN 0 ELSE 1 END) = 0"
            " THEN 'closed' ELSE 'open' END AS period_state"
            ",\n    MAX(d.close_version) AS close_version"
        )
    where = "\nWHERE d.period_state = 'closed'" if closed_only else ""
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
    {sums}{extra}
FROM att_day d
JOIN att_employee e ON e.id = d.employee_id
JOIN att_department p ON p.id = e.department_id{where}
GROUP BY d.employee_id, e.employee_no, e.name, p.code, {month}"""


def _leave_sql(dialect: str) -> str:
    """``att_payroll_leave``: leave minutes and days per employee, month and leave type, of
    closed days only."""
    month = _month(dialect, "x.work_date")
    return f"""SELECT
    x.employee_id AS employee_id,
    e.employee_no AS employee_no,
    {month} AS month,
    x.leave_kind AS leave_kind,
    COUNT(DISTINCT x.work_date) AS leave_days,
    SUM(x.minutes) AS leave_minutes,
    MAX(d.close_version) AS close_version
FROM att_exception x
JOIN att_day d ON d.employee_id = x.employee_id AND d.work_date = x.work_date
JOIN att_employee e ON e.id = x.employee_id
WHERE x.kind = 'leave' AND d.period_state = 'closed'
GROUP BY x.employee_id, e.employee_no, {month}, x.leave_kind"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW att_month_summary")
    op.create_table(
        "att_pay_period",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("department_key", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=False),
        sa.Column("closed_by", sa.String(64), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("close_reason", sa.Text(), nullable=True),
        sa.Column("open_items", sa.Integer(), nullable=False),
        sa.Column("reopened_at", sa.DateTime(), nullable=True),
        sa.Column("reopened_by", sa.String(64), nullable=True),
        sa.Column("reopen_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["att_department.id"],
            name="fk_att_pay_period_department_id_att_department",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_att_pay_period"),
        sa.UniqueConstraint(
            "month", "version", "department_key", name="uq_att_pay_period_month_version"
        ),
        **MYSQL,
    )
    op.create_index("ix_att_pay_period_month_state", "att_pay_period", ["month", "state"])
    op.create_table(
        "att_after_close",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=False),
        sa.Column("work_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("noted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"],
            ["att_employee.id"],
            name="fk_att_after_close_employee_id_att_employee",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_att_after_close"),
        sa.UniqueConstraint(
            "employee_id",
            "work_date",
            "reason",
            "version",
            name="uq_att_after_close_employee_id_work_date_reason_version",
        ),
        **MYSQL,
    )
    op.create_index("ix_att_after_close_work_date", "att_after_close", ["work_date"])
    # Plain ADD COLUMN everywhere (SQLite too: no copy of the tables the views read).
    op.add_column(
        "att_day",
        sa.Column("period_state", sa.String(8), nullable=False, server_default="open"),
    )
    op.add_column("att_day", sa.Column("close_version", sa.Integer(), nullable=True))
    op.add_column("att_exception", sa.Column("leave_kind", sa.String(32), nullable=True))
    op.execute("UPDATE att_exception SET leave_kind = SUBSTR(detail, 1, 32) WHERE kind = 'leave'")
    op.execute(f"CREATE VIEW att_month_summary AS\n{_summary_sql(dialect, periods=True)}")
    op.execute(
        f"CREATE VIEW att_payroll_month AS\n{_summary_sql(dialect, periods=True, closed_only=True)}"
    )
    op.execute(f"CREATE VIEW att_payroll_leave AS\n{_leave_sql(dialect)}")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for view in VIEWS:
        op.execute(f"DROP VIEW {view}")
    with op.batch_alter_table("att_exception") as batch:
        batch.drop_column("leave_kind")
    with op.batch_alter_table("att_day") as batch:
        batch.drop_column("close_version")
        batch.drop_column("period_state")
    op.drop_index("ix_att_after_close_work_date", table_name="att_after_close")
    op.drop_table("att_after_close")
    op.drop_index("ix_att_pay_period_month_state", table_name="att_pay_period")
    op.drop_table("att_pay_period")
    op.execute(f"CREATE VIEW att_month_summary AS\n{_summary_sql(dialect, periods=False)}")
