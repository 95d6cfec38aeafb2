"""The instructors' guide (docs/instructors.md), followed literally, as a newcomer would.

The example homework (docs/examples/homework: a notebook with one question
of the instructor's own and two course questions, its TOML and its check)
goes from source notebook to student version to grades with emkit grade,
otter-grader and nbgrader, running the guide's own commands. For a correct,
a slipped and a blank submission, each tool gives the points the TOML says;
a check that crashes is reported as such; the guide's code blocks are the
example's files, so they cannot drift apart.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from emkit import notebook_tools
from emkit.grading import assignment

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
EXAMPLE = ROOT / "docs" / "examples" / "homework"
BIN = Path(os.environ.get("EMKIT_GRADING_BIN") or Path(sys.executable).parent)
POINTS = {"nearest": 2.0, "05-m-step": 2.0, "elbo": 3.0}
SLIPS = {  # what a learner who slipped wrote: (right text, slipped text) in each answer
    "nearest": ("argmin(axis=1)", "argmax(axis=1)"),
    "05-m-step": ("/ Nk_K[k] for", "/ (Nk_K[k] - 1) for"),
    "elbo": ("(log_joint_NK - np.log(resp_NK))", "log_joint_NK"),
}


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", GUIDE, re.S)


def tool(name: str) -> str:
    exe = BIN / name
    if not exe.exists():
        if os.environ.get("EMKIT_REQUIRE_GRADING_TOOLS"):
            pytest.fail(f"{name} is not installed (pip install -e '.[grading]')")
        pytest.skip(f"{name} is not installed (pip install -e '.[grading]')")
    return str(exe)


def run_block(block: str, cwd: Path, replace: dict | None = None) -> list[subprocess.CompletedProcess]:
    """Run a shell block of the guide line by line, as typed (cd changes the folder for the next lines)."""
    done = []
    for line in block.strip().splitlines():
        for old, new in (replace or {}).items():
            line = line.replace(old, new)
        words = expand(shlex.split(line), cwd)
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        if words[0] == "emkit":
            words = [sys.executable, "-m", "emkit", *words[1:]]
        elif words[0] in ("otter", "nbgrader"):
            words[0] = tool(words[0])
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MPLBACKEND": "Agg"}
        out = subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=900, env=env)
        assert out.returncode == 0, (line, out.stdout[-2000:], out.stderr[-3000:])
        done.append(out)
    return done


def expand(words: list[str], cwd: Path) -> list[str]:
    """What the shell makes of the words: globs expanded (in order), the rest as typed."""
    out = []
    for word in words:
        matches = sorted(str(p.relative_to(cwd)) for p in cwd.glob(word)) if "*" in word else []
        out += matches or [word]
    return out


def block_with(text: str, kind: str = "sh") -> str:
    return next(b for b in blocks(kind) if text in b)


@pytest.fixture()
def homework(tmp_path) -> Path:
    """The example homework copied where an instructor would work, with three submissions."""
    shutil.copytree(EXAMPLE, tmp_path / "homework")
    hw = assignment.load(tmp_path / "homework" / "hw3.toml")
    source = nbformat.read(tmp_path / "homework" / "hw3.ipynb", as_version=4)
    right = notebook_tools.make_student(copy.deepcopy(source), "hw3", keep_solutions=True, assignment=hw)
    slipped = copy.deepcopy(right)
    for cell in slipped.cells:
        for old, new in SLIPS.values():
            cell.source = cell.source.replace(old, new)
    (tmp_path / "submissions").mkdir()
    nbformat.write(right, tmp_path / "submissions" / "correct.ipynb")
    nbformat.write(slipped, tmp_path / "submissions" / "slipped.ipynb")
    return tmp_path


def test_the_guides_code_is_the_examples_code():
    assert block_with('name = "Homework 3: EM by hand"', "toml") == (EXAMPLE / "hw3.toml").read_text()
    assert block_with("def check_elbo", "python") == (EXAMPLE / "my_checks.py").read_text()
    solution = block_with("def nearest_centre", "python").strip()
    cells = [c.source for c in nbformat.read(EXAMPLE / "hw3.ipynb", as_version=4).cells]
    assert solution in cells
    tags = [t for c in nbformat.read(EXAMPLE / "hw3.ipynb", as_version=4).cells for t in c.metadata.get("tags", [])]
    assert tags == [f"exercise:{q}" for q in ("nearest", "05-m-step", "elbo")]


def test_the_worked_check_names_each_slip(homework):
    sys.path.insert(0, str(homework / "homework"))
    try:
        import my_checks
    finally:
        sys.path.pop(0)
    from emkit import gmm

    right = my_checks.check_elbo(lambda X, r, w, m, S: float(gmm.elbo(X, r, w, m, S)))
    assert right.passed
    missing = my_checks.check_elbo(lambda X, r, w, m, S: gmm.q_function(X, r, w, m, S))
    assert missing.slips == ["the entropy term is missing (that is Q, not F)"]
    raising = my_checks.check_elbo(lambda X, r, w, m, S: X.nope)
    assert not raising.passed and "AttributeError" in str(raising)
    stub = my_checks.check_elbo(lambda *a: (_ for _ in ()).throw(NotImplementedError))
    assert not stub.answered


def test_student_version_then_emkit_grade_as_the_guide_says(homework):
    run_block(block_with("emkit student homework/hw3.ipynb"), homework)
    handout = nbformat.read(homework / "handout" / "hw3.ipynb", as_version=4)
    assert (homework / "handout" / "my_checks.py").exists()
    sources = [c.source for c in handout.cells if c.cell_type == "code"]
    assert "check_elbo(elbo)" in sources[-1] and "### BEGIN SOLUTION" not in "".join(sources)
    assert "argmin" not in "".join(sources)
    shutil.copy(homework / "handout" / "hw3.ipynb", homework / "submissions" / "blank.ipynb")
    run_block(block_with("emkit grade submissions/*.ipynb --assignment"), homework)
    rows = list(csv.DictReader(open(homework / "out" / "grades.csv", encoding="utf-8")))
    got = {(r["student"], r["question"]): r for r in rows}
    for qid, points in POINTS.items():
        assert float(got["correct", qid]["points"]) == points == float(got["correct", qid]["max_points"])
        assert float(got["slipped", qid]["points"]) == 0.0 and got["slipped", qid]["slips"], got["slipped", qid]
        assert got["blank", qid]["status"] == "not answered"
    assert got["slipped", "elbo"]["slips"] == "the entropy term is missing (that is Q, not F)"
    assert got["correct", "nearest"]["title"] == "Question 1: the nearest centre"
    feedback = (homework / "out" / "feedback" / "slipped.html").read_text()
    assert "Question 3: the evidence lower bound" in feedback and "cell above" not in feedback
    data = json.loads((homework / "out" / "grades.json").read_text())
    assert {s["max_points"] for s in data["submissions"]} == {7.0}


def test_a_crash_in_the_instructors_check_is_a_check_error(homework):
    checks = homework / "homework" / "my_checks.py"
    checks.write_text(checks.read_text().replace("    c.compare(", "    got.no_such_attribute\n    c.compare(", 1))
    grade = expand(block_with("emkit grade submissions/*.ipynb --assignment").split(), homework)
    out = subprocess.run(
        [sys.executable, "-m", "emkit", *grade[1:]], cwd=homework, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 3, out.stderr
    assert "CHECK ERROR" in out.stderr
    rows = list(csv.DictReader(open(homework / "out" / "grades.csv", encoding="utf-8")))
    elbo = [r for r in rows if r["question"] == "elbo"]
    assert {r["status"] for r in elbo} == {"check error"}
    assert all("AttributeError" in r["feedback"] and "my_checks.py" in r["feedback"] for r in elbo)
    assert {r["status"] for r in rows if r["question"] != "elbo"} == {"graded"}


def test_otter_grader_as_the_guide_says(homework):
    tool("otter")
    block = block_with("emkit otter-tests --assignment")
    scores = {}
    for who in ("correct", "slipped"):
        shutil.rmtree(homework / "autograder", ignore_errors=True)
        run_block(block, homework, {"../submissions/alice.ipynb": f"../submissions/{who}.ipynb"})
        results = json.loads((homework / "autograder" / "results" / "results.json").read_text())
        scores[who] = {t["name"]: t["score"] for t in results["tests"] if t.get("name") in POINTS}
    assert scores["correct"] == POINTS
    assert scores["slipped"] == dict.fromkeys(POINTS, 0)
    tests = sorted(p.name for p in (homework / "autograder" / "tests").iterdir())
    assert tests == ["05-m-step.py", "elbo.py", "nearest.py"]  # the assignment's questions, not all 13


def test_otter_partial_credit_adds_up(homework):
    """2 points over a check of 3 parts: otter gives 2/3 per part and never refuses the file."""
    tool("otter")
    partial = nbformat.read(homework / "submissions" / "correct.ipynb", as_version=4)
    for cell in partial.cells:
        cell.source = cell.source.replace(
            "return d2_NK.argmin(axis=1)", "return d2_NK.argmin(axis=1) * (abs(X).max() < 1e5)"
        )
    nbformat.write(partial, homework / "submissions" / "partial.ipynb")
    run_block(block_with("emkit otter-tests --assignment"), homework, {"alice": "partial"})
    results = json.loads((homework / "autograder" / "results" / "results.json").read_text())
    score = next(t["score"] for t in results["tests"] if t.get("name") == "nearest")
    assert score == pytest.approx(4 / 3, abs=1e-5)  # otter rounds scores to 5 decimals


def test_nbgrader_as_the_guide_says(homework):
    nbgrader = tool("nbgrader")
    course = homework / "course"
    (course / "source" / "hw3").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.root = "."\nc.CourseDirectory.course_id = "em"\n'
    )
    run_block(block_with("emkit nbgrader-source homework/hw3.ipynb"), homework)
    released = nbformat.read(course / "release" / "hw3" / "hw3.ipynb", as_version=4)
    assert (course / "release" / "hw3" / "my_checks.py").exists()
    answers = {
        who: [c.source for c in nbformat.read(homework / "submissions" / f"{who}.ipynb", as_version=4).cells
              if c.metadata.get("emkit", {}).get("role") == "exercise"]
        for who in ("correct", "slipped")
    }  # fmt: skip
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "MPLBACKEND": "Agg"}
    for who in ("correct", "slipped", "blank"):
        sub = copy.deepcopy(released)
        solutions = [c for c in sub.cells if c.metadata.get("nbgrader", {}).get("solution")]
        for cell, answer in zip(solutions, answers.get(who, []), strict=False):
            cell.source = answer
        (course / "submitted" / who / "hw3").mkdir(parents=True)
        nbformat.write(sub, course / "submitted" / who / "hw3" / "hw3.ipynb")
        subprocess.run([nbgrader, "db", "student", "add", who], cwd=course, env=env, check=True, capture_output=True)
    for step in (["autograde", "hw3"], ["generate_feedback", "hw3"], ["export"]):
        out = subprocess.run([nbgrader, *step], cwd=course, env=env, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, (step, out.stderr[-3000:])
    with open(course / "grades.csv", encoding="utf-8") as f:
        score = {r["student_id"]: float(r["score"]) for r in csv.DictReader(f)}
    assert score == {"correct": 7.0, "slipped": 0.0, "blank": 0.0}
    page = (course / "feedback" / "slipped" / "hw3" / "hw3.html").read_text()
    assert "the entropy term is missing" in page and "0 of 3 points" in page
    assert "overflow-wrap:anywhere" in page  # long feedback lines wrap instead of scrolling sideways


def test_the_guide_names_every_default_the_grader_has():
    out = subprocess.run([sys.executable, "-m", "emkit", "grade", "--help"], capture_output=True, text=True)
    for flag, default in [("--cell-timeout", "60 s"), ("--timeout", "600 s"), ("--memory", "2048 MB"),
                          ("--call-timeout", "10 s"), ("--check-timeout", "60 s")]:  # fmt: skip
        assert flag in out.stdout and f"`{flag}` ({default}" in GUIDE, flag
    assert "`--jobs` (default: the number of cores" in GUIDE
