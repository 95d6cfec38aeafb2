"""The machinery shared by every numeric check: cases, fields, and mistakes as data.

An exercise whose answer is a function is described by a
:class:`FunctionExercise`: how to make test cases (from a seed), what the
answer must return (:class:`Field` s, each with its expected shape), the
expected values, and a table of known :class:`Mistake` s, each a wrong
formula evaluated on the same case together with what to tell the learner.
:func:`run` calls the answer on every case and reports, per case (a
:class:`~emkit.check.results.Part`):

* passed (with notes, e.g. that a float32 answer was compared at float32 precision);
* or which field is wrong, with a concrete counterexample, the name of the
  slip if a table entry matches, else the most informative comparison
  (:func:`emkit.check.compare.describe`: "N_k/(N_k-1) times the right one").

A new slip someone reports becomes one row in a table, not a new branch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from . import compare
from .results import CheckResult, Part
from .running import AnswerFailed, AnswerTimedOut, NotAnswered, Received, call, read_array, read_number

__all__ = ["Case", "Field", "FunctionExercise", "Mistake", "run"]


class Case(SimpleNamespace):
    """One test input: ``name``, ``args`` (passed to the answer), ``dims`` (axis sizes by name) and anything else."""


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer for one field: ``wrong(case)`` is what that slip returns on ``case``."""

    slip: str
    message: str
    wrong: Callable[[Case], Any]
    field: str = ""  # the field it concerns ("" = the first)


@dataclass(frozen=True)
class Field:
    """One returned value: its name and expected shape (``None``: one number)."""

    name: str
    shape: Callable[[Case], tuple] | None = None
    integer: bool = False
    causes: Callable[[Case], list] = lambda case: []  # (shape, likely cause) pairs for wrong shapes
    per_row_number: bool = False  # a number that may also come as one equal value per row
    rtol: float = 1e-8
    atol: float = 1e-10


@dataclass(frozen=True)
class FunctionExercise:
    title: str
    signature: str
    fields: tuple[Field, ...]
    cases: Callable[[np.random.Generator], list[Case]]
    expected: Callable[[Case], dict]
    mistakes: tuple[Mistake, ...] = ()
    explain: Callable[[Case, str, Any, Any], str] | None = None  # a concrete counterexample for a wrong field
    factors: Callable[[Case, str], dict] = lambda case, name: {}  # named factors for "c times the right one"
    fallback: str = ""  # said when nothing more specific fits
    nonfinite_hint: Callable[[Case, str], str] = lambda case, name: ""
    evaluate: Callable | None = None  # custom (fn, case) -> {field: Received}; default: call once and read
    default_seed: int = 0


def _fmt(a) -> str:
    return np.array2string(np.asarray(a, dtype=float), precision=4, suppress_small=True)


def _read_fields(ex: FunctionExercise, out, case: Case) -> dict:
    fields = ex.fields
    if len(fields) > 1:
        if not isinstance(out, tuple | list) or len(out) != len(fields):
            got = f"a {type(out).__name__}" + (f" of length {len(out)}" if isinstance(out, tuple | list) else "")
            names = ", ".join(f.name for f in fields)
            raise AnswerFailed(f"return {len(fields)} values ({names}) as a tuple; you returned {got}")
        values = list(out)
    else:
        values = [out]
    received = {}
    for f, value in zip(fields, values, strict=True):
        received[f.name] = _read_one(f, value, case)
    return received


def _read_one(f: Field, value, case: Case) -> Received:
    if f.shape is None:
        if f.per_row_number:
            arr = np.asarray(value) if not isinstance(value, str) else None
            if arr is not None and arr.dtype != object and arr.size > 1:
                flat = arr.astype(float).ravel()
                if np.allclose(flat, flat[0], rtol=1e-12, atol=0):
                    rec = read_number(flat[0], f.name, allow_nonfinite=True)
                    rec.notes.append(f"{f.name} came as {arr.size} equal values and was read as one number")
                    return rec
        return read_number(value, f.name, allow_nonfinite=True)
    return read_array(
        value, f.name, f.shape(case), case.dims, integer=f.integer, causes=f.causes(case), allow_nonfinite=True
    )


def _matches(got: Received, wrong, f: Field) -> bool:
    try:
        w = np.asarray(wrong, dtype=float)
    except (TypeError, ValueError):
        return False
    g = np.asarray(got.array, dtype=float)
    if w.shape != g.shape:
        if w.size == 1 and g.size == 1:
            w = w.reshape(g.shape)
        else:
            return False
    both_nan = np.isnan(g) & np.isnan(w)
    same_inf = np.isinf(g) & (g == w)
    special = both_nan | same_inf
    if np.any(~np.isfinite(g) & ~special) or np.any(~np.isfinite(w) & ~special):
        return False
    g, w = np.where(special, 0.0, g), np.where(special, 0.0, w)
    if f.integer:
        return bool(np.array_equal(g, w))
    return compare.close(g, w, float32=got.float32, rtol=max(f.rtol, 1e-7), atol=max(f.atol, 1e-9))


