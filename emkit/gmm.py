"""Gaussian mixture models fitted by EM, one function per step of the derivation.

Notation (the course glossary): data x_i (rows of ``X``, shape N×D), K
components with weights π_k (``weights``, shape K), means μ_k (``means``,
K×D) and covariances Σ_k (``covariances``: full K×D×D, tied D×D, diag K×D,
spherical K, as in scikit-learn), responsibilities
r_ik = p(z_i = k | x_i, θᵗ) (``resp_NK``). Array names inside the module end
in their shape: ``X_ND``, ``resp_NK``, ``means_KD``.

E-step (at the current θᵗ)::

    log p(x_i, z_i=k | θ) = log π_k + log N(x_i | μ_k, Σ_k)      log_joint
    log p(x_i | θ)        = logsumexp_k  log p(x_i, z_i=k | θ)     (log-sum-exp)
    r_ik                  = exp(log p(x_i, z_i=k | θ) - log p(x_i | θ))

M-step (θᵗ⁺¹ = argmax_θ Q(θ | θᵗ))::

    N_k = Σ_i r_ik                         effective count
    π_k = N_k / N                          update_weights
    μ_k = Σ_i r_ik x_i / N_k               update_means
    Σ_k = Σ_i r_ik (x_i-μ_k)(x_i-μ_k)ᵀ / N_k   update_covariances (+ reg_covar·I)

>>> import numpy as np
>>> from emkit import datasets, gmm
>>> X = datasets.old_faithful()
>>> result = gmm.fit(X, 2, seed=0)
>>> np.round(result.weights, 3)
array([0.356, 0.644])
>>> round(result.log_likelihood, 2)
-1130.27
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import em
from ._validation import (
    check_count,
    check_covariance_type,
    check_covariances,
    check_data,
    check_means,
    check_not_more_than_distinct,
    check_positive_float,
    check_responsibilities,
    check_weights,
)

__all__ = [
    "CollapseError",
    "GMMResult",
    "e_step",
    "elbo",
    "fit",
    "log_gaussian_density",
    "log_joint",
    "log_likelihood",
    "logsumexp",
    "m_step",
    "precision_cholesky",
    "q_function",
    "update_covariances",
    "update_means",
    "update_weights",
]

LOG_2PI = np.log(2.0 * np.pi)


class CollapseError(ValueError):
    """A mixture component collapsed (no weight left, or a singular covariance)."""


# ---------------------------------------------------------------------------
# Densities
# ---------------------------------------------------------------------------


def precision_cholesky(covariances, covariance_type: str = "full"):
    """Factors P with Σ⁻¹ = P Pᵀ, and log det Σ, for each component.

    For ``full`` and ``tied``, P = L⁻ᵀ where Σ = L Lᵀ is the Cholesky factor,
    so (x-μ)ᵀ Σ⁻¹ (x-μ) = ‖(x-μ)ᵀ P‖² with no explicit inverse of Σ. For
    ``diag`` and ``spherical``, P = 1/√σ².

    Returns ``(prec_chol, log_det_cov_K)`` where ``prec_chol`` has the shape of
    ``covariances`` and ``log_det_cov_K`` holds log det Σ_k (shape K, or a
    scalar for ``tied``).
    """
    cov = np.asarray(covariances, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        S_KDD = cov if covariance_type == "full" else cov[None]
        D = S_KDD.shape[-1]
        try:
            L_KDD = np.linalg.cholesky(S_KDD)
        except np.linalg.LinAlgError:
            bad = [k for k in range(len(S_KDD)) if not _is_cholesky_ok(S_KDD[k])]
            raise ValueError(
                f"covariances{bad[0] if covariance_type == 'full' else ''} is not positive definite"
            ) from None
        prec_KDD = np.linalg.solve(L_KDD, np.broadcast_to(np.eye(D), L_KDD.shape)).transpose(0, 2, 1)
        log_det_K = 2.0 * np.log(np.diagonal(L_KDD, axis1=1, axis2=2)).sum(axis=1)
        if covariance_type == "tied":
            return prec_KDD[0], log_det_K[0]
        return prec_KDD, log_det_K
    if covariance_type == "diag":
        return 1.0 / np.sqrt(cov), np.log(cov).sum(axis=1)
    if covariance_type == "spherical":
        return 1.0 / np.sqrt(cov), np.log(cov)
    raise ValueError(f"unknown covariance_type {covariance_type!r}")


def _is_cholesky_ok(S_DD) -> bool:
    try:
        np.linalg.cholesky(S_DD)
    except np.linalg.LinAlgError:
        return False
    return True


BLOCK_FLOATS = 1 << 17  # a row block's temporaries stay around 1 MiB: they live in cache


def _row_blocks(N: int, width: int):
    """Slices of rows such that a block of ``width`` floats per row stays in cache."""
    rows = max(64, BLOCK_FLOATS // max(width, 1))
    for start in range(0, N, rows):
        yield slice(start, min(N, start + rows))


def _block_width(covariance_type, K: int, D: int) -> int:
    """Floats per row in a block's largest temporaries: K·D for full and tied, K + D otherwise."""
    return K * D if covariance_type in ("full", "tied") else K + D


