"""The rules area's errors: :class:`punchd.errors.RulesError` (the one family, shared with the
processing shell) and :class:`FileProblems`, a file a person gave."""

from __future__ import annotations

from pathlib import Path

from punchd.errors import RulesError

__all__ = ["FileProblems", "RulesError"]


class FileProblems(RulesError):
    """Every problem of a file a person gave (a rules file, a holiday file): shown one per
    line under the file's name, then "nothing was changed"."""

    def __init__(self, path: Path | str, problems: list[str] | str) -> None:
        self.path = Path(path)
        super().__init__(problems)
