"""emkit grade's limits and defaults: what an instructor gets without flags, and what no answer can take away.

* the sandbox is on by default, and the grader refuses to run without it
  (saying why) unless ``--no-sandbox`` is given, which every report line
  then states;
* the sandbox stands wherever Python lives (here: a virtual environment under
  /tmp, which bubblewrap's empty /tmp used to hide);
* the grader's own work on an answer is bounded: a symbolic answer that would
  build an enormous number is refused by the parser, a check that runs too
  long or too big on one answer is stopped ("check stopped") and costs that
  question only, and a check that raises is a "check error", not a grade
  (exit status 3);
* a submission's time budget: a cell never gets more than what is left of it
  minus a reserve for the answers, so a stubborn cell is named and the
  answers defined before it are graded.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest
from test_grading import RIGHT_ASSIGN, RIGHT_UPDATE, WRONG_ASSIGN, A, U, need_sandbox, our_processes, submission

from emkit import grading
from emkit.grading import assignment as assignment_module

ROOT = Path(__file__).resolve().parents[1]
QUIET = {"progress": lambda m: None}


@pytest.fixture(scope="module")
def sandbox_ok(tmp_path_factory):
    need_sandbox(tmp_path_factory)


def q_submission(path: Path, answer_source: str) -> Path:
    """A notebook-04-like submission whose 04-q exercise cell holds ``answer_source``."""
    return submission(path, ("04-q", answer_source), source="04_gmm_derivation")


def test_the_default_command_grades_in_the_sandbox_and_says_so(sandbox_ok, tmp_path):
    good = submission(tmp_path / "good.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE))
    forged = submission(tmp_path / "forged.ipynb", A("assign_step = kmeans.assign"), U(RIGHT_UPDATE))
    os.mkfifo(tmp_path / "fifo.ipynb")
    report = tmp_path / "r.csv"
    subs = [str(p) for p in (good, forged, tmp_path / "fifo.ipynb")]
    out = subprocess.run(
        [sys.executable, "-m", "emkit", "grade", *subs, "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 1, out.stderr  # the FIFO could not be graded: exit 1, after the others were
    assert "each in its own sandbox" in out.stderr
    rows = {(r["student"], r["question"]): r for r in csv.DictReader(open(report, encoding="utf-8"))}
    assert rows["good", "01-assign"]["points"] == "1.0" and rows["good", "01-update"]["points"] == "1.0"
    assert rows["forged", "01-assign"]["status"] == "uses the reference implementation"
    assert "is a FIFO" in rows["fifo", "-"]["status"]
    assert {r["sandbox"] for r in rows.values()} == {"bubblewrap"}
    assert our_processes() == []


def test_without_a_sandbox_the_grader_refuses_and_says_why(tmp_path):
    good = submission(tmp_path / "good.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE))
    env = {**os.environ, "PATH": str(tmp_path / "empty")}  # no bubblewrap on the PATH
    out = subprocess.run(
        [sys.executable, "-m", "emkit", "grade", str(good), "--report", str(tmp_path / "r.csv")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 2
    assert "bubblewrap is not installed" in out.stderr and "--no-sandbox" in out.stderr
    assert not (tmp_path / "r.csv").exists()


def test_no_sandbox_is_explicit_and_stated_on_every_line(tmp_path):
    good = submission(tmp_path / "good.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE))
    messages = []
    (r,) = grading.grade([good], tmp_path / "r.csv", feedback=tmp_path / "fb", sandbox=False, progress=messages.append)
    assert r.points == 2.0
    assert any("WITHOUT the OS sandbox" in m for m in messages)
    rows = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8")))
    assert {row["sandbox"] for row in rows} == {"NONE (--no-sandbox)"}
    assert "WITHOUT the OS sandbox" in (tmp_path / "fb" / "good.md").read_text()


def test_the_sandbox_stands_when_python_lives_under_tmp(sandbox_ok, tmp_path):
    """A virtual environment under /tmp (bubblewrap's /tmp is empty: it must be mounted back on top)."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False)
    site_packages = next((env_dir / "lib").glob("python3*/site-packages"))
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    # numpy, SymPy and emkit come from this test's environment (its .pth files too: emkit may be installed editable)
    (site_packages / "parent.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in ours))
    python = env_dir / "bin" / "python"
    good = submission(tmp_path / "good.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE))
    out = subprocess.run(
        [str(python), "-m", "emkit", "grade", str(good), "--report", str(tmp_path / "r.csv"), "--json",
         str(tmp_path / "r.json")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["submissions"][0]["points"] == 2.0, data["submissions"][0]


def test_a_power_tower_is_refused_by_the_parser_quickly(sandbox_ok, tmp_path):
    tower = q_submission(tmp_path / "tower.ipynb", 'q_answer = "((((2**100)**100)**100)**100)**100"')
    honest = submission(tmp_path / "honest.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE))
    started = time.monotonic()
    results = {r.student: r for r in grading.grade([tower, honest], tmp_path / "r.csv", jobs=1, **QUIET)}
    assert time.monotonic() - started < 120
    row = results["tower"].rows[0]
    assert row.points == 0.0 and "limited to 4096 bits" in row.feedback, row
    assert results["honest"].points == 2.0


CHECKS = """\
import time
from emkit.check import CheckResult, Part

def double(fn, seed=None):
    value = fn(21)
    if value == -1:
        time.sleep(1000)          # an answer that makes this check run for ever
    if value == -2:
        x = bytearray(8 * 2**30)  # ... or need 8 GB
    return CheckResult("double", [Part("21 -> 42", value == 42, "" if value == 42 else f"got {value}")])

def broken(fn, seed=None):
    return fn(1).no_such_attribute
"""


def test_a_check_that_runs_too_long_or_too_big_costs_only_that_question(sandbox_ok, tmp_path):
    (tmp_path / "my_checks.py").write_text(CHECKS)
    (tmp_path / "hw.toml").write_text(
        'name = "HW"\n'
        '[[question]]\nid = "double"\ncheck = "my_checks:double"\nanswer = "double"\nkind = "function"\nfind = "name"\n'
        '[[question]]\nid = "01-assign"\n'
    )
    hw = assignment_module.load(tmp_path / "hw.toml")
    subs = [
        submission(tmp_path / "slow.ipynb", "def double(x):\n    return -1", A(RIGHT_ASSIGN)),
        submission(tmp_path / "big.ipynb", "def double(x):\n    return -2", A(RIGHT_ASSIGN)),
        submission(tmp_path / "fine.ipynb", "def double(x):\n    return 2 * x", A(RIGHT_ASSIGN)),
    ]
    limits = grading.Limits(check=5.0, check_memory_mb=1024)
    messages = []
    started = time.monotonic()
    results = {
        r.student: r
        for r in grading.grade(subs, tmp_path / "r.csv", assignment=hw, limits=limits, jobs=2, progress=messages.append)
    }
    assert time.monotonic() - started < 240
    for name in ("slow", "big"):
        rows = {x.question: x for x in results[name].rows}
        assert rows["double"].status == "check stopped" and rows["double"].points == 0.0, rows["double"]
        assert rows["01-assign"].points == 1.0  # the other question of the same submission still counts
    assert "more than 5 s" in {x.question: x for x in results["slow"].rows}["double"].feedback
    assert results["fine"].points == 2.0
    assert any(m.startswith("CHECK STOPPED") for m in messages)


def test_a_check_that_raises_is_a_check_error_not_a_grade(sandbox_ok, tmp_path):
    (tmp_path / "my_checks.py").write_text(CHECKS)
    (tmp_path / "hw.toml").write_text(
        '[[question]]\nid = "broken"\ncheck = "my_checks:broken"\nanswer = "double"\nkind = "function"\n'
        'find = "name"\npoints = 3\n'
    )
    sub = submission(tmp_path / "s.ipynb", "def double(x):\n    return 2 * x")
    out = subprocess.run(
        [sys.executable, "-m", "emkit", "grade", str(sub), "--report", str(tmp_path / "r.csv"), "--assignment",
         str(tmp_path / "hw.toml")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 3, out.stderr
    assert "CHECK ERROR" in out.stderr and "not grades" in out.stderr
    (row,) = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8")))
    assert row["status"] == "check error" and row["points"] == "0.0" and row["max_points"] == "3.0"
    assert "AttributeError" in row["feedback"] and "my_checks.py" in row["feedback"]


def test_a_stubborn_cell_cannot_eat_the_answers_time(sandbox_ok, tmp_path):
    """--timeout below --cell-timeout: the stubborn cell is named; the answers before it are graded."""
    stubborn = (
        "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    try:\n"
        "        time.sleep(0.1)\n    except BaseException:\n        pass"
    )
    sub = submission(tmp_path / "s.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE), stubborn, "x = 1")
    limits = grading.Limits(cell=60.0, call=3.0, total=25.0)
    started = time.monotonic()
    (r,) = grading.grade([sub], tmp_path / "r.csv", limits=limits, **QUIET)
    assert time.monotonic() - started < 60
    assert {x.question: x.points for x in r.rows} == {"01-assign": 1.0, "01-update": 1.0}, r.rows
    assert "code cell 4" in r.status, r.status
    assert {x.status for x in r.rows} == {"graded"}


def test_every_hostile_expression_costs_its_own_question_only(sandbox_ok, tmp_path):
    subs = [
        q_submission(tmp_path / "deep.ipynb", 'q_answer = "(" * 300 + "1" + ")" * 300'),
        q_submission(tmp_path / "long.ipynb", 'q_answer = "x[i] + " * 5000 + "1"'),
        q_submission(tmp_path / "odd.ipynb", "import sympy as sp\nq_answer = sp.Integer(2) ** (2**20)"),
    ]
    results = grading.grade(subs, tmp_path / "r.csv", jobs=2, **QUIET)
    for r in results:
        row = next(x for x in r.rows if x.question == "04-q")
        assert row.points == 0.0 and row.status in ("graded", "check stopped"), (r.student, row)


def test_the_report_is_written_after_each_submission(sandbox_ok, tmp_path):
    subs = [
        submission(tmp_path / f"s{k}.ipynb", A(RIGHT_ASSIGN), U(WRONG_ASSIGN.replace("assign", "x"))) for k in (1, 2)
    ]
    seen = []

    def progress(message):
        if message.startswith("["):
            seen.append(len(list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8")))))

    grading.grade(subs, tmp_path / "r.csv", json_report=tmp_path / "r.json", jobs=1, progress=progress)
    assert seen == [2, 4]  # each submission's rows were on disk as soon as it was graded
    assert json.loads((tmp_path / "r.json").read_text())["complete"] is True


def test_a_cpu_hog_cannot_starve_an_honest_submission(sandbox_ok, tmp_path):
    """Forty busy processes in one sandbox get one submission's share of the CPU (a control group each)."""
    from emkit.grading import cgroups

    ok, why = cgroups.available()
    if not ok:
        if os.environ.get("EMKIT_REQUIRE_BWRAP") and os.geteuid() == 0:
            pytest.fail(f"control groups are expected here: {why}")
        pytest.skip(why)
    hog = submission(
        tmp_path / "hog.ipynb",
        "import os\nfor _ in range(40):\n    if os.fork() == 0:\n        os.setsid()\n        while True:\n"
        "            pass",
        *["import time\ntime.sleep(5)"] * 4,
        A(RIGHT_ASSIGN),
        U(RIGHT_UPDATE),
    )
    honest = ROOT / "notebooks" / "05_gmm_numpy.ipynb"  # the solution notebook: every answer right
    limits = grading.Limits(cell=20.0, call=5.0, total=90.0)
    results = {r.student: r for r in grading.grade([hog, honest], tmp_path / "r.csv", limits=limits, jobs=2, **QUIET)}
    fair = results["05_gmm_numpy"]
    assert fair.points == fair.max_points > 0, (fair.status, [(x.question, x.status) for x in fair.rows])
    assert our_processes() == []


def test_the_current_folder_is_not_visible_to_a_runner(sandbox_ok, tmp_path):
    """python -m emkit grade run in the folder of the submissions: a runner still sees none of them."""
    thief = (
        "import glob, os\nBREACHED = glob.glob('/tmp/**/*.ipynb', recursive=True) + glob.glob('/work/**/*.ipynb')\n"
        f"BREACHED += glob.glob(os.path.join({str(tmp_path)!r}, '*')) + glob.glob('*.ipynb')"
    )
    guarded = RIGHT_ASSIGN.replace("    return", "    assert not BREACHED, BREACHED\n    return")
    submission(tmp_path / "victim.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE))
    submission(tmp_path / "thief.ipynb", thief, A(guarded), U(RIGHT_UPDATE))
    out = subprocess.run(
        [sys.executable, "-m", "emkit", "grade", "thief.ipynb", "victim.ipynb", "--report", "r.csv"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {(r["student"], r["question"]): r for r in csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8"))}
    assert rows["thief", "01-assign"]["points"] == "1.0", rows["thief", "01-assign"]


def test_a_file_name_cannot_put_a_formula_in_the_csv(sandbox_ok, tmp_path):
    sub = submission(tmp_path / '=HYPERLINK("http:evil","grades").ipynb', A(RIGHT_ASSIGN), U(RIGHT_UPDATE))
    grading.grade([sub], tmp_path / "r.csv", **QUIET)
    rows = list(csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8")))
    assert rows and all(r["student"].startswith("'=") and r["submission"].startswith("'=") for r in rows)
