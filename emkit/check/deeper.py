"""Checks of notebook 06, EM deeper: standard errors, acceleration, exponential families, online EM
(see :mod:`.registry`). The MAP covariance update of the same notebook is in :mod:`.numeric`.

Each exercise here is an :class:`~emkit.check.registry.Exercise` in :data:`EXERCISES`; the registry
collects them with the others and numbers them in notebook order (Exercise 6.2, 6.3, ...).

* :func:`weight_information`: ``weight_information(f1_N, f2_N, pi) -> (I_c, I_m, I_o)``, Louis' identity
  for a mixture of two known densities with one unknown weight π: the complete-data information
  I_c = Σ_i [r_i/π² + (1 − r_i)/(1 − π)²], the missing information I_m = Σ_i r_i(1 − r_i)/(π(1 − π))²
  (the variance of the complete-data score over the hidden label) and I_o = I_c − I_m. Its slips: the
  missing information added, or not subtracted; π(1 − π) not squared; the score's slope left out; the
  squared observed score in place of its variance; N/(π(1 − π)) away from the maximum; r and 1 − r
  swapped; π left out of the responsibilities; a mean over the points instead of a sum.
* :func:`squarem_step`: ``squarem_step(f1_N, f2_N, pi0) -> pi_new``, one SQUAREM cycle (scheme S3,
  Varadhan & Roland 2008) for the same weight, with the stabilising EM step and the monotone
  safeguard. Its slips: no safeguard, a safeguard that ignores a π′ outside (0, 1), no stabilising
  step, α not clamped at −1, the extrapolation never kept (α positive, or the safeguard reversed),
  α = −1 every time, |v|/|r| for |r|/|v|, falling back to π₁ or π₀, v = π₂ − π₁, the sign of 2αr.
* :func:`poisson_m_step`: ``poisson_m_step(x_N, resp_NK) -> (weights_K, rates_K)``, the M-step of a
  Poisson mixture from its expected sufficient statistics N_k = Σ_i r_ik and T_k = Σ_i r_ik x_i:
  π_k = N_k / N, λ_k = T_k / N_k. Its slips: 1/λ for λ, T_k/N, log λ (the natural parameter), the
  unweighted mean, hard assignments, Σ r x² / N_k, counts for weights, uniform weights, the two
  outputs swapped.
* :func:`online_em_step`: ``online_em_step(stats, x_t, theta, t, alpha) -> (s0_K, s1_K, s2_K)``, one
  step of online EM (Cappé & Moulines 2009) for a 1-D Gaussian mixture: ŝ_t = ŝ_{t−1} + γ_t (s̄(x_t) − ŝ_{t−1})
  with γ_t = t^(−α) and s̄(x) = (r_k, r_k x, r_k x²). Its slips: γ = t^α, α ignored (γ = 1/t), a
  step-size exponent outside (0.5, 1], γ_{t+1} for γ_t, no forgetting, γ on the old statistics, the
  statistics replaced, responsibilities left out, x for x², σ for σ², π left out, exp without
  log-sum-exp (underflow).

The expected values are computed here from the formulas; the tests check them against
:mod:`emkit.accelerate`, :mod:`emkit.expfamily`, :mod:`emkit.online` and finite differences.
"""

from __future__ import annotations

import numpy as np

from .engine import Case, Field, FunctionExercise, Mistake, run
from .registry import Exercise

__all__ = ["EXERCISES", "online_em_step", "poisson_m_step", "squarem_step", "weight_information"]

_SQRT_2PI = np.sqrt(2.0 * np.pi)


def _fmt(a) -> str:
    return np.array2string(np.asarray(a, dtype=float), precision=4, suppress_small=True)


# ---------------------------------------------------------------------------
# The weight-only mixture: two known Normals N(±δ, 1), one unknown weight π
# ---------------------------------------------------------------------------


def weight_only_densities(x, delta: float):
    """f1_i = N(x_i | δ, 1) and f2_i = N(x_i | −δ, 1): the two known component densities at the points."""
    x = np.asarray(x, dtype=float)
    return np.exp(-0.5 * (x - delta) ** 2) / _SQRT_2PI, np.exp(-0.5 * (x + delta) ** 2) / _SQRT_2PI


def weight_only_sample(rng, delta: float, n: int, share: float = 0.3):
    """n points, a share of them from N(δ, 1) and the rest from N(−δ, 1): (f1, f2) at those points."""
    x = np.where(rng.random(n) < share, delta, -delta) + rng.normal(size=n)
    return weight_only_densities(x, delta)


def _responsibility(pi, f1, f2):
    return pi * f1 / (pi * f1 + (1.0 - pi) * f2)


def weight_only_mle(f1, f2, pi0: float = 0.5) -> float:
    """π̂ by plain EM (π ← mean of r), run to its fixed point (a step below 1e-15)."""
    pi = pi0
    for _ in range(100_000):
        new = float(np.mean(_responsibility(pi, f1, f2)))
        if abs(new - pi) < 1e-15:
            return new
        pi = new
    return pi


# ---------------------------------------------------------------------------
# Louis' identity for the weight (Exercise 6.2)
# ---------------------------------------------------------------------------


def _louis(f1, f2, pi, r=None):
    """(I_c, I_m, I_o) at π: Σ E[−∂² log p(x_i, z_i)], Σ Var[score | x_i], and their difference."""
    r = _responsibility(pi, f1, f2) if r is None else r
    I_c = float(np.sum(r / pi**2 + (1.0 - r) / (1.0 - pi) ** 2))
    I_m = float(np.sum(r * (1.0 - r)) / (pi * (1.0 - pi)) ** 2)
    return I_c, I_m, I_c - I_m


def _louis_case(name, f1, f2, pi):
    return Case(name=name, args=(f1, f2, pi), f1=f1, f2=f2, pi=float(pi), N=len(f1), dims={"N": len(f1)})


#: The five points of the case a learner can redo by hand.
HAND_X = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])


