"""Roster files that try to make the import work without bound: time and peak memory.

    .venv/bin/python bench/roster_files.py [--rows 3000000]

Each attack is written to a temporary file and read with ``read_roster`` in a fresh child
process (so that each peak RSS is its own; Linux); prints the outcome, wall time and peak RSS:
  * xlsx-empty-rows:  a sheet whose XML has ``--rows`` rows with an empty styled cell each
                      (a column formatted down to the bottom), after 3 real rows;
  * xlsx-far-row:     3 real rows and one cell on row 1,048,576;
  * csv-empty-lines:  3 real rows and ``--rows`` empty lines;
  * csv-many-rows:    up to 200,000 real rows (refused above max_roster_rows);
  * xlsx-wide:        3 real rows, each with 16,384 filled columns.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from punchd.hr.roster import RosterFileError, read_roster, write_template

HEADER = "employee_no,name,department,hire_date\n"
ROWS = "".join(f"E{n},Name {n},OPS,2024-01-02\n" for n in range(3))


def _xlsx(path: Path, extra_rows: str, wide: bool = False) -> None:
    write_template(path)
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    rows = []
    for n in range(3):
        r = n + 2
        cells = [f"E{n}", f"Name {n}", "OPS", "", "", "", "2024-01-02"]
        xml = "".join(
            f'<c r="{"ABCDEFG"[i]}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
            for i, v in enumerate(cells)
        )
        if wide:
            xml += "".join(f'<c r="{_col(i)}{r}"><v>1</v></c>' for i in range(9, 16385))
        rows.append(f'<row r="{r}">{xml}</row>')
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet = sheet.replace("</sheetData>", "".join(rows) + extra_rows + "</sheetData>")
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def _col(i: int) -> str:
    out = ""
    while i:
        i, rest = divmod(i - 1, 26)
        out = chr(65 + rest) + out
    return out


def make(kind: str, path: Path, rows: int) -> None:
    if kind == "xlsx-empty-rows":
        _xlsx(path, "".join(f'<row r="{r}"><c r="A{r}" s="1"/></row>' for r in range(5, rows)))
    elif kind == "xlsx-far-row":
        _xlsx(path, '<row r="1048576"><c r="A1048576"><v>1</v></c></row>')
    elif kind == "xlsx-wide":
        _xlsx(path, "", wide=True)
    elif kind == "csv-empty-lines":
        path.write_text(HEADER + ROWS + "\n" * rows, encoding="utf-8")
    else:  # a size below the CSV limit: max_roster_rows refuses it
        body = "".join(f"E{n},Name {n},OPS,2024-01-02\n" for n in range(min(rows, 200_000)))
        path.write_text(HEADER + body, encoding="utf-8")


def child(path: str) -> None:
    started = time.monotonic()
    try:
        roster = read_roster(Path(path))
        outcome = f"{len(roster.rows)} rows, {len(roster.errors)} errors"
    except RosterFileError as exc:
        outcome = f"refused: {str(exc).split(': ', 1)[1][:70]}"
    wall = time.monotonic() - started
    # VmHWM, not ru_maxrss: Linux keeps the parent's ru_maxrss across exec.
    status = Path("/proc/self/status").read_text()
    peak = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    peak /= 1024
    print(f"{outcome}|{wall:.2f}|{peak:.0f}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3_000_000)
    args = parser.parse_args()
    kinds = ("xlsx-empty-rows", "xlsx-far-row", "xlsx-wide", "csv-empty-lines", "csv-many-rows")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            path = Path(tmp) / f"{kind}.{kind[: kind.index('-')]}"
            make(kind, path, args.rows)
            size = path.stat().st_size / 2**20
            result = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            outcome, wall, peak = result.stdout.strip().split("|")
            print(f"{kind:16} {size:7.1f} MiB file  {wall:>6} s  peak RSS {peak:>4} MiB  {outcome}")


if __name__ == "__main__":
    main()
