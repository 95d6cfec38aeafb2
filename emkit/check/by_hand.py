"""Checks of the by-hand exercises of notebooks 02 and 03: a number worked out on paper, the coins, and
the missing-data M-step (see :mod:`.registry`).

Each exercise here is an :class:`~emkit.check.registry.Exercise` in :data:`EXERCISES`;
the registry collects them with the others.

A **value** answer is a number the learner worked out (on paper, with a
calculator, or in a line of numpy): the check compares it with the right
value to the precision the exercise asks for, and with the value each known
slip gives on the same numbers, so that "you divided the distances by their
sum" is said, not just "wrong". The numbers are the exercise's own, printed
in the notebook; ``seed`` is accepted (every check takes it) and ignored.

>>> one_responsibility(0.215).passed
True
>>> one_responsibility(0.625).slips
['divided the distances by their sum']
>>> coins_by_hand(0.58).slips
["coin B's update"]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .engine import Case, Field, FunctionExercise, Mistake, run
from .registry import Exercise
from .results import CheckResult, Part
from .running import AnswerFailed, NotAnswered

__all__ = ["EXERCISES", "coins_by_hand", "missing_m_step", "one_responsibility"]


# ---------------------------------------------------------------------------
# Reading a number the learner typed
# ---------------------------------------------------------------------------


def read_value(answer) -> float:
    """The learner's number: an int, a float, a numpy scalar or one-element array, or its text ("0.215")."""
    if answer is None:
        raise NotAnswered
    if isinstance(answer, bool):
        raise AnswerFailed(f"expected a number; you gave {answer!r}, a truth value")
    if isinstance(answer, str):
        text = answer.strip().replace(",", ".") if answer.count(",") == 1 and "." not in answer else answer.strip()
        try:
            value = float(text)
        except ValueError:
            raise AnswerFailed(f"expected a number; could not read {answer!r} as one (write it like 0.215)") from None
    else:
        if callable(answer):
            raise AnswerFailed("expected a number (the value you worked out); you gave a function")
        try:
            arr = np.asarray(answer, dtype=float)
        except (TypeError, ValueError, OverflowError):
            raise AnswerFailed(f"expected a number; you gave a {type(answer).__name__}") from None
        if arr.size != 1:
            raise AnswerFailed(
                f"expected one number; you gave {arr.size} values (shape {arr.shape}): "
                "pick the one the exercise asks for"
            )
        value = float(arr.ravel()[0])
    if not np.isfinite(value):
        raise AnswerFailed(f"your value is {value}: a finite number is expected")
    return value


@dataclass(frozen=True)
class ValueSlip:
    """A known wrong way to work the number out: its name, the value it gives, and what to tell the learner."""

    slip: str
    value: float
    message: str


@dataclass(frozen=True)
class ValueExercise:
    title: str
    part: str  # what the one part is called: "r for x = 2.5"
    right: float
    tolerance: float  # absolute: answers rounded as the exercise asks still pass
    slips: tuple[ValueSlip, ...]
    worked: str  # the numbers the exercise gives, said again in a wrong answer's feedback
    otherwise: str  # a hint when no slip matches: a step to check, not the answer
    bounds: tuple[float, float] | None = None  # where the value must lie (a probability: 0..1)
    bounds_message: str = ""


def run_value(ex: ValueExercise, answer) -> CheckResult:
    """Decide a number: right within the tolerance, else the nearest known slip within it, else what is off."""
    try:
        value = read_value(answer)
    except NotAnswered:
        return CheckResult(ex.title, [Part(ex.part, False, "not answered yet", answered=False)])
    except AnswerFailed as exc:
        return CheckResult(ex.title, [Part(ex.part, False, str(exc), slip=exc.slip)])
    if abs(value - ex.right) <= ex.tolerance:
        return CheckResult(ex.title, [Part(ex.part, True, note=f"{value:g} is right (to within {ex.tolerance:g})")])
    said = f"you gave {value:g}. {ex.worked}"
    near = sorted((abs(value - s.value), n) for n, s in enumerate(ex.slips) if abs(value - s.value) <= ex.tolerance)
    if near:
        found = ex.slips[near[0][1]]
        return CheckResult(ex.title, [Part(ex.part, False, said, found.message, slip=found.slip)])
    if ex.bounds is not None and not ex.bounds[0] <= value <= ex.bounds[1]:
        return CheckResult(ex.title, [Part(ex.part, False, said, ex.bounds_message, kind="out of range")])
    return CheckResult(ex.title, [Part(ex.part, False, said, ex.otherwise, kind="no simple description")])


