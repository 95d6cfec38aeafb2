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

import itertools
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
    message: str | Callable[[Case], str]  # what to tell the learner (a function of the case where it depends on it)
    wrong: Callable[[Case], Any]
    field: str = ""  # the field it concerns ("" = the first)

    def text(self, case: Case) -> str:
        return self.message(case) if callable(self.message) else self.message


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
    centre: Callable[[Case], Any] | None = None  # subtracted before comparing (e.g. the data's mean)
    # what each axis counts, for feedback in the array's own terms: ("component", "feature") for means,
    # ("component", "feature", "feature") for covariances, ("point", "component") for responsibilities
    axes: tuple[str, ...] | None = None
    # a float64 answer right only to float32 precision passes, with a note (False: where the values compared are
    # small changes of larger ones, so that float32's precision of the larger ones would let real slips through)
    float32_slack: bool = True


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
    fallback: str | Callable[[Case, list], str] = ""  # said when nothing more specific fits (or: from the case and
    #                                                    the names of the wrong fields)
    nonfinite_hint: Callable[[Case, str], str] = lambda case, name: ""
    evaluate: Callable | None = None  # custom (fn, case) -> {field: Received}; default: call once and read
    # several fields: when the returned values do not read as the fields in their order but do in another, say
    # "in the wrong order" (the slip below) rather than "wrong shape" for the first value that does not fit
    wrong_order: str = ""
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
    try:
        return {f.name: _read_one(f, value, case) for f, value in zip(fields, values, strict=True)}
    except AnswerFailed:
        if ex.wrong_order and len(fields) > 1:
            for order in itertools.permutations(range(len(fields))):
                if list(order) == sorted(order):
                    continue
                try:
                    for f, j in zip(fields, order, strict=True):
                        _read_one(f, values[j], case)
                except AnswerFailed:
                    continue
                names = ", ".join(f.name for f in fields)
                yours = ", ".join(fields[order.index(j)].name for j in range(len(fields)))
                raise AnswerFailed(
                    f"the values are in the wrong order: you returned ({yours}); return ({names}). {ex.wrong_order}",
                    slip="the values in the wrong order",
                ) from None
        raise


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


def _centred(f: Field, case: Case, value):
    """The value with the case's offset removed (tolerances are then relative to the data's spread)."""
    a = np.asarray(value, dtype=float)
    if f.centre is None:
        return a
    c = np.asarray(f.centre(case), dtype=float)
    try:
        return a - c
    except ValueError:
        return a


def _matches(got: Received, wrong, f: Field, case: Case) -> bool:
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
    if f.integer:
        return bool(np.array_equal(np.where(special, 0.0, g), np.where(special, 0.0, w)))
    g, w = _centred(f, case, g), _centred(f, case, w)
    g, w = np.where(special, 0.0, g), np.where(special, 0.0, w)
    return compare.close(g, w, float32=True)


def _rounded_case(case: Case) -> Case:
    """The case with every float array rounded to float32 (what a float32 computation starts from)."""
    out = Case(**vars(case))
    for key, value in vars(case).items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            setattr(out, key, value.astype(np.float32).astype(float))
        elif isinstance(value, tuple):
            setattr(
                out,
                key,
                tuple(
                    v.astype(np.float32).astype(float) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
                    for v in value
                ),
            )
    return out


def _verdict(got: Received, exp, f: Field, case: Case, expected=None) -> tuple[bool, str]:
    """(right?, note): right to the field's tolerance, or to float32 precision (with a note saying so).

    A float32 answer is also compared with what the right formula gives on the
    inputs rounded to float32: its error may come from the inputs, not the method.
    """
    right, note = _verdict_at(got, exp, f, case)
    if right or not got.float32 or expected is None:
        return right, note
    try:
        rounded = expected(_rounded_case(case))[f.name]
    except Exception:  # noqa: BLE001
        return right, note
    right, _ = _verdict_at(got, rounded, f, case)
    return right, ("compared with the right values computed from the inputs rounded to float32" if right else "")


