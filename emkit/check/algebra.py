"""Checks of the symbolic answers of notebook 04 (Q and the updates for τ, μ₁, Σ₁).

An answer is a SymPy expression in the vocabulary of :mod:`emkit.symbolic`, or
the same typed as text (read by the whitelist parser :mod:`emkit.parse`, never
``eval`` or ``sympify``). It is decided **on numbers**: the answer and the
right update are evaluated on random data sets x, old parameters θᵗ and the
responsibilities T1 = P(z = 1 | x, θᵗ) that θᵗ gives (so an answer may use
``T1[i]`` or write the responsibility out in θᵗ, and any algebraic form
passes). A wrong answer is compared with a table of known slips evaluated
on the same numbers; when none matches, the message says how the values
differ (a constant factor, named when it is N, N₁/(N₁−1), ½, ...).

Every symbol the notebook defines may appear where it makes sense: the old
parameters ``tau_t``, ``mu1_t``, ... in any answer (a correct answer may be
written around them, e.g. μ₁ᵗ + Σ T1 (x − μ₁ᵗ) / Σ T1), the new mean ``mu1``
in the Σ₁ update, and the parameters θ in Q. Only the parameter being solved
for is refused in its own update (the answer would be circular).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .results import CheckResult, Part
from .running import AnswerFailed, NotAnswered

__all__ = ["mu_update", "q_function", "sigma_update", "tau_update"]


def _vocabulary():
    from .. import symbolic

    return symbolic, symbolic.V


def _fmt(a, precision: int = 4) -> str:
    return np.array2string(np.asarray(a, dtype=float), precision=precision, suppress_small=True)


# ---------------------------------------------------------------------------
# Reading the answer
# ---------------------------------------------------------------------------


def as_expression(answer):
    """A SymPy expression from the answer (an expression, or text parsed safely)."""
    import sympy as sp

    if answer is None:
        raise NotAnswered
    if isinstance(answer, str):
        from ..parse import AnswerSyntaxError, parse_answer

        try:
            return parse_answer(answer)
        except AnswerSyntaxError as exc:
            raise AnswerFailed(f"could not read your answer: {exc}", slip=getattr(exc, "slip", "")) from None
    if isinstance(answer, list | tuple) and not answer:
        raise AnswerFailed(
            f"you gave an empty {type(answer).__name__}: sp.solve found no solution. A parameter inside a Sum "
            "is hidden from solve (the derivative is still one Sum object): apply symbolic.split_sums to the "
            "derivative first, then solve.",
            slip="sp.solve found no solution (an empty list)",
        )
    if isinstance(answer, list | tuple) and len(answer) > 1:
        raise AnswerFailed(
            f"you gave a {type(answer).__name__} of {len(answer)} solutions; sp.solve returns every solution it "
            "finds: give the one expression that is the update, not the list",
            slip="a list of solutions instead of one",
        )
    if isinstance(answer, list | tuple):
        raise AnswerFailed(
            f"you gave a {type(answer).__name__}; sp.solve returns a list of solutions: take its element [0]",
            slip="a list of solutions instead of one",
        )
    if isinstance(answer, bool) or not isinstance(answer, int | float | sp.Basic):
        raise AnswerFailed(f"expected a SymPy expression (or its text); got a {type(answer).__name__}")
    if isinstance(answer, int | float):
        return sp.Float(answer)
    if isinstance(answer, sp.Equality):
        raise AnswerFailed(
            "you gave an equation (Eq); give the right-hand side only, the expression for the update",
            slip="an equation instead of an expression",
        )
    if not isinstance(answer, sp.Expr):
        raise AnswerFailed(f"expected a SymPy expression; got a {type(answer).__name__}")
    return answer


def normalise_symbols(expr):
    """Map symbols the learner made themselves onto the course's, by name.

    ``sp.Symbol("tau")`` without the course's assumptions, an own ``i`` or
    ``IndexedBase("x")``, or a sum over another index (``Sum(T1[j], (j, 1, N))``)
    mean the same thing as the vocabulary's; they are renamed so that they are
    compared as such.
    """
    import sympy as sp
    from sympy.concrete.summations import Sum

    symbolic, V = _vocabulary()
    names = {
        s: getattr(V, s)
        for s in ("N", "i", "tau", "mu1", "mu2", "Sigma1", "Sigma2", "tau_t", "mu1_t", "mu2_t", "Sigma1_t", "Sigma2_t")
    }
    bases = {"x": V.x, "T1": V.T1, "T2": V.T2, "Z1": V.Z1}
    mapping = {}
    for atom in expr.atoms(sp.Symbol):
        target = names.get(atom.name)
        if target is not None and atom != target:
            mapping[atom] = target
    for atom in expr.atoms(sp.IndexedBase):
        target = bases.get(str(atom.label))
        if target is not None and atom != target:
            mapping[atom] = target
    if mapping:
        expr = expr.xreplace(mapping)

    def rename(s):
        if len(s.limits) == 1:
            var, lo, hi = s.limits[0]
            if isinstance(var, sp.Symbol) and var != V.i and lo == 1 and hi == V.N:
                return Sum(s.function.xreplace({var: V.i}), (V.i, 1, V.N))
        return s

    return expr.replace(lambda e: isinstance(e, Sum), rename)


def check_vocabulary(expr, solving_for=None):
    """Refuse symbols outside the vocabulary and sums with the wrong limits, each with a clear message."""
    import sympy as sp
    from sympy.concrete.summations import Sum

    symbolic, V = _vocabulary()
    for s in expr.atoms(Sum):
        if s.limits != ((V.i, 1, V.N),):
            raise AnswerFailed(f"sums must run over i from 1 to N: Sum(..., (i, 1, N)); you wrote {s.limits}")
    for ind in expr.atoms(sp.Indexed):
        if ind.base == V.Z1:
            _refuse_hidden_indicator(expr, ind)
        if ind.base not in (V.x, V.T1, V.T2):
            raise AnswerFailed(f"{ind.base} is not in the vocabulary; the data are x[i], T1[i], T2[i]")
        if ind.indices != (V.i,):
            raise AnswerFailed(f"{ind} should be indexed by i, inside a Sum over i")
    allowed = {
        V.N, V.tau, V.mu1, V.mu2, V.Sigma1, V.Sigma2, V.tau_t, V.mu1_t, V.mu2_t, V.Sigma1_t, V.Sigma2_t,
    }  # fmt: skip
    labels = {base.label for base in (V.x, V.T1, V.T2, V.Z1)}
    stray = {s for s in expr.free_symbols - allowed - {V.i} - labels if not isinstance(s, sp.Indexed | sp.IndexedBase)}
    if stray:
        names = ", ".join(sorted(map(str, stray)))
        raise AnswerFailed(
            f"your answer uses {names}, which the notebook does not define; the vocabulary is N, tau, mu1, mu2, "
            "Sigma1, Sigma2, the old values tau_t, mu1_t, ..., and x[i], T1[i], T2[i] inside Sum(..., (i, 1, N))"
        )
    if solving_for is not None and solving_for in expr.free_symbols:
        raise AnswerFailed(
            f"your answer contains {solving_for}, the parameter being solved for: the update must give it "
            "in terms of the data and the responsibilities (did sp.solve get the right variable?)",
            slip="the answer contains the unknown",
        )
    outside = [ind for ind in expr.atoms(sp.Indexed) if not any(ind in s.atoms(sp.Indexed) for s in expr.atoms(Sum))]
    if outside:
        raise AnswerFailed(f"{outside[0]} appears outside a Sum over i: every x[i], T1[i], T2[i] must be summed")


#: What is said when an answer still holds Z1[i]: the complete-data log-likelihood handed in unchanged ...
COMPLETE_UNCHANGED = "the complete-data log-likelihood, not its expectation"
#: ... or some other expression with the hidden indicator left in it.
Z1_LEFT = "Z1 left in the answer"

_SUBS_NOTE = (
    " (In case you tried .subs on the whole Sum: it returns the Sum unchanged, because i is the Sum's own "
    "bound index. Work on the summand, complete.function, and wrap the result in total(...) again.)"
)


def _refuse_hidden_indicator(expr, ind):
    """An answer with Z1[i] in it: say whether it is the complete-data log-likelihood itself, without guessing how."""
    import sympy as sp
    from sympy.concrete.summations import Sum

    symbolic, V = _vocabulary()
    inside = any(ind in s.function.atoms(sp.Indexed) for s in expr.atoms(Sum))
    complete = symbolic.complete_log_likelihood()
    try:
        unchanged = expr == complete or sp.expand(expr - complete) == 0
    except Exception:  # noqa: BLE001 - SymPy could not tell: treat it as another expression
        unchanged = False
    if unchanged:
        raise AnswerFailed(
            "your answer is the complete-data log-likelihood log L(θ; x, Z) itself, unchanged: it still holds "
            "Z1[i], the indicator of point i's hidden label, which we never observe. Q(θ | θᵗ) is its "
            "*expectation* over the hidden labels under the old parameters θᵗ. Under θᵗ, Z1[i] is 1 with "
            "probability T1[i] and 0 with probability T2[i]: take that expectation of each term of the sum."
            + _SUBS_NOTE,
            slip=COMPLETE_UNCHANGED,
        )
    raise AnswerFailed(
        "your answer still contains Z1[i], the hidden indicator we never observe"
        + (
            ": an answer may use only what is known after the E-step. In the expectation, Z1[i] is replaced by "
            "its expected value under θᵗ, T1[i]." + (_SUBS_NOTE if inside else "")
        ),
        slip=Z1_LEFT,
    )


# ---------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------


def _normal_pdf(x, mu, var):
    return np.exp(-((x - mu) ** 2) / (2 * var)) / np.sqrt(2 * np.pi * var)


def numeric_cases(rng, n_cases: int = 4) -> list[dict]:
    """Data, old and new parameters, and the responsibilities the old parameters give."""
    cases = []
    while len(cases) < n_cases:
        n = int(rng.integers(5, 10))
        x = np.round(rng.normal(size=n) * 1.5, 3)
        theta_t = {  # rounded, so that a counterexample's printed values reproduce it exactly
            "tau_t": round(float(rng.uniform(0.25, 0.75)), 3),
            "mu1_t": round(float(rng.normal() - 0.8), 3),
            "mu2_t": round(float(rng.normal() + 0.8), 3),
            "Sigma1_t": round(float(rng.uniform(1.0, 3.0)), 3),
            "Sigma2_t": round(float(rng.uniform(1.0, 3.0)), 3),
        }
        p1 = theta_t["tau_t"] * _normal_pdf(x, theta_t["mu1_t"], theta_t["Sigma1_t"])
        p2 = (1 - theta_t["tau_t"]) * _normal_pdf(x, theta_t["mu2_t"], theta_t["Sigma2_t"])
        T1 = p1 / (p1 + p2)  # exactly what θᵗ gives, so T1[i] and its formula in θᵗ agree
        if T1.min() < 0.03 or T1.max() > 0.97:
            continue  # keep every share away from 0 and 1, where slips are hard to tell apart
        thetas = []
        for _ in range(2):
            thetas.append(
                {
                    "tau": round(float(rng.uniform(0.2, 0.8)), 3),
                    "mu1": round(float(rng.normal()), 3),
                    "mu2": round(float(rng.normal()), 3),
                    "Sigma1": round(float(rng.uniform(0.5, 2)), 3),
                    "Sigma2": round(float(rng.uniform(0.5, 2)), 3),
                }
            )
        cases.append({"x": x, "T1": T1, "theta_t": theta_t, "thetas": thetas})
    return cases


def value(expr, case, theta) -> float:
    """The value of ``expr`` on one case, with the new parameters ``theta``."""
    symbolic, V = _vocabulary()
    used = {str(s) for s in expr.free_symbols}
    params = {k: v for k, v in {**case["theta_t"], **theta}.items() if k in used}
    with np.errstate(all="ignore"):
        return symbolic.evaluate(expr, case["x"], case["T1"], **params)


def _factors(case) -> dict:
    N = len(case["x"])
    N1 = float(np.sum(case["T1"]))
    return {
        "N": N,
        "1/N": 1 / N,
        "N₁ / (N₁ − 1)": N1 / (N1 - 1),
        "(N₁ − 1) / N₁": (N1 - 1) / N1,
        "N / N₁": N / N1,
        "N₁ / N": N1 / N,
        "2": 2.0,
        "½": 0.5,
        "−1": -1.0,
    }


@dataclass(frozen=True)
class ExpressionExercise:
    title: str
    reference: Callable  # () -> the right expression (with mu1 standing for the new mean where relevant)
    mistakes: Callable  # () -> [(slip, expression, message)]
    prepare: Callable = lambda e: e  # applied to answer, reference and mistakes before evaluating
    solving_for: str | None = None  # attribute of V that must not appear in the answer
    differences: bool = False  # compare Q(θa) − Q(θb) instead of values
    fallback: str = ""
    default_seed: int = 0


def _values(ex: ExpressionExercise, expr, cases) -> np.ndarray:
    expr = ex.prepare(expr)
    out = []
    for case in cases:
        a = value(expr, case, case["thetas"][0])
        if ex.differences:
            a -= value(expr, case, case["thetas"][1])
        out.append(a)
    return np.array(out)


def _describe(got, exp, cases, differences: bool = False) -> str:
    if np.allclose(got, 0.0, atol=1e-12) and not np.allclose(exp, 0.0, atol=1e-12):
        if differences:
            return (
                "your Q has the same value for every θ: it does not depend on τ, μ1, μ2, Σ1 or Σ2 at all, so "
                "the M-step could not use it. Q must be a function of the new parameters θ."
            )
        return "your expression is 0 on every data set."
    with np.errstate(all="ignore"):
        ratio = got / exp
        diff = got - exp
    if np.all(np.isfinite(ratio)) and np.allclose(ratio, ratio[0], rtol=1e-6):
        c = float(ratio[0])
        if np.isclose(c, -1.0):
            return "your values are the right ones with the sign flipped."
        return f"on every data set your value is {c:.6g} times the right one."
    per_case = [_factors(c) for c in cases]
    for name in per_case[0]:
        if np.all(np.isfinite(ratio)) and np.allclose(ratio, [f[name] for f in per_case], rtol=1e-6):
            return f"your value is the right one times {name} (on every data set)."
    if np.allclose(diff, diff[0], rtol=1e-6, atol=1e-9):
        return f"your value is off by the same {diff[0]:.6g} on every data set."
    return ""


def run_expression(ex: ExpressionExercise, answer, seed: int | None = None) -> CheckResult:
    """Decide an expression answer on numbers; name the slip when a table entry matches."""
    symbolic, V = _vocabulary()
    name = "your expression"
    try:
        expr = normalise_symbols(as_expression(answer))
        check_vocabulary(expr, getattr(V, ex.solving_for) if ex.solving_for else None)
    except NotAnswered:
        return CheckResult(ex.title, [Part(name, False, "not answered yet", answered=False)])
    except AnswerFailed as exc:
        return CheckResult(ex.title, [Part(name, False, str(exc), slip=exc.slip)])
    rng = np.random.default_rng(ex.default_seed if seed is None else seed)
    cases = numeric_cases(rng)
    expected = _values(ex, ex.reference(), cases)
    try:
        got = _values(ex, expr, cases)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        return CheckResult(ex.title, [Part(name, False, f"your expression could not be evaluated on data: {exc}")])
    ok = np.isfinite(got) & np.isclose(got, expected, rtol=1e-9, atol=1e-10)
    if ok.all():
        return CheckResult(ex.title, [Part(name, True, f"equal to the right update on {len(cases)} random data sets")])
    j = int(np.flatnonzero(~ok)[0])
    case = cases[j]
    slip, hint = "", ""
    for mistake_slip, mistake_expr, message in _mistakes(ex):
        try:
            wrong = _values(ex, mistake_expr, cases)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            continue
        if np.all(np.isfinite(wrong) == np.isfinite(got)) and np.allclose(
            np.nan_to_num(got), np.nan_to_num(wrong), rtol=1e-8, atol=1e-10
        ):
            slip, hint = mistake_slip, message
            break
    if not hint:
        hint = _describe(got, expected, cases, ex.differences) or ex.fallback
    used = {str(s) for s in ex.prepare(expr).free_symbols}
    data = (
        f"a counterexample: with\nx = {_fmt(case['x'])}\nT1 = {_fmt(case['T1'], 6)}  (the responsibilities θᵗ gives)\n"
    )
    if ex.differences:
        message = data + _difference_counterexample(ex, expr, case, expected[j], got[j])
    else:
        theta = {k: v for k, v in {**case["theta_t"], **case["thetas"][0]}.items() if k in used}
        message = (
            data
            + (f"{_show_theta(theta)}\n" if theta else "")
            + (f"the update should be {expected[j]:.6g}; your expression gives {got[j]:.6g}")
        )
    return CheckResult(ex.title, [Part(name, False, message, hint, slip=slip)])


def _show_theta(theta: dict) -> str:
    return ", ".join(f"{k} = {v:g}" for k, v in theta.items())


#: The parts of θ in the two-Gaussian Q: Q = Q_τ(τ) + Q_1(μ1, Σ1) + Q_2(μ2, Σ2).
PARTS = (("τ", ("tau",)), ("component 1 (μ1, Σ1)", ("mu1", "Sigma1")), ("component 2 (μ2, Σ2)", ("mu2", "Sigma2")))


def _difference_counterexample(ex, expr, case, expected, got) -> str:
    """Both parameter values, the difference, and which part of Q differs (θ changed one part at a time)."""
    a, b = case["thetas"]
    lines = [
        f"θa: {_show_theta(a)}",
        f"θb: {_show_theta(b)}",
        f"Q(θa | θᵗ) − Q(θb | θᵗ) should be {expected:.6g}; yours gives {got:.6g} "
        "(only differences are compared, so constants you dropped do not matter).",
    ]
    steps, here = [], dict(b)
    for label, names in PARTS:
        there = {**here, **{n: a[n] for n in names}}
        sub = {"thetas": [there, here]}
        right = _values(ex, ex.reference(), [{**case, **sub}])[0]
        try:
            yours = _values(ex, expr, [{**case, **sub}])[0]
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            yours = float("nan")
        if not np.isclose(right, yours, rtol=1e-8, atol=1e-9):
            change = ", ".join(f"{n} {here[n]:g} → {a[n]:g}" for n in names)
            steps.append(f"  {label}: {change}: Q should change by {right:.6g}; yours by {yours:.6g}")
        here = there
    if steps:
        lines.append("Going from θb to θa one part at a time, the part(s) of Q that differ:")
        lines += steps
    return "\n".join(lines)


_TABLES: dict = {}


def _mistakes(ex):
    """The exercise's table of mistakes, built once (SymPy expressions take a moment to construct)."""
    if ex.title not in _TABLES:
        _TABLES[ex.title] = tuple(ex.mistakes())
    return _TABLES[ex.title]


