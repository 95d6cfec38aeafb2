"""The general EM driver, written once and reused by every model.

A model supplies two functions and a starting point:

* ``e_step(theta) -> (expectations, objective)``: the posterior of the latent
  variables under the current parameters θᵗ (whatever the M-step needs of
  it, e.g. responsibilities), together with the objective at θᵗ, normally
  the observed-data log-likelihood log p(x | θᵗ);
* ``m_step(expectations) -> theta``: θᵗ⁺¹ = argmax_θ Q(θ | θᵗ).

:func:`run` alternates them. Iteration ``t`` (1-based) is the E-step at
θᵗ⁻¹ followed by the M-step that produces θᵗ. The objective at θᵗ is
computed by the E-step that starts iteration ``t + 1`` (or by one final
E-step), so it is never computed twice and the returned expectations always
belong to the returned parameters. :func:`best_of` restarts a fit and keeps
the best; :class:`FitResult` is what every model's result builds on.

``tol`` means the same for every model: EM stops when the objective changes
by less than ``tol`` **per data point**, |f(θᵗ) - f(θᵗ⁻¹)| / N < tol (the
objective is a sum over N points, so this does not depend on how many there
are; scikit-learn's rule for mixtures).

k-means does not run on this driver, on purpose: it is EM's hard-assignment
limit, but (1) it stops by scikit-learn's rule (no label changed, or the
centres moved by less than ``tol`` times the data's variance), not by a change
in the objective; (2) its history records both half-steps, the labels of each
assignment and the inertia after each update, which the course's viewers show;
(3) its fused loop reuses each assignment's distances for the next inertia
and updates the cluster sums by the points that moved. Its restarts use
:func:`best_of` all the same.

>>> import numpy as np
>>> x = np.array([1.0, 2.0, np.nan, 4.0])            # one value missing
>>> def e_step(mu):                                  # fill in E[x_missing] = mu
...     filled = np.where(np.isnan(x), mu, x)
...     observed = x[~np.isnan(x)]
...     return filled, -0.5 * ((observed - mu) ** 2).sum()
>>> def m_step(filled):
...     return float(filled.mean())
>>> result = run(e_step, m_step, 0.0, n_points=3, max_iter=100, tol=1e-12)
>>> round(result.params, 6), result.converged
(2.333333, True)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._validation import check_count, check_positive_float

__all__ = ["EMResult", "FitResult", "LikelihoodFit", "ObjectiveDecreaseWarning", "best_of", "run"]


class ObjectiveDecreaseWarning(UserWarning):
    """The EM objective went down by more than round-off: EM should never do that."""


@dataclass(kw_only=True)
class FitResult:
    """What every fitted model reports: iterations run, whether it converged, and its history."""

    n_iter: int
    converged: bool
    history: dict = field(default_factory=dict)


@dataclass(kw_only=True)
class EMResult(FitResult):
    """What :func:`run` returns.

    Attributes
    ----------
    params : the last parameters θᵀ.
    expectations : the E-step output at θᵀ (for a mixture: responsibilities).
    objective : the objective at θᵀ.
    n_iter : T, the number of M-steps taken.
    converged : whether the last change in the objective was below ``tol`` per point.
    history : ``{"objective": [f(θ⁰), ..., f(θᵀ)]}`` (length T + 1) and, if
        ``record_params`` was set, ``"params": [θ⁰, ..., θᵀ]``.
    """

    params: Any
    expectations: Any
    objective: float


R = TypeVar("R", bound="LikelihoodFit")


@dataclass(kw_only=True)
class LikelihoodFit(FitResult):
    """A model fitted by :func:`run` whose objective is its log-likelihood.

    ``history["log_likelihood"]`` holds log p(x | θᵗ) for t = 0, ..., n_iter
    and, if the fit recorded them, ``history["params"]`` the matching θᵗ.
    """

    log_likelihood: float

    @classmethod
    def from_run(cls: type[R], run: EMResult, *, params=None, **fields) -> R:
        """The model's result from the driver's: ``params`` maps each recorded θᵗ to what the model reports."""
        history = {"log_likelihood": run.history["objective"]}
        if "params" in run.history:
            history["params"] = [theta if params is None else params(theta) for theta in run.history["params"]]
        return cls(n_iter=run.n_iter, converged=run.converged, log_likelihood=run.objective, history=history, **fields)


def best_of(n_init: int, fit_once: Callable[[], Any], score: Callable[[Any], float]):
    """Run ``fit_once`` ``n_init`` times (each from its own start) and keep the fit with the highest ``score``.

    Restarts are the standard cure for local optima: EM and k-means only ever
    climb from where they start. The first of equal scores is kept.
    """
    best = best_score = None
    for _ in range(n_init):
        result = fit_once()
        s = score(result)
        if best is None or s > best_score:
            best, best_score = result, s
    return best


def run(
    e_step: Callable[[Any], tuple[Any, float]],
    m_step: Callable[[Any], Any],
    init_params: Any,
    *,
    n_points: int,
    max_iter: int = 100,
    tol: float = 1e-6,
    record_params: bool = False,
    decrease_rtol: float = 1e-10,
    name: str = "objective",
) -> EMResult:
    """Run EM from ``init_params`` until the objective changes by less than ``tol`` per point.

    Parameters
    ----------
    e_step, m_step : the model's two steps (see the module docstring).
    init_params : θ⁰.
    n_points : N, the number of data points the objective sums over.
    max_iter : the largest number of iterations T (M-steps); ``0`` only
        evaluates θ⁰.
    tol : stop when ``|f(θᵗ) - f(θᵗ⁻¹)| / N < tol``. With ``tol=0`` exactly
        ``max_iter`` iterations run.
    record_params : keep every θᵗ in ``history["params"]``.
    decrease_rtol : a drop of the objective larger than
        ``decrease_rtol * max(1, |f|)`` triggers an
        :class:`ObjectiveDecreaseWarning` naming the iteration and the drop;
        smaller drops are round-off.
    name : what the objective is called in the warning.
    """
    n_points = check_count(n_points, "n_points")
    max_iter = check_count(max_iter, "max_iter", minimum=0)
    tol = check_positive_float(tol, "tol") * n_points
    decrease_rtol = check_positive_float(decrease_rtol, "decrease_rtol")

    theta = init_params
    expectations, objective = e_step(theta)
    history = {"objective": [float(objective)]}
    if record_params:
        history["params"] = [theta]

    converged = False
    n_iter = 0
    for t in range(1, max_iter + 1):
        theta = m_step(expectations)
        expectations, new_objective = e_step(theta)
        n_iter = t
        history["objective"].append(float(new_objective))
        if record_params:
            history["params"].append(theta)

        drop = objective - new_objective
        if drop > decrease_rtol * max(1.0, abs(objective)):
            warnings.warn(
                f"EM {name} decreased at iteration {t}: from {objective:.12g} to "
                f"{new_objective:.12g} (a drop of {drop:.3g}). Exact EM never does this; "
                "check the E-step and M-step (or a regulariser such as reg_covar that "
                "changes the M-step).",
                ObjectiveDecreaseWarning,
                stacklevel=2,
            )
        change = abs(new_objective - objective)
        objective = new_objective
        if change < tol:
            converged = True
            break

    return EMResult(
        params=theta,
        expectations=expectations,
        objective=float(objective),
        n_iter=n_iter,
        converged=converged,
        history=history,
    )
