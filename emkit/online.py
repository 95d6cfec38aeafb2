"""EM that does not revisit every point each iteration: incremental EM and online EM (1-D Gaussian mixtures).

Both work on the mixture's **expected sufficient statistics**. For a 1-D
Gaussian mixture with responsibilities r_ik (``resp_NK``)::

    s0_k = Σ_i r_ik,   s1_k = Σ_i r_ik x_i,   s2_k = Σ_i r_ik x_i²        expected_statistics

and the M-step is a function of these alone (:func:`params_from_statistics`)::

    π_k = s0_k / Σ_j s0_j,   μ_k = s1_k / s0_k,   σ²_k = s2_k / s0_k - μ_k²

**Incremental EM** (Neal & Hinton 1998) keeps every point's r_i and the
totals s. Each step redoes the E-step for one block of points only, updates
the totals by the block's change (new minus old contribution), and takes a
full M-step. It is coordinate ascent on the negative free energy (the ELBO)::

    F(q, θ) = Σ_i Σ_k r_ik [log π_k + log N(x_i | μ_k, σ²_k) - log r_ik]  ≤  ℓ(θ)      free_energy

The partial E-step raises F (block b's q becomes its posterior, the
others are unchanged) and the M-step raises F, so **F never decreases**; but
the other points' q are stale, so ℓ(θ) = log p(x | θ) **can** decrease.
(Generalised EM, a full E-step with a partial M-step, is what keeps ℓ
monotone.) Its fixed points are those of batch EM.

**Online EM** (Cappé & Moulines 2009, J. R. Stat. Soc. B 71:593–613) sees
each point once, in a stream. It is stochastic approximation on the
statistics, averaged per point, with decreasing step sizes::

    γ_t = (t + t0)^(-α),   0.5 < α ≤ 1                                     step_sizes
    ŝ_t = ŝ_{t-1} + γ_t (s̄(x_t; θ_{t-1}) - ŝ_{t-1})     s̄(x; θ) = (r_k, r_k x, r_k x²)
    θ_t = params_from_statistics(ŝ_t)                   (after a short burn-in)

Σ γ_t = ∞ lets it travel any distance; Σ γ_t² < ∞ (α > 0.5) averages the
noise away. With α < 1, the running average of θ_t over the second half
(Polyak–Ruppert) is as efficient as the batch MLE.

>>> import numpy as np
>>> from emkit import online
>>> rng = np.random.default_rng(0)
>>> x = np.where(rng.random(400) < 0.4, 2.0, -1.0) + rng.normal(size=400)
>>> result = online.incremental_em(x, [0.5, 0.5], [-0.5, 0.5], [1.0, 1.0], block_size=20, seed=0)
>>> F = np.array(result.history["free_energy"])
>>> bool(np.all(np.diff(F) >= -1e-9)), result.converged
(True, True)
>>> np.round(result.means, 3)
array([-0.963,  2.061])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._core import LOG_2PI, log_normalise_rows
from ._validation import check_count, check_positive_float, check_weights
from .em import FitResult

__all__ = [
    "IncrementalResult",
    "OnlineResult",
    "expected_statistics",
    "free_energy",
    "incremental_em",
    "log_likelihood",
    "online_em",
    "params_from_statistics",
    "responsibilities",
    "step_sizes",
]


# ---------------------------------------------------------------------------
# Checks at the door
# ---------------------------------------------------------------------------


def _check_x(x, name: str = "x") -> np.ndarray:
    try:
        x_N = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of numbers") from None
    if x_N.ndim == 2 and x_N.shape[1] == 1:
        x_N = x_N[:, 0]
    if x_N.ndim != 1 or x_N.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array (one number per point); got shape {np.shape(x)}")
    if not np.isfinite(x_N).all():
        i = int(np.flatnonzero(~np.isfinite(x_N))[0])
        raise ValueError(f"{name} contains NaN or infinite values, the first at index {i}")
    return x_N


def _check_theta(weights, means, variances):
    try:
        means_K = np.asarray(means, dtype=np.float64).reshape(-1)
        variances_K = np.asarray(variances, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError("means and variances must be 1-D arrays of numbers, one per component") from None
    K = means_K.size
    weights_K = check_weights(weights, K)
    if variances_K.size != K:
        raise ValueError(f"variances has {variances_K.size} entries but there are {K} components")
    if not np.isfinite(means_K).all():
        raise ValueError("means contains NaN or infinite values")
    if not (np.isfinite(variances_K).all() and (variances_K > 0).all()):
        raise ValueError(f"variances must be finite and > 0; got {variances_K}")
    return weights_K, means_K, variances_K


def _check_resp(resp, N: int, K: int) -> np.ndarray:
    resp_NK = np.asarray(resp, dtype=np.float64)
    if resp_NK.shape != (N, K):
        raise ValueError(f"responsibilities must have shape ({N}, {K}); got {resp_NK.shape}")
    if not np.isfinite(resp_NK).all() or (resp_NK < 0).any() or np.abs(resp_NK.sum(axis=1) - 1).max() > 1e-8:
        raise ValueError("responsibilities must be non-negative with rows summing to 1")
    return resp_NK


# ---------------------------------------------------------------------------
# The steps
# ---------------------------------------------------------------------------


def _log_joint(x_N, weights_K, means_K, variances_K):
    """a_ik = log π_k + log N(x_i | μ_k, σ²_k)."""
    with np.errstate(divide="ignore"):
        log_w_K = np.log(weights_K)
    return log_w_K - 0.5 * (LOG_2PI + np.log(variances_K) + (x_N[:, None] - means_K) ** 2 / variances_K)


def _responsibilities(x_N, weights_K, means_K, variances_K):
    a_NK = _log_joint(x_N, weights_K, means_K, variances_K)
    log_px_N = log_normalise_rows(a_NK)  # a_NK now holds r_ik
    return a_NK, log_px_N


def _statistics(x_N, resp_NK):
    return resp_NK.sum(axis=0), resp_NK.T @ x_N, resp_NK.T @ (x_N * x_N)


def _params(s0_K, s1_K, s2_K):
    means_K = s1_K / s0_K
    return s0_K / s0_K.sum(), means_K, s2_K / s0_K - means_K**2


def _free_energy(x_N, resp_NK, weights_K, means_K, variances_K):
    a_NK = _log_joint(x_N, weights_K, means_K, variances_K)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms_NK = np.where(resp_NK > 0, resp_NK * (a_NK - np.log(resp_NK)), 0.0)
    return float(terms_NK.sum())


def _log_likelihood(x_N, weights_K, means_K, variances_K):
    return float(_responsibilities(x_N, weights_K, means_K, variances_K)[1].sum())


def responsibilities(x, weights, means, variances):
    """The E-step: r_ik = π_k N(x_i | μ_k, σ²_k) / Σ_j π_j N(x_i | μ_j, σ²_j), shape (N, K), and log p(x | θ)."""
    x_N = _check_x(x)
    resp_NK, log_px_N = _responsibilities(x_N, *_check_theta(weights, means, variances))
    return resp_NK, float(log_px_N.sum())


def log_likelihood(x, weights, means, variances) -> float:
    """ℓ(θ) = Σ_i log Σ_k π_k N(x_i | μ_k, σ²_k)."""
    return responsibilities(x, weights, means, variances)[1]


def expected_statistics(x, resp):
    """The expected sufficient statistics (s0_K, s1_K, s2_K) = (Σ_i r_ik, Σ_i r_ik x_i, Σ_i r_ik x_i²)."""
    x_N = _check_x(x)
    resp_NK = np.asarray(resp, dtype=np.float64)
    resp_NK = _check_resp(resp_NK, x_N.size, resp_NK.shape[1] if resp_NK.ndim == 2 else -1)
    return _statistics(x_N, resp_NK)


def params_from_statistics(s0, s1, s2):
    """The M-step from the statistics alone: π_k = s0_k/Σ_j s0_j, μ_k = s1_k/s0_k, σ²_k = s2_k/s0_k - μ_k².

    Sums or per-point averages give the same θ. Returns (weights, means, variances).
    """
    try:
        s0_K, s1_K, s2_K = (np.asarray(s, dtype=np.float64).reshape(-1) for s in (s0, s1, s2))
    except (TypeError, ValueError):
        raise TypeError("s0, s1 and s2 must be 1-D arrays of numbers") from None
    if not (s0_K.shape == s1_K.shape == s2_K.shape) or not np.isfinite(np.concatenate([s0_K, s1_K, s2_K])).all():
        raise ValueError("s0, s1 and s2 must be finite 1-D arrays of the same length (one entry per component)")
    if (s0_K <= 0).any():
        raise ValueError(f"every s0_k (expected count) must be > 0; got {s0_K}: a component has no points")
    weights_K, means_K, variances_K = _params(s0_K, s1_K, s2_K)
    if (variances_K <= 0).any():
        raise ValueError(f"the statistics give a variance <= 0 ({variances_K}): s2_k/s0_k must exceed (s1_k/s0_k)²")
    return weights_K, means_K, variances_K


def free_energy(x, resp, weights, means, variances) -> float:
    """F(q, θ) = Σ_i Σ_k r_ik [log π_k + log N(x_i | μ_k, σ²_k) - log r_ik] ≤ ℓ(θ) (the ELBO; 0 log 0 = 0).

    Equal to ℓ(θ) exactly when every r_i is the posterior under θ.
    """
    x_N = _check_x(x)
    theta = _check_theta(weights, means, variances)
    return _free_energy(x_N, _check_resp(resp, x_N.size, theta[0].size), *theta)


# ---------------------------------------------------------------------------
# Incremental EM
# ---------------------------------------------------------------------------


@dataclass(kw_only=True)
class IncrementalResult(FitResult):
    """Incremental EM's result.

    weights, means, variances : θ after the last M-step.
    responsibilities : the stored q (each block's from its last partial E-step).
    free_energy, log_likelihood : F(q, θ) and ℓ(θ) at the end.
    n_iter : block steps taken (one partial E-step and one M-step each).
    history : ``"free_energy"`` and ``"log_likelihood"`` before the first step (equal: q is the
        posterior at θ⁰) and after every step; F never decreases, ℓ may.
    """

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    responsibilities: np.ndarray
    free_energy: float
    log_likelihood: float


def incremental_em(
    x,
    weights,
    means,
    variances,
    *,
    block_size: int = 10,
    max_sweeps: int = 1000,
    tol: float = 1e-10,
    seed=None,
) -> IncrementalResult:
    """Incremental EM (Neal & Hinton 1998): partial E-steps on blocks of points, each followed by a full M-step.

    Start: the full E-step at θ⁰ (q = the posterior, F = ℓ). Then for each
    block B of ``block_size`` points, in turn::

        r_i  ← p(z_i | x_i, θ)  for i in B                     (partial E-step)
        s    ← s + Σ_{i∈B} (new - old) (r_ik, r_ik x_i, r_ik x_i²)
        θ    ← params_from_statistics(s)                        (full M-step)

    A sweep visits every block once, in a new random order when ``seed`` is
    given (an int, ``None`` keeps the data order, or a ``numpy.random.Generator``).
    Stops after a sweep that raised F by less than ``tol`` per point, or after
    ``max_sweeps``. The totals are summed afresh after each sweep, so round-off
    does not build up.
    """
    x_N = _check_x(x)
    weights_K, means_K, variances_K = _check_theta(weights, means, variances)
    N = x_N.size
    B = check_count(block_size, "block_size")
    if B > N:
        raise ValueError(f"block_size={B} is larger than the number of points ({N})")
    max_sweeps = check_count(max_sweeps, "max_sweeps")
    tol = check_positive_float(tol, "tol")
    rng = None if seed is None else np.random.default_rng(seed)

    shift = x_N.mean()  # centred data: σ² = s2/s0 - μ² loses no digits for data far from 0
    xc_N = x_N - shift
    theta = (weights_K, means_K - shift, variances_K)
    resp_NK, _ = _responsibilities(xc_N, *theta)
    s0_K, s1_K, s2_K = _statistics(xc_N, resp_NK)
    F = _free_energy(xc_N, resp_NK, *theta)
    history = {"free_energy": [F], "log_likelihood": [_log_likelihood(xc_N, *theta)]}
    blocks = [slice(start, min(start + B, N)) for start in range(0, N, B)]
    converged, n_steps = False, 0
    for _ in range(max_sweeps):
        F_before = F
        order = range(len(blocks)) if rng is None else rng.permutation(len(blocks))
        for b in order:
            rows = blocks[b]
            new_BK, _ = _responsibilities(xc_N[rows], *theta)  # partial E-step
            old_BK = resp_NK[rows]
            d0, d1, d2 = _statistics(xc_N[rows], new_BK - old_BK)
            s0_K, s1_K, s2_K = s0_K + d0, s1_K + d1, s2_K + d2
            resp_NK[rows] = new_BK
            theta = _params(s0_K, s1_K, s2_K)  # full M-step
            if (theta[2] <= 0).any() or (theta[0] <= 0).any():
                raise ValueError(
                    "a component collapsed (no weight or zero variance) during incremental EM; "
                    "try a larger block_size or another starting θ"
                )
            n_steps += 1
            F = _free_energy(xc_N, resp_NK, *theta)
            history["free_energy"].append(F)
            history["log_likelihood"].append(_log_likelihood(xc_N, *theta))
        s0_K, s1_K, s2_K = _statistics(xc_N, resp_NK)  # afresh: no drift from the running updates
        if F - F_before < tol * N:
            converged = True
            break
    weights_K, means_c_K, variances_K = _params(s0_K, s1_K, s2_K)
    return IncrementalResult(
        weights=weights_K, means=means_c_K + shift, variances=variances_K, responsibilities=resp_NK,
        free_energy=F, log_likelihood=history["log_likelihood"][-1], n_iter=n_steps, converged=converged,
        history=history,
    )  # fmt: skip


# ---------------------------------------------------------------------------
# Online EM
# ---------------------------------------------------------------------------


def step_sizes(n_steps: int, alpha: float = 0.6, t0: float = 0.0) -> np.ndarray:
    """γ_t = (t + t0)^(-α) for t = 1, ..., n_steps; 0.5 < α ≤ 1 (Σγ = ∞, Σγ² < ∞)."""
    n_steps = check_count(n_steps, "n_steps")
    alpha = check_positive_float(alpha, "alpha")
    if not 0.5 < alpha <= 1.0:
        raise ValueError(f"alpha must satisfy 0.5 < alpha <= 1 (so that Σγ = ∞ and Σγ² < ∞); got {alpha}")
    t0 = check_positive_float(t0, "t0")
    return (np.arange(1, n_steps + 1) + t0) ** (-alpha)


@dataclass(kw_only=True)
class OnlineResult(FitResult):
    """Online EM's result.

    weights, means, variances : θ_T, the last iterate.
    averaged : (weights, means, variances) averaged over the iterates from ``average_from`` on
        (Polyak–Ruppert).
    n_iter : the number of steps (points, or mini-batches). ``converged`` is always True: online EM has
        no stopping rule, it ends with the stream.
    history : ``"t"`` the step numbers recorded, ``"params"`` θ_t there, ``"step_size"`` γ_t there.
    """

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    averaged: tuple


def online_em(
    stream,
    weights,
    means,
    variances,
    *,
    alpha: float = 0.6,
    t0: float = 0.0,
    burn_in: int = 20,
    batch_size: int = 1,
    average_from: int | None = None,
    record_every: int = 100,
) -> OnlineResult:
    """Online EM (Cappé & Moulines 2009) on a stream of points, each seen once, in order.

    For t = 1, 2, ... with x_t the t-th point (or the mean statistics of the t-th mini-batch
    of ``batch_size`` points)::

        ŝ_t = ŝ_{t-1} + γ_t (s̄(x_t; θ_{t-1}) - ŝ_{t-1}),   γ_t = (t + t0)^(-α)
        θ_t = params_from_statistics(ŝ_t)        for t > burn_in (before, θ stays θ⁰)

    ŝ_0 are the statistics θ⁰ implies, (π_k, π_k μ_k, π_k (σ²_k + μ_k²)). The
    burn-in keeps θ from being built on a handful of points. A step whose ŝ
    gives a variance ≤ 0 leaves θ unchanged. ``average_from`` (default: half
    the steps) starts the running average of θ_t.
    """
    x_N = _check_x(stream, "stream")
    weights_K, means_K, variances_K = _check_theta(weights, means, variances)
    b = check_count(batch_size, "batch_size")
    n_steps = x_N.size // b
    if n_steps == 0:
        raise ValueError(f"the stream has {x_N.size} points, fewer than one batch of {b}")
    gamma_T = step_sizes(n_steps, alpha, t0)
    burn_in = check_count(burn_in, "burn_in", minimum=0)
    average_from = n_steps // 2 if average_from is None else check_count(average_from, "average_from", minimum=0)
    record_every = check_count(record_every, "record_every")

    shift = means_K.mean()  # centre on θ⁰'s means: σ² = s2/s0 - μ² keeps its digits
    xc_TB = (x_N[: n_steps * b] - shift).reshape(n_steps, b)
    theta = (weights_K, means_K - shift, variances_K)
    s0_K, s1_K, s2_K = weights_K, weights_K * theta[1], weights_K * (variances_K + theta[1] ** 2)
    total = [np.zeros_like(means_K) for _ in range(3)]
    n_averaged = 0
    history = {"t": [0], "params": [(weights_K, means_K, variances_K)], "step_size": [np.nan]}
    const_K = np.log(theta[0]) - 0.5 * (LOG_2PI + np.log(theta[2]))  # log π_k - ½ log 2πσ²_k, redone when θ moves
    for t in range(1, n_steps + 1):  # a stream: one step per point (or mini-batch), in order
        x_B = xc_TB[t - 1]
        a_BK = const_K - 0.5 * (x_B[:, None] - theta[1]) ** 2 / theta[2]  # the E-step for these points
        r_BK = np.exp(a_BK - a_BK.max(axis=1, keepdims=True))
        r_BK /= r_BK.sum(axis=1, keepdims=True)
        g = gamma_T[t - 1]
        s0_K = s0_K + g * (r_BK.mean(axis=0) - s0_K)
        s1_K = s1_K + g * (r_BK.T @ x_B / b - s1_K)
        s2_K = s2_K + g * (r_BK.T @ (x_B * x_B) / b - s2_K)
        if t > burn_in:
            candidate = _params(s0_K, s1_K, s2_K)
            if (candidate[2] > 0).all() and (candidate[0] > 0).all():
                theta = candidate
                const_K = np.log(theta[0]) - 0.5 * (LOG_2PI + np.log(theta[2]))
        if t > average_from:
            n_averaged += 1
            for total_K, value_K in zip(total, theta, strict=True):
                total_K += value_K
        if t % record_every == 0 or t == n_steps:
            history["t"].append(t)
            history["params"].append((theta[0], theta[1] + shift, theta[2]))
            history["step_size"].append(g)
    averaged = tuple(v / max(n_averaged, 1) for v in total) if n_averaged else theta
    averaged = (averaged[0], averaged[1] + shift, averaged[2])
    return OnlineResult(
        weights=theta[0], means=theta[1] + shift, variances=theta[2], averaged=averaged, n_iter=n_steps,
        converged=True, history=history,
    )  # fmt: skip
