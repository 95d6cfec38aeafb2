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

Each check runs in a worker process of the grader's own, under a time and a
memory limit (:mod:`.checker`): a hostile answer costs its own question,
never the batch. The functions a question forbids (emkit's own
implementation of the step) do not exist in the runner (:mod:`.guard`); an
answer that tried to use one scores 0 with the status "uses the reference
implementation" (during its calls for a function answer, between its
exercise cell and its snapshot for an expression answer).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import session, wire
from .assignment import Assignment, Question, check_module
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
    title: str = ""
    slips: list = field(default_factory=list)  # the named mistakes the check recognised
    differences: list = field(default_factory=list)  # for failing parts no slip names: the kind of difference


#: Statuses that are not grades: the check itself failed (the instructor must look), or the grader stopped it.
CHECK_ERROR, CHECK_STOPPED = "check error", "check stopped"


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
    answers: dict = field(default_factory=dict)  # question id -> the source of its answer cell(s)

    @property
    def points(self) -> float:
        return sum(r.points for r in self.rows)

    @property
    def max_points(self) -> float:
        return sum(r.max_points for r in self.rows)


@dataclass
class Options:
    limits: Limits = field(default_factory=Limits)
    sandboxed: bool = True  # False only with --no-sandbox
    scratch_root: Path | None = None
    mpl_cache: Path | None = None
    zygotes: object | None = None  # a ZygotePool shared by the batch
    checkers: object | None = None  # a CheckerPool: one check worker per grading thread
    cgroups: object | None = None  # a cgroups.Batch (each runner its share of CPU, processes, memory), or None


class ZygotePool:
    """The batch's mother zygote and its children: one per set of absent functions, made when first needed."""

    def __init__(self, env: dict, scratch_root: Path):
        from . import sandbox as sb

        self.scratch_root = scratch_root
        self._mother = session.Mother(sb.LIBRARIES, env)
        self._zygotes: dict[tuple, session.Zygote] = {}
        self._locks: dict[tuple, threading.Lock] = {}
        self._lock = threading.Lock()
        self._remembered_lock = threading.Lock()
        self._remembered: Path | None = None

    def remembered(self) -> Path | None:
        """SymPy's slow results for this batch (``emkit.symbolic.remember``), computed once, in a process of ours."""
        import subprocess
        import sys

        with self._remembered_lock:
            if self._remembered is None:
                path = self.scratch_root / "remembered.pickle"
                code = (
                    "import pickle, sys\nfrom emkit import symbolic\n"
                    "sys.stdout.buffer.write(pickle.dumps(symbolic.remember()))"
                )
                try:
                    out = subprocess.run(  # noqa: S603 - our own interpreter and package
                        [sys.executable, "-c", code], capture_output=True, timeout=600, check=True
                    ).stdout
                    path.write_bytes(out)
                    self._remembered = path
                except (subprocess.SubprocessError, OSError):
                    return None  # each runner then computes what it needs itself: slower, still right
            return self._remembered

    def get(self, absent: frozenset, notebook: str = "") -> session.Zygote:
        from . import sandbox as sb

        needs = notebook in sb.REMEMBER_FOR
        key = (absent, needs)
        with self._lock:
            key_lock = self._locks.setdefault(key, threading.Lock())
        with key_lock:
            zygote = self._zygotes.get(key)
            if zygote is None:
                zygote = self._mother.zygote(
                    sb.EMKIT_DIR, sb.PRELOAD, absent=absent,
                    remembered=self.remembered() if needs else None,
                )  # fmt: skip
                self._zygotes[key] = zygote
            return zygote

    def close(self) -> None:
        for zygote in self._zygotes.values():
            zygote.close()
        self._zygotes.clear()
        self._mother.close()


