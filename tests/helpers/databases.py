"""Test databases per backend: an empty one, or a copy of a schema migrated once per session.

Running every Alembic migration for every test dominated the database tests, so each
backend migrates once per session (on first use) and gives each test a copy:

* SQLite: the migrated file, copied into the test's ``tmp_path``.
* PostgreSQL: ``CREATE DATABASE … TEMPLATE`` from a migrated template database, dropped
  again after the test.
* MariaDB/MySQL (no templates): the migrated schema's own DDL (``SHOW CREATE …``) and the
  rows the migrations left (``alembic_version``), replayed into the re-created session
  database.

Server databases are named ``punchd_t_<hex>…`` per session, so concurrent runs never meet.
"""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from punchd.storage.database import make_engine, upgrade


class Databases:
    """One backend's test databases for a session."""

    backend: str

    def empty(self, tmp_path: Path) -> str:
        """URL (with password) of a database without any table."""
        raise NotImplementedError

    def migrated(self, tmp_path: Path) -> str:
        """URL (with password) of a database at the newest schema, as ``upgrade`` leaves it."""
        raise NotImplementedError

    def release(self, url: str) -> None:
        """The test that got ``url`` from ``migrated`` has finished (its engines disposed)."""

    def close(self) -> None:
        """End of session: drop whatever this session created."""


class SqliteDatabases(Databases):
    backend = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self._template: Path | None = None

    def empty(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'punchd.db'}"

    def migrated(self, tmp_path: Path) -> str:
        if self._template is None:
            self._template = self._migrate(self._workdir / "template.db")
        # copy() keeps the 0600 mode make_engine gave the template
        shutil.copy(self._template, tmp_path / "punchd.db")
        return self.empty(tmp_path)

    @staticmethod
    def _migrate(path: Path) -> Path:
        engine = make_engine(f"sqlite:///{path}")
        try:
            upgrade(engine)
            with engine.connect() as conn:
                # everything into the main file, so copying that one file is a whole copy
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            engine.dispose()
        return path


class _ServerDatabases(Databases):
    """The session database ``name`` on ``server``, created here and dropped by close()."""

    def __init__(self, server: URL) -> None:
        self._server = server
        self.name = f"punchd_t_{secrets.token_hex(6)}"
        self._admin = create_engine(server, isolation_level="AUTOCOMMIT")
        try:
            self._admin_sql(self._create(self.name))
        except Exception:
            self._admin.dispose()
            raise

    def _create(self, name: str) -> str:
        return f"CREATE DATABASE {name}"

    def _admin_sql(self, *statements: str) -> None:
        with self._admin.connect() as conn:
            for sql in statements:
                conn.execute(text(sql))

    def url(self, name: str) -> str:
        return self._server.set(database=name).render_as_string(hide_password=False)


class PostgresDatabases(_ServerDatabases):
    backend = "postgresql"

    def __init__(self, server: URL) -> None:
        super().__init__(server)
        self._template: str | None = None
        self._clones = 0

    def empty(self, tmp_path: Path) -> str:
        engine = create_engine(self.url(self.name))
        try:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        finally:
            engine.dispose()
        return self.url(self.name)

    def migrated(self, tmp_path: Path) -> str:
        if self._template is None:
            template = f"{self.name}_tmpl"
            self._admin_sql(self._create(template))
            self._template = template  # dropped by close() from here on
            engine = make_engine(self.url(template))
            try:
                upgrade(engine)
            finally:
                engine.dispose()  # a template must have no connection when it is copied
        self._clones += 1
        clone = f"{self.name}_{self._clones}"
        for attempt in range(50):
            try:
                self._admin_sql(f"CREATE DATABASE {clone} TEMPLATE {self._template}")
                break
            except OperationalError as exc:
                # 55006 object_in_use: a closed connection's backend has not exited yet
                if getattr(exc.orig, "sqlstate", None) != "55006" or attempt == 49:
                    raise
                time.sleep(0.05)
        return self.url(clone)

    def release(self, url: str) -> None:
        name = url.rsplit("/", 1)[-1].split("?", 1)[0]
        # FORCE (PostgreSQL 13+): a test's leftover subprocess must not keep it alive
        self._admin_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def close(self) -> None:
        try:
            names = [self.name] + ([self._template] if self._template else [])
            self._admin_sql(*(f"DROP DATABASE IF EXISTS {n} WITH (FORCE)" for n in names))
        finally:
            self._admin.dispose()


@dataclass
class _Schema:
    """A migrated MariaDB/MySQL schema as statements that rebuild it."""

    ddl: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[str], list[tuple[Any, ...]]]] = field(default_factory=list)


class MysqlDatabases(_ServerDatabases):
    """No templates here: the first migrated database replays the captured DDL (2-3x faster
    than the migrations); after that, while the schema is still the migrated one, only the
    tables a test touched are truncated (faster again: no DDL for the untouched ones)."""

    backend = "mysql"

    def __init__(self, server: URL) -> None:
        super().__init__(server)
        self._schema: _Schema | None = None
        self._fingerprint: tuple[Any, ...] | None = None  # of the replayed schema
        self._migrated = False  # the session database was last handed out migrated

    def _create(self, name: str) -> str:
        return f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"

    def _recreate(self) -> None:
        self._migrated = False
        self._admin_sql(f"DROP DATABASE IF EXISTS {self.name}", self._create(self.name))

    def empty(self, tmp_path: Path) -> str:
        self._recreate()
        return self.url(self.name)

    def migrated(self, tmp_path: Path) -> str:
        if self._schema is None:
            self._schema = self._capture()
        engine = create_engine(self.url(self.name), poolclass=NullPool)
        try:
            with engine.begin() as conn:
                reused = self._migrated and _fingerprint(conn) == self._fingerprint
                if reused:
                    _reset_rows(conn, self._schema)
            if not reused:
                self._recreate()
                with engine.begin() as conn:
                    _replay(conn, self._schema)
                    self._fingerprint = _fingerprint(conn)
        finally:
            engine.dispose()
        self._migrated = True
        return self.url(self.name)

    def _capture(self) -> _Schema:
        """Migrate a scratch database, read back its DDL and rows, drop it."""
        scratch = f"{self.name}_tmpl"
        self._admin_sql(self._create(scratch))
        try:
            engine = make_engine(self.url(scratch))
            try:
                upgrade(engine)
                with engine.connect() as conn:
                    return _read_schema(conn, scratch)
            finally:
                engine.dispose()
        finally:
            self._admin_sql(f"DROP DATABASE IF EXISTS {scratch}")

    def close(self) -> None:
        try:
            self._admin_sql(f"DROP DATABASE IF EXISTS {self.name}")
        finally:
            self._admin.dispose()


