"""How every console form is shown again when the change did not happen: the problems by
field and the status code, one rule for all pages.

- 400: values of the form that cannot be used (:class:`punchd.app.forms.FormProblems`),
  each problem next to its field;
- 409: a valid form that the state of things refuses (a closed pay period, a change made
  at the same time …), its message next to the field the route names.

A refusal that carries a message id (:meth:`punchd.errors.PunchdError.worded`) is worded in
the reader's language; :data:`WORDED` marks those ids for the catalogue.

A form whose second sending would make a second record carries a one-time token
(:func:`new_token` in a hidden ``once`` field; the route does its work through :func:`once`):
sent again, it waits for the first sending and gets its redirect.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from punchd import logs
from punchd.app.forms import FormProblems, Problem, problem_of
from punchd.errors import PunchdError
from punchd.web.auth import Caller
from punchd.web.i18n import N_

#: the message ids the layers below give their errors and the calendar's status lines
#: (tests/web/test_forms.py keeps this list and theirs the same)
WORDED = (
    N_(
        "Refused: %(span)s lies in the closed pay period %(month)s; payroll may already have "
        "used it. Reopen the month first, or enter the change in an open month."
    ),
    N_("%(employee)s already has a manual punch at %(at)s"),
    # a year's calendar status (rules.holidays.YEAR_WORDS)
    N_("%(year)s: entered dates only (China's official calendar: off)"),
    N_("%(year)s: China's official calendar from %(source)s"),
    N_("%(year)s: official calendar as entered, confirmed by %(who)s %(at)s UTC"),
    N_(
        "calendar for %(year)s not confirmed — no package has it; fixed-date statutory holidays "
        "and entered dates only"
    ),
    N_("public holidays of %(where)s from %(package)s"),
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


# ------------------------------------------------------------------------ one-time forms

#: how long a sent form's answer is kept, and how many at most
KEEP_SECONDS = 30 * 60
MAX_SENT = 2000
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass
class _Sent:
    at: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    target: str | None = None  # the first answer's redirect, once it succeeded


class SentForms:
    """The one-time tokens of the change forms already sent, by session: a form sent again
    waits for the first sending and gets its redirect, without doing the change twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sent: OrderedDict[tuple[int, str], _Sent] = OrderedDict()

    def entry(self, session_id: int, token: str) -> _Sent:
        now = time.monotonic()
        with self._lock:
            while self._sent and (
                len(self._sent) >= MAX_SENT
                or now - next(iter(self._sent.values())).at > KEEP_SECONDS
            ):
                self._sent.popitem(last=False)
            return self._sent.setdefault((session_id, token), _Sent(now))


_STORE_LOCK = threading.Lock()


def _sent_forms(request: Request) -> SentForms:
    state = request.app.state
    with _STORE_LOCK:
        store = getattr(state, "sent_forms", None)
        if store is None:
            store = state.sent_forms = SentForms()
    return store


def once(request: Request, caller: Caller, token: str, work: Callable[[], Response]) -> Response:
    """``work()`` once per form token (a missing or malformed token: every time)."""
    if caller.session is None or not _TOKEN.fullmatch(token):
        return work()
    sent = _sent_forms(request).entry(caller.session.id, token)
    with sent.lock:
        if sent.target is not None:
            return RedirectResponse(sent.target, status_code=303)
        response = work()
        if response.status_code == 303:
            sent.target = response.headers["location"]
        return response


def new_token() -> str:
    """A form's one-time token (its hidden ``once`` field)."""
    return secrets.token_urlsafe(18)


__all__ = ["WORDED", "Problems", "SentForms", "new_token", "once", "refusal", "said"]
