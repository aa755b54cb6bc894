"""Alembic environment for punchd's collector schema.

punchd drives Alembic from code (``punchd.storage.database``) and hands over an open
connection in ``config.attributes["connection"]``. For developers running the ``alembic``
command with ``migrations/alembic.ini``, the URL comes from ``$PUNCHD_DATABASE_URL`` or
``sqlalchemy.url`` in that file; ``alembic ... --sql`` renders the SQL offline.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from punchd.storage.schema import metadata

config = context.config
if config.config_file_name and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = os.environ.get("PUNCHD_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set PUNCHD_DATABASE_URL (or sqlalchemy.url in alembic.ini)")
    return url


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; autogenerate batch operations for it.
        render_as_batch=True,
        **kwargs,
    )


def run_with_connection(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with_connection(connection)
        return
    from punchd.storage.database import make_engine

    engine = make_engine(_url())
    try:
        with engine.begin() as connection:
            run_with_connection(connection)
    finally:
        engine.dispose()


main()
