"""Mutated roster (CSV, XLSX) and rules (TOML) files: never a traceback, never half-imported.

Seeded mutations of valid files go through the parse/validate functions in-process (and, when
a file is accepted, into the database in a transaction that is rolled back: a value the checks
let through must not make the database fail either), and a smaller number through the real
``punchd`` command, comparing the database before and after every refused file. The only
outcomes allowed are a result or the documented errors: ``RulesError`` (rules),
``RosterFileError`` and row errors (roster).

``PUNCHD_FUZZ_N`` (default 1000) mutations per kind in-process and ``PUNCHD_FUZZ_CLI_N``
(default 4) per kind through the command; ``PUNCHD_FUZZ_SEED`` changes the seed.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from punchd.hr import service as hr
from punchd.hr.roster import RosterFileError, read_roster
from punchd.rules.file import RulesError, parse_rules_all
from punchd.rules.sync import apply_rules_file, check_rules
from punchd.storage.schema import (
    att_audit,
    att_card,
    att_department,
    att_employee,
    att_holiday,
    att_period,
    att_schedule,
    att_schedule_override,
    att_setting,
    att_shift,
    att_shift_period,
)

from .cli_helpers import punchd
from .helpers.org import EXAMPLE, seed_org

N = int(os.environ.get("PUNCHD_FUZZ_N", "1000"))
CLI_N = int(os.environ.get("PUNCHD_FUZZ_CLI_N", "4"))
SEED = int(os.environ.get("PUNCHD_FUZZ_SEED", "20261129"))
MAX_ROWS = 2_000  # max_roster_rows for the fuzz: mutations may multiply rows
T_NOW = datetime(2026, 11, 29, 10, 0)  # site time of the imports

ROSTER_CSV = (
    "\ufeffemployee_no,name,department,department_name,enroll_no,card_no,hire_date,"
    "separation_date\r\n"
    "E001,张三,OPS,Operations,000101,10000001,2024-03-01,\r\n"
    "E002,Li Si,OPS,Operations,000102,10000002,2024/3/4,2025-06-30\r\n"
    'E003,"Wang, Wu",LAB,,103,,2023-12-31 00:00:00,\r\n'
    "E004,Zhao Liu,LAB,Laboratory,104,10000004,2024-01-15,\r\n"
)

#: Values that have made parsers or databases fail before.
NASTY_TEXT = [
    "\x00",
    "A\x00B",
    "\x1b[2J",
    "\u202e",
    '=HYPERLINK("http://x","y")',
    "[/bold] x",
    "",
    " ",
    "x" * 5000,
    "𝔘𝔫𝔦",
    "\ud7ff",
    "1.23457E+11",
    "１２３",
    "0001-01-01",
    "9999-12-31",
    "2024-02-30",
    "-1",
    "99999999999",
    "1e308",
    "nan",
]
NASTY_NUMBERS = [
    "100000000000000000000",
    "99999999999",
    "9223372036854775808",
    "-1",
    "0",
    "721",
    "1441",
    "1e308",
    "inf",
    "nan",
    "-0",
    "0x7fffffff",
    "1_000_000",
    "3.5",
    "true",
    '"5"',
    "[]",
    "{}",
]
NASTY_TOML_STRINGS = [
    '"6pm"',
    '"24:00"',
    '"23:60"',
    '""',
    '"\\u0000"',
    '"A\\u001b[2J"',
    '"' + "X" * 40 + '"',
    "2026-02-30",
    "0001-01-01",
    "9999-12-31",
    "08:30:00",
    "1979-05-27T07:32:00Z",
    "[" * 60 + "]" * 60,
    "{ a = 1 }",
    '"late"',
]


# ------------------------------------------------------------------------------ mutations


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """One to three byte-level edits."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not out:
            out += bytes([rng.randrange(256)])
        at = rng.randrange(len(out))
        op = rng.randrange(7)
        if op == 0:
            out[at] = rng.randrange(256)
        elif op == 1:
            out[at:at] = bytes(
                rng.choice([0, 0x1B, 0xFF, 0xFE, 0x80, 0x0A, 0x22, 0x5B])
                for _ in range(rng.randint(1, 4))
            )
        elif op == 2:
            del out[at : at + rng.randint(1, 64)]
        elif op == 3:
            piece = out[at : at + rng.randint(1, 200)]
            out[at:at] = piece * rng.randint(1, 5)
        elif op == 4:
            del out[at:]
        elif op == 5:
            other = rng.randrange(len(out))
            out[at], out[other] = out[other], out[at]
        else:
            out[at:at] = rng.choice([b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"\r", b"\n" * 300])
    return bytes(out)


