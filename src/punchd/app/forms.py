"""What is wrong with a console form, by field: the one type every console operation raises
when values a person typed cannot be used (nothing was written then).

A :class:`Problem` is an English catalogue message with ``%(name)s`` placeholders and their
values, so that the console words it in the reader's language; a message of a lower layer
that has no catalogue entry is kept as it is (:meth:`Problem.said`, or :func:`problem_of` for
an error that carries its own message id).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from punchd.errors import InvalidInput, PunchdError, RulesError
from punchd.processing.closing import PeriodClosed


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong with one field: English text with ``%(name)s`` placeholders (the
    console translates the text, then fills them in) and their values."""

    text: str
    params: Mapping[str, object] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text % dict(self.params)

    @classmethod
    def said(cls, message: str) -> Problem:
        """A message of the rules layer, shown as it is (no placeholders in it)."""
        return cls(message.replace("%", "%%"))


def problem_of(exc: PunchdError) -> Problem:
    """An error as a problem: its message id and values where it has them (see
    :class:`punchd.errors.PunchdError`), else its English sentence as it is."""
    if exc.msgid is not None:
        return Problem(exc.msgid, dict(exc.params))
    return Problem.said(str(exc))


class FormProblems(InvalidInput):
    """Values of a form that cannot be used, by field; nothing was changed. A plain string
    is a catalogue message without values."""

    def __init__(self, problems: Mapping[str, Problem | str]) -> None:
        self.problems: dict[str, Problem] = {
            k: v if isinstance(v, Problem) else Problem(v) for k, v in problems.items()
        }
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.problems.items()))


@contextmanager
def rules_problem(field_name: str) -> Iterator[None]:
    """What the rules layer refuses in the block is the problem of ``field_name``, nothing
    saved; a closed pay period is no fault of the form and passes as it is (a refusal)."""
    try:
        yield
    except PeriodClosed:
        raise
    except RulesError as exc:
        raise FormProblems({field_name: problem_of(exc)}) from None


__all__ = ["FormProblems", "Problem", "problem_of", "rules_problem"]
