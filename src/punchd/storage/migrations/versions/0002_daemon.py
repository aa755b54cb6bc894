"""The daemon's tables: device leases, per-device polling state, daemon heartbeats.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "att_device_lease",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["att_device.id"], name="fk_att_device_lease_device_id_att_device"
        ),
        sa.PrimaryKeyConstraint("device_id", name="pk_att_device_lease"),
        **MYSQL,
    )
    op.create_table(
        "att_device_poll",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["att_device.id"], name="fk_att_device_poll_device_id_att_device"
        ),
        sa.PrimaryKeyConstraint("device_id", name="pk_att_device_poll"),
        **MYSQL,
    )
    op.create_table(
        "att_daemon",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("stopped_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(255), nullable=False),
        sa.Column("spool_backlog", sa.Integer(), nullable=False),
        sa.Column("last_processing_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_att_daemon"),
        **MYSQL,
    )
    op.create_index("ix_att_daemon_heartbeat_at", "att_daemon", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_att_daemon_heartbeat_at", table_name="att_daemon")
    op.drop_table("att_daemon")
    op.drop_table("att_device_poll")
    op.drop_table("att_device_lease")
