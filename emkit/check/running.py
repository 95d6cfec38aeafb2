"""Running a learner's code safely, and reading what it returned.

Every failure of the learner's code becomes feedback, never a crash of the
check: an exception (with the line it came from and, for the usual numpy
errors, what probably caused it), an endless loop (stopped after
:data:`TIME_LIMIT` seconds), a warning (recorded, not printed: nbgrader zeroes
a cell that writes to stderr), NaN, the wrong type or the wrong shape (named
with the expected and the received shape and the likely cause).

**dtype policy** (the same for every exercise): an answer computed in float32
passes if it is right to float32 precision (relative 2e-5), with a note saying
so; float16 is refused (three significant digits cannot show the answer is
right); integers are fine where whole numbers are expected.
"""

from __future__ import annotations

import re
import signal
import threading
import traceback
import warnings
from contextlib import contextmanager

import numpy as np

__all__ = [
    "AnswerFailed",
    "AnswerTimedOut",
    "NotAnswered",
    "Received",
    "RemoteException",
    "TIME_LIMIT",
    "call",
    "read_array",
    "shape_message",
]

TIME_LIMIT = 10.0  # seconds a learner's function may run on one input (in the learner's own kernel)
USE_ALARM = True  # False in the grader's check worker: the grader times each call itself

FLOAT32_RTOL = 2e-5


class NotAnswered(Exception):
    """The answer is still the exercise stub."""


class AnswerFailed(Exception):
    """The learner's function raised, timed out, or returned something unusable."""

    def __init__(self, message: str, slip: str = ""):
        super().__init__(message)
        self.slip = slip


class AnswerTimedOut(AnswerFailed):
    """The learner's function ran past the time limit."""


class RemoteException(Exception):  # noqa: N818 - it stands for the learner's exception
    """An exception raised by the learner's code in another process (the grader's runner).

    Carries the exception's type name, message and the line it came from, as
    plain text; :func:`call` reports it like a local exception.
    """

    def __init__(self, type_name: str, message: str, line: str = ""):
        super().__init__(message)
        self.type_name, self.message, self.line = type_name, message, line


@contextmanager
def _time_limit(seconds: float):
    """Interrupt the block after ``seconds`` (Unix main thread; elsewhere no limit).

    Off where another process enforces the limit (``USE_ALARM = False``: the
    grader's check worker, whose calls run in the submission's runner with
    the grader's own ``--call-timeout``).
    """
    usable = USE_ALARM and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise TimeoutError(f"stopped after {seconds:g} s (an endless loop?)")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# (pattern on "TypeName: message", the slip, what probably happened). Checked in order.
EXCEPTION_HINTS = [
    (
        r"operands could not be broadcast together with shapes \((\d+),(\d+)\) \((\d+),\)",
        "missing [:, None] broadcasting",
        "a 2-D array was combined with a 1-D one whose length is the number of rows. numpy lines up the "
        "*last* axes, so one value per row needs an axis of its own, [:, None] (or keepdims=True in the sum "
        "that made it).",
    ),
    (
        r"operands could not be broadcast together with shapes \((\d+),(\d+)\) \((\d+),(\d+)\)",
        "missing axes for pairwise differences",
        "two arrays of different lengths were combined element by element. To pair every point with every "
        "centre or component, add an axis to each: X[:, None, :] - centers[None, :, :] has shape (N, K, D).",
    ),
    (
        r"operands could not be broadcast together",
        "shapes that do not broadcast",
        "two arrays whose shapes do not line up were combined. numpy lines up the *last* axes: compare the "
        "two shapes in the message from the right, and give the shorter one an axis ([:, None]) where it "
        "should line up with the rows.",
    ),
    (
        r"matmul: Input operand \d has a mismatch in its core dimension|shapes \(\d+,\d*\) and \(\d+,\d*\) not aligned",
        "a matrix product with mismatched sizes",
        "a matrix product whose inner sizes differ: check which factor needs a transpose (.T).",
    ),
    (
        r"NameError: name 'np' is not defined",
        "numpy not imported",
        "run the notebook's first cell (import numpy as np).",
    ),
    (
        r"NameError: name '(gmm|kmeans|symbolic|sp)' is not defined",
        "module not imported",
        "a module is not imported: run the notebook's first cell.",
    ),
    (
        r"IndexError: boolean index did not match",
        "a mask of the wrong length",
        "a boolean mask of the wrong length: labels == k has one entry per point, so index the rows of X with it.",
    ),
    (
        r"all the input array dimensions except for the concatenation axis must match|all input arrays must have "
        r"the same shape",
        "arrays of different lengths stacked",
        "the pieces you stacked have different lengths: a mean over axis=1 gives one number per point; "
        "a mean over the points of a cluster is .mean(axis=0).",
    ),
    (
        r"IndexError: index \d+ is out of bounds for axis",
        "an index past the end",
        "an index past the end of an axis: remember Python counts from 0 and check which axis holds what.",
    ),
    (
        r"LinAlgError: Singular matrix",
        "a singular matrix",
        "a matrix had no inverse: check that covariances are built from the centred data and divided by N_k.",
    ),
    (
        r"TypeError: unsupported operand type\(s\) for .*: 'list' and",
        "arithmetic on a list",
        "arithmetic on a Python list: convert it with np.asarray first.",
    ),
]


