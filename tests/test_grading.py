"""emkit grade: a folder of good, partial, wrong, crashing, hanging and malformed submissions."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from emkit import grading

ROOT = Path(__file__).resolve().parents[1]

RIGHT_ASSIGN = "def assign_step(X, centers):\n    return ((X[:, None] - centers[None]) ** 2).sum(2).argmin(1)\n"
RIGHT_UPDATE = (
    "def update_step(X, labels, n_clusters):\n"
    "    return np.stack([X[labels == k].mean(0) for k in range(n_clusters)])\n"
)
WRONG_ASSIGN = "def assign_step(X, centers):\n    return ((X[:, None] - centers[None]) ** 2).sum(2).argmax(1)\n"
WRONG_UPDATE = (
    "def update_step(X, labels, n_clusters):\n"
    "    return np.stack([X[labels == k].sum(0) for k in range(n_clusters)]) / len(X)\n"
)


def submission(path: Path, *cells: str, source: str = "01_kmeans") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["emkit"] = {"student_version": True, "source": source}
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np")] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    subs = {
        "good": submission(folder / "good.ipynb", RIGHT_ASSIGN, RIGHT_UPDATE),
        "partial": submission(folder / "partial.ipynb", RIGHT_ASSIGN, WRONG_UPDATE),
        "wrong": submission(folder / "wrong.ipynb", WRONG_ASSIGN, WRONG_UPDATE),
        "raises": submission(folder / "raises.ipynb", "raise RuntimeError('student bug')", RIGHT_ASSIGN),
        "crash": submission(folder / "crash.ipynb", RIGHT_ASSIGN, "import os\nos._exit(3)"),
        "hang": submission(folder / "hang.ipynb", RIGHT_ASSIGN, "while True:\n    pass"),
        "flood": submission(folder / "flood.ipynb", "print('x' * 5_000_000)", RIGHT_ASSIGN, RIGHT_UPDATE),
        "unanswered": submission(
            folder / "unanswered.ipynb", "def assign_step(X, centers):\n    raise NotImplementedError"
        ),
    }
    victim = folder / "victim.ipynb"
    subs["victim"] = submission(victim, RIGHT_ASSIGN, RIGHT_UPDATE)
    subs["vandal"] = submission(
        folder / "vandal.ipynb",
        "import os, glob\n"
        "for f in glob.glob('*') + glob.glob('../*'):\n    os.remove(f) if os.path.isfile(f) else None\n"
        f"os.remove({str(victim)!r})",
        RIGHT_ASSIGN,
    )
    (folder / "malformed.ipynb").write_text('{"cells": [ this is not json', encoding="utf-8")
    subs["malformed"] = folder / "malformed.ipynb"
    order = [
        "good",
        "partial",
        "wrong",
        "raises",
        "crash",
        "hang",
        "flood",
        "unanswered",
        "malformed",
        "vandal",
        "victim",
    ]
    paths = [subs[k] for k in order]
    before = {p: p.read_bytes() for p in paths}
    report = folder / "out" / "grades.csv"
    messages = []
    results = grading.grade(
        paths, report, json_report=folder / "out" / "grades.json", timeout=8, progress=messages.append
    )
    rows = list(csv.DictReader(open(report, encoding="utf-8")))
    return {
        "results": results,
        "rows": rows,
        "before": before,
        "report": report,
        "messages": messages,
        "folder": folder,
    }


def scores(graded, student):
    return {r["question"]: float(r["score"]) for r in graded["rows"] if r["student"] == student}


def status(graded, student):
    return next(r.status for r in graded["results"] if r.student == student)


def test_good_partial_wrong(graded):
    assert scores(graded, "good") == {"01-assign": 1.0, "01-update": 1.0}
    assert scores(graded, "partial") == {"01-assign": 1.0, "01-update": 0.0}
    assert scores(graded, "wrong") == {"01-assign": 0.0, "01-update": 0.0}
    feedback = {r["question"]: r["feedback"] for r in graded["rows"] if r["student"] == "wrong"}
    assert "argmin, not argmax" in feedback["01-assign"]
    assert "divided each cluster's sum by N" in feedback["01-update"]


def test_errors_crashes_hangs_and_floods_are_reported_not_fatal(graded):
    assert "cell error" in status(graded, "raises") and "RuntimeError: student bug" in status(graded, "raises")
    assert scores(graded, "raises")["01-assign"] == 1.0  # later cells still ran
    assert "kernel died" in status(graded, "crash")
    assert scores(graded, "crash") == {"01-assign": 0.0, "01-update": 0.0}
    assert "timed out" in status(graded, "hang")
    assert scores(graded, "flood") == {"01-assign": 1.0, "01-update": 1.0}
    unanswered = [r for r in graded["rows"] if r["student"] == "unanswered"]
    assert {r["status"] for r in unanswered} == {"not answered", "missing"}
    assert "malformed notebook" in status(graded, "malformed")


def test_submissions_are_never_lost_or_modified(graded):
    folder, before = graded["folder"], graded["before"]
    for path, content in before.items():
        if path.name == "victim.ipynb":
            continue
        assert path.read_bytes() == content, path
    # the vandal deleted its neighbour: the grader noticed and kept the original
    assert not (folder / "victim.ipynb").exists()
    saved = graded["report"].parent / "grades.originals" / "victim.ipynb"
    assert hashlib.sha256(saved.read_bytes()).digest() == hashlib.sha256(before[folder / "victim.ipynb"]).digest()
    assert any("victim.ipynb vanished during grading" in m for m in graded["messages"])
    assert all("WARNING" in r["status"] for r in graded["rows"] if r["student"] == "victim")
    # nothing was written next to the submissions but the report folder
    assert sorted(p.name for p in folder.iterdir()) == sorted([p.name for p in before if p.exists()] + ["out"])


def test_reports_progress_and_summary(graded):
    rows = graded["rows"]
    assert set(rows[0]) == {"student", "submission", "question", "score", "passed_parts", "status", "feedback"}
    data = json.loads((graded["report"].parent / "grades.json").read_text())
    assert [d["student"] for d in data][:3] == ["good", "partial", "wrong"]
    assert any(m.startswith("[1/11] good.ipynb: 2.00 / 2") for m in graded["messages"])
    summary = graded["messages"][-1]
    assert "student" in summary and "good" in summary and "malformed" in summary


def test_real_solution_and_student_notebooks(tmp_path):
    """The course's own notebook 02: the solution scores full marks, the student version zero."""
    solution = ROOT / "notebooks" / "02_soft_assignment.ipynb"
    student = ROOT / "notebooks" / "exercises" / "02_soft_assignment.ipynb"
    results = grading.grade([solution, student], tmp_path / "g.csv", timeout=60, progress=lambda m: None)
    assert [sum(r.score for r in res.rows) for res in results] == [2.0, 0.0]
    assert all(row.status == "not answered" for row in results[1].rows)


def test_cli(tmp_path):
    sub = submission(tmp_path / "cli.ipynb", RIGHT_ASSIGN, RIGHT_UPDATE)
    out = subprocess.run(
        [sys.executable, "-m", "emkit", "grade", str(sub), "--report", str(tmp_path / "r.csv"), "--timeout", "30"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "[1/1] cli.ipynb: 2.00 / 2" in out.stderr
    assert len(list(csv.DictReader(open(tmp_path / "r.csv")))) == 2


def test_questions_are_found_without_metadata():
    nb = {"cells": [{"cell_type": "code", "source": "def e_step(X, w, m, c): ..."}], "metadata": {}}
    assert [q[0] for q in grading.questions_for(nb, "anything.ipynb")] == ["04-e-step"]
    assert [q[0] for q in grading.questions_for({"cells": [], "metadata": {}}, "hw_01_kmeans.ipynb")] == [
        "01-assign",
        "01-update",
    ]
