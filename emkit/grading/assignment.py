"""Assignments: which questions ``emkit grade`` scores, with which check, for how many points.

The course's own exercises are the default assignment (``course.toml`` next to
this file lists them; :data:`emkit.check.EXERCISES` is where they are
defined). An instructor writes a TOML file for anything else::

    name = "Homework 3: EM"

    [[question]]            # a course exercise, worth 2 points here
    id = "05-m-step"
    points = 2

    [[question]]            # a course check on an answer with another name
    id = "my-assign"
    exercise = "01-assign"  # which course check (and which emkit functions count as the reference)
    answer = "nearest_centre"
    points = 1
    allowed_calls = ["emkit.kmeans.squared_distances"]

    [[question]]            # the instructor's own check: module:function, next to the TOML file
    id = "elbo"
    check = "my_checks:check_elbo"    # called as check_elbo(answer, seed=...) -> emkit.check.CheckResult
    answer = "elbo"
    kind = "function"                 # or "expression" (a SymPy expression or its text)
    points = 3
    forbidden_calls = ["emkit.gmm.elbo"]

Keys of a question: ``id`` (required, unique), ``exercise``, ``check``,
``answer``, ``kind``, ``points`` (default 1), ``allowed_calls``,
``forbidden_calls``, ``find``. A question is graded in a submission when an
exercise cell carries its id (``emkit student`` writes it into the cell's
metadata); with ``find = "name"`` it is graded whenever the notebook defines
the answer's name (for notebooks that were not made by ``emkit student``).
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..check.registry import EXERCISES
from .callgraph import forbidden_closure

COURSE_ASSIGNMENT = Path(__file__).with_name("course.toml")
KEYS = {"id", "exercise", "check", "answer", "kind", "points", "allowed_calls", "forbidden_calls", "find", "title"}


class AssignmentError(ValueError):
    """An assignment file that cannot be used (the message names the question and the key)."""


@dataclass(frozen=True)
class Question:
    id: str
    answer: str
    kind: str  # "function", "expression" (SymPy or its text) or "value" (a number or array)
    check: Callable
    points: float = 1.0
    forbidden: frozenset = frozenset()  # the functions named, and the private helpers they reach
    named: frozenset = frozenset()  # the functions the question (or its exercise) names as forbidden
    allowed: frozenset = frozenset()  # the functions the question allows (they keep working while it is graded)
    exercise: str | None = None  # the course exercise it reuses, if any
    find: str = "metadata"  # or "name"
    notebook: str | None = None
    title: str = ""  # how feedback names it: "Exercise 1: write the assignment step"

    @property
    def check_name(self) -> str:
        return getattr(self.check, "__name__", str(self.check))


@dataclass
class Assignment:
    name: str
    questions: list[Question] = field(default_factory=list)
    #: The course's default: each submission is graded on the exercises of the notebook it is a version of.
    #: An instructor's assignment file: every question for every submission (0 points, with the reason, if absent).
    per_notebook: bool = False

    def by_id(self) -> dict[str, Question]:
        return {q.id: q for q in self.questions}

    def questions_for(self, source_notebook: str, found) -> list[Question]:
        """The questions a submission is graded on (its rows in the report, in the assignment's order)."""
        if not self.per_notebook:
            return list(self.questions)
        return [q for q in self.questions if q.id in found or (source_notebook and q.notebook == source_notebook)]

    @property
    def total_points(self) -> float:
        return sum(q.points for q in self.questions)


def _known_function(name: str) -> bool:
    """``emkit.<module>.<function>`` (or ``.<Class>.<method>``) names an existing emkit function."""
    parts = name.split(".")
    if len(parts) < 3 or parts[0] != "emkit":
        return False
    try:
        obj = importlib.import_module(".".join(parts[:2]))
    except ImportError:
        return False
    for attr in parts[2:]:
        obj = getattr(obj, attr, None)
        if obj is None:
            return False
    return callable(obj)


def load(path: str | Path | None = None) -> Assignment:
    """Read an assignment file (default: the course's own exercises, graded notebook by notebook)."""
    if path is None:
        return course()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AssignmentError(f"cannot read the assignment file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AssignmentError(f"{path} is not valid TOML: {exc}") from None
    return from_dict(data, base=path.parent, source=str(path))


def from_dict(data: dict, *, base: Path = Path("."), source: str = "the assignment") -> Assignment:
    if not isinstance(data, dict):
        raise AssignmentError(f"{source}: expected a table")
    unknown = set(data) - {"name", "question"}
    if unknown:
        raise AssignmentError(
            f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))} (use name, [[question]])"
        )
    raw = data.get("question", [])
    if not isinstance(raw, list) or not raw:
        raise AssignmentError(f"{source}: no [[question]] tables")
    questions, seen = [], set()
    for n, q in enumerate(raw, 1):
        where = f"{source}, question {n}"
        if not isinstance(q, dict):
            raise AssignmentError(f"{where}: expected a table")
        extra = set(q) - KEYS
        if extra:
            raise AssignmentError(
                f"{where}: unknown key(s) {', '.join(sorted(extra))}; known: {', '.join(sorted(KEYS))}"
            )
        qid = q.get("id")
        if not isinstance(qid, str) or not qid.strip():
            raise AssignmentError(f"{where}: 'id' must be a non-empty string")
        where = f"{source}, question {qid!r}"
        if qid in seen:
            raise AssignmentError(f"{where}: the id is used twice")
        seen.add(qid)
        exercise_id = q.get("exercise", qid if qid in EXERCISES and "check" not in q else None)
        exercise = None
        if exercise_id is not None:
            if exercise_id not in EXERCISES:
                raise AssignmentError(f"{where}: no course exercise {exercise_id!r}; known: {', '.join(EXERCISES)}")
            exercise = EXERCISES[exercise_id]
        if "check" in q:
            check = _import_check(q["check"], base, where)
        elif exercise is not None:
            check = exercise.check
        else:
            raise AssignmentError(f"{where}: give 'exercise' (a course exercise id) or 'check' (module:function)")
        answer = q.get("answer", exercise.answer if exercise else None)
        if not isinstance(answer, str) or not answer.isidentifier():
            raise AssignmentError(f"{where}: 'answer' must be the Python name of the answer in the notebook")
        kind = q.get("kind", exercise.kind if exercise else None)
        if kind not in ("function", "expression", "value"):
            raise AssignmentError(f'{where}: \'kind\' must be "function", "expression" or "value"')
        points = q.get("points", exercise.points if exercise else 1.0)
        if isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
            raise AssignmentError(f"{where}: 'points' must be a number ≥ 0")
        forbidden = set(q.get("forbidden_calls", exercise.forbidden if exercise else ()))
        for key in ("allowed_calls", "forbidden_calls"):
            names = q.get(key, [])
            if not isinstance(names, list | tuple) or not all(isinstance(s, str) for s in names):
                raise AssignmentError(f'{where}: {key!r} must be a list of names such as "emkit.gmm.e_step"')
            bad = [s for s in names if not _known_function(s)]
            if bad:
                raise AssignmentError(
                    f"{where}: {key!r} lists {bad[0]!r}; names must be emkit functions, emkit.<module>.<name>"
                )
        allowed = set(q.get("allowed_calls", [])) | set(exercise.allowed if exercise else ())
        named = forbidden - allowed
        forbidden = set(forbidden_closure(named, allowed))  # and the private helpers they reach in emkit
        find = q.get("find", "metadata")
        if find not in ("metadata", "name"):
            raise AssignmentError(f'{where}: \'find\' must be "metadata" or "name"')
        title = q.get("title", f"{exercise.label}: {exercise.title}" if exercise and exercise_id == qid else qid)
        if not isinstance(title, str) or not title.strip():
            raise AssignmentError(f"{where}: 'title' must be a non-empty string")
        questions.append(
            Question(
                id=qid,
                answer=answer,
                kind=kind,
                check=check,
                points=float(points),
                forbidden=frozenset(forbidden),
                named=frozenset(named),
                allowed=frozenset(allowed),
                exercise=exercise_id,
                find=find,
                notebook=exercise.notebook if exercise else None,
                title=title,
            )
        )
    name = data.get("name", "assignment")
    return Assignment(str(name), questions)