# ---------------------------------------------------------------------------
# The four exercises
# ---------------------------------------------------------------------------


def _tau_mistakes():
    symbolic, V = _vocabulary()
    S, i, T1, T2, x, N = symbolic.total, V.i, V.T1, V.T2, V.x, V.N
    return [
        ("1 − τ instead of τ", S(T2[i]) / N, "that is 1 − τ: the average responsibility of component 2, not 1."),
        ("not divided by N", S(T1[i]), "that is Σ_i T1[i], the expected count N₁; divide by N."),
        (
            "odds instead of a probability",
            S(T1[i]) / S(T2[i]),
            "that is N₁/N₂, the odds of component 1; τ is a probability: divide by N = Σ_i (T1[i] + T2[i]).",
        ),
        ("μ₁'s update", S(T1[i] * x[i]) / S(T1[i]), "that is μ₁'s update; τ is a probability: the mean of T1[i]."),
        ("divided by N − 1", S(T1[i]) / (N - 1), "divide by N, not N − 1: τ is the plain average of the T1[i]."),
        ("upside down", N / S(T1[i]), "that is 1/τ: the update is Σ_i T1[i] / N."),
        ("squared responsibilities", S(T1[i] ** 2) / N, "the average of T1[i], not of T1[i]²."),
        (
            "the other component's T2",
            S(T2[i]) / S(T1[i]),
            "that is N₂/N₁; τ is the share of component 1: Σ_i T1[i] / N.",
        ),
    ]


