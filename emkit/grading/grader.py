"""Grade one submission: run its cells in a runner, call its answers from here, score here.

The trust boundary (see the package docstring): the submission's code runs
only in the runner process. This process decides every score, with the same
checks a learner sees (:mod:`emkit.check`), on inputs it makes from fresh
random seeds, from plain data the runner sends back:

* a **function** answer is called through :class:`RemoteAnswer`, which sends
  the check's inputs to the runner and returns the decoded result; the check
  never knows it is remote;
* an **expression** answer is read when the notebook moves past its exercise
  (a *snapshot*, taken before the first course cell after the exercise cell),
  as text, with the whitelist parser.

An answer that reaches a function its question forbids (emkit's own
implementation of the step) scores 0 with the status "uses the reference
implementation": during its calls for a function answer, or before its
snapshot for an expression answer.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import session, wire
from .assignment import Assignment, Question
from .session import Limits, Runner, RunnerConfig, RunnerDied

MAX_SUBMISSION_BYTES = 100 * 1024 * 1024
MAX_FEEDBACK_CHARS = 4000


@dataclass
class Row:
    """One line of the report: one student, one question."""

    student: str
    submission: str
    question: str
    points: float
    max_points: float
    passed_parts: str
    status: str
    feedback: str


@dataclass
class SubmissionResult:
    student: str
    submission: str
    status: str
    seconds: float = 0.0
    rows: list[Row] = field(default_factory=list)
    graded: bool = True  # False: nothing of it could be graded (malformed, could not run)
    cells: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def points(self) -> float:
        return sum(r.points for r in self.rows)

    @property
    def max_points(self) -> float:
        return sum(r.max_points for r in self.rows)


@dataclass
class Options:
    limits: Limits = field(default_factory=Limits)
    sandbox: str | None = None  # None or "bwrap"
    scratch_root: Path | None = None
    mpl_cache: Path | None = None
    zygote: object | None = None  # a session.Zygote shared by the batch (None: a fresh process per runner)


# ---------------------------------------------------------------------------
# Reading the notebook
# ---------------------------------------------------------------------------


def _emkit_meta(cell) -> dict:
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    out = meta.get("emkit", {}) if isinstance(meta, dict) else {}
    return out if isinstance(out, dict) else {}


def read_notebook(nb_bytes: bytes) -> dict:
    """The notebook as nbformat v4 (raises ValueError with a readable reason)."""
    import nbformat

    if len(nb_bytes) > MAX_SUBMISSION_BYTES:
        raise ValueError(
            f"the file is {len(nb_bytes) / 1e6:.0f} MB, more than the {MAX_SUBMISSION_BYTES // 10**6} MB read"
        )
    if not nb_bytes.strip():
        raise ValueError("the file is empty")
    try:
        text = nb_bytes.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise ValueError("JSON, but not a notebook (no 'cells')")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        raise ValueError(f"not a valid nbformat 4 notebook ({type(exc).__name__}: {str(exc)[:200]})") from None
    return nb


@dataclass
class Plan:
    """What to run and what to grade in one notebook."""

    cells: list[tuple[int, str]]  # (cell index, source) of the code cells, in order
    questions: list[Question]
    snapshot_after: dict[int, list[Question]]  # position in `cells` -> expression questions to read after it
    snapshot_position: dict[str, int]
    missing: dict[str, str]  # question id -> why it is missing
    notes: list[str]


def plan(nb, assignment: Assignment) -> Plan:
    """Find the questions by the metadata ``emkit student`` writes (never by searching the code)."""
    by_id = assignment.by_id()
    by_exercise: dict[str, list[Question]] = {}
    for q in assignment.questions:
        by_exercise.setdefault(q.id, []).append(q)
        if q.exercise and q.exercise != q.id:
            by_exercise.setdefault(q.exercise, []).append(q)
    notes: list[str] = []
    cells = []
    exercise_cells: dict[str, list[int]] = {}
    roles = []
    for index, cell in enumerate(nb.cells):
        meta = _emkit_meta(cell)
        if cell.cell_type != "code":
            continue
        source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        position = len(cells)
        cells.append((index, source))
        roles.append(meta.get("role") or ("exercise" if "exercise" in meta else "check" if "check" in meta else None))
        ex = meta.get("exercise")
        if isinstance(ex, str):
            if ex in by_exercise:
                for q in by_exercise[ex]:
                    exercise_cells.setdefault(q.id, []).append(position)
            else:
                notes.append(f"cell {index + 1} is marked as exercise {ex!r}, which this assignment does not grade")
    source_nb = (nb.metadata.get("emkit") or {}).get("source") if isinstance(nb.metadata.get("emkit"), dict) else None
    expected = [q for q in assignment.questions if source_nb and q.notebook == source_nb]
    chosen = [q for q in assignment.questions if q.id in exercise_cells or q in expected or q.find == "name"]
    missing = {}
    for q in chosen:
        positions = exercise_cells.get(q.id, [])
        if len(positions) > 1:
            shown = ", ".join(str(cells[p][0] + 1) for p in positions)
            notes.append(
                f"{q.id}: {len(positions)} cells are marked as its answer (cells {shown}); the last one counts"
            )
        if not positions and q.find == "metadata":
            missing[q.id] = (
                "the exercise cell for this question is not in the notebook (deleted, or its metadata removed)"
            )
    if source_nb and not chosen:
        notes.append(f"this is the student version of {source_nb}, which has no questions in this assignment")
    snapshot_after: dict[int, list[Question]] = {}
    snapshot_position: dict[str, int] = {}
    for q in chosen:
        if q.kind != "expression" or q.id in missing:
            continue
        positions = exercise_cells.get(q.id)
        if positions:
            end = positions[-1]
            while end + 1 < len(cells) and roles[end + 1] is None:
                end += 1  # the learner's own cells right after the exercise belong to the answer
        else:
            end = len(cells) - 1
        snapshot_after.setdefault(end, []).append(q)
        snapshot_position[q.id] = end
    del by_id
    return Plan(cells, chosen, snapshot_after, snapshot_position, missing, notes)


# ---------------------------------------------------------------------------
# Running the cells, with restarts
# ---------------------------------------------------------------------------


class Execution:
    """The submission's cells run in a runner; a cell that kills or hangs its runner is skipped on a replay."""

    def __init__(self, p: Plan, config: RunnerConfig, limits: Limits, deadline: float, zygote=None):
        self.plan, self.config, self.limits, self.deadline = p, config, limits, deadline
        self.zygote = zygote
        self.runner: Runner | None = None
        self.done = 0  # cells executed by the current runner
        self.skip: set[int] = set()
        self.status: dict[int, dict] = {}
        self.snapshots: dict[str, object] = {}
        self.hits: dict[int, set] = {}  # position -> qualified names reported while it ran
        self.denied: list[str] = []
        self.tampered = False
        self.locked = False
        self.restarts = 0
        self.out_of_time = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _new_runner(self) -> Runner:
        if self.restarts > 20:
            raise RunnerDied("the runner had to be restarted more than 20 times")
        self.restarts += 1
        runner = Runner(self.config, self.limits, self.zygote)
        runner.start()
        self.done = 0
        self.locked = False
        return runner

    def _collect(self, runner: Runner, since: int, position: int | None) -> None:
        for r in runner.reports_since(since):
            if r.kind == "ref" and position is not None:
                self.hits.setdefault(position, set()).add(r.detail)
            elif r.kind == "denied" and len(self.denied) < 20 and r.detail not in self.denied:
                self.denied.append(r.detail)
        self.tampered = self.tampered or runner.tampered

    def run_until(self, end: int) -> None:
        """Make sure the current runner has executed every cell before position ``end`` (except skipped ones)."""
        while True:
            if self.runner is None:
                try:
                    self.runner = self._new_runner()
                except RunnerDied as exc:
                    raise RunnerDied(f"the runner did not start: {exc.reason}") from None
            runner = self.runner
            position = self.done
            try:
                while self.done < end:
                    position = self.done
                    if position in self.skip:
                        self.done += 1
                        continue
                    left = self.remaining()
                    if left <= 1:
                        self.out_of_time = True
                        for p in range(position, len(self.plan.cells)):
                            self.status.setdefault(p, {"status": "not run (the submission's time limit ran out)"})
                            self.skip.add(p)
                        self.done = end
                        return
                    index, source = self.plan.cells[position]
                    since = runner.bucket + 1
                    started = time.monotonic()
                    outcome = runner.run_cell(index, source, min(self.limits.cell, left))
                    outcome["seconds"] = round(time.monotonic() - started, 3)
                    self._collect(runner, since, position)
                    if position not in self.status or self.status[position].get("status") != "ok":
                        self.status[position] = outcome
                    for q in self.plan.snapshot_after.get(position, []):
                        if q.id not in self.snapshots:
                            since = runner.bucket + 1
                            self.snapshots[q.id] = runner.snapshot(q.answer, min(self.limits.call, max(1.0, left)))
                            self._collect(runner, since, position)
                    self.done += 1
                return
            except RunnerDied as exc:
                self._collect(runner, 0, None)
                self.status[position] = {"status": "killed", "reason": exc.reason}
                self.skip.add(position)
                runner.kill()
                self.runner = None

    def answer_phase(self) -> Runner:
        """A runner that has run every cell and is locked for answer calls."""
        self.run_until(len(self.plan.cells))
        if self.runner is None:
            raise RunnerDied("no runner")
        if not self.locked:
            self.runner.lock()
            self.locked = True
        return self.runner

    def close(self) -> None:
        if self.runner is not None:
            self._collect(self.runner, 0, None)
            self.runner.close()
            self.runner = None