def mutate_rules(rng: random.Random, text: str) -> bytes:
    """A token-level edit of the TOML most of the time, else raw bytes."""
    op = rng.randrange(8)
    if op == 0:
        return mutate_bytes(rng, text.encode())
    if op == 1:  # a number
        spots = list(re.finditer(r"(?<=[=\[ ])\d+(?=\s*(#|\n|,|\]))", text))
        if spots:
            m = rng.choice(spots)
            return (text[: m.start()] + rng.choice(NASTY_NUMBERS) + text[m.end() :]).encode()
    if op == 2:  # a value
        spots = list(re.finditer(r'(?<== )("[^"\n]*"|\d{4}-\d\d-\d\d)', text))
        if spots:
            m = rng.choice(spots)
            return (text[: m.start()] + rng.choice(NASTY_TOML_STRINGS) + text[m.end() :]).encode()
    lines = text.split("\n")
    at = rng.randrange(len(lines))
    if op == 3:  # a key misspelt
        lines[at] = re.sub(r"^(\w)(\w*)", lambda m: m.group(2) + m.group(1), lines[at])
    elif op == 4:
        del lines[at : at + rng.randint(1, 8)]
    elif op == 5:
        lines[at:at] = lines[at : at + rng.randint(1, 8)]
    elif op == 6:
        lines.insert(
            at, rng.choice(["[[period]]", "[[shift]]", "[settings]", "x = 1", "[calendar]"])
        )
    else:  # a whole section or more gone: the kind of file that used to wipe the rules
        return "\n".join(lines[: rng.randrange(len(lines))]).encode()
    return "\n".join(lines).encode()


def mutate_csv(rng: random.Random, text: str) -> bytes:
    op = rng.randrange(7)
    if op == 0:
        return mutate_bytes(rng, text.encode("utf-8"))
    rows = [line.split(",") for line in text.split("\r\n")]
    r = rng.randrange(len(rows))
    if op in (1, 2):
        c = rng.randrange(len(rows[r]))
        rows[r][c] = rng.choice(NASTY_TEXT)
    elif op == 3:
        rows.insert(rng.randrange(len(rows)), [""] * rng.randint(0, 9))
    elif op == 4:
        rows = rows[:r] + rows[r:] * rng.randint(1, 50)  # many rows, many duplicates
    elif op == 5:
        del rows[r]
    else:
        encoded = "\r\n".join(",".join(row) for row in rows).encode(
            rng.choice(["utf-16", "gb18030", "utf-8"]), errors="replace"
        )
        return encoded[: -rng.randint(0, 3) or None]
    return "\r\n".join(",".join(row) for row in rows).encode("utf-8")