def _louis_cases(rng):
    f1, f2 = weight_only_densities(HAND_X, 1.0)
    cases = [_louis_case("five points you can check by hand: x = (−1, 0, 0.5, 1, 2), δ = 1, π = 0.4", f1, f2, 0.4)]
    f1, f2 = weight_only_sample(rng, 0.5, 2000)
    cases.append(
        _louis_case("δ = 0.5, 2000 points, at the maximum π̂ (EM's fixed point)", f1, f2, weight_only_mle(f1, f2))
    )
    f1, f2 = weight_only_sample(rng, 1.5, 500)
    cases.append(_louis_case("δ = 1.5, 500 points, at π = 0.5 (not the maximum)", f1, f2, 0.5))
    f1, f2 = weight_only_sample(rng, 3.0, 300)
    cases.append(_louis_case("δ = 3 (well separated), 300 points, at π = 0.2", f1, f2, 0.2))
    return cases


def _louis_variant(slip, message, variant, fields=("I_c", "I_m", "I_o")):
    """One Mistake per field that ``variant(case) -> (I_c, I_m, I_o)`` gets wrong (all named ``slip``)."""
    return tuple(
        Mistake(slip, message, (lambda c, j=j: variant(c)[j]), field=f)
        for j, f in enumerate(("I_c", "I_m", "I_o"))
        if f in fields
    )


def _with_r(c, r):
    return _louis(c.f1, c.f2, c.pi, r=r)


def _r(c):
    return _responsibility(c.pi, c.f1, c.f2)


def _louis_im(c, I_m):
    I_c = _louis(c.f1, c.f2, c.pi)[0]
    return I_c, I_m, I_c - I_m


def _louis_ic(c, I_c):
    I_m = _louis(c.f1, c.f2, c.pi)[1]
    return I_c, I_m, I_c - I_m


_LOUIS_MISTAKES = (
    *_louis_variant(
        "the missing information added (its sign)",
        "Louis' identity subtracts it: I_o = I_c − I_m. Not seeing the labels can only cost information, "
        "so I_o is smaller than I_c, never larger.",
        lambda c: (lambda a, b, _: (a, b, a + b))(*_louis(c.f1, c.f2, c.pi)),
        fields=("I_o",),
    ),
    *_louis_variant(
        "the missing information not subtracted",
        "your I_o equals I_c: that is the information as if every label were seen (standard errors too small). "
        "Subtract the missing information: I_o = I_c − I_m.",
        lambda c: (lambda a, b, _: (a, b, a))(*_louis(c.f1, c.f2, c.pi)),
        fields=("I_o",),
    ),
    *_louis_variant(
        "I_m − I_c (the sign of I_o)",
        "your I_o is I_m − I_c, negative: the observed information is I_c − I_m, a curvature of a maximum, > 0.",
        lambda c: (lambda a, b, _: (a, b, b - a))(*_louis(c.f1, c.f2, c.pi)),
        fields=("I_o",),
    ),
    *_louis_variant(
        "π(1 − π) not squared in I_m",
        "the score of one point is s(z) = z/π − (1 − z)/(1 − π) = (z − π)/(π(1 − π)), so its variance over the "
        "label is Var(z) / (π(1 − π))² = r(1 − r) / (π(1 − π))²: the factor is squared.",
        lambda c: _louis_im(c, float(np.sum(_r(c) * (1 - _r(c))) / (c.pi * (1 - c.pi)))),
        fields=("I_m", "I_o"),
    ),
    *_louis_variant(
        "π(1 − π) in place of r_i(1 − r_i) in I_m",
        "the variance of the hidden label z_i given x_i is r_i(1 − r_i), with each point's own responsibility "
        "r_i; π(1 − π) is its variance before x_i is seen. The missing information is what x_i leaves unknown, "
        "so it uses r_i.",
        lambda c: _louis_im(c, c.N / (c.pi * (1 - c.pi))),
        fields=("I_m", "I_o"),
    ),
    *_louis_variant(
        "the score's slope left out of I_m",
        "Σ r_i(1 − r_i) is the variance of the label z itself; I_m is the variance of the score "
        "s(z) = (z − π)/(π(1 − π)), so divide by (π(1 − π))².",
        lambda c: _louis_im(c, float(np.sum(_r(c) * (1 - _r(c))))),
        fields=("I_m", "I_o"),
    ),
    *_louis_variant(
        "the squared observed score, not its variance over the label",
        "Σ_i s̄_i² with s̄_i = r_i/π − (1 − r_i)/(1 − π) squares each point's *expected* score. I_m is the spread "
        "of the score around that expectation, over the unseen label: Σ_i [E(s_i² | x_i) − s̄_i²] = "
        "Σ_i r_i(1 − r_i)/(π(1 − π))².",
        lambda c: _louis_im(c, float(np.sum((_r(c) / c.pi - (1 - _r(c)) / (1 - c.pi)) ** 2))),
        fields=("I_m", "I_o"),
    ),
    *_louis_variant(
        "N/(π(1 − π)) away from the maximum",
        "N/(π(1 − π)) is I_c only at π̂, where Σ_i r_i = N π̂. At any other π, take the expectation over each "
        "label: I_c = Σ_i [r_i/π² + (1 − r_i)/(1 − π)²].",
        lambda c: _louis_ic(c, c.N / (c.pi * (1 - c.pi))),
        fields=("I_c", "I_o"),
    ),
    *_louis_variant(
        "r and 1 − r swapped",
        "r_i = π f1_i / (π f1_i + (1 − π) f2_i) is the probability of component 1, whose weight is π: it "
        "multiplies 1/π² in I_c, and 1 − r_i multiplies 1/(1 − π)².",
        lambda c: _with_r(c, 1.0 - _r(c)),
        fields=("I_c", "I_o"),
    ),
    *_louis_variant(
        "π left out of the responsibilities",
        "r_i = π f1_i / (π f1_i + (1 − π) f2_i): the weights belong in the responsibilities (Bayes' rule), "
        "not f1_i / (f1_i + f2_i).",
        lambda c: _with_r(c, c.f1 / (c.f1 + c.f2)),
    ),
    *_louis_variant(
        "a mean over the points, not a sum",
        "information adds up over independent points: sum over i (np.sum), do not average. (Per point, it "
        "would be the information of a single observation.)",
        lambda c: tuple(v / c.N for v in _louis(c.f1, c.f2, c.pi)),
    ),
)