def _mu_mistakes(component=1):
    symbolic, V = _vocabulary()
    S, i, x, N = symbolic.total, V.i, V.x, V.N
    T, other = (V.T1, V.T2) if component == 1 else (V.T2, V.T1)
    mu_t = V.mu1_t if component == 1 else V.mu2_t
    k = component
    sub = "₁" if k == 1 else "₂"
    return [
        ("divided by N", S(T[i] * x[i]) / N, f"you divided by N; divide by N{sub} = Σ_i T{k}[i]."),
        ("unweighted mean", S(x[i]) / N, "that is the plain mean: weight each point by its responsibility."),
        (
            "the weighted sum, not the mean",
            S(T[i] * x[i]),
            f"that is the weighted sum; divide it by N{sub} = Σ_i T{k}[i].",
        ),
        (
            "the other component's T2" if k == 1 else "the other component's T1",
            S(other[i] * x[i]) / S(other[i]),
            f"those are the other component's responsibilities; μ{k} uses T{k}[i].",
        ),
        (
            f"N{sub} − 1 instead of N{sub}",
            S(T[i] * x[i]) / (S(T[i]) - 1),
            f"a mean divides by N{sub} = Σ_i T{k}[i]; N{sub} − 1 belongs to unbiased variance estimates.",
        ),
        (
            "squared responsibilities",
            S(T[i] ** 2 * x[i]) / S(T[i] ** 2),
            f"the weights are T{k}[i], not T{k}[i]².",
        ),
        (
            "the mean shift without the old mean",
            S(T[i] * (x[i] - mu_t)) / S(T[i]),
            f"that is how far the mean moves, μ{k}ᵗ⁺¹ − μ{k}ᵗ; add μ{k}ᵗ (mu{k}_t) to get the new mean.",
        ),
        (
            "divided by the other component's count",
            S(T[i] * x[i]) / S(other[i]),
            f"divide by N{sub} = Σ_i T{k}[i], this component's effective count.",
        ),
    ]


