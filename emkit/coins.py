"""The two-coin mixture: EM for a model that has nothing to do with clustering points in space.

Someone picks one of two coins (coin k with probability λ_k), tosses it n_i
times and reports only the number of heads h_i, not which coin it was. The
biases θ_k = P(heads | coin k) are unknown. The classic illustration of EM
(Do & Batzoglou, "What is the expectation maximization algorithm?", Nature
Biotechnology 26, 897–899, 2008)::

    E-step:  r_ik = λ_k Binom(h_i | n_i, θ_k) / Σ_j λ_j Binom(h_i | n_i, θ_j)
    M-step:  θ_k = Σ_i r_ik h_i / Σ_i r_ik n_i      (expected heads / expected tosses)
             λ_k = (1/N) Σ_i r_ik                    (unless the weights are held fixed)

>>> heads, tosses = [5, 9, 8, 4, 7], [10] * 5       # Do & Batzoglou's five sets of ten tosses
>>> result = fit(heads, tosses, init=(0.6, 0.5), fixed_weights=True, max_iter=10, tol=0)
>>> [round(float(t), 2) for t in result.biases]      # the paper reports 0.80 and 0.52
[0.8, 0.52]
"""

from __future__ import annotations

from dataclasses import dataclass
from math import lgamma

import numpy as np

from . import em
from ._core import log_normalise_rows
from ._validation import check_count, check_positive_float, check_responsibilities

__all__ = ["CoinResult", "e_step", "fit", "log_likelihood", "m_step"]


def _check_counts(heads, tosses):
    try:
        h_N = np.asarray(heads, dtype=np.float64)
        n_N = np.asarray(tosses, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("heads and tosses must be arrays of whole numbers") from None
    if h_N.ndim != 1 or h_N.shape != n_N.shape or h_N.size == 0:
        raise ValueError(f"heads and tosses must be 1-D arrays of the same length; got {h_N.shape} and {n_N.shape}")
    if (
        not (np.isfinite(h_N).all() and np.isfinite(n_N).all())
        or (h_N != np.round(h_N)).any()
        or (n_N != np.round(n_N)).any()
    ):
        raise ValueError("heads and tosses must be whole numbers")
    if (n_N < 1).any():
        raise ValueError("every set needs at least one toss (tosses >= 1)")
    if (h_N < 0).any() or (h_N > n_N).any():
        i = int(np.flatnonzero((h_N < 0) | (h_N > n_N))[0])
        raise ValueError(f"heads must lie between 0 and tosses; set {i} has {h_N[i]:g} heads in {n_N[i]:g} tosses")
    return h_N, n_N


def _check_theta(biases, weights):
    b_K = np.asarray(biases, dtype=np.float64)
    w_K = np.asarray(weights, dtype=np.float64)
    if b_K.ndim != 1 or w_K.shape != b_K.shape:
        raise ValueError("biases and weights must be 1-D arrays of the same length")
    if not ((b_K > 0) & (b_K < 1)).all():
        raise ValueError(f"biases must lie strictly between 0 and 1; got {b_K}")
    if (w_K < 0).any() or abs(w_K.sum() - 1) > 1e-8:
        raise ValueError(f"weights must be non-negative and sum to 1; got {w_K}")
    return b_K, w_K


def _log_binom_coef(h_N, n_N):
    return np.array([lgamma(n + 1) - lgamma(h + 1) - lgamma(n - h + 1) for h, n in zip(h_N, n_N, strict=True)])


def _log_joint(h_N, n_N, biases_K, weights_K, log_coef_N):
    with np.errstate(divide="ignore"):
        log_w_K = np.log(weights_K)
    return log_coef_N[:, None] + h_N[:, None] * np.log(biases_K) + (n_N - h_N)[:, None] * np.log1p(-biases_K) + log_w_K


def _e_step(h_N, n_N, log_coef_N, biases_K, weights_K):
    a_NK = _log_joint(h_N, n_N, biases_K, weights_K, log_coef_N)
    log_p_N = log_normalise_rows(a_NK)  # a_NK now holds the responsibilities
    return a_NK, float(log_p_N.sum())


# a bias of exactly 0 or 1 is a legitimate maximum (a coin that never showed tails), but its log is -inf
# and the next E-step would give 0 · (-inf): keep it a hair inside (0, 1)
BIAS_FLOOR = 1e-12


def _m_step(h_N, n_N, resp_NK):
    biases_K = (resp_NK.T @ h_N) / (resp_NK.T @ n_N)
    return np.clip(biases_K, BIAS_FLOOR, 1 - BIAS_FLOOR), resp_NK.mean(axis=0)


def e_step(heads, tosses, biases, weights):
    """Responsibilities r_ik = P(coin k | h_i) (N×K) and log p(h | θ)."""
    h_N, n_N = _check_counts(heads, tosses)
    b_K, w_K = _check_theta(biases, weights)
    return _e_step(h_N, n_N, _log_binom_coef(h_N, n_N), b_K, w_K)


def log_likelihood(heads, tosses, biases, weights) -> float:
    """log p(h | θ) = Σ_i log Σ_k λ_k Binom(h_i | n_i, θ_k)."""
    return e_step(heads, tosses, biases, weights)[1]


def m_step(heads, tosses, responsibilities):
    """θ_k = expected heads / expected tosses of coin k (kept within [1e-12, 1 - 1e-12]); λ_k = mean responsibility."""
    h_N, n_N = _check_counts(heads, tosses)
    resp_NK = check_responsibilities(responsibilities, h_N.shape[0])
    return _m_step(h_N, n_N, resp_NK)


@dataclass(kw_only=True)
class CoinResult(em.LikelihoodFit):
    """A fitted coin mixture: ``biases`` θ_k, ``weights`` λ_k, ``responsibilities`` P(coin k | h_i)."""

    biases: np.ndarray
    weights: np.ndarray
    responsibilities: np.ndarray


def fit(
    heads,
    tosses,
    *,
    init=(0.6, 0.5),
    weights=None,
    fixed_weights: bool = False,
    max_iter: int = 100,
    tol: float = 1e-10,
    record_params: bool = False,
) -> CoinResult:
    """Fit the biases (and, unless ``fixed_weights``, the weights) of a K-coin mixture by EM.

    init : the starting biases, one per coin (K = its length).
    weights : starting weights λ (default equal); with ``fixed_weights`` they stay put.
    tol : stop when the log-likelihood per set of tosses changes by less than ``tol``.
    """
    h_N, n_N = _check_counts(heads, tosses)
    biases0 = np.asarray(init, dtype=np.float64)
    K = biases0.size
    weights0 = np.full(K, 1.0 / K) if weights is None else np.asarray(weights, dtype=np.float64)
    biases0, weights0 = _check_theta(biases0, weights0)
    max_iter = check_count(max_iter, "max_iter", minimum=0)
    tol = check_positive_float(tol, "tol")
    log_coef_N = _log_binom_coef(h_N, n_N)

    def e(theta):
        return _e_step(h_N, n_N, log_coef_N, *theta)

    def m(resp_NK):
        biases_K, weights_K = _m_step(h_N, n_N, resp_NK)
        return biases_K, (weights0 if fixed_weights else weights_K)

    run = em.run(
        e, m, (biases0, weights0), n_points=h_N.shape[0], max_iter=max_iter, tol=tol, record_params=record_params,
        name="log-likelihood",
    )  # fmt: skip
    return CoinResult.from_run(run, biases=run.params[0], weights=run.params[1], responsibilities=run.expectations)
