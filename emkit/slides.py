"""Every notebook is also a slide deck: ``emkit slides [NOTEBOOK...] -o DIR [--student] [--offline] [--pdf]``.

A deck is nbconvert's reveal.js export of a notebook, driven by each cell's
slide metadata (``slide``, ``subslide``, ``fragment``, ``skip``, ``notes``), in
the course's projector template (``emkit/templates/emkit_reveal``): a
1280×720 canvas, prose at 24 px and code at 16 px (wrapped, never scrolled
sideways), no input prompts, linear navigation (→ visits every slide), slide
numbers, speaker notes and a help line on the title slide.

What a deck shows is decided by :func:`prepare`, from the stored notebooks
(nothing is re-executed):

* **Exercises are posed, not answered.** An exercise cell (``emkit.role``
  ``exercise``) shows what the student version shows: the task and the empty
  stub (``notebook_tools.make_student``), with the stored output of the
  student notebook ``exercises/NAME.ipynb`` beside the solution notebook (its
  check says "not answered yet"), or no output. ``### BEGIN/END SOLUTION`` and
  ``### BEGIN/END HIDDEN`` lines are never shown.
* A **lecturer deck** (the default) follows each exercise slide with a slide
  "Exercise N — a solution": the solution cell's code without the markers,
  its stored outputs, and its check cell with the stored (passed) result.
  Worked steps that give the answer away (cells tagged ``solution-only``, and
  markdown cells tagged ``solution``) in the exercise's slide, and slides made
  only of them right after it, move onto the solution slides; elsewhere they
  stay where they are.
* An exercise's slide ends with its check: cells after it on the notebook's
  slide (not worked steps) go on a slide of their own, after the solution.
* A **student deck** (``student=True``, ``--student``) is the student
  version: no solution slides, no ``solution-only`` or ``solution`` cells, no
  speaker notes, and every output taken from the stored student notebook
  where it has the cell (so that a cell that uses an answer says "answer the
  exercise first").
* **No blank, orphan or untitled slides** (rules, not hand edits): a slide
  whose cells show nothing (a ``hide-input`` cell without output, say) joins
  the previous slide; a slide without a heading (an output, a figure or a
  paragraph that continues the section) joins the previous slide when both fit
  on one (by an estimate of their height on the 1280×720 slide), and
  otherwise repeats the section's title with "(continued)".
* Code cells tagged ``hide-input`` show only their output; cells tagged
  ``notes`` become speaker notes (press S); a viewer widget shows the PNG of
  its current frame, never ``VBox(children=...)``.
* Links to a sibling notebook (``[next](02_soft_assignment.ipynb)``) point to
  ``next_link(stem)``, by default that notebook's deck ``STEM.slides.html``
  beside this one (decks are served without the notebooks).

Each slide's ``<section>`` says what it is: ``data-emkit-kind`` is
``exercise``, ``solution`` or ``course``, which the browser tests check.

By default the decks load reveal.js, MathJax, RequireJS and jQuery from their
CDNs, as ``jupyter nbconvert --to slides`` does. With ``offline=True`` those
assets are installed from the npm registry into ``DIR/assets`` at build time
(never committed) and the decks point there, so they work with no network.
With ``pdf=True`` (offline decks) each deck is also printed to
``NAME.slides.pdf`` by headless Chromium through reveal.js's print mode: one
slide per page, 1280×720, with the slide's margins.

>>> import nbformat
>>> nb = nbformat.v4.new_notebook()
>>> nb.cells = [nbformat.v4.new_markdown_cell("# a", metadata={"slideshow": {"slide_type": "slide"}}),
...             nbformat.v4.new_markdown_cell("b", metadata={"slideshow": {"slide_type": "subslide"}}),
...             nbformat.v4.new_markdown_cell("c", metadata={"slideshow": {"slide_type": "fragment"}}),
...             nbformat.v4.new_markdown_cell("d", metadata={"slideshow": {"slide_type": "skip"}})]
>>> expected_slide_count(nb)
2
>>> deck = prepare(nb)  # "b" has no heading and fits beside "a": one slide
>>> expected_slide_count(deck)
1
"""

from __future__ import annotations

