"""Data access for the collector: plain SQLAlchemy Core statements, bulk where it matters.

Every function takes a ``Connection`` and runs inside the caller's transaction; none
commits. Timestamps are naive UTC except ``punched_at`` (device-local wall clock), see
``docs/schema.md``. Timestamps this module writes are cut to whole seconds, so that every
backend stores the same value (MySQL/MariaDB ``DATETIME`` keeps no fractions).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CHAR,
    Insert,
    String,
    bindparam,
    case,
    cast,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy.engine import Connection

from punchd.clock import utc_stamp
from punchd.drivers.records import DeviceUser
from punchd.storage._bulk import chunks, copy_new, execute_many, fetch_plain, stored_text
from punchd.storage.schema import att_collection_run, att_device, att_device_user, att_punch

#: rows per executemany batch in insert_punches
PUNCH_CHUNK = 5000
#: ids per ``IN (...)`` list
_IN_CHUNK = 500

_ERROR_MAX = 8000  # characters kept of att_collection_run.error (MySQL TEXT is 64 KiB)

PUNCH_COLUMNS = (
    "device_id",
    "enroll_no",
    "punched_at",
    "punched_at_utc",
    "state",
    "verify_mode",
    "work_code",
    "source",
    "collected_at",
    "run_id",
    "flag",
)


# --------------------------------------------------------------------------- helpers


def _utc(value: datetime) -> datetime:
    """Naive UTC to the second; an aware value is converted to UTC first."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(microsecond=0) if value.microsecond else value


