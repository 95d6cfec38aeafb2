"""Checks for the course's exercises: immediate, specific feedback.

Each ``check.*`` function runs a learner's answer on concrete inputs and
returns a :class:`CheckResult`. In a notebook it renders as a short summary
(per part: passed or what is wrong, with a concrete input, the expected and
the actual value, and a hint). It also has ``.passed``, ``.score`` (the
fraction of parts passed, for partial credit) and ``.raise_if_failed()`` (for
nbgrader or otter-grader tests).

A learner's function may raise, return the wrong shape, return NaN or loop
forever: every such case becomes feedback (loops are stopped after a time
limit), never a crash of the check. An answer that is still the exercise stub
(it raises ``NotImplementedError`` or returns ``None``) is reported as
*not answered yet*.

>>> import numpy as np
>>> from emkit import check, kmeans
>>> check.kmeans_assign(kmeans.assign).passed
True
>>> def wrong(X, centers):      # farthest instead of nearest
...     return kmeans.squared_distances(X, centers).argmax(axis=1)
>>> result = check.kmeans_assign(wrong)
>>> result.passed, result.score
(False, 0.0)
"""

from __future__ import annotations

import html
import signal
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from . import gmm, kmeans

__all__ = [
    "CheckResult",
    "Part",
    "e_step",
    "kmeans_assign",
    "kmeans_update",
    "m_step",
    "missing_conditional",
    "mu_update",
    "q_function",
    "q_value",
    "responsibilities",
    "sigma_update",
    "tau_update",
    "weighted_means",
]

TIME_LIMIT = 10.0  # seconds a learner's function may run on one input


class NotAnswered(Exception):
    """The answer is still the exercise stub."""


class AnswerFailed(Exception):
    """The learner's function raised, timed out, or returned something unusable."""


@dataclass
class Part:
    """One checked aspect of an answer."""

    name: str
    passed: bool
    message: str = ""
    hint: str = ""
    answered: bool = True