import base64
import copy
import html as html_lib
import math
import re
import shutil
import struct
import subprocess
from collections import defaultdict, deque
from pathlib import Path

# npm packages and the versions nbconvert's reveal template expects (jQuery 2.0.3,
# its default, is not on the npm registry; any 2.x serves the template).
ASSETS = {"reveal.js": "4.0.2", "mathjax": "2.7.7", "jquery": "2.2.4", "requirejs": "2.1.10"}
TEMPLATES = Path(__file__).parent / "templates"
HIDE_INPUT_TAG = "hide-input"  # a cell whose code is left off its slide (the output stays)
NOTES_TAG = "notes"  # a cell that becomes the speaker notes of its slide
NOTES_LABEL = "**Speaker notes.**"  # how such a cell starts, so that it reads as notes in JupyterLab
SOLUTION_TAG = "solution"  # a markdown cell that explains an answer (not in student decks)
SOLUTION_ONLY_TAG = "solution-only"  # worked steps after an exercise (not in student decks)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SLIDE_SIZE = (1280, 720)
# the slide's padding (emkit_projector.css): top, right, bottom, left, on screen and in the PDF
SLIDE_PADDING = (26, 56, 34, 56)
KIND = "emkit_kind"  # slideshow.data key: nbconvert writes it as data-emkit-kind on the slide's <section>
_DECK = "emkit_deck"  # a cell's bookkeeping while its deck is made (removed before the export)
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN", "### END HIDDEN")
SOLUTION_TITLE = "{label} — a solution"


def deck_link(stem: str) -> str:
    """Where a deck's link to notebook ``stem`` points by default: that notebook's deck beside it."""
    return f"{stem}.slides.html"


def expected_slide_count(nb) -> int:
    """How many slides nbconvert makes of ``nb``: the first shown cell starts one, and so does each later
    ``slide`` or ``subslide`` cell. Count a prepared notebook (:func:`prepare`) to know a deck's slides."""
    count = 0
    for cell in nb.cells:
        kind = _slide_type(cell)
        if count == 0:
            count = int(kind not in ("skip", "notes"))
        elif kind in ("slide", "subslide"):
            count += 1
    return count


def install_assets(out_dir: str | Path, packages: dict[str, str] = ASSETS) -> Path:
    """Install npm ``packages`` (name: version; default the decks' assets) into ``out_dir/assets`` once; return it."""
    assets = Path(out_dir) / "assets"
    modules = assets / "node_modules"
    if all((modules / name / "package.json").exists() for name in packages):
        return assets
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("offline decks need npm (Node.js) to install reveal.js and MathJax from the npm registry")
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "package.json").write_text('{"name": "emkit-slide-assets", "private": true}\n')
    specs = [f"{name}@{version}" for name, version in packages.items()]
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(assets), *specs],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return assets


# ---------------------------------------------------------------------------------------------------------------
# what a deck shows


def student_notebook(path: str | Path) -> Path | None:
    """The stored student version of the solution notebook ``path`` (``exercises/NAME.ipynb`` beside it), if any."""
    path = Path(path)
    candidate = path.parent / "exercises" / path.name
    return candidate if candidate.is_file() and candidate.resolve() != path.resolve() else None


def prepare_file(path: str | Path, *, student: bool = False, next_link=deck_link, assignment=None):
    """:func:`prepare` for a notebook file, with its stored student version (for the exercise slides) if any."""
    import nbformat

    path = Path(path)
    stored = student_notebook(path)
    return prepare(
        nbformat.read(path, as_version=4),
        student=student,
        student_nb=nbformat.read(stored, as_version=4) if stored else None,
        source_name=path.stem,
        next_link=next_link,
        assignment=assignment,
    )


