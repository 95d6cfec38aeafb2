"""Writing a check of your own: :class:`Checker` builds a :class:`CheckResult` one part at a time.

An instructor's check is a function ``check_x(answer, seed=None)`` that
returns a :class:`CheckResult`. ``emkit grade`` calls it in its own process
with the learner's answer (a function answer is called back in the
learner's sandbox; what comes back is plain data) and a fresh ``seed``; in
the learner's notebook the same function is the self-check. ``Checker``
does the usual chores: call the answer safely (an exception, an endless
loop, a stub that still raises ``NotImplementedError`` become feedback,
never a crash), compare numbers and arrays with tolerances, recognise
known slips, and say what kind of difference a wrong value shows when no
slip matches.

>>> import numpy as np
>>> from emkit.check import Checker
>>> def check_mean(mean, seed=None):
...     c = Checker("Exercise A: the mean")
...     x = np.random.default_rng(seed).normal(size=20) if seed is not None else np.arange(5.0)
...     got = c.call(mean, x)
...     c.compare("the mean of five numbers", got, x.mean(),
...               slips={"divided by N - 1 instead of N": x.sum() / (len(x) - 1)},
...               hint="the mean divides the sum by the number of values")
...     return c.result()
>>> check_mean(lambda x: x.sum() / len(x)).passed
True
>>> wrong = check_mean(lambda x: x.sum() / (len(x) - 1))
>>> wrong.passed, wrong.slips
(False, ['divided by N - 1 instead of N'])
>>> check_mean(lambda x: x.sum() / 2).parts[0].kind
'a constant factor'
"""

from __future__ import annotations

import numpy as np

from . import compare
from .results import CheckResult, Part
from .running import AnswerFailed, NotAnswered, call

__all__ = ["Checker"]

_FAILED = object()


class Checker:
    """Collects the parts of one check; :meth:`result` gives the :class:`CheckResult`.

    ``title`` is how feedback names the exercise ("Exercise 3: the ELBO").
    """

    def __init__(self, title: str):
        self.title = str(title)
        self.parts: list[Part] = []
        self._not_answered = False
        self._failure: AnswerFailed | None = None

    def call(self, fn, *args):
        """``fn(*args)`` on copies of the arguments; on any failure, the next part says what went wrong.

        Returns the value, or a marker that :meth:`compare` and :meth:`require`
        turn into a failed part with the reason (the exception and its line,
        "did not finish", a wrong type). The exercise stub (raising
        ``NotImplementedError`` or returning ``None``) makes the whole result
        "not answered".
        """
        if not callable(fn):
            self._failure = AnswerFailed(f"expected a function; got a {type(fn).__name__}")
            return _FAILED
        try:
            return call(fn, *args)
        except NotAnswered:
            self._not_answered = True
        except AnswerFailed as exc:
            self._failure = exc
        return _FAILED

    def _pending_failure(self, name: str) -> Part | None:
        if self._not_answered:
            return Part(name, False, "not answered yet", answered=False)
        if self._failure is not None:
            exc, self._failure = self._failure, None
            return Part(name, False, str(exc), slip=getattr(exc, "slip", ""))
        return None

    def compare(
        self,
        name: str,
        got,
        expected,
        *,
        slips: dict | None = None,
        hint: str = "",
        rtol: float = 1e-8,
        atol: float = 1e-10,
    ) -> bool:
        """One part: ``got`` must equal ``expected`` within the tolerances (numbers or arrays).

        ``slips`` maps the name of a known mistake to the value that mistake
        gives on these inputs; a wrong answer equal to one is told its name.
        Otherwise the message says what kind of difference it is (a constant
        factor, a transpose, only some rows ...). Returns whether it passed.
        """
        failed = self._pending_failure(name) if got is _FAILED else None
        if failed is not None:
            self.parts.append(failed)
            return False
        exp = np.asarray(expected, dtype=float)
        try:
            arr = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            self.parts.append(Part(name, False, f"expected a number or an array of numbers; got {_kind(got)}"))
            return False
        if arr.shape != exp.shape:
            if arr.size == exp.size:
                arr = arr.reshape(exp.shape)
            else:
                message = f"expected shape {exp.shape}; got shape {arr.shape}"
                self.parts.append(Part(name, False, message, hint, slip="wrong shape", kind="the wrong shape"))
                return False
        if np.allclose(arr, exp, rtol=rtol, atol=atol):
            self.parts.append(Part(name, True))
            return True
        shown = f"expected {_show(exp)}; got {_show(arr)}"
        for slip, value in (slips or {}).items():
            wrong = np.asarray(value, dtype=float)
            if wrong.shape == exp.shape and np.allclose(arr, wrong, rtol=rtol, atol=atol):
                self.parts.append(Part(name, False, shown, hint, slip=slip))
                return False
        how = compare.describe(arr, exp)
        message = shown + (f"\n{how[0].upper()}{how[1:]}" if how else "")
        self.parts.append(Part(name, False, message, hint, kind=getattr(how, "kind", "")))
        return False

    def require(self, name: str, passed: bool, message: str = "", *, hint: str = "", slip: str = "") -> bool:
        """One part decided by your own test (``message`` is shown when it fails)."""
        failed = self._pending_failure(name)
        if failed is not None:
            self.parts.append(failed)
            return False
        self.parts.append(Part(name, bool(passed), "" if passed else message, "" if passed else hint, slip=slip))
        return bool(passed)

    def result(self) -> CheckResult:
        if self._not_answered:
            return CheckResult(self.title, [Part(self.parts[0].name if self.parts else "answer", False,
                                                 "not answered yet", answered=False)])  # fmt: skip
        return CheckResult(self.title, list(self.parts))


def _show(a: np.ndarray) -> str:
    if a.ndim == 0:
        return f"{float(a):.6g}"
    return np.array2string(a, precision=4, suppress_small=True, threshold=20)


def _kind(value) -> str:
    kind = getattr(value, "type_name", None)
    return f"a {kind}" if isinstance(kind, str) else f"a {type(value).__name__}"