class RemoteAnswer:
    """Stands for the submission's function: calls it in the runner, returns plain data.

    Passed to a check in place of the learner's function. Every reference
    hit reported while one of its calls runs is kept in ``hits``.
    """

    def __init__(self, execution: Execution, question: Question):
        self.execution, self.question = execution, question
        self.hits: set[str] = set()
        self.calls = 0
        self.failure = ""  # why the answer could not be called at all, if it could not

    def __call__(self, *args):
        from ..check.running import RemoteException

        ex = self.execution
        left = ex.remaining()
        if left <= 1:
            raise TimeoutError("the submission's time limit ran out")
        try:
            runner = ex.answer_phase()
        except RunnerDied as exc:
            raise RemoteException("RuntimeError", f"the notebook could not be run again ({exc.reason})") from None
        self.calls += 1
        since = runner.bucket + 1
        try:
            reply = runner.call(self.calls, self.question.answer, args, min(ex.limits.call, left))
        except RunnerDied as exc:
            ex._collect(runner, since, None)
            self._note_hits(runner, since)
            runner.kill()
            ex.runner = None
            if "no answer within" in exc.reason:
                raise TimeoutError(f"stopped after {ex.limits.call:g} s (an endless loop?)") from None
            raise RemoteException("ProcessDied", f"running your function ended its process ({exc.reason})") from None
        ex._collect(runner, since, None)
        self._note_hits(runner, since)
        op = reply.get("op")
        if op == "not_implemented":
            raise NotImplementedError
        if op == "timed_out":
            raise TimeoutError(f"stopped after {ex.limits.call:g} s (an endless loop?)")
        if op == "raised":
            err = reply.get("error") or {}
            raise RemoteException(
                str(err.get("type", "Exception")), str(err.get("message", "")), str(err.get("line", ""))
            )
        try:
            return wire.decode(reply.get("value"))
        except wire.WireError as exc:
            ex.tampered = True
            raise RemoteException("WireError", f"the result could not be read as plain data ({exc})") from None

    def _note_hits(self, runner: Runner, since: int) -> None:
        for r in runner.reports_since(since):
            if r.kind == "ref":
                self.hits.add(r.detail)