def _utc_opt(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


_now = utc_stamp


def _clip(value: str | None, length: int) -> str | None:
    return value if value is None or len(value) <= length else value[:length]


# --------------------------------------------------------------------------- devices


def upsert_device(
    conn: Connection, *, name: str, driver: str, address: str, user_code: str | None = None
) -> int:
    """The id of device ``name``, created if new; driver and address are kept current, and
    ``user_code`` ("enroll" / "card") too when given."""
    address = _clip(address, 255)
    row = conn.execute(
        select(
            att_device.c.id, att_device.c.driver, att_device.c.address, att_device.c.user_code
        ).where(att_device.c.name == name)
    ).first()
    now = _now()
    if row is None:
        result = conn.execute(
            insert(att_device).values(
                name=name,
                driver=driver,
                address=address,
                user_code=user_code,
                created_at=now,
                updated_at=now,
            )
        )
        return int(result.inserted_primary_key[0])
    code = row.user_code if user_code is None else user_code
    if (row.driver, row.address, row.user_code) != (driver, address, code):
        conn.execute(
            update(att_device)
            .where(att_device.c.id == row.id)
            .values(driver=driver, address=address, user_code=code, updated_at=now)
        )
    return int(row.id)


def update_device_info(
    conn: Connection,
    device_id: int,
    *,
    serial_number: str | None = None,
    model: str | None = None,
    firmware: str | None = None,
    platform: str | None = None,
    mac: str | None = None,
    user_count: int | None = None,
    record_count: int | None = None,
    record_capacity: int | None = None,
    clock_drift_seconds: float | None = None,
    clock_checked_at: datetime | None = None,
) -> None:
    """Record what the device said about itself; only the non-None values are written."""
    values: dict[str, Any] = {
        "serial_number": _clip(serial_number, 64),
        "model": _clip(model, 64),
        "firmware": _clip(firmware, 64),
        "platform": _clip(platform, 64),
        "mac": _clip(mac, 32),
        "user_count": user_count,
        "record_count": record_count,
        "record_capacity": record_capacity,
        "clock_drift_seconds": clock_drift_seconds,
        "clock_checked_at": _utc_opt(clock_checked_at),
    }
    values = {key: value for key, value in values.items() if value is not None}
    if not values:
        return
    conn.execute(
        update(att_device).where(att_device.c.id == device_id).values(**values, updated_at=_now())
    )


# --------------------------------------------------------------------------- runs


def start_run(
    conn: Connection, device_id: int, *, trigger: str, host: str, started_at: datetime
) -> int:
    """Open a collection run (status ``running``); returns its id."""
    result = conn.execute(
        insert(att_collection_run).values(
            device_id=device_id,
            trigger=trigger,
            host=_clip(host, 128),
            started_at=_utc(started_at),
            status="running",
            records_read=0,
            records_new=0,
            users_read=0,
            cleared=False,
        )
    )
    return int(result.inserted_primary_key[0])


def finish_run(
    conn: Connection,
    run_id: int,
    *,
    status: str,
    finished_at: datetime,
    records_read: int = 0,
    records_new: int = 0,
    users_read: int = 0,
    clock_drift_seconds: float | None = None,
    cleared: bool = False,
    error: str | None = None,
    error_kind: str | None = None,
) -> None:
    """Close a run and make it its device's ``last_run_id``.

    ``error`` is cut to 8,000 characters and ``error_kind`` to 32, so that recording a
    failure never fails for its length.
    """
    conn.execute(
        update(att_collection_run)
        .where(att_collection_run.c.id == run_id)
        .values(
            status=status,
            finished_at=_utc(finished_at),
            records_read=records_read,
            records_new=records_new,
            users_read=users_read,
            clock_drift_seconds=clock_drift_seconds,
            cleared=cleared,
            error=_clip(error, _ERROR_MAX),
            error_kind=_clip(error_kind, 32),
        )
    )
    device_of_run = (
        select(att_collection_run.c.device_id)
        .where(att_collection_run.c.id == run_id)
        .scalar_subquery()
    )
    conn.execute(
        update(att_device).where(att_device.c.id == device_of_run).values(last_run_id=run_id)
    )


def recent_runs(conn: Connection, device_id: int | None = None, limit: int = 20) -> list[dict]:
    """The newest runs first (all devices, or one), each with its ``device_name``."""
    run = att_collection_run
    stmt = (
        select(*run.c, att_device.c.name.label("device_name"))
        .join(att_device, att_device.c.id == run.c.device_id)
        .order_by(run.c.started_at.desc(), run.c.id.desc())
        .limit(limit)
    )
    if device_id is not None:
        stmt = stmt.where(run.c.device_id == device_id)
    return [dict(row) for row in conn.execute(stmt).mappings()]


# --------------------------------------------------------------------------- users


def store_users(
    conn: Connection,
    device_id: int,
    users: Sequence[DeviceUser],
    *,
    seen_at: datetime,
    complete: bool = True,
) -> int:
    """Record the users a device reported; returns how many are new.

    Users in ``users`` are inserted or updated (name, card, privilege), marked ``present``
    and get ``last_seen_at`` = ``seen_at``. ``complete``: ``users`` is the device's whole
    user list (a pull clock's), so enrolled users missing from it are kept with ``present``
    false; otherwise (a push clock reports changes) nobody else is touched. A duplicated
    enroll_no in ``users`` counts once (the last one wins). One read, and at most one
    statement per kind of change, however many users.
    """
    seen_at = _utc(seen_at)
    t = att_device_user
    incoming: dict[str, tuple[str, str | None, int]] = {
        u.enroll_no: (_clip(u.name or "", 128), _clip(u.card or None, 32), int(u.privilege or 0))
        for u in users
    }
    if not incoming and not complete:
        return 0
    query = select(t.c.id, t.c.enroll_no, t.c.name, t.c.card, t.c.privilege, t.c.present).where(
        t.c.device_id == device_id
    )
    if complete:
        stored = {row.enroll_no: row for row in conn.execute(query)}
    else:
        stored = {}
        for group in chunks(list(incoming), _IN_CHUNK):
            stored.update(
                (row.enroll_no, row) for row in conn.execute(query.where(t.c.enroll_no.in_(group)))
            )

    new = [
        {
            "device_id": device_id,
            "enroll_no": enroll_no,
            "name": name,
            "card": card,
            "privilege": privilege,
            "present": True,
            "first_seen_at": seen_at,
            "last_seen_at": seen_at,
        }
        for enroll_no, (name, card, privilege) in incoming.items()
        if enroll_no not in stored
    ]
    changed = [
        {"_id": row.id, "name": name, "card": card, "privilege": privilege}
        for enroll_no, (name, card, privilege) in incoming.items()
        if (row := stored.get(enroll_no)) is not None
        and ((row.name, row.card, row.privilege) != (name, card, privilege) or not row.present)
    ]
    vanished = [
        row.id
        for enroll_no, row in stored.items()
        if complete and row.present and enroll_no not in incoming
    ]

    if new:
        conn.execute(insert(t), new)
    if changed:
        conn.execute(
            update(t)
            .where(t.c.id == bindparam("_id"))
            .values(
                name=bindparam("name"),
                card=bindparam("card"),
                privilege=bindparam("privilege"),
                present=True,
            ),
            changed,
        )
    for ids in chunks(vanished, _IN_CHUNK):
        conn.execute(update(t).where(t.c.id.in_(ids)).values(present=False))
    if complete and incoming:
        # Now exactly the listed users are present: one statement refreshes them all.
        conn.execute(
            update(t).where(t.c.device_id == device_id, t.c.present).values(last_seen_at=seen_at)
        )
    else:
        seen = [row.id for enroll_no, row in stored.items() if enroll_no in incoming]
        for ids in chunks(seen, _IN_CHUNK):
            conn.execute(update(t).where(t.c.id.in_(ids)).values(last_seen_at=seen_at))
    return len(new)


# --------------------------------------------------------------------------- punches


def existing_punch_keys(
    conn: Connection, device_id: int, *, since: datetime | None = None
) -> set[tuple[str, datetime, str]]:
    """``(enroll_no, punched_at, state)`` of the device's stored punches.

    With ``since``, only punches with ``punched_at >= since`` (device-local time).
    """
    stmt = select(att_punch.c.enroll_no, att_punch.c.punched_at, att_punch.c.state).where(
        att_punch.c.device_id == device_id
    )
    if since is not None:
        stmt = stmt.where(att_punch.c.punched_at >= since)
    return {(enroll_no, punched_at, state) for enroll_no, punched_at, state in conn.execute(stmt)}


def stored_among(
    conn: Connection, device_id: int, keys: Sequence[tuple[str, datetime, str]]
) -> set[tuple[str, datetime, str]]:
    """Which of ``keys`` (``(enroll_no, punched_at, state)``, one batch) the device has
    stored already, seen from the caller's transaction (rows it inserted count).

    One query: the device's stored punches from the batch's first to its last
    ``punched_at``, one range of the identity key (device_id, punched_at, …). A device's
    records are in time order, so a batch spans little time and the read-back is about the
    batch's size, however many punches the device has stored."""
    if not keys:
        return set()
    times = [k[1] for k in keys]
    lo, hi = min(times), max(times)
    p = att_punch.c
    # punched_at comes back as the database's text and is parsed in C: SQLAlchemy would
    # parse SQLite's text in Python, and PyMySQL its DATETIMEs (psycopg parses in C).
    at: Any = p.punched_at
    if stored_text(conn.dialect, att_punch, "punched_at") is not None:
        at = type_coerce(p.punched_at, String)
    elif conn.dialect.name in ("mysql", "mariadb"):
        at = cast(p.punched_at, CHAR)
    stmt = select(p.enroll_no, at, p.state).where(
        p.device_id == device_id, p.punched_at >= lo, p.punched_at <= hi
    )
    if at is p.punched_at:  # datetimes: psycopg makes them itself, others need SQLAlchemy
        if conn.dialect.name != "postgresql":
            return {tuple(row) for row in conn.execute(stmt)}.intersection(keys)
        return set(fetch_plain(conn, stmt)).intersection(keys)
    rows = fetch_plain(conn, stmt)
    try:
        found = {(e, datetime.fromisoformat(t), s) for e, t, s in rows}
    except (TypeError, ValueError):  # text another program wrote: what parses counts
        found = set(_parsed(rows))
    return found.intersection(keys)


def _parsed(rows: Sequence[Any]) -> Iterator[tuple[str, datetime, str]]:
    for enroll_no, text, state in rows:
        with suppress(TypeError, ValueError):
            yield enroll_no, datetime.fromisoformat(text), state


def _punch_insert(dialect: str) -> Insert:
    """INSERT into att_punch that silently skips rows already there (by its unique key)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(att_punch).on_conflict_do_nothing(constraint="uq_att_punch_identity")
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(att_punch).on_conflict_do_nothing(
            index_elements=["device_id", "punched_at", "enroll_no", "state"]
        )
    if dialect in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        # A no-op update: unlike INSERT IGNORE it does not turn other errors (bad values,
        # foreign keys, truncation) into warnings.
        return mysql_insert(att_punch).on_duplicate_key_update(id=att_punch.c.id)
    raise NotImplementedError(f"insert_punches does not support the {dialect!r} dialect")


def punch_values(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """One ``att_punch`` row mapping, normalised, in PUNCH_COLUMNS order (what
    :func:`insert_punch_values` takes)."""
    punched_at = row["punched_at"]
    if punched_at.tzinfo is not None:
        raise ValueError(
            f"punched_at must be the device's naive wall-clock time, got {punched_at!r}"
        )
    return (
        row.get("device_id"),
        row["enroll_no"],
        punched_at.replace(microsecond=0) if punched_at.microsecond else punched_at,
        _utc(row["punched_at_utc"]),
        row.get("state") or "unknown",
        row.get("verify_mode"),
        row.get("work_code"),
        row.get("source") or "device",
        _utc(row["collected_at"]),
        row.get("run_id"),
        row.get("flag"),
    )


def exact_insert_counts(conn: Connection) -> bool:
    """Whether :func:`insert_punch_values` returns exactly the rows inserted (SQLite,
    PostgreSQL) or only an upper bound (MySQL/MariaDB: see :func:`insert_punches`)."""
    return conn.dialect.name not in ("mysql", "mariadb")


def insert_punch_values(
    conn: Connection, values: Sequence[tuple[Any, ...]], *, unseen: bool = False
) -> int:
    """The bulk insert under :func:`insert_punches`, for rows already normalised
    (:func:`punch_values`: naive whole-second timestamps, PUNCH_COLUMNS order). Skips
    rows whose identity is stored; leaves ``att_device``'s counts alone (the caller keeps
    them: :func:`add_device_punches`). Returns the database's count (see
    :func:`exact_insert_counts`). ``unseen``: the caller knows none of them is stored and
    none twice among them (PostgreSQL then COPYs them straight in, and falls back to the
    usual insert should a unique key disagree)."""
    if not values:
        return 0
    if unseen and copy_new(conn, att_punch, PUNCH_COLUMNS, values):
        return len(values)
    dialect = conn.dialect.name
    return execute_many(
        conn, _punch_insert(dialect), att_punch, PUNCH_COLUMNS, values, batch=PUNCH_CHUNK
    )


def insert_punches(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert punches in bulk; a row whose identity is already stored is skipped silently.

    Rows are mappings with the keys of ``PUNCH_COLUMNS`` (``verify_mode``, ``work_code``,
    ``run_id``, ``flag`` may be missing: NULL; ``source`` defaults to ``device``, ``state`` to
    ``unknown``). Timestamps are cut to whole seconds; ``punched_at`` must be naive, an
    aware ``punched_at_utc``/``collected_at`` is converted to UTC. Rows go to the database
    in executemany batches of ``PUNCH_CHUNK``, with the backend's "on conflict do nothing"
    on ``uq_att_punch_identity`` (MySQL/MariaDB: a no-op ``ON DUPLICATE KEY UPDATE``, which
    unlike ``INSERT IGNORE`` still raises on every other error). ``att_device``'s punch
    count and newest punch follow, in the same transaction.

    Returns the number of rows inserted. SQLite and PostgreSQL report it exactly (skipped
    duplicates are not counted). MySQL/MariaDB cannot tell inserted rows from skipped ones
    through SQLAlchemy (it always connects with CLIENT_FOUND_ROWS), so there the result is
    ``len(rows)``: an upper bound, exact unless a concurrent writer stored some of the same
    punches first (callers pre-filter with :func:`stored_among`), and the devices' counts
    are counted again from att_punch.
    """
    if not rows:
        return 0
    values = [punch_values(row) for row in rows]
    inserted = insert_punch_values(conn, values)
    exact = exact_insert_counts(conn)
    _count_device_punches(conn, values, inserted if exact else None)
    return inserted if exact else len(values)


