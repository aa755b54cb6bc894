"""Field trial: flagged punches, devices left disabled, the re-process queue, confirmed years.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("att_device", sa.Column("disabled_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("att_punch") as batch:
        batch.add_column(sa.Column("flag", sa.String(16), nullable=True))

    op.create_table(
        "att_reprocess",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("employee_id", sa.Integer(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["employee_id"], ["att_employee.id"], name="fk_att_reprocess_employee_id_att_employee"
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["att_department.id"],
            name="fk_att_reprocess_department_id_att_department",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_att_reprocess"),
        sqlite_autoincrement=True,
        **MYSQL,
    )
    op.create_index("ix_att_reprocess_date_from_date_to", "att_reprocess", ["date_from", "date_to"])
    op.create_table(
        "att_calendar_year",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("year", name="pk_att_calendar_year"),
        **MYSQL,
    )


def downgrade() -> None:
    op.drop_table("att_calendar_year")
    op.drop_index("ix_att_reprocess_date_from_date_to", table_name="att_reprocess")
    op.drop_table("att_reprocess")
    with op.batch_alter_table("att_punch") as batch:
        batch.drop_column("flag")
    op.drop_column("att_device", "disabled_at")