def _sigma_mistakes(component=1):
    symbolic, V = _vocabulary()
    S, i, x, N = symbolic.total, V.i, V.x, V.N
    T, other = (V.T1, V.T2) if component == 1 else (V.T2, V.T1)
    mu, mu_t = (V.mu1, V.mu1_t) if component == 1 else (V.mu2, V.mu2_t)
    k = component
    sub = "₁" if k == 1 else "₂"
    ref = S(T[i] * (x[i] - mu) ** 2) / S(T[i])
    import sympy as sp

    return [
        (
            "variance without the responsibilities",
            S((x[i] - mu) ** 2) / N,
            "the responsibilities are missing: weight each squared deviation by T[i] and divide by Σ_i T[i].",
        ),
        ("divided by N", S(T[i] * (x[i] - mu) ** 2) / N, f"you divided by N; divide by N{sub} = Σ_i T{k}[i]."),
        (
            "centred on the old mean",
            S(T[i] * (x[i] - mu_t) ** 2) / S(T[i]),
            f"you centred on the previous iteration's mean mu{k}_t; use the new μ{k} (mu{k}).",
        ),
        (
            "not centred",
            S(T[i] * x[i] ** 2) / S(T[i]),
            f"that is the weighted second moment: subtract the mean (x[i] − mu{k}), or subtract mu{k}² from it.",
        ),
        (
            "the weighted sum, not the mean",
            S(T[i] * (x[i] - mu) ** 2),
            "divide the weighted sum of squares by Σ_i T[i].",
        ),
        (
            f"N{sub} − 1 instead of N{sub}",
            S(T[i] * (x[i] - mu) ** 2) / (S(T[i]) - 1),
            f"you divided by N{sub} − 1 (the 'unbiased' correction); maximising Q gives N{sub} = Σ_i T{k}[i].",
        ),
        (
            "deviations not squared",
            S(T[i] * (x[i] - mu)) / S(T[i]),
            "the variance averages *squared* deviations: (x[i] − mu)**2.",
        ),
        (
            "standard deviation for variance",
            sp.sqrt(ref),
            f"that is the standard deviation; Σ{k} in one dimension is the variance (no square root).",
        ),
        (
            "squared responsibilities",
            S(T[i] ** 2 * (x[i] - mu) ** 2) / S(T[i]),
            f"the weights are T{k}[i], not T{k}[i]².",
        ),
        (
            "the other component's T2" if k == 1 else "the other component's T1",
            S(other[i] * (x[i] - mu) ** 2) / S(other[i]),
            f"those are the other component's responsibilities; Σ{k} uses T{k}[i].",
        ),
        (
            "centred on the overall mean",
            S(T[i] * (x[i] - S(x[i]) / N) ** 2) / S(T[i]),
            f"you centred on the mean of all the data; centre on component {k}'s new mean mu{k}.",
        ),
        (
            "a missing ½ on log Σ",
            ref / 2,
            "half the right value: in −½ log(2πΣ) the ½ went missing, so the derivative's first term doubled.",
        ),
        (
            "a missing ½ on the quadratic term",
            2 * ref,
            "twice the right value: the quadratic term is (x − μ)²/(2Σ); its ½ went missing.",
        ),
        (
            "precision (1/Σ) instead of Σ",
            S(T[i]) / S(T[i] * (x[i] - mu) ** 2),
            f"that is 1/Σ{k}, the precision; solve for the variance itself.",
        ),
        (
            "the variance of all the data",
            S((x[i] - S(x[i]) / N) ** 2) / N,
            "that is the variance of all the data: weight by T[i] and centre on the component's mean.",
        ),
    ]


