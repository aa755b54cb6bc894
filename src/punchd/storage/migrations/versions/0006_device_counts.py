"""Each device's stored punch count and newest punch, kept by the one punch write path
(status pages read them instead of counting att_punch); an index for flagged punches.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE on every database (SQLite since 3.35): a batch copy of att_device
    # would trip over the foreign keys that point at it.
    op.add_column(
        "att_device", sa.Column("punch_count", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column("att_device", sa.Column("last_punch_at", sa.DateTime(), nullable=True))
    # Backfill from what is stored (correlated subqueries: valid on all three databases).
    op.execute(
        "UPDATE att_device SET "
        "punch_count = (SELECT COUNT(*) FROM att_punch p WHERE p.device_id = att_device.id), "
        "last_punch_at = (SELECT MAX(p.punched_at) FROM att_punch p "
        "WHERE p.device_id = att_device.id)"
    )
    op.create_index("ix_att_punch_flag_collected_at", "att_punch", ["flag", "collected_at"])


def downgrade() -> None:
    op.drop_index("ix_att_punch_flag_collected_at", table_name="att_punch")
    op.drop_column("att_device", "last_punch_at")
    op.drop_column("att_device", "punch_count")