def _verdict_at(got: Received, exp, f: Field, case: Case) -> tuple[bool, str]:
    g = np.asarray(got.array)
    if not np.all(np.isfinite(np.asarray(g, dtype=float))):
        return False, ""
    if f.integer:
        return bool(np.array_equal(g, np.asarray(exp))), ""
    gc, ec = _centred(f, case, g), _centred(f, case, exp)
    if not got.float32 and compare.close(gc, ec, rtol=f.rtol, atol=f.atol):
        return True, ""
    if (got.float32 or f.float32_slack) and compare.close(gc, ec, float32=True):
        if got.float32:
            return True, ""
        err = float(np.max(np.abs(gc - ec)) / max(1e-300, float(np.max(np.abs(ec), initial=0.0)) or 1.0))
        return True, (
            f"{f.name} agrees with the right values only to about float32 precision (relative {err:.1e}); "
            "accepted. Was part of the computation done in float32?"
        )
    return False, ""


def _receive(ex: FunctionExercise, fn, case: Case) -> dict:
    if ex.evaluate is not None:
        return ex.evaluate(fn, case)
    return _read_fields(ex, call(fn, *case.args, dims=case.dims), case)


def _passes(wrong, exp, f: Field, case: Case) -> bool:
    """Would the slip's output be judged right (at the field's own tolerance)?"""
    try:
        w = np.asarray(wrong, dtype=float)
        if w.shape != np.shape(exp) or not np.all(np.isfinite(w)):
            return False
        return _verdict_at(Received(w.astype(np.intp) if f.integer else w), exp, f, case)[0]
    except (TypeError, ValueError):
        return False


def _matching(ex: FunctionExercise, case: Case, received: dict) -> tuple[dict, dict]:
    """For each field: the indices of the table's mistakes whose output equals the answer's on this case, and
    the indices of those that this case tests (their output differs from the right one here)."""
    out, tested = {}, {}
    expected = None
    for f in ex.fields:
        got = received[f.name]
        hits, told = set(), set()
        for n, m in enumerate(ex.mistakes):
            if (m.field or ex.fields[0].name) != f.name:
                continue
            try:
                with np.errstate(all="ignore"):
                    wrong = m.wrong(case)
            except Exception:  # noqa: BLE001 - a mistake that cannot be formed on this case does not match
                continue
            if expected is None:
                expected = ex.expected(case)
            if _passes(wrong, expected[f.name], f, case):
                continue  # the slip gives the right values here: it can neither explain nor contradict the answer
            told.add(n)
            if _matches(got, wrong, f, case):
                hits.add(n)
        out[f.name], tested[f.name] = hits, told
    return out, tested


def _explain_case(ex: FunctionExercise, case: Case, received: dict, consistent: dict, matching: dict) -> Part:
    expected = ex.expected(case)
    notes = [n for r in received.values() for n in r.notes]
    messages, hints, slip, kinds = [], [], "", []
    for f in ex.fields:
        got, exp = received[f.name], expected[f.name]
        right, note = _verdict(got, exp, f, case, ex.expected)
        if right:
            if note:
                notes.append(note)
            continue
        here = matching[f.name]
        chosen = sorted(here & consistent[f.name]) or sorted(here)
        found = ex.mistakes[chosen[0]] if chosen else None
        finite = bool(np.all(np.isfinite(np.asarray(got.array, dtype=float))))
        if ex.explain is not None and finite:
            messages.append(ex.explain(case, f.name, got.array, exp))
        elif finite:
            messages.append(_default_explain(f, got.array, exp))
        else:
            messages.append(_nonfinite_explain(f, got.array))
        if found is not None:
            slip = slip or found.slip
            hints.append((f.name, found.text(case)))
        elif not finite:
            hints.append((f.name, ex.nonfinite_hint(case, f.name) or ""))
        else:
            if f.shape is None:
                with np.errstate(all="ignore"):
                    how = _describe_number(float(got.array), float(exp), ex.factors(case, f.name))
            else:
                with np.errstate(all="ignore"):
                    how = compare.describe(got.array, exp, ex.factors(case, f.name), axes=f.axes)
            if getattr(how, "kind", ""):
                kinds.append(how.kind)
            if got.float32:
                slip = slip or "float32 too coarse for these values"
                how = (
                    f"{f.name} is float32, which keeps about 7 significant digits: not enough for these values; "
                    "compute in float64." + (f" ({how})" if how else "")
                )
            hints.append((f.name, how))
    if not messages:
        return Part(case.name, True, note="; ".join(notes))
    hint = _join_hints(hints)
    if not hint:
        wrong = [name for name, _ in hints]
        hint = ex.fallback(case, wrong) if callable(ex.fallback) else ex.fallback
    kind = "" if slip else (kinds[0] if kinds else "no simple description")
    return Part(case.name, False, "\n".join(messages), hint, slip=slip, note="; ".join(notes), kind=kind)


