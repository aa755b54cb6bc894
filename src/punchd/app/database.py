"""The schema of the site's database: which revision it is at, and upgrading it."""

from __future__ import annotations

from dataclasses import dataclass

from punchd.config import Settings
from punchd.errors import PunchdError


@dataclass(frozen=True)
class Revision:
    #: the database's URL without its password
    url: str
    #: the revision the database is at; None: empty (no punchd tables)
    current: str | None
    #: the revision this punchd expects
    head: str


@dataclass(frozen=True)
class Upgraded:
    #: the revision before the upgrade; None: the database was empty
    before: str | None
    head: str


def _engine(settings: Settings):
    from punchd.storage.database import make_engine

    return make_engine(settings.db_url, **settings.database.model_dump())


def database_revision(settings: Settings) -> Revision:
    """The database's schema revision and this punchd's (nothing is changed)."""
    from punchd.storage.database import (
        DatabaseUnavailable,
        current_revision,
        describe_error,
        head_revision,
        safe_url,
    )

    url = safe_url(settings.db_url)
    try:
        current = current_revision(_engine(settings))
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        raise PunchdError(
            f"database {url} is unavailable: {describe_error(exc, settings.db_url)}"
        ) from None
    return Revision(url, current, head_revision())


def upgrade_database(settings: Settings) -> Upgraded:
    """Create the schema, or migrate it to this punchd's revision (idempotent)."""
    from punchd.storage.database import (
        DatabaseUnavailable,
        current_revision,
        describe_error,
        head_revision,
        upgrade,
    )

    try:
        engine = _engine(settings)
        before = current_revision(engine)
        upgrade(engine)
    except DatabaseUnavailable:
        raise
    except Exception as exc:
        raise PunchdError(f"upgrade failed: {describe_error(exc, settings.db_url)}") from None
    return Upgraded(before, head_revision())