def prepare(nb, *, student: bool = False, student_nb=None, source_name: str | None = None, next_link=deck_link,
            assignment=None):  # fmt: skip
    """The notebook as its deck shows it (a copy): see the module's docstring.

    ``student_nb`` is the stored student version (its outputs are what the
    exercise slides and, in a student deck, every cell show); ``source_name``
    the notebook's stem (for its exercises' checks); ``next_link(stem)`` the
    address of the deck of a sibling notebook; ``assignment`` an instructor's
    assignment whose questions the notebook's ``exercise:<id>`` cells answer.
    """
    from . import notebook_tools

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    meta = nb.metadata.get("emkit") if isinstance(nb.metadata.get("emkit"), dict) else {}
    source_name = source_name or meta.get("source")
    for index, cell in enumerate(nb.cells):
        cell.metadata[_DECK] = {"i": index}
    if not meta.get("student_version"):  # a student version shows as it is
        notebook_tools.stamp_roles(nb, source_name, assignment)
        _pose_alone(nb.cells)
        stored = _StoredOutputs(student_nb)
        make = _student_cells if student else _lecturer_cells
        nb.cells = make(nb, stored, source_name, assignment)
    for cell in nb.cells:
        if student and NOTES_TAG in cell.get("metadata", {}).get("tags", []):
            cell.metadata[_DECK]["drop"] = True
    nb.cells = [c for c in nb.cells if not c.metadata.get(_DECK, {}).get("drop")]
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if NOTES_TAG in tags:
            cell.metadata.setdefault("slideshow", {})["slide_type"] = "notes"
            # the label tells a reader of the notebook what the cell is; the notes view says so itself
            cell.source = cell.source.removeprefix(NOTES_LABEL).lstrip()
        if cell.cell_type == "markdown" and next_link is not None:
            cell.source = relink(cell.source, next_link)
        freeze_widget_outputs(cell)
    nb.cells = _layout(nb.cells)
    for unit in _units(nb.cells):
        first = next((c for c in unit if _slide_type(c) not in ("skip", "notes")), unit[0])
        first.metadata.setdefault("slideshow", {}).setdefault("slide_type", "-")
        first.metadata["slideshow"]["data"] = {KIND: _unit_kind(unit)}
    for cell in nb.cells:
        cell.metadata.pop(_DECK, None)
    return nb


NOTEBOOK_LINK = re.compile(r"""(\]\(\s*<?|href\s*=\s*["'])(?:\./)?([\w.-]+?)\.ipynb(?:#[^)"'\s>]*)?""")


def relink(markdown: str, next_link=deck_link) -> str:
    """``markdown`` with its links to sibling notebooks pointing to ``next_link(stem)``.

    >>> relink("Next: [02](02_soft_assignment.ipynb), [site](https://x.org/a.ipynb).")
    'Next: [02](02_soft_assignment.slides.html), [site](https://x.org/a.ipynb).'
    """
    return NOTEBOOK_LINK.sub(lambda m: m.group(1) + next_link(m.group(2)), markdown)


def freeze_widget_outputs(cell) -> None:
    """A viewer's output as its still frame (the PNG it stores), for pages that run no kernel; in place."""
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if WIDGET_VIEW in data:
            data.pop(WIDGET_VIEW)
            if "image/png" in data:
                data.pop("text/plain", None)
            else:
                data["text/plain"] = "(an interactive viewer: run the notebook to use it)"


class _StoredOutputs:
    """The stored outputs of a notebook's code cells, looked up by their source (each taken once, in order)."""

    def __init__(self, nb):
        self.by_source = defaultdict(deque)
        for cell in nb.cells if nb is not None else []:
            if cell.cell_type == "code":
                self.by_source[cell.source].append(cell.get("outputs", []))

    def take(self, source: str):
        queue = self.by_source.get(source)
        return copy.deepcopy(queue.popleft()) if queue else None


def _role(cell) -> tuple[str | None, str | None]:
    meta = cell.get("metadata", {}).get("emkit")
    if not isinstance(meta, dict):
        return None, None
    return meta.get("role"), meta.get("exercise") or meta.get("check")


def _index(cell):
    return cell.get("metadata", {}).get(_DECK, {}).get("i")


def _mark(cell, kind: str):
    cell.metadata.setdefault(_DECK, {})["kind"] = kind
    return cell


def _solution_ish(cell) -> bool:
    """A cell that gives an answer away: tagged ``solution-only``, or a markdown cell tagged ``solution``."""
    tags = cell.get("metadata", {}).get("tags", [])
    return SOLUTION_ONLY_TAG in tags or (cell.cell_type == "markdown" and SOLUTION_TAG in tags)


