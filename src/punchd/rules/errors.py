"""The one error of the rules area: a rules file, a holiday file, the stored rules or an
everyday edit (leave, punch, holiday, schedule, setting) cannot be used as given."""

from __future__ import annotations

from pathlib import Path

from punchd.errors import PunchdError


class RulesError(PunchdError, ValueError):
    """One or more problems, each a complete sentence with its location. ``problems`` keeps
    them apart (a file's problems are printed one per line); ``str()`` joins them.

    A ``ValueError`` too: the engine's own checks raise ``ValueError`` and callers that
    catch both keep working."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class FileProblems(RulesError):
    """Every problem of a file a person gave (a rules file, a holiday file): shown one per
    line under the file's name, then "nothing was changed"."""

    def __init__(self, path: Path | str, problems: list[str] | str) -> None:
        self.path = Path(path)
        super().__init__(problems)
