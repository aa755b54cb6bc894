"""Collection tables: devices, their users, collection runs and punches.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Hand-written on purpose, and self-contained (it does not import punchd.storage.schema,
which describes the newest schema, not this revision's). Every constraint and index is
named explicitly, following schema.NAMING_CONVENTION.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# MySQL/MariaDB: InnoDB, utf8mb4, case-sensitive binary collation. Ignored elsewhere.
MYSQL = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}


def upgrade() -> None:
    op.create_table(
        "att_device",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("driver", sa.String(32), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("serial_number", sa.String(64), nullable=True),
        sa.Column("model", sa.String(64), nullable=True),
        sa.Column("firmware", sa.String(64), nullable=True),
        sa.Column("platform", sa.String(64), nullable=True),
        sa.Column("mac", sa.String(32), nullable=True),
        sa.Column("user_count", sa.Integer(), nullable=True),
        sa.Column("record_count", sa.Integer(), nullable=True),
        sa.Column("record_capacity", sa.Integer(), nullable=True),
        sa.Column("clock_drift_seconds", sa.Double(), nullable=True),
        sa.Column("clock_checked_at", sa.DateTime(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),  # no FK: it would be a cycle
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_att_device"),
        sa.UniqueConstraint("name", name="uq_att_device_name"),
        **MYSQL,
    )

    op.create_table(
        "att_device_user",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("enroll_no", sa.String(24), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("card", sa.String(32), nullable=True),
        sa.Column("privilege", sa.Integer(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_att_device_user"),
        sa.ForeignKeyConstraint(
            ["device_id"], ["att_device.id"], name="fk_att_device_user_device_id_att_device"
        ),
        sa.UniqueConstraint(
            "device_id", "enroll_no", name="uq_att_device_user_device_id_enroll_no"
        ),
        **MYSQL,
    )

    op.create_table(
        "att_collection_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("records_read", sa.Integer(), nullable=False),
        sa.Column("records_new", sa.Integer(), nullable=False),
        sa.Column("users_read", sa.Integer(), nullable=False),
        sa.Column("clock_drift_seconds", sa.Double(), nullable=True),
        sa.Column("cleared", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_kind", sa.String(32), nullable=True),
        sa.Column("host", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_att_collection_run"),
        sa.ForeignKeyConstraint(
            ["device_id"], ["att_device.id"], name="fk_att_collection_run_device_id_att_device"
        ),
        **MYSQL,
    )
    op.create_index(
        "ix_att_collection_run_device_id_started_at",
        "att_collection_run",
        ["device_id", "started_at"],
    )

    op.create_table(
        "att_punch",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("device_id", sa.Integer(), nullable=True),  # NULL: manual punch
        sa.Column("enroll_no", sa.String(24), nullable=False),
        sa.Column("punched_at", sa.DateTime(), nullable=False),  # device-local wall clock
        sa.Column("punched_at_utc", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("verify_mode", sa.Integer(), nullable=True),
        sa.Column("work_code", sa.String(16), nullable=True),
        sa.Column("source", sa.String(8), server_default="device", nullable=False),
        sa.Column("collected_at", sa.DateTime(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_att_punch"),
        sa.ForeignKeyConstraint(
            ["device_id"], ["att_device.id"], name="fk_att_punch_device_id_att_device"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["att_collection_run.id"], name="fk_att_punch_run_id_att_collection_run"
        ),
        sa.UniqueConstraint(
            "device_id", "enroll_no", "punched_at", "state", name="uq_att_punch_identity"
        ),
        **MYSQL,
    )
    op.create_index("ix_att_punch_enroll_no_punched_at", "att_punch", ["enroll_no", "punched_at"])
    op.create_index("ix_att_punch_punched_at_utc", "att_punch", ["punched_at_utc"])
    op.create_index("ix_att_punch_run_id", "att_punch", ["run_id"])


def downgrade() -> None:
    op.drop_table("att_punch")
    op.drop_table("att_collection_run")
    op.drop_table("att_device_user")
    op.drop_table("att_device")