def _pose_alone(cells) -> None:
    """An exercise's slide ends with its check: what follows it on the notebook's slide starts a slide of its own."""
    for unit in _units(cells):
        roles = [k for k, c in enumerate(unit) if _role(c)[0] in ("exercise", "check")]
        rest = [c for c in unit[roles[-1] + 1 :] if _visible(c) and not _solution_ish(c)] if roles else []
        if rest:
            rest[0].metadata.setdefault("slideshow", {})["slide_type"] = "subslide"


def _student_version(nb, source_name, assignment):
    from . import notebook_tools

    return notebook_tools.make_student(copy.deepcopy(nb), source_name, assignment=assignment)


def _student_cells(nb, stored, source_name, assignment) -> list:
    """The student version's cells, each with its stored student output (a course cell: else its own)."""
    original = {_index(c): c for c in nb.cells}
    cells = []
    for cell in _student_version(nb, source_name, assignment).cells:
        role = _role(cell)[0]
        if cell.cell_type == "code":
            outputs = stored.take(cell.source)
            if outputs is None:
                i = _index(cell)
                outputs = copy.deepcopy(original[i].outputs) if i is not None and role == "course" else []
            cell.outputs = outputs
        if role == "exercise":
            _mark(cell, "exercise")
        cells.append(cell)
    return cells


def _solution_source(source: str) -> str:
    """A solution cell's code as a solution slide shows it: hidden blocks removed, marker lines dropped."""
    from . import notebook_tools as nbt

    source = nbt._replace_blocks(source, nbt.BEGIN_HIDDEN, nbt.END_HIDDEN, lambda indent: [])
    return "\n".join(line for line in source.splitlines() if line.strip() not in (nbt.BEGIN, nbt.END))


EXERCISE_LABEL = re.compile(r"\b(Exercise\s+\d+(?:\.\d+)*[a-z]?)\b")


class _Solution:
    """One exercise's solution slides: its code, its checks and the worked steps that go with it."""

    def __init__(self, cell, label: str):
        self.cell, self.label, self.checks, self.extras = cell, label, [], []

    def cells(self) -> list:
        import nbformat

        title = SOLUTION_TITLE.format(label=self.label)
        heading = nbformat.v4.new_markdown_cell(f"## {title}", metadata={"slideshow": {"slide_type": "subslide"}})
        code = copy.deepcopy(self.cell)
        code.source = _solution_source(code.source)
        tags = [t for t in code.metadata.get("tags", []) if t != SOLUTION_TAG and not t.startswith("exercise:")]
        code.metadata["tags"] = tags
        code.metadata.setdefault("slideshow", {})["slide_type"] = "-"
        checks = []
        for check in self.checks:
            check = copy.deepcopy(check)
            check.source = _solution_source(check.source)
            check.metadata.setdefault("slideshow", {})["slide_type"] = "-"
            checks.append(check)
        if checks and _estimate([heading, code, *checks]) > MERGE_BUDGET:
            checks[0].metadata["slideshow"]["slide_type"] = "subslide"  # the check on a slide of its own
        extras = [copy.deepcopy(c) for c in self.extras]
        for cell in extras:
            if _slide_type(cell) == "slide":
                cell.metadata["slideshow"]["slide_type"] = "subslide"
            if cell.cell_type == "code":
                cell.source = _solution_source(cell.source)
        if extras and _slide_type(extras[0]) not in ("subslide",):
            if _estimate([heading, code, *checks, *extras]) > MERGE_BUDGET:
                extras[0].metadata.setdefault("slideshow", {})["slide_type"] = "subslide"
        cells = [heading, code, *checks, *extras]
        for cell in cells[1:]:
            cell.id = _new_id()  # copies of the notebook's cells, which the deck may show too
        return [_mark(c, "solution") for c in cells]


def _new_id() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


