"""The people operations of the application layer, called directly (as a web console would)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site, people
from punchd.config import Settings
from punchd.hr.roster import RosterFileError
from punchd.hr.service import HRError, NotFound
from punchd.storage.schema import att_audit, att_employee

CLERK = Actor("clerk")
HEADER = "employee_no,name,department,department_name,enroll_no,card_no,hire_date,separation_date"


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Site:
    settings = Settings(data_dir=tmp_path, timezone="Asia/Shanghai", max_roster_rows=10)
    return Site(settings, engine)


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def import_file(site: Site, path: Path, *, dry_run: bool = False) -> people.RosterImport:
    return people.import_roster(
        site, people.read_roster_file(site.settings, path), actor=CLERK, dry_run=dry_run
    )


def test_departments(site: Site) -> None:
    dept = people.add_department(site, " OPS ", "Operations", actor=CLERK)
    assert (dept.code, dept.name) == ("OPS", "Operations")
    with pytest.raises(HRError, match="department 'OPS' already exists"):
        people.add_department(site, "OPS", "Again", actor=CLERK)
    assert people.rename_department(site, "OPS", "Ops", actor=CLERK).name == "Ops"
    with pytest.raises(NotFound):
        people.rename_department(site, "NONE", "x", actor=CLERK)
    [listed] = people.list_departments(site)
    assert (listed.department.code, listed.department.name, listed.employees) == ("OPS", "Ops", 0)
    with site.engine.connect() as conn:
        by = conn.execute(select(att_audit.c.changed_by).distinct()).scalars().all()
    assert by == ["clerk"]


def test_roster_import_check_dry_run_and_rejection(site: Site, tmp_path: Path) -> None:
    path = write(
        tmp_path / "roster.csv",
        "E1,Zhang,OPS,Operations,101,9001,2024-01-01,",
        "E2,Li,OPS,,102,,2024-02-01,2024-03-31",
    )
    roster = people.read_roster_file(site.settings, path)
    assert people.check_roster(site, roster) == []
    dry = import_file(site, path, dry_run=True)
    assert dry.dry_run and dry.summary.created == ["E1", "E2"]
    with site.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(att_employee)).scalar() == 0
    done = import_file(site, path)
    assert not done.dry_run
    assert (done.summary.created, done.summary.cards_issued) == (["E1", "E2"], ["9001"])
    assert done.summary.departments_created == ["OPS"]

    bad = write(tmp_path / "bad.csv", "E3,Wang,OPS,,101,,2024-01-01,", "E4,,OPS,,,,2024-01-01,")
    with pytest.raises(people.RosterRejected) as caught:
        import_file(site, bad)
    assert str(caught.value) == "nothing imported: 2 error(s) in 2 row(s) of bad.csv"
    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "enroll_no"), (3, "name")]
    assert [
        e.row for e in people.check_roster(site, people.read_roster_file(site.settings, bad))
    ] == [2, 3]

    with pytest.raises(RosterFileError, match="no such file"):
        people.read_roster_file(site.settings, tmp_path / "missing.csv")


def test_employees_separation_and_cards(site: Site, tmp_path: Path) -> None:
    import_file(
        site,
        write(
            tmp_path / "roster.csv",
            "E1,Zhang,OPS,,101,9001,2024-01-01,",
            "E2,Li,QA,,102,,2024-02-01,2024-03-31",
        ),
    )
    listed = people.list_employees(site)
    assert [(i.employee.employee_no, i.cards) for i in listed.employees] == [("E1", ["9001"])]
    assert listed.hidden == 1
    everyone = people.list_employees(site, include_leavers=True)
    assert [i.employee.employee_no for i in everyone.employees] == ["E1", "E2"]
    assert people.list_employees(site, department="QA").hidden == 1
    with pytest.raises(NotFound, match="unknown department 'XX'"):
        people.list_employees(site, department="XX")

    left = people.separate(site, "E1", date(2024, 6, 30), actor=CLERK)
    assert (left.previous, left.employee.separation_date, left.changed) == (
        None,
        date(2024, 6, 30),
        True,
    )
    assert not people.separate(site, "E1", date(2024, 6, 30), actor=CLERK).changed
    # the CLI's separation is the console's: the card is withdrawn from the next day
    assert people.show_employee(site, "E1").cards == []
    [withdrawal] = [c for c in people.list_cards(site, "E1") if c.employee_no is None]
    assert withdrawal.effective_from == datetime(2024, 7, 1)
    back = people.unseparate(site, "E1", actor=CLERK)
    assert (back.previous, back.employee.separation_date) == (date(2024, 6, 30), None)
    assert people.show_employee(site, "E1").cards == ["9001"]  # given back

    at = datetime(2024, 7, 1, 8, 0)
    issued = people.issue_card(site, "9001", "E2", at, actor=CLERK)
    assert (issued.change.previous_owner, issued.change.new_owner) == ("E1", "E2")
    assert issued.employee.employee_no == "E2" and issued.other_cards == []
    with pytest.raises(HRError, match="already has an entry"):
        people.issue_card(site, "9001", "E1", at, actor=CLERK)
    withdrawn = people.withdraw_card(site, "9001", datetime(2024, 8, 1), actor=CLERK)
    assert (withdrawn.previous_owner, withdrawn.new_owner) == ("E2", None)
    assert [(c.card_no, c.employee_no) for c in people.list_cards(site)] == [("9001", None)]
    assert [c.employee_no for c in people.list_cards(site, "E1")] == ["E1", "E2", None]

    detail = people.show_employee(site, "E1")
    assert (detail.status, detail.cards) == ("employed", [])
    assert [c.action for c in detail.changes] == ["unseparate", "separate", "create"]
    assert all(c.by == "clerk" for c in detail.changes)
    with pytest.raises(NotFound):
        people.show_employee(site, "E9")


def test_roster_templates(tmp_path: Path) -> None:
    csv_path, xlsx_path = tmp_path / "t.csv", tmp_path / "t.xlsx"
    assert list(people.write_roster_templates([csv_path, xlsx_path])) == [csv_path, xlsx_path]
    with pytest.raises(people.TemplateExists) as caught:
        list(people.write_roster_templates([tmp_path / "new.csv", csv_path]))
    assert caught.value.path == csv_path
    assert not (tmp_path / "new.csv").exists()  # every path is checked before writing
    assert list(people.write_roster_templates([csv_path], overwrite=True)) == [csv_path]
    with pytest.raises(RosterFileError, match="unknown file type"):
        list(people.write_roster_templates([tmp_path / "t.pdf"]))
