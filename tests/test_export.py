"""emkit export: the gradebook import files of Canvas and Moodle, one row per roster student, nothing dropped.

The headers are those the platforms' own exports write, which their imports
read back: Canvas's gradebook export starts ``Student, ID, SIS User ID, SIS
Login ID, Section`` then one column per assignment, with a ``Points
Possible`` row under the header; Moodle's plain-text grade export writes its
default user fields ``First name, Last name, ID number, Institution,
Department, Email address`` then the grade items.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from emkit.__main__ import main
from emkit.grading import export

CANVAS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE = ["First name", "Last name", "ID number", "Institution", "Department", "Email address"]


def submission(student: str, points: float, graded: bool = True) -> dict:
    return {"student": student, "submission": f"{student}.ipynb", "status": "ok" if graded else "malformed notebook",
            "graded": graded, "points": points, "max_points": 13.0, "questions": []}  # fmt: skip


REPORT = {
    "assignment": "Homework 3",
    "submissions": [
        submission("ann", 13.0),
        submission("ben", 7.5),
        submission("cat", 0.0),
        submission("dan", 0.0, graded=False),
        submission("eve", 11.25),  # on no roster line
    ],
}
ROSTER = """\
submission,name,id,sis_id,login,section,email
ann.ipynb,"Lovelace, Ann",1001,S-1,ann.l,Tue,ann@uni.test
ben,Ben Okafor,1002,S-2,ben.o,Tue,ben@uni.test
,cat,1003,S-3,cat.n,Wed,cat@uni.test
dan.ipynb,Dan Ito,1004,S-4,dan.i,Wed,dan@uni.test
fay.ipynb,Fay Wu,1005,S-5,fay.w,Wed,fay@uni.test
"""


@pytest.fixture
def files(tmp_path):
    report = tmp_path / "grades.json"
    report.write_text(json.dumps(REPORT), encoding="utf-8")
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    return report, roster, tmp_path


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_canvas_file_has_canvas_header_and_one_row_per_roster_student(files):
    report, roster, tmp = files
    done = export.export(report, "canvas", tmp / "canvas.csv", roster=roster)
    table = rows(tmp / "canvas.csv")
    assert table[0] == [*CANVAS, "Homework 3"]
    assert table[1] == ["    Points Possible", "", "", "", "", "13"]
    assert table[2:] == [
        ["Lovelace, Ann", "1001", "S-1", "ann.l", "Tue", "13"],
        ["Ben Okafor", "1002", "S-2", "ben.o", "Tue", "7.5"],
        ["cat", "1003", "S-3", "cat.n", "Wed", "0"],  # matched by name: a 0 that was earned
        ["Dan Ito", "1004", "S-4", "dan.i", "Wed", ""],  # could not be graded: empty, not 0
        ["Fay Wu", "1005", "S-5", "fay.w", "Wed", ""],  # no submission
    ]
    assert done.rows == 5
    assert done.no_submission == ["Fay Wu (fay@uni.test)"]
    assert done.unmatched == ["eve.ipynb"]
    assert done.not_graded == ["dan.ipynb"]


def test_moodle_file_has_moodle_header_and_email_keys(files):
    report, roster, tmp = files
    export.export(report, "moodle", tmp / "moodle.csv", roster=roster, column="HW3 (notebook)")
    table = rows(tmp / "moodle.csv")
    assert table[0] == [*MOODLE, "HW3 (notebook)"]
    assert table[1:] == [
        ["Ann", "Lovelace", "S-1", "", "", "ann@uni.test", "13"],
        ["Ben", "Okafor", "S-2", "", "", "ben@uni.test", "7.5"],
        ["cat", "", "S-3", "", "", "cat@uni.test", "0"],
        ["Dan", "Ito", "S-4", "", "", "dan@uni.test", ""],
        ["Fay", "Wu", "S-5", "", "", "fay@uni.test", ""],
    ]


def test_without_a_roster_every_submission_gets_a_row(files):
    report, _, tmp = files
    done = export.export(report, "canvas", tmp / "c.csv")
    table = rows(tmp / "c.csv")
    assert [r[0] for r in table[2:]] == ["ann", "ben", "cat", "dan", "eve"]
    assert [r[-1] for r in table[2:]] == ["13", "7.5", "0", "", "11.25"]
    assert done.unmatched == [] and done.no_submission == [] and done.not_graded == ["dan.ipynb"]


def test_a_canvas_gradebook_export_with_a_submission_column_is_a_roster(files):
    report, _, tmp = files
    roster = tmp / "canvas-export.csv"
    roster.write_text(
        "Student,ID,SIS User ID,SIS Login ID,Section,Homework 2 (77),submission\n"
        "    Points Possible,,,,,10,\n"
        '"Lovelace, Ann",1001,S-1,ann.l,Tue,9,ann.ipynb\n',
        encoding="utf-8",
    )
    done = export.export(report, "canvas", tmp / "c.csv", roster=roster, column="Homework 3 (78)")
    assert rows(tmp / "c.csv")[2:] == [["Lovelace, Ann", "1001", "S-1", "ann.l", "Tue", "13"]]
    assert done.unmatched == ["ben.ipynb", "cat.ipynb", "dan.ipynb", "eve.ipynb"]


def test_names_that_a_spreadsheet_would_run_are_defused(tmp_path):
    report = {"assignment": "HW", "submissions": [submission("=HYPERLINK(1)", 1.0)]}
    export.export(report, "canvas", tmp_path / "c.csv")
    assert rows(tmp_path / "c.csv")[2][0] == "'=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("platform", "roster_text", "message"),
    [
        ("canvas", "who,mail\nx,y\n", "neither a 'submission' nor a 'name' column (its columns: who, mail)"),
        ("canvas", "name,email\nann,a@b\n", "no 'id' or 'sis_id' or 'login' column"),
        ("moodle", "name,id\nann,1\n", "no 'email' or 'sis_id' column"),
        ("canvas", "", "is empty"),
        ("canvas", "submission,id\nann.ipynb,1\nann,2\n", "'ann' is on lines 2 and 3"),
        ("canvas", "name,id\nann,1\nAnn,2\n", "'Ann' is on lines 2 and 3"),
    ],
)
def test_bad_rosters_are_refused_with_the_reason(files, platform, roster_text, message):
    report, _, tmp = files
    roster = tmp / "bad.csv"
    roster.write_text(roster_text, encoding="utf-8")
    with pytest.raises(export.ExportError, match="--roster") as info:
        export.export(report, platform, tmp / "out.csv", roster=roster)
    assert message in str(info.value)
    assert not (tmp / "out.csv").exists()


def test_two_submissions_for_one_student_are_refused(files):
    report, _, tmp = files
    roster = tmp / "r.csv"
    roster.write_text("name,id\nann,1\n", encoding="utf-8")
    data = dict(REPORT, submissions=[submission("ann", 1.0), dict(submission("ann", 2.0), submission="ann-v2.ipynb")])
    with pytest.raises(export.ExportError, match="matches two submissions, ann.ipynb and ann-v2.ipynb"):
        export.export(data, "canvas", tmp / "out.csv", roster=roster)


def test_bad_reports_and_platforms_are_refused(tmp_path):
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(export.ExportError, match="REPORT: .* is not JSON"):
        export.export(tmp_path / "x.json", "canvas", tmp_path / "o.csv")
    with pytest.raises(export.ExportError, match="no 'submissions' list"):
        export.export({"questions": []}, "canvas", tmp_path / "o.csv")
    with pytest.raises(export.ExportError, match="REPORT: no file"):
        export.export(tmp_path / "missing.json", "moodle", tmp_path / "o.csv")
    with pytest.raises(export.ExportError, match="platform must be one of canvas, moodle"):
        export.export(REPORT, "blackboard", tmp_path / "o.csv")
    with pytest.raises(export.ExportError, match="--column: 'Section' is one of the platform's own columns"):
        export.export(REPORT, "canvas", tmp_path / "o.csv", column="Section")


def test_cli_lists_what_it_could_not_place_and_exits_1_for_unmatched(files, capsys):
    report, roster, tmp = files
    code = main(["export", "canvas", str(report), "-o", str(tmp / "c.csv"), "--roster", str(roster)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "no submission: Fay Wu (fay@uni.test)" in err
    assert "unmatched: eve.ipynb" in err
    assert "could not be graded: dan.ipynb" in err
    assert f"wrote {tmp / 'c.csv'}: 5 students" in out
    assert len(rows(tmp / "c.csv")) == 2 + 5


def test_cli_exits_0_when_every_submission_found_its_student(files, capsys):
    report, roster, tmp = files
    roster.write_text(ROSTER + "eve.ipynb,Eve Park,1006,S-6,eve.p,Tue,eve@uni.test\n", encoding="utf-8")
    code = main(["export", "moodle", str(report), "-o", str(tmp / "m.csv"), "--roster", str(roster)])
    assert code == 0
    table = rows(tmp / "m.csv")
    assert len(table) == 1 + 6 and table[-1][-2:] == ["eve@uni.test", "11.25"]
    assert "unmatched" not in capsys.readouterr().err


def test_cli_exits_2_naming_the_missing_columns(files, capsys):
    report, _, tmp = files
    roster = tmp / "r.csv"
    roster.write_text("submission,name\nann.ipynb,Ann\n", encoding="utf-8")
    code = main(["export", "moodle", str(report), "-o", str(tmp / "m.csv"), "--roster", str(roster)])
    assert code == 2
    assert "no 'email' or 'sis_id' column (its columns: submission, name)" in capsys.readouterr().err
    assert not (tmp / "m.csv").exists()
