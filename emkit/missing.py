"""EM for a multivariate Normal with missing values (missing at random).

Model: x_i ~ N(μ, Σ) in D dimensions, but each row shows only some
coordinates; ``NaN`` marks the missing ones. Write o for the observed and m
for the missing coordinates of a row. The latent variables are the missing
values themselves, and the E-step needs their conditional distribution given
what was seen (a Normal again)::

    E[x_m | x_o]   = μ_m + Σ_mo Σ_oo⁻¹ (x_o - μ_o)          conditional_mean
    Cov[x_m | x_o] = Σ_mm - Σ_mo Σ_oo⁻¹ Σ_om                 conditional_covariance

The complete-data log-likelihood of a Normal depends on the data only through
Σ_i x_i and Σ_i x_i x_iᵀ, so Q(θ | θᵗ) needs just their expectations. With
x̂_i the row completed by its conditional mean and C_i its conditional
covariance (zero outside the m×m block)::

    E-step:  x̂_i,   C = Σ_i C_i
    M-step:  μ = (1/N) Σ_i x̂_i
             Σ = (1/N) [Σ_i (x̂_i - μ)(x̂_i - μ)ᵀ + C]

Note the C: filling in the conditional means and computing the ordinary
covariance would understate the spread. Rows are processed a *missingness
pattern* at a time (all rows missing the same coordinates together), never
one by one. The fit runs on :func:`emkit.em.run`.

>>> import numpy as np
>>> X = np.array([[1.0, 2.0], [2.0, np.nan], [3.0, 5.0], [np.nan, 4.0], [4.0, 7.0]])
>>> result = fit(X, tol=1e-12)
>>> np.round(result.mean, 3)
array([2.452, 4.314])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import em
from ._core import LOG_2PI
from ._validation import check_count, check_missing_data, check_positive_float, check_spd_stack

__all__ = ["MissingNormalResult", "complete_case", "conditional_moments", "e_step", "fit", "log_likelihood", "m_step"]


def _check_mean_cov(mean, cov, D: int):
    mean_D = np.asarray(mean, dtype=np.float64)
    cov_DD = np.asarray(cov, dtype=np.float64)
    if mean_D.shape != (D,):
        raise ValueError(f"mean must have shape ({D},); got {mean_D.shape}")
    if cov_DD.shape != (D, D):
        raise ValueError(f"cov must have shape ({D}, {D}); got {cov_DD.shape}")
    if not (np.isfinite(mean_D).all() and np.isfinite(cov_DD).all()):
        raise ValueError("mean and cov must be finite")
    check_spd_stack(cov_DD[None], "cov", lambda k: "")
    return mean_D, cov_DD


def _patterns(missing_ND):
    """Group rows by which coordinates are missing: yields (rows, observed index, missing index)."""
    patterns_PD, which_N = np.unique(missing_ND, axis=0, return_inverse=True)
    which_N = which_N.ravel()
    for p, pattern_D in enumerate(patterns_PD):
        yield np.flatnonzero(which_N == p), np.flatnonzero(~pattern_D), np.flatnonzero(pattern_D)


def conditional_moments(x_obs_RO, mean_D, cov_DD, obs_O, mis_M):
    """Conditional mean (R×M) and covariance (M×M) of the missing coordinates given the observed ones.

    E[x_m | x_o] = μ_m + (x_o - μ_o) Σ_oo⁻¹ Σ_om,  Cov[x_m | x_o] = Σ_mm - Σ_mo Σ_oo⁻¹ Σ_om
    (the covariance is the same for every row of one pattern).
    """
    S_oo = cov_DD[np.ix_(obs_O, obs_O)]
    S_om = cov_DD[np.ix_(obs_O, mis_M)]
    B_OM = np.linalg.solve(S_oo, S_om)  # Σ_oo⁻¹ Σ_om
    mean_RM = mean_D[mis_M] + (x_obs_RO - mean_D[obs_O]) @ B_OM
    cov_MM = cov_DD[np.ix_(mis_M, mis_M)] - S_om.T @ B_OM
    return mean_RM, 0.5 * (cov_MM + cov_MM.T)


def _log_normal_rows(x_RO, mean_O, cov_OO) -> float:
    L = np.linalg.cholesky(cov_OO)
    y = np.linalg.solve(L, (x_RO - mean_O).T)  # O×R
    O = len(mean_O)
    return float(-0.5 * (x_RO.shape[0] * (O * LOG_2PI + 2.0 * np.log(np.diag(L)).sum()) + (y * y).sum()))


def _e_step(X_ND, missing_ND, mean_D, cov_DD):
    Xhat_ND = X_ND.copy()
    C_DD = np.zeros_like(cov_DD)
    loglik = 0.0
    for rows, obs, mis in _patterns(missing_ND):  # a loop over patterns, never over rows
        x_obs = X_ND[np.ix_(rows, obs)]
        loglik += _log_normal_rows(x_obs, mean_D[obs], cov_DD[np.ix_(obs, obs)])
        if mis.size:
            mean_RM, cov_MM = conditional_moments(x_obs, mean_D, cov_DD, obs, mis)
            Xhat_ND[np.ix_(rows, mis)] = mean_RM
            C_DD[np.ix_(mis, mis)] += rows.size * cov_MM
    return (Xhat_ND, C_DD), loglik


def e_step(X, mean, cov):
    """The E-step: ((X̂, C), log p(X_obs | μ, Σ)).

    X̂ is X with each missing value replaced by its conditional mean, and
    C = Σ_i Cov[x_i,m | x_i,o] (placed in the missing block), the spread that
    filling in loses. The log-likelihood counts the observed values only.
    """
    X_ND = check_missing_data(X)
    mean_D, cov_DD = _check_mean_cov(mean, cov, X_ND.shape[1])
    return _e_step(X_ND, np.isnan(X_ND), mean_D, cov_DD)


def m_step(Xhat, C):
    """The M-step: μ = mean of X̂, Σ = [Σ_i (x̂_i - μ)(x̂_i - μ)ᵀ + C] / N."""
    Xhat_ND = np.asarray(Xhat, dtype=np.float64)
    N = Xhat_ND.shape[0]
    mean_D = Xhat_ND.mean(axis=0)
    centred_ND = Xhat_ND - mean_D
    cov_DD = (centred_ND.T @ centred_ND + np.asarray(C, dtype=np.float64)) / N
    return mean_D, 0.5 * (cov_DD + cov_DD.T)


def log_likelihood(X, mean, cov) -> float:
    """log p(X_obs | μ, Σ) = Σ_i log N(x_i,o | μ_o, Σ_oo): each row scored on what it shows."""
    return e_step(X, mean, cov)[1]


def complete_case(X):
    """Maximum-likelihood (μ, Σ) from the rows with nothing missing only (divides by n)."""
    X_ND = check_missing_data(X)
    full = X_ND[~np.isnan(X_ND).any(axis=1)]
    if full.shape[0] < 2:
        raise ValueError(f"complete-case analysis needs at least 2 complete rows; X has {full.shape[0]}")
    return m_step(full, np.zeros((X_ND.shape[1], X_ND.shape[1])))


@dataclass(kw_only=True)
class MissingNormalResult(em.LikelihoodFit):
    """A fitted Normal: ``mean``, ``cov``, ``filled`` (X̂: the data with conditional means filled in)."""

    mean: np.ndarray
    cov: np.ndarray
    filled: np.ndarray


def fit(X, *, init=None, max_iter: int = 1000, tol: float = 1e-8, record_params: bool = False) -> MissingNormalResult:
    """Estimate (μ, Σ) by EM from data with missing values (NaN).

    init : ``(mean, cov)``, or ``None`` for the column means of the observed
        values and a diagonal of their variances.
    tol : stop when log p(X_obs | θ) changes by less than ``tol`` per row.
    """
    X_ND = check_missing_data(X)
    N, D = X_ND.shape
    max_iter = check_count(max_iter, "max_iter", minimum=0)
    tol = check_positive_float(tol, "tol")
    missing_ND = np.isnan(X_ND)
    if init is None:
        mean_D = np.nanmean(X_ND, axis=0)
        var_D = np.nanvar(X_ND, axis=0)
        if (var_D <= 0).any():
            col = int(np.flatnonzero(var_D <= 0)[0])
            raise ValueError(f"column {col} of X has no spread in its observed values: its variance would be 0")
        theta0 = (mean_D, np.diag(var_D))
    else:
        try:
            mean, cov = init
        except (TypeError, ValueError):
            raise TypeError("init must be None or a pair (mean, cov)") from None
        theta0 = _check_mean_cov(mean, cov, D)

    def e(theta):
        try:
            return _e_step(X_ND, missing_ND, *theta)
        except np.linalg.LinAlgError:
            raise ValueError(
                "the covariance became singular during EM (some columns are exactly collinear in the "
                "observed data, or too few rows are observed together)"
            ) from None

    def m(stats):
        return m_step(*stats)

    run = em.run(
        e, m, theta0, n_points=N, max_iter=max_iter, tol=tol, record_params=record_params, name="log-likelihood"
    )
    return MissingNormalResult.from_run(run, mean=run.params[0], cov=run.params[1], filled=run.expectations[0])