def run_punch_counts(conn: Connection, run_id: int) -> tuple[int, datetime | None]:
    """How many punches run ``run_id`` stored, and the newest (exact on every backend:
    the rows carry the run's id)."""
    p = att_punch.c
    count, newest = conn.execute(
        select(func.count(), func.max(p.punched_at)).where(p.run_id == run_id)
    ).one()
    return int(count or 0), newest


def newest_device_punch(conn: Connection, device_id: int) -> datetime | None:
    """``att_device.last_punch_at``: no punch of the device stored is later (every write
    of a device punch keeps it up to date in its own transaction, see
    :func:`add_device_punches`; it may be later than the newest, never earlier)."""
    return conn.execute(
        select(att_device.c.last_punch_at).where(att_device.c.id == device_id)
    ).scalar_one_or_none()


def add_device_punches(conn: Connection, device_id: int, new: int, newest: datetime) -> None:
    """``att_device.punch_count`` += ``new``; ``last_punch_at`` = ``newest`` if later."""
    d = att_device
    conn.execute(
        update(d)
        .where(d.c.id == device_id)
        .values(
            punch_count=d.c.punch_count + new,
            last_punch_at=case(
                (d.c.last_punch_at.is_(None), newest),
                (d.c.last_punch_at < newest, newest),
                else_=d.c.last_punch_at,
            ),
        )
    )