def _q_mistakes():
    import sympy as sp

    symbolic, V = _vocabulary()
    S, i, x, T1, T2 = symbolic.total, V.i, V.x, V.T1, V.T2
    tau, mu1, mu2, S1, S2 = V.tau, V.mu1, V.mu2, V.Sigma1, V.Sigma2
    ref = symbolic.q_function()

    half = sp.Rational(1, 2)

    def logn(xi, mu, var, *, log_half=half, quad_half=half, inverse=True, sign=-1):
        quad = (xi - mu) ** 2 / var if inverse else (xi - mu) ** 2 * var
        return -log_half * sp.log(2 * sp.pi * var) + sign * quad_half * quad

    def q(w1=T1[i], w2=T2[i], prior1=None, prior2=None, **kw):
        prior1 = sp.log(tau) if prior1 is None else prior1
        prior2 = sp.log(1 - tau) if prior2 is None else prior2
        return S(w1 * (prior1 + logn(x[i], mu1, S1, **kw)) + w2 * (prior2 + logn(x[i], mu2, S2, **kw)))

    loglik = S(sp.log(tau * sp.exp(logn(x[i], mu1, S1)) + (1 - tau) * sp.exp(logn(x[i], mu2, S2))))
    return [
        ("sign flipped", -ref, "the sign is flipped: Q is an expected log-likelihood, to be maximised."),
        (
            "the log-likelihood instead of Q",
            loglik,
            "that is the observed-data log-likelihood; Q averages the complete-data one over the responsibilities.",
        ),
        (
            "log τ terms missing",
            q(prior1=0, prior2=0),
            "your Q does not change when only τ changes (see the counterexample), so the M-step could not "
            "estimate τ. In the complete data each point comes with its label, drawn with probability τ for "
            "the first component and 1 − τ for the second: the complete-data log-likelihood has Z1[i] log τ + "
            "(1 − Z1[i]) log(1 − τ) in every term, and Q keeps their expectation.",
        ),
        (
            "τ without its log",
            q(prior1=tau, prior2=1 - tau),
            "τ entered without its log: the prior terms are T1[i] log τ + T2[i] log(1 − τ).",
        ),
        (
            "log τ not weighted by T",
            S(sp.log(tau) + sp.log(1 - tau)) + q(prior1=0, prior2=0),
            "log τ and log(1 − τ) must be weighted by T1[i] and T2[i], like the densities.",
        ),
        ("a mean instead of a sum", ref / V.N, "Q is a sum over the points, not a mean: do not divide by N."),
        (
            "a missing ½ on log(2πΣ)",
            q(log_half=1),
            "log N(x | μ, Σ) = −½ log(2πΣ) − (x − μ)²/(2Σ): the ½ in front of the log is missing.",
        ),
        (
            "a missing ½ on the quadratic term",
            q(quad_half=1),
            "log N(x | μ, Σ) = −½ log(2πΣ) − (x − μ)²/(2Σ): the ½ on the quadratic term is missing.",
        ),
        (
            "Σ in place of Σ⁻¹",
            q(inverse=False),
            "the quadratic term divides by the variance: (x − μ)²/(2Σ), not (x − μ)² Σ / 2.",
        ),
        (
            "sign error on the quadratic term",
            q(sign=+1),
            "the quadratic term enters with a minus sign: −(x − μ)²/(2Σ).",
        ),
        (
            "responsibilities swapped",
            q(w1=T2[i], w2=T1[i]),
            "component 1's terms are weighted by T1[i] (and component 2's by T2[i]); yours are swapped.",
        ),
        (
            "T1 used for both components",
            q(w2=T1[i]),
            "component 2's terms are weighted by T2[i] = 1 − T1[i].",
        ),
        (
            "the density, not its log",
            S(
                T1[i] * (sp.log(tau) + sp.exp(logn(x[i], mu1, S1)))
                + T2[i] * (sp.log(1 - tau) + sp.exp(logn(x[i], mu2, S2)))
            ),
            "use the log-density log N(x | μ, Σ), not the density itself.",
        ),
    ]