def _correct(got: Received, exp, f: Field) -> bool:
    g = np.asarray(got.array)
    if not np.all(np.isfinite(g)):
        return False
    if f.integer:
        return bool(np.array_equal(g, np.asarray(exp)))
    return compare.close(g, exp, float32=got.float32, rtol=f.rtol, atol=f.atol)


def _evaluate_case(ex: FunctionExercise, fn, case: Case) -> Part:
    if ex.evaluate is not None:
        received = ex.evaluate(fn, case)
    else:
        received = _read_fields(ex, call(fn, *case.args), case)
    expected = ex.expected(case)
    notes = [n for r in received.values() for n in r.notes]
    messages, hints, slip = [], [], ""
    for f in ex.fields:
        got, exp = received[f.name], expected[f.name]
        if _correct(got, exp, f):
            continue
        found = None
        for m in ex.mistakes:
            if (m.field or ex.fields[0].name) != f.name:
                continue
            try:
                with np.errstate(all="ignore"):
                    wrong = m.wrong(case)
            except Exception:  # noqa: BLE001 - a mistake that cannot be formed on this case does not match
                continue
            if _matches(got, wrong, f):
                found = m
                break
        finite = bool(np.all(np.isfinite(np.asarray(got.array, dtype=float))))
        if ex.explain is not None and finite:
            messages.append(ex.explain(case, f.name, got.array, exp))
        elif finite:
            messages.append(_default_explain(f, got.array, exp))
        else:
            messages.append(_nonfinite_explain(f, got.array))
        if found is not None:
            slip = slip or found.slip
            hints.append(found.message)
        elif not finite:
            hints.append(ex.nonfinite_hint(case, f.name) or "")
        else:
            how = compare.describe(got.array, exp, ex.factors(case, f.name)) if f.shape is not None else ""
            if f.shape is None:
                how = _describe_number(float(got.array), float(exp), ex.factors(case, f.name))
            hints.append(f"{f.name}: {how}" if how and len(ex.fields) > 1 else how)
    if not messages:
        return Part(case.name, True, note="; ".join(notes))
    hint = " ".join(h for h in dict.fromkeys(hints) if h) or ex.fallback
    return Part(case.name, False, "\n".join(messages), hint, slip=slip, note="; ".join(notes))


def _describe_number(got: float, exp: float, factors: dict) -> str:
    if exp != 0 and np.isclose(got, -exp, rtol=1e-8):
        return "your value is the right one with the sign flipped."
    if exp != 0:
        c = got / exp
        label = compare.name_factor(c, factors)
        if label:
            return f"your value is {c:.6g} times the right one (a factor {label})."
    for name, value in factors.items():
        v = np.asarray(value, dtype=float)
        if v.size == 1 and np.isclose(got - exp, float(v), rtol=1e-7):
            return f"your value is off by {got - exp:.6g} ({name})."
    return ""


def _default_explain(f: Field, got, exp) -> str:
    if f.shape is None:
        return f"{f.name} should be {float(exp):.6g}; you gave {float(got):.6g}"
    got, exp = np.asarray(got, dtype=float), np.asarray(exp, dtype=float)
    err = np.abs(got - exp)
    if got.ndim >= 2:
        k = int(np.argmax(err.reshape(err.shape[0], -1).max(axis=1)))
        return f"{f.name}[{k}] should be\n{_fmt(exp[k])}\nyou gave\n{_fmt(got[k])}"
    k = int(np.argmax(err))
    return f"{f.name}[{k}] should be {exp[k]:.6g}; you gave {got[k]:.6g} (expected {_fmt(exp)}, got {_fmt(got)})"


def _nonfinite_explain(f: Field, got) -> str:
    got = np.asarray(got, dtype=float)
    bad = np.argwhere(~np.isfinite(got))
    if got.ndim == 0 or bad.size == 0:
        return f"{f.name} is {float(got)}"
    where = tuple(int(i) for i in bad[0])
    return f"{f.name} contains {got[where]}, e.g. at index {where}"


def run(ex: FunctionExercise, fn, seed: int | None = None) -> CheckResult:
    """Check the learner's ``fn`` on the exercise's cases (fixed cases if ``seed`` is None, else fresh ones)."""
    result = CheckResult(ex.title)
    if not callable(fn):
        result.parts.append(
            Part("is a function", False, f"expected a function {ex.signature}; got a {type(fn).__name__}")
        )
        return result
    rng = np.random.default_rng(ex.default_seed if seed is None else seed)
    timed_out = None
    for case in ex.cases(rng):
        if timed_out:  # do not wait for the time limit again on every case
            result.parts.append(Part(case.name, False, f"not run: an earlier part did not finish ({timed_out})"))
            continue
        try:
            result.parts.append(_evaluate_case(ex, fn, case))
        except NotAnswered:
            return CheckResult(ex.title, [Part(case.name, False, "not answered yet", answered=False)])
        except AnswerTimedOut as exc:
            timed_out = case.name
            result.parts.append(Part(case.name, False, str(exc)))
        except AnswerFailed as exc:
            result.parts.append(Part(case.name, False, str(exc), slip=exc.slip))
    return result