def _lecturer_cells(nb, stored, source_name, assignment) -> list:
    """The solution notebook with each exercise posed (its stub) and answered on the slide(s) after it."""
    from . import notebook_tools

    student = _student_version(nb, source_name, assignment)
    shown = {}  # index of a solution cell -> the student version's cell (a stub, or the code without hidden blocks)
    added = defaultdict(list)  # index -> check cells that the student version adds after that cell
    last = None
    for cell in student.cells:
        i = _index(cell)
        if i is None:
            added[last].append(cell)
        else:
            shown[i], last = cell, i
    specs = notebook_tools._specs(source_name, assignment)

    # each exercise: its label, its check cells, and the last slide of the notebook that is about it
    units = _units(nb.cells)
    solutions, by_cell, by_exercise, headings = [], {}, {}, []  # headings: the sections the cell is in
    for u, unit in enumerate(units):
        for cell in unit:
            title = _heading(cell)
            if title:
                headings = [h for h in headings if h[0] < title[0]] + [title]
            role, ref = _role(cell)
            if role == "exercise":  # "Exercise 3" from its section's heading, else from the exercise's spec
                match = next(filter(None, (EXERCISE_LABEL.search(h[1]) for h in reversed(headings))), None)
                solution = _Solution(cell, match.group(1) if match else getattr(specs.get(ref), "label", "Exercise"))
                solution.start = solution.end = u
                solutions.append(solution)
                by_cell[_index(cell)] = by_exercise[ref] = solution
            elif role == "check" and ref in by_exercise:
                by_exercise[ref].checks.append(cell)
                by_exercise[ref].end = max(by_exercise[ref].end, u)
    owner = {}  # a slide made only of worked steps right after an exercise -> that exercise's solution
    for solution in solutions:
        u = solution.end + 1
        while u < len(units) and u not in owner and not any(_role(c)[0] == "exercise" for c in units[u]):
            visible = [c for c in units[u] if _visible(c)]
            if not visible or not all(map(_solution_ish, visible)):
                break
            owner[u] = solution
            solution.end = u
            u += 1

    out = []
    for u, unit in enumerate(units):
        if u in owner:
            owner[u].extras.extend(unit)
        else:
            here = [s for s in solutions if s.start == u]
            current, early = None, []  # worked steps before the slide's first exercise go with it
            for cell in unit:
                i, role = _index(cell), _role(cell)[0]
                if role == "exercise" and i in by_cell:
                    current = by_cell[i]
                    current.extras[:0], early = early, []
                    stub = copy.deepcopy(shown.get(i, cell))
                    stub.outputs = stored.take(stub.source) or []
                    stub.execution_count = None
                    out.append(_mark(stub, "exercise"))
                    for check in added.get(i, []):
                        check = copy.deepcopy(check)
                        check.outputs = stored.take(check.source) or []
                        out.append(check)
                elif role == "check":  # as the student sees it before answering: "not answered yet", or nothing
                    check = copy.deepcopy(shown.get(i, cell))
                    check.outputs = stored.take(check.source) or []
                    check.execution_count = None
                    out.append(check)
                elif here and _solution_ish(cell):
                    (current.extras if current else early).append(cell)
                else:
                    if cell.cell_type == "code":  # hidden blocks are hidden from the room too
                        cell.source = shown[i].source if i in shown else _solution_source(cell.source)
                    out.append(cell)
        for solution in solutions:
            if solution.end == u:
                out.extend(solution.cells())
    return out


# ---------------------------------------------------------------------------------------------------------------
# slides: no blank, orphan or untitled ones

CONTENT_WIDTH = SLIDE_SIZE[0] - SLIDE_PADDING[1] - SLIDE_PADDING[3]
CONTENT_HEIGHT = SLIDE_SIZE[1] - SLIDE_PADDING[0] - SLIDE_PADDING[2]
MERGE_BUDGET = CONTENT_HEIGHT - 60  # two slides become one only if the estimate leaves this much room
MAX_CODE_LINES, MAX_TEXT = 15, 1800  # what one slide may hold (tests/test_slides.py)
HEADING = re.compile(r"^ {0,3}(#{1,3})\s+(.*?)\s*#*\s*$")


def _slide_type(cell) -> str:
    return (cell.get("metadata", {}).get("slideshow", {}) or {}).get("slide_type", "-") or "-"


def _units(cells) -> list[list]:
    """The cells of each slide, in order: a ``slide`` or ``subslide`` cell starts a new one."""
    units = []
    for cell in cells:
        if _slide_type(cell) in ("slide", "subslide") or not units:
            units.append([])
        units[-1].append(cell)
    return units


