"""Web punches (签到 / 签退 in the console): the source ``web`` of ``att_punch`` with the
client's address (``client_address``; the account is ``created_by``), and HR's per-employee
switch ``att_employee.web_punch``.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN everywhere (no copy of the tables the payroll views read); the source
    # is a bounded string without a CHECK constraint, so "web" needs no change of its own.
    op.add_column("att_punch", sa.Column("client_address", sa.String(45), nullable=True))
    op.add_column(
        "att_employee",
        sa.Column("web_punch", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    # an older punchd knows no source "web": such punches stay, counted, as manual ones
    op.execute("UPDATE att_punch SET source = 'manual' WHERE source = 'web'")
    op.drop_column("att_employee", "web_punch")
    op.drop_column("att_punch", "client_address")