def _louis_explain(case, name, got, exp):
    head = f"{name} should be {float(exp):.6g}; you gave {float(got):.6g}"
    if name == "I_o":
        I_c, I_m, _ = _louis(case.f1, case.f2, case.pi)
        return f"{head} (I_o = I_c − I_m = {I_c:.6g} − {I_m:.6g})."
    r = _r(case)
    where = (
        f"With π = {case.pi:g}: f1 = {_fmt(case.f1)}, f2 = {_fmt(case.f2)}, so r = {_fmt(r)}."
        if case.N <= 8
        else f"With π = {case.pi:.6g} and N = {case.N}: Σ r_i = {r.sum():.6g}, Σ r_i(1 − r_i) = "
        f"{np.sum(r * (1 - r)):.6g}."
    )
    return f"{head}.\n{where}"


def _louis_fallback(case, wrong) -> str:
    """Where to look, for each wrong quantity (never the three formulas at once)."""
    said = {
        "I_c": "I_c: differentiate one point's complete-data log-likelihood z log π + (1 − z) log(1 − π) twice, "
        "take the expectation of −∂²/∂π² over its hidden z (z = 1 with probability r_i), and sum over the points.",
        "I_m": "I_m: one point's complete-data score ∂/∂π [z log π + (1 − z) log(1 − π)] is a + b·z; its variance "
        "over the hidden z is b² Var(z | x_i). Sum those over the points.",
    }
    lines = [said[name] for name in wrong if name in said]
    if not lines:  # I_c and I_m are right
        return "I_o: your I_c and I_m are right; combine them as Louis' identity does (observed = complete − missing)."
    return "\n".join(lines)


LOUIS = FunctionExercise(
    title="Louis' identity for a mixture weight",
    signature="weight_information(f1_N, f2_N, pi) -> (I_c, I_m, I_o)",
    fields=(Field("I_c", rtol=1e-9, atol=1e-9), Field("I_m", rtol=1e-9, atol=1e-9), Field("I_o", rtol=1e-9, atol=1e-9)),
    cases=_louis_cases,
    expected=lambda c: dict(zip(("I_c", "I_m", "I_o"), _louis(c.f1, c.f2, c.pi), strict=True)),
    mistakes=_LOUIS_MISTAKES,
    explain=_louis_explain,
    factors=lambda c, name: {"1/N": 1.0 / c.N, "N": float(c.N), "π(1 − π)": c.pi * (1 - c.pi)},
    fallback=_louis_fallback,
    nonfinite_hint=lambda c, name: "NaN or inf: a division by zero? π is strictly between 0 and 1 in every case.",
    default_seed=62,
)


def weight_information(fn, seed: int | None = None):
    """Check ``fn(f1_N, f2_N, pi) -> (I_c, I_m, I_o)``: Louis' identity for the weight π of two known densities."""
    return run(LOUIS, fn, seed)


# ---------------------------------------------------------------------------
# One SQUAREM cycle for the weight (Exercise 6.3)
# ---------------------------------------------------------------------------


def _em_weight(pi, f1, f2) -> float:
    """The EM map M(π) = mean of r_i, by the formula as it stands (no check that π is a weight)."""
    with np.errstate(all="ignore"):
        return float(np.mean(pi * f1 / (pi * f1 + (1.0 - pi) * f2)))


def weight_log_likelihood(pi, f1, f2) -> float:
    """ℓ(π) = Σ_i log(π f1_i + (1 − π) f2_i), and −inf when π is not a weight (outside (0, 1))."""
    if not (np.isfinite(pi) and 0.0 < pi < 1.0):
        return -np.inf
    return float(np.sum(np.log(pi * f1 + (1.0 - pi) * f2)))


def _raw_log_likelihood(pi, f1, f2) -> float:
    """Σ_i log(π f1_i + (1 − π) f2_i) as the formula stands, for any π (NaN where a term is negative)."""
    with np.errstate(all="ignore"):
        return float(np.sum(np.log(pi * f1 + (1.0 - pi) * f2)))


def _squarem(c, *, alpha=None, v_step=False, plus=False, stabilise=True, guard="full", fall="p2"):
    """One S3 cycle with knobs that reproduce the usual slips (the defaults are the right cycle)."""
    f1, f2 = c.f1, c.f2
    p0 = c.pi0
    p1 = _em_weight(p0, f1, f2)
    p2 = _em_weight(p1, f1, f2)
    r = p1 - p0
    v = (p2 - p1) if v_step else (p2 - 2.0 * p1 + p0)
    a = min(-abs(r) / abs(v), -1.0) if alpha is None else alpha(r, v)
    with np.errstate(all="ignore"):
        prime = p0 + 2.0 * a * r + a * a * v if plus else p0 - 2.0 * a * r + a * a * v
    new = _em_weight(prime, f1, f2) if stabilise else prime
    ell0 = weight_log_likelihood(p0, f1, f2)
    valid = 0.0 < prime < 1.0
    keep = {
        "full": valid and weight_log_likelihood(new, f1, f2) >= ell0,
        "none": True,
        "ell only": _raw_log_likelihood(new, f1, f2) >= ell0,  # the formula as it stands: NaN (no keep) or a number
        "ell, NaN kept": not _raw_log_likelihood(new, f1, f2) < ell0,  # `if ℓ_new < ℓ_0: fall back`: NaN falls through
        "range only": valid,
        "vs p2": valid and weight_log_likelihood(new, f1, f2) >= weight_log_likelihood(p2, f1, f2),
    }[guard]
    return new if keep else {"p2": p2, "p1": p1, "p0": p0}[fall]


def _squarem_case(name, f1, f2, pi0):
    return Case(name=name, args=(f1, f2, pi0), f1=f1, f2=f2, pi0=float(pi0), dims={"N": len(f1)})


def _first(f1, f2, starts, wanted):
    """The first start π₀ whose cycle has the property ``wanted(case)`` (else the first start): on fresh data the
    same kind of case, whatever the seed."""
    for pi0 in starts:
        case = _squarem_case("", f1, f2, pi0)
        if wanted(case):
            return pi0
    return starts[0]


def _leaves(case) -> bool:
    p1 = _em_weight(case.pi0, case.f1, case.f2)
    p2 = _em_weight(p1, case.f1, case.f2)
    r, v = p1 - case.pi0, p2 - 2.0 * p1 + case.pi0
    a = min(-abs(r) / abs(v), -1.0)
    return not 0.0 < case.pi0 - 2.0 * a * r + a * a * v < 1.0


