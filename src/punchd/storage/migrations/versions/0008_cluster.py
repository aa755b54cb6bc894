"""Several collectors on one database: each daemon's instance, site, the devices it may
poll, its host clock at its last heartbeat (skew) and how many devices it holds; which
daemon wrote a device's poll state.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("att_daemon") as batch:
        batch.add_column(sa.Column("instance", sa.String(32), nullable=True))
        batch.add_column(sa.Column("site", sa.String(64), nullable=True))
        batch.add_column(sa.Column("devices", sa.Text(), nullable=True))
        batch.add_column(sa.Column("host_clock_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("holding", sa.Integer(), nullable=True))
    op.create_index("ix_att_daemon_stopped_at", "att_daemon", ["stopped_at"])
    with op.batch_alter_table("att_device_poll") as batch:
        batch.add_column(sa.Column("daemon_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("att_device_poll") as batch:
        batch.drop_column("daemon_id")
    op.drop_index("ix_att_daemon_stopped_at", table_name="att_daemon")
    with op.batch_alter_table("att_daemon") as batch:
        for column in ("holding", "host_clock_at", "devices", "site", "instance"):
            batch.drop_column(column)
