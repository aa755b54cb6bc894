"""Push-mode (ADMS) clocks: each push device's stamps and last contact, the serial numbers
that called in unconfigured ("pending"), and the durable command queue.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def _device_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["device_id"], ["att_device.id"], name=f"fk_{table}_device_id_att_device"
    )


def upgrade() -> None:
    op.create_table(
        "att_push_state",
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("attlog_stamp", sa.String(32), nullable=True),
        sa.Column("operlog_stamp", sa.String(32), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("last_address", sa.String(64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        _device_fk("att_push_state"),
        sa.PrimaryKeyConstraint("device_id", name="pk_att_push_state"),
        **MYSQL,
    )
    op.create_table(
        "att_push_pending",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_att_push_pending"),
        sa.UniqueConstraint("serial", name="uq_att_push_pending_serial"),
        **MYSQL,
    )
    op.create_table(
        "att_device_command",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("command_id", sa.String(16), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("send_count", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("return_code", sa.Integer(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        _device_fk("att_device_command"),
        sa.PrimaryKeyConstraint("id", name="pk_att_device_command"),
        sa.UniqueConstraint(
            "device_id", "command_id", name="uq_att_device_command_device_id_command_id"
        ),
        **MYSQL,
    )
    op.create_index(
        "ix_att_device_command_device_id_answered_at",
        "att_device_command",
        ["device_id", "answered_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_att_device_command_device_id_answered_at", table_name="att_device_command")
    op.drop_table("att_device_command")
    op.drop_table("att_push_pending")
    op.drop_table("att_push_state")