# ---------------------------------------------------------------------------
# One submission
# ---------------------------------------------------------------------------


def _feedback(result) -> str:
    text = str(result)
    return text if len(text) <= MAX_FEEDBACK_CHARS else text[: MAX_FEEDBACK_CHARS - 20] + "\n... (cut)"


def _cell_summary(execution: Execution, p: Plan) -> tuple[str, list[dict]]:
    cells, errors, killed, interrupted = [], 0, 0, 0
    for position, (index, _source) in enumerate(p.cells):
        st = execution.status.get(position, {"status": "not run"})
        cells.append({"cell": index + 1, **st})
        kind = st.get("status")
        errors += kind == "error"
        killed += kind == "killed"
        interrupted += kind == "interrupted"
    parts = []
    if errors:
        first = next(c for c in cells if c.get("status") == "error")
        err = first.get("error", {})
        what = f"{err.get('type')}: {err.get('message', '')[:80]}"
        parts.append(f"{errors} cell(s) raised an error (first: cell {first['cell']}, {what})")
    if interrupted:
        parts.append(f"{interrupted} cell(s) stopped at the time limit")
    if killed:
        first = next(c for c in cells if c.get("status") == "killed")
        parts.append(
            f"{killed} cell(s) ended the runner and were skipped (first: cell {first['cell']}: {first.get('reason')})"
        )
    if execution.out_of_time:
        parts.append("the submission's time limit ran out")
    return ("; ".join(parts) or "ok"), cells


