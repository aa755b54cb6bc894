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
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
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
PUNCH_SOURCES: Final = ("device", "manual", "import", "web")
#: Values of ``att_punch.flag`` (NULL: a punch that counts): "power_loss" dated before 2001,
#: "future" more than a day ahead of the device's clock, "after_leaving" dated (device-local
#: date) after the separation date of the person it belongs to — set when stored, moved with
#: the separation date (``storage.punches.AFTER_LEAVING``).
PUNCH_FLAGS: Final = ("power_loss", "future", "after_leaving")
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
    # What att_punch.enroll_no holds for this device's punches: "enroll" (the user id on
    # the device) or "card" (a card number, mapped through att_card). Revision 0003.
    Column("user_code", String(8)),
    # Revision 0004: set (UTC) while a run of punchd has the device disabled, cleared once
    # it is enabled again; a value left behind means a killed run left the clock disabled.
    Column("disabled_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # Revision 0006: punches stored for this device and the newest one's device-local time,
    # kept by the one punch write path (status pages read these instead of counting rows).
    Column("punch_count", BigInteger, nullable=False, server_default="0"),
    Column("last_punch_at", DateTime),
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
    # Revision 0003: manual punches (source "manual") name their employee directly; any
    # punch can be voided (kept, ignored by processing) with a reason.
    Column("employee_id", Integer, ForeignKey("att_employee.id")),
    Column("note", Text),
    Column("created_by", String(64)),
    Column("void", Boolean, nullable=False, server_default=false()),
    Column("void_reason", Text),
    Column("voided_by", String(64)),
    Column("voided_at", DateTime),
    # Revision 0004: NULL for a plausible punch; otherwise why it is not (PUNCH_FLAGS).
    # Flagged punches are stored, listed for HR and ignored by processing.
    Column("flag", String(16)),
    # Revision 0010: the client's address of a web punch (source "web", 签到 / 签退 in the
    # console; created_by is its account). NULL for every other punch.
    Column("client_address", String(45)),
    # Revision 0014: in time order (a clock's records come so: new ones go in at its end)
    UniqueConstraint("device_id", "punched_at", "enroll_no", "state", name="uq_att_punch_identity"),
    Index(None, "enroll_no", "punched_at"),
    Index(None, "punched_at_utc"),
    Index(None, "run_id"),
    # Revision 0013: the two indexes below hold only the punches they are for (manual and
    # web punches name an employee; few punches are flagged), not every device punch — on
    # SQLite and PostgreSQL. MySQL/MariaDB have no partial index (and want a whole one on
    # the employee_id foreign key).
    Index(
        None,
        "employee_id",
        "punched_at",
        sqlite_where=text("employee_id IS NOT NULL"),
        postgresql_where=text("employee_id IS NOT NULL"),
    ),
    # Revision 0006: recent flagged punches (status) without reading every punch
    Index(
        None,
        "flag",
        "collected_at",
        sqlite_where=text("flag IS NOT NULL"),
        postgresql_where=text("flag IS NOT NULL"),
    ),
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
    # the att_daemon row of the daemon that polled it last (revision 0008): its owner's view
    Column("daemon_id", Integer),
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
    # Revision 0008, several collectors on one database: a random id per process start,
    # the host's site tag, the devices it may poll (JSON list of names), its host clock when
    # it last beat (heartbeat_at is the database server's clock: the difference is its skew),
    # and how many devices it held then.
    Column("instance", String(32)),
    Column("site", String(64)),
    Column("devices", Text),
    Column("host_clock_at", DateTime),
    Column("holding", Integer),
    Index(None, "heartbeat_at"),
    Index(None, "stopped_at"),
    **MYSQL_TABLE_OPTIONS,
)

# --- HR master data (revision 0003) -------------------------------------------------------
# Every change to these tables is also written to att_audit (who, when, what).

att_department = Table(
    "att_department",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    # Revision 0005: the department this one belongs under (NULL: a top department). A
    # leader sees the departments they lead and every one below them; no cycles.
    Column("parent_id", Integer, ForeignKey("att_department.id")),
    **MYSQL_TABLE_OPTIONS,
)