def _prepare_mahalanobis(means_KD, prec_chol, covariance_type):
    """What every row block needs: the shift, and the precision factors laid out for one matrix product."""
    K, D = means_KD.shape
    shift_D = means_KD.mean(axis=0)
    ms_KD = means_KD - shift_D
    if covariance_type == "full":  # y_ik = (x_i - μ_k)ᵀ P_k  for all k at once: x_iᵀ [P_1 ... P_K] - [μ_1ᵀP_1 ...]
        P_D_KD = prec_chol.transpose(1, 0, 2).reshape(D, K * D)
        b_KD = np.einsum("kd,kde->ke", ms_KD, prec_chol).reshape(K * D)
        return shift_D, ("full", P_D_KD, b_KD, K, D)
    if covariance_type == "tied":
        return shift_D, ("tied", prec_chol, ms_KD @ prec_chol, K, D)
    # diag / spherical: Σ_d p²_kd (x_d - μ_kd)² = (x²)·p²_k - 2 x·(p²_k μ_k) + Σ_d p²_kd μ²_kd
    p2_KD = np.broadcast_to((prec_chol**2).reshape(K, -1), (K, D))
    return shift_D, ("diag", p2_KD.T.copy(), (-2.0 * p2_KD * ms_KD).T.copy(), (p2_KD * ms_KD**2).sum(axis=1))


def _mahalanobis_block(Xs_BD, prepared) -> np.ndarray:
    kind = prepared[0]
    if kind == "full":
        _, P_D_KD, b_KD, K, D = prepared
        Y_B_KD = Xs_BD @ P_D_KD
        Y_B_KD -= b_KD
        Y_B_KD *= Y_B_KD
        return Y_B_KD.reshape(len(Xs_BD), K, D).sum(axis=2)
    if kind == "tied":
        _, P_DD, yb_KD, K, D = prepared
        Y_B1D = (Xs_BD @ P_DD)[:, None, :] - yb_KD[None]
        return np.einsum("bkd,bkd->bk", Y_B1D, Y_B1D)
    _, p2_DK, lin_DK, const_K = prepared
    return (Xs_BD * Xs_BD) @ p2_DK + Xs_BD @ lin_DK + const_K


def _mahalanobis_sq(X_ND, means_KD, prec_chol, covariance_type) -> np.ndarray:
    """(x_i - μ_k)ᵀ Σ_k⁻¹ (x_i - μ_k) = ‖(x_i - μ_k)ᵀ P_k‖² for every point and component: (N, K).

    Organised for speed, same formula: X and the means are first shifted by
    the mean of the means (so data far from the origin lose no accuracy); rows
    are taken in cache-sized blocks; within a block one matrix product gives
    (x_i - μ_k)ᵀ P_k for every k (full), or the expanded square
    Σ_d p²_kd x²_id - 2 p²_kd μ_kd x_id + p²_kd μ²_kd (diag, spherical).
    """
    N = X_ND.shape[0]
    K = means_KD.shape[0]
    shift_D, prepared = _prepare_mahalanobis(means_KD, prec_chol, covariance_type)
    maha_NK = np.empty((N, K))
    for rows in _row_blocks(N, _block_width(covariance_type, K, X_ND.shape[1])):
        maha_NK[rows] = _mahalanobis_block(X_ND[rows] - shift_D, prepared)
    return maha_NK


def _log_constants(weights_K, covariances, covariance_type, D):
    """log π_k - ½ (D log 2π + log det Σ_k), and the precision factors."""
    prec_chol, log_det_cov = precision_cholesky(covariances, covariance_type)
    if covariance_type == "spherical":
        log_det_cov = D * log_det_cov  # det(σ² I) = σ^(2D)
    with np.errstate(divide="ignore"):  # a zero weight gives log 0 = -inf: allowed
        log_weights_K = np.log(weights_K)
    return log_weights_K - 0.5 * (D * LOG_2PI + log_det_cov), prec_chol


