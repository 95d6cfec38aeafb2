"""What each deck shows, checked without a browser: exercises posed, solutions where they belong, no empty slides.

A lecturer deck (the default of ``emkit slides``) shows each exercise as the
student version does (the task and the empty stub, with the student
notebook's "not answered yet"), then the solution on a slide of its own
("Exercise N — a solution": the code without its ``### BEGIN SOLUTION`` /
``### END SOLUTION`` lines, its stored outputs and its passed check). A
student deck (``--student``) and its handout carry no solution at all. Every
slide shows something and has a title. These tests read the decks that
``emkit.slides.prepare`` makes of the stored notebooks, and the HTML that
``emkit.slides.build`` writes (CDN decks, no PDF: no browser needed); the
browser tests in tests/test_slides.py check the same on screen.
"""

from __future__ import annotations

import base64
import copy
import re
import struct
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from emkit import notebook_tools, slides

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
PASSED = "passed. Well done!"


def deck(path: Path, *, student: bool = False):
    return slides.prepare_file(path, student=student)


def kind(unit) -> str:
    first = next(c for c in unit if slides._slide_type(c) not in ("skip", "notes"))
    return first.metadata.get("slideshow", {}).get("data", {}).get(slides.KIND, "")


def shown_units(nb):
    return [u for u in slides._units(nb.cells) if any(map(slides._visible, u))]


def output_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        parts.append(o.get("text", ""))
        parts += [str(v) for k, v in o.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def solution_lines(source: str) -> list[str]:
    """The substantial lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION``: what a student must not see."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == notebook_tools.BEGIN:
            inside = True
        elif line.strip() == notebook_tools.END:
            inside = False
        elif inside and len(line.strip()) >= 12 and not line.strip().startswith("#"):
            lines.append(line.strip())
    return lines


def exercise_cells(path: Path):
    nb = notebook_tools.stamp_roles(nbformat.read(path, as_version=4), path.stem)
    return [c for c in nb.cells if (c.metadata.get("emkit") or {}).get("role") == "exercise"]


WITH_EXERCISES = [p for p in NOTEBOOKS if exercise_cells(p)]


@pytest.mark.parametrize("student", [False, True], ids=["lecturer", "student"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_slide_shows_something_and_has_a_title(path, student):
    nb = deck(path, student=student)
    units = slides._units(nb.cells)
    # only cells before the first slide may show nothing (a skipped import cell, the speaker notes)
    for unit in units[1:]:
        assert any(map(slides._visible, unit)), f"{path.name}: a blank slide: {[c.source[:40] for c in unit]}"
    for unit in shown_units(nb):
        assert slides._unit_title(unit), f"{path.name}: a slide without a title: {unit[0].source[:60]!r}"
    assert slides.expected_slide_count(nb) == len(shown_units(nb))


@pytest.mark.parametrize("student", [False, True], ids=["lecturer", "student"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_marker_ever_and_no_passed_check_outside_a_solution_slide(path, student):
    nb = deck(path, student=student)
    for unit in shown_units(nb):
        for cell in unit:
            for marker in slides.MARKERS:
                assert marker not in cell.source, f"{path.name}: {marker} on a slide"
            if PASSED in output_text(cell):
                assert not student and kind(unit) == "solution", f"{path.name}: a passed check on {kind(unit)!r}"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_lecturer_deck_poses_each_exercise_then_shows_a_solution(path):
    nb = deck(path)
    units = shown_units(nb)
    kinds = [kind(u) for u in units]
    student = notebook_tools.make_student(nbformat.read(path, as_version=4), path.stem)
    stubs = [c.source for c in student.cells if "exercise" in c.metadata.get("tags", [])]
    solutions = exercise_cells(path)
    assert kinds.count("exercise") >= 1 and kinds.count("solution") >= len(solutions)
    shown_stubs = [c.source for u in units if kind(u) == "exercise" for c in u if c.cell_type == "code"]
    for stub in stubs:
        assert stub in shown_stubs, f"{path.name}: the exercise slide does not show the stub {stub[:60]!r}"
    solution_code = [c.source for u in units if kind(u) == "solution" for c in u if c.cell_type == "code"]
    for cell in solutions:
        assert slides._solution_source(cell.source) in solution_code
        # ... after the slide that poses it
        posed = next(k for k, u in enumerate(units) if any(c.source in stubs and c.cell_type == "code" for c in u))
        answered = next(
            k for k, u in enumerate(units) if any(c.source == slides._solution_source(cell.source) for c in u)
        )
        assert posed < answered
    for k, unit in enumerate(units):
        if kinds[k] == "solution":
            title = slides._unit_title(unit)[1]
            assert re.search(r"Exercise [\w.]+ — a solution", title), title
    # the checks that passed in the stored solution notebook pass on the solution slides
    stored = [output_text(c) for c in nbformat.read(path, as_version=4).cells if PASSED in output_text(c)]
    shown = [output_text(c) for u in units if kind(u) == "solution" for c in u]
    for text in stored:
        assert text in shown, f"{path.name}: a passed check that is on no solution slide: {text[:80]!r}"


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_student_deck_carries_no_solution(path):
    nb = deck(path, student=True)
    units = shown_units(nb)
    assert "solution" not in [kind(u) for u in units]
    assert "exercise" in [kind(u) for u in units]
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for cell in exercise_cells(path):
        for line in solution_lines(cell.source):
            assert line not in code, f"{path.name}: the student deck shows the solution line {line!r}"
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        assert slides.SOLUTION_ONLY_TAG not in tags and slides.NOTES_TAG not in tags
        assert not (cell.cell_type == "markdown" and slides.SOLUTION_TAG in tags)
        assert slides._slide_type(cell) != "notes"
        assert PASSED not in output_text(cell)


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.name)
def test_exercise_slides_show_the_student_notebooks_stored_output(path):
    """An exercise slide's check says "not answered yet" where the stored student notebook says so."""
    stored = slides.student_notebook(path)
    if stored is None:
        pytest.skip(f"no student notebook for {path.name}")
    waiting = [
        output_text(c) for c in nbformat.read(stored, as_version=4).cells if "not answered yet" in output_text(c)
    ]
    for student in (False, True):
        nb = deck(path, student=student)
        exercise_units = [u for u in shown_units(nb) if kind(u) == "exercise"]
        texts = [output_text(c) for u in exercise_units for c in u if c.cell_type == "code"]
        for text in waiting:
            assert text in texts, f"{path.name}: {text[:60]!r} is on no exercise slide"


# --- the rules, on small notebooks ----------------------------------------------------------------------------


def md(source, kind="-", tags=()):
    return nbformat.v4.new_markdown_cell(source, metadata={"slideshow": {"slide_type": kind}, "tags": list(tags)})


def code(source, kind="-", tags=(), outputs=(), meta=None):
    cell = nbformat.v4.new_code_cell(source, metadata={"slideshow": {"slide_type": kind}, "tags": list(tags)})
    cell.outputs = list(outputs)
    cell.metadata.update(meta or {})
    return cell


def stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def passed(title="the check"):
    text = f"{title}: the only part passed. Well done!"
    return nbformat.v4.new_output("execute_result", data={"text/plain": text, "text/html": f"<b>{text}</b>"})


def not_answered(title="the check"):
    text = f"{title}: not answered yet — write your answer in the exercise cell above, then run this."
    return nbformat.v4.new_output("execute_result", data={"text/plain": text})


def an_exercise():
    from emkit.check import EXERCISES

    return next(e for e in EXERCISES.values() if e.kind == "function")


def exercise_notebook(with_worked_steps=True):
    ex = an_exercise()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("# Title", "slide"),
        md("## Exercise 9: do it", "slide"),
        code(
            f"def {ex.answer}(*args):\n    ### BEGIN SOLUTION\n    return 'the secret answer'\n    ### END SOLUTION",
            meta={"emkit": {"exercise": ex.id}},
        ),
        code(f"check.{ex.check_name}({ex.answer})", outputs=[passed()]),
        md("Why it works: the secret reason.", tags=["solution"]),
        md("<details><summary>Hint</summary>a hint</details>", "skip", tags=["hint"]),
    ]
    if with_worked_steps:
        nb.cells += [
            md("### Worked steps", "subslide", tags=["solution-only"]),
            code("print('step one of the secret')", tags=["solution-only"], outputs=[stream("secret step\n")]),
        ]
    nb.cells += [md("## Afterwards", "slide"), md("Next: [the next one](02_next.ipynb#top).")]
    return nb