def load_check_module(module_name: str, base: str | Path):
    """The instructor's check module ``module_name``, read afresh from ``base`` (next to the assignment file).

    A module file there is executed under a name of its own (``_emkit_checks_<digest>``), never taken
    from ``sys.modules``: two assignments with a ``my_checks.py`` each, graded in one process, each get
    their own. A name with no file there is imported as usual (an installed package).
    """
    import hashlib
    import importlib.util

    base = Path(base).resolve()
    relative = Path(*module_name.split("."))
    for candidate in (base / relative.with_suffix(".py"), base / relative / "__init__.py"):
        if candidate.is_file():
            digest = hashlib.sha256(str(candidate).encode()).hexdigest()[:16]
            unique = f"_emkit_checks_{digest}"
            spec = importlib.util.spec_from_file_location(unique, candidate)
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module  # its functions' __module__; dataclasses and pickling look it up
            sys.path.insert(0, str(base))  # for the modules it imports from its own folder
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(unique, None)
                raise
            finally:
                if sys.path and sys.path[0] == str(base):
                    sys.path.pop(0)
            module._emkit_file = str(candidate)
            return module
    return importlib.import_module(module_name)


def check_module(fn) -> str:
    """The module name a check is imported by (``my_checks``), whatever name the grader loaded it under."""
    return getattr(fn, "_emkit_module", fn.__module__)


def _import_check(spec, base: Path, where: str):
    if not isinstance(spec, str) or ":" not in spec:
        raise AssignmentError(f"{where}: 'check' must look like \"module:function\"")
    module_name, _, attr = spec.partition(":")
    added = str(base.resolve())
    try:
        module = load_check_module(module_name, base)
    except ImportError as exc:
        raise AssignmentError(
            f"{where}: cannot import {module_name!r} (looked next to the assignment file too): {exc}"
        ) from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise AssignmentError(f"{where}: {module_name!r} has no function {attr!r}")
    try:
        fn._emkit_base = added  # where the grader's check worker imports it from
        fn._emkit_module = module_name
    except AttributeError:
        raise AssignmentError(f"{where}: {spec!r} must be a plain function defined in {module_name}") from None
    return fn


def course() -> Assignment:
    """The course's own exercises, as ``course.toml`` lists them (graded notebook by notebook)."""
    data = tomllib.loads(COURSE_ASSIGNMENT.read_text(encoding="utf-8"))
    chosen = from_dict(data, base=COURSE_ASSIGNMENT.parent, source=str(COURSE_ASSIGNMENT))
    chosen.per_notebook = True
    return chosen
