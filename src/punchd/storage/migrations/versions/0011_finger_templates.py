"""Fingerprint templates of the employees (``att_finger_template``), encrypted, for
`punchd enrol` to copy between clocks and refill a replaced one.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "att_finger_template",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column(
            "employee_id",
            sa.Integer(),
            sa.ForeignKey(
                "att_employee.id", name="fk_att_finger_template_employee_id_att_employee"
            ),
            nullable=False,
        ),
        sa.Column("finger", sa.Integer(), nullable=False),
        sa.Column("fp_version", sa.String(16)),
        sa.Column("valid", sa.Integer(), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.Column("source_device", sa.String(64), nullable=False),
        sa.Column("stored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_att_finger_template"),
        sa.UniqueConstraint(
            "employee_id", "finger", name="uq_att_finger_template_employee_id_finger"
        ),
        mysql_engine="InnoDB",
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    # the templates go with the table: they can be learnt again from the clocks
    op.drop_table("att_finger_template")