def test_a_lecturer_deck_answers_after_posing_and_moves_worked_steps_to_the_solution():
    ex = an_exercise()
    nb = slides.prepare(exercise_notebook(), source_name=ex.notebook)
    units = shown_units(nb)
    titles = [slides._unit_title(u)[1] for u in units]
    assert titles == ["Title", "Exercise 9: do it", "Exercise 9 — a solution", "Worked steps", "Afterwards"]
    assert [kind(u) for u in units] == ["course", "exercise", "solution", "solution", "course"]
    posed = "\n".join(c.source for c in units[1])
    assert "the secret" not in posed and "NotImplementedError" in posed and "BEGIN" not in posed
    assert "secret reason" not in posed  # the markdown tagged solution went to the solution slide ...
    answered = "\n".join(c.source for c in units[2])
    assert "return 'the secret answer'" in answered and "secret reason" in answered and "BEGIN" not in answered
    assert PASSED in "\n".join(output_text(c) for c in units[2])
    assert not any(PASSED in output_text(c) for c in units[1])  # no stored student notebook: no output
    assert "step one of the secret" in "\n".join(c.source for c in units[3])  # worked steps after the solution
    assert "](02_next.slides.html)" in units[4][-1].source
    ids = [c.id for c in nb.cells]
    assert len(ids) == len(set(ids))


