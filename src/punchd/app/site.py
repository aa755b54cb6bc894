"""The site an operation runs against (settings + database) and the person acting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine

from punchd.clock import local_now, zone
from punchd.config import Settings
from punchd.errors import InvalidInput, PunchdError
from punchd.storage.audit import ACTOR_MAX, default_actor


@dataclass(frozen=True)
class Actor:
    """Who acts: the name every audit row of the operation records."""

    name: str

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip():
            raise InvalidInput(f"who acts must be a trimmed, non-blank name: {self.name!r}")
        if len(self.name) > ACTOR_MAX:
            raise InvalidInput(f"at most {ACTOR_MAX} characters, got {len(self.name)}")

    @classmethod
    def named(cls, text: str | None) -> Actor:
        """``text`` trimmed; absent or blank: the operating-system user (a shell's default)."""
        name = (text or "").strip()
        return cls(name or default_actor())


@dataclass(frozen=True)
class Site:
    """Settings and an engine on the site's database (schema checked, upgraded if allowed)."""

    settings: Settings
    engine: Engine

    @classmethod
    def open(cls, settings: Settings) -> Site:
        """Connect, check and (``auto_upgrade``) upgrade the schema; a PunchdError otherwise."""
        from punchd.storage.database import check_connection, ensure_schema, make_engine

        try:
            engine = make_engine(settings.db_url, **settings.database.model_dump())
            check_connection(engine)
            ensure_schema(engine, auto_upgrade=settings.auto_upgrade)
        except PunchdError:
            raise
        except Exception as exc:  # bad URL, missing driver module …
            raise PunchdError(
                f"cannot open the database: {exc.__class__.__name__}: {exc}"
            ) from None
        return cls(settings, engine)

    @property
    def zone(self) -> ZoneInfo:
        """The site's zone (settings.timezone, else the host's)."""
        return zone(self.settings.timezone)

    def now(self) -> datetime:
        """Naive wall-clock time at the site."""
        return local_now(self.zone)

    def today(self) -> date:
        return self.now().date()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self.engine.begin() as conn:
            yield conn