class CheckerPool:
    """A check worker per grading thread (each thread grades one submission at a time)."""

    def __init__(self, memory_mb: int):
        self.memory_mb = memory_mb
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()

    def get(self):
        from .checker import CheckWorker

        worker = getattr(self._local, "worker", None)
        if worker is None:
            worker = self._local.worker = CheckWorker(self.memory_mb)
            with self._lock:
                self._all.append(worker)
        return worker

    def close(self) -> None:
        for worker in self._all:
            worker.close()


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
    questions: list[Question]  # the questions graded in this notebook (found, or expected in it)
    grade_after: dict[int, list[Question]]  # position in `cells` -> the questions graded right after it
    grade_position: dict[str, int]
    missing: dict[str, str]  # question id -> why it is missing
    notes: list[str]
    first_position: dict[str, int] = field(default_factory=dict)  # question id -> its first exercise cell
    cell_exercise: dict[int, str] = field(default_factory=dict)  # position -> the title of the exercise it answers
    answers: dict[str, str] = field(default_factory=dict)  # question id -> the source of its exercise cell(s)
    source_name: str = ""  # the course notebook this is a version of, if it says
    roles: list = field(default_factory=list)  # per position: "exercise", "check", "course" or None (the learner's)
    #: per question: the functions absent until it is graded. A private helper that any question of this notebook
    #: needs for what it allows stays (a question's own named functions are absent regardless).
    forbidden: dict = field(default_factory=dict)