def tau_update(answer, seed: int | None = None) -> CheckResult:
    """Check τᵗ⁺¹ as a SymPy expression (or its text) in the vocabulary of :mod:`emkit.symbolic`."""
    symbolic, V = _vocabulary()
    ex = ExpressionExercise(
        "τ update",
        reference=lambda: symbolic.total(V.T1[V.i]) / V.N,
        mistakes=_tau_mistakes,
        solving_for="tau",
        fallback="set ∂Q/∂τ = 0: Σ_i T1[i]/τ − Σ_i T2[i]/(1 − τ) = 0, and use Σ_i T2[i] = N − Σ_i T1[i].",
        default_seed=11,
    )
    return run_expression(ex, answer, seed)


def mu_update(answer, component: int = 1, seed: int | None = None) -> CheckResult:
    """Check μ_kᵗ⁺¹ (k = ``component``) as a SymPy expression (or its text)."""
    symbolic, V = _vocabulary()
    T = V.T1 if component == 1 else V.T2
    ex = ExpressionExercise(
        f"μ{component} update",
        reference=lambda: symbolic.total(T[V.i] * V.x[V.i]) / symbolic.total(T[V.i]),
        mistakes=lambda: _mu_mistakes(component),
        solving_for=f"mu{component}",
        fallback=f"set ∂Q/∂μ{component} = Σ_i T{component}[i] (x[i] − μ{component}) / Σ{component} = 0 and solve.",
        default_seed=12,
    )
    return run_expression(ex, answer, seed)


