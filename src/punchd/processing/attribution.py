"""Punch → employee, decided at processing time and never stored (pure: no database).

* a manual punch (``att_punch.employee_id`` set) belongs to that employee;
* a punch of a device whose ``user_code`` is ``"card"`` belongs to whoever held that card
  at the punch time (the card index);
* every other punch belongs to the employee whose enrolment number it carries.

A punch nobody owns (yet) is left out: it counts as soon as the roster has its person and
the dates are processed again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Protocol

#: ``(employee_id or None, enroll_no, punched_at, device user_code or None)``.
PunchRow = tuple[int | None, str, datetime, str | None]


class CardOwners(Protocol):
    """Who held a card at a time (``punchd.hr.service.CardIndex``)."""

    def owner(self, card_no: str, at: datetime) -> int | None: ...


def attribute(
    punches: Iterable[PunchRow],
    enroll_owners: Mapping[str, int],
    cards: CardOwners | None,
) -> Iterator[tuple[int, datetime]]:
    """``(employee_id, punched_at)`` of each punch someone owns, in input order.

    ``enroll_owners``: enrolment number → employee id; ``cards``: None when no card was
    ever issued (a card clock's punches then belong to nobody)."""
    for employee_id, enroll_no, at, user_code in punches:
        if employee_id is None:
            if user_code == "card":
                employee_id = cards.owner(enroll_no, at) if cards is not None else None
            else:
                employee_id = enroll_owners.get(enroll_no)
            if employee_id is None:
                continue
        yield employee_id, at