def plan(nb, assignment: Assignment) -> Plan:
    """Find the questions by the metadata ``emkit student`` writes (never by searching the code)."""
    by_exercise: dict[str, list[Question]] = {}
    for q in assignment.questions:
        by_exercise.setdefault(q.id, []).append(q)
        if q.exercise and q.exercise != q.id:
            by_exercise.setdefault(q.exercise, []).append(q)
    notes: list[str] = []
    cells = []
    exercise_cells: dict[str, list[int]] = {}
    roles = []
    cell_exercise: dict[int, str] = {}
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
                    cell_exercise.setdefault(position, by_exercise[ex][0].title or ex)
            else:
                notes.append(
                    f"code cell {position + 1} is marked as exercise {ex!r}, which this assignment does not grade"
                )
    meta_nb = nb.metadata.get("emkit")
    source_nb = meta_nb.get("source") if isinstance(meta_nb, dict) and isinstance(meta_nb.get("source"), str) else ""
    expected = [q for q in assignment.questions if source_nb and q.notebook == source_nb]
    chosen = [q for q in assignment.questions if q.id in exercise_cells or q in expected or q.find == "name"]
    missing = {}
    answers = {}
    for q in chosen:
        positions = exercise_cells.get(q.id, [])
        if len(positions) > 1:
            shown = ", ".join(str(p + 1) for p in positions)
            notes.append(
                f"{q.title or q.id}: {len(positions)} cells are marked as its answer (code cells {shown}); "
                "the last one counts"
            )
        if positions:
            answers[q.id] = "\n\n".join(cells[p][1] for p in positions)
        if not positions and q.find == "metadata":
            missing[q.id] = (
                f"the exercise cell of {q.title or q.id} is not in the notebook (deleted, or its metadata removed)"
            )
    if source_nb and not chosen:
        notes.append(f"this is the student version of {source_nb}, which has no questions in this assignment")
    grade_after: dict[int, list[Question]] = {}
    grade_position: dict[str, int] = {}
    first_position: dict[str, int] = {}
    for q in chosen:
        positions = exercise_cells.get(q.id)
        if positions:
            first_position[q.id] = positions[0]
        if q.id in missing:
            continue
        if positions:
            end = positions[-1]
            while end + 1 < len(cells) and roles[end + 1] is None:
                end += 1  # the learner's own cells right after the exercise belong to the answer
        else:
            end = len(cells) - 1
        grade_after.setdefault(max(end, 0), []).append(q)
        grade_position[q.id] = max(end, 0)
    from .callgraph import reach

    keep = reach(set().union(*(q.allowed for q in chosen)))
    forbidden = {q.id: frozenset((q.forbidden - keep) | q.named) for q in chosen}
    return Plan(
        cells, chosen, grade_after, grade_position, missing, notes, first_position, cell_exercise, answers,
        source_nb, roles, forbidden,
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Running the cells, with restarts
# ---------------------------------------------------------------------------


class Execution:
    """The submission's cells, run in order in a runner, with each question graded at its own point.

    A question is graded right after its exercise cell (and the learner's own
    cells that follow it), before the course's next cell runs. The runner
    starts with every function that any of this notebook's questions forbids
    absent; once all the questions that forbid a function are graded, the
    grader hands the runner that function's real code back, so that the
    course cells after them (a plot made with ``fit``, a later exercise that
    starts from the reference ``Q``) run as they do for the learner.

    A cell that kills or hangs its runner is skipped on a replay in a new
    runner (restorations are replayed at the same points). A function answer
    still undefined at its point is graded again at the end of the notebook;
    until then, nothing it forbids is given back.
    """

    def __init__(self, p: Plan, config: RunnerConfig, limits: Limits, deadline: float, zygote, emkit_dir: str):
        self.plan, self.config, self.limits, self.deadline = p, config, limits, deadline
        self.zygote, self.emkit_dir = zygote, emkit_dir
        self.runner: Runner | None = None
        self.done = 0  # cells executed by the current runner
        self.skip: set[int] = set()
        self.status: dict[int, dict] = {}
        self.snapshots: dict[str, object] = {}
        self.hits: dict[int, set] = {}  # position -> qualified names reported while it ran
        self.tampered = False
        self.restarts = 0
        self.out_of_time = False
        self.pending = {q.id for q in p.questions if q.id not in p.missing}
        self.restores: dict[int, dict] = {}  # position -> {qualified name: source} restored after it
        self.restored: set[str] = set()
        self.notes: list[str] = []

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def reserve(self) -> float:
        return self.limits.answer_reserve(len(self.pending)) if self.pending else 0.0

    def _new_runner(self) -> Runner:
        if self.restarts > 20:
            raise RunnerDied("the runner had to be restarted more than 20 times")
        self.restarts += 1
        runner = Runner(self.config, self.limits, self.zygote)
        try:
            runner.start()
        except RunnerDied:
            runner.kill()
            raise
        self.done = 0
        return runner

    def _collect(self, runner: Runner, since: int, position: int | None) -> None:
        for r in runner.reports_since(since):
            if r.kind == "ref" and position is not None:
                self.hits.setdefault(position, set()).add(r.detail)
        self.tampered = self.tampered or runner.tampered

    def run_until(self, end: int) -> None:
        """Make sure the current runner has executed every cell before position ``end`` (except skipped ones).

        A cell's time limit is ``--cell-timeout``, but never more than what is
        left of the submission's budget minus a reserve for grading the
        questions not graded yet: a cell that will not stop cannot eat the
        time of the answers.
        """
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
                    if position not in self.skip:
                        replay = position in self.status  # ran before: replayed for the answers, within the reserve
                        left = self.remaining() - (0.0 if replay else self.reserve())
                        if left <= 1:
                            self.out_of_time = True
                            for p in range(position, len(self.plan.cells)):
                                self.status.setdefault(p, {"status": "not run (the submission's time ran out)"})
                                self.skip.add(p)
                            self.done = max(self.done, end)
                            return
                        index, source = self.plan.cells[position]
                        since = runner.bucket + 1
                        started = time.monotonic()
                        limit = min(self.limits.cell, left)
                        outcome = runner.run_cell(index, source, limit)
                        outcome["seconds"] = round(time.monotonic() - started, 3)
                        if outcome.get("status") == "interrupted":
                            outcome["limit"] = round(limit, 1)
                        self._collect(runner, since, position)
                        if position not in self.status or self.status[position].get("status") != "ok":
                            self.status[position] = outcome
                    if position in self.restores:
                        self._apply(runner, self.restores[position])
                    self.done += 1
                return
            except RunnerDied as exc:
                self._collect(runner, 0, None)
                self.status[position] = {"status": "killed", "reason": exc.reason}
                self.skip.add(position)
                runner.kill()
                self.runner = None

    def runner_at(self, position: int) -> Runner:
        """A runner that has run every cell up to and including ``position`` (a new one replays them)."""
        self.run_until(position + 1)
        if self.runner is None:
            raise RunnerDied("no runner")
        return self.runner

    def _apply(self, runner: Runner, functions: dict) -> None:
        failed = runner.restore(functions)
        for name, why in failed.items():
            note = f"{name} could not be given back after its questions were graded ({why})"
            if note not in self.notes:
                self.notes.append(note)

    def graded(self, q: Question, position: int) -> None:
        """``q`` is graded: give back the functions no question still waiting forbids."""
        self.pending.discard(q.id)
        still = set().union(*(self.plan.forbidden[x] for x in self.pending))
        back = sorted((self.zygote.absent - still) - self.restored)
        if not back:
            return
        from .guard import function_source

        functions = {}
        for name in back:
            try:
                functions[name] = function_source(self.emkit_dir, name)
            except (OSError, LookupError, SyntaxError):
                pass  # a method or an alias: it stays absent for the rest of the run
        self.restored |= set(back)
        if functions:
            self.restores.setdefault(position, {}).update(functions)
            if self.runner is not None and self.done > position:
                self._apply(self.runner, functions)

    def close(self) -> None:
        if self.runner is not None:
            self._collect(self.runner, 0, None)
            self.runner.close()
            self.runner = None


class RemoteAnswer:
    """Stands for the submission's function: calls it in the runner, returns plain data.

    Passed to a check (through the check worker) in place of the learner's
    function. Every reference hit reported while one of its calls runs is
    kept in ``hits``.
    """

    def __init__(self, execution: Execution, question: Question, position: int):
        self.execution, self.question, self.position = execution, question, position
        self.hits: set[str] = set()
        self.calls = 0

    def __call__(self, *args):
        from ..check.running import RemoteException

        ex = self.execution
        left = ex.remaining()
        if left <= 1:
            raise TimeoutError("the submission's time limit ran out")
        try:
            runner = ex.runner_at(self.position)
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
            if err.get("type") == "ReferenceUnavailable":  # a stub raised, even if its marker was cut away
                named = str(err.get("message", "")).split(" ", 1)[0]
                if named.startswith("emkit."):
                    self.hits.add(named)
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


def _feedback(result, q: Question) -> str:
    """The check's report, headed by the question's title (not its id)."""
    lines = str(result).splitlines()
    n, n_ok = len(result.parts), sum(part.passed for part in result.parts)
    if result.passed:
        lines[0] = f"{q.title or q.id}: {'the only part' if n == 1 else f'all {n} parts'} passed."
    else:
        lines[0] = f"{q.title or q.id}: {n_ok} of {n} parts passed."
    text = "\n".join(lines)
    return text if len(text) <= MAX_FEEDBACK_CHARS else text[: MAX_FEEDBACK_CHARS - 20] + "\n... (cut)"


def _cell_name(p: Plan, position: int) -> str:
    """A cell as the student finds it: the n-th code cell, and the exercise it answers, if any."""
    name = f"code cell {position + 1}"
    exercise = p.cell_exercise.get(position)
    return f"{name} ({exercise})" if exercise else name


HELD_BACK = "held back"


def _cell_summary(execution: Execution, p: Plan) -> tuple[str, list[dict]]:
    """The notebook run in one line, and each cell's outcome.

    A course cell that calls an emkit function a question forbids, before
    that question is graded, cannot run (the function is absent then); it
    and the course cells after it that fail are marked "held back" and left
    out of the summary: the learner did nothing wrong there.
    """
    cells, parts = [], []
    held = False
    for position, (_index, _source) in enumerate(p.cells):
        st = dict(execution.status.get(position, {"status": "not run"}))
        course = position < len(p.roles) and p.roles[position] in ("course", "check")
        if st.get("status") == "error" and course:
            if st.get("error", {}).get("type") == "ReferenceUnavailable" or held:
                held = True
                st["status"], st["held_back"] = HELD_BACK, st.pop("error", {})
        cells.append({"cell": position + 1, "name": _cell_name(p, position), **st})
    errors = [c for c in cells if c.get("status") == "error"]
    interrupted = [c for c in cells if c.get("status") == "interrupted"]
    killed = [c for c in cells if c.get("status") == "killed"]
    if errors:
        err = errors[0].get("error", {})
        what = f"{err.get('type')}: {err.get('message', '')[:80]}"
        parts.append(f"{len(errors)} cell(s) raised an error (first: {errors[0]['name']}, {what})")
    if interrupted:
        first = interrupted[0]
        parts.append(
            f"{len(interrupted)} cell(s) stopped at their time limit (first: {first['name']}, after "
            f"{first.get('limit', '?')} s)"
        )
    if killed:
        first = killed[0]
        parts.append(
            f"{len(killed)} cell(s) ended the runner and were skipped (first: {first['name']}: {first.get('reason')})"
        )
    if execution.out_of_time:
        skipped = [c for c in cells if str(c.get("status", "")).startswith("not run")]
        where = f" before {skipped[0]['name']}" if skipped else ""
        parts.append(f"the submission's time limit ran out{where}; the answers defined before it were graded")
    return ("; ".join(parts) or "ok"), cells


def grade_submission(name: str, nb_bytes: bytes, assignment: Assignment, options: Options, scratch: Path):
    """Grade one submission (its bytes; the file itself is never opened here)."""
    student = Path(name).stem
    start = time.monotonic()
    result = SubmissionResult(student, name, "ok")

    def all_rows(status: str, feedback: str = "", questions=None) -> list[Row]:
        if questions is None and assignment.per_notebook:  # nothing says which notebook this was meant to be
            return [Row(student, name, "-", 0.0, 0.0, "0/0", status, feedback)]
        return [
            Row(student, name, q.id, 0.0, q.points, "0/0", status, feedback, title=q.title)
            for q in (assignment.questions if questions is None else questions)
        ]

    try:
        nb = read_notebook(nb_bytes)
    except ValueError as exc:
        result.status, result.graded = f"malformed notebook: {exc}", False
        result.rows = all_rows("not graded", result.status)
        return result
    p = plan(nb, assignment)
    result.notes += p.notes
    result.answers = p.answers
    wanted = assignment.questions_for(p.source_name, {q.id for q in p.questions})
    if not p.questions:
        result.status, result.graded = "no question of this assignment was found in this notebook", False
        if p.notes:
            result.status += f" ({p.notes[-1]})"
        result.rows = [_absent_row(q, p, student, name) for q in wanted] or all_rows(result.status)
        return result

    from . import sandbox as sb

    env = sb.prepare_scratch(scratch, options.mpl_cache)
    absent = frozenset().union(*p.forbidden.values())
    try:
        zygote = options.zygotes.get(absent, p.source_name)
    except RunnerDied as exc:
        result.status, result.graded = f"could not be graded: {exc.reason}", False
        result.rows = all_rows("not graded", result.status, wanted)
        return result
    own_checks = sorted({check_module(q.check).split(".")[0] for q in assignment.questions if q.exercise is None})
    group = None
    if options.cgroups is not None:
        try:
            group = options.cgroups.group(options.limits.memory_mb * 1024 * 1024)
        except OSError as exc:
            result.notes.append(f"no control group for this submission ({exc}): its CPU share was not enforced")
    config = RunnerConfig(scratch=scratch, env=env, sandboxed=options.sandboxed, stub_modules=own_checks, cgroup=group)
    execution = Execution(p, config, options.limits, start + options.limits.total, zygote, str(sb.EMKIT_DIR))
    checker = options.checkers.get()
    rows: dict[str, Row] = {}
    late: list[Question] = []

    def grade_at(q: Question, position: int, final: bool) -> None:
        row = _grade_question(q, p, execution, position, student, name, checker, options.limits, final)
        if row is None:
            late.append(q)  # not defined yet: graded again at the end (what it forbids stays absent)
            return
        rows[q.id] = row
        execution.graded(q, position)

    try:
        try:
            last = len(p.cells) - 1
            for position in range(len(p.cells)):
                execution.run_until(position + 1)
                for q in p.grade_after.get(position, []):
                    grade_at(q, position, final=position == last)
            for q in [*late, *(q for q in p.questions if q.id not in rows and q.id not in p.missing and q not in late)]:
                grade_at(q, max(last, 0), final=True)
        except RunnerDied as exc:
            result.status, result.graded = f"could not be graded: {exc.reason}", False
            result.rows = all_rows("not graded", result.status, wanted)
            return result
    finally:
        execution.close()
        if group is not None:
            group.remove()
    status, cells = _cell_summary(execution, p)
    result.cells = cells
    result.notes += execution.notes
    if execution.tampered:
        status = "the submission wrote into the grader's channel: every question scores 0"
        for r in rows.values():
            r.points, r.status = 0.0, "not graded: channel tampered with"
    result.status = status
    result.rows = [rows[q.id] if q.id in rows else _absent_row(q, p, student, name) for q in wanted]
    result.seconds = time.monotonic() - start
    return result


def _absent_row(q: Question, p: Plan, student: str, name: str) -> Row:
    """A question of the assignment that this notebook does not answer: 0 points, and why."""
    why = p.missing.get(q.id) or (
        f"this notebook has no exercise cell for {q.title or q.id} (it is {p.source_name})"
        if p.source_name
        else f"this notebook has no exercise cell for {q.title or q.id}"
    )
    return Row(student, name, q.id, 0.0, q.points, "0/0", "missing", why, title=q.title)


def _grade_question(q: Question, p: Plan, execution: Execution, position: int, student, name, checker, limits,
                    final: bool) -> Row | None:  # fmt: skip
    """Grade ``q`` now (the runner has run every cell up to ``position``); None: not defined yet, ask again later."""
    seed = secrets.randbits(31)

    def row(points, passed, status, feedback, slips=(), differences=()):
        return Row(
            student, name, q.id, points, q.points, passed, status, feedback, q.title, list(slips), list(differences)
        )

    if q.id in p.missing:
        return row(0.0, "0/0", "missing", p.missing[q.id])
    call = None
    try:
        runner = execution.runner_at(position)
        if q.kind in ("expression", "value"):
            since = runner.bucket + 1
            value = runner.snapshot(q.answer, min(limits.call, max(1.0, execution.remaining())))
            execution._collect(runner, since, position)
        else:
            kind = runner.describe([q.answer]).get(q.answer)
    except RunnerDied as exc:
        return row(0.0, "0/0", "not graded", f"the notebook could not be run: {exc.reason}")
    if q.kind in ("expression", "value"):
        first = p.first_position.get(q.id, 0)
        used = set()
        for pos, names in execution.hits.items():
            if first <= pos <= position:
                used |= names
        used &= p.forbidden[q.id]
        if used:
            return _reference_row(q, student, name, used)
        if isinstance(value, wire.Opaque) and value.type_name == "NoneType":
            value = None
    else:
        if kind == "missing":
            if not final:
                return None
            return row(0.0, "0/0", "missing", f"no {q.answer!r} is defined in the notebook")
        if kind == "NoneType":
            return row(0.0, "0/0", "not answered", f"{q.answer} is still None")
        if kind == "callable":
            call = RemoteAnswer(execution, q, position)
            value = None
        else:
            value = wire.Opaque(kind or "value")
    from .checker import CheckCrashed, CheckStopped, check_ref

    try:
        result = checker.run(check_ref(q.check), value, seed, limits.check, call)
    except CheckStopped as exc:
        return row(0.0, "0/0", CHECK_STOPPED, f"the grader stopped checking this answer: {exc}")
    except CheckCrashed as exc:
        where = f" ({exc.where})" if exc.where else ""
        return row(
            0.0, "0/0", CHECK_ERROR,
            f"the check {q.check_name} itself raised {exc.type_name}: {exc.message}{where}. This is not a grade: "
            "fix the check and grade again.",
        )  # fmt: skip
    if call is not None:
        used = call.hits & p.forbidden[q.id]
        if used:
            return _reference_row(q, student, name, used)
    passed = f"{sum(part.passed for part in result.parts)}/{len(result.parts)}"
    if not result.answered:
        return row(0.0, passed, "not answered", f"{q.title or q.id}: not answered (the exercise still holds its stub)")
    differences = [part.kind for part in result.parts if not part.passed and not part.slip and part.kind]
    return row(round(result.score * q.points, 6), passed, "graded", _feedback(result, q), result.slips, differences)


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
        f"the answer reached emkit's own implementation of this step ({names}), which is not available while "
        "grading; it has to be the learner's own work",
        title=q.title,
    )


__all__ = [
    "CheckerPool",
    "Options",
    "Row",
    "SubmissionResult",
    "ZygotePool",
    "grade_submission",
    "plan",
    "read_notebook",
]