def base_xlsx() -> bytes:
    """The same roster as an XLSX: a sheet "roster", text cells."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "roster"
    for row in csv.reader(io.StringIO(ROSTER_CSV.lstrip("\ufeff"), newline="")):
        ws.append([cell or None for cell in row])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def mutate_xlsx(rng: random.Random, data: bytes) -> bytes:
    op = rng.randrange(6)
    if op == 0:
        return mutate_bytes(rng, data)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    sheet = "xl/worksheets/sheet1.xml"
    if op == 1:
        name = rng.choice(
            [
                sheet,
                sheet,
                "xl/workbook.xml",
                "xl/sharedStrings.xml",
                "[Content_Types].xml",
                "xl/_rels/workbook.xml.rels",
                "xl/styles.xml",
            ]
        )
        if name in parts:
            parts[name] = mutate_bytes(rng, parts[name])
    elif op == 2:
        del parts[rng.choice(sorted(parts))]
    elif op == 3:  # cell references
        text = parts[sheet].decode()
        refs = list(re.finditer(r' r="([A-Z]+)?(\d+)"', text))
        m = rng.choice(refs)
        bad = rng.choice(["A", "0", "A0", "ZZZZZ2", "A-1", "", "A1048577", "XFD1048576", "2A"])
        parts[sheet] = (text[: m.start()] + f' r="{bad}"' + text[m.end() :]).encode()
    elif op == 4:  # a cell's text
        key = "xl/sharedStrings.xml" if "xl/sharedStrings.xml" in parts else sheet
        text = parts[key].decode()
        spots = list(re.finditer(r"<t[^>]*>([^<]*)</t>", text))
        if spots:
            m = rng.choice(spots)
            value = rng.choice([*NASTY_TEXT, "&#0;", "&#x1b;", "<", "&bogus;", "]]>"])
            if not value.startswith("&") and value not in ("<", "]]>"):
                value = value.replace("&", "&amp;").replace("<", "&lt;")
            parts[key] = (text[: m.start(1)] + value + text[m.end(1) :]).encode("utf-8", "replace")
    else:  # a far-away row: the sheet "extends" to the last row Excel has
        text = parts[sheet].decode()
        row = rng.choice([1_048_576, 3_000_000, 150, 10**12])
        far = f'<row r="{row}"><c r="A{row}" t="inlineStr"><is><t>X</t></is></c></row>'
        parts[sheet] = text.replace("</sheetData>", far + "</sheetData>").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in parts.items():
            z.writestr(name, content)
    return buf.getvalue()


def cases(mutate: Callable[[random.Random, bytes | str], bytes], base, n: int, seed: int):
    rng = random.Random(seed)
    for i in range(n):
        yield i, mutate(rng, base)


# ------------------------------------------------------------------------------ in-process


def one_line(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message, repr(message)


def test_mutated_rules_files_never_crash(engine: Engine, tmp_path: Path) -> None:
    seed_org(engine)
    base = EXAMPLE.read_text(encoding="utf-8")
    accepted = loaded = 0
    for i, data in cases(mutate_rules, base, N, SEED):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # read_rules_text's refusal; its own test is in test_rules_file
        rules, problems = parse_rules_all(text, source=f"case{i}")
        for problem in problems:
            one_line(problem)
        with engine.connect() as conn:
            problems += check_rules(conn, rules, references_only=bool(problems))
            conn.rollback()
            if problems:
                continue
            accepted += 1
            transaction = conn.begin()
            try:
                apply_rules_file(conn, rules, actor="fuzz")
                loaded += 1
            except RulesError as exc:
                for problem in exc.problems:
                    one_line(problem)
            finally:
                transaction.rollback()
    assert 0 < accepted < N  # the mutations reach both sides
    assert loaded > 0


def _roster_case(engine: Engine, path: Path) -> str:
    """read → check → apply (rolled back); the outcome."""
    try:
        roster = read_roster(path, max_rows=MAX_ROWS)
    except RosterFileError as exc:
        one_line(str(exc))
        assert str(exc).startswith(str(path))
        return "file error"
    for error in roster.errors:
        one_line(str(error))
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            errors = roster.errors + hr.check_roster(conn, roster.rows + roster.partial)
            if errors:
                return "row errors"
            hr.apply_roster(conn, roster.rows, actor="fuzz", now=T_NOW)
            return "imported"
        finally:
            transaction.rollback()


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_mutated_roster_files_never_crash(engine: Engine, tmp_path: Path, kind: str) -> None:
    if kind == "csv":
        base, mutate = ROSTER_CSV, mutate_csv
    else:
        base, mutate = base_xlsx(), mutate_xlsx
    seen: dict[str, int] = {}
    path = tmp_path / f"roster.{kind}"
    for _, data in cases(mutate, base, N, SEED + (kind == "xlsx")):
        path.write_bytes(data)
        outcome = _roster_case(engine, path)
        seen[outcome] = seen.get(outcome, 0) + 1
    assert set(seen) == {"file error", "row errors", "imported"}, seen


# ------------------------------------------------------------------------- the real command

TABLES = (
    att_department,
    att_employee,
    att_card,
    att_audit,
    att_period,
    att_shift,
    att_shift_period,
    att_schedule,
    att_schedule_override,
    att_holiday,
    att_setting,
)


def db_state(engine: Engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(select(t)).all())) for t in TABLES}


def test_mutated_files_through_the_command(engine: Engine, db_url: str, tmp_path: Path) -> None:
    seed_org(engine)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
    env.update(
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_TIMEZONE="Asia/Shanghai",
        PUNCHD_MAX_ROSTER_ROWS=str(MAX_ROWS),
        XDG_DATA_HOME=str(tmp_path / "data"),
        NO_COLOR="1",
        COLUMNS="200",
    )
    assert punchd("rules", "load", str(EXAMPLE), env=env, cwd=tmp_path).returncode == 0
    runs = [
        ("rules.toml", ("rules", "load"), mutate_rules, EXAMPLE.read_text(encoding="utf-8")),
        ("roster.csv", ("employees", "import"), mutate_csv, ROSTER_CSV),
        ("roster.xlsx", ("employees", "import"), mutate_xlsx, base_xlsx()),
    ]
    outcomes: dict[int, int] = {}
    for k, (name, command, mutate, base) in enumerate(runs):
        path = tmp_path / name
        for _, data in cases(mutate, base, CLI_N, SEED + 100 + k):
            path.write_bytes(data)
            before = db_state(engine)
            result = punchd(*command, str(path), env=env, cwd=tmp_path)
            outcomes[result.returncode] = outcomes.get(result.returncode, 0) + 1
            assert "Traceback" not in result.stderr + result.stdout, result.stderr
            assert result.returncode in (0, 2), (name, result.returncode, result.stderr)
            if result.returncode:
                assert db_state(engine) == before, f"{name}: refused, yet the database changed"
                last = result.stderr.strip().splitlines()[-1]
                assert str(path) in last or name in last, result.stderr
    assert outcomes.get(2), outcomes
