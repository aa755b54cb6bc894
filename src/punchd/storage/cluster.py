"""Several collectors on one database: device locks the server holds, the database's clock,
and the registry of running daemons.

* :class:`DeviceLock` — a dedicated connection holding one device's session-level lock:
  PostgreSQL ``pg_try_advisory_lock`` (checked in ``pg_locks`` for our own backend), MariaDB
  and MySQL ``GET_LOCK`` (checked with ``IS_USED_LOCK(name) = CONNECTION_ID()``). The server
  releases it when the connection ends — a holder that dies, or stalls past the connection's
  idle timeout, holds nothing. SQLite has no such lock (one host: the file lock is the
  exclusion), :func:`server_locks` says False.
* :func:`server_now` — the database server's clock as naive UTC, in SQL or as a value: every
  timestamp compared between hosts comes from it.
* ``att_daemon`` rows of running daemons: instance, site, devices it may poll, heartbeat in
  database time, host clock at that heartbeat (skew).

The rules (when to take a lock, what a lost lock means, who owns which device) live in
:mod:`punchd.collector.lease` and :mod:`punchd.collector.membership`.
"""

from __future__ import annotations

import json
import threading
import weakref
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, and_, select, text, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.expression import FunctionElement

from punchd.storage.database import make_engine, mysql_lock_name
from punchd.storage.schema import att_collection_run, att_daemon

#: the first key of every punchd advisory lock on PostgreSQL ("PUNC"); the second is the
#: device id (``pg_locks``: classid, objid, objsubid = 2)
PG_NAMESPACE = 0x50554E43


class server_now(FunctionElement):
    """The database server's clock now, naive UTC, to the second like every ``*_at`` column."""

    type = DateTime()
    inherit_cache = True


@compiles(server_now, "postgresql")
def _pg_now(element: Any, compiler: Any, **kw: Any) -> str:
    return "date_trunc('second', timezone('UTC', clock_timestamp()))"


@compiles(server_now, "mysql")
@compiles(server_now, "mariadb")
def _mysql_now(element: Any, compiler: Any, **kw: Any) -> str:
    return "UTC_TIMESTAMP()"


@compiles(server_now, "sqlite")
def _sqlite_now(element: Any, compiler: Any, **kw: Any) -> str:
    # SQLAlchemy's own SQLite format: microseconds, six digits
    return "(strftime('%Y-%m-%d %H:%M:%S', 'now') || '.000000')"


def database_now(conn: Connection) -> datetime:
    """The server's clock now (naive UTC)."""
    return conn.execute(select(server_now())).scalar_one()


def server_locks(engine: Engine) -> bool:
    """Whether the database holds session locks for us (PostgreSQL, MariaDB, MySQL)."""
    return engine.dialect.name in ("postgresql", "mysql", "mariadb")


# --------------------------------------------------------------------------- device locks

#: per engine, a sibling engine without a pool: a lock connection is never handed to
#: anyone else, and closing it ends the server session (and so the lock) for certain
_lock_engines: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_lock_engines_guard = threading.Lock()


def _lock_engine(engine: Engine) -> Engine:
    with _lock_engines_guard:
        found = _lock_engines.get(engine)
        if found is None:
            found = make_engine(engine.url, poolclass=NullPool)
            _lock_engines[engine] = found
        return found


def _mysql_name(database: str | None, device_id: int) -> str:
    return mysql_lock_name(database, f"device:{device_id}")


class DeviceLock:
    """One device's lock on a connection of its own. Thread-safe: the holder's keep-alive
    and the run's fencing checks share the connection."""

    def __init__(self, engine: Engine, device_id: int, *, idle_timeout: float) -> None:
        self.device_id = device_id
        self.dialect = engine.dialect.name
        self._guard = threading.Lock()
        self._conn: Connection | None = (
            _lock_engine(engine).connect().execution_options(isolation_level="AUTOCOMMIT")
        )
        self._name = _mysql_name(engine.url.database, device_id)
        self._idle_ms = max(1000, round(idle_timeout * 1000))

    def try_take(self) -> bool:
        """Take the lock if it is free (never waits). The server ends this connection
        after ``idle_timeout`` seconds of silence: call :meth:`ping` more often than that."""
        with self._guard:
            conn = self._live()
            if self.dialect == "postgresql":
                got = conn.execute(
                    text(
                        "SELECT set_config('idle_session_timeout', :ms, false), "
                        "pg_try_advisory_lock(:ns, :id)"
                    ),
                    {"ms": str(self._idle_ms), "ns": PG_NAMESPACE, "id": self.device_id},
                ).one()[1]
            else:
                conn.execute(
                    text("SET SESSION wait_timeout = :s"), {"s": max(1, self._idle_ms // 1000)}
                )
                got = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": self._name}).scalar()
            return bool(got)

    def held(self) -> bool:
        """Whether this connection still holds the lock, asked of the server (fencing)."""
        with self._guard:
            conn = self._live()
            if self.dialect == "postgresql":
                found = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                        "AND pid = pg_backend_pid() AND granted AND classid = :ns "
                        "AND objid = :id AND objsubid = 2"
                    ),
                    {"ns": PG_NAMESPACE, "id": self.device_id},
                ).scalar()
            else:
                found = conn.execute(
                    text("SELECT IS_USED_LOCK(:n) = CONNECTION_ID()"), {"n": self._name}
                ).scalar()
            return bool(found)

    def ping(self) -> None:
        """Keep the connection from being ended as idle; raises when it is gone."""
        with self._guard:
            self._live().execute(text("SELECT 1"))

    def close(self) -> None:
        """End the connection: the server lets go of the lock with it."""
        with self._guard:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()  # never reused: the server session ends here
            finally:
                conn.close()

    def _live(self) -> Connection:
        if self._conn is None or self._conn.invalidated:
            # Never a new connection in its place: the lock went with the old one.
            raise RuntimeError("the device lock's connection is gone")
        return self._conn


