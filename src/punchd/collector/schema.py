"""The collector's tables, in SQLAlchemy Core.

This module is a public contract: payroll and reporting read these tables directly,
and ``docs/schema.md`` documents every column. Change a table here only together with
a new Alembic revision in ``migrations/versions`` and the documentation.

Conventions (see ``docs/schema.md``):

* every ``*_at`` column is naive UTC, except ``att_punch.punched_at``, which is the
  device's local wall-clock time exactly as the device reported it;
* timestamps are stored to the second;
* string columns are bounded so that every index fits MySQL/MariaDB's limits in utf8mb4;
  on MySQL/MariaDB the tables use the binary ``utf8mb4_bin`` collation, so that
  comparisons and unique keys are case-sensitive there too, as on PostgreSQL and SQLite.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Table options for MySQL/MariaDB (ignored by the other backends).
MYSQL_TABLE_OPTIONS: Final = {
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

#: Values of ``att_punch.state`` (the same as ``punchd.drivers.records.PunchState``).
PUNCH_STATES: Final = ("in", "out", "break_out", "break_in", "ot_in", "ot_out", "unknown")
#: Values of ``att_punch.source``.
PUNCH_SOURCES: Final = ("device", "manual", "import")
#: Values of ``att_collection_run.status``.
RUN_STATUSES: Final = ("running", "ok", "failed")

#: 64-bit on PostgreSQL and MySQL; plain INTEGER on SQLite, where only an
#: ``INTEGER PRIMARY KEY`` auto-increments (and is 64-bit anyway).
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


att_device = Table(
    "att_device",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("driver", String(32), nullable=False),
    Column("address", String(255), nullable=False),
    Column("serial_number", String(64)),
    Column("model", String(64)),
    Column("firmware", String(64)),
    Column("platform", String(64)),
    Column("mac", String(32)),
    Column("user_count", Integer),
    Column("record_count", Integer),
    Column("record_capacity", Integer),
    Column("clock_drift_seconds", Double),
    Column("clock_checked_at", DateTime),
    # The most recently finished run. Deliberately no FOREIGN KEY: it would make a cycle
    # with att_collection_run.device_id.
    Column("last_run_id", Integer),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

att_device_user = Table(
    "att_device_user",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("att_device.id"), nullable=False),
    Column("enroll_no", String(24), nullable=False),
    Column("name", String(128), nullable=False),
    Column("card", String(32)),
    Column("privilege", Integer, nullable=False),
    Column("present", Boolean, nullable=False),
    Column("first_seen_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
    UniqueConstraint("device_id", "enroll_no"),
    **MYSQL_TABLE_OPTIONS,
)

att_collection_run = Table(
    "att_collection_run",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("att_device.id"), nullable=False),
    # "trigger" is a reserved word in MySQL/MariaDB: hand-written SQL must quote it.
    Column("trigger", String(16), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("status", String(16), nullable=False),
    Column("records_read", Integer, nullable=False),
    Column("records_new", Integer, nullable=False),
    Column("users_read", Integer, nullable=False),
    Column("clock_drift_seconds", Double),
    Column("cleared", Boolean, nullable=False),
    Column("error", Text),
    Column("error_kind", String(32)),
    Column("host", String(128), nullable=False),
    Index(None, "device_id", "started_at"),
    **MYSQL_TABLE_OPTIONS,
)

att_punch = Table(
    "att_punch",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("att_device.id")),
    Column("enroll_no", String(24), nullable=False),
    Column("punched_at", DateTime, nullable=False),
    Column("punched_at_utc", DateTime, nullable=False),
    Column("state", String(10), nullable=False),
    Column("verify_mode", Integer),
    Column("work_code", String(16)),
    Column("source", String(8), nullable=False, server_default="device"),
    Column("collected_at", DateTime, nullable=False),
    Column("run_id", Integer, ForeignKey("att_collection_run.id")),
    UniqueConstraint("device_id", "enroll_no", "punched_at", "state", name="uq_att_punch_identity"),
    Index(None, "enroll_no", "punched_at"),
    Index(None, "punched_at_utc"),
    Index(None, "run_id"),
    **MYSQL_TABLE_OPTIONS,
)

# --- the daemon's tables (revision 0002) -------------------------------------------------

att_device_lease = Table(
    "att_device_lease",
    metadata,
    # Who may talk to the device now. One row per device, taken and renewed by the
    # collector that polls it; a holder that died loses it at expires_at.
    Column("device_id", Integer, ForeignKey("att_device.id"), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("acquired_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

att_device_poll = Table(
    "att_device_poll",
    metadata,
    # The daemon's view of each device's polling: what `punchd status` shows.
    Column("device_id", Integer, ForeignKey("att_device.id"), primary_key=True),
    Column("next_poll_at", DateTime),
    Column("consecutive_failures", Integer, nullable=False),
    Column("last_success_at", DateTime),
    Column("last_failure_at", DateTime),
    Column("last_error", Text),
    Column("updated_at", DateTime, nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

att_daemon = Table(
    "att_daemon",
    metadata,
    # One row per `punchd run` process; heartbeat_at says it is alive.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("host", String(128), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("version", String(32), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("heartbeat_at", DateTime, nullable=False),
    Column("stopped_at", DateTime),
    Column("status", String(255), nullable=False),
    Column("spool_backlog", Integer, nullable=False),
    Column("last_processing_at", DateTime),
    Index(None, "heartbeat_at"),
    **MYSQL_TABLE_OPTIONS,
)

__all__ = [
    "MYSQL_TABLE_OPTIONS",
    "NAMING_CONVENTION",
    "PUNCH_SOURCES",
    "PUNCH_STATES",
    "RUN_STATUSES",
    "att_collection_run",
    "att_daemon",
    "att_device",
    "att_device_lease",
    "att_device_poll",
    "att_device_user",
    "att_punch",
    "metadata",
]
