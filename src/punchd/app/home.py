"""Today at a glance: what the console's home page shows each role, read within the caller's
:class:`~punchd.app.access.Scope` (never wider).

* clocks (``clocks.view``): the devices needing attention and the changes waiting to be
  re-processed (:func:`punchd.app.collection.site_status`);
* results (``results.view``): the people late or absent today so far, and each department's
  day — within the scope's departments;
* self (``self.view``): the employee's own last 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from punchd.app import collection
from punchd.app.access import Scope
from punchd.app.site import Site
from punchd.notices import Notice
from punchd.storage import overview
from punchd.storage.database import DatabaseFailed

#: how far back an employee sees their own days on the home page
OWN_DAYS = 30
#: at most this many late/absent people are listed
LATE_ABSENT_MAX = 200


@dataclass(frozen=True)
class Glance:
    today: date
    #: None: the role does not see the clocks
    attention: list[str] | None = None
    #: the same as notices (code, params, English text) for a page that translates them
    notices: list[Notice] | None = None
    unprocessed_changes: int | None = None
    #: people late or absent today (None: the role does not see results)
    late_or_absent: list[Any] | None = None
    #: per department today (None: the role does not see results)
    departments: list[Any] | None = None
    #: the employee's own days, newest first (None: not an employee's account)
    own_days: list[Any] | None = None
    notes: list[str] = field(default_factory=list)


def _departments(scope: Scope) -> frozenset[int] | None:
    return None if scope.all_departments else scope.department_ids


def at_a_glance(site: Site, scope: Scope, *, today: date | None = None) -> Glance:
    """What ``scope``'s account sees on its home page for ``today`` (default: the site's)."""
    day = today or site.today()
    attention = notices = unprocessed = None
    if scope.can("clocks.view"):
        status = collection.site_status(site)
        attention, unprocessed = list(status.attention), status.reprocess[0]
        notices = list(status.notices)
    late = departments = own = None
    try:
        with site.engine.connect() as conn:
            if scope.can("results.view"):
                within = _departments(scope)
                late = overview.late_or_absent(
                    conn, day, department_ids=within, limit=LATE_ABSENT_MAX
                )
                departments = overview.department_day(conn, day, department_ids=within)
            if scope.can("self.view") and scope.employee_id is not None:
                own = overview.employee_days(
                    conn, scope.employee_id, day - timedelta(days=OWN_DAYS - 1), day
                )
    except SQLAlchemyError as exc:
        raise DatabaseFailed(site.settings.db_url, exc) from None
    return Glance(
        today=day,
        attention=attention,
        notices=notices,
        unprocessed_changes=unprocessed,
        late_or_absent=late,
        departments=departments,
        own_days=own,
    )