def _output_shows(output) -> bool:
    kind = output.get("output_type")
    if kind == "stream":
        return bool(output.get("text", "").strip())
    if kind == "error":
        return True
    data = output.get("data", {})
    if any(k.startswith("image/") for k in data) or data.get("text/latex", "").strip():
        return True
    if "text/html" in data:
        markup = data["text/html"]
        return bool(re.sub(r"<[^>]+>", "", markup).strip()) or bool(re.search(r"<(img|svg|canvas)\b", markup))
    return any(str(v).strip() for k, v in data.items() if k.startswith("text/"))


def _visible(cell) -> bool:
    """Whether the cell shows anything on its slide."""
    tags = cell.get("metadata", {}).get("tags", [])
    if _slide_type(cell) in ("skip", "notes") or NOTES_TAG in tags:
        return False
    if cell.cell_type == "markdown":
        return bool(re.sub(r"<!--.*?-->", "", cell.source, flags=re.S).strip())
    if cell.cell_type != "code":
        return False
    if cell.source.strip() and HIDE_INPUT_TAG not in tags:
        return True
    return any(_output_shows(o) for o in cell.get("outputs", []))


def _heading(cell) -> tuple[int, str] | None:
    """A markdown cell's first heading of level 1 to 3 (outside code blocks): (level, text)."""
    if cell.cell_type != "markdown" or not _visible(cell):
        return None
    fenced = False
    for line in cell.source.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match and match.group(2):
            return len(match.group(1)), match.group(2)
    return None


def _unit_title(unit):
    return next((h for h in map(_heading, unit) if h), None)


def _unit_kind(unit) -> str:
    kinds = {c.get("metadata", {}).get(_DECK, {}).get("kind") for c in unit}
    return "solution" if "solution" in kinds else "exercise" if "exercise" in kinds else "course"


def _png_size(b64: str) -> tuple[int, int] | None:
    try:
        head = base64.b64decode(b64.replace("\n", "")[:44])
        if head[:8] == b"\x89PNG\r\n\x1a\n":
            return struct.unpack(">II", head[16:24])
    except (ValueError, struct.error):
        pass
    return None


def _text_lines(text: str, width: int) -> int:
    return sum(max(1, math.ceil(len(line) / width)) for line in text.rstrip("\n").splitlines() or [""])


def _markdown_height(source: str) -> float:
    height, paragraph, display = 0.0, "", None
    sizes = {1: 65, 2: 55, 3: 47}
    for line in re.sub(r"<!--.*?-->", "", source, flags=re.S).splitlines() + [""]:
        stripped = line.strip()
        if display is not None:  # inside $$ ... $$
            display += stripped.count("\\\\")
            if stripped.endswith("$$"):
                height, display = height + 70 + 38 * display, None
            continue
        if stripped.startswith("$$"):
            if stripped.endswith("$$") and len(stripped) > 2:
                height += 70 + 38 * stripped.count("\\\\")
            else:
                display = stripped.count("\\\\")
            continue
        match = HEADING.match(line)
        if not stripped or match or stripped.startswith(("|", "* ", "- ", "+ ")) or re.match(r"\d+\. ", stripped):
            if paragraph:
                height += _text_lines(paragraph, 92) * 32.4 + 10
                paragraph = ""
        if not stripped:
            continue
        if match:
            height += sizes[len(match.group(1))]
        elif stripped.startswith("|"):
            if not re.fullmatch(r"[|:\-\s]+", stripped):
                height += max(1, math.ceil(len(stripped) / 95)) * 30 + 10
        elif stripped.startswith(("* ", "- ", "+ ")) or re.match(r"\d+\. ", stripped):
            height += _text_lines(stripped, 86) * 32.4 + 4
        else:
            paragraph += " " + stripped
    return height