# ---------------------------------------------------------------------------
# 02 · one responsibility by hand
# ---------------------------------------------------------------------------

#: Exercise 02-one-r: the point, the two means, the shared σ and the weights π (in the notebook's text).
ONE_R = {"x": 2.5, "mu": (0.0, 4.0), "sigma": 1.5, "pi": (0.4, 0.6)}


def _r1(x, mu, var, pi, half=0.5) -> float:
    a = np.log(np.asarray(pi)) - half * (x - np.asarray(mu)) ** 2 / var
    e = np.exp(a - a.max())
    return float(e[0] / e.sum())


def _one_r_exercise() -> ValueExercise:
    x, mu, s, pi = ONE_R["x"], np.array(ONE_R["mu"]), ONE_R["sigma"], np.array(ONE_R["pi"])
    d = np.abs(x - mu)
    right = _r1(x, mu, s**2, pi)
    density = pi[0] * np.exp(-(d[0] ** 2) / (2 * s**2)) / np.sqrt(2 * np.pi * s**2)
    slips = (
        ValueSlip(
            "divided the distances by their sum",
            float(d[0] / d.sum()),
            "that is the tempting recipe d_1/(d_1 + d_2), which this notebook showed is backwards: the point "
            "is nearer to μ_2, yet component 1 gets the larger share. The responsibility comes from Bayes' "
            "rule: weight times density for each component, then divide by their sum.",
        ),
        ValueSlip(
            "divided the distances by their sum",
            float(d[0] ** 2 / (d**2).sum()),
            "that is d_1²/(d_1² + d_2²), the 'share of the distances' recipe on squared distances: it gives the "
            "farther component the larger share. Use Bayes' rule: π_k exp(−d_k²/(2σ²)) for each k, then "
            "divide by their sum.",
        ),
        ValueSlip(
            "forgot the weights π_k",
            _r1(x, mu, s**2, np.array([0.5, 0.5])),
            "that is what equal weights would give. Here π_1 = 0.4 and π_2 = 0.6: multiply each exp(−d_k²/(2σ²)) "
            "by its π_k before dividing by the sum.",
        ),
        ValueSlip(
            "used σ instead of σ²",
            _r1(x, mu, s, pi),
            "you divided the squared distances by 2σ = 3 instead of 2σ² = 4.5: the exponent is −d²/(2σ²), "
            "with the variance σ² = 1.5² = 2.25.",
        ),
        ValueSlip(
            "the other component's responsibility",
            1.0 - right,
            "that is r_2, component 2's share; the exercise asks for r_1 (the two add up to 1).",
        ),
        ValueSlip(
            "lost the ½ in the exponent",
            _r1(x, mu, s**2, pi, half=1.0),
            "the Normal density has exp(−d²/(2σ²)): the 2 in the denominator is missing (you used exp(−d²/σ²)).",
        ),
        ValueSlip(
            "not divided by the sum",
            float(density),
            "that is π_1 N(x | μ_1, σ²), the numerator alone: divide it by the sum of both components' "
            "numerators, so that r_1 + r_2 = 1.",
        ),
        ValueSlip(
            "inverse distances",
            float((1 / d[0]) / (1 / d).sum()),
            "that is the inverse-distance recipe (1/d_1)/(1/d_1 + 1/d_2): it points the right way but ignores "
            "the width σ and the weights π. Use Bayes' rule with the Normal densities.",
        ),
    )
    return ValueExercise(
        title="one responsibility by hand",
        part=f"r_1 for the point x = {x:g}",
        right=right,
        tolerance=0.005,
        slips=slips,
        worked=(
            f"The numbers: x = {x:g}, μ_1 = {mu[0]:g}, μ_2 = {mu[1]:g}, one σ = {s:g} for both components, "
            f"π_1 = {pi[0]:g}, π_2 = {pi[1]:g}."
        ),
        otherwise=(
            "work it in three lines: the two squared distances d_k² = (x − μ_k)²; the two numerators "
            "π_k exp(−d_k²/(2σ²)) (the factor 1/√(2πσ²) is the same for both and cancels); then r_1 = "
            "numerator 1 / (numerator 1 + numerator 2). Give three decimals."
        ),
        bounds=(0.0, 1.0),
        bounds_message="a responsibility is a probability: it lies between 0 and 1, and r_1 + r_2 = 1.",
    )


ONE_R_EXERCISE = _one_r_exercise()


def one_responsibility(answer, seed: int | None = None) -> CheckResult:
    """Check a number worked out by hand: r_1 for x = 2.5, μ = (0, 4), σ = 1.5, π = (0.4, 0.6) (to ±0.005)."""
    return run_value(ONE_R_EXERCISE, answer)