def _log_gaussian_density(X_ND, means_KD, covariances, covariance_type) -> np.ndarray:
    D = X_ND.shape[1]
    const_K, prec_chol = _log_constants(np.ones(len(means_KD)), covariances, covariance_type, D)
    return const_K - 0.5 * _mahalanobis_sq(X_ND, means_KD, prec_chol, covariance_type)


def log_gaussian_density(X, means, covariances, covariance_type: str = "full") -> np.ndarray:
    """log N(x_i | μ_k, Σ_k) for every point i and component k: shape (N, K).

    log N(x | μ, Σ) = -½ [D log 2π + log det Σ + (x-μ)ᵀ Σ⁻¹ (x-μ)]
    """
    X_ND = check_data(X)
    covariance_type = check_covariance_type(covariance_type)
    means_KD = check_means(means, X_ND.shape[1])
    cov = check_covariances(covariances, covariance_type, means_KD.shape[0], X_ND.shape[1])
    return _log_gaussian_density(X_ND, means_KD, cov, covariance_type)


def logsumexp(a_NK: np.ndarray, axis: int = 1) -> np.ndarray:
    """log Σ_k exp(a_k), computed as m + log Σ_k exp(a_k - m) with m = max_k a_k.

    Subtracting the largest term first means the largest exponential is
    exp(0) = 1: nothing overflows, and the sum is never 0 even when every
    exp(a_k) on its own would underflow.
    """
    m = np.max(a_NK, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(a_NK - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)


def _log_joint(X_ND, weights_K, means_KD, covariances, covariance_type) -> np.ndarray:
    with np.errstate(divide="ignore"):  # a zero weight gives log 0 = -inf: allowed
        log_weights_K = np.log(weights_K)
    return log_weights_K + _log_gaussian_density(X_ND, means_KD, covariances, covariance_type)


def log_joint(X, weights, means, covariances, covariance_type: str = "full") -> np.ndarray:
    """log p(x_i, z_i = k | θ) = log π_k + log N(x_i | μ_k, Σ_k): shape (N, K)."""
    X_ND, weights_K, means_KD, cov, covariance_type = _check_params(X, weights, means, covariances, covariance_type)
    return _log_joint(X_ND, weights_K, means_KD, cov, covariance_type)


# ---------------------------------------------------------------------------
# E-step
# ---------------------------------------------------------------------------


def _e_step(X_ND, weights_K, means_KD, covariances, covariance_type):
    """Responsibilities and log-likelihood, a cache-sized block of rows at a time.

    For each block: a_ik = log π_k + log N(x_i | μ_k, Σ_k); m_i = max_k a_ik;
    e_ik = exp(a_ik - m_i); log p(x_i) = m_i + log Σ_k e_ik; r_ik = e_ik / Σ_k e_ik.
    One exponential per entry (the division reuses it), done while the block
    is in cache.
    """
    N, D = X_ND.shape
    K = means_KD.shape[0]
    const_K, prec_chol = _log_constants(weights_K, covariances, covariance_type, D)
    shift_D, prepared = _prepare_mahalanobis(means_KD, prec_chol, covariance_type)
    resp_NK = np.empty((N, K))
    log_px_N = np.empty(N)
    for rows in _row_blocks(N, _block_width(covariance_type, K, D)):
        a_BK = _mahalanobis_block(X_ND[rows] - shift_D, prepared)
        a_BK *= -0.5
        a_BK += const_K
        m_B1 = a_BK.max(axis=1, keepdims=True)
        a_BK -= m_B1
        np.exp(a_BK, out=a_BK)
        s_B1 = a_BK.sum(axis=1, keepdims=True)
        a_BK /= s_B1
        resp_NK[rows] = a_BK
        log_px_N[rows] = m_B1[:, 0] + np.log(s_B1[:, 0])
    return resp_NK, float(log_px_N.sum())


def e_step(X, weights, means, covariances, covariance_type: str = "full"):
    """The E-step: responsibilities r_ik = p(z_i = k | x_i, θ) and log p(X | θ).

    Returns ``(resp_NK, log_likelihood)`` where each row of ``resp_NK`` sums
    to one and ``log_likelihood`` = Σ_i log Σ_k π_k N(x_i | μ_k, Σ_k), the
    observed-data log-likelihood at the parameters given (computed with the
    log-sum-exp trick, so far-away points do not give 0/0).
    """
    X_ND, weights_K, means_KD, cov, covariance_type = _check_params(X, weights, means, covariances, covariance_type)
    return _e_step(X_ND, weights_K, means_KD, cov, covariance_type)


def log_likelihood(X, weights, means, covariances, covariance_type: str = "full") -> float:
    """log p(X | θ) = Σ_i log Σ_k π_k N(x_i | μ_k, Σ_k)."""
    return e_step(X, weights, means, covariances, covariance_type)[1]


def q_function(X, responsibilities, weights, means, covariances, covariance_type: str = "full") -> float:
    """Q(θ | θᵗ) = Σ_i Σ_k r_ik [log π_k + log N(x_i | μ_k, Σ_k)].

    The expected complete-data log-likelihood: θ = (weights, means,
    covariances) are the parameters being scored, and the responsibilities
    r_ik = p(z_i = k | x_i, θᵗ) come from the E-step at the *old* θᵗ. A term
    with r_ik = 0 counts as 0 even where π_k = 0.
    """
    X_ND, weights_K, means_KD, cov, covariance_type = _check_params(X, weights, means, covariances, covariance_type)
    resp_NK = check_responsibilities(responsibilities, X_ND.shape[0])
    if resp_NK.shape[1] != means_KD.shape[0]:
        raise ValueError(
            f"responsibilities have {resp_NK.shape[1]} columns but there are {means_KD.shape[0]} components"
        )
    log_joint_NK = _log_joint(X_ND, weights_K, means_KD, cov, covariance_type)
    return float(np.sum(resp_NK * np.where(resp_NK > 0, log_joint_NK, 0.0)))


def elbo(X, responsibilities, weights, means, covariances, covariance_type: str = "full") -> float:
    """The lower bound 𝓛(θ) = Q(θ | θᵗ) + H(r) ≤ log p(X | θ), for any θ.

    ``responsibilities`` r are the E-step's at the old θᵗ and H(r) =
    -Σ_i Σ_k r_ik log r_ik is their entropy (which does not depend on θ).
    Jensen's inequality gives 𝓛(θ) ≤ log p(X | θ) for every θ, with equality
    at θ = θᵗ: the bound touches the log-likelihood where it was built. The
    gap is Σ_i KL(r_i ‖ p(z_i | x_i, θ)).
    """
    resp_NK = check_responsibilities(responsibilities, np.shape(X)[0] if np.ndim(X) == 2 else -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -float(np.sum(np.where(resp_NK > 0, resp_NK * np.log(resp_NK), 0.0)))
    return q_function(X, resp_NK, weights, means, covariances, covariance_type) + entropy


# ---------------------------------------------------------------------------
# M-step
# ---------------------------------------------------------------------------


def update_weights(resp_NK, Nk_K=None) -> np.ndarray:
    """π_k = N_k / N with N_k = Σ_i r_ik: the average responsibility (``Nk_K`` if already summed)."""
    resp_NK = np.asarray(resp_NK, dtype=np.float64)
    Nk_K = resp_NK.sum(axis=0) if Nk_K is None else Nk_K
    return Nk_K / resp_NK.shape[0]


def update_means(X_ND, resp_NK, Nk_K=None) -> np.ndarray:
    """μ_k = Σ_i r_ik x_i / N_k: the responsibility-weighted average of the data (one matrix product)."""
    X_ND = np.asarray(X_ND, dtype=np.float64)
    resp_NK = np.asarray(resp_NK, dtype=np.float64)
    Nk_K = resp_NK.sum(axis=0) if Nk_K is None else Nk_K
    return (resp_NK.T @ X_ND) / Nk_K[:, None]


MOMENT_DIGITS_LOST = 1e4  # the moment form may lose up to log10(1e4) = 4 of 16 digits; beyond, sum exactly


class _Prepared:
    """The data as the M-step wants them, computed once per fit: centred, their square, their products.

    ``Xc_ND`` = X - (mean of X); ``scale_D`` = the per-feature variance of X;
    ``sq_ND`` = Xc² (for diag and spherical); ``features()`` = the products
    x_d x_e for d ≤ e (for full covariances, only when F = D(D+1)/2 ≤ K, so
    they take no more memory than one N×K array).
    """

    def __init__(self, X_ND, K: int):
        self.center_D = X_ND.mean(axis=0)
        self.Xc_ND = X_ND - self.center_D
        self.N, self.D = X_ND.shape
        self.scale_D = np.einsum("nd,nd->d", self.Xc_ND, self.Xc_ND) / self.N
        self.K = K
        self._sq = self._features = None

    @property
    def sq_ND(self):
        if self._sq is None:
            self._sq = self.Xc_ND * self.Xc_ND
        return self._sq

    def features(self):
        """(features_NF, upper-triangle indices), or None when F = D(D+1)/2 > K."""
        D = self.D
        if D * (D + 1) // 2 > self.K:
            return None
        if self._features is None:
            iu = np.triu_indices(D)
            self._features = (self.Xc_ND[:, iu[0]] * self.Xc_ND[:, iu[1]], iu)
        return self._features


def _exact_scatter(Xc_ND, r_N, mean_D):
    """Σ_i r_i (x_i - μ)(x_i - μ)ᵀ, centred on μ itself: exact however far μ is from 0."""
    diff_ND = Xc_ND - mean_D
    S_DD = (r_N[:, None] * diff_ND).T @ diff_ND
    return 0.5 * (S_DD + S_DD.T)


def _covariances(prep: _Prepared, resp_NK, Nk_K, means_c_KD, covariance_type, reg_covar):
    """Σ_k from the responsibilities, the counts N_k and the new means (on centred data).

    Fast path: the weighted second moment minus μμᵀ, from matrix products
    (Rᵀ X² for diag and spherical; Rᵀ Φ with Φ_i = (x_id x_ie)_{d≤e} for full
    when D is small, else Xᵀ(r_k ⊙ X) per component). That form can cancel digits when a component sits far
    from the data's centre relative to its own width: it loses about
    log10(1 + μ_kᵀ Σ_k⁻¹ μ_k) digits. Components where that exceeds
    log10(MOMENT_DIGITS_LOST) are recomputed exactly, centred on μ_k.
    """
    K, D = means_c_KD.shape
    Xc = prep.Xc_ND
    if covariance_type in ("diag", "spherical"):
        var_KD = (resp_NK.T @ prep.sq_ND) / Nk_K[:, None] - means_c_KD**2
        risky = ((means_c_KD**2) > MOMENT_DIGITS_LOST * np.maximum(var_KD, 0.0)).any(axis=1)
        for k in np.flatnonzero(risky):  # rare: exact, centred on μ_k
            diff_ND = Xc - means_c_KD[k]
            var_KD[k] = resp_NK[:, k] @ (diff_ND * diff_ND) / Nk_K[k]
        if covariance_type == "diag":
            return var_KD + reg_covar
        return var_KD.mean(axis=1) + reg_covar
    scatter_KDD = np.empty((K, D, D))
    feats = prep.features()
    exact = np.ones(K, dtype=bool)
    if feats is not None:
        features_NF, iu = feats
        moments_KF = resp_NK.T @ features_NF
        second_KDD = np.zeros((K, D, D))
        second_KDD[:, iu[0], iu[1]] = moments_KF
        second_KDD[:, iu[1], iu[0]] = moments_KF
        S_KDD = second_KDD / Nk_K[:, None, None] - np.einsum("kd,ke->kde", means_c_KD, means_c_KD)
        for k in range(K):  # a loop over components: the accuracy guard
            try:
                kappa = means_c_KD[k] @ np.linalg.solve(S_KDD[k], means_c_KD[k])
            except np.linalg.LinAlgError:
                continue
            if 0.0 <= kappa <= MOMENT_DIGITS_LOST:
                scatter_KDD[k] = S_KDD[k] * Nk_K[k]
                exact[k] = False
    else:  # larger D: the weighted second moment per component, Xcᵀ (r_k ⊙ Xc), one matrix product each
        for k in range(K):  # a loop over components, never over data points
            second_DD = (resp_NK[:, k, None] * Xc).T @ Xc
            S_DD = second_DD / Nk_K[k] - np.outer(means_c_KD[k], means_c_KD[k])
            try:
                kappa = means_c_KD[k] @ np.linalg.solve(S_DD, means_c_KD[k])
            except np.linalg.LinAlgError:
                continue
            if 0.0 <= kappa <= MOMENT_DIGITS_LOST:
                scatter_KDD[k] = 0.5 * (S_DD + S_DD.T) * Nk_K[k]
                exact[k] = False
    for k in np.flatnonzero(exact):  # far from the centre for its width (or singular): sum exactly
        scatter_KDD[k] = _exact_scatter(Xc, resp_NK[:, k], means_c_KD[k])
    if covariance_type == "tied":
        cov_DD = scatter_KDD.sum(axis=0) / prep.N
        cov_DD.flat[:: D + 1] += reg_covar
        return cov_DD
    cov_KDD = scatter_KDD / Nk_K[:, None, None]
    cov_KDD[:, np.arange(D), np.arange(D)] += reg_covar
    return cov_KDD


def update_covariances(X_ND, resp_NK, means_KD, covariance_type: str = "full", reg_covar: float = 0.0):
    """Σ_k = Σ_i r_ik (x_i - μ_k)(x_i - μ_k)ᵀ / N_k, plus ``reg_covar`` on the diagonal.

    ``means_KD`` must be the *new* means μ_kᵗ⁺¹ from :func:`update_means`
    (the same M-step), not the previous iteration's. The other types
    constrain Σ_k and maximise Q under that constraint:

    * tied: one Σ = Σ_k Σ_i r_ik (x_i - μ_k)(x_i - μ_k)ᵀ / N;
    * diag: only the diagonal, σ²_kd = Σ_i r_ik (x_id - μ_kd)² / N_k;
    * spherical: σ²_k = the mean over d of the diag variances.

    Computed on centred data: by one matrix product where that is accurate,
    and by the sum centred on μ_k where it is not (see ``_covariances``).
    """
    X_ND = np.asarray(X_ND, dtype=np.float64)
    resp_NK = np.asarray(resp_NK, dtype=np.float64)
    means_KD = np.asarray(means_KD, dtype=np.float64)
    prep = _Prepared(X_ND, resp_NK.shape[1])
    return _covariances(prep, resp_NK, resp_NK.sum(axis=0), means_KD - prep.center_D, covariance_type, reg_covar)


def _m_step(X_ND, resp_NK, covariance_type, reg_covar, prep: _Prepared | None = None):
    prep = prep or _Prepared(X_ND, resp_NK.shape[1])
    N = prep.N
    Nk_K = resp_NK.sum(axis=0)
    tiny = 10 * np.finfo(float).eps * N
    empty = np.flatnonzero(Nk_K <= tiny)
    if empty.size:
        k = int(empty[0])
        raise CollapseError(
            f"component {k} collapsed: its effective count N_k = Σ_i r_ik is {Nk_K[k]:.3g}, "
            "so no data support it and its mean is undefined. Try fewer components, "
            "another initialisation or seed, or restarts (n_init > 1)."
        )
    # Work on centred data: translation changes neither responsibilities nor covariances.
    weights_K = update_weights(resp_NK, Nk_K)
    means_c_KD = update_means(prep.Xc_ND, resp_NK, Nk_K)
    cov = _covariances(prep, resp_NK, Nk_K, means_c_KD, covariance_type, reg_covar)
    _check_collapse(cov, covariance_type, Nk_K, reg_covar, prep.scale_D)
    return weights_K, means_c_KD + prep.center_D, cov


def _numerically_singular(S_DD, scale_D) -> str | None:
    """Why a covariance is singular to working precision (None if it is not).

    The test does not depend on units: a variance below round-off of the
    data's own variance in that feature, or a correlation matrix whose
    smallest eigenvalue is at round-off level. (An eigenvalue ratio alone
    would wrongly flag data whose features differ in scale by 10¹⁶.)
    """
    floor = 10 * np.finfo(float).eps
    var_D = np.diag(S_DD)
    thin = np.flatnonzero(var_D <= floor * scale_D)
    if thin.size:
        return f"its variance in feature {thin[0]} is {var_D[thin[0]]:.3g}, zero at the data's scale"
    corr_DD = S_DD / np.sqrt(np.outer(var_D, var_D))
    smallest = np.linalg.eigvalsh(corr_DD).min()
    if smallest <= floor * len(var_D):
        return f"its correlation matrix is singular (smallest eigenvalue {smallest:.3g})"
    if not _is_cholesky_ok(S_DD):
        return "it is not positive definite"
    return None


def _check_collapse(cov, covariance_type, Nk_K, reg_covar, scale_D) -> None:
    """Raise CollapseError if a new covariance is singular to working precision."""
    advice = (
        "Its points lie on a lower-dimensional set (often: a single point, or values rounded to a grid), "
        "where the likelihood is unbounded. Try reg_covar > 0 (a floor on the variances, e.g. 1e-6), "
        "fewer components, another initialisation or seed, or restarts (n_init > 1)."
    )
    scale_D = np.where(scale_D > 0, scale_D, 1.0)  # a constant feature: judge on an absolute scale
    if covariance_type in ("full", "tied"):
        S_KDD = cov if covariance_type == "full" else cov[None]
        for k, S_DD in enumerate(S_KDD):
            why = _numerically_singular(S_DD, scale_D)
            if why:
                who = f"component {k}" if covariance_type == "full" else "the tied covariance"
                count = (
                    f"effective count N_k = {Nk_K[k]:.3g}"
                    if covariance_type == "full"
                    else f"effective counts {np.array2string(Nk_K, precision=3)}"
                )
                raise CollapseError(f"{who} collapsed: {why} ({count}, reg_covar = {reg_covar:g}). {advice}")
    else:
        var_KD = cov if covariance_type == "diag" else np.outer(cov, np.ones_like(scale_D))
        bad_K = (var_KD <= 10 * np.finfo(float).eps * scale_D).any(axis=1)
        if bad_K.any():
            k = int(np.flatnonzero(bad_K)[0])
            raise CollapseError(
                f"component {k} collapsed: a variance is {var_KD[k].min():.3g}, zero at the data's scale "
                f"(effective count N_k = {Nk_K[k]:.3g}, reg_covar = {reg_covar:g}). {advice}"
            )


def m_step(X, responsibilities, covariance_type: str = "full", reg_covar: float = 0.0):
    """The M-step: θᵗ⁺¹ = argmax_θ Q(θ | θᵗ) given the responsibilities of θᵗ.

    Returns ``(weights, means, covariances)``: see :func:`update_weights`,
    :func:`update_means` and :func:`update_covariances`. With one-hot
    responsibilities this is exactly the k-means centroid update. Raises
    :class:`CollapseError` (a ``ValueError``) if a component gets no weight or
    a singular covariance, naming the component and its effective count.
    """
    X_ND = check_data(X)
    resp_NK = check_responsibilities(responsibilities, X_ND.shape[0])
    covariance_type = check_covariance_type(covariance_type)
    reg_covar = check_positive_float(reg_covar, "reg_covar")
    return _m_step(X_ND, resp_NK, covariance_type, reg_covar)


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------


@dataclass
class GMMResult:
    """A fitted Gaussian mixture.

    ``history["log_likelihood"]`` holds log p(X | θᵗ) for t = 0, ..., n_iter
    (so n_iter + 1 values, starting at the initial parameters). If the fit was
    asked to ``record_params``, ``history["params"]`` holds the matching
    ``(weights, means, covariances)`` tuples.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    covariance_type: str
    responsibilities: np.ndarray
    log_likelihood: float
    n_iter: int
    converged: bool
    history: dict = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """The most responsible component of each point (a hard assignment)."""
        return self.responsibilities.argmax(axis=1)

    @property
    def n_parameters(self) -> int:
        """Free parameters: K - 1 weights, K·D means, and the covariance entries."""
        K, D = self.means.shape
        cov = {"full": K * D * (D + 1) // 2, "tied": D * (D + 1) // 2, "diag": K * D, "spherical": K}
        return (K - 1) + K * D + cov[self.covariance_type]

    @property
    def bic(self) -> float:
        """Bayesian information criterion, -2 log p(X | θ) + p log N (lower is better)."""
        N = self.responsibilities.shape[0]
        return -2.0 * self.log_likelihood + self.n_parameters * np.log(N)


def _check_params(X, weights, means, covariances, covariance_type):
    X_ND = check_data(X)
    covariance_type = check_covariance_type(covariance_type)
    means_KD = check_means(means, X_ND.shape[1])
    K = means_KD.shape[0]
    weights_K = check_weights(weights, K)
    cov = check_covariances(covariances, covariance_type, K, X_ND.shape[1])
    return X_ND, weights_K, means_KD, cov, covariance_type


def _one_hot(labels_N, K) -> np.ndarray:
    resp_NK = np.zeros((labels_N.shape[0], K))
    resp_NK[np.arange(labels_N.shape[0]), labels_N] = 1.0
    return resp_NK


def _initial_params(X_ND, K, init, covariance_type, reg_covar, rng, center_D):
    """θ⁰ for data ``X_ND`` that have been centred by subtracting ``center_D``."""
    from . import kmeans  # local import: kmeans does not need gmm

    if isinstance(init, str):
        if init == "kmeans":
            labels_N = kmeans.fit(X_ND, K, init="k-means++", seed=rng).labels
            resp_NK = _one_hot(labels_N, K)
        elif init == "k-means++":
            centers_KD = kmeans.kmeans_plusplus(X_ND, K, seed=rng)
            resp_NK = _one_hot(kmeans.assign(X_ND, centers_KD), K)
        elif init == "random":
            resp_NK = rng.uniform(size=(X_ND.shape[0], K))
            resp_NK /= resp_NK.sum(axis=1, keepdims=True)
        else:
            raise ValueError(
                f"init must be 'kmeans', 'k-means++', 'random' or a tuple (weights, means, covariances); got {init!r}"
            )
        return _m_step(X_ND, resp_NK, covariance_type, reg_covar)
    try:
        weights, means, covariances = init
    except (TypeError, ValueError):
        raise TypeError(
            "init must be 'kmeans', 'k-means++', 'random' or a tuple (weights, means, covariances)"
        ) from None
    D = X_ND.shape[1]
    means_KD = check_means(means, D, K, name="init means") - center_D
    weights_K = check_weights(weights, K, name="init weights")
    cov = check_covariances(covariances, covariance_type, K, D, name="init covariances")
    return weights_K, means_KD, cov


def fit(
    X,
    n_components: int,
    *,
    covariance_type: str = "full",
    init="kmeans",
    max_iter: int = 100,
    tol: float = 1e-3,
    reg_covar: float = 1e-6,
    seed=None,
    n_init: int = 1,
    record_params: bool = False,
) -> GMMResult:
    """Fit a K-component Gaussian mixture by EM (:func:`emkit.em.run`).

    Parameters
    ----------
    X : (N, D) data.
    n_components : K.
    covariance_type : 'full', 'tied', 'diag' or 'spherical'.
    init : 'kmeans' (responsibilities from a k-means++-started k-means fit),
        'k-means++' (nearest of k-means++ centres), 'random' (random
        responsibilities), or a tuple ``(weights, means, covariances)``.
    max_iter : the largest number of iterations; one iteration is an E-step
        followed by an M-step. With ``tol=0`` exactly ``max_iter`` run.
    tol : stop when the average log-likelihood per point, log p(X | θ) / N,
        changes by less than ``tol`` (scikit-learn's rule).
    reg_covar : added to the diagonal of every covariance (a floor that stops
        a component collapsing onto a point). It makes the M-step slightly
        different from argmax Q, so the log-likelihood may dip by a relative
        amount of order reg_covar²; the decrease warning of :func:`emkit.em.run`
        allows for reg_covar (measured: 3e-13 at 1e-6, 4e-7 at 1e-3).
    seed : an int, ``None`` or a ``numpy.random.Generator``.
    n_init : restarts from different initialisations; the fit with the
        highest final log-likelihood is returned.
    record_params : keep every θᵗ in ``history["params"]``.
    """
    X_ND = check_data(X)
    K = check_count(n_components, "n_components")
    check_not_more_than_distinct(X_ND, K, "n_components")
    covariance_type = check_covariance_type(covariance_type)
    max_iter = check_count(max_iter, "max_iter", minimum=0)
    tol = check_positive_float(tol, "tol")
    reg_covar = check_positive_float(reg_covar, "reg_covar")
    n_init = check_count(n_init, "n_init")
    if n_init > 1 and not isinstance(init, str):
        raise ValueError("n_init > 1 needs a random init ('kmeans', 'k-means++' or 'random'), not fixed parameters")
    rng = np.random.default_rng(seed)
    N = X_ND.shape[0]
    # Run EM on centred data (exact for data far from the origin, e.g. +1e6):
    # the model is translation-equivariant, so only the means move back at the end.
    center_D = X_ND.mean(axis=0)
    X_ND = X_ND - center_D

    prep = _Prepared(X_ND, K)  # centred once, with whatever the M-step reuses every iteration

    def e(theta):
        return _e_step(X_ND, *theta, covariance_type)

    def m(resp_NK):
        return _m_step(X_ND, resp_NK, covariance_type, reg_covar, prep)

    best = None
    for _ in range(n_init):
        theta0 = _initial_params(X_ND, K, init, covariance_type, reg_covar, rng, center_D)
        run = em.run(
            e,
            m,
            theta0,
            max_iter=max_iter,
            tol=tol * N,
            record_params=record_params,
            decrease_rtol=1e-10 + reg_covar,
            name="log-likelihood",
        )
        if best is None or run.objective > best.objective:
            best = run
    weights_K, means_KD, cov = best.params
    history = {"log_likelihood": best.history["objective"]}
    if record_params:
        history["params"] = [(w, m + center_D, c) for w, m, c in best.history["params"]]
    return GMMResult(
        weights=weights_K,
        means=means_KD + center_D,
        covariances=cov,
        covariance_type=covariance_type,
        responsibilities=best.expectations,
        log_likelihood=best.objective,
        n_iter=best.n_iter,
        converged=best.converged,
        history=history,
    )
