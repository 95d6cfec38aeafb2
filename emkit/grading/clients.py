"""Recipes for the graders instructors already use: otter-grader 7 and nbgrader 0.9.

Both tools run their tests inside the student's own kernel, so a determined
student can forge those results (patching ``emkit.check`` before the tests
run, for instance). They are convenient for feedback and workflow; when a
grade must be trusted, use ``emkit grade``, which scores in a process the
submission cannot reach.

* :func:`otter_test_source`: an otter-grader test file for one question, one
  test case per part of its check (partial credit), each failing with emkit's
  feedback for that part (otter shows it to the student).
* :func:`nbgrader_source`: an nbgrader source notebook from a course solution
  notebook: the exercise cells become autograded answer cells (the
  ``### BEGIN SOLUTION`` markers are nbgrader's own), each check cell becomes
  an autograder test cell ending in ``check.<name>(answer).points(P)``, which
  prints the feedback and returns the points earned, the number nbgrader reads
  as partial credit.
"""

from __future__ import annotations

import copy
import re

from .assignment import Question

OTTER_TEMPLATE = """\
OK_FORMAT = False

from otter.test_files import test_case

from emkit import check

name = "{name}"
points = {points}
{cases}"""

OTTER_CASE = """

@test_case(points={points})
def part_{k}({answer}):
    check.{check}({answer}).require_part({k})
"""


def n_parts(question: Question) -> int:
    """How many parts the question's check has (one test case each)."""
    probe = "0" if question.kind == "expression" else (lambda *args: 0)
    return max(1, len(question.check(probe).parts))


def otter_test_source(question: Question) -> str:
    """The text of ``tests/<id>.py`` for otter-grader 7 (exception-based format)."""
    parts = n_parts(question)
    each = round(question.points / parts, 6)
    cases = "".join(
        OTTER_CASE.format(points=each, k=k, answer=question.answer, check=question.check_name)
        for k in range(1, parts + 1)
    )
    return OTTER_TEMPLATE.format(name=question.id, points=question.points, cases=cases)


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


def nbgrader_source(nb, questions: dict[str, Question]):
    """An nbgrader source notebook from a course solution notebook (a copy; the original is untouched)."""
    from ..notebook_tools import BEGIN_HIDDEN, END_HIDDEN, SOLUTION_ONLY_TAG, SOLUTION_TAG, _replace_blocks, stamp_roles

    nb = stamp_roles(copy.deepcopy(nb))
    cells = []
    for n, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        if SOLUTION_ONLY_TAG in tags or (cell.cell_type == "markdown" and SOLUTION_TAG in tags):
            continue
        meta = cell.metadata.get("emkit", {})
        if cell.cell_type == "code" and meta.get("role") == "exercise" and meta.get("exercise") in questions:
            cell.metadata["nbgrader"] = _nbgrader_meta(f"{meta['exercise']}-answer", solution=True)
        elif cell.cell_type == "code" and meta.get("role") == "check" and meta.get("check") in questions:
            q = questions[meta["check"]]
            cell.source = re.sub(r"\)\s*$", f").points({q.points:g})", cell.source.strip())
            cell.metadata["nbgrader"] = _nbgrader_meta(f"{q.id}-test", grade=True, points=q.points, locked=True)
        else:
            cell.metadata["nbgrader"] = _nbgrader_meta(f"cell-{n}", locked=True)
        cell.metadata.pop("emkit", None)
        if cell.cell_type == "code":
            cell.source = _replace_blocks(cell.source, BEGIN_HIDDEN, END_HIDDEN, lambda indent: [])
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("emkit", None)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    return nb