def _caught_by_range(case) -> bool:
    """π′ leaves (0, 1); without any safeguard M(π′) would be kept, with ℓ's alone the cycle still falls back."""
    right = _squarem(case)
    return _leaves(case) and _squarem(case, guard="ell only") == right and _squarem(case, guard="none") != right


def _lowers_ell(case) -> bool:
    """π′ stays inside (0, 1), but M(π′) has a lower ℓ than π₀: only the ℓ-comparison makes the cycle fall back."""
    return not _leaves(case) and _squarem(case, guard="range only") != _squarem(case)


def _between(case) -> bool:
    """π′ inside (0, 1) and ℓ(π₀) ≤ ℓ(M(π′)) < ℓ(π₂): the cycle returns M(π′), below π₂ but not below π₀."""
    return not _leaves(case) and _squarem(case, guard="vs p2") != _squarem(case)


def _speeds_up(case) -> bool:
    p1 = _em_weight(case.pi0, case.f1, case.f2)
    p2 = _em_weight(p1, case.f1, case.f2)
    return abs(p1 - case.pi0) < 0.9 * abs(p2 - 2.0 * p1 + case.pi0)


def _squarem_cases(rng):
    f1, f2 = weight_only_sample(rng, 0.5, 2000)
    cases = [
        _squarem_case(
            "δ = 0.5 (EM's rate about 0.8), 2000 points, from π₀ = 0.5: the extrapolation is kept", f1, f2, 0.5
        )
    ]
    pi0 = _first(f1, f2, (0.9, 0.92, 0.88, 0.94, 0.86, 0.1, 0.12, 0.91, 0.89, 0.93, 0.87), _caught_by_range)
    cases.append(_squarem_case(
        f"the same data from π₀ = {pi0:g}: the extrapolated π′ leaves (0, 1), so the cycle keeps π₂", f1, f2, pi0
    ))  # fmt: skip
    pi0 = _first(f1, f2, tuple(np.round(np.arange(0.05, 0.16, 0.0025), 4)), _lowers_ell)
    cases.append(_squarem_case(
        f"the same data from π₀ = {pi0:g}: π′ stays inside (0, 1) but overshoots, ℓ(M(π′)) < ℓ(π₀), so the cycle "
        "keeps π₂", f1, f2, pi0,
    ))  # fmt: skip
    f1, f2 = weight_only_sample(rng, 1.0, 2000)
    pi0 = _first(f1, f2, (0.999, 0.9995, 0.001, 0.0005), _speeds_up)
    cases.append(_squarem_case(
        f"δ = 1, 2000 points, from π₀ = {pi0:g}: the first EM steps speed up, |r|/|v| < 1, so α = −1", f1, f2, pi0
    ))  # fmt: skip
    starts = (*np.round(np.arange(0.87, 0.9, 0.0025), 4), *np.round(np.arange(0.85, 0.87, 0.0025), 4),
              *np.round(np.arange(0.02, 0.08, 0.0025), 4))  # fmt: skip
    pi0 = _first(f1, f2, starts, _between)
    cases.append(_squarem_case(
        f"the same data from π₀ = {pi0:g}: ℓ(M(π′)) is below ℓ(π₂) but not below ℓ(π₀), so the cycle returns "
        "M(π′)", f1, f2, pi0,
    ))  # fmt: skip
    f1, f2 = weight_only_sample(rng, 1.5, 2000)
    pi0 = _first(f1, f2, (0.99, 0.985, 0.995, 0.98, 0.993, 0.997, 0.975, 0.97),
                 lambda c: _squarem(c, guard="ell only") != _squarem(c))  # fmt: skip
    cases.append(_squarem_case(
        f"δ = 1.5, 2000 points, from π₀ = {pi0:g}: π′ is far outside (0, 1), yet the formula M(π′) returns a "
        "number inside it, with a higher ℓ", f1, f2, pi0,
    ))  # fmt: skip
    return cases


def _squarem_explain(case, name, got, exp):
    f1, f2 = case.f1, case.f2
    p1 = _em_weight(case.pi0, f1, f2)
    p2 = _em_weight(p1, f1, f2)
    r, v = p1 - case.pi0, p2 - 2 * p1 + case.pi0
    a = min(-abs(r) / abs(v), -1.0)
    prime = case.pi0 - 2 * a * r + a * a * v
    return (
        f"π_new should be {float(exp):.10g}; you gave {float(got):.10g}.\n"
        f"From π₀ = {case.pi0:g}: π₁ = {p1:.10g}, π₂ = {p2:.10g}, r = {r:.4g}, v = {v:.4g}, α = {a:.6g}, "
        f"π′ = {prime:.10g}"
        + (" (outside (0, 1))." if not 0 < prime < 1 else f", M(π′) = {_em_weight(prime, f1, f2):.10g}.")
    )


def _squarem_mistake(slip, message, **knobs):
    return Mistake(slip, message, lambda c: _squarem(c, **knobs))


