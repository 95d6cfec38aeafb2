"""Hidden Markov models fitted by EM (Baum–Welch), one function per step of the derivation.

Notation (the course glossary): a sequence x_1, ..., x_T (rows of ``X``:
T×D for Gaussian emissions, T symbols in {0, ..., M-1} for categorical
ones), hidden states z_t ∈ {0, ..., K-1}, and θ = (π, A, emission
parameters)::

    π_k  = p(z_1 = k)                          start_K    (sums to 1)
    A_jk = p(z_{t+1} = k | z_t = j)            trans_KK   (each row sums to 1)
    b_t(k) = p(x_t | z_t = k)                  log_emission_TK holds log b_t(k)
             Gaussian:    N(x_t | μ_k, Σ_k)    means_KD, covariances_KDD (full)
             categorical: B_k,x_t              emission_probs_KM

E-step (at the current θᵗ; everything is computed **in logs**, so a long
sequence never underflows)::

    forward     log α_1(k) = log π_k + log b_1(k)                α_t(k) = p(x_1..x_t, z_t = k)
                log α_t(k) = log b_t(k) + log Σ_j α_{t-1}(j) A_jk
    backward    log β_T(j) = 0                                   β_t(j) = p(x_{t+1}..x_T | z_t = j)
                log β_t(j) = log Σ_k A_jk b_{t+1}(k) β_{t+1}(k)
    likelihood  log p(x) = log Σ_k α_T(k)
    posteriors  γ_t(k) = α_t(k) β_t(k) / p(x)                             = p(z_t = k | x)
                ξ_jk   = Σ_{t<T} α_t(j) A_jk b_{t+1}(k) β_{t+1}(k) / p(x)  = Σ_t p(z_t = j, z_{t+1} = k | x)

Each log Σ is a log-sum-exp: the largest term is taken out first (m), the
rest summed as a matrix product, exp(log α_{t-1} - m) @ A, and m added back.
(The *scaled* forward algorithm does the same with c_t = e^m; here the logs
are kept.)

M-step (Baum–Welch: θᵗ⁺¹ = argmax_θ Q(θ | θᵗ)), with S sequences and sums
over every time step of every sequence::

    π_k  = (1/S) Σ_s γ^s_1(k)                         update_start
    A_jk = ξ_jk / Σ_k' ξ_jk'                          update_transitions
    μ_k  = Σ_t γ_t(k) x_t / Σ_t γ_t(k)                update_means
    Σ_k  = Σ_t γ_t(k) (x_t-μ_k)(x_t-μ_k)ᵀ / Σ_t γ_t(k)   update_covariances  (+ reg_covar·I)
    B_km = Σ_t γ_t(k) [x_t = m] / Σ_t γ_t(k)          update_emission_probs

The Gaussian updates are the mixture's M-step (:mod:`emkit.gmm`) with γ in
place of the responsibilities. The fit runs on :func:`emkit.em.run`, so the
log-likelihood history never decreases (the driver warns if it does).

Several sequences are passed concatenated, with ``lengths`` giving the length
of each (as in hmmlearn); they share θ and are independent given it.

>>> import numpy as np
>>> from emkit import hmm
>>> truth = hmm.GaussianParams(
...     start=[0.5, 0.5], trans=[[0.95, 0.05], [0.1, 0.9]], means=[[-2.0], [2.0]], covariances=[[[1.0]], [[1.0]]]
... )
>>> X, states = hmm.sample(truth, 2000, seed=0)
>>> result = hmm.fit(X, 2, seed=0)
>>> order = np.argsort(result.params.means[:, 0])      # states come out in any order: lower mean first
>>> np.round(result.params.trans[np.ix_(order, order)], 2)
array([[0.95, 0.05],
       [0.1 , 0.9 ]])
>>> bool(np.all(np.diff(result.history["log_likelihood"]) >= 0))
True
>>> path, log_p = hmm.viterbi(X, result.params)        # the most probable path
>>> float(np.mean(np.argsort(order)[path] == states))  # how often it names the true state
0.9925
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import em
from ._core import LOG_2PI, row_blocks
from ._validation import check_count, check_positive_float, check_spd_stack

__all__ = [
    "EMISSIONS",
    "CategoricalParams",
    "CollapseError",
    "Emission",
    "GaussianParams",
    "HMMPosteriors",
    "HMMResult",
    "backward",
    "e_step",
    "fit",
    "forward",
    "log_emission",
    "log_likelihood",
    "m_step",
    "posteriors",
    "sample",
    "update_covariances",
    "update_emission_probs",
    "update_means",
    "update_start",
    "update_transitions",
    "viterbi",
]


# ---------------------------------------------------------------------------
# Parameters: checked once, when they are made
# ---------------------------------------------------------------------------


def _as_float_array(value, name: str, shape_hint: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers with shape {shape_hint}") from None
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def _check_probability_rows(P, name: str, shape: tuple) -> np.ndarray:
    """A (…, M) array of probabilities whose last axis sums to 1."""
    P = _as_float_array(P, name, str(shape))
    if P.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {P.shape}")
    if (P < 0).any():
        raise ValueError(f"{name} has negative entries: probabilities must be >= 0")
    sums = P.sum(axis=-1)
    bad = np.abs(sums - 1.0) > 1e-8
    if np.any(bad):
        where = "" if P.ndim == 1 else f"; row {int(np.flatnonzero(bad)[0])} sums to {sums[bad][0]:.10g}"
        raise ValueError(f"{name} must sum to 1 (over its last axis){where}")
    return P


def _check_start_trans(start, trans):
    trans = _as_float_array(trans, "trans", "(n_states, n_states)")
    if trans.ndim != 2 or trans.shape[0] != trans.shape[1] or trans.shape[0] == 0:
        raise ValueError(f"trans must be a square matrix (n_states, n_states); got shape {trans.shape}")
    K = trans.shape[0]
    return _check_probability_rows(start, "start", (K,)), _check_probability_rows(trans, "trans", (K, K))


@dataclass(frozen=True, eq=False)
class GaussianParams:
    """θ of an HMM with Gaussian emissions: ``start`` π (K,), ``trans`` A (K, K), ``means`` μ (K, D),
    ``covariances`` Σ (K, D, D), full.

    One-dimensional data may give ``means`` as (K,) and ``covariances`` as
    variances (K,); they are stored as (K, 1) and (K, 1, 1). Everything is
    checked here, once: probabilities non-negative and summing to 1, each Σ_k
    symmetric positive definite.
    """

    start: np.ndarray
    trans: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    emission = "gaussian"

    def __post_init__(self):
        start_K, trans_KK = _check_start_trans(self.start, self.trans)
        K = start_K.shape[0]
        means_KD = _as_float_array(self.means, "means", "(n_states, n_features)")
        if means_KD.ndim == 1:
            means_KD = means_KD[:, None]
        if means_KD.ndim != 2 or means_KD.shape[0] != K:
            raise ValueError(f"means must have shape ({K}, n_features) (one row per state); got {means_KD.shape}")
        D = means_KD.shape[1]
        cov_KDD = _as_float_array(self.covariances, "covariances", "(n_states, n_features, n_features)")
        if cov_KDD.ndim == 1 and D == 1:
            cov_KDD = cov_KDD[:, None, None]
        if cov_KDD.shape != (K, D, D):
            raise ValueError(f"covariances must have shape ({K}, {D}, {D}) (full, one per state); got {cov_KDD.shape}")
        check_spd_stack(cov_KDD, "covariances")
        for name, value in zip(
            ("start", "trans", "means", "covariances"), (start_K, trans_KK, means_KD, cov_KDD), strict=True
        ):
            object.__setattr__(self, name, value)

    @property
    def n_states(self) -> int:
        return self.start.shape[0]

    @property
    def n_features(self) -> int:
        return self.means.shape[1]


@dataclass(frozen=True, eq=False)
class CategoricalParams:
    """θ of an HMM with categorical emissions: ``start`` π (K,), ``trans`` A (K, K),
    ``emission_probs`` B (K, M) with B_km = p(x_t = m | z_t = k), each row summing to 1."""

    start: np.ndarray
    trans: np.ndarray
    emission_probs: np.ndarray
    emission = "categorical"

    def __post_init__(self):
        start_K, trans_KK = _check_start_trans(self.start, self.trans)
        K = start_K.shape[0]
        B = _as_float_array(self.emission_probs, "emission_probs", "(n_states, n_symbols)")
        if B.ndim != 2 or B.shape[0] != K or B.shape[1] == 0:
            raise ValueError(f"emission_probs must have shape ({K}, n_symbols); got {B.shape}")
        B_KM = _check_probability_rows(B, "emission_probs", B.shape)
        for name, value in zip(("start", "trans", "emission_probs"), (start_K, trans_KK, B_KM), strict=True):
            object.__setattr__(self, name, value)

    @property
    def n_states(self) -> int:
        return self.start.shape[0]

    @property
    def n_symbols(self) -> int:
        return self.emission_probs.shape[1]


def _check_params(params):
    if not isinstance(params, GaussianParams | CategoricalParams):
        raise TypeError(f"params must be hmm.GaussianParams or hmm.CategoricalParams; got {type(params).__name__}")
    return params


# ---------------------------------------------------------------------------
# Data: checked once, at the public door
# ---------------------------------------------------------------------------


def _check_gaussian_X(X, n_features: int | None = None) -> np.ndarray:
    """X as float (T, D); a 1-D series is one feature."""
    try:
        X_TD = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("X must be an array of numbers with shape (T, n_features) or (T,)") from None
    if X_TD.ndim == 1:
        X_TD = X_TD[:, None]
    if X_TD.ndim != 2 or X_TD.shape[0] == 0 or X_TD.shape[1] == 0:
        raise ValueError(f"X must be a non-empty array of shape (T, n_features) or (T,); got shape {np.shape(X)}")
    finite = np.isfinite(X_TD)
    if not finite.all():
        t, d = np.argwhere(~finite)[0]
        raise ValueError(f"X contains NaN or infinite values, the first at time {t}, feature {d}")
    if n_features is not None and X_TD.shape[1] != n_features:
        raise ValueError(f"X has {X_TD.shape[1]} feature(s) but the means have {n_features}")
    return np.ascontiguousarray(X_TD)


def _check_symbols(X, n_symbols: int | None = None) -> np.ndarray:
    """X as int (T,): symbols 0, ..., M-1."""
    try:
        x = np.asarray(X)
        x_T = x.astype(np.int64)
    except (TypeError, ValueError):
        raise TypeError("X must be a 1-D array of symbols 0, 1, ..., n_symbols - 1") from None
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ValueError("X contains NaN or infinite values; symbols must be whole numbers 0, ..., n_symbols - 1")
    if x.ndim == 2 and x.shape[1] == 1:  # hmmlearn's column of symbols
        x, x_T = x[:, 0], x_T[:, 0]
    if x_T.ndim != 1 or x_T.size == 0:
        raise ValueError(f"X must be a non-empty 1-D array of symbols; got shape {np.shape(X)}")
    if not np.array_equal(x_T, x):
        raise ValueError("X must hold whole numbers (symbols 0, 1, ..., n_symbols - 1)")
    if x_T.min() < 0 or (n_symbols is not None and x_T.max() >= n_symbols):
        bad = int(np.flatnonzero((x_T < 0) | (x_T >= (n_symbols or np.inf)))[0])
        upper = "" if n_symbols is None else f" (emission_probs has {n_symbols} columns)"
        raise ValueError(f"X[{bad}] = {x_T[bad]} is not a symbol 0, ..., n_symbols - 1{upper}")
    return x_T


def _check_lengths(lengths, T: int) -> np.ndarray:
    """The sequence lengths (S,), each >= 1, adding up to T; ``None`` means one sequence."""
    if lengths is None:
        return np.array([T])
    try:
        lengths_S = np.asarray(lengths)
        ok = lengths_S.ndim == 1 and lengths_S.size > 0 and np.issubdtype(lengths_S.dtype, np.integer)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise TypeError("lengths must be a non-empty 1-D array of whole numbers (one length per sequence)")
    if (lengths_S < 1).any():
        raise ValueError(f"every sequence needs at least one time step; lengths has {int(lengths_S.min())}")
    if lengths_S.sum() != T:
        raise ValueError(f"lengths must add up to the number of rows of X ({T}); they add up to {lengths_S.sum()}")
    return lengths_S.astype(np.int64)


def _sequences(lengths_S):
    """One slice of the concatenated rows per sequence."""
    ends = np.cumsum(lengths_S)
    return [slice(int(e - n), int(e)) for e, n in zip(ends, lengths_S, strict=True)]


# ---------------------------------------------------------------------------
# Emissions: one entry per kind, looked up once per call
# ---------------------------------------------------------------------------


def _gaussian_log_emission(X_TD, params: GaussianParams):
    """log N(x_t | μ_k, Σ_k) = -½ [D log 2π + log det Σ_k + ‖L_k⁻¹ (x_t - μ_k)‖²] with Σ_k = L_k L_kᵀ."""
    T, D = X_TD.shape
    L_KDD = np.linalg.cholesky(params.covariances)
    log_det_K = 2.0 * np.log(np.diagonal(L_KDD, axis1=1, axis2=2)).sum(axis=1)
    diff_KDT = (X_TD[None, :, :] - params.means[:, None, :]).transpose(0, 2, 1)
    y_KDT = np.linalg.solve(L_KDD, diff_KDT)  # L_k⁻¹ (x_t - μ_k) for every k and t
    return -0.5 * (D * LOG_2PI + log_det_K[None, :] + np.einsum("kdt,kdt->tk", y_KDT, y_KDT))


def _categorical_log_emission(x_T, params: CategoricalParams):
    """log B_k,x_t: column x_t of log B, for every t."""
    with np.errstate(divide="ignore"):  # a zero probability is allowed: log 0 = -inf
        return np.log(params.emission_probs).T[x_T]


def _gaussian_sample(params: GaussianParams, states_T, rng):
    L_KDD = np.linalg.cholesky(params.covariances)
    eps_TD = rng.standard_normal((states_T.shape[0], params.n_features))
    return params.means[states_T] + np.einsum("tij,tj->ti", L_KDD[states_T], eps_TD)


def _categorical_sample(params: CategoricalParams, states_T, rng):
    cdf_KM = np.cumsum(params.emission_probs, axis=1)
    u_T = rng.random(states_T.shape[0])
    return np.minimum((u_T[:, None] >= cdf_KM[states_T]).sum(axis=1), params.n_symbols - 1)


@dataclass(frozen=True)
class Emission:
    """What one kind of emission needs: its data check, log b_t(k), its M-step, its sampler.

    params : the parameter class (:class:`GaussianParams` or :class:`CategoricalParams`).
    check_X : (X, params or None) -> the checked data.
    log_emission : (checked X, params) -> log_emission_TK.
    update : (checked X, gamma_TK, reg_covar, n_symbols) -> the new emission parameters, by name (the M-step).
    sample : (params, states_T, rng) -> X.
    n_parameters : params -> the number of free emission parameters.
    """

    name: str
    params: type
    check_X: Callable
    log_emission: Callable
    update: Callable
    sample: Callable
    n_parameters: Callable


EMISSIONS: dict[str, Emission] = {
    "gaussian": Emission(
        name="gaussian",
        params=GaussianParams,
        check_X=lambda X, p: _check_gaussian_X(X, None if p is None else p.n_features),
        log_emission=_gaussian_log_emission,
        update=lambda X_TD, gamma_TK, reg_covar, M: _gaussian_update(X_TD, gamma_TK, reg_covar),
        sample=_gaussian_sample,
        n_parameters=lambda p: p.n_states * (p.n_features + p.n_features * (p.n_features + 1) // 2),
    ),
    "categorical": Emission(
        name="categorical",
        params=CategoricalParams,
        check_X=lambda X, p: _check_symbols(X, None if p is None else p.n_symbols),
        log_emission=_categorical_log_emission,
        update=lambda x_T, gamma_TK, reg_covar, M: {"emission_probs": _update_emission_probs(x_T, gamma_TK, M)},
        sample=_categorical_sample,
        n_parameters=lambda p: p.n_states * (p.n_symbols - 1),
    ),
}


def log_emission(X, params) -> np.ndarray:
    """log b_t(k) = log p(x_t | z_t = k) for every time t and state k: shape (T, K).

    Gaussian: log N(x_t | μ_k, Σ_k); categorical: log B_k,x_t.
    """
    params = _check_params(params)
    spec = EMISSIONS[params.emission]
    return spec.log_emission(spec.check_X(X, params), params)


# ---------------------------------------------------------------------------
# Forward, backward, posteriors (one sequence; in logs)
# ---------------------------------------------------------------------------


def _log(a):
    with np.errstate(divide="ignore"):  # a zero probability is allowed: log 0 = -inf
        return np.log(a)


def _forward(log_emission_TK, start_K, trans_KK):
    T, K = log_emission_TK.shape
    log_alpha_TK = np.empty((T, K))
    with np.errstate(divide="ignore"):  # a zero probability is allowed: log 0 = -inf
        log_alpha_TK[0] = np.log(start_K) + log_emission_TK[0]
        for t in range(1, T):  # the recursion over time; each step is one vector-matrix product over states
            m = log_alpha_TK[t - 1].max()
            log_alpha_TK[t] = log_emission_TK[t] + m + np.log(np.exp(log_alpha_TK[t - 1] - m) @ trans_KK)
    return log_alpha_TK


def _backward(log_emission_TK, trans_KK):
    T, K = log_emission_TK.shape
    log_beta_TK = np.empty((T, K))
    log_beta_TK[-1] = 0.0
    with np.errstate(divide="ignore"):
        for t in range(T - 2, -1, -1):
            v_K = log_emission_TK[t + 1] + log_beta_TK[t + 1]  # log b_{t+1}(k) + log β_{t+1}(k)
            m = v_K.max()
            log_beta_TK[t] = m + np.log(trans_KK @ np.exp(v_K - m))
    return log_beta_TK


def _log_sum(log_a_K) -> float:
    m = log_a_K.max()
    return float(m + np.log(np.exp(log_a_K - m).sum()))


def _posteriors(log_alpha_TK, log_beta_TK, log_emission_TK, trans_KK):
    log_px = _log_sum(log_alpha_TK[-1])
    gamma_TK = np.exp(log_alpha_TK + log_beta_TK - log_px)
    # ξ_t(j, k) for a cache-sized block of t at a time, summed over t
    log_trans_KK = _log(trans_KK)
    after_TK = log_emission_TK[1:] + log_beta_TK[1:]  # log b_{t+1}(k) + log β_{t+1}(k)
    xi_KK = np.zeros_like(trans_KK)
    K = trans_KK.shape[0]
    for rows in row_blocks(log_alpha_TK.shape[0] - 1, K * K):
        log_xi_BKK = log_alpha_TK[rows, :, None] + log_trans_KK[None] + after_TK[rows, None, :] - log_px
        xi_KK += np.exp(log_xi_BKK).sum(axis=0)
    return gamma_TK, xi_KK, log_px


def _check_log_emission(log_emission_TK) -> np.ndarray:
    a = np.asarray(log_emission_TK, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"log_emission_TK must be a non-empty (T, n_states) array; got shape {a.shape}")
    if np.isnan(a).any() or (a == np.inf).any():
        raise ValueError("log_emission_TK contains NaN or +inf (log-densities may be -inf, never NaN or +inf)")
    if np.isneginf(a).all(axis=1).any():
        t = int(np.flatnonzero(np.isneginf(a).all(axis=1))[0])
        raise ValueError(f"x_{t} (row {t}) has probability 0 under every state: log p(x) = -inf")
    return a


def _check_chain(start_K, trans_KK, K: int):
    start_K, trans_KK = _check_start_trans(start_K, trans_KK)
    if start_K.shape[0] != K:
        raise ValueError(f"log_emission_TK has {K} columns (states) but start_K has {start_K.shape[0]} entries")
    return start_K, trans_KK


def forward(log_emission_TK, start_K, trans_KK) -> np.ndarray:
    """The forward pass, in logs: log α_t(k) = log p(x_1, ..., x_t, z_t = k), shape (T, K).

    log α_1(k) = log π_k + log b_1(k);
    log α_t(k) = log b_t(k) + log Σ_j α_{t-1}(j) A_jk     (t = 2, ..., T).

    The log-likelihood of the sequence is log p(x) = log Σ_k α_T(k).
    """
    a_TK = _check_log_emission(log_emission_TK)
    return _forward(a_TK, *_check_chain(start_K, trans_KK, a_TK.shape[1]))


def backward(log_emission_TK, trans_KK) -> np.ndarray:
    """The backward pass, in logs: log β_t(j) = log p(x_{t+1}, ..., x_T | z_t = j), shape (T, K).

    log β_T(j) = 0;
    log β_t(j) = log Σ_k A_jk b_{t+1}(k) β_{t+1}(k)     (t = T-1, ..., 1).
    """
    a_TK = _check_log_emission(log_emission_TK)
    K = a_TK.shape[1]
    _, trans_KK = _check_chain(np.full(K, 1.0 / K), trans_KK, K)
    return _backward(a_TK, trans_KK)


def posteriors(log_alpha_TK, log_beta_TK, log_emission_TK, trans_KK):
    """State posteriors γ and summed pairwise posteriors ξ of one sequence, and log p(x).

    γ_t(k) = α_t(k) β_t(k) / p(x) = p(z_t = k | x)                     gamma_TK, rows sum to 1
    ξ_jk   = Σ_{t=1}^{T-1} α_t(j) A_jk b_{t+1}(k) β_{t+1}(k) / p(x)    xi_KK, sums to T - 1
           = Σ_t p(z_t = j, z_{t+1} = k | x)
    p(x)   = Σ_k α_T(k)

    Returns ``(gamma_TK, xi_KK, log_likelihood)``.
    """
    a_TK = _check_log_emission(log_emission_TK)
    K = a_TK.shape[1]
    _, trans_KK = _check_chain(np.full(K, 1.0 / K), trans_KK, K)
    alpha = np.asarray(log_alpha_TK, dtype=np.float64)
    beta = np.asarray(log_beta_TK, dtype=np.float64)
    for name, arr in (("log_alpha_TK", alpha), ("log_beta_TK", beta)):
        if arr.shape != a_TK.shape:
            raise ValueError(f"{name} must have the shape of log_emission_TK, {a_TK.shape}; got {arr.shape}")
        if np.isnan(arr).any():
            raise ValueError(f"{name} contains NaN")
    return _posteriors(alpha, beta, a_TK, trans_KK)


# ---------------------------------------------------------------------------
# E-step, M-step (all sequences)
# ---------------------------------------------------------------------------


@dataclass(kw_only=True)
class HMMPosteriors:
    """What the E-step hands to the M-step (the expected sufficient statistics of Baum–Welch).

    gamma_TK : γ_t(k) for every time step of every sequence (concatenated).
    xi_KK : ξ_jk summed over time and sequences (expected number of j → k transitions).
    first_K : Σ_s γ^s_1(k), the state posteriors at the start of each sequence, summed.
    log_likelihood_S : log p(x^s | θ) of each sequence.
    """

    gamma_TK: np.ndarray
    xi_KK: np.ndarray
    first_K: np.ndarray
    log_likelihood_S: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _e_step(data, lengths_S, params):
    log_emission_TK = EMISSIONS[params.emission].log_emission(data, params)
    K = params.n_states
    gamma_TK = np.empty_like(log_emission_TK)
    xi_KK, first_K = np.zeros((K, K)), np.zeros(K)
    ll_S = np.empty(lengths_S.shape[0])
    for s, rows in enumerate(_sequences(lengths_S)):  # a loop over sequences
        b_TK = log_emission_TK[rows]
        log_alpha_TK = _forward(b_TK, params.start, params.trans)
        if not np.isfinite(_log_sum(log_alpha_TK[-1])):
            raise ValueError(
                f"sequence {s} has probability 0 under these parameters (a symbol no reachable state emits, "
                "or a transition of probability 0 that the data need): log p(x) = -inf"
            )
        log_beta_TK = _backward(b_TK, params.trans)
        gamma_TK[rows], xi_s_KK, ll_S[s] = _posteriors(log_alpha_TK, log_beta_TK, b_TK, params.trans)
        xi_KK += xi_s_KK
        first_K += gamma_TK[rows.start]
    post = HMMPosteriors(gamma_TK=gamma_TK, xi_KK=xi_KK, first_K=first_K, log_likelihood_S=ll_S)
    return post, float(ll_S.sum())


def e_step(X, params, lengths=None):
    """The E-step: forward, backward and posteriors for every sequence.

    Returns ``(posteriors, log_likelihood)``: an :class:`HMMPosteriors`
    (γ, the summed ξ, the summed γ_1) and log p(X | θ) = Σ_s log p(x^s | θ).
    """
    params = _check_params(params)
    data = EMISSIONS[params.emission].check_X(X, params)
    return _e_step(data, _check_lengths(lengths, data.shape[0]), params)


def log_likelihood(X, params, lengths=None) -> float:
    """log p(X | θ) = Σ_s log Σ_k α^s_T(k), by the forward pass."""
    params = _check_params(params)
    data = EMISSIONS[params.emission].check_X(X, params)
    lengths_S = _check_lengths(lengths, data.shape[0])
    log_emission_TK = EMISSIONS[params.emission].log_emission(data, params)
    return sum(
        _log_sum(_forward(log_emission_TK[rows], params.start, params.trans)[-1]) for rows in _sequences(lengths_S)
    )


class CollapseError(ValueError):
    """A state collapsed: no expected time spent in it, or a singular covariance."""


COLLAPSE_ADVICE = "Try fewer states, reg_covar > 0, another initialisation or seed, or restarts (n_init > 1)."


def _check_gamma(gamma, T: int, name: str = "gamma_TK") -> np.ndarray:
    """State posteriors (T, K): non-negative, each row summing to 1."""
    try:
        gamma_TK = np.asarray(gamma, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers with shape (T, n_states)") from None
    if gamma_TK.ndim != 2 or gamma_TK.shape[0] != T:
        raise ValueError(
            f"{name} must have shape (T, n_states) with T = {T} (one row per time step); got {gamma_TK.shape}"
        )
    if not np.isfinite(gamma_TK).all() or (gamma_TK < 0).any():
        raise ValueError(f"{name} must be finite and non-negative")
    if np.abs(gamma_TK.sum(axis=1) - 1.0).max() > 1e-8:
        raise ValueError(f"the rows of {name} must sum to 1 (each is p(z_t | x), a distribution over states)")
    return gamma_TK


def _check_counts_matrix(a, name: str, shape: tuple) -> np.ndarray:
    a = _as_float_array(a, name, str(shape))
    if a.shape != shape:
        raise ValueError(f"{name} must have shape {shape}; got {a.shape}")
    if (a < 0).any():
        raise ValueError(f"{name} must be non-negative (expected counts)")
    return a


def _update_start(first_K):
    return first_K / first_K.sum()


def _update_transitions(xi_KK):
    out_K1 = xi_KK.sum(axis=1, keepdims=True)
    K = xi_KK.shape[0]
    return np.where(out_K1 > 0, xi_KK / np.where(out_K1 > 0, out_K1, 1.0), 1.0 / K)


def _counts(gamma_TK):
    """N_k = Σ_t γ_t(k), the expected time spent in each state; raise if one is (numerically) empty."""
    N_K = gamma_TK.sum(axis=0)
    empty = np.flatnonzero(N_K <= 10 * np.finfo(float).eps * gamma_TK.shape[0])
    if empty.size:
        k = int(empty[0])
        raise CollapseError(f"state {k} collapsed: its expected time Σ_t γ_t(k) is {N_K[k]:.3g}. {COLLAPSE_ADVICE}")
    return N_K


def _update_means(X_TD, gamma_TK):
    return (gamma_TK.T @ X_TD) / _counts(gamma_TK)[:, None]


def _update_covariances(X_TD, gamma_TK, means_KD, reg_covar):
    diff_TKD = X_TD[:, None, :] - means_KD[None, :, :]
    scatter_KDD = np.einsum("tk,tkd,tke->kde", gamma_TK, diff_TKD, diff_TKD)
    cov_KDD = scatter_KDD / _counts(gamma_TK)[:, None, None]
    cov_KDD = 0.5 * (cov_KDD + cov_KDD.transpose(0, 2, 1)) + reg_covar * np.eye(X_TD.shape[1])
    for k, S_DD in enumerate(cov_KDD):  # a loop over states: the collapse check
        try:
            np.linalg.cholesky(S_DD)
        except np.linalg.LinAlgError:
            raise CollapseError(
                f"state {k} collapsed: its covariance is singular (its points lie on a lower-dimensional set, "
                f"often a single value; reg_covar = {reg_covar:g}). {COLLAPSE_ADVICE}"
            ) from None
    return cov_KDD


def _update_emission_probs(x_T, gamma_TK, n_symbols):
    one_hot_TM = np.eye(n_symbols)[x_T]
    return (gamma_TK.T @ one_hot_TM) / _counts(gamma_TK)[:, None]


def update_start(first_K) -> np.ndarray:
    """π_k = (1/S) Σ_s γ^s_1(k): the average posterior of the first state (``first_K`` = Σ_s γ^s_1, shape K)."""
    first_K = _as_float_array(first_K, "first_K", "(n_states,)")
    if first_K.ndim != 1 or (first_K < 0).any() or first_K.sum() <= 0:
        raise ValueError("first_K must be a 1-D array of non-negative numbers with a positive sum")
    return _update_start(first_K)


def update_transitions(xi_KK) -> np.ndarray:
    """A_jk = ξ_jk / Σ_k' ξ_jk': expected j → k transitions over expected transitions out of j.

    A state that is never left in expectation (a zero row of ξ, possible only
    when it is occupied only at the end of each sequence) gets a uniform
    row: Q does not depend on that row, so any row maximises it.
    """
    xi = _as_float_array(xi_KK, "xi_KK", "(n_states, n_states)")
    K = xi.shape[0] if xi.ndim == 2 else -1
    return _update_transitions(_check_counts_matrix(xi, "xi_KK", (K, K)))


def update_means(X, gamma_TK) -> np.ndarray:
    """μ_k = Σ_t γ_t(k) x_t / Σ_t γ_t(k): the posterior-weighted average of the data, shape (K, D)."""
    X_TD = _check_gaussian_X(X)
    return _update_means(X_TD, _check_gamma(gamma_TK, X_TD.shape[0]))


def update_covariances(X, gamma_TK, means_KD, reg_covar: float = 0.0) -> np.ndarray:
    """Σ_k = Σ_t γ_t(k) (x_t - μ_k)(x_t - μ_k)ᵀ / Σ_t γ_t(k) + reg_covar·I, shape (K, D, D).

    ``means_KD`` are the *new* means, from :func:`update_means` of the same
    M-step. Raises :class:`CollapseError` if a Σ_k is singular.
    """
    X_TD = _check_gaussian_X(X)
    gamma_TK = _check_gamma(gamma_TK, X_TD.shape[0])
    means_KD = _as_float_array(means_KD, "means_KD", "(n_states, n_features)")
    if means_KD.shape != (gamma_TK.shape[1], X_TD.shape[1]):
        raise ValueError(f"means_KD must have shape {(gamma_TK.shape[1], X_TD.shape[1])}; got {means_KD.shape}")
    return _update_covariances(X_TD, gamma_TK, means_KD, check_positive_float(reg_covar, "reg_covar"))


def update_emission_probs(X, gamma_TK, n_symbols: int) -> np.ndarray:
    """B_km = Σ_t γ_t(k) [x_t = m] / Σ_t γ_t(k): expected emissions of m in state k over time in k, (K, M)."""
    M = check_count(n_symbols, "n_symbols")
    x_T = _check_symbols(X, M)
    return _update_emission_probs(x_T, _check_gamma(gamma_TK, x_T.shape[0]), M)


def _gaussian_update(X_TD, gamma_TK, reg_covar):
    means_KD = _update_means(X_TD, gamma_TK)
    return {"means": means_KD, "covariances": _update_covariances(X_TD, gamma_TK, means_KD, reg_covar)}


def _m_step(data, post: HMMPosteriors, emission: str, reg_covar: float, n_symbols: int | None):
    spec = EMISSIONS[emission]
    return spec.params(
        start=_update_start(post.first_K),
        trans=_update_transitions(post.xi_KK),
        **spec.update(data, post.gamma_TK, reg_covar, n_symbols),
    )


def m_step(X, posteriors, emission: str = "gaussian", *, n_symbols: int | None = None, reg_covar: float = 0.0):
    """The M-step (Baum–Welch): θᵗ⁺¹ = argmax_θ Q(θ | θᵗ) from the E-step's :class:`HMMPosteriors`.

    π from the summed γ_1 (:func:`update_start`), A from ξ
    (:func:`update_transitions`), and the emission parameters from γ
    (:func:`update_means` and :func:`update_covariances`, or
    :func:`update_emission_probs`, which needs ``n_symbols`` M, default
    the largest symbol + 1). Several sequences need nothing more: their
    statistics are already summed. Returns new parameters.
    """
    if emission not in EMISSIONS:
        raise ValueError(f"emission must be one of {', '.join(map(repr, EMISSIONS))}; got {emission!r}")
    if not isinstance(posteriors, HMMPosteriors):
        raise TypeError(f"posteriors must be the HMMPosteriors that e_step returns; got {type(posteriors).__name__}")
    data = EMISSIONS[emission].check_X(X, None)
    gamma_TK = _check_gamma(posteriors.gamma_TK, data.shape[0], "posteriors.gamma_TK")
    K = gamma_TK.shape[1]
    post = HMMPosteriors(
        gamma_TK=gamma_TK,
        xi_KK=_check_counts_matrix(posteriors.xi_KK, "posteriors.xi_KK", (K, K)),
        first_K=_check_counts_matrix(posteriors.first_K, "posteriors.first_K", (K,)),
    )
    if emission == "categorical":
        n_symbols = int(data.max()) + 1 if n_symbols is None else check_count(n_symbols, "n_symbols")
        data = _check_symbols(data, n_symbols)
    return _m_step(data, post, emission, check_positive_float(reg_covar, "reg_covar"), n_symbols)


# ---------------------------------------------------------------------------
# Viterbi, sampling
# ---------------------------------------------------------------------------


def _viterbi(log_emission_TK, start_K, trans_KK):
    """The most probable path z* = argmax_z p(z | x) and log p(x, z*), by max-product in logs."""
    T, K = log_emission_TK.shape
    log_trans_KK = _log(trans_KK)
    back_TK = np.zeros((T, K), dtype=np.int64)  # ψ_t(k): the best previous state j
    log_delta_K = _log(start_K) + log_emission_TK[0]  # log δ_1(k)
    for t in range(1, T):
        scores_KK = log_delta_K[:, None] + log_trans_KK  # log δ_{t-1}(j) + log A_jk
        back_TK[t] = scores_KK.argmax(axis=0)
        log_delta_K = log_emission_TK[t] + scores_KK.max(axis=0)
    path_T = np.empty(T, dtype=np.int64)
    path_T[-1] = int(log_delta_K.argmax())
    for t in range(T - 1, 0, -1):  # backtrack
        path_T[t - 1] = back_TK[t, path_T[t]]
    return path_T, float(log_delta_K.max())


def viterbi(X, params, lengths=None):
    """The most probable state path of each sequence (Viterbi), and its log-probability.

    log δ_1(k) = log π_k + log b_1(k)
    log δ_t(k) = log b_t(k) + max_j [log δ_{t-1}(j) + log A_jk],   ψ_t(k) = that argmax j
    z*_T = argmax_k δ_T(k),  z*_t = ψ_{t+1}(z*_{t+1})

    Returns ``(states_T, log_prob)``: the paths of all sequences concatenated
    and Σ_s log p(x^s, z^s* | θ). Ties go to the lowest state index.
    """
    params = _check_params(params)
    spec = EMISSIONS[params.emission]
    data = spec.check_X(X, params)
    lengths_S = _check_lengths(lengths, data.shape[0])
    log_emission_TK = spec.log_emission(data, params)
    states_T = np.empty(data.shape[0], dtype=np.int64)
    total = 0.0
    for rows in _sequences(lengths_S):
        states_T[rows], log_p = _viterbi(log_emission_TK[rows], params.start, params.trans)
        total += log_p
    return states_T, total


def sample(params, T: int, seed=None):
    """Draw one sequence of length T: z_1 ~ π, z_t ~ A[z_{t-1}], x_t ~ p(x | z_t).

    Returns ``(X, states_T)``: X is (T, D) floats for Gaussian emissions and
    (T,) symbols for categorical ones. ``seed``: an int, ``None`` or a
    ``numpy.random.Generator``.
    """
    params = _check_params(params)
    T = check_count(T, "T")
    rng = np.random.default_rng(seed)
    cdf_KK = np.cumsum(params.trans, axis=1)
    u_T = rng.random(T)
    states_T = np.empty(T, dtype=np.int64)
    states_T[0] = min(int(np.searchsorted(np.cumsum(params.start), u_T[0], side="right")), params.n_states - 1)
    for t in range(1, T):  # a Markov chain: each state depends on the previous one
        states_T[t] = min(int(np.searchsorted(cdf_KK[states_T[t - 1]], u_T[t], side="right")), params.n_states - 1)
    return EMISSIONS[params.emission].sample(params, states_T, rng), states_T


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------


@dataclass(kw_only=True)
class HMMResult(em.LikelihoodFit):
    """A fitted HMM.

    ``params`` θ̂ (:class:`GaussianParams` or :class:`CategoricalParams`);
    ``gamma`` the state posteriors γ_t(k) at θ̂ (T, K); ``lengths`` the
    sequence lengths. ``history["log_likelihood"]`` holds log p(X | θᵗ) for
    t = 0, ..., n_iter (never decreasing) and, with ``record_params``,
    ``history["params"]`` the matching θᵗ.
    """

    params: GaussianParams | CategoricalParams
    gamma: np.ndarray
    lengths: np.ndarray

    @property
    def states(self) -> np.ndarray:
        """The most probable state at each time on its own, argmax_k γ_t(k) (not the Viterbi path)."""
        return self.gamma.argmax(axis=1)

    @property
    def n_parameters(self) -> int:
        """Free parameters: K - 1 start, K(K - 1) transition, and the emission parameters."""
        K = self.params.n_states
        return (K - 1) + K * (K - 1) + EMISSIONS[self.params.emission].n_parameters(self.params)

    @property
    def bic(self) -> float:
        """Bayesian information criterion, −2 ℓ(θ̂) + d_θ log T, d_θ the free parameters (lower is better)."""
        return -2.0 * self.log_likelihood + self.n_parameters * np.log(self.gamma.shape[0])


def _initial_params(data, K, init, emission, reg_covar, n_symbols, rng):
    """θ⁰: uniform start and transitions; Gaussian means from k-means ('kmeans') or K distinct
    time points ('random') with the data's covariance for every state; categorical emission
    probabilities drawn from a flat Dirichlet."""
    if not isinstance(init, str):
        if not isinstance(init, GaussianParams | CategoricalParams) or init.emission != emission:
            raise TypeError(f"init must be 'kmeans', 'random' or hmm.{type(init).__name__} for emission={emission!r}")
        if init.n_states != K:
            raise ValueError(f"init has {init.n_states} states but n_states is {K}")
        EMISSIONS[emission].check_X(data, init)
        return init
    if init not in ("kmeans", "random"):
        raise ValueError(f"init must be 'kmeans', 'random' or a GaussianParams / CategoricalParams; got {init!r}")
    start_K, trans_KK = np.full(K, 1.0 / K), np.full((K, K), 1.0 / K)
    if emission == "categorical":
        B_KM = rng.dirichlet(np.ones(n_symbols), size=K)
        return CategoricalParams(start=start_K, trans=trans_KK, emission_probs=B_KM)
    from . import kmeans  # local import: only the Gaussian initialisation needs it

    if init == "kmeans":
        means_KD = kmeans.fit(data, K, seed=rng).centers
    else:
        means_KD = kmeans.fit(data, K, init="random", seed=rng, max_iter=1).centers  # K distinct data points
    D = data.shape[1]
    cov_DD = np.atleast_2d(np.cov(data, rowvar=False, bias=True)) + max(reg_covar, 1e-6 * np.var(data)) * np.eye(D)
    return GaussianParams(start=start_K, trans=trans_KK, means=means_KD, covariances=np.stack([cov_DD] * K))


def fit(
    X,
    n_states: int,
    *,
    emission: str = "gaussian",
    lengths=None,
    n_symbols: int | None = None,
    init="kmeans",
    max_iter: int = 100,
    tol: float = 1e-6,
    reg_covar: float = 1e-6,
    seed=None,
    n_init: int = 1,
    record_params: bool = False,
) -> HMMResult:
    """Fit a K-state HMM by EM (Baum–Welch) on :func:`emkit.em.run`.

    Parameters
    ----------
    X : (T, D) or (T,) floats (``emission='gaussian'``), or (T,) symbols
        0, ..., M-1 (``emission='categorical'``); several sequences concatenated.
    n_states : K.
    emission : 'gaussian' (full covariances) or 'categorical'.
    lengths : the length of each sequence (default: one sequence).
    n_symbols : M for categorical emissions (default: the largest symbol + 1).
    init : 'kmeans' or 'random' (see below), or starting parameters
        (:class:`GaussianParams` / :class:`CategoricalParams`). The random
        starts use uniform π and A; Gaussian means come from k-means
        ('kmeans') or are K distinct data points ('random'), every Σ_k the
        data's covariance; categorical B rows are drawn from a flat Dirichlet.
    max_iter, tol : stop after ``max_iter`` iterations or when log p(X | θ)
        changes by less than ``tol`` per time step (the driver's rule).
    reg_covar : added to the diagonal of each Σ_k (a floor against a state
        collapsing onto one value); 0 gives the exact Baum–Welch update.
    seed : an int, ``None`` or a ``numpy.random.Generator``.
    n_init : restarts from random starts; the highest final log-likelihood wins.
    record_params : keep every θᵗ in ``history["params"]``.
    """
    if emission not in EMISSIONS:
        raise ValueError(f"emission must be one of {', '.join(map(repr, EMISSIONS))}; got {emission!r}")
    K = check_count(n_states, "n_states")
    data = EMISSIONS[emission].check_X(X, None)
    T = data.shape[0]
    lengths_S = _check_lengths(lengths, T)
    if K > T:
        raise ValueError(f"n_states={K} is larger than the number of time steps ({T})")
    if emission == "categorical":
        if isinstance(init, CategoricalParams):
            if n_symbols is not None and n_symbols != init.n_symbols:
                raise ValueError(f"n_symbols={n_symbols} but init.emission_probs has {init.n_symbols} columns")
            n_symbols = init.n_symbols
        n_symbols = int(data.max()) + 1 if n_symbols is None else check_count(n_symbols, "n_symbols")
        data = _check_symbols(data, n_symbols)
    max_iter = check_count(max_iter, "max_iter", minimum=0)
    tol = check_positive_float(tol, "tol")
    reg_covar = check_positive_float(reg_covar, "reg_covar")
    n_init = check_count(n_init, "n_init")
    if n_init > 1 and not isinstance(init, str):
        raise ValueError("n_init > 1 needs a random init ('kmeans' or 'random'), not fixed parameters")
    rng = np.random.default_rng(seed)

    def e(params):
        return _e_step(data, lengths_S, params)

    def m(post):
        return _m_step(data, post, emission, reg_covar, n_symbols)

    def once():
        theta0 = _initial_params(data, K, init, emission, reg_covar, n_symbols, rng)
        return em.run(
            e, m, theta0, n_points=T, max_iter=max_iter, tol=tol, record_params=record_params,
            decrease_rtol=1e-10 + reg_covar, name="log-likelihood",
        )  # fmt: skip

    run = em.best_of(n_init, once, lambda r: r.objective)
    history = {"log_likelihood": run.history["objective"]}
    if record_params:
        history["params"] = run.history["params"]
    return HMMResult(
        n_iter=run.n_iter, converged=run.converged, log_likelihood=run.objective, history=history,
        params=run.params, gamma=run.expectations.gamma_TK, lengths=lengths_S,
    )  # fmt: skip
