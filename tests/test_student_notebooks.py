"""Student notebooks are generated from the solution notebooks, never edited by hand."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import nbformat
import pytest

from emkit import notebook_tools

ROOT = Path(__file__).resolve().parents[1]
COURSE = sorted((ROOT / "notebooks").glob("0[0-9]_*.ipynb"))  # every numbered notebook has a student version
SOLUTIONS = [p for p in COURSE if '"solution"' in p.read_text()]


def test_some_notebooks_have_exercises():
    assert [p.name for p in SOLUTIONS][:1] == ["01_kmeans.ipynb"]


def test_every_course_notebook_has_a_student_version_without_speaker_notes():
    for source in COURSE:
        student = ROOT / "notebooks" / "exercises" / source.name
        assert student.exists(), f"run: python3 course.py execute (student version of {source.name} missing)"
        text = json.dumps([c.source for c in nbformat.read(student, as_version=4).cells])
        assert "Speaker notes" not in text, student.name


def solution_lines(nb) -> set[str]:
    """The substantive lines inside every solution block of a notebook."""
    lines = set()
    for cell in nb.cells:
        if "solution-only" in cell.metadata.get("tags", []):
            lines |= {line.strip() for line in cell.source.splitlines() if len(line.strip()) > 8}
        if cell.cell_type == "code" and "solution" in cell.metadata.get("tags", []):
            for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", cell.source, re.S):
                lines |= {line.strip() for line in block.splitlines() if len(line.strip()) > 8}
    return lines


@pytest.mark.parametrize("source", COURSE, ids=lambda p: p.name)
def test_student_version_is_generated_and_up_to_date(source):
    solution = nbformat.read(source, as_version=4)
    expected = notebook_tools.make_student(copy.deepcopy(solution), source.stem)
    committed_path = ROOT / "notebooks" / "exercises" / source.name
    # links to notebooks without a student version (the appendix) and to files outside notebooks/ re-pointed
    notebook_tools.relink(expected, source.parent, committed_path.parent, {p.name for p in COURSE})
    assert committed_path.exists(), f"run: python3 course.py execute (student version of {source.name} missing)"
    committed = nbformat.read(committed_path, as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in expected.cells], (
        f"{committed_path.name} differs from what the generator makes of {source.name}: "
        "regenerate it with python3 course.py execute, never edit it by hand"
    )


@pytest.mark.parametrize("source", SOLUTIONS, ids=lambda p: p.name)
def test_no_solution_code_survives(source):
    solution = nbformat.read(source, as_version=4)
    secret = solution_lines(solution)
    assert secret, "a solution notebook without solution blocks"
    student_text = json.dumps([c.source for c in notebook_tools.make_student(solution).cells])
    leaked = [line for line in secret if line in student_text]
    assert not leaked, f"solution lines in the student version: {leaked}"


def check_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and re.match(r"check\.\w+\(", cell.source.strip()):
            yield cell.source, "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)


@pytest.mark.parametrize("source", SOLUTIONS, ids=lambda p: p.name)
def test_solutions_pass_every_check_and_students_see_not_answered(source):
    solved = list(check_outputs(source))
    assert solved
    for call, text in solved:
        assert "passed. Well done!" in text, f"{source.name}: {call} does not pass: {text}"
    for call, text in check_outputs(ROOT / "notebooks" / "exercises" / source.name):
        assert "not answered yet" in text, f"student {source.name}: {call} shows {text!r}"


def test_stub_keeps_signature_and_indentation():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n"
    out = notebook_tools.student_cell_source(src, "Exercise 3")
    assert out.startswith("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError(")
    assert "Exercise 3" in out and "2 * x" not in out


def test_hidden_blocks_are_removed_and_unbalanced_markers_refused():
    src = "a = 1\n### BEGIN HIDDEN\nsecret = 2\n### END HIDDEN\nb = 3"
    assert notebook_tools.student_cell_source("### BEGIN SOLUTION\nx\n### END SOLUTION\n" + src) == (
        "# YOUR CODE HERE (Exercise)\na = 1\nb = 3"
    )
    with pytest.raises(ValueError, match="without"):
        notebook_tools.student_cell_source("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError, match="without"):
        notebook_tools.student_cell_source("x = 1\n### END SOLUTION")


def test_generator_refuses_to_overwrite_the_source(tmp_path):
    nb = nbformat.v4.new_notebook()
    path = tmp_path / "a.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ValueError, match="refusing to overwrite"):
        notebook_tools.student([path], tmp_path, run=False)


@pytest.mark.parametrize("source", COURSE, ids=lambda p: p.name)
def test_every_relative_link_in_a_student_version_reaches_a_file(source):
    """A learner in notebooks/exercises/ who follows a link (to the next chapter, the appendix, a guide) lands
    on a file that exists, and on the student version where there is one."""
    student = ROOT / "notebooks" / "exercises" / source.name
    nb = nbformat.read(student, as_version=4)
    targets = [
        m.group(1) or m.group(2)
        for cell in nb.cells
        if cell.cell_type == "markdown"
        for m in re.finditer(r"\]\(([^)\s]+)\)|href=[\"']([^\"']+)[\"']", cell.source)
    ]
    relative = [t.partition("#")[0] for t in targets if not re.match(r"^([a-zA-Z][\w+.-]*:|#|/)", t)]
    assert [t for t in relative if not (student.parent / t).exists()] == []
    course = {p.name for p in COURSE}
    assert [t for t in relative if Path(t).name in course and Path(t).parent != Path(".")] == []
    if source.name != COURSE[-1].name:
        assert any(Path(t).name in course for t in relative), "no link on to the next chapter"