def _cursor_run(conn: Connection, statements: list[str]) -> None:
    """Run ``statements`` as they are, with foreign key checks off."""
    # the DBAPI cursor: DDL text (DATE_FORMAT '%Y…') is no parameter format string
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        for sql in statements:
            cursor.execute(sql)
        cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
    finally:
        cursor.close()


def _insert_rows(conn: Connection, schema: _Schema) -> None:
    for table, columns, rows in schema.rows:
        names = ", ".join(f"`{c}`" for c in columns)
        marks = ", ".join(f":p{i}" for i in range(len(columns)))
        conn.execute(
            text(f"INSERT INTO `{table}` ({names}) VALUES ({marks})"),
            [{f"p{i}": v for i, v in enumerate(row)} for row in rows],
        )


def _replay(conn: Connection, schema: _Schema) -> None:
    _cursor_run(conn, schema.ddl)
    _insert_rows(conn, schema)


def _reset_rows(conn: Connection, schema: _Schema) -> None:
    """Truncate every table with rows or a used AUTO_INCREMENT; restore the template rows."""
    counters = dict(
        conn.exec_driver_sql(
            "SELECT table_name, auto_increment FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'"
        ).all()
    )
    probe = " UNION ALL ".join(
        f"SELECT '{t}' FROM DUAL WHERE EXISTS (SELECT 1 FROM `{t}`)" for t in counters
    )
    filled = {row[0] for row in conn.exec_driver_sql(probe)}
    dirty = sorted(t for t, counter in counters.items() if t in filled or (counter or 1) > 1)
    if dirty:
        _cursor_run(conn, [f"TRUNCATE TABLE `{t}`" for t in dirty])
    _insert_rows(conn, _Schema(rows=[r for r in schema.rows if r[0] in dirty]))


#: Everything about a MariaDB/MySQL schema a test could change, one digest per aspect.
_FINGERPRINT = """
SELECT
 (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', table_name, table_type, engine, table_collation)
   ORDER BY table_name)) FROM information_schema.tables WHERE table_schema = DATABASE()),
 (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', table_name, column_name, ordinal_position, column_type,
   is_nullable, column_default, collation_name, extra, generation_expression)
   ORDER BY table_name, ordinal_position))
   FROM information_schema.columns WHERE table_schema = DATABASE()),
 (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', table_name, index_name, seq_in_index, column_name,
   non_unique, sub_part) ORDER BY table_name, index_name, seq_in_index))
   FROM information_schema.statistics WHERE table_schema = DATABASE()),
 (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', table_name, constraint_name, column_name,
   ordinal_position, referenced_table_name, referenced_column_name)
   ORDER BY table_name, constraint_name, ordinal_position))
   FROM information_schema.key_column_usage WHERE table_schema = DATABASE()),
 (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', constraint_name, update_rule, delete_rule)
   ORDER BY constraint_name))
   FROM information_schema.referential_constraints WHERE constraint_schema = DATABASE()),
 (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', table_name, constraint_name, check_clause)
   ORDER BY table_name, constraint_name))
   FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()),
 (SELECT MD5(GROUP_CONCAT(CONCAT_WS('|', table_name, view_definition) ORDER BY table_name))
   FROM information_schema.views WHERE table_schema = DATABASE()),
 (SELECT COUNT(*) FROM information_schema.triggers WHERE trigger_schema = DATABASE()),
 (SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = DATABASE())
"""


def _fingerprint(conn: Connection) -> tuple[Any, ...]:
    conn.exec_driver_sql("SET SESSION group_concat_max_len = 16777216")
    return tuple(conn.exec_driver_sql(_FINGERPRINT).one())


def _read_schema(conn: Connection, database: str) -> _Schema:
    schema = _Schema()
    views: list[str] = []
    for name, kind in conn.exec_driver_sql("SHOW FULL TABLES").all():
        if kind == "VIEW":
            ddl = conn.exec_driver_sql(f"SHOW CREATE VIEW `{name}`").one()[1]
            # no DEFINER (the replaying account may differ), no database name
            ddl = ddl.replace(f"`{database}`.", "")
            head, _, body = ddl.partition(" VIEW ")
            views.append(f"CREATE VIEW {body}" if "DEFINER" in head else ddl)
            continue
        schema.ddl.append(conn.exec_driver_sql(f"SHOW CREATE TABLE `{name}`").one()[1])
        result = conn.exec_driver_sql(f"SELECT * FROM `{name}`")
        rows = [tuple(r) for r in result]
        if rows:
            schema.rows.append((name, list(result.keys()), rows))
    schema.ddl += views
    return schema


def open_databases(backend: str, server: URL) -> Databases:
    """The session's databases on ``server`` (raises if the server cannot be used)."""
    return PostgresDatabases(server) if backend == "postgresql" else MysqlDatabases(server)