#: What an axis of a given size counts, by the name of that size in a case's ``dims``.
AXIS_MEANING = {"N": "point", "K": "component", "D": "feature"}
#: A quantity with one value per ...: an example the learner has met.
PER_EXAMPLE = {"point": "", "component": " (such as N_k)", "feature": ""}


def _axis_name(n: int, dims: dict | None) -> str:
    """The letter of a size in ``dims`` ("K" for 3 when K = 3), or "" when none or several sizes equal n."""
    names = [k for k, v in (dims or {}).items() if v == n]
    return names[0] if len(names) == 1 else ""


def _broadcast_hint(a: int, b: int, c: int, dims: dict | None) -> str:
    """An (a, b) array combined with a (c,) one: say which axes those are, and what [:, None] would do."""
    A, B, C = _axis_name(a, dims), _axis_name(b, dims), _axis_name(c, dims)
    if A and B and C and c == a and A in AXIS_MEANING:
        per = AXIS_MEANING[A]
        return (
            f"an array of shape ({A}, {B}) = ({a}, {b}) was combined with one of shape ({C},) = ({c},), "
            f"one value per {per}{PER_EXAMPLE.get(per, '')}. numpy lines up the *last* axes, so it tried to match "
            f"the {c} values with the {b} columns. Give the per-{per} values an axis of their own, [:, None] "
            "(or keepdims=True in the sum that made them), so that each row gets its own value."
        )
    return (
        f"an array of shape ({a}, {b}) was combined with one of shape ({c},). numpy lines up the *last* axes, so "
        f"it tried to match the {c} values with the {b} columns. If the {c} values belong to the rows (one per "
        "row), give them an axis of their own, [:, None] (or keepdims=True in the sum that made them)."
    )


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text))


def _sized_slip(text: str, dims: dict | None) -> tuple[str, str]:
    """Slips that only the sizes of the case's axes reveal (N, K and D all different), else ("", "")."""
    dims = dims or {}
    N, K, D = dims.get("N"), dims.get("K"), dims.get("D")
    match = re.search(r"could not broadcast input array from shape \((\d+), ?(\d+)\) into shape \((\d+), ?(\d+)\)",
                      text)  # fmt: skip
    if match and N is not None and D is not None and N != D:
        a, b, c, d = (int(g) for g in match.groups())
        if a == b == N and c == d == D:
            return (
                "an N×N outer product",
                f"a {N}×{N} matrix (N×N: a row and a column per point) was put where a {D}×{D} covariance goes. "
                "A product like (r * Xc) @ Xc.T pairs every point with every other point; a covariance is D×D: "
                "it sums the D×D outer products (x_i − μ)(x_i − μ)ᵀ over the points, e.g. (r * Xc).T @ Xc.",
            )
    match = re.search(r"operands could not be broadcast together with shapes \(([\d, ]+)\) \(([\d, ]+)\)", text)
    if match and None not in (N, K, D) and N not in (K, D):
        shapes = {_shape(match.group(1)), _shape(match.group(2))}
        if (K, D) in shapes and shapes & {(N,), (N, 1)}:
            return (
                "N_k summed over components (axis=1)",
                f"a K×D array (a row per component, such as the weighted sums) met N = {N} values, one per point: "
                "counts summed over the components (axis=1)? That sum is 1 for every point. N_k = Σ_i r_ik sums "
                "over the points (axis=0): one count per component.",
            )
    return "", ""