att_employee = Table(
    "att_employee",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("employee_no", String(32), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("department_id", Integer, ForeignKey("att_department.id"), nullable=False),
    # The user id on the clocks (登记号码); punches of devices with user_code "enroll" map
    # to the employee with this number. Unique while set.
    Column("enroll_no", String(24), unique=True),
    Column("hire_date", Date, nullable=False),
    # The last day that counts (inclusive); NULL while employed.
    Column("separation_date", Date),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    # Revision 0010: HR allows this employee to sign in / out for work in the console
    # (source "web" punches), from the networks of [web] self_punch_networks.
    Column("web_punch", Boolean, nullable=False, server_default=false()),
    **MYSQL_TABLE_OPTIONS,
)

att_card = Table(
    "att_card",
    metadata,
    # Card issue (发卡): from effective_from (device-local wall-clock time) the card belongs
    # to employee_id, until a later row for the same card; employee_id NULL: withdrawn.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("card_no", String(32), nullable=False),
    Column("employee_id", Integer, ForeignKey("att_employee.id")),
    Column("effective_from", DateTime, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("card_no", "effective_from"),
    Index(None, "employee_id"),
    **MYSQL_TABLE_OPTIONS,
)

att_audit = Table(
    "att_audit",
    metadata,
    # One row per change of HR data or rules, and per processing run.
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("changed_at", DateTime, nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("entity", String(32), nullable=False),
    Column("entity_key", String(64)),
    Column("detail", Text),
    Index(None, "entity", "entity_key"),
    Index(None, "changed_at"),
    **MYSQL_TABLE_OPTIONS,
)

# --- rules (revision 0003) ------------------------------------------------------------------
# Times of day are minutes after midnight of the work date: 480 = 08:00, 1440 = 24:00,
# 1800 = 06:00 the next morning (see docs/processing.md).

att_period = Table(
    "att_period",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("start_minute", Integer, nullable=False),
    Column("end_minute", Integer, nullable=False),
    Column("checkin_from", Integer),
    Column("checkin_until", Integer),
    Column("checkout_from", Integer),
    Column("checkout_until", Integer),
    Column("late_grace", Integer, nullable=False),
    Column("early_grace", Integer, nullable=False),
    Column("must_check_in", Boolean, nullable=False),
    Column("must_check_out", Boolean, nullable=False),
    Column("counted_minutes", Integer),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

att_shift = Table(
    "att_shift",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    # "day": a cycle of cycle_days days from the schedule's anchor; "week": cycle_days is a
    # multiple of 7 and day 0 is a Monday.
    Column("unit", String(8), nullable=False),
    Column("cycle_days", Integer, nullable=False),
    Column("follows_calendar", Boolean, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

att_shift_period = Table(
    "att_shift_period",
    metadata,
    # The periods worked on day day_index (0-based) of a shift's cycle; a day without rows
    # is a rest day.
    Column("shift_id", Integer, ForeignKey("att_shift.id"), primary_key=True),
    Column("day_index", Integer, primary_key=True),
    Column("period_id", Integer, ForeignKey("att_period.id"), primary_key=True),
    **MYSQL_TABLE_OPTIONS,
)

att_schedule = Table(
    "att_schedule",
    metadata,
    # 排班: an employee, or a whole department, works shift_id from date_from to date_to
    # (inclusive; NULL open-ended). Exactly one of employee_id / department_id is set.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("employee_id", Integer, ForeignKey("att_employee.id")),
    Column("department_id", Integer, ForeignKey("att_department.id")),
    Column("shift_id", Integer, ForeignKey("att_shift.id"), nullable=False),
    Column("date_from", Date, nullable=False),
    Column("date_to", Date),
    # Day 0 of the shift's cycle; NULL: date_from.
    Column("anchor", Date),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Index(None, "employee_id"),
    Index(None, "department_id"),
    **MYSQL_TABLE_OPTIONS,
)

att_schedule_override = Table(
    "att_schedule_override",
    metadata,
    # 临时排班: one date of one employee or department. shift_id NULL: a rest day;
    # otherwise the periods of day day_index of that shift are worked.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("work_date", Date, nullable=False),
    Column("employee_id", Integer, ForeignKey("att_employee.id")),
    Column("department_id", Integer, ForeignKey("att_department.id")),
    Column("shift_id", Integer, ForeignKey("att_shift.id")),
    Column("day_index", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Index(None, "work_date"),
    **MYSQL_TABLE_OPTIONS,
)

att_holiday = Table(
    "att_holiday",
    metadata,
    # kind "holiday": no work required, work is holiday overtime; "workday": a make-up
    # workday (调休). Beats the country calendars configured in att_setting.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("holiday_date", Date, nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

att_setting = Table(
    "att_setting",
    metadata,
    # Processing settings and the calendar source, one JSON value per name
    # (docs/processing.md lists the names).
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

att_leave = Table(
    "att_leave",
    metadata,
    # Leave or business trip. full_day: start_at / end_at are midnight of the first and the
    # last leave date (inclusive); otherwise the wall-clock range [start_at, end_at).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("employee_id", Integer, ForeignKey("att_employee.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("start_at", DateTime, nullable=False),
    Column("end_at", DateTime, nullable=False),
    Column("full_day", Boolean, nullable=False),
    Column("note", Text),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Index(None, "employee_id", "start_at"),
    **MYSQL_TABLE_OPTIONS,
)

# --- revision 0004 ---------------------------------------------------------------------------

att_reprocess = Table(
    "att_reprocess",
    metadata,
    # The durable "to re-process" queue: every change that can alter att_day adds a row for
    # the employee-days it touches; processing drains the rows it has covered (by id, so a
    # row added meanwhile stays). employee_id and department_id NULL: everyone.
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("employee_id", Integer, ForeignKey("att_employee.id")),
    Column("department_id", Integer, ForeignKey("att_department.id")),
    Column("date_from", Date, nullable=False),
    Column("date_to", Date, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("queued_at", DateTime, nullable=False),
    Index(None, "date_from", "date_to"),
    # Ids never come back on SQLite either (a drainer matches the rows it read by id).
    sqlite_autoincrement=True,
    **MYSQL_TABLE_OPTIONS,
)

att_calendar_year = Table(
    "att_calendar_year",
    metadata,
    # A year whose official holidays and make-up workdays HR has confirmed as complete
    # (`punchd holiday confirm YEAR`); years absent here are processed but marked unconfirmed
    # when the calendar packages do not know them.
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("confirmed_at", DateTime, nullable=False),
    Column("confirmed_by", String(64), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

# --- web console accounts (revision 0005) ----------------------------------------------------
# Passwords and tokens are stored only as hashes: argon2 for passwords, SHA-256 for session
# and API tokens (random 256-bit values, so a fast hash is enough).

#: Values of ``web_account.role``.
ACCOUNT_ROLES: Final = ("admin", "hr", "leader", "payroll", "employee")

web_account = Table(
    "web_account",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # The sign-in name as given; name_key is its casefold(), unique, so that sign-in
    # ignores case on every backend (casefold can triple the length: 3 x 64).
    Column("name", String(64), nullable=False, unique=True),
    Column("name_key", String(192), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    # The employee the account belongs to (required for role "employee"): a separated
    # employee's account cannot sign in from the day after the separation date.
    Column("employee_id", Integer, ForeignKey("att_employee.id"), unique=True),
    # "zh_Hans" | "en"; NULL: the browser's language decides.
    Column("language", String(16)),
    Column("disabled_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(64), nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

web_account_department = Table(
    "web_account_department",
    metadata,
    # hr: the departments assigned (none: all); leader: the departments led.
    Column("account_id", Integer, ForeignKey("web_account.id"), primary_key=True),
    Column("department_id", Integer, ForeignKey("att_department.id"), primary_key=True),
    **MYSQL_TABLE_OPTIONS,
)

web_session = Table(
    "web_session",
    metadata,
    # One signed-in browser. Live while ended_at is NULL and neither the idle nor the
    # absolute lifetime ([web] settings) has passed.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256, hex
    Column("account_id", Integer, ForeignKey("web_account.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("client", String(64), nullable=False),
    Column("user_agent", String(255), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
    Column("ended_at", DateTime),
    # signed_out, everywhere, password, disabled, idle, absolute
    Column("end_reason", String(16)),
    Index(None, "account_id", "ended_at"),
    **MYSQL_TABLE_OPTIONS,
)

web_signin_failure = Table(
    "web_signin_failure",
    metadata,
    # Failed sign-ins, for throttling by name and by client address; rows older than the
    # throttle window are deleted as new ones arrive.
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("name_key", String(192), nullable=False),
    Column("client", String(64), nullable=False),
    Column("at", DateTime, nullable=False),
    Index(None, "name_key", "at"),
    Index(None, "client", "at"),
    Index(None, "at"),
    **MYSQL_TABLE_OPTIONS,
)

web_api_token = Table(
    "web_api_token",
    metadata,
    # Tokens for integrations calling /api/v1 as an account (with its role and scope).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("web_account.id"), nullable=False),
    Column("label", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256, hex
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("revoked_at", DateTime),
    Column("last_used_at", DateTime),
    Index(None, "account_id"),
    **MYSQL_TABLE_OPTIONS,
)

# --- push-mode clocks (revision 0007) --------------------------------------------------------

att_push_state = Table(
    "att_push_state",
    metadata,
    # One row per push (ADMS) device: the upload stamps it sent with its last committed
    # uploads (echoed at the handshake; never trusted for correctness) and when it was last
    # heard from (written at most once a minute per device).
    Column("device_id", Integer, ForeignKey("att_device.id"), primary_key=True),
    Column("attlog_stamp", String(32)),
    Column("operlog_stamp", String(32)),
    Column("last_seen_at", DateTime),
    Column("last_address", String(64)),
    Column("updated_at", DateTime, nullable=False),
    # (revision 0012) the biometric algorithm major versions the clock reported, by BIODATA
    # type: "2:7;9:40" (its getrequest INFO's face algorithm, its own BIODATA uploads)
    Column("bio_versions", String(128)),
    **MYSQL_TABLE_OPTIONS,
)

att_push_pending = Table(
    "att_push_pending",
    metadata,
    # Push devices that called in with a serial number no configured device has: refused
    # (HTTP 403, they keep their records) and listed until an admin adds or ignores them.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("serial", String(64), nullable=False, unique=True),
    Column("first_seen_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
    Column("address", String(64), nullable=False),
    Column("requests", BigInteger, nullable=False),
    **MYSQL_TABLE_OPTIONS,
)

att_device_command = Table(
    "att_device_command",
    metadata,
    # The durable command queue of push devices: sent in getrequest replies as
    # "C:<command_id>:<command>", re-sent while unanswered, answered through devicecmd.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device_id", Integer, ForeignKey("att_device.id"), nullable=False),
    Column("command_id", String(16), nullable=False),
    Column("command", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("sent_at", DateTime),
    Column("send_count", Integer, nullable=False),
    Column("answered_at", DateTime),
    Column("return_code", Integer),
    Column("result", Text),
    UniqueConstraint("device_id", "command_id"),
    Index(None, "device_id", "answered_at"),
    **MYSQL_TABLE_OPTIONS,
)

# --- payroll tables (revision 0003): written by `punchd process`, read by payroll -----------

#: Values of ``att_day.status`` (``punchd.processing.Status``).
DAY_STATUSES: Final = ("present", "absent", "leave", "holiday", "rest", "incomplete")

att_day = Table(
    "att_day",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("employee_id", Integer, ForeignKey("att_employee.id"), nullable=False),
    Column("work_date", Date, nullable=False),
    Column("shift_code", String(32)),
    Column("status", String(12), nullable=False),
    Column("scheduled_minutes", Integer, nullable=False),
    Column("worked_minutes", Integer, nullable=False),
    Column("late_minutes", Integer, nullable=False),
    Column("early_minutes", Integer, nullable=False),
    Column("absent_minutes", Integer, nullable=False),
    Column("leave_minutes", Integer, nullable=False),
    Column("overtime_minutes", Integer, nullable=False),
    Column("holiday_overtime_minutes", Integer, nullable=False),
    Column("rest_overtime_minutes", Integer, nullable=False),
    Column("missing_punches", Integer, nullable=False),
    Column("first_punch", DateTime),
    Column("last_punch", DateTime),
    Column("processed_at", DateTime, nullable=False),
    # revision 0009: "closed" while the day lies in a closed pay period (att_pay_period);
    # processing never rewrites such a day.
    Column("period_state", String(8), nullable=False, server_default="open"),
    Column("close_version", Integer),
    UniqueConstraint("employee_id", "work_date"),
    Index(None, "work_date"),
    **MYSQL_TABLE_OPTIONS,
)

att_exception = Table(
    "att_exception",
    metadata,
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("employee_id", Integer, ForeignKey("att_employee.id"), nullable=False),
    Column("work_date", Date, nullable=False),
    # "period" is reserved on MariaDB: hand-written SQL must quote it.
    Column("period", String(32)),
    Column("kind", String(24), nullable=False),
    Column("minutes", Integer, nullable=False),
    Column("detail", String(255), nullable=False),
    Column("leave_kind", String(32)),  # revision 0009: the leave type of a "leave" finding
    Index(None, "employee_id", "work_date"),
    Index(None, "work_date", "kind"),
    **MYSQL_TABLE_OPTIONS,
)

# --- pay periods (revision 0009) --------------------------------------------------------------

PERIOD_STATES: Final = ("closed", "reopened")

att_pay_period = Table(
    "att_pay_period",
    metadata,
    # One row per close of a month, for everyone (department_id NULL) or one department.
    # A reopen marks the row "reopened"; the next close adds a row with the next version.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("month", String(7), nullable=False),  # YYYY-MM
    Column("department_id", Integer, ForeignKey("att_department.id")),
    # department_id, 0 for everyone: unique with (month, version), so two closes of a month
    # racing (a double-clicked form) cannot both commit the same version
    Column("department_key", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("state", String(8), nullable=False),
    Column("closed_at", DateTime, nullable=False),
    Column("closed_by", String(64), nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("close_reason", Text),
    Column("open_items", Integer, nullable=False),
    Column("reopened_at", DateTime),
    Column("reopened_by", String(64)),
    Column("reopen_reason", Text),
    UniqueConstraint("month", "version", "department_key", name="uq_att_pay_period_month_version"),
    Index(None, "month", "state"),
    **MYSQL_TABLE_OPTIONS,
)

att_after_close = Table(
    "att_after_close",
    metadata,
    # Employee-days of a closed period whose inputs changed after the close (punches
    # collected late, a rules change): kept as closed, listed for HR.
    Column("id", BigIntId, primary_key=True, autoincrement=True),
    Column("employee_id", Integer, ForeignKey("att_employee.id"), nullable=False),
    Column("work_date", Date, nullable=False),
    Column("reason", String(32), nullable=False),
    Column("version", Integer, nullable=False),
    Column("noted_at", DateTime, nullable=False),
    UniqueConstraint("employee_id", "work_date", "reason", "version"),
    Index(None, "work_date"),
    **MYSQL_TABLE_OPTIONS,
)

# --- enrolment (revision 0011) ---------------------------------------------------------------

att_finger_template = Table(
    "att_finger_template",
    metadata,
    # One enrolled finger of an employee, learnt from a clock and copied to the others.
    # ``template`` is encrypted (AES-256-GCM with [enrolment] template_key, bound to the
    # employee and finger): a database dump holds no usable biometric data.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("employee_id", Integer, ForeignKey("att_employee.id"), nullable=False),
    Column("finger", Integer, nullable=False),
    # the clock's fingerprint algorithm version (~ZKFPVersion), NULL: unknown
    Column("fp_version", String(16)),
    Column("valid", Integer, nullable=False),
    Column("template", LargeBinary, nullable=False),
    # the device it was learnt from
    Column("source_device", String(64), nullable=False),
    Column("stored_at", DateTime, nullable=False),
    UniqueConstraint("employee_id", "finger"),
    **MYSQL_TABLE_OPTIONS,
)

# --- faces and palms (revision 0012) -----------------------------------------------------------

att_bio_template = Table(
    "att_bio_template",
    metadata,
    # One face, palm … template of an employee (ADMS BIODATA, a type other than fingerprint),
    # learnt from a push clock and copied to the others of the same algorithm version.
    # ``template`` is encrypted like att_finger_template's (bound to the employee, type, no
    # and index).
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("employee_id", Integer, ForeignKey("att_employee.id"), nullable=False),
    # BIODATA Type (2 face, 8 palm, 9 visible-light face …), No, Index
    Column("bio_type", Integer, nullable=False),
    Column("bio_no", Integer, nullable=False),
    Column("bio_index", Integer, nullable=False),
    # the algorithm version the clock made it with: a clock of another MajorVer cannot read it
    Column("major_ver", String(16), nullable=False),
    Column("minor_ver", String(16), nullable=False),
    Column("format", Integer, nullable=False),
    Column("valid", Integer, nullable=False),
    Column("duress", Integer, nullable=False),
    Column("template", LargeBinary, nullable=False),
    # the device it was learnt from
    Column("source_device", String(64), nullable=False),
    Column("stored_at", DateTime, nullable=False),
    UniqueConstraint("employee_id", "bio_type", "bio_no", "bio_index"),
    **MYSQL_TABLE_OPTIONS,
)

__all__ = [
    "ACCOUNT_ROLES",
    "DAY_STATUSES",
    "MYSQL_TABLE_OPTIONS",
    "NAMING_CONVENTION",
    "PERIOD_STATES",
    "PUNCH_FLAGS",
    "PUNCH_SOURCES",
    "PUNCH_STATES",
    "RUN_STATUSES",
    "att_after_close",
    "att_audit",
    "att_bio_template",
    "att_calendar_year",
    "att_card",
    "att_collection_run",
    "att_daemon",
    "att_day",
    "att_department",
    "att_device",
    "att_device_command",
    "att_device_lease",
    "att_device_poll",
    "att_device_user",
    "att_employee",
    "att_exception",
    "att_finger_template",
    "att_holiday",
    "att_leave",
    "att_pay_period",
    "att_period",
    "att_punch",
    "att_push_pending",
    "att_push_state",
    "att_reprocess",
    "att_schedule",
    "att_schedule_override",
    "att_setting",
    "att_shift",
    "att_shift_period",
    "metadata",
    "web_account",
    "web_account_department",
    "web_api_token",
    "web_session",
    "web_signin_failure",
]
