"""The rules file written back (``rules.render``) and compared (``rules.diff``), pure: the
example file written and read again is the same rules; the diff of a file against itself is
empty, and against a changed one names each change field by field."""

from __future__ import annotations

import dataclasses
from importlib.resources import files

from punchd.rules.diff import diff_rules
from punchd.rules.file import RulesFile, parse_rules
from punchd.rules.render import render_rules

EXAMPLE = files("punchd.examples").joinpath("rules.example.toml").read_text(encoding="utf-8")


def _same(rules: RulesFile) -> RulesFile:
    """Without what only says where an entry stood in its file."""
    return dataclasses.replace(
        rules,
        source="",
        schedules=tuple(dataclasses.replace(s, where="") for s in rules.schedules),
        overrides=tuple(dataclasses.replace(o, where="") for o in rules.overrides),
    )


def test_the_example_written_back_is_the_same_rules() -> None:
    rules = parse_rules(EXAMPLE)
    text = render_rules(rules)
    again = parse_rules(text)
    assert _same(again) == _same(rules)
    assert render_rules(again) == text  # and writing is stable
    assert diff_rules(rules, again).changes == 0


def test_names_with_quotes_and_backslashes_survive() -> None:
    text = EXAMPLE.replace('name = "Office day"', 'name = "Office \\"A\\" \\\\ 办公室"')
    rules = parse_rules(text)
    assert parse_rules(render_rules(rules)).shifts[0].name == 'Office "A" \\ 办公室'


def test_the_diff_names_each_change() -> None:
    old = parse_rules(EXAMPLE)
    new = parse_rules(
        EXAMPLE.replace("collapse_minutes = 5 ", "collapse_minutes = 9 ")
        .replace("missing_minutes = 60\n", "")
        .replace('code = "G"\nstart = "22:00"', 'code = "G"\nstart = "21:00"')
    )
    diff = diff_rules(old, new)
    settings = {i.key: (i.what, i.fields) for i in diff.section("setting").items}
    assert settings["collapse_minutes"][0] == "changed"
    assert settings["collapse_minutes"][1][0].old == "5"
    assert settings["collapse_minutes"][1][0].new == "9"
    assert settings["missing_minutes"][0] == "removed"  # back to its default
    (g,) = diff.section("period").of("changed")
    assert g.key == "G" and [(f.field, f.old, f.new) for f in g.fields] == [
        ("start", '"22:00"', '"21:00"')
    ]
    assert diff.section("shift").items == ()  # a period's times do not change the shift
    assert diff.changes == 3