def sigma_update(answer, component: int = 1, seed: int | None = None) -> CheckResult:
    """Check Σ_kᵗ⁺¹ (one dimension: a variance) as a SymPy expression (or its text).

    The symbol ``mu1`` (``mu2``) in the answer means the *new* mean of the same
    M-step; the check substitutes the weighted mean for it. ``mu1_t`` is the old mean.
    """
    symbolic, V = _vocabulary()
    T = V.T1 if component == 1 else V.T2
    mu = V.mu1 if component == 1 else V.mu2
    new_mean = symbolic.total(T[V.i] * V.x[V.i]) / symbolic.total(T[V.i])
    ex = ExpressionExercise(
        f"Σ{component} update",
        reference=lambda: symbolic.total(T[V.i] * (V.x[V.i] - mu) ** 2) / symbolic.total(T[V.i]),
        mistakes=lambda: _sigma_mistakes(component),
        prepare=lambda e: e.xreplace({mu: new_mean}),
        solving_for=f"Sigma{component}",
        fallback=(
            f"∂/∂Σ{component} of T[i](−½ log(2πΣ) − (x[i] − μ)²/(2Σ)) is T[i](−1/(2Σ) + (x[i] − μ)²/(2Σ²)); "
            "sum, set to 0, solve."
        ),
        default_seed=13,
    )
    return run_expression(ex, answer, seed)


def q_function(answer, seed: int | None = None) -> CheckResult:
    """Check Q(θ | θᵗ) as a SymPy expression (or its text): a function of tau, mu1, mu2, Sigma1, Sigma2.

    Terms that do not depend on θ (such as −½ log 2π per point) may be dropped:
    only differences Q(θa) − Q(θb) are compared.
    """
    symbolic, V = _vocabulary()
    ex = ExpressionExercise(
        "Q(θ | θᵗ) for the two-Gaussian mixture",
        reference=symbolic.q_function,
        mistakes=_q_mistakes,
        differences=True,
        fallback=(
            "start from the complete-data log-likelihood: in each term of its sum, Z1[i] switches component 1's "
            "part on and 1 − Z1[i] component 2's. Q is the expectation of that sum under θᵗ: what is the "
            "expectation of each term, given that Z1[i] is 1 with probability T1[i]?"
        ),
        default_seed=14,
    )
    return run_expression(ex, answer, seed)