SQUAREM = FunctionExercise(
    title="one SQUAREM cycle with its safeguard",
    signature="squarem_step(f1_N, f2_N, pi0) -> pi_new",
    fields=(Field("pi_new", rtol=1e-8, atol=1e-12),),
    cases=_squarem_cases,
    expected=lambda c: {"pi_new": _squarem(c)},
    mistakes=(
        _squarem_mistake(
            "no safeguard",
            "the cycle must fall back to π₂ (two plain EM steps, which never lower ℓ) when π′ is not a weight, "
            "0 < π′ < 1, or when ℓ(π_new) < ℓ(π₀). Without that check an extrapolation can leave the parameter "
            "space or lower the likelihood.",
            guard="none",
        ),
        _squarem_mistake(
            "the safeguard ignores a π′ outside (0, 1)",
            "π′ outside (0, 1) is not a weight, so M(π′) is meaningless even when the formula returns a number "
            "with a high ℓ: check 0 < π′ < 1 as well as ℓ(π_new) ≥ ℓ(π₀).",
            guard="ell only",
        ),
        _squarem_mistake(
            "the safeguard ignores a π′ outside (0, 1)",
            "π′ outside (0, 1) is not a weight, so M(π′) and ℓ(M(π′)) are meaningless (a comparison with NaN is "
            "False, so `if ℓ(π_new) < ℓ(π₀)` lets it through): check 0 < π′ < 1 as well as ℓ(π_new) ≥ ℓ(π₀).",
            guard="ell, NaN kept",
        ),
        _squarem_mistake(
            "the safeguard ignores ℓ (no fallback when ℓ(π_new) < ℓ(π₀))",
            "checking 0 < π′ < 1 is half of the safeguard: an extrapolation inside (0, 1) can still overshoot, "
            "so that ℓ(π_new) < ℓ(π₀). Fall back to π₂ then too: compare loglik(pi_new) with loglik(pi0).",
            guard="range only",
        ),
        _squarem_mistake(
            "ℓ(π_new) compared with ℓ(π₂), not ℓ(π₀)",
            "the safeguard only keeps the cycle monotone: it falls back when ℓ(π_new) < ℓ(π₀), the likelihood "
            "where the cycle *started*. Comparing with ℓ(π₂) also throws away extrapolations that did not lower ℓ.",
            guard="vs p2",
        ),
        _squarem_mistake(
            "no stabilising EM step",
            "after extrapolating, take one EM step from π′: π_new = M(π′). It pulls the extrapolation back "
            "towards the EM path; the safeguard then compares ℓ(π_new) with ℓ(π₀).",
            stabilise=False,
        ),
        _squarem_mistake(
            "α not clamped at −1",
            "α = −|r|/|v|, but never above −1: α = min(−|r|/|v|, −1). When the EM steps speed up (|r| < |v|), "
            "α = −1, and π′ is then exactly π₂.",
            alpha=lambda r, v: -abs(r) / abs(v),
        ),
        Mistake(
            "the extrapolation never kept (always π₂)",
            "your cycle always returned π₂, the two plain EM steps: the extrapolation was never kept. Either it "
            "always left (0, 1) (α must be negative, α = min(−|r|/|v|, −1)) or the safeguard is the wrong way round "
            "(keep π_new when ℓ(π_new) ≥ ℓ(π₀), fall back when it is lower).",
            lambda c: _em_weight(_em_weight(c.pi0, c.f1, c.f2), c.f1, c.f2),
        ),
        _squarem_mistake(
            "α = −1 every time (three plain EM steps)",
            "your cycle always returned M(π₂), three plain EM steps: α came out as −1 every time. α = −|r|/|v| "
            "with r the first step and v the change between the two steps; only when that is above −1 is it set "
            "to −1.",
            alpha=lambda r, v: -1.0,
        ),
        _squarem_mistake(
            "|v|/|r| for |r|/|v|",
            "the ratio is upside down: α = −|r|/|v|, the first step over the change of step (large when EM is "
            "slow). |v|/|r| is below 1 there, so α is clamped to −1 and nothing is accelerated.",
            alpha=lambda r, v: min(-abs(v) / abs(r), -1.0),
        ),
        _squarem_mistake(
            "falls back to π₁",
            "when the safeguard rejects the extrapolation, keep π₂: both plain EM steps were computed, and each "
            "raised ℓ.",
            fall="p1",
        ),
        _squarem_mistake(
            "falls back to π₀ (no move)",
            "when the safeguard rejects the extrapolation, keep π₂, the two plain EM steps; staying at π₀ "
            "would never move again from there.",
            fall="p0",
        ),
        _squarem_mistake(
            "v = π₂ − π₁ (the second step, not the change of step)",
            "v is the change between the two steps: (π₂ − π₁) − (π₁ − π₀) = π₂ − 2π₁ + π₀.",
            v_step=True,
        ),
        _squarem_mistake(
            "the sign of the 2αr term",
            "π′ = π₀ − 2αr + α²v (with α < 0 both terms push along the EM path); you added 2αr.",
            plus=True,
        ),
    ),
    explain=_squarem_explain,
    fallback="π₁ = M(π₀), π₂ = M(π₁); r = π₁ − π₀, v = π₂ − 2π₁ + π₀; α = min(−|r|/|v|, −1); "
    "π′ = π₀ − 2αr + α²v; π_new = M(π′); keep π₂ instead if π′ is not in (0, 1) or ℓ(π_new) < ℓ(π₀).",
    nonfinite_hint=lambda c, name: (
        "NaN or inf: an extrapolated π′ outside (0, 1) makes M(π′) and ℓ meaningless (a log of a negative "
        "number). Check 0 < π′ < 1 before using it, and fall back to π₂."
    ),
    default_seed=63,
)


def squarem_step(fn, seed: int | None = None):
    """Check ``fn(f1_N, f2_N, pi0) -> pi_new``: one SQUAREM cycle (S3) for a mixture weight, with the safeguard."""
    return run(SQUAREM, fn, seed)


# ---------------------------------------------------------------------------
# The Poisson M-step from expected sufficient statistics (Exercise 6.4)
# ---------------------------------------------------------------------------


def _poisson_resp(x, weights, rates):
    """r_ik for a Poisson mixture, in logs (the log x! term cancels)."""
    a = np.log(weights) + x[:, None] * np.log(rates) - rates
    a -= a.max(axis=1, keepdims=True)
    r = np.exp(a)
    return r / r.sum(axis=1, keepdims=True)


def _poisson_case(name, x, resp):
    N, K = resp.shape
    return Case(name=name, args=(x, resp), x=x.astype(float), R=resp, dims={"N": N, "K": K})


#: The six counts of the case a learner can redo by hand, and their responsibilities.
HAND_COUNTS = np.array([0, 1, 2, 5, 7, 9])
HAND_RESP = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.3, 0.7], [0.1, 0.9], [0.0, 1.0]])


def _poisson_cases(rng):
    cases = [_poisson_case("six counts you can check by hand, x = (0, 1, 2, 5, 7, 9)", HAND_COUNTS, HAND_RESP)]
    x = np.where(rng.random(500) < 0.35, rng.poisson(2.0, 500), rng.poisson(9.0, 500))
    cases.append(_poisson_case("500 counts, two components (the E-step's r at rates 3 and 7)", x,
                               _poisson_resp(x, np.array([0.5, 0.5]), np.array([3.0, 7.0]))))  # fmt: skip
    z = rng.choice(3, size=300, p=[0.2, 0.5, 0.3])
    x = rng.poisson(np.array([1.0, 6.0, 15.0])[z])
    cases.append(_poisson_case("300 counts, three components", x, rng.dirichlet(np.ones(3), size=300)))
    x = np.where(rng.random(200) < 0.4, 0, rng.poisson(5.0, 200))
    cases.append(_poisson_case("200 counts, 40 % of them structural zeros (a component with λ near 0)", x,
                               _poisson_resp(x, np.array([0.4, 0.6]), np.array([0.05, 5.0]))))  # fmt: skip
    return cases