def _count_device_punches(
    conn: Connection, values: Sequence[tuple[Any, ...]], new: int | None
) -> None:
    """Keep ``att_device.punch_count``/``last_punch_at`` in step with the rows just stored
    (:func:`punch_values` tuples), in the same transaction: add ``new``, the rows inserted,
    when they are one device's; when that is not known exactly (MySQL/MariaDB: None), or
    for rows of several devices, the devices are counted again from att_punch."""
    newest: dict[int, datetime] = {}
    for value in values:
        if (device := value[0]) is not None:
            at = value[2]
            if device not in newest or at > newest[device]:
                newest[device] = at
    if len(newest) == 1 and new is not None:
        ((device, at),) = newest.items()
        add_device_punches(conn, device, new, at)
    elif newest:
        recount_device_punches(conn, list(newest))


def recount_device_punches(conn: Connection, device_ids: Sequence[int] | None = None) -> None:
    """Set ``att_device.punch_count``/``last_punch_at`` from att_punch (all devices: None)."""
    d, p = att_device, att_punch
    count = select(func.count()).where(p.c.device_id == d.c.id).scalar_subquery()
    newest = select(func.max(p.c.punched_at)).where(p.c.device_id == d.c.id).scalar_subquery()
    stmt = update(d).values(punch_count=count, last_punch_at=newest)
    if device_ids is not None:
        stmt = stmt.where(d.c.id.in_(device_ids))
    conn.execute(stmt)


