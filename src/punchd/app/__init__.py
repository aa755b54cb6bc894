"""The application layer: every operation a person can trigger, once, for every front door.

The CLI and the web console are thin shells over this package: they parse what a person
typed or submitted, call one function here, and show the result. Each operation

* takes the :class:`Site` (settings + database) and, when it changes anything, the acting
  :class:`Actor` — the account or person the audit trail records;
* takes and returns typed values (dataclasses, dates), never text meant for a terminal;
* owns its transaction: it commits what it changed, or nothing;
* raises only :class:`punchd.errors.PunchdError` subclasses, whose message is for the user.

Modules: ``collection`` (collect now, device clocks, status), ``people`` (departments,
employees, roster import, separation, cards), ``rules`` (the rules file, leave, manual
punches, holidays, schedules), ``attendance`` (process, reports, re-processing),
``database`` (schema revision), ``accounts`` (console accounts, sign-in, sessions, API
tokens), ``access`` (roles and scopes), ``home`` (each role's home page), ``results`` (a
department's day, a person's days, within a scope).
"""

from punchd.app.site import Actor, Site

__all__ = ["Actor", "Site"]