# ---------------------------------------------------------------------------
# 03 · the coins by hand: one M-step from a table of responsibilities
# ---------------------------------------------------------------------------

#: Do & Batzoglou's five sets of ten tosses, and coin A's responsibility for each set after the first
#: E-step from θ_A = 0.6, θ_B = 0.5 with equal weights, rounded to two decimals as the notebook's table shows.
COINS = {"heads": (5, 9, 8, 4, 7), "tosses": (10, 10, 10, 10, 10), "r_A": (0.45, 0.80, 0.73, 0.35, 0.65)}


def _coins_exercise() -> ValueExercise:
    h, n, rA = (np.array(COINS[k], dtype=float) for k in ("heads", "tosses", "r_A"))
    rB = 1 - rA
    right = float(rA @ h / (rA @ n))
    likelier = rA > 0.5
    slips = (
        ValueSlip(
            "coin B's update",
            float(rB @ h / (rB @ n)),
            "that is coin B's new bias (weighted by r_B = 1 − r_A); the exercise asks for coin A's.",
        ),
        ValueSlip(
            "ignored the responsibilities",
            float(h.sum() / n.sum()),
            "that is the share of heads over all 50 tosses, as if every set came from coin A. Weight each set "
            "by r_A: coin A's expected heads are Σ_i r_A,i h_i.",
        ),
        ValueSlip(
            "divided by all 50 tosses",
            float(rA @ h / n.sum()),
            "the numerator (coin A's expected heads) is right, but you divided by all 50 tosses. Coin A made "
            "only Σ_i r_A,i n_i of them, in expectation: divide by that.",
        ),
        ValueSlip(
            "hard assignments",
            float(h[likelier].sum() / n[likelier].sum()),
            "you gave each set wholly to its likelier coin (as k-means would). EM splits each set: a fraction "
            "r_A,i of its heads and of its tosses goes to coin A.",
        ),
        ValueSlip(
            "heads over tails",
            float(rA @ h / (rA @ (n - h))),
            "that is expected heads over expected *tails* (odds, which can exceed 1); the bias is expected "
            "heads over expected *tosses*.",
        ),
        ValueSlip(
            "heads per set, not per toss",
            float(rA @ h / rA.sum()),
            "that is coin A's expected number of heads per set of ten (Σ r h / Σ r); the bias is a probability "
            "per toss: divide the expected heads by the expected tosses Σ_i r_A,i n_i.",
        ),
        ValueSlip(
            "the share of tails",
            float(rA @ (n - h) / (rA @ n)),
            "that is coin A's expected share of tails, 1 − θ_A; the bias θ_A is the share of heads.",
        ),
        ValueSlip(
            "the starting value",
            0.6,
            "0.6 is where θ_A started (θ_A⁰); the M-step moves it: compute expected heads / expected tosses "
            "from the table.",
        ),
    )
    return ValueExercise(
        title="the coins by hand: one M-step",
        part="θ_A after the first M-step",
        right=right,
        tolerance=0.006,
        slips=slips,
        worked=(
            "The numbers: heads h = 5, 9, 8, 4, 7 in sets of n = 10 tosses, and coin A's responsibilities "
            "r_A = 0.45, 0.80, 0.73, 0.35, 0.65 from the table."
        ),
        otherwise=(
            "make two columns: coin A's expected heads r_A,i × h_i and its expected tosses r_A,i × n_i; add each "
            "column up; θ_A is the first total divided by the second. Give two or three decimals."
        ),
        bounds=(0.0, 1.0),
        bounds_message="a coin's bias is a probability (of heads on one toss): it lies between 0 and 1.",
    )


COINS_EXERCISE = _coins_exercise()


def coins_by_hand(answer, seed: int | None = None) -> CheckResult:
    """Check θ_A after one M-step, worked out from the notebook's table of r_A (to ±0.006)."""
    return run_value(COINS_EXERCISE, answer)


# ---------------------------------------------------------------------------
# 03 · the missing-data M-step
# ---------------------------------------------------------------------------


