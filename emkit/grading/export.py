"""Grades into the learning platform: the gradebook import files of Canvas and Moodle.

``emkit export canvas|moodle REPORT.json -o FILE.csv [--roster roster.csv] [--column NAME]``
reads the grader's JSON report (``emkit grade --json``) and writes one CSV
file the platform imports as it is. Each submission's grade is its total
points (``points`` in the report).

Canvas (Grades > Import)
    The header of Canvas's own gradebook export, which its import reads
    back: ``Student, ID, SIS User ID, SIS Login ID, Section``, then one
    column per assignment, then a ``Points Possible`` row under the header.
    Canvas matches a row to a student by ``ID`` (the Canvas user id), else
    ``SIS User ID``, else ``SIS Login ID``; the name is only for people.
    The assignment column is ``--column`` (default: the report's assignment
    name). A name that Canvas does not know creates a new assignment; to
    fill an existing one, give its column title from a Canvas export, such
    as ``"Homework 3 (12345)"``.

Moodle (Grades > Import > CSV file)
    The columns of Moodle's plain-text grade export with its default user
    fields: ``First name, Last name, ID number, Institution, Department,
    Email address``, then one column per assignment. On import, set
    "Identify user by" to map ``Email address`` to the user's email address
    (or ``ID number`` to the ID number), and map the assignment column to a
    grade item (or to a new one).

The roster (``--roster``) is a CSV file with a header row; column names are
matched without regard to case, spaces or underscores, and other columns are
ignored:

==============  ===========================================================
``submission``  the student's notebook file name (``alice.ipynb``) or its
                stem (``alice``): how a row finds its submission
``name``        the student's name; matched against the submission's stem
                when ``submission`` is empty or absent
``id``          Canvas user ID (Canvas: ``ID``)
``sis_id``      institution's student number (Canvas: ``SIS User ID``;
                Moodle: ``ID number``); also ``SIS User ID``, ``ID number``
``login``       Canvas ``SIS Login ID``; also ``SIS Login ID``
``section``     Canvas section
``email``       Moodle ``Email address``; also ``Email address``
``first_name``  Moodle ``First name`` (default: the name before its last
``last_name``   word; ``Last name``: that last word)
==============  ===========================================================

``Student``, ``ID``, ``Section`` (Canvas's export header) are read as ``name``,
``id`` and ``section``, so a Canvas gradebook export with a ``submission``
column added is a roster. Canvas needs one of ``id``, ``sis_id``, ``login``;
Moodle one of ``email``, ``sis_id``: a roster without is refused, naming the
columns.

Every roster student gets exactly one row: a student without a submission
gets an empty grade and is listed as "no submission"; a submission that
could not be graded at all also gets an empty grade (never a silent 0) and
is listed. A submission that no roster row claims is listed as unmatched
and is not in the file (the command then exits with status 1). Without a
roster, the file has one row per submission, with what the report knows
(the student's name from the file name).
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CANVAS_HEADER", "MOODLE_HEADER", "ExportError", "Exported", "export", "read_roster"]

CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_HEADER = ["First name", "Last name", "ID number", "Institution", "Department", "Email address"]
PLATFORMS = ("canvas", "moodle")

_ALIASES = {
    "submission": "submission",
    "file": "submission",
    "notebook": "submission",
    "name": "name",
    "student": "name",
    "id": "id",
    "canvasid": "id",
    "sisid": "sis_id",
    "sisuserid": "sis_id",
    "idnumber": "sis_id",
    "login": "login",
    "sisloginid": "login",
    "section": "section",
    "email": "email",
    "emailaddress": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "institution": "institution",
    "department": "department",
}
_NEEDS = {"canvas": ("id", "sis_id", "login"), "moodle": ("email", "sis_id")}


class ExportError(ValueError):
    """Input that cannot make a gradebook file: the message names the argument and what is wrong."""


@dataclass
class Exported:
    """What :func:`export` wrote and what it could not place."""

    path: Path
    rows: int
    no_submission: list[str] = field(default_factory=list)  # roster students without a submission
    unmatched: list[str] = field(default_factory=list)  # submissions no roster row claims (not in the file)
    not_graded: list[str] = field(default_factory=list)  # submissions that could not be graded: empty grade


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]+", "", header.strip().lower())


def read_roster(path: Path | str, platform: str) -> list[dict[str, str]]:
    """The roster's rows as dicts of the canonical column names (see the module docstring)."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            rows = list(reader)
    except FileNotFoundError:
        raise ExportError(f"--roster: no file {path}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ExportError(f"--roster: {path} is not a UTF-8 CSV file ({exc})") from None
    if not header:
        raise ExportError(f"--roster: {path} is empty; it needs a header row (submission,name,id,sis_id,...)")
    columns: dict[str, int] = {}
    for j, h in enumerate(header):
        canon = _ALIASES.get(_key(h))
        if canon and canon not in columns:
            columns[canon] = j
    if "submission" not in columns and "name" not in columns:
        raise ExportError(
            f"--roster: {path} has neither a 'submission' nor a 'name' column (its columns: {', '.join(header)}); "
            "one of them says which submission is whose"
        )
    if not any(c in columns for c in _NEEDS[platform]):
        wanted = " or ".join(repr(c) for c in _NEEDS[platform])
        raise ExportError(
            f"--roster: {path} has no {wanted} column (its columns: {', '.join(header)}); "
            f"{platform.capitalize()} identifies students by them"
        )
    out = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        entry = {c: (row[j].strip() if j < len(row) else "") for c, j in columns.items()}
        if entry.get("name") == "Points Possible" and not entry.get("submission"):
            continue  # the second row of a Canvas gradebook export, not a student
        if not entry.get("submission") and not entry.get("name"):
            raise ExportError(f"--roster: {path} line {line} has neither a submission nor a name")
        entry["_line"] = str(line)
        out.append(entry)
    return out


def _load_report(report) -> dict:
    if isinstance(report, dict):
        data = report
    else:
        path = Path(report)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ExportError(f"REPORT: no file {path}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ExportError(f"REPORT: {path} is not JSON ({exc}); give the file emkit grade --json wrote") from None
    subs = data.get("submissions") if isinstance(data, dict) else None
    if not isinstance(subs, list) or not all(isinstance(s, dict) for s in subs):
        raise ExportError("REPORT: no 'submissions' list in it; give the file emkit grade --json wrote")
    for i, s in enumerate(subs):
        if not (s.get("submission") or s.get("student")):
            raise ExportError(f"REPORT: submission {i + 1} has neither 'submission' nor 'student'")
    return data


def _grade(s: dict) -> str:
    """The grade cell: total points, plainly written; empty when the submission could not be graded."""
    if s.get("graded") is False:
        return ""
    try:
        points = float(s.get("points", 0.0))
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(points):
        return ""
    return f"{round(points, 4):.4f}".rstrip("0").rstrip(".")


def _safe(text: str) -> str:
    """A name a spreadsheet will not run as a formula (names come from file names students chose)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _split(name: str) -> tuple[str, str]:
    if "," in name:  # Canvas's sortable "Last, First"
        last, first = (p.strip() for p in name.split(",", 1))
        return first, last
    first, _, last = name.strip().rpartition(" ")
    return (first, last) if first else (last, "")


def _stem(s: dict) -> str:
    return Path(str(s.get("submission") or s.get("student"))).stem


def export(
    report,
    platform: str,
    out: Path | str,
    *,
    roster: Path | str | None = None,
    column: str | None = None,
) -> Exported:
    """Write the gradebook import file of ``platform`` ("canvas" or "moodle") for ``report`` (a dict or a path)."""
    if platform not in PLATFORMS:
        raise ExportError(f"platform must be one of {', '.join(PLATFORMS)}; got {platform!r}")
    data = _load_report(report)
    subs: list[dict] = data["submissions"]
    column = (column if column is not None else str(data.get("assignment") or "")).strip()
    if not column:
        raise ExportError("--column: the assignment column needs a name (the report has no 'assignment')")
    if column in (CANVAS_HEADER if platform == "canvas" else MOODLE_HEADER):
        raise ExportError(f"--column: {column!r} is one of the platform's own columns; choose another name")
    result = Exported(Path(out), 0)
    people: list[tuple[dict[str, str], dict | None]] = []
    if roster is None:
        for s in subs:
            people.append(({"name": str(s.get("student") or _stem(s))}, s))
    else:
        entries = read_roster(roster, platform)
        by_file: dict[str, int] = {}
        by_name: dict[str, int] = {}
        for k, e in enumerate(entries):
            if e.get("submission"):
                for key in {e["submission"], Path(e["submission"]).stem}:
                    if key in by_file and by_file[key] != k:
                        raise ExportError(
                            f"--roster: submission {e['submission']!r} is on lines {entries[by_file[key]]['_line']} "
                            f"and {e['_line']}"
                        )
                    by_file[key] = k
            elif e.get("name"):
                key = e["name"].casefold()
                if key in by_name:
                    raise ExportError(
                        f"--roster: name {e['name']!r} is on lines {entries[by_name[key]]['_line']} and {e['_line']}; "
                        "give those rows a 'submission'"
                    )
                by_name[key] = k
        claimed: dict[int, dict] = {}
        for s in subs:
            fname = Path(str(s.get("submission") or "")).name
            stem = _stem(s)
            k = by_file.get(fname, by_file.get(stem))
            if k is None:
                k = by_name.get(str(s.get("student") or stem).casefold(), by_name.get(stem.casefold()))
            if k is None:
                result.unmatched.append(fname or stem)
                continue
            if k in claimed:
                raise ExportError(
                    f"--roster: line {entries[k]['_line']} matches two submissions, "
                    f"{claimed[k].get('submission') or _stem(claimed[k])} and {fname or stem}; "
                    "give each its own 'submission'"
                )
            claimed[k] = s
        for k, e in enumerate(entries):
            people.append((e, claimed.get(k)))
            if k not in claimed:
                who = e.get("name") or e.get("submission")
                ident = e.get("email") or e.get("sis_id") or e.get("id") or e.get("login")
                result.no_submission.append(f"{who} ({ident})" if ident else who)
    for _e, s in people:
        if s is not None and s.get("graded") is False:
            result.not_graded.append(str(s.get("submission") or _stem(s)))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if platform == "canvas":
            w.writerow([*CANVAS_HEADER, column])
            max_points = max((_float(s.get("max_points")) for s in subs), default=0.0)
            w.writerow(["    Points Possible", "", "", "", "", _grade({"points": max_points})])
            for e, s in people:
                grade = _grade(s) if s is not None else ""
                w.writerow(
                    [
                        _safe(e.get("name", "")),
                        e.get("id", ""),
                        e.get("sis_id", ""),
                        e.get("login", ""),
                        e.get("section", ""),
                        grade,
                    ]
                )
        else:
            w.writerow([*MOODLE_HEADER, column])
            for e, s in people:
                grade = _grade(s) if s is not None else ""
                first, last = e.get("first_name", ""), e.get("last_name", "")
                if not first and not last:
                    first, last = _split(e.get("name", ""))
                w.writerow(
                    [
                        _safe(first),
                        _safe(last),
                        e.get("sis_id", ""),
                        e.get("institution", ""),
                        e.get("department", ""),
                        e.get("email", ""),
                        grade,
                    ]
                )
        result.rows = len(people)
    return result


def _float(x) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0