def _explain_exception(type_name: str, message: str, dims: dict | None = None) -> tuple[str, str]:
    text = f"{type_name}: {message}"
    slip, hint = _sized_slip(text, dims)
    if slip:
        return slip, hint
    match = re.search(r"operands could not be broadcast together with shapes \((\d+),(\d+)\) \((\d+),\)", text)
    if match:
        a, b, c = (int(g) for g in match.groups())
        return "missing [:, None] broadcasting", _broadcast_hint(a, b, c, dims)
    for pattern, slip, hint in EXCEPTION_HINTS:
        if re.search(pattern, text):
            return slip, hint
    return "", ""


def call(fn, *args, dims: dict | None = None):
    """Call the learner's ``fn`` on copies of ``args``; turn every failure into feedback.

    ``dims`` (the sizes of the case's axes, ``{"N": 30, "K": 3, "D": 2}``) lets
    the feedback on a numpy error say which axes met. Returns the value;
    raises :class:`NotAnswered` for the exercise stub (it
    raises ``NotImplementedError`` or returns ``None``), :class:`AnswerTimedOut`
    for an endless loop and :class:`AnswerFailed` for anything else that went
    wrong. Warnings are recorded, not printed.
    """
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        with _time_limit(TIME_LIMIT), warnings.catch_warnings(record=True), np.errstate(all="ignore"):
            warnings.simplefilter("always")
            out = fn(*copies)
    except NotImplementedError:
        raise NotAnswered from None
    except TimeoutError as exc:
        raise AnswerTimedOut(f"your function did not finish: {exc}") from None
    except RemoteException as exc:
        where = f" (line: {exc.line})" if exc.line else ""
        slip, hint = _explain_exception(exc.type_name, exc.message, dims)
        raise AnswerFailed(
            f"your function raised {exc.type_name}: {exc.message}{where}" + (f"\nLikely cause: {hint}" if hint else ""),
            slip=slip,
        ) from None
    except Exception as exc:  # the learner's code failed: report where, not crash
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (line {tb[-1].lineno}: {tb[-1].line})" if tb and tb[-1].line else ""
        slip, hint = _explain_exception(type(exc).__name__, str(exc), dims)
        raise AnswerFailed(
            f"your function raised {type(exc).__name__}: {exc}{where}" + (f"\nLikely cause: {hint}" if hint else ""),
            slip=slip,
        ) from None
    if out is None:
        raise NotAnswered
    return out


def _dims_text(shape: tuple, dims: dict) -> str:
    """``(30, 2)`` with the names of its axes where they are unambiguous: ``(N, K) = (30, 2)``."""
    names = []
    for n in shape:
        candidates = [k for k, v in dims.items() if v == n]
        names.append(candidates[0] if len(candidates) == 1 else str(n))
    named = f"({', '.join(names)}{',' if len(names) == 1 else ''})"
    plain = str(tuple(int(n) for n in shape))
    return plain if named == plain else f"{named} = {plain}"


def shape_message(name: str, expected: tuple, got: tuple, dims: dict, causes=()) -> str:
    """Say which shape was expected, which came, and the likely cause.

    ``causes`` are ``(shape, cause)`` pairs the exercise knows (for example the
    shape an argmin over the wrong axis gives), or ``(shape, cause, slip)`` where
    that shape can only come from one slip; generic causes (a transpose, a
    missing or extra axis) are recognised too.
    """
    text = f"{name} should have shape {_dims_text(expected, dims)}; you returned shape {_dims_text(got, dims)}."
    for shape, cause, *_ in causes:
        if tuple(shape) == tuple(got):
            return f"{text}\nLikely cause: {cause}"
    if len(got) == len(expected) and tuple(reversed(got)) == tuple(expected) and got != expected:
        return f"{text}\nLikely cause: the axes are swapped (transposed); use .T or build it the other way round."
    if len(got) == len(expected) and sorted(got) == sorted(expected) and got != expected:
        return f"{text}\nLikely cause: the axes are in another order; np.moveaxis or np.stack(..., axis=0) fixes it."
    if len(got) == len(expected) - 1:
        return f"{text}\nLikely cause: an axis was summed or averaged away (check the axis= of your sums)."
    if len(got) == len(expected) + 1:
        return f"{text}\nLikely cause: an extra axis, for example from broadcasting [:, None] one time too many."
    return text