def _counts(c):
    return c.R.sum(axis=0)


def _sums(c):
    return c.R.T @ c.x


def _hard(R):
    return np.eye(R.shape[1])[R.argmax(axis=1)]


def _poisson_explain(case, name, got, exp):
    Nk, Tk = _counts(case), _sums(case)
    return (
        f"{name} should be {_fmt(exp)}; you gave {_fmt(got)}.\n"
        f"The expected sufficient statistics here: N_k = Σ_i r_ik = {_fmt(Nk)}, T_k = Σ_i r_ik x_i = {_fmt(Tk)}, "
        f"N = {case.dims['N']}."
    )


POISSON = FunctionExercise(
    title="the Poisson mixture's M-step from expected sufficient statistics",
    signature="poisson_m_step(x_N, resp_NK) -> (weights_K, rates_K)",
    fields=(
        Field(
            "weights",
            shape=lambda c: (c.dims["K"],),
            causes=lambda c: [
                (
                    (c.dims["N"],),
                    "one number per point: you averaged over the components (axis=1); π_k is the "
                    "mean of r_ik over the points (axis=0).",
                ),  # fmt: skip
                ((), "one number: π has one entry per component, N_k / N."),
            ],
            rtol=1e-10,
        ),
        Field(
            "rates",
            shape=lambda c: (c.dims["K"],),
            causes=lambda c: [
                ((c.dims["N"],), "one number per point: sum over the points (axis=0), r.T @ x, then divide by N_k."),
                ((), "one number: λ has one entry per component, T_k / N_k."),
            ],
            rtol=1e-10,
        ),
    ),
    cases=_poisson_cases,
    expected=lambda c: {"weights": _counts(c) / c.dims["N"], "rates": _sums(c) / _counts(c)},
    mistakes=(
        Mistake(
            "1/λ for λ (N_k / T_k)",
            "λ_k is the mean count of component k: the expected total count over the expected number of points, "
            "T_k / N_k, not its reciprocal.",
            lambda c: _counts(c) / _sums(c),
            field="rates",
        ),
        Mistake(
            "T_k / N, not T_k / N_k",
            "divide component k's expected total count by its own expected number of points, N_k = Σ_i r_ik, "
            "not by all N points.",
            lambda c: _sums(c) / c.dims["N"],
            field="rates",
        ),
        Mistake(
            "log λ (the natural parameter)",
            "those are η_k = log λ_k, the natural parameters. The M-step matches the *mean* parameter: "
            "λ_k = T_k / N_k; return λ itself.",
            lambda c: np.log(_sums(c) / _counts(c)),
            field="rates",
        ),
        Mistake(
            "the unweighted mean of x",
            "every component got the plain mean of the counts: weight each count by r_ik, "
            "λ_k = Σ_i r_ik x_i / Σ_i r_ik.",
            lambda c: np.full(c.dims["K"], c.x.mean()),
            field="rates",
        ),
        Mistake(
            "hard assignments",
            "you gave each count to its most likely component only; the M-step weights every count by r_ik.",
            lambda c: (_hard(c.R).T @ c.x) / _hard(c.R).sum(axis=0),
            field="rates",
        ),
        Mistake(
            "Σ r x² / N_k (the second moment)",
            "the Poisson's sufficient statistic is x itself, not x²: λ_k = Σ_i r_ik x_i / N_k.",
            lambda c: (c.R.T @ c.x**2) / _counts(c),
            field="rates",
        ),
        Mistake(
            "counts, not weights (N_k, not N_k / N)",
            "the weights must sum to 1: π_k = N_k / N, the expected share of the points.",
            _counts,
            field="weights",
        ),
        Mistake(
            "hard assignments",
            "you counted each point for its most likely component only; π_k = N_k / N with N_k = Σ_i r_ik, the "
            "expected (soft) number of points.",
            lambda c: _hard(c.R).mean(axis=0),
            field="weights",
        ),
        Mistake(
            "uniform weights",
            "the weights were not updated: π_k = N_k / N, the average responsibility of component k.",
            lambda c: np.full(c.dims["K"], 1.0 / c.dims["K"]),
            field="weights",
        ),
        Mistake(
            "the two outputs swapped",
            "return (weights, rates) in this order: π_k = N_k / N first, λ_k = T_k / N_k second.",
            lambda c: _sums(c) / _counts(c),
            field="weights",
        ),
        Mistake(
            "the two outputs swapped",
            "return (weights, rates) in this order: π_k = N_k / N first, λ_k = T_k / N_k second.",
            lambda c: _counts(c) / c.dims["N"],
            field="rates",
        ),
    ),
    explain=_poisson_explain,
    factors=lambda c, name: {
        "N / N_k": c.dims["N"] / _counts(c),
        "N_k / N": _counts(c) / c.dims["N"],
        "N": float(c.dims["N"]),
    },  # fmt: skip
    fallback="N_k = Σ_i r_ik, T_k = Σ_i r_ik x_i; π_k = N_k / N, λ_k = T_k / N_k.",
    nonfinite_hint=lambda c, name: "NaN or inf: a division by zero? Divide T_k by N_k = Σ_i r_ik (never 0 here).",
    default_seed=64,
)


def poisson_m_step(fn, seed: int | None = None):
    """Check ``fn(x_N, resp_NK) -> (weights_K, rates_K)``: π_k = N_k / N and λ_k = T_k / N_k."""
    return run(POISSON, fn, seed)


# ---------------------------------------------------------------------------
# One step of online EM (Exercise 6.5)
# ---------------------------------------------------------------------------


def _log_normal_1d(x, means, variances, *, sd=False, quad=0.5):
    scale = variances**2 if sd else variances
    return -0.5 * np.log(2.0 * np.pi * scale) - quad * (x - means) ** 2 / scale


def _point_stats(c, *, resp=True, square=True, sd=False, weights=True, naive=False, quad=0.5):
    """s̄(x_t; θ) = (r_k, r_k x_t, r_k x_t²) with knobs for the usual slips."""
    w, m, v = c.theta
    a = (np.log(w) if weights else 0.0) + _log_normal_1d(c.x_t, m, v, sd=sd, quad=quad)
    if naive:
        with np.errstate(all="ignore"):
            e = np.exp(a)
            r = e / e.sum()
    else:
        e = np.exp(a - a.max())
        r = e / e.sum()
    if not resp:
        r = np.ones_like(m)
    return r, r * c.x_t, r * (c.x_t**2 if square else c.x_t)


