"""The one error family a person sees: every refusal or failure punchd reports to a user is a
:class:`PunchdError` whose ``str()`` is already phrased for them (what, and where) and never
contains a secret. Front doors (the CLI, the web console) catch this class and show the
message; anything else escaping an operation is a bug.

Each package defines its own subclasses next to the code that raises them (``ConfigError``,
``DatabaseUnavailable``, ``HRError``, ``RulesError``, ``ProcessError``, ``ReportError`` …);
``docs/architecture.md`` lists them. The device drivers keep their own family
(:class:`punchd.drivers.DriverError`): they import nothing of the application, and a driver
failure is recorded on the collection run rather than raised to a person.
"""

from __future__ import annotations


class PunchdError(Exception):
    """A user-facing failure: the message says what went wrong and where."""


class InvalidInput(PunchdError):
    """A value a person gave is not acceptable (a date, a name that is too long …)."""
