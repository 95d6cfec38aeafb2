"""Recipes for the graders instructors already use: otter-grader 7 and nbgrader 0.9.

Both tools run their tests inside the student's own kernel, so a determined
student can forge those results (patching ``emkit.check`` before the tests
run, for instance). They are convenient for feedback and workflow; when a
grade must be trusted, use ``emkit grade``, which scores in a process the
submission cannot reach.

* :func:`write_otter_bundle`: what ``otter generate`` needs for an
  assignment: ``tests/<id>.py`` per question (one test case per part of its
  check, so partial credit works and a failing case shows emkit's feedback
  for that part; otter divides the question's points equally among the
  cases, so they always add up), ``requirements.txt`` (what emkit needs), a
  copy of the ``emkit`` package and of the instructor's check modules (otter
  puts them next to each submission, so ``import emkit`` and ``import
  my_checks`` work in any otter environment).
* :func:`nbgrader_source`: an nbgrader source notebook from a solution
  notebook (the course's, or an instructor's with ``exercise:<id>`` tags): the
  exercise cells become autograded answer cells (the ``### BEGIN SOLUTION``
  markers are nbgrader's own), each check cell an autograder test cell
  ending in ``.points(P)``, whose value is the points earned (what nbgrader
  reads) and which shows emkit's feedback on nbgrader's feedback page.
"""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

from .assignment import Assignment, Question, check_module

OTTER_TEMPLATE = """\
OK_FORMAT = False

from otter.test_files import test_case

{imports}

name = "{name}"
points = {points}
{cases}"""

# No points on the cases: otter divides the question's points equally among them (they always add up).
OTTER_CASE = """

@test_case()
def part_{k}({answer}):
    {call}.require_part({k})
"""


def _check_call(question: Question) -> tuple[str, str]:
    """(import line, call expression) for the question's check in a test file or a notebook cell."""
    if question.exercise:
        return "from emkit import check", f"check.{question.check_name}({question.answer})"
    module, name = check_module(question.check), question.check.__qualname__
    return f"from {module} import {name}", f"{name}({question.answer})"


def n_parts(question: Question) -> int:
    """How many parts the question's check has (one test case each)."""
    probe = {"expression": "0", "value": 0}.get(question.kind, lambda *args: 0)
    try:
        return max(1, len(question.check(probe).parts))
    except Exception:  # noqa: BLE001 - an instructor's check that cannot take the probe: one case
        return 1


def otter_test_source(question: Question) -> str:
    """The text of ``tests/<id>.py`` for otter-grader 7 (exception-based format)."""
    parts = n_parts(question)
    imports, call = _check_call(question)
    cases = "".join(OTTER_CASE.format(k=k, answer=question.answer, call=call) for k in range(1, parts + 1))
    points = int(question.points) if float(question.points).is_integer() else question.points
    return OTTER_TEMPLATE.format(imports=imports, name=question.id, points=points, cases=cases)


OTTER_REQUIREMENTS = "numpy>=1.26\nmatplotlib>=3.8\nsympy>=1.12\nipywidgets>=8.1\n"


def write_otter_bundle(chosen: Assignment, out: Path) -> list[Path]:
    """Write ``tests/``, ``requirements.txt``, ``emkit/`` and the check modules into ``out`` (see the module doc)."""
    import emkit

    out = Path(out)
    (out / "tests").mkdir(parents=True, exist_ok=True)
    written = []
    for q in chosen.questions:
        path = out / "tests" / f"{q.id}.py"
        path.write_text(otter_test_source(q), encoding="utf-8")
        written.append(path)
    (out / "requirements.txt").write_text(OTTER_REQUIREMENTS, encoding="utf-8")
    written.append(out / "requirements.txt")
    package = Path(emkit.__file__).resolve().parent
    target = out / "emkit"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "grading"))
    written.append(target)
    for q in chosen.questions:
        base = getattr(q.check, "_emkit_base", None)
        if q.exercise is None and base:
            module = check_module(q.check).split(".")[0]
            src = Path(base) / f"{module}.py"
            if src.is_file():
                shutil.copy(src, out / src.name)
                if out / src.name not in written:
                    written.append(out / src.name)
    return written


def _nbgrader_meta(grade_id: str, *, solution=False, grade=False, points=0.0, locked=False) -> dict:
    return {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "points": points,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }


def nbgrader_source(nb, questions: dict[str, Question], assignment: Assignment | None = None, source_name=None):
    """An nbgrader source notebook from a solution notebook (a copy; the original is untouched).

    Every exercise of ``questions`` becomes an answer cell followed by its
    test cell (an existing check cell, or a new one), worth the question's
    points.
    """
    from ..notebook_tools import (
        BEGIN_HIDDEN,
        END_HIDDEN,
        NOTES_TAG,
        SOLUTION_ONLY_TAG,
        SOLUTION_TAG,
        _replace_blocks,
        stamp_roles,
    )

    nb = stamp_roles(copy.deepcopy(nb), source_name, assignment)
    cells = []
    pending = None  # an exercise whose test cell has not come yet

    def test_cell(q: Question):
        import nbformat

        imports, call = _check_call(q)
        cell = nbformat.v4.new_code_cell(f"{imports}\n{call}.points({q.points:g})")
        cell.metadata["nbgrader"] = _nbgrader_meta(f"{q.id}-test", grade=True, points=q.points, locked=True)
        return cell

    for n, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if SOLUTION_ONLY_TAG in tags or NOTES_TAG in tags or (cell.cell_type == "markdown" and SOLUTION_TAG in tags):
            continue
        meta = cell.metadata.get("emkit", {})
        role, qid = meta.get("role"), meta.get("exercise") or meta.get("check")
        if cell.cell_type == "code" and pending is not None and not (role == "check" and qid == pending.id):
            cells.append(test_cell(pending))
            pending = None
        if cell.cell_type == "code" and role == "exercise" and qid in questions:
            cell.metadata["nbgrader"] = _nbgrader_meta(f"{qid}-answer", solution=True)
            pending = questions[qid]
        elif cell.cell_type == "code" and role == "check" and qid in questions:
            q = questions[qid]
            cell.source = re.sub(r"\)\s*$", f").points({q.points:g})", cell.source.strip())
            cell.metadata["nbgrader"] = _nbgrader_meta(f"{q.id}-test", grade=True, points=q.points, locked=True)
            pending = None
        else:
            cell.metadata["nbgrader"] = _nbgrader_meta(f"cell-{n}", locked=True)
        cell.metadata.pop("emkit", None)
        cell.metadata["tags"] = [t for t in tags if not t.startswith("exercise:")]
        if cell.cell_type == "code":
            cell.source = _replace_blocks(cell.source, BEGIN_HIDDEN, END_HIDDEN, lambda indent: [])
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    if pending is not None:
        cells.append(test_cell(pending))
    nb.cells = cells
    nb.metadata.pop("emkit", None)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    return nb
