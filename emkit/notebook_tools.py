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

from .grading.assignment import check_module


def execute(path: str | Path, timeout: int = 300, assignment=None) -> float:
    """Run a notebook top to bottom in a fresh kernel and save it with its outputs."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    source = (nb.metadata.get("emkit") or {}).get("source") or path.stem
    stamp_roles(nb, source, assignment)  # roles and collapsed figure code, kept in step with the cells
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


CHECK_CALL = re.compile(r"^\s*check\.(\w+)\(", re.MULTILINE)


RISE_SETTINGS = {"theme": "white", "width": 1280, "height": 720, "slideNumber": "c/t"}


def _emkit_meta(cell) -> dict:
    meta = cell.metadata.get("emkit")
    return dict(meta) if isinstance(meta, dict) else {}


EXERCISE_TAG_PREFIX = "exercise:"  # an instructor marks an exercise cell with the tag "exercise:<question id>"


def exercise_of(cell) -> str | None:
    """The exercise (question id) a code cell answers: its ``emkit.exercise`` metadata, or an ``exercise:<id>`` tag."""
    meta = _emkit_meta(cell)
    if isinstance(meta.get("exercise"), str):
        return meta["exercise"]
    for tag in cell.get("metadata", {}).get("tags", []):
        if isinstance(tag, str) and tag.startswith(EXERCISE_TAG_PREFIX) and len(tag) > len(EXERCISE_TAG_PREFIX):
            return tag[len(EXERCISE_TAG_PREFIX) :].strip()
    return None


class _Spec:
    """What the notebook tools need of an exercise: the course's (emkit.check.EXERCISES) or an assignment's question."""

    def __init__(self, qid: str, answer: str, kind: str, label: str, check_call: str, check_names: tuple):
        self.id, self.answer, self.kind, self.label = qid, answer, kind, label
        self.check_call, self.check_names = check_call, check_names


def _specs(source_name: str | None, assignment) -> dict[str, _Spec]:
    from .check import EXERCISES

    specs = {}
    for e in EXERCISES.values():
        call = f"from emkit import check\ncheck.{e.check_name}({e.answer})"
        specs[e.id] = _Spec(e.id, e.answer, e.kind, e.label, call, (e.check_name,))
    if assignment is not None:
        for q in assignment.questions:
            if q.exercise and q.exercise in EXERCISES:
                name = EXERCISES[q.exercise].check_name
                call = f"from emkit import check\ncheck.{name}({q.answer})"
            else:
                module, name = check_module(q.check), q.check.__qualname__
                call = f"from {module} import {name}  # the instructor's check, handed out with this notebook\n"
                call += f"{name}({q.answer})"
            specs[q.id] = _Spec(q.id, q.answer, q.kind, q.title or q.id, call, (name,))
    return specs


def stamp_roles(nb, source_name: str | None = None, assignment=None):
    """Write each code cell's role into its metadata (``emkit.role``: exercise, check or course), in place.

    The exercise cells name their exercise: ``emkit.exercise`` metadata (an id
    of :data:`emkit.check.EXERCISES`), or the cell tag ``exercise:<id>`` with
    the id of a question of ``assignment`` (an instructor's own). A cell that
    calls that exercise's check becomes its check cell. The grader reads
    these to find the answers (never by searching the code) and to know where
    an answer block ends.
    """
    from .check import EXERCISES

    specs = _specs(source_name, assignment)
    checks = {e.check_name: e.id for e in EXERCISES.values() if source_name is None or e.notebook == source_name}
    if assignment is not None:
        for q in assignment.questions:
            checks.setdefault(specs[q.id].check_names[0], q.id)
    # RISE's default reveal theme ("simple") fetches its fonts from Google; "white" ships its own
    nb.metadata["rise"] = {**nb.metadata.get("rise", {}), **RISE_SETTINGS}
    for cell in nb.cells:
        if cell.cell_type != "code":
            cell.metadata.pop("emkit", None)
            continue
        if HIDE_INPUT_TAG in cell.metadata.get("tags", []):
            # JupyterLab and RISE show such a cell's code collapsed (one click opens it); the decks leave it out
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
        exercise = exercise_of(cell)
        if exercise is not None:
            spec = specs.get(exercise)
            if spec is None:
                known = ", ".join(q.id for q in assignment.questions) if assignment is not None else ""
                where = f"the assignment's questions ({known})" if known else "emkit.check.EXERCISES"
                raise ValueError(
                    f"a cell is marked as exercise {exercise!r}, which is not among {where}"
                    + ("" if assignment is not None else "; pass --assignment for your own questions")
                )
            if not re.search(rf"\b{re.escape(spec.answer)}\b", cell.source):
                raise ValueError(f"the cell of exercise {spec.id} does not define its answer {spec.answer!r}")
            cell.metadata["emkit"] = {**_kept(cell), "role": "exercise", "exercise": spec.id}
            continue
        match = CHECK_CALL.search(cell.source)
        called = match.group(1) if match else None
        if called is None:
            own = re.search(r"^\s*(\w+)\(", cell.source, re.MULTILINE)
            called = own.group(1) if own and own.group(1) in checks else None
        if called in checks:
            cell.metadata["emkit"] = {**_kept(cell), "role": "check", "check": checks[called]}
        else:
            cell.metadata["emkit"] = {**_kept(cell), "role": "course"}
    return nb


def _kept(cell) -> dict:
    """A cell's own emkit metadata (its figure's alt text, say), without the roles stamp_roles writes."""
    return {k: v for k, v in _emkit_meta(cell).items() if k not in ("role", "exercise", "check")}


def make_student(nb, source_name: str | None = None, *, keep_solutions: bool = False, assignment=None):
    """Turn a solution notebook (an ``nbformat`` node) into the student version, in place.

    * An exercise cell (metadata ``emkit.exercise``, or the tag
      ``exercise:<question id>`` of an instructor's assignment): every
      ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block inside a function
      becomes a ``raise NotImplementedError`` stub at the same indentation;
      a block at module level becomes a ``# YOUR CODE HERE`` comment (the
      cell should set the answer to ``None`` above the block, which the
      check reports as not answered). An exercise cell without markers
      becomes a stub entirely. If no check cell follows an exercise, one is
      added (the course's check, or the instructor's own).
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
    specs = _specs(source_name, assignment)
    stamp_roles(nb, source_name, assignment)
    cells = []
    pending = None  # the exercise whose check cell has not come yet
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if SOLUTION_ONLY_TAG in tags or NOTES_TAG in tags or (cell.cell_type == "markdown" and SOLUTION_TAG in tags):
            continue
        if cell.cell_type == "code":
            meta = _emkit_meta(cell)
            cell.metadata.pop("exercise", None)
            role = meta.get("role")
            if pending is not None:
                if role == "check" and meta.get("check") == pending.id:
                    pending = None  # its check cell is already there
                elif not (role == "exercise" and meta.get("exercise") == pending.id):
                    cells.append(_check_cell(pending))  # no check cell came: add one right after the exercise
                    pending = None
            if role == "exercise":
                spec = specs[meta["exercise"]]
                if keep_solutions:
                    source = _replace_blocks(cell.source, BEGIN_HIDDEN, END_HIDDEN, lambda indent: [])
                    source = "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))
                    cell.source = source
                elif BEGIN not in cell.source and spec.kind in ("expression", "value"):
                    cell.source = f"{spec.answer} = None  # {spec.label}: replace None with your answer"
                else:
                    cell.source = student_cell_source(cell.source, spec.label)
                cell.metadata["tags"] = [t for t in tags if t != SOLUTION_TAG and not t.startswith(EXERCISE_TAG_PREFIX)]
                cell.metadata["tags"].append("exercise")
                pending = spec
            else:
                cell.source = _replace_blocks(cell.source, BEGIN_HIDDEN, END_HIDDEN, lambda indent: [])
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    if pending is not None:
        cells.append(_check_cell(pending))
    nb.cells = cells
    nb.metadata["emkit"] = {"student_version": True, "source": source_name}
    return nb


