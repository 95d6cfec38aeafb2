"""otter-grader 7 and nbgrader 0.9 on the course's own notebook 01, run for real.

Each tool grades a correct, a wrong and a raising submission (and a partly
right one); the points must be right and emkit's feedback must reach the
student's report. (tests/test_instructor_docs.py follows the instructors'
guide for an instructor's own homework.) CI installs both tools (the
`grading` extra) and sets EMKIT_REQUIRE_GRADING_TOOLS=1, so these tests
cannot be skipped there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
# course.py keeps otter-grader and nbgrader in their own environment (.venv-grading) and says where
BIN = Path(os.environ.get("EMKIT_GRADING_BIN") or Path(sys.executable).parent)

ANSWERS = {
    "correct": "def assign_step(X, centers):\n    return ((X[:, None] - centers[None]) ** 2).sum(2).argmin(1)\n",
    "wrong": "def assign_step(X, centers):\n    return ((X[:, None] - centers[None]) ** 2).sum(2).argmax(1)\n",
    "raising": "def assign_step(X, centers):\n    raise ValueError('my bug')\n",
    # right except on data far from the origin: 2 of the 3 parts
    "partial": (
        "def assign_step(X, centers):\n    d = ((X[:, None] - centers[None]) ** 2).sum(2).argmin(1)\n"
        "    return d if abs(X).max() < 1e5 else d * 0\n"
    ),
}


def tool(name: str) -> str:
    exe = BIN / name
    if not exe.exists():
        if os.environ.get("EMKIT_REQUIRE_GRADING_TOOLS"):
            pytest.fail(f"{name} is not installed (pip install -e '.[grading]')")
        pytest.skip(f"{name} is not installed (pip install -e '.[grading]')")
    return str(exe)


def env():
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MPLBACKEND": "Agg"}


def test_otter_tests_for_a_course_notebook_are_its_questions_only(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "emkit", "otter-tests", "--notebook", str(ROOT / "notebooks" / "01_kmeans.ipynb"),
         "-o", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "tests").iterdir()) == ["01-assign.py", "01-update.py"]
    text = (tmp_path / "tests" / "01-assign.py").read_text()
    assert "points = 1\n" in text and "@test_case()" in text and "from emkit import check" in text
    assert (tmp_path / "emkit" / "__init__.py").exists() and (tmp_path / "requirements.txt").exists()
    refused = subprocess.run(
        [sys.executable, "-m", "emkit", "otter-tests", "-o", str(tmp_path / "x")], capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--assignment" in refused.stderr  # never all 13 course questions


def test_otter_run_scores_and_shows_emkit_feedback(tmp_path):
    otter = tool("otter")
    subprocess.run(
        [sys.executable, "-m", "emkit", "otter-tests", "--notebook", str(ROOT / "notebooks" / "01_kmeans.ipynb"),
         "-o", str(tmp_path)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    subprocess.run([otter, "generate", "emkit"], cwd=tmp_path, check=True, capture_output=True, env=env(), timeout=300)
    scores, outputs = {}, {}
    for who, body in ANSWERS.items():
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("import numpy as np"), nbformat.v4.new_code_cell(body)]
        nbformat.write(nb, tmp_path / f"{who}.ipynb")
        out = tmp_path / f"out-{who}"
        out.mkdir()
        run = subprocess.run(
            [otter, "run", "-a", "autograder.zip", f"{who}.ipynb", "-o", str(out)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env(),
            timeout=300,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        results = json.loads((out / "results.json").read_text())
        test = next(t for t in results["tests"] if t.get("name") == "01-assign")
        scores[who], outputs[who] = test["score"], test["output"]
    assert scores == {"correct": 1, "wrong": 0, "raising": 0, "partial": pytest.approx(2 / 3, abs=1e-5)}
    assert "Mistake: argmax instead of argmin" in outputs["wrong"]
    assert "your function raised ValueError: my bug" in outputs["raising"]
    assert "data far from the origin" in outputs["partial"]


def _nbgrader(nbgrader, course, *args):
    return subprocess.run([nbgrader, *args], cwd=course, capture_output=True, text=True, env=env(), timeout=600)


def test_nbgrader_autograde_gives_partial_credit_and_feedback(tmp_path):
    nbgrader = tool("nbgrader")
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.root = "."\nc.CourseDirectory.course_id = "em"\n'
    )
    # the guide's recipe: an answer cell and a test cell ending in .points(3)
    meta = {"grade": False, "locked": False, "points": 0, "schema_version": 3, "solution": False, "task": False}
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    setup = nbformat.v4.new_code_cell("import numpy as np")
    setup.metadata["nbgrader"] = {**meta, "grade_id": "setup", "locked": True}
    answer = nbformat.v4.new_code_cell(
        "def assign_step(X, centers):\n    ### BEGIN SOLUTION\n"
        "    return ((X[:, None] - centers[None]) ** 2).sum(2).argmin(1)\n    ### END SOLUTION\n"
    )
    answer.metadata["nbgrader"] = {**meta, "grade_id": "answer", "solution": True}
    test = nbformat.v4.new_code_cell("from emkit import check\ncheck.kmeans_assign(assign_step).points(3)")
    test.metadata["nbgrader"] = {**meta, "grade_id": "test", "grade": True, "points": 3, "locked": True}
    nb.cells = [setup, answer, test]
    nbformat.write(nb, course / "source" / "ps1" / "ps1.ipynb")
    assert test.source.endswith(".points(3)")
    for who in ANSWERS:
        assert _nbgrader(nbgrader, course, "db", "student", "add", who).returncode == 0
    assert _nbgrader(nbgrader, course, "db", "assignment", "add", "ps1").returncode == 0
    gen = _nbgrader(nbgrader, course, "generate_assignment", "ps1", "--force")
    assert gen.returncode == 0, gen.stderr[-2000:]
    for who, body in ANSWERS.items():
        sub = nbformat.read(course / "release" / "ps1" / "ps1.ipynb", as_version=4)
        sub.cells[1].source = body
        (course / "submitted" / who / "ps1").mkdir(parents=True)
        nbformat.write(sub, course / "submitted" / who / "ps1" / "ps1.ipynb")
    auto = _nbgrader(nbgrader, course, "autograde", "ps1", "--force")
    assert auto.returncode == 0, auto.stderr[-3000:]
    assert _nbgrader(nbgrader, course, "generate_feedback", "ps1", "--force").returncode == 0
    assert _nbgrader(nbgrader, course, "export").returncode == 0
    lines = (course / "grades.csv").read_text().splitlines()
    header = lines[0].split(",")
    score = {
        row.split(",")[header.index("student_id")]: float(row.split(",")[header.index("score")]) for row in lines[1:]
    }
    assert score == {"correct": 3.0, "wrong": 0.0, "raising": 0.0, "partial": 2.0}
    feedback = (course / "feedback" / "wrong" / "ps1" / "ps1.html").read_text()
    assert "argmax instead of argmin" in feedback


def test_nbgrader_source_from_a_course_notebook(tmp_path):
    """emkit nbgrader-source: answer cells, test cells with points, the rest locked; nbgrader accepts it."""
    nbgrader = tool("nbgrader")
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.root = "."\n')
    out = subprocess.run(
        [sys.executable, "-m", "emkit", "nbgrader-source", str(ROOT / "notebooks" / "01_kmeans.ipynb"), "-o",
         str(course / "source" / "ps1")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    nb = nbformat.read(course / "source" / "ps1" / "01_kmeans.ipynb", as_version=4)
    tests = [c for c in nb.cells if c.metadata["nbgrader"]["grade"]]
    assert [c.source for c in tests] == [
        "check.kmeans_assign(assign_step).points(1)",
        "check.kmeans_update(update_step).points(1)",
    ]
    assert sum(c.metadata["nbgrader"]["solution"] for c in nb.cells) == 2
    gen = _nbgrader(nbgrader, course, "generate_assignment", "ps1", "--force")
    assert gen.returncode == 0, gen.stderr[-2000:]
    released = (course / "release" / "ps1" / "01_kmeans.ipynb").read_text()
    assert "raise NotImplementedError" in released and "d2_NK.argmin" not in released
    shutil.rmtree(course)