def grade_submission(name: str, nb_bytes: bytes, assignment: Assignment, options: Options, scratch: Path):
    """Grade one submission (its bytes; the file itself is never opened here)."""
    student = Path(name).stem
    start = time.monotonic()
    result = SubmissionResult(student, name, "ok")
    try:
        nb = read_notebook(nb_bytes)
    except ValueError as exc:
        result.status, result.graded = f"malformed notebook: {exc}", False
        result.rows.append(Row(student, name, "-", 0.0, 0.0, "0/0", result.status, ""))
        return result
    p = plan(nb, assignment)
    result.notes += p.notes
    if not p.questions:
        result.status, result.graded = "no question of this assignment was found in this notebook", False
        if p.notes:
            result.status += f" ({p.notes[-1]})"
        result.rows.append(Row(student, name, "-", 0.0, 0.0, "0/0", result.status, ""))
        return result

    from . import sandbox as sb

    env = sb.prepare_scratch(scratch, options.mpl_cache)
    forbidden = sorted(set().union(*(q.forbidden for q in p.questions)))
    config = RunnerConfig(
        scratch=scratch,
        emkit_dir=sb.EMKIT_DIR,
        preload=sb.PRELOAD,
        read_roots=sb.read_roots(),
        deny_roots=[sb.EMKIT_DIR],
        allow_roots=[sb.EMKIT_DIR / "data"],
        forbidden=forbidden,
        env=env,
        wrap=sb.bwrap_command(scratch) if options.sandbox == "bwrap" else [],
    )
    execution = Execution(p, config, options.limits, start + options.limits.total, options.zygote)
    rows = []
    try:
        try:
            execution.run_until(len(p.cells))
        except RunnerDied as exc:
            result.status, result.graded = f"could not be graded: {exc.reason}", False
            for q in p.questions:
                rows.append(Row(student, name, q.id, 0.0, q.points, "0/0", "not graded", result.status))
            result.rows = rows
            return result
        for q in p.questions:
            rows.append(_grade_question(q, p, execution, student, name))
    finally:
        execution.close()
    status, cells = _cell_summary(execution, p)
    result.cells = cells
    if execution.tampered:
        status = "the submission wrote into the grader's channel: every question scores 0"
        for r in rows:
            r.points, r.status = 0.0, "not graded: channel tampered with"
    if execution.denied:
        result.notes.append("refused while grading: " + "; ".join(execution.denied[:5]))
    result.status = status
    result.rows = rows
    result.seconds = time.monotonic() - start
    return result


def _grade_question(q: Question, p: Plan, execution: Execution, student: str, name: str) -> Row:
    seed = secrets.randbits(31)
    if q.id in p.missing:
        return Row(student, name, q.id, 0.0, q.points, "0/0", "missing", p.missing[q.id])
    if q.kind == "expression":
        value = execution.snapshots.get(q.id)
        position = p.snapshot_position.get(q.id, len(p.cells) - 1)
        used = set()
        for pos, names in execution.hits.items():
            if pos <= position:
                used |= names
        used &= q.forbidden
        if used:
            return _reference_row(q, student, name, used)
        if isinstance(value, wire.Opaque):
            value = value  # the check says what it got
        result = _run_check(q, value, seed)
    else:
        try:
            runner = execution.answer_phase()
            kinds = runner.describe([q.answer])
        except RunnerDied as exc:
            return Row(
                student, name, q.id, 0.0, q.points, "0/0", "not graded", f"the notebook could not be run: {exc.reason}"
            )
        kind = kinds.get(q.answer)
        if kind == "missing":
            return Row(
                student, name, q.id, 0.0, q.points, "0/0", "missing", f"no {q.answer!r} is defined in the notebook"
            )
        if kind == "NoneType":
            return Row(student, name, q.id, 0.0, q.points, "0/0", "not answered", f"{q.answer} is still None")
        answer = RemoteAnswer(execution, q) if kind == "callable" else wire.Opaque(kind or "value")
        result = _run_check(q, answer, seed)
        if isinstance(answer, RemoteAnswer):
            used = answer.hits & q.forbidden
            if used:
                return _reference_row(q, student, name, used)
    if result is None:
        return Row(student, name, q.id, 0.0, q.points, "0/0", "not graded", "the check failed (an error in the check)")
    status = "graded" if result.answered else "not answered"
    passed = f"{sum(part.passed for part in result.parts)}/{len(result.parts)}"
    return Row(student, name, q.id, round(result.score * q.points, 6), q.points, passed, status, _feedback(result))


def _reference_row(q: Question, student: str, name: str, used: set) -> Row:
    names = ", ".join(sorted(used))
    return Row(
        student,
        name,
        q.id,
        0.0,
        q.points,
        "0/0",
        "uses the reference implementation",
        f"the answer reached emkit's own implementation of this step ({names}); it has to be the learner's own work",
    )


def _run_check(q: Question, answer, seed: int):
    from ..check.results import CheckResult, Part

    try:
        result = q.check(answer, seed=seed)
    except TypeError as exc:
        if "seed" not in str(exc):
            raise
        result = q.check(answer)  # an instructor's check without a seed parameter
    except Exception as exc:  # noqa: BLE001 - a broken check must not take the batch down
        return CheckResult(q.id, [Part("the check itself", False, f"the check raised {type(exc).__name__}: {exc}")])
    if isinstance(result, CheckResult):
        return result
    if isinstance(result, bool | int | float):  # an instructor's check may return a fraction or a verdict
        value = float(result)
        return CheckResult(q.id, [Part("check", value >= 1.0, "" if value >= 1.0 else f"score {value:g}")])
    return CheckResult(q.id, [Part("check", False, f"the check returned a {type(result).__name__}, not a CheckResult")])


__all__ = ["Options", "Row", "SubmissionResult", "grade_submission", "plan", "read_notebook", "session"]