def _check_cell(spec: _Spec):
    import nbformat

    cell = nbformat.v4.new_code_cell(spec.check_call)
    cell.metadata["emkit"] = {"role": "check", "check": spec.id}
    cell.metadata["tags"] = ["check"]
    return cell


_LINK = re.compile(r"(\]\()([^)\s]+)(\))|((?:href|src)=[\"'])([^\"']+)([\"'])")


def relink(nb, src_dir: Path, out_dir: Path, siblings=()) -> None:
    """Point the markdown cells' relative links from ``out_dir``, where the student version is written.

    A link to a notebook that also gets a student version (a name in ``siblings``) stays as it is: the learner
    moves on among the student versions. Every other relative link (the appendix, ``../docs/learners.md``)
    is rewritten to reach the same file from ``out_dir``. Links with a scheme, absolute paths and in-page
    anchors are left alone.

    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
    ...     "[next](01_kmeans.ipynb), [appendix](90_appendix_numerics.ipynb#stop), [guide](../docs/learners.md), "
    ...     "[web](https://example.org), [here](#notation)")])
    >>> relink(nb, Path("notebooks"), Path("notebooks/exercises"), {"01_kmeans.ipynb"})
    >>> for link in nb.cells[0].source.split(", "):
    ...     print(link)
    [next](01_kmeans.ipynb)
    [appendix](../90_appendix_numerics.ipynb#stop)
    [guide](../../docs/learners.md)
    [web](https://example.org)
    [here](#notation)
    """
    import os

    siblings = set(siblings)

    def fix(target: str) -> str:
        if not target or target.startswith(("#", "/")) or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
            return target
        path, hashmark, anchor = target.partition("#")
        if os.path.normpath(path) in siblings:
            return target
        moved = os.path.relpath(os.path.normpath(src_dir / path), os.path.normpath(out_dir))
        return Path(moved).as_posix() + hashmark + anchor

    def swap(m: re.Match) -> str:
        if m.group(1):
            return m.group(1) + fix(m.group(2)) + m.group(3)
        return m.group(4) + fix(m.group(5)) + m.group(6)

    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _LINK.sub(swap, cell.source)