@dataclass
class CheckResult:
    """The outcome of a check: renders as HTML in a notebook, as text elsewhere."""

    exercise: str
    parts: list[Part] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return all(p.answered for p in self.parts)

    @property
    def passed(self) -> bool:
        return bool(self.parts) and all(p.passed for p in self.parts)

    @property
    def score(self) -> float:
        """The fraction of parts passed, 0..1 (partial credit)."""
        return sum(p.passed for p in self.parts) / len(self.parts) if self.parts else 0.0

    def summary(self) -> str:
        if not self.answered:
            return f"{self.exercise}: not answered yet — write your answer in the exercise cell above, then run this."
        if self.passed:
            return f"{self.exercise}: all {len(self.parts)} parts passed. Well done!"
        n_ok = sum(p.passed for p in self.parts)
        return f"{self.exercise}: {n_ok} of {len(self.parts)} parts passed."

    def __str__(self) -> str:
        lines = [self.summary()]
        if self.answered:
            for p in self.parts:
                lines.append(f"  [{'pass' if p.passed else 'FAIL'}] {p.name}")
                if not p.passed:
                    lines += [f"         {line}" for line in p.message.splitlines()]
                    if p.hint:
                        lines.append(f"         Hint: {p.hint}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        if not self.answered:
            return f'<div style="padding:6px;border-left:5px solid #999999"><b>{html.escape(self.summary())}</b></div>'
        colour = "#009E73" if self.passed else "#D55E00"
        rows = []
        for p in self.parts:
            mark = "✔" if p.passed else "✘"
            detail = ""
            if not p.passed:
                detail = f"<pre style='margin:2px 0'>{html.escape(p.message)}</pre>"
                if p.hint:
                    detail += f"<i>Hint: {html.escape(p.hint)}</i>"
            rows.append(f"<li>{mark} {html.escape(p.name)}{detail}</li>")
        return (
            f'<div style="padding:6px;border-left:5px solid {colour}"><b>{html.escape(self.summary())}</b>'
            f"<ul style='margin:4px 0'>{''.join(rows)}</ul></div>"
        )

    def raise_if_failed(self) -> None:
        """Raise ``AssertionError`` with the feedback text unless every part passed."""
        if not self.passed:
            raise AssertionError(str(self))


# ---------------------------------------------------------------------------
# Running a learner's function safely
# ---------------------------------------------------------------------------


@contextmanager
def _time_limit(seconds: float):
    """Interrupt the block after ``seconds`` (Unix main thread; elsewhere no limit)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
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


class AnswerTimedOut(AnswerFailed):
    """The learner's function ran past the time limit."""


def _call(fn, *args):
    """Call the learner's ``fn`` on copies of ``args``; turn every failure into feedback."""
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        with _time_limit(TIME_LIMIT):
            out = fn(*copies)
    except NotImplementedError:
        raise NotAnswered from None
    except TimeoutError as exc:
        raise AnswerTimedOut(f"your function did not finish: {exc}") from None
    except Exception as exc:  # the learner's code failed: report where, not crash
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (line {tb[-1].lineno}: {tb[-1].line})" if tb and tb[-1].line else ""
        raise AnswerFailed(f"your function raised {type(exc).__name__}: {exc}{where}") from None
    if out is None:
        raise NotAnswered
    return out


def _as_array(out, name: str, shape: tuple, *, integer: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(out)
    except Exception:  # noqa: BLE001 - whatever it is, it is not an array
        raise AnswerFailed(f"{name} should be an array; got {type(out).__name__}") from None
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise AnswerFailed(f"{name} should be an array of numbers; got dtype {arr.dtype}")
    if arr.shape != shape:
        raise AnswerFailed(f"{name} should have shape {shape}; got {arr.shape}")
    if integer:
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise AnswerFailed(f"{name} should hold whole numbers (cluster indices); got e.g. {arr.ravel()[0]!r}")
            arr = arr.astype(np.intp)
    elif not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise AnswerFailed(f"{name} contains NaN or inf, e.g. at index {tuple(int(i) for i in bad)}")
    return arr


def _run_parts(exercise: str, cases, evaluate) -> CheckResult:
    """Evaluate each case; a stub anywhere means the whole answer is not there yet."""
    result = CheckResult(exercise)
    timed_out = None
    for name, case in cases:
        if timed_out:  # do not wait for the time limit again on every part
            result.parts.append(Part(name, False, f"not run: an earlier part did not finish ({timed_out})"))
            continue
        try:
            result.parts.append(evaluate(name, case))
        except NotAnswered:
            return CheckResult(exercise, [Part(name, False, "not answered yet", answered=False)])
        except AnswerTimedOut as exc:
            timed_out = name
            result.parts.append(Part(name, False, str(exc)))
        except AnswerFailed as exc:
            result.parts.append(Part(name, False, str(exc)))
    return result


def _require_callable(fn, exercise: str, signature: str) -> CheckResult | None:
    if callable(fn):
        return None
    return CheckResult(
        exercise, [Part("is a function", False, f"expected a function {signature}; got {type(fn).__name__}")]
    )


def _fmt(a) -> str:
    return np.array2string(np.asarray(a, dtype=float), precision=4, suppress_small=True)


# ---------------------------------------------------------------------------
# k-means (notebook 01)
# ---------------------------------------------------------------------------


def _kmeans_cases():
    rng = np.random.default_rng(2024)
    X_small = np.array([[0.0, 0.0], [1.0, 0.2], [4.0, 4.0], [5.0, 4.5], [0.5, 4.0]])
    C_small = np.array([[0.0, 0.5], [4.5, 4.0], [0.0, 4.0]])
    X_big = rng.normal(size=(200, 3)) * 3
    C_big = rng.normal(size=(4, 3)) * 3
    X_far = X_small + 1e6
    return [
        ("five points, three centres", (X_small, C_small)),
        ("200 points in 3-D, four centres", (X_big, C_big)),
        ("data far from the origin (+1e6)", (X_far, C_small + 1e6)),
    ]


def kmeans_assign(fn) -> CheckResult:
    """Check ``fn(X, centers) -> labels``: each point's nearest centre."""
    exercise = "k-means assignment step"
    bad = _require_callable(fn, exercise, "assign(X, centers) -> labels")
    if bad:
        return bad

    def evaluate(name, case):
        X, C = case
        labels = _as_array(_call(fn, X, C), "labels", (len(X),), integer=True)
        expected = kmeans.assign(X, C)
        wrong = np.flatnonzero(labels != expected)
        if wrong.size == 0:
            return Part(name, True)
        i = int(wrong[0])
        d2 = ((X[i] - C) ** 2).sum(axis=1)
        hint = "use the squared Euclidean distance to every centre and take the argmin over centres (axis=1)."
        if np.array_equal(labels, ((X[:, None, :] - C[None]) ** 2).sum(-1).argmax(axis=1)):
            hint = "you picked the farthest centre: argmin, not argmax."
        elif labels.min() >= 1 and labels.max() == len(C):
            hint = "labels count from 0 in Python: the first centre is label 0."
        return Part(
            name,
            False,
            f"{wrong.size} of {len(X)} labels are wrong. Point {i}, x = {_fmt(X[i])}:\n"
            f"squared distances to the centres {_fmt(d2)}, so its label is {expected[i]}; you gave {labels[i]}.",
            hint,
        )

    return _run_parts(exercise, _kmeans_cases(), evaluate)


def kmeans_update(fn) -> CheckResult:
    """Check ``fn(X, labels, n_clusters) -> centers``: each centre is the mean of its points."""
    exercise = "k-means update step"
    bad = _require_callable(fn, exercise, "update(X, labels, n_clusters) -> centers")
    if bad:
        return bad
    cases = []
    for name, (X, C) in _kmeans_cases():
        cases.append((name, (X, kmeans.assign(X, C), len(C))))
    rng = np.random.default_rng(7)
    X_unequal = rng.normal(size=(30, 2))
    labels_unequal = np.r_[np.zeros(25, int), np.ones(4, int), 2]  # sizes 25, 4, 1
    cases.append(("clusters of unequal sizes (25, 4 and 1 points)", (X_unequal, labels_unequal, 3)))

    def evaluate(name, case):
        X, labels, K = case
        centers = _as_array(_call(fn, X, labels, K), "centers", (K, X.shape[1]))
        expected = np.stack([X[labels == k].mean(axis=0) for k in range(K)])
        scale = 1e-9 * (1.0 + np.abs(expected).max())
        wrong = np.flatnonzero(np.abs(centers - expected).max(axis=1) > scale)
        if wrong.size == 0:
            return Part(name, True)
        k = int(wrong[0])
        members = np.flatnonzero(labels == k)
        hint = "centre k is the mean of the rows of X whose label is k: X[labels == k].mean(axis=0)."
        if np.allclose(centers, np.stack([X[labels == k].sum(axis=0) for k in range(K)]) / len(X), atol=scale):
            hint = "you divided each cluster's sum by N, the total number of points; divide by the cluster's own size."
        elif np.allclose(centers, np.stack([X[labels == k].sum(axis=0) for k in range(K)]), atol=scale):
            hint = "that is the sum of the points; divide by how many there are."
        return Part(
            name,
            False,
            f"centre {k} is {_fmt(centers[k])}, but the mean of its {members.size} point(s) "
            f"(rows {', '.join(map(str, members[:5]))}{', ...' if members.size > 5 else ''}) is {_fmt(expected[k])}.",
            hint,
        )

    return _run_parts(exercise, cases, evaluate)


# ---------------------------------------------------------------------------
# Soft assignment (notebook 02)
# ---------------------------------------------------------------------------


def _responsibility_cases():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(6, 1)) * 2
    weights, means, cov = np.array([0.3, 0.7]), np.array([[-1.0], [1.5]]), np.array([[[1.0]], [[0.5]]])
    moderate = gmm.log_joint(X, weights, means, cov)
    X_far = np.array([[40.0], [-35.0], [0.2]])  # exp(log joint) underflows to 0 for the first two
    extreme = gmm.log_joint(X_far, weights, means, np.array([[[0.05]], [[0.05]]]))
    three = rng.normal(size=(50, 3)) * 5 - 20
    return [
        ("six points, two components", moderate),
        ("points far from every component (the naive formula gives 0/0)", extreme),
        ("fifty points, three components, all log-densities below -20", three),
    ]


def responsibilities(fn) -> CheckResult:
    """Check ``fn(log_joint_NK) -> resp_NK``: the posterior p(z_i = k | x_i) from log π_k + log N(x_i | ...)."""
    exercise = "responsibilities from log joint probabilities"
    bad = _require_callable(fn, exercise, "responsibilities(log_joint_NK) -> resp_NK")
    if bad:
        return bad

    def evaluate(name, log_joint_NK):
        with np.errstate(all="ignore"):
            raw = _call(fn, log_joint_NK)
        try:
            resp = _as_array(raw, "responsibilities", log_joint_NK.shape)
        except AnswerFailed as exc:
            if "NaN" in str(exc):
                raise AnswerFailed(
                    f"{exc}.\nFor these inputs every exp(log joint) in a row underflows to 0, so dividing gives "
                    "0/0 = NaN.\nHint: subtract each row's maximum before exponentiating (the log-sum-exp trick)."
                ) from None
            raise
        expected = np.exp(log_joint_NK - gmm.logsumexp(log_joint_NK)[:, None])
        err = np.abs(resp - expected).max(axis=1)
        if err.max() <= 1e-9:
            return Part(name, True)
        i = int(np.argmax(err))
        hint = "exponentiate, then divide each row by its sum (after subtracting the row maximum)."
        if not np.allclose(resp.sum(axis=1), 1.0, atol=1e-9):
            hint = "each row must sum to 1: divide by the row sum over components (axis=1), not the column sum."
        return Part(
            name,
            False,
            f"row {i}: log joint {_fmt(log_joint_NK[i])}\nexpected responsibilities {_fmt(expected[i])}, "
            f"you gave {_fmt(resp[i])}.",
            hint,
        )

    return _run_parts(exercise, _responsibility_cases(), evaluate)


def weighted_means(fn) -> CheckResult:
    """Check ``fn(X, resp_NK) -> means_KD``: μ_k = Σ_i r_ik x_i / Σ_i r_ik."""
    exercise = "weighted mean update (M-step for μ_k)"
    bad = _require_callable(fn, exercise, "weighted_means(X, resp_NK) -> means_KD")
    if bad:
        return bad
    rng = np.random.default_rng(5)
    X1 = rng.normal(size=(8, 1))
    X2 = rng.normal(size=(40, 2)) * [1.0, 4.0] + 3
    one_hot_labels = rng.integers(0, 3, size=40)
    one_hot_labels[:3] = [0, 1, 2]
    cases = [
        ("1-D, two components", (X1, rng.dirichlet([1.0, 1.0], size=8))),
        ("2-D, three components", (X2, rng.dirichlet([0.5, 1.0, 2.0], size=40))),
        ("one-hot responsibilities (must give the k-means update)", (X2, np.eye(3)[one_hot_labels])),
    ]

    def evaluate(name, case):
        X, resp = case
        K = resp.shape[1]
        means = _as_array(_call(fn, X, resp), "means", (K, X.shape[1]))
        Nk = resp.sum(axis=0)
        expected = resp.T @ X / Nk[:, None]
        err = np.abs(means - expected).max(axis=1)
        if err.max() <= 1e-9 * (1 + np.abs(expected).max()):
            return Part(name, True)
        k = int(np.argmax(err))
        hint = "μ_k = Σ_i r_ik x_i / N_k with N_k = Σ_i r_ik."
        if np.allclose(means, resp.T @ X / len(X)):
            hint = "you divided by N, the number of points; divide by N_k = Σ_i r_ik, component k's effective count."
        elif np.allclose(means, np.broadcast_to(X.mean(axis=0), means.shape)):
            hint = "that is the plain mean of all points: weight each point by its responsibility r_ik."
        elif np.allclose(means, resp.T @ X):
            hint = "that is the weighted sum; divide it by N_k = Σ_i r_ik."
        return Part(name, False, f"component {k}: expected μ_k = {_fmt(expected[k])}, you gave {_fmt(means[k])}.", hint)

    return _run_parts(exercise, cases, evaluate)


# ---------------------------------------------------------------------------
# The general algorithm (notebook 03)
# ---------------------------------------------------------------------------


def _spd(rng, D):
    A = rng.normal(size=(D, D))
    return A @ A.T + 0.5 * np.eye(D)


def missing_conditional(fn) -> CheckResult:
    """Check ``fn(x1, mean, cov) -> (cond_mean, cond_var)`` for a bivariate Normal with x₂ missing.

    ``x1`` holds the observed first coordinates (shape R), ``mean`` is (μ₁, μ₂)
    and ``cov`` the 2×2 covariance; the answer is E[x₂ | x₁] for each x₁
    (shape R) and Var[x₂ | x₁] (one number: it does not depend on x₁).
    """
    exercise = "missing-data E-step: E[x₂ | x₁] and Var[x₂ | x₁]"
    bad = _require_callable(fn, exercise, "conditional_x2(x1, mean, cov) -> (cond_mean, cond_var)")
    if bad:
        return bad
    rng = np.random.default_rng(3)
    cases = [
        (
            "positively correlated",
            (np.array([0.0, 1.0, 2.5]), np.array([1.0, 2.0]), np.array([[2.0, 0.6], [0.6, 1.0]])),
        ),
        ("negatively correlated", (rng.normal(size=7), np.array([-1.0, 0.5]), np.array([[1.0, -0.7], [-0.7, 3.0]]))),
        ("a random covariance, x₁ far from μ₁", (rng.normal(size=5) * 10, rng.normal(size=2), _spd(rng, 2))),
    ]

    def evaluate(name, case):
        x1, mean, cov = case
        out = _call(fn, x1, mean, cov)
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise AnswerFailed("return a pair (cond_mean, cond_var)")
        cm = _as_array(out[0], "cond_mean", x1.shape)
        cv = np.asarray(out[1], dtype=float)
        if cv.size != 1 and cv.shape != x1.shape:
            raise AnswerFailed(f"cond_var should be one number (or one per x₁); got shape {cv.shape}")
        s11, s12, s22 = cov[0, 0], cov[0, 1], cov[1, 1]
        exp_mean = mean[1] + s12 / s11 * (x1 - mean[0])
        exp_var = s22 - s12**2 / s11
        messages, hint = [], ""
        if not np.allclose(cm, exp_mean, rtol=1e-9, atol=1e-12):
            i = int(np.argmax(np.abs(cm - exp_mean)))
            messages.append(f"for x₁ = {x1[i]:.4g}: E[x₂ | x₁] should be {exp_mean[i]:.6g}; you gave {cm[i]:.6g}")
            if np.allclose(cm, mean[1] + s12 / s22 * (x1 - mean[0])):
                hint = "the regression coefficient is s₁₂ / s₁₁ (divide by the variance of the *observed* x₁)."
            elif np.allclose(cm, s12 / s11 * (x1 - mean[0])):
                hint = "add the mean μ₂: E[x₂ | x₁] = μ₂ + (s₁₂ / s₁₁)(x₁ - μ₁)."
            elif np.allclose(cm, mean[1]):
                hint = "filling in μ₂ ignores what x₁ tells us about x₂ through s₁₂."
        if not np.allclose(cv, exp_var, rtol=1e-9):
            messages.append(f"Var[x₂ | x₁] should be {exp_var:.6g}; you gave {float(np.ravel(cv)[0]):.6g}")
            if np.allclose(cv, s22):
                hint = hint or "knowing x₁ reduces the uncertainty: subtract s₁₂² / s₁₁ from s₂₂."
        if not messages:
            return Part(name, True)
        return Part(name, False, "\n".join(messages), hint or "see the conditional Normal formulas above.")

    return _run_parts(exercise, cases, evaluate)


def q_value(fn) -> CheckResult:
    """Check ``fn(X, resp_NK, weights, means, covariances) -> float``: Q(θ | θᵗ) for a Gaussian mixture.

    The responsibilities belong to the old θᵗ; (weights, means, covariances)
    is the θ being scored (full covariances). An answer that drops terms not
    depending on θ (such as the -(D/2) log 2π) is accepted: only differences
    Q(θa | θᵗ) - Q(θb | θᵗ) are compared.
    """
    exercise = "Q(θ | θᵗ) for a Gaussian mixture"
    bad = _require_callable(fn, exercise, "q_value(X, resp_NK, weights, means, covariances) -> float")
    if bad:
        return bad
    rng = np.random.default_rng(8)
    cases = []
    for name, N, D, K in [("1-D, two components", 12, 1, 2), ("2-D, three components", 40, 2, 3)]:
        X = rng.normal(size=(N, D)) * 2
        resp = rng.dirichlet(np.ones(K), size=N)
        thetas = [
            (rng.dirichlet(np.ones(K)), rng.normal(size=(K, D)), np.stack([_spd(rng, D) for _ in range(K)]))
            for _ in range(3)
        ]
        cases.append((name, (X, resp, thetas)))

    def evaluate(name, case):
        X, resp, thetas = case
        values = []
        for w, m, c in thetas:
            out = _call(fn, X, resp, w, m, c)
            try:
                value = float(np.asarray(out, dtype=float))
            except (TypeError, ValueError):
                raise AnswerFailed(f"return one number; got {type(out).__name__} {np.shape(out)}") from None
            if not np.isfinite(value):
                raise AnswerFailed(f"your Q is {value}")
            values.append(value)
        expected = [gmm.q_function(X, resp, *theta) for theta in thetas]
        diffs, exp_diffs = np.diff(values), np.diff(expected)
        if np.allclose(diffs, exp_diffs, rtol=1e-8, atol=1e-8):
            return Part(name, True)
        hint = "Q = Σ_i Σ_k r_ik [log π_k + log N(x_i | μ_k, Σ_k)], with r from the old θᵗ."
        if np.allclose(diffs, -exp_diffs, rtol=1e-8):
            hint = "the sign is flipped: Q is an expected log-likelihood (maximised), not a loss."
        else:
            loglik = [gmm.log_likelihood(X, *theta) for theta in thetas]
            no_weights = [q - float(np.sum(resp * np.log(t[0]))) for q, t in zip(expected, thetas, strict=True)]
            if np.allclose(diffs, np.diff(loglik), rtol=1e-8):
                hint = "that is the log-likelihood log p(X | θ); Q averages the complete-data log-likelihood over r."
            elif np.allclose(diffs, np.diff(no_weights), rtol=1e-8):
                hint = "the log π_k term is missing: the hidden label's prior is part of the complete data."
        return Part(
            name,
            False,
            f"Q(θa) - Q(θb) should be {exp_diffs[0]:.6g}; yours gives {diffs[0]:.6g} "
            "(only differences are compared, so dropped constants are fine).",
            hint,
        )

    return _run_parts(exercise, cases, evaluate)


# ---------------------------------------------------------------------------
# The two-Gaussian exercise (notebook 04): SymPy answers in the shared vocabulary
# ---------------------------------------------------------------------------


def _vocabulary():
    from . import symbolic

    return symbolic, symbolic.V


def _as_expression(answer, exercise):
    """A SymPy expression from the answer (an expression, or a string parsed safely)."""
    import sympy as sp

    if isinstance(answer, str):
        from .parse import AnswerSyntaxError, parse_answer

        try:
            return parse_answer(answer)
        except AnswerSyntaxError as exc:
            raise AnswerFailed(f"could not read your answer: {exc}") from None
    if answer is None:
        raise NotAnswered
    if isinstance(answer, int | float):
        answer = sp.Float(answer)
    if not isinstance(answer, sp.Expr):
        raise AnswerFailed(f"expected a SymPy expression (or a string); got {type(answer).__name__}")
    return answer


def _check_vocabulary(expr, allowed_scalars, exercise):
    """Refuse symbols outside the vocabulary and sums with the wrong limits, with a clear message."""
    import sympy as sp
    from sympy.concrete.summations import Sum

    symbolic, V = _vocabulary()
    bound = {V.i}
    allowed = set(allowed_scalars) | {V.N}
    for s in expr.atoms(Sum):
        if s.limits != ((V.i, 1, V.N),):
            raise AnswerFailed(f"sums must run over i from 1 to N: Sum(..., (i, 1, N)); you wrote {s.limits}")
    for ind in expr.atoms(sp.Indexed):
        if ind.base == V.Z1:
            raise AnswerFailed("Z1[i] is the hidden indicator, which we never observe; use its expectation T1[i]")
        if ind.base not in (V.x, V.T1, V.T2):
            raise AnswerFailed(f"{ind.base} is not in the vocabulary; the data are x[i], T1[i], T2[i]")
        if ind.indices != (V.i,):
            raise AnswerFailed(f"{ind} should be indexed by i, inside a Sum over i")
    labels = {base.label for base in (V.x, V.T1, V.T2, V.Z1)}
    stray = expr.free_symbols - allowed - bound - labels
    stray = {s for s in stray if not isinstance(s, sp.Indexed | sp.IndexedBase)}
    if stray:
        names = ", ".join(sorted(map(str, stray)))
        raise AnswerFailed(
            f"your answer uses {names}, which this exercise does not define here; allowed: "
            f"{', '.join(sorted(map(str, allowed)))}, and x[i], T1[i], T2[i] inside Sum(..., (i, 1, N))"
        )
    outside = [ind for ind in expr.atoms(sp.Indexed) if not any(ind in s.atoms(sp.Indexed) for s in expr.atoms(Sum))]
    if outside:
        raise AnswerFailed(f"{outside[0]} appears outside a Sum over i: every x[i], T1[i], T2[i] must be summed")


def _numeric_cases(seed, n_cases=4):
    rng = np.random.default_rng(seed)
    for _ in range(n_cases):
        n = int(rng.integers(4, 9))
        x = np.round(rng.normal(size=n) * 2, 3)
        T1 = np.round(rng.uniform(0.05, 0.95, size=n), 3)
        theta = {
            "tau": float(rng.uniform(0.2, 0.8)),
            "mu1": float(rng.normal()),
            "mu2": float(rng.normal()),
            "Sigma1": float(rng.uniform(0.5, 2)),
            "Sigma2": float(rng.uniform(0.5, 2)),
            "tau_t": float(rng.uniform(0.2, 0.8)),
            "mu1_t": float(rng.normal() + 3),
            "mu2_t": float(rng.normal() - 3),
            "Sigma1_t": float(rng.uniform(0.5, 2)),
            "Sigma2_t": float(rng.uniform(0.5, 2)),
        }
        yield x, T1, theta


def _value(expr, x, T1, theta):
    symbolic, V = _vocabulary()
    used = {str(s) for s in expr.free_symbols}
    params = {k: v for k, v in theta.items() if k in used}
    with np.errstate(all="ignore"):
        return symbolic.evaluate(expr, x, T1, **params)


def _symbolic_update_check(exercise, answer, reference, allowed, mistakes, *, prepare=lambda e: e, seed=0):
    """Shared logic: vocabulary, then symbolic equality (if SymPy can show it), then numbers."""
    symbolic, V = _vocabulary()

    def evaluate_answer(name, _):
        expr = _as_expression(answer, exercise)
        _check_vocabulary(expr, allowed, exercise)
        expr_eval = prepare(expr)
        ref_eval = prepare(reference)
        try:
            if symbolic.same_expression(
                expr_eval.xreplace({V.T2[V.i]: 1 - V.T1[V.i]}), ref_eval.xreplace({V.T2[V.i]: 1 - V.T1[V.i]})
            ):
                return Part(name, True, "shown equal symbolically")
        except Exception:  # noqa: BLE001 - SymPy could not decide: fall back to numbers
            pass
        for x, T1, theta in _numeric_cases(seed):
            expected = _value(ref_eval, x, T1, theta)
            try:
                got = _value(expr_eval, x, T1, theta)
            except (TypeError, ValueError) as exc:
                raise AnswerFailed(f"your expression could not be evaluated on data: {exc}") from None
            if not np.isfinite(got) or not np.isclose(got, expected, rtol=1e-9, atol=1e-12):
                hint = ""
                for mistake_expr, mistake_hint in mistakes:
                    try:
                        if np.isclose(_value(prepare(mistake_expr), x, T1, theta), got, rtol=1e-9):
                            hint = mistake_hint
                            break
                    except (TypeError, ValueError):
                        continue
                data = f"x = {_fmt(x)}\nT1 = {_fmt(T1)}"
                params = {k: round(v, 4) for k, v in theta.items() if k in {str(s) for s in expr.free_symbols}}
                return Part(
                    name,
                    False,
                    f"a counterexample: with\n{data}\n{params if params else ''}\n"
                    f"the update should be {expected:.6g}; your expression gives {got:.6g}",
                    hint or "compare with the derivation above: set ∂Q/∂(parameter) = 0 and solve.",
                )
        return Part(name, True, "equal on random inputs")

    return _run_parts(exercise, [("your expression", None)], evaluate_answer)


def tau_update(answer) -> CheckResult:
    """Check τᵗ⁺¹ as a SymPy expression (or string) in the vocabulary of :mod:`emkit.symbolic`."""
    symbolic, V = _vocabulary()
    S = symbolic.total
    i, T1, T2, x, N = V.i, V.T1, V.T2, V.x, V.N
    mistakes = [
        (S(T2[i]) / N, "that is 1 - τ: the average responsibility of component 2, not 1."),
        (S(T1[i]), "that is Σ_i T1[i], the expected count N₁; divide by N."),
        (S(T1[i]) / S(T2[i]), "divide by N = Σ_i (T1[i] + T2[i]), not by Σ_i T2[i]."),
        (S(T1[i] * x[i]) / S(T1[i]), "that is μ₁'s update; τ is a probability: the mean of T1[i]."),
    ]
    return _symbolic_update_check("τ update", answer, symbolic.derive_tau()["solution"], set(), mistakes, seed=11)


def mu_update(answer, component: int = 1) -> CheckResult:
    """Check μ_kᵗ⁺¹ (k = ``component``) as a SymPy expression (or string)."""
    symbolic, V = _vocabulary()
    S = symbolic.total
    i, x, N = V.i, V.x, V.N
    T, other = (V.T1, V.T2) if component == 1 else (V.T2, V.T1)
    mistakes = [
        (S(T[i] * x[i]) / N, f"you divided by N; divide by N_{component} = Σ_i T{component}[i]."),
        (S(x[i]) / N, "that is the plain mean: weight each point by its responsibility."),
        (S(T[i] * x[i]), f"that is the weighted sum; divide it by Σ_i T{component}[i]."),
        (S(other[i] * x[i]) / S(other[i]), "those are the other component's responsibilities."),
    ]
    return _symbolic_update_check(
        f"μ{component} update", answer, symbolic.derive_mean(component)["solution"], set(), mistakes, seed=12
    )


def sigma_update(answer, component: int = 1) -> CheckResult:
    """Check Σ_kᵗ⁺¹ (one dimension: a variance) as a SymPy expression (or string).

    The symbol ``mu1`` (``mu2``) in the answer means the *new* mean of the same
    M-step; the check substitutes the weighted mean for it. ``mu1_t`` is the old mean.
    """
    symbolic, V = _vocabulary()
    S = symbolic.total
    i, x, N = V.i, V.x, V.N
    T = V.T1 if component == 1 else V.T2
    mu, mu_t = (V.mu1, V.mu1_t) if component == 1 else (V.mu2, V.mu2_t)
    new_mean = symbolic.derive_mean(component)["solution"]
    reference = symbolic.derive_variance(component)["centred"]

    def prepare(e):
        return e.xreplace({mu: new_mean})

    mistakes = [
        (S((x[i] - mu) ** 2) / N, "the responsibilities are missing: weight each squared deviation by T[i]."),
        (S(T[i] * (x[i] - mu) ** 2) / N, f"you divided by N; divide by N_{component} = Σ_i T{component}[i]."),
        (S(T[i] * (x[i] - mu_t) ** 2) / S(T[i]), "you centred on the previous iteration's mean; use the new μ."),
        (S(T[i] * x[i] ** 2) / S(T[i]), "not centred: subtract the mean (or subtract μ² from the second moment)."),
        (S(T[i] * (x[i] - mu) ** 2), "that is the weighted sum of squares; divide by Σ_i T[i]."),
    ]
    return _symbolic_update_check(
        f"Σ{component} update", answer, reference, {mu, mu_t}, mistakes, prepare=prepare, seed=13
    )


def q_function(answer) -> CheckResult:
    """Check Q(θ | θᵗ) as a SymPy expression (or string): a function of tau, mu1, mu2, Sigma1, Sigma2.

    Terms that do not depend on θ (such as -½ log 2π per point) may be dropped:
    only differences Q(θa) - Q(θb) are compared.
    """
    import sympy as sp

    symbolic, V = _vocabulary()
    exercise = "Q(θ | θᵗ) for the two-Gaussian mixture"
    reference = symbolic.q_function()
    theta_syms = [V.tau, V.mu1, V.mu2, V.Sigma1, V.Sigma2]
    S = symbolic.total
    i, x = V.i, V.x
    loglik = S(
        sp.log(
            V.tau * sp.exp(symbolic.normal_log_density(x[i], V.mu1, V.Sigma1))
            + (1 - V.tau) * sp.exp(symbolic.normal_log_density(x[i], V.mu2, V.Sigma2))
        )
    )
    no_tau = reference - S(V.T1[i] * sp.log(V.tau) + V.T2[i] * sp.log(1 - V.tau))
    mistakes = [
        (-reference, "the sign is flipped: Q is an expected log-likelihood, to be maximised."),
        (loglik, "that is the observed-data log-likelihood; Q averages the complete-data one over T."),
        (no_tau, "the log τ and log(1 - τ) terms are missing: the hidden label's prior belongs in Q."),
    ]

    def evaluate_answer(name, _):
        expr = _as_expression(answer, exercise)
        _check_vocabulary(expr, theta_syms, exercise)
        for x_, T1, theta in _numeric_cases(14):
            other = {k: (v * 1.3 if k.startswith("Sigma") else v + 0.4) for k, v in theta.items()}
            other["tau"] = min(0.95, theta["tau"] * 1.2)

            def diff(e, x_=x_, T1=T1, theta=theta, other=other):
                return _value(e, x_, T1, theta) - _value(e, x_, T1, other)

            expected = diff(reference)
            try:
                got = diff(expr)
            except (TypeError, ValueError) as exc:
                raise AnswerFailed(f"your expression could not be evaluated on data: {exc}") from None
            if not np.isfinite(got) or not np.isclose(got, expected, rtol=1e-9, atol=1e-9):
                hint = next((h for m, h in mistakes if np.isclose(diff(m), got, rtol=1e-9)), "")
                return Part(
                    name,
                    False,
                    f"a counterexample: x = {_fmt(x_)}, T1 = {_fmt(T1)};\nbetween two parameter values Q should "
                    f"change by {expected:.6g}; yours changes by {got:.6g} (only differences are compared).",
                    hint or "Q = Σ_i [T1[i](log τ + log N(x[i] | μ1, Σ1)) + T2[i](log(1-τ) + log N(x[i] | μ2, Σ2))].",
                )
        return Part(name, True, "equal up to terms that do not depend on θ")

    return _run_parts(exercise, [("your expression", None)], evaluate_answer)


# ---------------------------------------------------------------------------
# E-step and M-step in numpy (notebook 04), full covariances in D dimensions
# ---------------------------------------------------------------------------


def _gmm_cases(seed):
    rng = np.random.default_rng(seed)
    out = []
    for name, N, D, K in [
        ("1-D, two components", 10, 1, 2),
        ("2-D, two components", 30, 2, 2),
        ("3-D, three components", 40, 3, 3),
    ]:
        X = rng.normal(size=(N, D)) * 2
        weights = rng.dirichlet(np.ones(K) * 2)
        means = rng.normal(size=(K, D)) * 2
        covs = np.stack([_spd(rng, D) for _ in range(K)])
        out.append((name, (X, weights, means, covs)))
    return out


def e_step(fn) -> CheckResult:
    """Check ``fn(X, weights, means, covariances) -> (resp_NK, log_likelihood)`` (full covariances)."""
    exercise = "E-step"
    bad = _require_callable(fn, exercise, "e_step(X, weights, means, covariances) -> (resp_NK, log_likelihood)")
    if bad:
        return bad
    cases = _gmm_cases(21)
    X, w, m, c = cases[1][1]
    cases.append(("a point far from every component", (np.vstack([X, [[80.0, -60.0]]]), w, m, c * 0.05)))

    def evaluate(name, case):
        X, weights, means, covs = case
        with np.errstate(all="ignore"):
            out = _call(fn, X, weights, means, covs)
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise AnswerFailed("return a pair (resp_NK, log_likelihood)")
        N, K = X.shape[0], len(weights)
        if np.shape(out[0]) == (K, N) and N != K:
            raise AnswerFailed(f"resp_NK has shape {np.shape(out[0])}: transposed; it should be (N, K) = ({N}, {K})")
        try:
            resp = _as_array(out[0], "resp_NK", (N, K))
        except AnswerFailed as exc:
            if "NaN" in str(exc):
                raise AnswerFailed(
                    f"{exc}: the densities underflow to 0 far from every component. "
                    "Work with log densities and the log-sum-exp trick."
                ) from None
            raise
        ref_resp, ref_ll = gmm.e_step(X, weights, means, covs)
        messages, hint = [], ""
        if not np.allclose(resp, ref_resp, rtol=1e-8, atol=1e-10):
            i = int(np.argmax(np.abs(resp - ref_resp).max(axis=1)))
            messages.append(f"row {i}: responsibilities should be {_fmt(ref_resp[i])}; you gave {_fmt(resp[i])}")
            with np.errstate(all="ignore"):
                dens = np.exp(gmm.log_gaussian_density(X, means, covs))
                unweighted = dens / dens.sum(axis=1, keepdims=True)
            if not np.allclose(resp.sum(axis=1), 1):
                hint = "each row must sum to 1: divide by Σ_k π_k N(x_i | μ_k, Σ_k)."
            elif np.allclose(resp, unweighted):
                hint = "the weights π_k are missing from the numerator (and denominator)."
        try:
            ll = float(np.asarray(out[1], dtype=float))
        except (TypeError, ValueError):
            raise AnswerFailed("log_likelihood should be one number") from None
        if not np.isclose(ll, ref_ll, rtol=1e-8):
            messages.append(f"log_likelihood should be {ref_ll:.6g}; you gave {ll:.6g}")
            if np.isclose(ll, ref_ll / N, rtol=1e-8):
                hint = hint or "that is the average per point; return the sum over the points."
        if not messages:
            return Part(name, True)
        return Part(name, False, "\n".join(messages), hint or "r_ik = π_k N(x_i|μ_k,Σ_k) / Σ_j π_j N(x_i|μ_j,Σ_j).")

    return _run_parts(exercise, cases, evaluate)


def m_step(fn) -> CheckResult:
    """Check ``fn(X, resp_NK) -> (weights, means, covariances)`` (full covariances, no regularisation)."""
    exercise = "M-step"
    bad = _require_callable(fn, exercise, "m_step(X, resp_NK) -> (weights, means, covariances)")
    if bad:
        return bad
    rng = np.random.default_rng(22)
    cases = []
    for name, (X, weights, _means, _covs) in _gmm_cases(22):
        resp = rng.dirichlet(np.ones(len(weights)), size=len(X))
        cases.append((name, (X + 5.0, resp)))  # data off the origin: not centring shows

    def evaluate(name, case):
        X, resp = case
        N, D = X.shape
        K = resp.shape[1]
        out = _call(fn, X, resp)
        if not isinstance(out, tuple | list) or len(out) != 3:
            raise AnswerFailed("return a triple (weights, means, covariances)")
        weights = _as_array(out[0], "weights", (K,))
        means = _as_array(out[1], "means", (K, D))
        shape = np.shape(out[2])
        if len(shape) == 3 and shape[1:] == (N, N):
            raise AnswerFailed(
                f"covariances have shape {shape}: you built N×N outer products (x - μ)ᵀ(x - μ) "
                "across points; each covariance is D×D, Σ_i r_ik (x_i - μ_k)(x_i - μ_k)ᵀ / N_k"
            )
        covs = _as_array(out[2], "covariances", (K, D, D))
        ref_w, ref_m, ref_c = gmm.m_step(X, resp)
        Nk = resp.sum(axis=0)
        messages, hint = [], ""
        if not np.allclose(weights, ref_w, rtol=1e-9):
            messages.append(f"weights should be {_fmt(ref_w)}; you gave {_fmt(weights)}")
            if np.allclose(weights, Nk):
                hint = "the weights must sum to 1: divide N_k by N."
        if not np.allclose(means, ref_m, rtol=1e-9):
            k = int(np.argmax(np.abs(means - ref_m).max(axis=1)))
            messages.append(f"means[{k}] should be {_fmt(ref_m[k])}; you gave {_fmt(means[k])}")
            if np.allclose(means, resp.T @ X / N):
                hint = "you divided the weighted sums by N; divide by N_k = Σ_i r_ik."
        if not np.allclose(covs, ref_c, rtol=1e-8, atol=1e-10):
            k = int(np.argmax(np.abs(covs - ref_c).reshape(K, -1).max(axis=1)))
            messages.append(f"covariances[{k}] should be\n{_fmt(ref_c[k])}\nyou gave\n{_fmt(covs[k])}")
            unweighted = np.stack([(X - ref_m[j]).T @ (X - ref_m[j]) / N for j in range(K)])
            by_n = ref_c * (Nk / N)[:, None, None]
            raw = np.stack([(resp[:, j, None] * X).T @ X / Nk[j] for j in range(K)])
            if np.allclose(covs, unweighted):
                hint = hint or "the covariance needs the responsibility weights r_ik."
            elif np.allclose(covs, by_n):
                hint = hint or "you divided by N; divide by N_k = Σ_i r_ik."
            elif np.allclose(covs, raw):
                hint = hint or "not centred: use (x_i - μ_k), or subtract μ_k μ_kᵀ from the weighted second moment."
        if not messages:
            return Part(name, True)
        return Part(name, False, "\n".join(messages), hint or "see the M-step formulas above.")

    return _run_parts(exercise, cases, evaluate)