def test_a_student_deck_drops_solutions_and_worked_steps_and_shows_stored_outputs():
    ex = an_exercise()
    source = exercise_notebook()
    student = notebook_tools.make_student(copy.deepcopy(source), ex.notebook)
    for cell in student.cells:
        if cell.cell_type == "code" and ex.check_name in cell.source:
            cell.outputs = [not_answered()]
    nb = slides.prepare(source, student=True, student_nb=student, source_name=ex.notebook)
    text = "\n".join(c.source + output_text(c) for c in nb.cells)
    assert "secret" not in text and "BEGIN" not in text and PASSED not in text
    assert "not answered yet" in text
    assert [slides._unit_title(u)[1] for u in shown_units(nb)] == ["Title", "Exercise 9: do it", "Afterwards"]
    # the lecturer deck takes the same "not answered yet" for its exercise slide
    lecturer = slides.prepare(source, student_nb=student, source_name=ex.notebook)
    posed = [u for u in shown_units(lecturer) if kind(u) == "exercise"][0]
    assert "not answered yet" in "\n".join(map(output_text, posed))


def test_blank_and_orphan_slides_join_the_slide_before_and_long_ones_repeat_the_title():
    figure = nbformat.v4.new_output(
        "display_data", data={"image/png": TALL_PNG, "text/plain": "<Figure>"}, metadata={}
    )  # fmt: skip
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        md("# Deck", "slide"),
        md("## A section", "slide"),
        md("Some text."),
        code("x = 1", "subslide", tags=["hide-input"]),  # shows nothing: joins "A section"
        code("print(x)", "subslide", tags=["hide-input"], outputs=[stream("1\n")]),  # one line: joins too
        code("plot()", "subslide", tags=["hide-input"], outputs=[figure]),  # a tall figure: its own slide
        md("More text under the figure.", "fragment"),
    ]
    deck = slides.prepare(nb)
    units = shown_units(deck)
    assert [slides._unit_title(u)[1] for u in units] == ["Deck", "A section", "A section (continued)"]
    assert slides._units(deck.cells)[1][-1].source == "print(x)"
    assert [c.source for c in units[2]][1:] == ["plot()", "More text under the figure."]
    assert slides.expected_slide_count(deck) == 3


def test_links_to_sibling_notebooks_point_where_the_decks_are_served():
    nb = nbformat.v4.new_notebook()
    text = (
        "Next: [01](01_kmeans.ipynb), back to [00](./00_start_here.ipynb#top), [elsewhere](https://example.org/x.ipynb)"
    )
    nb.cells = [md(f'# A\n\n{text}, <a href="02_soft_assignment.ipynb">02</a>.')]
    default = slides.prepare(nb).cells[0].source
    assert "](01_kmeans.slides.html)" in default and "](00_start_here.slides.html)" in default
    assert 'href="02_soft_assignment.slides.html"' in default and "https://example.org/x.ipynb" in default
    custom = slides.prepare(nb, next_link=lambda stem: f"../decks/{stem}.html").cells[0].source
    assert "](../decks/01_kmeans.html)" in custom


# a PNG's first bytes, 1200×700 (enough for the height estimate: this deck is never shown)
TALL_PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", 1200, 700) + bytes(5)).decode()


# --- the decks as written -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def html_decks(tmp_path_factory):
    out = tmp_path_factory.mktemp("decks")
    lecturer = slides.build(NOTEBOOKS, out / "lecturer")
    student = slides.build(NOTEBOOKS, out / "student", student=True)
    return out, lecturer, student


def test_written_decks_hide_answers_and_link_to_each_other(html_decks):
    out, lecturer, student = html_decks
    for path in lecturer + student:
        html = path.read_text(encoding="utf-8")
        for marker in slides.MARKERS:
            assert marker not in html, f"{path}: {marker}"
        for target in re.findall(r'href="([^"#:]+\.(?:html|ipynb))"', html):
            assert (path.parent / target).is_file(), (
                f"{path.name}: a link to {target}, which is not there"
                + ("" if (ROOT / "notebooks" / target.replace(".slides.html", ".ipynb")).is_file() else
                   f" (the notebook links to {target.replace('.slides.html', '.ipynb')}, which is not in notebooks/)")
            )  # fmt: skip
    for path in student:
        html = path.read_text(encoding="utf-8")
        assert PASSED not in html and 'data-emkit-kind="solution"' not in html, path.name
    with_exercises = {p.stem for p in WITH_EXERCISES}
    for path in lecturer:
        html = path.read_text(encoding="utf-8")
        stem = path.name.removesuffix(".slides.html")
        if stem in with_exercises:
            assert 'data-emkit-kind="solution"' in html, path.name
            if PASSED in (ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"):
                assert PASSED in html, f"{path.name}: the stored passed checks are on no slide"


def test_the_command_makes_student_decks(tmp_path):
    nb = next(iter(WITH_EXERCISES), NOTEBOOKS[-1])
    run = subprocess.run(
        [sys.executable, "-m", "emkit", "slides", str(nb), "--student", "-o", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    html = (tmp_path / f"{nb.stem}.slides.html").read_text(encoding="utf-8")
    assert PASSED not in html and 'data-emkit-kind="solution"' not in html
