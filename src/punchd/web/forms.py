"""How every console form is shown again when the change did not happen: the problems by
field and the status code, one rule for all pages.

- 400: values of the form that cannot be used (:class:`punchd.app.forms.FormProblems`),
  each problem next to its field;
- 409: a valid form that the state of things refuses (a closed pay period, a change made
  at the same time …), its message next to the field the route names.

A refusal that carries a message id (:meth:`punchd.errors.PunchdError.worded`) is worded in
the reader's language; :data:`WORDED` marks those ids for the catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping

from punchd import logs
from punchd.app.forms import FormProblems, Problem, problem_of
from punchd.errors import PunchdError
from punchd.web.i18n import N_

#: the message ids the layers below give their errors (tests/web/test_forms.py keeps this
#: list and theirs the same)
WORDED = (
    N_(
        "Refused: %(span)s lies in the closed pay period %(month)s; payroll may already have "
        "used it. Reopen the month first, or enter the change in an open month."
    ),
    N_("%(employee)s already has a manual punch at %(at)s"),
)

#: a page's problems by field: a :class:`Problem`, or a catalogue message without values
Problems = Mapping[str, Problem | str]


def said(exc: PunchdError) -> Problem:
    """The error as one problem: worded by its message id where it has one, else its English
    sentence as it is, without secrets."""
    return problem_of(exc) if exc.msgid is not None else Problem.said(logs.scrub(str(exc)))


def refusal(exc: PunchdError, field: str = "form") -> tuple[dict[str, Problem], int]:
    """The problems and status a form is shown again with after ``exc`` (see the module):
    FormProblems by their fields (400), any other refusal next to ``field`` (409)."""
    if isinstance(exc, FormProblems):
        return dict(exc.problems), 400
    return {field: said(exc)}, 409


__all__ = ["WORDED", "Problems", "refusal", "said"]