# --------------------------------------------------------------------------- held devices


def set_disabled(conn: Connection, device_id: int, at: datetime | None) -> None:
    """Record that a run is about to disable the device (``at``, UTC), or that it has been
    enabled again (None): ``att_device.disabled_at``."""
    conn.execute(
        update(att_device)
        .where(att_device.c.id == device_id)
        .values(disabled_at=_utc_opt(at), updated_at=_now())
    )


def disabled_since(conn: Connection, device_id: int) -> datetime | None:
    """When a run disabled the device and did not record enabling it again, or None."""
    return conn.execute(
        select(att_device.c.disabled_at).where(att_device.c.id == device_id)
    ).scalar_one_or_none()


def flagged_punch_counts(
    conn: Connection, *, collected_since: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Device name → {flag: number of stored punches with that ``att_punch.flag``}; with
    ``collected_since`` (UTC), only punches collected since then."""
    stmt = (
        select(att_device.c.name, att_punch.c.flag, func.count())
        .join(att_device, att_device.c.id == att_punch.c.device_id)
        .where(att_punch.c.flag.is_not(None))
        .group_by(att_device.c.name, att_punch.c.flag)
    )
    if collected_since is not None:
        stmt = stmt.where(att_punch.c.collected_at >= _utc(collected_since))
    out: dict[str, dict[str, int]] = {}
    for name, flag, count in conn.execute(stmt):
        out.setdefault(name, {})[flag] = int(count)
    return out


# --------------------------------------------------------------------------- overview


def device_overview(conn: Connection) -> list[dict]:
    """One dict per device, by name, for status tables: one query, no punch counted (the
    device row carries its punch count and newest punch).

    Keys: ``id, name, driver, address, serial_number, model, firmware,
    clock_drift_seconds, clock_checked_at, last_run, punch_count, last_punch_at``.
    ``last_run`` is None or a dict ``id, started_at, finished_at, status, records_read,
    records_new, error, error_kind``; ``last_punch_at`` is the newest ``punched_at``
    (device-local time) or None.
    """
    d, r = att_device, att_collection_run
    stmt = (
        select(
            d.c.id,
            d.c.name,
            d.c.driver,
            d.c.address,
            d.c.serial_number,
            d.c.model,
            d.c.firmware,
            d.c.clock_drift_seconds,
            d.c.clock_checked_at,
            r.c.id.label("run_id"),
            r.c.started_at.label("run_started_at"),
            r.c.finished_at.label("run_finished_at"),
            r.c.status.label("run_status"),
            r.c.records_read.label("run_records_read"),
            r.c.records_new.label("run_records_new"),
            r.c.error.label("run_error"),
            r.c.error_kind.label("run_error_kind"),
            d.c.punch_count,
            d.c.last_punch_at,
        )
        .select_from(d.outerjoin(r, r.c.id == d.c.last_run_id))
        .order_by(d.c.name)
    )
    overview = []
    for row in conn.execute(stmt).mappings():
        item = {key: row[key] for key in row if not key.startswith("run_")}
        item["last_run"] = (
            None
            if row["run_id"] is None
            else {
                "id": row["run_id"],
                "started_at": row["run_started_at"],
                "finished_at": row["run_finished_at"],
                "status": row["run_status"],
                "records_read": row["run_records_read"],
                "records_new": row["run_records_new"],
                "error": row["run_error"],
                "error_kind": row["run_error_kind"],
            }
        )
        item["punch_count"] = int(row["punch_count"] or 0)
        overview.append(item)
    return overview


__all__ = [
    "PUNCH_CHUNK",
    "PUNCH_COLUMNS",
    "add_device_punches",
    "device_overview",
    "disabled_since",
    "exact_insert_counts",
    "existing_punch_keys",
    "finish_run",
    "flagged_punch_counts",
    "insert_punch_values",
    "insert_punches",
    "newest_device_punch",
    "punch_values",
    "recent_runs",
    "recount_device_punches",
    "run_punch_counts",
    "set_disabled",
    "start_run",
    "store_users",
    "stored_among",
    "update_device_info",
    "upsert_device",
]
