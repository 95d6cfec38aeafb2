"""Maintainer tools for the notebooks: execute them in place, make student versions.

    python -m emkit execute notebooks/01_kmeans.ipynb ...
    python -m emkit student notebooks/01_kmeans.ipynb -o notebooks/exercises

(``python3 course.py execute`` sets up the environment and runs both for every notebook.)

nbval compares a cell's fresh output with the stored one, so after any change
that a notebook depends on, run this (or ``python3 course.py execute``) and
commit the notebook with its new outputs. Execution is in order, in a fresh
kernel, from the notebook's folder, with no timing metadata recorded.
"""

from __future__ import annotations

import re
import time
from pathlib import Path


def execute(path: str | Path, timeout: int = 300) -> float:
    """Run a notebook top to bottom in a fresh kernel and save it with its outputs."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    stamp_roles(nb, path.stem)  # roles and collapsed figure code, kept in step with the cells
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    nb.metadata.pop("widgets", None)  # widget state is per session, not content
    nbformat.write(nb, path)
    return time.perf_counter() - start


HIDE_INPUT_TAG = "hide-input"
NOTES_TAG = "notes"  # speaker notes: in the lecturer's deck, not in the student version
SOLUTION_TAG = "solution"
SOLUTION_ONLY_TAG = "solution-only"  # worked steps after an exercise: dropped from the student version
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN", "### END HIDDEN"
STUB = 'raise NotImplementedError("{label}: replace this line with your code")'


def _replace_blocks(source: str, begin: str, end: str, replacement) -> str:
    """Replace each ``begin`` ... ``end`` block (marker lines included) by ``replacement(indent)``."""
    out, inside, indent = [], False, ""
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == begin:
            if inside:
                raise ValueError(f"nested {begin!r}")
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            out.extend(replacement(indent))
        elif stripped == end:
            if not inside:
                raise ValueError(f"{end!r} without {begin!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{begin!r} without {end!r}")
    return "\n".join(out)


def student_cell_source(source: str, label: str = "Exercise") -> str:
    """The student version of a solution cell's source (see :func:`make_student`)."""
    source = _replace_blocks(source, BEGIN_HIDDEN, END_HIDDEN, lambda indent: [])
    if BEGIN not in source and END not in source:
        return f"# {label}: your answer here\n" + STUB.format(label=label)

    def stub(indent):
        if not indent:  # a module-level answer: the cell sets it to None above the block
            return [f"# YOUR CODE HERE ({label})"]
        return [f"{indent}# YOUR CODE HERE", indent + STUB.format(label=label)]

    return _replace_blocks(source, BEGIN, END, stub)


CHECK_CALL = re.compile(r"^\s*check\.(\w+)\(")


RISE_SETTINGS = {"theme": "white", "width": 1280, "height": 720, "slideNumber": "c/t"}


def _emkit_meta(cell) -> dict:
    meta = cell.metadata.get("emkit")
    return dict(meta) if isinstance(meta, dict) else {}


def stamp_roles(nb, source_name: str | None = None):
    """Write each code cell's role into its metadata (``emkit.role``: exercise, check or course), in place.

    The exercise cells name their exercise (``emkit.exercise``, an id of
    :data:`emkit.check.EXERCISES`); a cell that calls that exercise's check
    becomes its check cell. The grader reads these to find the answers (never
    by searching the code) and to know where an answer block ends.
    """
    from .check import EXERCISES

    checks = {e.check_name: e.id for e in EXERCISES.values() if source_name is None or e.notebook == source_name}
    # RISE's default reveal theme ("simple") fetches its fonts from Google; "white" ships its own
    nb.metadata["rise"] = {**nb.metadata.get("rise", {}), **RISE_SETTINGS}
    for cell in nb.cells:
        if cell.cell_type != "code":
            cell.metadata.pop("emkit", None)
            continue
        if HIDE_INPUT_TAG in cell.metadata.get("tags", []):
            # JupyterLab and RISE show such a cell's code collapsed (one click opens it); the decks leave it out
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
        meta = _emkit_meta(cell)
        if "exercise" in meta:
            ex = EXERCISES.get(meta["exercise"])
            if ex is None:
                raise ValueError(
                    f"a cell is marked as exercise {meta['exercise']!r}, which emkit.check.EXERCISES lacks"
                )
            if not re.search(rf"\b{re.escape(ex.answer)}\b", cell.source):
                raise ValueError(f"the cell of exercise {ex.id} does not define its answer {ex.answer!r}")
            cell.metadata["emkit"] = {"role": "exercise", "exercise": ex.id}
            continue
        match = CHECK_CALL.match(cell.source)
        if match and match.group(1) in checks:
            cell.metadata["emkit"] = {"role": "check", "check": checks[match.group(1)]}
        else:
            cell.metadata["emkit"] = {"role": "course"}
    return nb