def holder_of(engine: Engine, device_ids: list[int]) -> dict[int, bool]:
    """Per device id, whether some session holds its lock right now (status)."""
    if not device_ids or not server_locks(engine):
        return {}
    with _lock_engine(engine).connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.execute(
                text(
                    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND classid = :ns AND objsubid = 2 "
                    "AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"ns": PG_NAMESPACE},
            ).scalars()
            held = {int(r) for r in rows}
            return {d: d in held for d in device_ids}
        out = {}
        for d in device_ids:
            used = conn.execute(
                text("SELECT IS_USED_LOCK(:n)"), {"n": _mysql_name(engine.url.database, d)}
            ).scalar()
            out[d] = used is not None
        return out


# --------------------------------------------------------------------------- runs


def sweep_runs(conn: Connection, device_id: int) -> int:
    """Runs of the device still ``running``, by now ``interrupted``: called by the holder of
    the device's lock, so no other run of it can be live. Returns how many."""
    r = att_collection_run
    return conn.execute(
        update(r)
        .where(r.c.device_id == device_id, r.c.status == "running")
        .values(
            status="interrupted",
            finished_at=server_now(),
            error="the collector running it stopped (killed, stalled or cut off)",
            error_kind="interrupted",
        )
    ).rowcount


# --------------------------------------------------------------------------- daemons


def register_daemon(
    conn: Connection,
    *,
    instance: str,
    host: str,
    pid: int,
    version: str,
    site: str | None,
    devices: list[str],
    host_clock: datetime,
) -> int:
    """A row for a daemon that is starting (times from the server's clock); its id."""
    return int(
        conn.execute(
            att_daemon.insert().values(
                instance=instance,
                host=host,
                pid=pid,
                version=version,
                site=site,
                devices=json.dumps(sorted(devices)),
                started_at=server_now(),
                heartbeat_at=server_now(),
                host_clock_at=host_clock,
                status="starting",
                spool_backlog=0,
                holding=0,
            )
        ).inserted_primary_key[0]
    )


def heartbeat(
    conn: Connection,
    daemon_id: int,
    *,
    host_clock: datetime,
    status: str,
    spool_backlog: int,
    holding: int,
    last_processing_at: datetime | None,
    devices: list[str] | None = None,
) -> bool:
    """The daemon is alive now (server clock); False when its row is gone or marked
    stopped (another daemon judged it dead: it must register again)."""
    values: dict[str, Any] = {
        "heartbeat_at": server_now(),
        "host_clock_at": host_clock,
        "status": status,
        "spool_backlog": spool_backlog,
        "holding": holding,
        "last_processing_at": last_processing_at,
    }
    if devices is not None:
        values["devices"] = json.dumps(sorted(devices))
    done = conn.execute(
        update(att_daemon)
        .where(att_daemon.c.id == daemon_id, att_daemon.c.stopped_at.is_(None))
        .values(**values)
    )
    return done.rowcount == 1


def running_daemons(conn: Connection) -> tuple[datetime, list[dict]]:
    """(server clock now, every daemon row not marked stopped, by id). Each row has
    ``devices`` decoded (a list of names)."""
    now = database_now(conn)
    rows = conn.execute(
        select(att_daemon).where(att_daemon.c.stopped_at.is_(None)).order_by(att_daemon.c.id)
    ).mappings()
    out = []
    for r in rows:
        row = dict(r)
        row["devices"] = json.loads(row["devices"]) if row.get("devices") else []
        out.append(row)
    return now, out


def mark_dead(conn: Connection, daemon_id: int, heartbeat_before: datetime) -> bool:
    """Mark a daemon stopped that has not beaten since ``heartbeat_before`` (server time):
    it is gone, and its row leaves the membership."""
    return (
        conn.execute(
            update(att_daemon)
            .where(
                and_(
                    att_daemon.c.id == daemon_id,
                    att_daemon.c.stopped_at.is_(None),
                    att_daemon.c.heartbeat_at < heartbeat_before,
                )
            )
            .values(stopped_at=server_now(), status="dead: no heartbeat")
        ).rowcount
        == 1
    )