def _output_height(output) -> float:
    kind = output.get("output_type")
    if kind == "stream":
        return _text_lines(output.get("text", ""), 118) * 20.8 + 8
    if kind == "error":
        return _text_lines("\n".join(output.get("traceback", [])), 118) * 20.8 + 8
    data = output.get("data", {})
    if "image/png" in data:
        size = _png_size(data["image/png"])
        shown = (output.get("metadata", {}) or {}).get("image/png", {}) or {}
        width, height = shown.get("width") or (size or (800, 500))[0], shown.get("height")
        if height is None:
            height = (size or (800, 500))[1] * (width / size[0] if size else 1)
        scale = min(1.0, CONTENT_WIDTH / width, 560 / height)
        return height * scale + 12
    if any(k.startswith("image/") for k in data):
        return 400
    if "text/latex" in data:
        return 64 + 40 * data["text/latex"].count("\\\\")
    if "text/html" in data:
        markup = data["text/html"]
        text = re.sub(r"<[^>]+>", "", markup)
        rows = len(re.findall(r"<(li|tr)\b", markup))
        return _text_lines(html_lib.unescape(text), 95) * 30 + rows * 30 + 16
    return _text_lines(str(data.get("text/plain", "")), 118) * 20.8 + 8


def _estimate(cells) -> float:
    """About how tall these cells are on a 1280×720 slide, in px (fragments shown)."""
    height = 0.0
    for cell in cells:
        if not _visible(cell):
            continue
        if cell.cell_type == "markdown":
            height += _markdown_height(cell.source)
            continue
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.source.strip() and HIDE_INPUT_TAG not in tags:
            height += _text_lines(cell.source, 118) * 20.8 + 24
        height += sum(_output_height(o) for o in cell.get("outputs", []) if _output_shows(o))
    return height * 1.1  # measured in Chromium, the course's slides are up to a tenth taller than this sum


def _load(cells) -> tuple[int, int]:
    code = sum(
        len(c.source.splitlines())
        for c in cells
        if c.cell_type == "code" and _visible(c) and HIDE_INPUT_TAG not in c.get("metadata", {}).get("tags", [])
    )
    text = sum(len(c.source) for c in cells if c.cell_type == "markdown" and _visible(c))
    return code, text


def _fits(cells) -> bool:
    code, text = _load(cells)
    return _estimate(cells) <= MERGE_BUDGET and code <= MAX_CODE_LINES and text <= MAX_TEXT


def _join(unit, other) -> None:
    """Put the cells of slide ``other`` at the end of slide ``unit``."""
    first = other[0]
    if _slide_type(first) in ("slide", "subslide"):
        first.metadata["slideshow"]["slide_type"] = "-"
        first.metadata["slideshow"].pop("data", None)
    unit.extend(other)


def _layout(cells) -> list:
    """The cells, with no blank slide, no orphan output and no slide without a title (see the docstring)."""
    import nbformat

    units = []
    for unit in _units(cells):
        shows = any(map(_visible, unit))
        if not shows and units and any(map(_visible, units[-1])):
            _join(units[-1], unit)  # nothing to see: it belongs to the slide before
        else:
            units.append(unit)
    out = []
    titles = {}  # the title of the section, for the course's slides and for the solution slides
    for unit in units:
        kind = _unit_kind(unit)
        family = "solution" if kind == "solution" else "course"
        if not any(map(_visible, unit)):
            out.append(unit)
            continue
        title = _unit_title(unit)
        if title:
            titles[family] = (title[0], title[1].removesuffix(" (continued)"))
            out.append(unit)
            continue
        previous = next((u for u in reversed(out) if any(map(_visible, u))), None)
        if previous is not None and _unit_kind(previous) == kind and _fits(previous + unit):
            _join(previous, unit)
            continue
        if family in titles:
            level, text = titles[family]
            first = unit[0]
            cell = nbformat.v4.new_markdown_cell(f"{'#' * level} {text} (continued)")
            cell.metadata["slideshow"] = {"slide_type": _slide_type(first)}
            if _slide_type(first) in ("slide", "subslide"):
                first.metadata["slideshow"]["slide_type"] = "-"
            unit.insert(0, _mark(cell, kind) if kind != "course" else cell)
        out.append(unit)
    return [cell for unit in out for cell in unit]


# ---------------------------------------------------------------------------------------------------------------
# export