def _online(c, *, gamma=None, update="blend", **stats_knobs):
    """One online-EM step with knobs that reproduce the usual slips (the defaults are the right step)."""
    g = c.t ** (-c.alpha) if gamma is None else gamma(c.t, c.alpha)
    new = []
    for old, point in zip(c.s, _point_stats(c, **stats_knobs), strict=True):
        with np.errstate(all="ignore"):
            new.append(
                {
                    "blend": old + g * (point - old),
                    "add": old + g * point,
                    "swapped": (1.0 - g) * point + g * old,
                    "replace": point + 0.0 * old,
                }[update]
            )
    return tuple(new)


def _online_case(name, s, x_t, theta, t, alpha):
    K = len(theta[0])
    copies = tuple(np.array(a, dtype=float) for a in s), float(x_t), tuple(np.array(a, dtype=float) for a in theta)
    return Case(name=name, args=(*copies, int(t), float(alpha)), s=tuple(np.array(a, dtype=float) for a in s),
                x_t=float(x_t), theta=tuple(np.array(a, dtype=float) for a in theta), t=int(t), alpha=float(alpha),
                dims={"K": K})  # fmt: skip


def _implied_stats(theta):
    """ŝ that θ implies, per point: (π_k, π_k μ_k, π_k (σ²_k + μ_k²))."""
    w, m, v = (np.asarray(a, dtype=float) for a in theta)
    return w, w * m, w * (v + m**2)


def _online_cases(rng):
    th2 = (np.array([0.5, 0.5]), np.array([-1.0, 2.0]), np.array([1.0, 1.5]))
    th3 = (rng.dirichlet(np.full(3, 3.0)), np.sort(rng.normal(0.0, 3.0, size=3)), rng.uniform(0.5, 2.0, size=3))
    s3 = tuple(a * rng.uniform(0.8, 1.2, size=3) for a in _implied_stats(th3))
    cases = [
        _online_case("t = 1, α = 0.6: γ₁ = 1, so the statistics become this point's own", _implied_stats(th2),
                     rng.normal(0.5, 1.0), th2, 1, 0.6),
        _online_case("t = 5, α = 0.6, two components", tuple(a * 1.1 for a in _implied_stats(th2)),
                     rng.normal(1.0, 1.0), th2, 5, 0.6),
        _online_case("t = 40, α = 0.75, three components", s3, rng.normal(th3[1][1], 1.0), th3, 40, 0.75),
        _online_case("t = 300, α = 1 (γ = 1/t: a running average)", s3, rng.normal(th3[1][2], 1.0), th3, 300, 1.0),
        _online_case("t = 12, α = 0.6, an outlier at x = 80, far from every component (exp underflows)",
                     _implied_stats(th2), 80.0 + rng.random(), th2, 12, 0.6),
    ]  # fmt: skip
    return cases


def _online_explain(case, name, got, exp):
    j = ("s0", "s1", "s2").index(name)
    head = f"{name} should be {_fmt(exp)}; you gave {_fmt(got)}."
    point = _point_stats(case)
    if j == 0:
        return (
            f"{head}\nAt t = {case.t}, α = {case.alpha:g}: γ_t = {case.t ** (-case.alpha):.6g}; x_t = {case.x_t:.6g} "
            f"has responsibilities r = {_fmt(point[0])}; the old s0 = {_fmt(case.s[0])}."
        )
    what = "r x_t" if j == 1 else "r x_t²"
    return f"{head}\nThe old {name} = {_fmt(case.s[j])}; this point's {what} = {_fmt(point[j])}."


def _online_mistake(slip, message, **knobs):
    return tuple(
        Mistake(slip, message, (lambda c, j=j: _online(c, **knobs)[j]), field=f)
        for j, f in enumerate(("s0", "s1", "s2"))
    )


_WHY_EXPONENT = (
    " The exponent must lie in (0.5, 1]: then Σ_t γ_t = ∞ (the statistics can travel any distance) and "
    "Σ_t γ_t² < ∞ (the noise of single points averages out). Use γ_t = t ** -alpha with the α given."
)