def _missing_cases(rng):
    out = []
    for name, N, n_missing, offset in [
        ("six rows, two with x₂ missing", 6, 2, 0.0),
        ("40 rows, 15 with x₂ missing", 40, 15, 0.0),
        ("data far from the origin (+100)", 12, 5, 100.0),
    ]:
        x1 = rng.normal(size=N) * 1.5 + offset
        x2 = 0.7 * (x1 - offset) + rng.normal(size=N) * 0.8 + offset + 1.0
        missing = np.zeros(N, dtype=bool)
        missing[rng.choice(N, size=n_missing, replace=False)] = True
        v = float(rng.uniform(0.2, 0.9))  # Var[x₂ | x₁] under the current θᵗ
        filled = np.column_stack([x1, x2])  # in the missing rows x₂ stands for E[x₂ | x₁] (any number will do)
        out.append(Case(name=name, args=(filled, missing, v), X=filled, missing=missing, v=v, dims={"N": N, "D": 2}))
    return out


def _missing_ref(X, missing, v, *, count=None, extra=None, centred=True):
    """The M-step: μ = mean of the completed rows; Σ = (Σ_i (x̂_i − μ)(x̂_i − μ)ᵀ + C) / N, C = diag(0, m v)."""
    N = len(X) if count is None else count
    mean = X.sum(axis=0) / N
    d = X - mean if centred else X
    C = np.diag([0.0, missing.sum() * v]) if extra is None else extra
    return mean, (d.T @ d + C) / N


def _missing_mean(c, **kw):
    return _missing_ref(c.X, c.missing, c.v, **kw)[0]


def _missing_cov(c, **kw):
    return _missing_ref(c.X, c.missing, c.v, **kw)[1]


def _n_obs(c):
    return int((~c.missing).sum())


def _by_observed_count(c):
    """μ₂ and the x₂ entries of Σ divided by the number of rows in which x₂ was observed."""
    mean, cov = _missing_ref(c.X, c.missing, c.v)
    N, n = len(c.X), _n_obs(c)
    mean = mean.copy()
    mean[1] = c.X[:, 1].sum() / n
    d = c.X - mean
    S = d.T @ d + np.diag([0.0, c.missing.sum() * c.v])
    cov = S / N
    cov[1, :] = S[1, :] / n
    cov[:, 1] = S[:, 1] / n
    return mean, cov


def _complete_cases(c):
    keep = ~c.missing
    return _missing_ref(c.X[keep], c.missing[keep], c.v)


def _missing_explain(case, name, got, exp):
    rows = ", ".join(map(str, np.flatnonzero(case.missing)))
    where = f"(x₂ missing in rows {rows}; Var[x₂ | x₁] = {case.v:.4g})"
    if name == "mean":
        return f"mean should be {_fmt(exp)}; you gave {_fmt(got)} {where}"
    return f"cov should be\n{_fmt(exp)}\nyou gave\n{_fmt(got)}\n{where}"


def _fmt(a) -> str:
    return np.array2string(np.asarray(a, dtype=float), precision=4, suppress_small=True)