def student(sources, out_dir: str | Path, *, run: bool = True, assignment=None) -> list[Path]:
    """Write the student version of each solution notebook into ``out_dir`` (and execute it).

    ``assignment`` (an :class:`~emkit.grading.assignment.Assignment`) makes
    the instructor's own questions known (cells tagged ``exercise:<id>``).

    The solution notebook itself gets its cells' roles written into its
    metadata too (:func:`stamp_roles`), so that it can be graded like a
    submission; nothing else in it changes.
    """
    import shutil

    import nbformat

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for q in assignment.questions if assignment is not None else []:  # the self-checks need the instructor's checks
        base = getattr(q.check, "_emkit_base", None)
        module = Path(base or "") / f"{check_module(q.check).split('.')[0]}.py"
        if q.exercise is None and base and module.is_file() and not (out_dir / module.name).exists():
            shutil.copy(module, out_dir / module.name)
            written.append(out_dir / module.name)
    for src in map(Path, sources):
        solution = nbformat.read(src, as_version=4)
        before = nbformat.writes(solution)
        stamp_roles(solution, src.stem, assignment)
        if nbformat.writes(solution) != before:
            nbformat.write(solution, src)
        nb = make_student(nbformat.read(src, as_version=4), src.stem, assignment=assignment)
        relink(nb, src.parent, out_dir, {Path(other).name for other in sources})
        dst = out_dir / src.name
        if dst.resolve() == src.resolve():
            raise ValueError(f"refusing to overwrite the solution notebook {src}")
        nbformat.write(nb, dst)
        if run:
            execute(dst, assignment=assignment)
        written.append(dst)
    return written