ONLINE = FunctionExercise(
    title="one step of online EM",
    signature="online_em_step(stats, x_t, theta, t, alpha) -> (s0_K, s1_K, s2_K)",
    # each statistic is compared by its change from the old one, ŝ_t − ŝ_{t−1} = γ_t (s̄ − ŝ): at t = 300 that
    # change is a few thousandths of the statistics, and a wrong γ_t or r_k changes it by a share of itself
    fields=tuple(
        Field(
            name,
            shape=lambda c: (c.dims["K"],),
            causes=lambda c: [((), "one number: each statistic has one entry per component k.")],
            rtol=1e-9,
            atol=1e-12,
            centre=lambda c, j=j: c.s[j],
            float32_slack=False,
        )
        for j, name in enumerate(("s0", "s1", "s2"))
    ),
    cases=_online_cases,
    expected=lambda c: dict(zip(("s0", "s1", "s2"), _online(c), strict=True)),
    mistakes=(
        *_online_mistake(
            "γ_t = t^α (the exponent's sign)",
            "γ_t = t^(−α) = t ** -alpha shrinks as t grows; t ** alpha grows, and the statistics run away.",
            gamma=lambda t, a: t**a,
        ),
        *_online_mistake(
            "α ignored (γ = 1/t)",
            "you used γ_t = 1/t whatever α: that is α = 1, a plain running average, which remembers the poor early "
            "θ's for ever. Use γ_t = t ** -alpha.",
            gamma=lambda t, a: 1.0 / t,
        ),
        *_online_mistake(
            "step-size exponent outside (0.5, 1]",
            "your steps shrink like 1/√t (exponent 0.5): Σ γ_t² = ∞, so single points keep jolting the "
            "statistics and the noise never averages out." + _WHY_EXPONENT,
            gamma=lambda t, a: t**-0.5,
        ),
        *_online_mistake(
            "step-size exponent outside (0.5, 1]",
            "your steps shrink like 1/t² (exponent 2): Σ γ_t is finite, so the statistics stop moving after a "
            "few points, wherever they are." + _WHY_EXPONENT,
            gamma=lambda t, a: t**-2.0,
        ),
        *_online_mistake(
            "step-size exponent outside (0.5, 1]",
            "your steps shrink like t^(−1/α): for α < 1 that exponent is above 1, so Σ γ_t is finite and the "
            "statistics stop moving too early." + _WHY_EXPONENT,
            gamma=lambda t, a: t ** (-1.0 / a),
        ),
        *_online_mistake(
            "γ_{t+1} for γ_t (off by one)",
            "the t-th point gets γ_t = t^(−α), so the first point has γ₁ = 1; you used (t + 1)^(−α).",
            gamma=lambda t, a: (t + 1.0) ** -a,
        ),
        *_online_mistake(
            "no forgetting (ŝ + γ s̄)",
            "the step moves the statistics towards the point's: ŝ + γ (s̄ − ŝ), which also shrinks the old ŝ "
            "by (1 − γ). Adding γ s̄ alone lets them grow without bound.",
            update="add",
        ),
        *_online_mistake(
            "γ on the old statistics",
            "the new point gets the weight γ_t and the old statistics 1 − γ_t: ŝ_t = (1 − γ_t) ŝ_{t−1} + γ_t s̄(x_t). "
            "You swapped the two weights.",
            update="swapped",
        ),
        *_online_mistake(
            "the statistics replaced by the point's",
            "ŝ_t = s̄(x_t) forgets everything seen before (a step size of 1). Average: ŝ + γ_t (s̄ − ŝ).",
            update="replace",
        ),
        *_online_mistake(
            "responsibilities left out",
            "s̄(x) = (r_k, r_k x, r_k x²): each component gets the point in proportion to its responsibility r_k, "
            "computed from θ (the E-step for this one point).",
            resp=False,
        ),
        *_online_mistake(
            "x, not x², in s2",
            "the third statistic is r_k x², the one the variances come from (σ²_k = s2_k/s0_k − μ_k²).",
            square=False,
        ),
        *_online_mistake(
            "σ for σ² in the responsibilities",
            "theta holds variances σ²_k: N(x | μ_k, σ²_k) has (x − μ_k)²/(2σ²_k) and log(2πσ²_k); you treated "
            "them as standard deviations.",
            sd=True,
        ),
        *_online_mistake(
            "a missing ½ on the quadratic term",
            "log N(x | μ_k, σ²_k) = −½ log(2πσ²_k) − (x − μ_k)²/(2σ²_k): the ½ (the 2 in 2σ²_k) is missing from "
            "the exponent of your responsibilities.",
            quad=1.0,
        ),
        *_online_mistake(
            "π left out of the responsibilities",
            "r_k ∝ π_k N(x | μ_k, σ²_k): the weights belong in the E-step.",
            weights=False,
        ),
        *_online_mistake(
            "exp without log-sum-exp (underflow)",
            "for a point far from every component each density underflows to 0.0, and 0/0 is NaN. Work in logs: "
            "subtract the largest log π_k N(x | μ_k, σ²_k) before exponentiating (notebook 02).",
            naive=True,
        ),
    ),
    explain=_online_explain,
    fallback="r_k ∝ π_k N(x_t | μ_k, σ²_k); s̄ = (r_k, r_k x_t, r_k x_t²); γ_t = t^(−α); "
    "each statistic becomes ŝ + γ_t (s̄ − ŝ).",
    nonfinite_hint=lambda c, name: (
        "NaN or inf: for a point far from every component the densities underflow to 0 and r = 0/0. Compute the "
        "responsibilities in logs (subtract the largest log-joint before exp)."
    ),
    default_seed=65,
)


def online_em_step(fn, seed: int | None = None):
    """Check ``fn(stats, x_t, theta, t, alpha) -> (s0_K, s1_K, s2_K)``: ŝ + t^(−α) (s̄(x_t; θ) − ŝ)."""
    return run(ONLINE, fn, seed)


# ---------------------------------------------------------------------------
# The registry's entries
# ---------------------------------------------------------------------------

EXERCISES: list[Exercise] = [
    Exercise(
        id="06-louis",
        notebook="06_em_deeper",
        title="Louis' identity for a mixture weight",
        answer="weight_information",
        kind="function",
        check=weight_information,
        signature="weight_information(f1_N, f2_N, pi) -> (I_c, I_m, I_o)",
        forbidden=(
            "emkit.inference.observed_information",
            "emkit.inference.missing_information",
            "emkit.inference.complete_information",
            "emkit.inference.covariance",
            "emkit.inference.standard_errors",
        ),
    ),
    Exercise(
        id="06-squarem",
        notebook="06_em_deeper",
        title="one SQUAREM cycle with its safeguard",
        answer="squarem_step",
        kind="function",
        check=squarem_step,
        signature="squarem_step(f1_N, f2_N, pi0) -> pi_new",
        forbidden=(
            "emkit.accelerate.squarem",
            "emkit.accelerate.aitken",
            "emkit.accelerate._accelerated",
            "emkit.accelerate._squarem_step",
            "emkit.accelerate._aitken_step",
        ),
    ),
    Exercise(
        id="06-poisson-m-step",
        notebook="06_em_deeper",
        title="the Poisson M-step from expected sufficient statistics",
        answer="poisson_m_step",
        kind="function",
        check=poisson_m_step,
        signature="poisson_m_step(x_N, resp_NK) -> (weights_K, rates_K)",
        forbidden=(
            "emkit.expfamily.m_step",
            "emkit.expfamily._m_step",
            "emkit.expfamily.expected_statistics",
            "emkit.expfamily._expected_statistics",
            "emkit.expfamily.e_step",
            "emkit.expfamily._e_step",
            "emkit.expfamily.fit",
        ),
    ),
    Exercise(
        id="06-online-step",
        notebook="06_em_deeper",
        title="one step of online EM",
        answer="online_em_step",
        kind="function",
        check=online_em_step,
        signature="online_em_step(stats, x_t, theta, t, alpha) -> (s0_K, s1_K, s2_K)",
        forbidden=(
            "emkit.online.online_em",
            "emkit.online.expected_statistics",
            "emkit.online._statistics",
            "emkit.online.step_sizes",
        ),
        allowed=("emkit.online.responsibilities",),
    ),
]
