"""Notebooks are stored executed, so that nbval really compares every cell.

nbval only checks cells that have an execution count and stored outputs; a
stripped or half-run notebook would pass without checking anything.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SLIDE_TYPES = {"slide", "subslide", "fragment", "skip", "notes", "-"}


def code_cells(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    return nb, [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def displays_something(source: str) -> bool:
    """True if running the cell must show output: a print, a plot, or a bare final value.

    A final bare *call* may return None (``plt.style.use(...)``), so only
    calls to print, display and plt.show count; a final name, attribute,
    subscript or arithmetic expression always displays its value.
    """
    if re.search(r"\b(print|display|plt\.show)\(", source):
        return True
    body = ast.parse(source).body
    if not body or not isinstance(body[-1], ast.Expr) or source.rstrip().endswith(";"):
        return False
    return not isinstance(body[-1].value, ast.Call | ast.Constant | ast.Await)


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "00_start_here.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_code_cell_was_executed_in_order_and_kept_its_output(path):
    _, cells = code_cells(path)
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, f"{path.name}: cells with no execution count; re-execute the notebook"
    assert counts == list(range(1, len(cells) + 1)), f"{path.name}: not executed top to bottom in one run"
    for cell in cells:
        source = "".join(cell["source"])
        assert not any(o["output_type"] == "error" for o in cell["outputs"]), f"stored error in: {source[:60]}"
        if displays_something(source):
            assert cell["outputs"], f"{path.name}: a cell that displays has no stored output: {source[:60]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbval_markers_work_and_carry_a_reason(path):
    """nbval obeys a comment only if it is exactly ``# NBVAL_SKIP`` (a reason after it on the
    same line silently disables the marker), so the course marks cells with nbval's tags
    (``nbval-skip``, ``nbval-ignore-output``) and requires, for each tag, a comment line
    ``# nbval-ignore-output: <reason>`` in the cell: the marker and its reason side by side."""
    _, cells = code_cells(path)
    for cell in cells:
        source = "".join(cell["source"])
        for line in source.splitlines():
            assert not re.match(r"\s*#\s*NBVAL_\w+\s*\S", line), (
                f"{path.name}: nbval ignores {line.strip()!r} (text after the marker); use the tag instead"
            )
        for tag in {"nbval-skip", "nbval-ignore-output"} & set(cell["metadata"].get("tags", [])):
            reason = re.search(rf"^#\s*{tag}:\s*(.*\w.*)$", source, re.M)
            assert reason and len(reason.group(1).split()) >= 3, (
                f"{path.name}: a cell tagged {tag} needs a comment '# {tag}: <reason>': {source[:60]!r}"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_has_slide_metadata(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        slide_type = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
        assert slide_type in SLIDE_TYPES, f"{path.name}: cell without slide metadata: {''.join(cell['source'])[:60]!r}"
    assert nb["cells"][0]["metadata"]["slideshow"]["slide_type"] == "slide"


ALL_NOTEBOOKS = NOTEBOOKS + sorted((NOTEBOOKS[0].parent / "exercises").glob("*.ipynb"))


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_hidden_input_and_hints_are_marked_the_way_every_frontend_reads(path):
    """hide-input cells are collapsed in JupyterLab and RISE too (jupyter.source_hidden); a hint is a
    <details> block (closed until opened, in JupyterLab, on GitHub and in the static pages), never a
    collapsed markdown cell (whose placeholder shows the raw Markdown, and which Run All opens)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        tags = cell["metadata"].get("tags", [])
        source = "".join(cell["source"])
        if "hide-input" in tags:
            assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True, source[:60]
        if cell["cell_type"] == "markdown":
            assert "source_hidden" not in cell["metadata"].get("jupyter", {}), source[:60]
        if "hint" in tags:
            assert source.startswith("<details><summary>Hint") and source.rstrip().endswith("</details>"), source[:60]
            assert "\n\n" in source, "the hint's body must be separated by blank lines to render as Markdown"
        if cell["cell_type"] == "code" and ("plt.show()" in source or "plt.subplots" in source):
            assert "hide-input" in tags, f"{path.name}: plotting code on a slide: tag it hide-input: {source[:60]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_speaker_notes_say_what_they_are_and_sit_on_their_slide(path):
    """In JupyterLab a notes cell reads as notes (it starts with the label); in a deck it is the notes view."""
    from emkit.slides import NOTES_LABEL

    nb = json.loads(path.read_text(encoding="utf-8"))
    notes = [c for c in nb["cells"] if "notes" in c["metadata"].get("tags", [])]
    assert notes, f"{path.name} has no speaker notes"
    for cell in notes:
        assert "".join(cell["source"]).startswith(NOTES_LABEL), "".join(cell["source"])[:60]
        assert cell["metadata"].get("slideshow", {}).get("slide_type") == "notes"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rise_finds_its_stylesheet_and_a_theme_without_web_fonts(path):
    """RISE reads rise.css beside the notebook; no comment-only <notebook>.css doubles the file browser's entries.

    (RISE also asks for <notebook>.css and gets a 404 when it is absent: tests/test_jupyterlab.py checks that the
    slideshow works regardless and that the course adds no console error of its own.)
    """
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"]["rise"]["theme"] == "white", nb["metadata"].get("rise")
    assert (path.parent / "rise.css").is_file()
    assert not path.with_suffix(".css").exists()


@pytest.mark.parametrize("path", [p for p in ALL_NOTEBOOKS if p.parent.name == "exercises"], ids=lambda p: p.name)
def test_student_versions_carry_no_speaker_notes(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert not [c for c in nb["cells"] if "notes" in c["metadata"].get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_notebook_prints_a_timing(path):
    """Outputs are compared by nbval, so a notebook shows counts (steps, evaluations), never wall-clock times."""
    _, cells = code_cells(path)
    for cell in cells:
        source = "".join(cell["source"])
        assert not re.search(r"\btime\.(perf_counter|time|monotonic)\b|\btimeit\b", source), source[:80]


def _typeset(text: str) -> list[str]:
    """The maths of a markdown text: $$…$$ and $…$ spans."""
    return re.findall(r"\$\$(.+?)\$\$", text, re.S) + re.findall(r"(?<!\$)\$([^$]+)\$(?!\$)", text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_python_operator_in_typeset_maths(path):
    """What slides and site typeset is maths: no * or ** from a SymPy expression printed as Python (an optimum
    written z^* is notation, not an operator)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for i, cell in enumerate(nb["cells"]):
        maths = _typeset("".join(cell["source"])) if cell["cell_type"] == "markdown" else []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            maths += ["".join(data["text/latex"])] if "text/latex" in data else []
            maths += _typeset("".join(data.get("text/markdown", "")))
        found += [(i, m[:80]) for m in maths if re.search(r"(?<![\\^_])\*", m)]
    assert found == [], f"{path.name}: a Python operator in typeset maths"
