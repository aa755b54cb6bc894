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

from collections.abc import Mapping
from types import MappingProxyType
from typing import Self


class PunchdError(Exception):
    """A user-facing failure: the message says what went wrong and where.

    ``msgid``/``params``: the same message as an English catalogue id with ``%(name)s``
    placeholders and its values, set (:meth:`worded`) where the web console words it in the
    reader's language; None: only the English ``str()`` exists."""

    msgid: str | None = None
    params: Mapping[str, str | int] = MappingProxyType({})

    def worded(self, msgid: str, **params: str | int) -> Self:
        """This error with its message id and values (the id is listed, marked for the
        catalogue, in ``punchd.web.forms``)."""
        self.msgid, self.params = msgid, params
        return self


class InvalidInput(PunchdError):
    """A value a person gave is not acceptable (a date, a name that is too long …)."""


class RulesError(PunchdError, ValueError):
    """The rules cannot be used as given: a rules file, a holiday file, the stored rules or an
    everyday edit (leave, punch, holiday, schedule, setting). One or more problems, each a
    complete sentence with its location; ``problems`` keeps them apart (a file's problems are
    printed one per line), ``str()`` joins them.

    Defined here, not in ``punchd.rules``, because the processing shell raises it too when it
    reads the stored rules. A ``ValueError`` too: callers that catch the engine's own
    ``ValueError`` checks keep working."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))