def _exporter(offline: bool):
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    c = Config()
    c.SlidesExporter.extra_template_basedirs = [str(TEMPLATES)]
    c.SlidesExporter.template_name = "emkit_reveal"
    c.SlidesExporter.reveal_theme = "white"  # nbconvert's default, "simple", imports Google Fonts
    # long figure-drawing cells: on a slide the figure matters, not the code that draws it
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {HIDE_INPUT_TAG}
    if offline:
        prefix = "assets/node_modules"
        c.SlidesExporter.reveal_url_prefix = f"{prefix}/reveal.js"
        c.SlidesExporter.mathjax_url = f"{prefix}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
        c.SlidesExporter.require_js_url = f"{prefix}/requirejs/require.js"
        c.SlidesExporter.jquery_url = f"{prefix}/jquery/dist/jquery.min.js"
    else:
        c.SlidesExporter.reveal_url_prefix = "https://unpkg.com/reveal.js@4.0.2"
    return SlidesExporter(config=c)


def build(notebooks, out_dir: str | Path, *, offline: bool = False, pdf: bool = False, student: bool = False,
          next_link=deck_link, assignment=None) -> list[Path]:  # fmt: skip
    """Write ``NAME.slides.html`` for each notebook into ``out_dir`` (and ``NAME.slides.pdf``); return the paths.

    Lecturer decks by default (each exercise posed, then a solution slide);
    ``student=True`` makes student decks (no solutions). ``next_link(stem)``
    is where a link to a sibling notebook points (default: its deck beside
    this one, ``STEM.slides.html``).
    """

    if pdf and not offline:
        raise ValueError("PDF handouts are printed from the offline decks: use offline=True (--offline) with pdf")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if offline:
        install_assets(out_dir)
    exporter = _exporter(offline)
    written = []
    for path in map(Path, notebooks):
        try:
            nb = prepare_file(path, student=student, next_link=next_link, assignment=assignment)
        except ValueError as exc:  # an exercise the course does not know: say which notebook
            raise ValueError(f"{path}: {exc}") from exc
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        target = out_dir / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    if pdf:
        written += print_pdfs([p for p in written if p.suffix == ".html"])
    return written


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def browser(width: int = SLIDE_SIZE[0], height: int = SLIDE_SIZE[1], *, log_network: bool = False):
    """A headless Chromium driven by Selenium, its window the size of a projector (needs chromium-driver).

    With ``log_network``, ``driver.get_log("performance")`` holds the DevTools network events. For an exact
    viewport, use :func:`set_viewport` (the decks' tests and :func:`print_pdfs` do).
    """
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    exe = chromium()
    driver_exe = shutil.which("chromedriver")
    if exe is None or driver_exe is None:
        raise RuntimeError("needs Chromium and its driver (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = exe
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='emkit-chromium-')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", **({"performance": "ALL"} if log_network else {})})
    driver = webdriver.Chrome(service=Service(driver_exe), options=options)
    # the window's inner size is what a projector shows: make it about that
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(width + (width - inner[0]), height + (height - inner[1]))
    return driver


def set_viewport(driver, width: int = SLIDE_SIZE[0], height: int = SLIDE_SIZE[1]) -> None:
    """Make the page's viewport exactly ``width`` × ``height`` CSS px (DevTools' device metrics)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
    )


def wait_for_deck(driver, timeout: float = 60.0) -> None:
    """Wait until reveal.js is ready and MathJax has typeset everything."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(
            "return !!(window.Reveal && Reveal.isReady && Reveal.isReady()) &&"
            " !!(window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 && MathJax.Hub.queue.running === 0)"
        )
    )


def print_pdfs(decks) -> list[Path]:
    """Print each deck to ``NAME.slides.pdf`` (one slide per 1280×720 page) with headless Chromium."""
    import time

    written = []
    driver = browser()
    set_viewport(driver)
    try:
        for deck in map(Path, decks):
            driver.get(deck.resolve().as_uri() + "?print-pdf")
            wait_for_deck(driver)
            deadline = time.monotonic() + 20  # the pages are laid out, and their figures fitted (the template)
            while not driver.execute_script("return !!window.emkitFitted") and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.3)
            pdf = driver.execute_cdp_cmd(
                "Page.printToPDF",
                {"printBackground": True, "preferCSSPageSize": True, "marginTop": 0, "marginBottom": 0,
                 "marginLeft": 0, "marginRight": 0},
            )  # fmt: skip
            target = deck.with_suffix(".pdf")
            target.write_bytes(base64.b64decode(pdf["data"]))
            written.append(target)
    finally:
        driver.quit()
    return written