def make_student(nb, source_name: str | None = None, *, keep_solutions: bool = False):
    """Turn a solution notebook (an ``nbformat`` node) into the student version, in place.

    * A code cell tagged ``solution`` (its metadata ``emkit.exercise`` names the
      exercise in :data:`emkit.check.EXERCISES`): every ``### BEGIN SOLUTION`` ...
      ``### END SOLUTION`` block inside a function becomes a ``raise
      NotImplementedError`` stub at the same indentation; a block at module
      level becomes a ``# YOUR CODE HERE`` comment (the cell should set the
      answer to ``None`` above the block, which the check reports as not
      answered). A tagged cell without markers becomes a stub entirely.
    * A markdown cell tagged ``solution``, and any cell tagged
      ``solution-only``, is dropped (worked steps that would give an answer
      away), as are speaker notes (tagged ``notes``).
    * ``### BEGIN HIDDEN`` ... ``### END HIDDEN`` blocks are removed from every
      code cell.
    * Every code cell gets its role in ``metadata.emkit`` (:func:`stamp_roles`),
      which is how ``emkit grade`` finds the answers.
    * Outputs and execution counts are cleared: execute the result to store
      the student version's own outputs ("not answered yet").

    ``keep_solutions=True`` makes the same notebook with the solutions left in
    (marker lines removed): an honest, complete submission, for tests and
    benchmarks of the grader.
    """
    from .check import EXERCISES

    stamp_roles(nb, source_name)
    cells = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if SOLUTION_ONLY_TAG in tags or NOTES_TAG in tags or (cell.cell_type == "markdown" and SOLUTION_TAG in tags):
            continue
        if cell.cell_type == "code":
            meta = _emkit_meta(cell)
            cell.metadata.pop("exercise", None)
            if SOLUTION_TAG in tags:
                if meta.get("role") != "exercise":
                    raise ValueError("a cell tagged 'solution' needs metadata emkit.exercise (an exercise id)")
                label = EXERCISES[meta["exercise"]].label
                if keep_solutions:
                    source = _replace_blocks(cell.source, BEGIN_HIDDEN, END_HIDDEN, lambda indent: [])
                    source = "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))
                    cell.source = source
                else:
                    cell.source = student_cell_source(cell.source, label)
                cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG] + ["exercise"]
            else:
                cell.source = _replace_blocks(cell.source, BEGIN_HIDDEN, END_HIDDEN, lambda indent: [])
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    nb.cells = cells
    nb.metadata["emkit"] = {"student_version": True, "source": source_name}
    return nb


def student(sources, out_dir: str | Path, *, run: bool = True) -> list[Path]:
    """Write the student version of each solution notebook into ``out_dir`` (and execute it).

    The solution notebook itself gets its cells' roles written into its
    metadata too (:func:`stamp_roles`), so that it can be graded like a
    submission; nothing else in it changes.
    """
    import nbformat

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src in map(Path, sources):
        solution = nbformat.read(src, as_version=4)
        before = nbformat.writes(solution)
        stamp_roles(solution, src.stem)
        if nbformat.writes(solution) != before:
            nbformat.write(solution, src)
        nb = make_student(nbformat.read(src, as_version=4), src.stem)
        dst = out_dir / src.name
        if dst.resolve() == src.resolve():
            raise ValueError(f"refusing to overwrite the solution notebook {src}")
        nbformat.write(nb, dst)
        if run:
            execute(dst)
        written.append(dst)
    return written