def _join_hints(hints: list[tuple[str, str]]) -> str:
    """One hint per wrong field; with several, each on its own line and named, never run together."""
    said = [(name, text) for name, text in hints if text]
    texts = list(dict.fromkeys(text for _, text in said))
    if len(texts) <= 1:
        return texts[0] if texts else ""
    lines, seen = [], set()
    for name, text in said:
        if text not in seen:
            seen.add(text)
            lines.append(f"{name}: {text}")
    return "\n".join(lines)


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
    """Check the learner's ``fn`` on the exercise's cases (fixed cases if ``seed`` is None, else fresh ones).

    A slip is named when a table entry reproduces the answer; when several do
    on one case, the one that reproduces it on *every* case is preferred (a
    slip can be invisible on some inputs, and two slips can agree on others).
    """
    result = CheckResult(ex.title)
    if not callable(fn):
        result.parts.append(
            Part("is a function", False, f"expected a function {ex.signature}; got a {type(fn).__name__}")
        )
        return result
    rng = np.random.default_rng(ex.default_seed if seed is None else seed)
    timed_out = None
    outcomes = []  # (case, received | Part)
    for case in ex.cases(rng):
        if timed_out:  # do not wait for the time limit again on every case
            outcomes.append((case, Part(case.name, False, f"not run: an earlier part did not finish ({timed_out})")))
            continue
        try:
            outcomes.append((case, _receive(ex, fn, case)))
        except NotAnswered:
            return CheckResult(ex.title, [Part(case.name, False, "not answered yet", answered=False)])
        except AnswerTimedOut as exc:
            timed_out = case.name
            outcomes.append((case, Part(case.name, False, str(exc))))
        except AnswerFailed as exc:
            outcomes.append((case, Part(case.name, False, str(exc), slip=exc.slip)))
    received = [(case, r) for case, r in outcomes if isinstance(r, dict)]
    wrong_somewhere = any(
        not _verdict(r[f.name], ex.expected(case)[f.name], f, case, ex.expected)[0]
        for case, r in received
        for f in ex.fields
    )
    found = {id(case): _matching(ex, case, r) for case, r in received} if wrong_somewhere else {}
    matching = {key: hits for key, (hits, _) in found.items()}
    consistent = {}
    for f in ex.fields:
        sets = [matching[id(case)][f.name] for case, _ in received] if wrong_somewhere else []
        consistent[f.name] = set.intersection(*sets) if sets else set()
        # a slip is named only where it explains the answer on every case that tests it (where its output
        # differs from the right one): a slip the answer does not make on another case is not its slip
        if wrong_somewhere:
            contradicted = set().union(*(tested[f.name] - hits[f.name] for hits, tested in found.values()))
            for hits, _ in found.values():
                hits[f.name] -= contradicted
    for case, r in outcomes:
        if isinstance(r, Part):
            result.parts.append(r)
        elif not wrong_somewhere:
            result.parts.append(_explain_case(ex, case, r, consistent, {f.name: set() for f in ex.fields}))
        else:
            result.parts.append(_explain_case(ex, case, r, consistent, matching[id(case)]))
    return result