class Received:
    """What :func:`read_array` read: the array (float64 or integers) and notes about how it came."""

    def __init__(self, array: np.ndarray, notes=(), float32: bool = False):
        self.array, self.notes, self.float32 = array, list(notes), float32


def read_array(
    out, name: str, shape: tuple, dims: dict, *, integer: bool = False, causes=(), allow_nonfinite: bool = False
) -> Received:
    """Read one returned value as an array of the expected shape, or raise AnswerFailed saying why not.

    Unambiguous other shapes are accepted with a note (a column (N, 1) for an
    (N,) vector, a length-1 array for a number); a list or a tuple of numbers
    is fine. With ``allow_nonfinite`` NaN and inf are returned (for matching
    them against known mistakes) instead of refused.
    """
    try:
        arr = np.asarray(out)
    except Exception:  # noqa: BLE001 - whatever it is, it is not an array
        raise AnswerFailed(f"{name} should be an array; you returned {_type_name(out)}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise AnswerFailed(f"{name} should be an array of numbers; you returned {_type_name(out)}")
    if np.iscomplexobj(arr):
        raise AnswerFailed(f"{name} is complex-valued ({arr.dtype}); every value here is real")
    notes = []
    shape = tuple(int(n) for n in shape)
    if arr.shape != shape:
        if arr.size == int(np.prod(shape)) and _squeezed(arr.shape) == _squeezed(shape):
            notes.append(f"{name} came with shape {arr.shape} and was read as {shape}")
            arr = arr.reshape(shape)
        else:
            named = [c[2] for c in causes if len(c) > 2 and tuple(c[0]) == arr.shape]
            raise AnswerFailed(shape_message(name, shape, arr.shape, dims, causes), slip=(named or ["wrong shape"])[0])
    float32 = False
    if arr.dtype == np.float16:
        raise AnswerFailed(
            f"{name} is float16, which keeps about 3 significant digits: too few to tell a right answer. "
            "Compute in float64 (numpy's default) or float32."
        )
    if arr.dtype == np.float32 or arr.dtype == np.complex64:
        float32 = True
        notes.append(f"{name} is float32: compared at float32 precision (relative {FLOAT32_RTOL:g})")
    if integer:
        if allow_nonfinite and not np.all(np.isfinite(arr)):
            return Received(arr.astype(float), notes, float32)
        if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                bad = arr.ravel()[~(np.isfinite(arr.ravel()) & (arr.ravel() == np.round(arr.ravel())))][0]
                raise AnswerFailed(f"{name} should hold whole numbers (indices); it holds e.g. {bad!r}")
        return Received(arr.astype(np.intp), notes, float32)
    arr = arr.astype(float)
    if not allow_nonfinite and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        value = arr[tuple(bad)]
        raise AnswerFailed(f"{name} contains {value}, e.g. at index {tuple(int(i) for i in bad)}")
    return Received(arr, notes, float32)


def read_number(out, name: str, *, allow_nonfinite: bool = False) -> Received:
    """Read one returned number (a Python or numpy scalar, or a one-element array)."""
    try:
        arr = np.asarray(out)
    except Exception:  # noqa: BLE001
        raise AnswerFailed(f"{name} should be one number; you returned {_type_name(out)}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise AnswerFailed(f"{name} should be one number; you returned {_type_name(out)}")
    if arr.size != 1:
        raise AnswerFailed(
            f"{name} should be one number; you returned an array of shape {arr.shape}"
            + ("\nLikely cause: a sum or mean without reducing over every axis." if arr.size > 1 else "")
        )
    float32 = arr.dtype in (np.float32, np.float16)
    notes = [f"{name} is {arr.dtype}: compared at float32 precision"] if float32 else []
    if np.iscomplexobj(arr):
        raise AnswerFailed(f"{name} is complex ({arr.ravel()[0]}); it should be a real number")
    value = float(arr.ravel()[0])
    if not allow_nonfinite and not np.isfinite(value):
        raise AnswerFailed(f"{name} is {value}")
    return Received(np.float64(value), notes, float32)


def _squeezed(shape) -> tuple:
    return tuple(int(n) for n in shape if n != 1)


def _type_name(obj) -> str:
    kind = getattr(obj, "type_name", None)  # an opaque value sent back by the grader's runner
    if isinstance(kind, str):
        return f"a {kind}"
    if isinstance(obj, np.ndarray):
        return f"an array of dtype {obj.dtype}"
    return f"a {type(obj).__name__}"