MISSING_M_STEP = FunctionExercise(
    title="the missing-data M-step",
    signature="m_step_completed(X_filled, missing, cond_var) -> (mean, cov)",
    fields=(
        Field("mean", shape=lambda c: (2,), rtol=1e-9, centre=lambda c: c.X.mean(0), axes=("feature",)),
        Field(
            "cov",
            shape=lambda c: (2, 2),
            rtol=1e-9,
            atol=1e-10,
            axes=("feature", "feature"),
            causes=lambda c: [
                ((c.dims["N"], c.dims["N"]), "an N×N array: X @ X.T pairs the rows; the covariance is D×D, X.T @ X."),
                ((), "one number: return the whole 2×2 covariance matrix."),
                ((2,), "two numbers: return the whole 2×2 covariance matrix, not only the variances."),
            ],
        ),
    ),
    cases=_missing_cases,
    expected=lambda c: {"mean": _missing_mean(c), "cov": _missing_cov(c)},
    mistakes=(
        Mistake(
            "forgot the conditional variance",
            "E[x₂² | x₁] = E[x₂ | x₁]² + Var[x₂ | x₁]: each row with x₂ missing adds cond_var to the sum of "
            "squares. Without it, Σ₂₂ treats the filled-in values as if they had been measured, and comes out "
            "too small.",
            lambda c: _missing_cov(c, extra=np.zeros((2, 2))),
            "cov",
        ),
        Mistake(
            "divided by the number of observed values",
            "after the E-step every one of the N rows has an x₂ (measured, or its expectation): divide by N, "
            "not by the number of rows in which x₂ was observed.",
            lambda c: _by_observed_count(c)[0],
            "mean",
        ),
        Mistake(
            "divided by the number of observed values",
            "after the E-step every one of the N rows has an x₂ (measured, or its expectation): divide by N, "
            "not by the number of rows in which x₂ was observed.",
            lambda c: _by_observed_count(c)[1],
            "cov",
        ),
        Mistake(
            "complete cases only",
            "you used only the rows where x₂ was observed: that is complete-case analysis, which the notebook "
            "showed is biased here. Use every row, with x₂ filled in by the E-step.",
            lambda c: _complete_cases(c)[0],
            "mean",
        ),
        Mistake(
            "complete cases only",
            "you used only the rows where x₂ was observed: that is complete-case analysis, which the notebook "
            "showed is biased here. Use every row, with x₂ filled in by the E-step.",
            lambda c: _complete_cases(c)[1],
            "cov",
        ),
        Mistake(
            "conditional variance added to every row",
            "only the rows whose x₂ was filled in carry the extra Var[x₂ | x₁]; a measured x₂ is known exactly.",
            lambda c: _missing_cov(c, extra=np.diag([0.0, len(c.X) * c.v])),
            "cov",
        ),
        Mistake(
            "conditional variance added once",
            "each row with x₂ missing adds its own Var[x₂ | x₁]: with m such rows the sum of squares gains "
            "m · cond_var, not cond_var once.",
            lambda c: _missing_cov(c, extra=np.diag([0.0, c.v])),
            "cov",
        ),
        Mistake(
            "conditional variance in the covariance too",
            "Σ₁₂ needs no correction: x₁ is observed, so E[x₁ x₂ | x₁] = x₁ E[x₂ | x₁]. Only Σ₂₂ gains the "
            "conditional variance.",
            lambda c: _missing_cov(c, extra=c.missing.sum() * c.v * np.array([[0.0, 1.0], [1.0, 1.0]])),
            "cov",
        ),
        Mistake(
            "N − 1 instead of N",
            "the M-step divides by N (np.cov divides by N − 1 unless bias=True): maximising Q gives 1/N.",
            lambda c: _missing_cov(c) * len(c.X) / (len(c.X) - 1),
            "cov",
        ),
        Mistake(
            "the conditional standard deviation",
            "add the conditional *variance* Var[x₂ | x₁] (cond_var as given), not its square root.",
            lambda c: _missing_cov(c, extra=np.diag([0.0, c.missing.sum() * np.sqrt(c.v)])),
            "cov",
        ),
        Mistake(
            "not centred",
            "those are second moments E[x xᵀ]: subtract the new mean, (x̂_i − μ)(x̂_i − μ)ᵀ, or subtract μ μᵀ.",
            lambda c: _missing_cov(c, centred=False),
            "cov",
        ),
    ),
    explain=_missing_explain,
    factors=lambda c, name: {"N / (N − 1)": len(c.X) / (len(c.X) - 1)},
    fallback=(
        "the M-step is the ordinary mean and covariance of the completed rows (divide by N), with one change: "
        "Σ₂₂ also needs E[x₂² | x₁] = E[x₂ | x₁]² + Var[x₂ | x₁] in the rows where x₂ was filled in."
    ),
    default_seed=31,
)


def missing_m_step(fn, seed: int | None = None):
    """Check ``fn(X_filled, missing, cond_var) -> (mean, cov)``: the M-step for a bivariate Normal with x₂ missing.

    ``X_filled`` is N×2 with x₂ replaced by E[x₂ | x₁] where ``missing`` (N booleans) is True, and
    ``cond_var`` is Var[x₂ | x₁] (the same for every such row).
    """
    return run(MISSING_M_STEP, fn, seed)


EXERCISES: list[Exercise] = [
    Exercise(
        id="02-one-r",
        notebook="02_soft_assignment",
        title="one responsibility by hand",
        answer="r_by_hand",
        kind="value",
        check=one_responsibility,
        signature="r_by_hand: a number (r_1 for the point, three decimals)",
        forbidden=("emkit.gmm.e_step", "emkit.gmm._e_step", "emkit.soft.gaussian_posterior"),
        place=-1,
    ),
    Exercise(
        id="03-coins",
        notebook="03_em_algorithm",
        title="the coins by hand: one M-step",
        answer="theta_A_by_hand",
        kind="value",
        check=coins_by_hand,
        signature="theta_A_by_hand: a number (coin A's new bias)",
        forbidden=("emkit.coins.m_step", "emkit.coins._m_step", "emkit.coins.fit"),
        place=-1,
    ),
    Exercise(
        id="03-missing-m-step",
        notebook="03_em_algorithm",
        title="the missing-data M-step",
        answer="m_step_completed",
        kind="function",
        check=missing_m_step,
        signature="m_step_completed(X_filled, missing, cond_var) -> (mean, cov)",
        forbidden=("emkit.missing.m_step", "emkit.missing.fit", "emkit.missing.complete_case"),
    ),
]
