"""Faster EM: SQUAREM and Aitken's Δ², for any model whose EM step is a map θ ↦ M(θ).

EM converges linearly: near its limit θ̂ the error shrinks by a constant
factor ρ per iteration (the largest eigenvalue of DM, see
:mod:`emkit.inference`), and ρ close to 1 means thousands of iterations.
Both methods here look at two EM steps and *extrapolate* to where the
sequence is heading. They need only:

* ``em_map(θ) -> θ'``: one EM iteration (E-step then M-step) on a vector θ;
* ``objective(θ) -> float``: the log-likelihood ℓ(θ), for the safeguard.

:func:`from_steps` builds both from a model's ``e_step`` and ``m_step`` as
:func:`emkit.em.run` takes them, so any emkit model can be accelerated.

**SQUAREM** (Varadhan & Roland 2008, Scand. J. Statist. 35:335–353, scheme
S3), one cycle from θ₀::

    θ₁ = M(θ₀),  θ₂ = M(θ₁)
    r  = θ₁ - θ₀               (the first EM step)
    v  = θ₂ - 2θ₁ + θ₀         (how the step changes)
    α  = -‖r‖ / ‖v‖, and α = -1 if that is larger (α = -1 gives exactly θ₂)
    θ' = θ₀ - 2α r + α² v      (the extrapolation)
    θ_new = M(θ')              (a stabilising EM step)

*Monotone safeguard*: if ℓ(θ_new) < ℓ(θ₀), or θ' is not a valid parameter
(the model raised, or ℓ is NaN), the cycle falls back to θ₂, the plain EM
steps, which never lower ℓ. So ℓ never decreases along the accepted points
(beyond round-off in a plain EM step, as in :func:`emkit.em.run`).

**Aitken's Δ²** for one parameter: if θᵗ - θ̂ ≈ ρᵗ (θ⁰ - θ̂), three
successive values give both ρ ≈ (θ₂ - θ₁)/(θ₁ - θ₀) and the limit::

    θ̂ ≈ θ₀ - (θ₁ - θ₀)² / (θ₂ - 2θ₁ + θ₀)

Restarting from that estimate each time is Steffensen's method; the same
safeguard applies.

Both stop when an EM step is shorter than ``xtol``: ‖M(θ) - θ‖₂ < xtol (the
SQUAREM package's rule); :func:`plain_em` uses the same rule, so the counts
of EM-map evaluations compare like with like.

>>> import numpy as np
>>> rng = np.random.default_rng(5)
>>> x = np.where(rng.random(2000) < 0.3, 0.5, -0.5) + rng.normal(size=2000)   # δ = 0.5: EM's rate is 0.81
>>> f1, f2 = np.exp(-0.5 * (x - 0.5) ** 2), np.exp(-0.5 * (x + 0.5) ** 2)       # the known components
>>> def e_step(pi):                                                           # weight-only mixture
...     return pi * f1 / (pi * f1 + (1 - pi) * f2), float(np.sum(np.log(pi * f1 + (1 - pi) * f2)))
>>> em_map, objective = from_steps(e_step, lambda r: float(r.mean()))
>>> slow = plain_em(em_map, objective, 0.5, xtol=1e-10)
>>> fast = squarem(em_map, objective, 0.5, xtol=1e-10)
>>> quick = aitken(em_map, objective, 0.5, xtol=1e-10)
>>> round(float(slow.params), 8) == round(float(fast.params), 8) == round(float(quick.params), 8)
True
>>> slow.n_map_evals, fast.n_map_evals, quick.n_map_evals
(91, 10, 7)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._validation import check_count, check_positive_float
from .em import FitResult

__all__ = ["AccelerationResult", "aitken", "from_steps", "plain_em", "squarem"]

# what an extrapolated θ' outside the parameter space may raise inside a model's E-step
INVALID_PARAMETER_ERRORS = (ValueError, FloatingPointError, ZeroDivisionError, np.linalg.LinAlgError)


@dataclass(kw_only=True)
class AccelerationResult(FitResult):
    """The result of :func:`squarem`, :func:`aitken` or :func:`plain_em`.

    params : the last θ (an array, or a float for a scalar θ⁰).
    objective : ℓ at ``params``.
    n_map_evals, n_objective_evals : how many times M and ℓ were evaluated in all.
    n_iter : cycles (SQUAREM, Aitken) or iterations (plain EM).
    history : ``"objective"`` ℓ at each accepted θ (never decreasing), ``"params"`` those θ,
        ``"n_map_evals"`` the count of EM-map evaluations when each was reached, and
        (accelerated) ``"fallback"``: whether the safeguard took the plain EM step in
        that cycle; (Aitken) ``"rate"``: the estimate (θ₂ - θ₁)/(θ₁ - θ₀) of EM's rate.
    """

    params: object
    objective: float
    n_map_evals: int
    n_objective_evals: int


def from_steps(e_step: Callable, m_step: Callable, *, to_vector=None, from_vector=None):
    """``(em_map, objective)`` on vectors, from a model's two steps as :func:`emkit.em.run` takes them.

    em_map(θ) = m_step(e_step(θ)[0]);  objective(θ) = e_step(θ)[1].
    ``to_vector`` / ``from_vector`` convert the model's parameters (e.g. a
    tuple of arrays) to a flat float vector and back; by default θ already
    is one (or a float).
    """
    to_vec = (lambda theta: theta) if to_vector is None else to_vector
    from_vec = (lambda theta: theta) if from_vector is None else from_vector

    def em_map(theta):
        return to_vec(m_step(e_step(from_vec(theta))[0]))

    def objective(theta):
        return e_step(from_vec(theta))[1]

    return em_map, objective


class _Counted:
    """Wrap M and ℓ to count their evaluations; ℓ of an invalid θ is -inf."""

    def __init__(self, em_map, objective, scalar: bool):
        self._map, self._objective, self.scalar = em_map, objective, scalar
        self.n_map = self.n_objective = 0

    def map(self, theta):
        self.n_map += 1
        out = self._map(float(theta[0]) if self.scalar else theta)
        return np.atleast_1d(np.asarray(out, dtype=np.float64)).copy()

    def objective(self, theta, *, may_be_invalid: bool = False) -> float:
        self.n_objective += 1
        arg = float(theta[0]) if self.scalar else theta
        if not may_be_invalid:
            return float(self._objective(arg))
        try:
            with np.errstate(all="ignore"):
                value = float(self._objective(arg))
        except INVALID_PARAMETER_ERRORS:
            return -np.inf
        return value if np.isfinite(value) else -np.inf

    def try_map(self, theta):
        """M(θ') for an extrapolated θ' that may lie outside the parameter space (None if so)."""
        try:
            with np.errstate(all="ignore"):
                out = self.map(theta)
        except INVALID_PARAMETER_ERRORS:
            return None
        return out if np.isfinite(out).all() else None


def _start(em_map, objective, theta0, xtol, max_iter):
    if not callable(em_map) or not callable(objective):
        raise TypeError("em_map and objective must be functions: em_map(θ) -> θ', objective(θ) -> float")
    scalar = np.ndim(theta0) == 0
    try:
        theta_P = np.atleast_1d(np.asarray(theta0, dtype=np.float64)).copy()
    except (TypeError, ValueError):
        raise TypeError("theta0 must be a number or a 1-D array of numbers (see from_steps' to_vector)") from None
    if theta_P.ndim != 1 or not np.isfinite(theta_P).all():
        raise ValueError(f"theta0 must be a finite number or 1-D vector; got shape {np.shape(theta0)}")
    xtol = check_positive_float(xtol, "xtol", allow_zero=False)
    max_iter = check_count(max_iter, "max_iter")
    return _Counted(em_map, objective, scalar), theta_P, xtol, max_iter


def _result(f: _Counted, theta_P, objective, n_iter, converged, history):
    out = float(theta_P[0]) if f.scalar else theta_P
    if f.scalar:
        history["params"] = [float(t[0]) for t in history["params"]]
    return AccelerationResult(
        params=out, objective=float(objective), n_map_evals=f.n_map, n_objective_evals=f.n_objective,
        n_iter=n_iter, converged=converged, history=history,
    )  # fmt: skip


def plain_em(em_map, objective, theta0, *, xtol: float = 1e-8, max_iter: int = 100_000) -> AccelerationResult:
    """Plain EM, θᵗ⁺¹ = M(θᵗ), until ‖θᵗ⁺¹ - θᵗ‖₂ < xtol: the baseline the accelerated methods are counted against.

    ℓ is evaluated only at θ⁰ and at the end (EM never lowers it; :func:`emkit.em.run` checks that).
    """
    f, theta_P, xtol, max_iter = _start(em_map, objective, theta0, xtol, max_iter)
    history = {"objective": [f.objective(theta_P)], "params": [theta_P], "n_map_evals": [0]}
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        new_P = f.map(theta_P)
        step = float(np.linalg.norm(new_P - theta_P))
        theta_P = new_P
        if step < xtol:
            converged = True
            break
    history["objective"].append(f.objective(theta_P))
    history["params"].append(theta_P)
    history["n_map_evals"].append(f.n_map)
    return _result(f, theta_P, history["objective"][-1], n_iter, converged, history)


def _accelerated(f: _Counted, theta_P, xtol, max_iter, extrapolate, safeguard, stabilise):
    """The loop that SQUAREM and Aitken share: two EM steps, extrapolate, (stabilise), safeguard."""
    ell0 = f.objective(theta_P)
    history = {"objective": [ell0], "params": [theta_P], "n_map_evals": [0], "fallback": [False], "rate": [np.nan]}
    converged = False
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        theta1 = f.map(theta_P)
        r = theta1 - theta_P
        if np.linalg.norm(r) < xtol:  # the EM step from θ₀ is already below xtol: done
            theta_P, ell0, converged = theta1, f.objective(theta1), True
            history["fallback"].append(False)
            history["rate"].append(np.nan)
            break
        theta2 = f.map(theta1)
        v = theta2 - 2.0 * theta1 + theta_P
        proposal, rate = extrapolate(theta_P, r, v)
        if proposal is not None and stabilise:
            proposal = f.try_map(proposal)
        ell_new = -np.inf if proposal is None else f.objective(proposal, may_be_invalid=True)
        fallback = ell_new < ell0 if safeguard else proposal is None
        if fallback:  # the extrapolation would lower ℓ (or left the parameter space): keep the plain EM steps
            proposal, ell_new = theta2, f.objective(theta2)
        theta_P, ell0 = proposal, ell_new
        history["fallback"].append(bool(fallback))
        history["rate"].append(rate)
        history["objective"].append(ell0)
        history["params"].append(theta_P)
        history["n_map_evals"].append(f.n_map)
    if converged:
        history["objective"].append(ell0)
        history["params"].append(theta_P)
        history["n_map_evals"].append(f.n_map)
    return _result(f, theta_P, ell0, n_iter, converged, history)


def _squarem_step(theta0, r, v):
    """θ' = θ₀ - 2α r + α² v with α = min(-‖r‖/‖v‖, -1) (scheme S3)."""
    norm_v = np.linalg.norm(v)
    alpha = -1.0 if norm_v == 0 else min(-np.linalg.norm(r) / norm_v, -1.0)
    return theta0 - 2.0 * alpha * r + alpha**2 * v, np.nan


def _aitken_step(theta0, r, v):
    """θ̂ ≈ θ₀ - r² / v, and the rate estimate ρ = (θ₂ - θ₁)/(θ₁ - θ₀) = 1 + v / r."""
    if v[0] == 0:
        return None, np.nan
    return theta0 - r**2 / v, float(1.0 + v[0] / r[0])


def squarem(
    em_map, objective, theta0, *, xtol: float = 1e-8, max_iter: int = 10_000, safeguard: bool = True
) -> AccelerationResult:
    """SQUAREM (scheme S3) with the monotone safeguard; see the module docstring for the formulas.

    em_map : θ ↦ M(θ), one EM iteration on a vector θ (or a float).
    objective : θ ↦ ℓ(θ).
    theta0 : θ⁰.
    xtol : stop when an EM step is shorter than ``xtol`` (‖M(θ) - θ‖₂ < xtol).
    max_iter : the largest number of cycles (each costs 3 EM-map evaluations).
    safeguard : fall back to the plain EM steps when the extrapolated point
        would lower ℓ. Without it only points outside the parameter space fall back.
    """
    f, theta_P, xtol, max_iter = _start(em_map, objective, theta0, xtol, max_iter)
    result = _accelerated(f, theta_P, xtol, max_iter, _squarem_step, bool(safeguard), stabilise=True)
    del result.history["rate"]  # Aitken's alone
    return result


def aitken(
    em_map, objective, theta0, *, xtol: float = 1e-8, max_iter: int = 10_000, safeguard: bool = True
) -> AccelerationResult:
    """Aitken's Δ² acceleration (iterated: Steffensen's method) for a single parameter.

    Each cycle: θ₁ = M(θ₀), θ₂ = M(θ₁), θ_A = θ₀ - (θ₁ - θ₀)² / (θ₂ - 2θ₁ + θ₀),
    restart from θ_A (or from θ₂ if ℓ(θ_A) < ℓ(θ₀): the safeguard).
    ``history["rate"]`` holds each cycle's estimate of EM's rate, (θ₂ - θ₁)/(θ₁ - θ₀).
    """
    if np.size(theta0) != 1:
        raise ValueError(f"aitken accelerates a single parameter; theta0 has {np.size(theta0)} (use squarem)")
    f, theta_P, xtol, max_iter = _start(em_map, objective, theta0, xtol, max_iter)
    return _accelerated(f, theta_P, xtol, max_iter, _aitken_step, bool(safeguard), stabilise=False)
