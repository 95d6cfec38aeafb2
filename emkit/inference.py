"""Standard errors and the rate of EM for a fitted Gaussian mixture (full covariances).

EM gives the maximum-likelihood estimate θ̂ but not its uncertainty. The
observed information I_o = -∇²ℓ(θ̂), with ℓ(θ) = log p(X | θ), gives it:
Cov(θ̂) ≈ I_o⁻¹. EM's own quantities give I_o without differentiating ℓ
twice (Louis 1982; McLachlan & Krishnan 2008, ch. 4)::

    I_c = E[-∇² log p(X, Z | θ) | X, θ̂] = -∇²Q(θ | θ̂) at θ = θ̂    complete-data information
    I_m = Σ_i Cov[s_i(θ̂; z_i) | x_i]                                  missing information
    I_o = I_c - I_m                                                   Louis' identity

where s_i(θ; k) = ∇_θ log p(x_i, z_i = k | θ) is point i's complete-data
score (:func:`complete_data_scores`), so that
Cov[s_i | x_i] = Σ_k r_ik s_ik s_ikᵀ - s̄_i s̄_iᵀ with s̄_i = Σ_k r_ik s_ik.
I_c is conditional on X (the responsibilities at θ̂), not a Fisher information.

The same two matrices give EM's speed. Near θ̂ the EM map M: θᵗ ↦ θᵗ⁺¹ is
linear, θᵗ⁺¹ - θ̂ ≈ DM (θᵗ - θ̂), with Jacobian (Dempster, Laird & Rubin 1977)::

    DM = I_c⁻¹ I_m = I - I_c⁻¹ I_o                                    em_rate_matrix

so the error shrinks by the **largest eigenvalue** of DM per iteration
(for one parameter, 1 - I_o / I_c). *Supplemented EM* (SEM; Meng & Rubin 1991)
turns this around: differentiate the EM map numerically to get DM, then
Cov(θ̂) = I_o⁻¹ = (I - DM)⁻¹ I_c⁻¹ (:func:`sem_covariance`).

I_o⁻¹ trusts the model. If the data are not a Gaussian mixture, the robust
*sandwich* I_o⁻¹ (Σ_i s_i s_iᵀ) I_o⁻¹, with s_i = Σ_k r_ik s_ik the observed
score of point i, is what a nonparametric bootstrap estimates
(:func:`sandwich_covariance`).

**The parametrisation** (:func:`pack`, :func:`param_names`): θ is the vector
(π_1, ..., π_{K-1}; μ_1, ..., μ_K; vech Σ_1, ..., vech Σ_K) with
π_K = 1 - Σ_{k<K} π_k and vech Σ the entries Σ_de with d ≤ e (row by row),
P = K - 1 + K·D + K·D(D+1)/2 numbers. Standard errors are for these numbers.

θ̂ must be a fixed point of EM: a fit converged tightly (e.g. ``tol=1e-12``)
with ``reg_covar=0``; the closed form of I_c uses μ̂_k = Σ_i r_ik x_i / N_k and
Σ̂_k = S_k / N_k. Every public function checks this and says so if not.

>>> import numpy as np
>>> from emkit import datasets, gmm, inference
>>> X = datasets.old_faithful()
>>> fit = gmm.fit(X, 2, seed=0, tol=1e-12, reg_covar=0.0, max_iter=500)
>>> theta = (fit.weights, fit.means, fit.covariances)
>>> se = inference.standard_errors(X, *theta)
>>> names, values = inference.param_names(2, 2), inference.pack(*theta)
>>> [f"{n} = {v:.4g} ± {s:.2g}" for n, v, s in zip(names[:3], values, se)]
['π1 = 0.3559 ± 0.029', 'μ1[0] = 2.036 ± 0.027', 'μ1[1] = 54.48 ± 0.59']
>>> round(float(inference.em_rate(X, *theta)), 3)     # the error ratio per EM iteration, near θ̂
0.241
"""

from __future__ import annotations

import numpy as np

from ._core import row_blocks
from ._validation import check_covariances, check_data, check_means, check_positive_float, check_weights
from .gmm import COVARIANCE_TYPES
from .gmm import _e_step as _gmm_e_step

__all__ = [
    "complete_data_scores",
    "complete_information",
    "covariance",
    "em_map",
    "em_map_jacobian",
    "em_rate",
    "em_rate_eigenvalues",
    "em_rate_matrix",
    "missing_information",
    "observed_information",
    "observed_scores",
    "pack",
    "param_names",
    "sandwich_covariance",
    "sem_covariance",
    "standard_errors",
    "unpack",
]


# ---------------------------------------------------------------------------
# The parametrisation: θ as one vector
# ---------------------------------------------------------------------------


def _n_params(K: int, D: int) -> int:
    return K - 1 + K * D + K * D * (D + 1) // 2


def param_names(n_components: int, n_features: int) -> list[str]:
    """Names of the entries of θ, in :func:`pack`'s order: 'π1', 'μ1[0]', 'Σ1[0,1]', ... (components from 1)."""
    K, D = n_components, n_features
    iu = np.triu_indices(D)
    return (
        [f"π{k + 1}" for k in range(K - 1)]
        + [f"μ{k + 1}[{d}]" for k in range(K) for d in range(D)]
        + [f"Σ{k + 1}[{a},{b}]" for k in range(K) for a, b in zip(*iu, strict=True)]
    )


def _pack(weights_K, means_KD, cov_KDD):
    iu = np.triu_indices(means_KD.shape[1])
    return np.concatenate([weights_K[:-1], means_KD.ravel(), cov_KDD[:, iu[0], iu[1]].ravel()])


def _unpack(theta_P, K, D):
    iu = np.triu_indices(D)
    n_vech = len(iu[0])
    weights_K = np.append(theta_P[: K - 1], 1.0 - theta_P[: K - 1].sum())
    means_KD = theta_P[K - 1 : K - 1 + K * D].reshape(K, D)
    vech_KV = theta_P[K - 1 + K * D :].reshape(K, n_vech)
    cov_KDD = np.empty((K, D, D))
    cov_KDD[:, iu[0], iu[1]] = vech_KV
    cov_KDD[:, iu[1], iu[0]] = vech_KV
    return weights_K, means_KD, cov_KDD


def pack(weights, means, covariances) -> np.ndarray:
    """θ = (π_1..π_{K-1}, μ_1..μ_K, vech Σ_1..vech Σ_K) as one vector of length P (see the module docstring)."""
    means_KD = check_means(means, np.shape(means)[-1] if np.ndim(means) == 2 else 0)
    K, D = means_KD.shape
    return _pack(check_weights(weights, K), means_KD, check_covariances(covariances, "full", K, D))


def unpack(theta, n_components: int, n_features: int):
    """(weights, means, covariances) from θ: the inverse of :func:`pack` (π_K = 1 - Σ_{k<K} π_k)."""
    theta_P = np.asarray(theta, dtype=np.float64)
    K, D = n_components, n_features
    if theta_P.shape != (_n_params(K, D),):
        raise ValueError(f"theta for K={K}, D={D} must have shape ({_n_params(K, D)},); got {theta_P.shape}")
    return _unpack(theta_P, K, D)


# ---------------------------------------------------------------------------
# Checks at the door
# ---------------------------------------------------------------------------


def _e_step(X_ND, weights_K, means_KD, cov_KDD):
    """Responsibilities and ℓ by the mixture's own E-step."""
    return _gmm_e_step(X_ND, weights_K, means_KD, cov_KDD, COVARIANCE_TYPES["full"])


def _em_map(X_ND, weights_K, means_KD, cov_KDD):
    """One EM iteration θ ↦ M(θ), exact (no reg_covar)."""
    resp_NK, _ = _e_step(X_ND, weights_K, means_KD, cov_KDD)
    N_K = resp_NK.sum(axis=0)
    new_means_KD = (resp_NK.T @ X_ND) / N_K[:, None]
    diff_NKD = X_ND[:, None, :] - new_means_KD[None]
    new_cov_KDD = np.einsum("nk,nkd,nke->kde", resp_NK, diff_NKD, diff_NKD) / N_K[:, None, None]
    return N_K / X_ND.shape[0], new_means_KD, 0.5 * (new_cov_KDD + new_cov_KDD.transpose(0, 2, 1))


FIXED_POINT_TOL = 1e-3  # one more EM step may move θ by at most this fraction of its complete-data standard error


def _check(X, weights, means, covariances, *, fixed_point: bool = True):
    X_ND = check_data(X)
    means_KD = check_means(means, X_ND.shape[1])
    K, D = means_KD.shape
    weights_K = check_weights(weights, K)
    if (weights_K <= 0).any():
        raise ValueError("every weight must be > 0: a component with no weight has no information")
    cov_KDD = check_covariances(covariances, "full", K, D)
    if fixed_point:
        theta_P = _pack(weights_K, means_KD, cov_KDD)
        step_P = _pack(*_em_map(X_ND, weights_K, means_KD, cov_KDD)) - theta_P
        resp_NK, _ = _e_step(X_ND, weights_K, means_KD, cov_KDD)
        se_c_P = np.sqrt(np.diag(np.linalg.inv(_complete_information(X_ND, resp_NK, weights_K, means_KD, cov_KDD))))
        worst = int(np.argmax(np.abs(step_P) / se_c_P))
        if abs(step_P[worst]) > FIXED_POINT_TOL * se_c_P[worst]:
            raise ValueError(
                f"θ is not a fixed point of EM: one more EM step moves {param_names(K, D)[worst]} by "
                f"{abs(step_P[worst]):.3g}, {abs(step_P[worst]) / se_c_P[worst]:.2g} of its complete-data standard "
                f"error (at most {FIXED_POINT_TOL:g} allowed). Fit with a smaller tol (e.g. 1e-12), more "
                "iterations and reg_covar=0."
            )
    return X_ND, weights_K, means_KD, cov_KDD


# ---------------------------------------------------------------------------
# Louis' identity: I_o = I_c - I_m
# ---------------------------------------------------------------------------


def _scores(X_ND, weights_K, means_KD, cov_KDD):
    """s_ikp = ∂/∂θ_p log p(x_i, z_i = k | θ): shape (N, K, P)."""
    N, D = X_ND.shape
    K = weights_K.shape[0]
    iu = np.triu_indices(D)
    n_vech = len(iu[0])
    prec_KDD = np.linalg.inv(cov_KDD)
    scores_NKP = np.zeros((N, K, _n_params(K, D)))
    # weights: ∂ log π_k / ∂π_j = [k = j]/π_j - [k = K]/π_K  (π_K = 1 - Σ_{j<K} π_j)
    dlogpi_KJ = np.eye(K)[:, : K - 1] / weights_K[: K - 1] - np.eye(K)[:, [K - 1]] / weights_K[K - 1]
    scores_NKP[:, :, : K - 1] = dlogpi_KJ[None]
    diff_NKD = X_ND[:, None, :] - means_KD[None]
    y_NKD = np.einsum("kde,nke->nkd", prec_KDD, diff_NKD)  # Σ_k⁻¹ (x_i - μ_k)
    # (a loop over components: each one's block of θ)
    for k in range(K):
        # means: ∂/∂μ_k log N(x_i | μ_k, Σ_k) = Σ_k⁻¹ (x_i - μ_k)
        scores_NKP[:, k, K - 1 + k * D : K - 1 + (k + 1) * D] = y_NKD[:, k]
        # covariances: G = ½ (Σ⁻¹ d dᵀ Σ⁻¹ - Σ⁻¹), and Σ_de = Σ_ed counts twice off the diagonal
        G_NDD = 0.5 * (np.einsum("nd,ne->nde", y_NKD[:, k], y_NKD[:, k]) - prec_KDD[k])
        twice_V = np.where(iu[0] == iu[1], 1.0, 2.0)
        start = K - 1 + K * D + k * n_vech
        scores_NKP[:, k, start : start + n_vech] = G_NDD[:, iu[0], iu[1]] * twice_V
    return scores_NKP


def _complete_information(X_ND, resp_NK, weights_K, means_KD, cov_KDD):
    """-∇²Q(θ | θ̂) at θ = θ̂ (a fixed point), block by block."""
    D = X_ND.shape[1]
    K = weights_K.shape[0]
    iu = np.triu_indices(D)
    n_vech = len(iu[0])
    N_K = resp_NK.sum(axis=0)
    I_PP = np.zeros((_n_params(K, D),) * 2)
    # weights: -∂²/∂π_j∂π_l Σ_k N_k log π_k = N_j/π_j² [j = l] + N_K/π_K²
    I_PP[: K - 1, : K - 1] = np.diag(N_K[:-1] / weights_K[:-1] ** 2) + N_K[-1] / weights_K[-1] ** 2
    # duplication: vec Σ = Dup vech Σ
    dup_QV = np.zeros((D * D, n_vech))
    dup_QV[iu[0] * D + iu[1], np.arange(n_vech)] = 1.0
    dup_QV[iu[1] * D + iu[0], np.arange(n_vech)] = 1.0
    for k in range(K):  # a loop over components
        prec_DD = np.linalg.inv(cov_KDD[k])
        m = K - 1 + k * D
        I_PP[m : m + D, m : m + D] = N_K[k] * prec_DD  # means: N_k Σ_k⁻¹
        c = K - 1 + K * D + k * n_vech  # covariances: (N_k / 2) Dupᵀ (Σ_k⁻¹ ⊗ Σ_k⁻¹) Dup
        I_PP[c : c + n_vech, c : c + n_vech] = 0.5 * N_K[k] * dup_QV.T @ np.kron(prec_DD, prec_DD) @ dup_QV
    return I_PP


def _missing_information(X_ND, resp_NK, weights_K, means_KD, cov_KDD):
    """Σ_i [Σ_k r_ik s_ik s_ikᵀ - s̄_i s̄_iᵀ], a cache-sized block of points at a time."""
    K, D = means_KD.shape
    P = _n_params(K, D)
    I_m_PP = np.zeros((P, P))
    for rows in row_blocks(X_ND.shape[0], K * P):
        s_BKP = _scores(X_ND[rows], weights_K, means_KD, cov_KDD)
        r_BK = resp_NK[rows]
        mean_BP = np.einsum("bk,bkp->bp", r_BK, s_BKP)  # s̄_i = E[s_i | x_i]
        I_m_PP += np.einsum("bk,bkp,bkq->pq", r_BK, s_BKP, s_BKP) - mean_BP.T @ mean_BP
    return I_m_PP


def complete_data_scores(X, weights, means, covariances) -> np.ndarray:
    """s_ik = ∇_θ log p(x_i, z_i = k | θ), the complete-data score of point i if it came from component k: (N, K, P).

    ∂/∂π_j  = [k = j]/π_j - [k = K]/π_K                  (j < K)
    ∂/∂μ_k  = Σ_k⁻¹ (x_i - μ_k)
    ∂/∂Σ_k  = ½ (Σ_k⁻¹ (x_i - μ_k)(x_i - μ_k)ᵀ Σ_k⁻¹ - Σ_k⁻¹), off-diagonal entries doubled (Σ_de = Σ_ed)

    (zero for the other components' μ and Σ). Any θ: no fixed point needed.
    """
    return _scores(*_check(X, weights, means, covariances, fixed_point=False))


def complete_information(X, weights, means, covariances) -> np.ndarray:
    """I_c = -∇²Q(θ | θ̂) at θ = θ̂: the information the complete data (X, Z) would carry, (P, P).

    Block diagonal at a fixed point of EM: weights N_j/π_j² [j = l] + N_K/π_K²;
    means N_k Σ_k⁻¹; vech Σ_k: (N_k / 2) Dᵀ (Σ_k⁻¹ ⊗ Σ_k⁻¹) D with D the
    duplication matrix (vec Σ = D vech Σ); N_k = Σ_i r_ik at θ̂.
    """
    X_ND, w, m, c = _check(X, weights, means, covariances)
    return _complete_information(X_ND, _e_step(X_ND, w, m, c)[0], w, m, c)


def missing_information(X, weights, means, covariances) -> np.ndarray:
    """I_m = Σ_i Cov[s_i | x_i] = Σ_i [Σ_k r_ik s_ik s_ikᵀ - s̄_i s̄_iᵀ], s̄_i = Σ_k r_ik s_ik: (P, P).

    The information lost by not seeing the labels: the spread of each
    point's complete-data score over its unknown label.
    """
    X_ND, w, m, c = _check(X, weights, means, covariances)
    return _missing_information(X_ND, _e_step(X_ND, w, m, c)[0], w, m, c)


def _observed_information(X_ND, w, m, c):
    resp_NK, _ = _e_step(X_ND, w, m, c)
    return _complete_information(X_ND, resp_NK, w, m, c), _missing_information(X_ND, resp_NK, w, m, c)


def observed_information(X, weights, means, covariances) -> np.ndarray:
    """I_o = -∇²ℓ(θ̂) by Louis' identity, I_o = I_c - I_m: shape (P, P)."""
    I_c, I_m = _observed_information(*_check(X, weights, means, covariances))
    return I_c - I_m


def observed_scores(X, weights, means, covariances) -> np.ndarray:
    """s_i = ∇_θ log p(x_i | θ) = Σ_k r_ik s_ik (Fisher's identity: the expected complete-data score): (N, P).

    At θ̂ they sum to zero (the likelihood equations). Any θ: no fixed point needed.
    """
    X_ND, w, m, c = _check(X, weights, means, covariances, fixed_point=False)
    resp_NK, _ = _e_step(X_ND, w, m, c)
    return np.einsum("nk,nkp->np", resp_NK, _scores(X_ND, w, m, c))


def _inverse_spd(I_PP, what: str):
    try:
        L = np.linalg.cholesky(I_PP)
    except np.linalg.LinAlgError:
        smallest = np.linalg.eigvalsh(0.5 * (I_PP + I_PP.T)).min()
        raise ValueError(
            f"the {what} is not positive definite (smallest eigenvalue {smallest:.3g}): θ̂ is not a strict "
            "local maximum (e.g. two components on top of each other), so standard errors do not exist"
        ) from None
    L_inv = np.linalg.inv(L)
    return L_inv.T @ L_inv


def covariance(X, weights, means, covariances) -> np.ndarray:
    """Cov(θ̂) ≈ I_o⁻¹, with I_o from Louis' identity: shape (P, P)."""
    I_c, I_m = _observed_information(*_check(X, weights, means, covariances))
    return _inverse_spd(I_c - I_m, "observed information")


def sandwich_covariance(X, weights, means, covariances) -> np.ndarray:
    """The robust ("sandwich") Cov(θ̂) ≈ I_o⁻¹ J I_o⁻¹ with J = Σ_i s_i s_iᵀ (:func:`observed_scores`): (P, P).

    I_o⁻¹ alone assumes the data really come from a Gaussian mixture; the
    sandwich does not (Huber 1967; White 1982), and it is what a
    nonparametric bootstrap (resampling the rows) estimates. Where the two
    differ, the model is misspecified for that parameter.
    """
    X_ND, w, m, c = _check(X, weights, means, covariances)
    resp_NK, _ = _e_step(X_ND, w, m, c)
    V_PP = _inverse_spd(
        _complete_information(X_ND, resp_NK, w, m, c) - _missing_information(X_ND, resp_NK, w, m, c),
        "observed information",
    )
    s_NP = np.einsum("nk,nkp->np", resp_NK, _scores(X_ND, w, m, c))
    return V_PP @ (s_NP.T @ s_NP) @ V_PP


def standard_errors(X, weights, means, covariances, *, method: str = "louis") -> np.ndarray:
    """Standard errors of θ̂, the square roots of the diagonal of Cov(θ̂), in :func:`pack`'s order
    (names: :func:`param_names`).

    method : 'louis' (√diag I_o⁻¹ with I_o = I_c - I_m, :func:`covariance`),
        'sem' (supplemented EM, :func:`sem_covariance`: DM by numerical
        differentiation of the EM map; the same numbers by another route) or
        'sandwich' (:func:`sandwich_covariance`, robust to a misspecified model).
    """
    methods = {"louis": covariance, "sem": sem_covariance, "sandwich": sandwich_covariance}
    if method not in methods:
        raise ValueError(f"method must be 'louis', 'sem' or 'sandwich'; got {method!r}")
    return np.sqrt(np.diag(methods[method](X, weights, means, covariances)))


# ---------------------------------------------------------------------------
# The rate of EM, and supplemented EM
# ---------------------------------------------------------------------------


def em_rate_matrix(X, weights, means, covariances) -> np.ndarray:
    """DM = I - I_c⁻¹ I_o = I_c⁻¹ I_m, the Jacobian of the EM map at θ̂: θᵗ⁺¹ - θ̂ ≈ DM (θᵗ - θ̂). (P, P)."""
    I_c, I_m = _observed_information(*_check(X, weights, means, covariances))
    return np.linalg.solve(I_c, I_m)


def em_rate_eigenvalues(X, weights, means, covariances) -> np.ndarray:
    """The eigenvalues of DM, largest first; all lie in [0, 1) when I_o is positive definite.

    One above 1 means θ̂ is a saddle point of ℓ, not a maximum: EM, started
    near it, moves away along that direction.

    DM = I_c⁻¹ I_m is similar to the symmetric L⁻¹ I_m L⁻ᵀ (I_c = L Lᵀ), so
    its eigenvalues are real: those of the symmetric matrix are computed.
    """
    I_c, I_m = _observed_information(*_check(X, weights, means, covariances))
    L_inv = np.linalg.inv(np.linalg.cholesky(I_c))
    return np.linalg.eigvalsh(L_inv @ I_m @ L_inv.T)[::-1]


def em_rate(X, weights, means, covariances) -> float:
    """EM's linear rate near θ̂: the largest eigenvalue of DM = I - I_c⁻¹ I_o (the fraction of missing
    information in the slowest direction); ‖θᵗ⁺¹ - θ̂‖ / ‖θᵗ - θ̂‖ tends to it."""
    return float(em_rate_eigenvalues(X, weights, means, covariances)[0])


def em_map(X, theta) -> np.ndarray:
    """One EM iteration on the packed θ: M(θ) = pack(M-step(E-step(unpack(θ)))), exact (no reg_covar).

    K is read from θ's length, P = K (1 + D + D(D+1)/2) - 1.
    """
    X_ND = check_data(X)
    D = X_ND.shape[1]
    theta_P = np.asarray(theta, dtype=np.float64)
    per = 1 + D + D * (D + 1) // 2
    if theta_P.ndim != 1 or (theta_P.size + 1) % per or not np.isfinite(theta_P).all():
        raise ValueError(
            f"theta must be a finite 1-D vector of length K·{per} - 1 for D = {D}; got shape {theta_P.shape}"
        )
    K = (theta_P.size + 1) // per
    weights_K, means_KD, cov_KDD = _unpack(theta_P, K, D)
    check_weights(weights_K, K, name="the weights in theta")
    check_covariances(cov_KDD, "full", K, D, name="the covariances in theta")
    return _pack(*_em_map(X_ND, weights_K, means_KD, cov_KDD))


def _em_map_jacobian(X_ND, theta_P, K, D, rel_step):
    """Central differences of the EM map, one column per parameter: DM[:, p] = (M(θ + h e_p) - M(θ - h e_p)) / 2h."""
    P = theta_P.size
    DM_PP = np.empty((P, P))
    scale_P = np.abs(theta_P) + np.sqrt(np.diag(np.linalg.inv(_complete_information(
        X_ND, _e_step(X_ND, *_unpack(theta_P, K, D))[0], *_unpack(theta_P, K, D)))))  # fmt: skip
    for p in range(P):  # a loop over parameters: one column each
        h = rel_step * scale_P[p]
        up, down = theta_P.copy(), theta_P.copy()
        up[p] += h
        down[p] -= h
        DM_PP[:, p] = (_pack(*_em_map(X_ND, *_unpack(up, K, D))) - _pack(*_em_map(X_ND, *_unpack(down, K, D)))) / (
            2 * h
        )
    return DM_PP


def em_map_jacobian(X, weights, means, covariances, *, rel_step: float = 1e-5) -> np.ndarray:
    """DM by numerical differentiation of the EM map at θ̂ (the first step of supplemented EM): (P, P).

    DM[:, p] = (M(θ̂ + h_p e_p) - M(θ̂ - h_p e_p)) / (2 h_p), central differences, with
    h_p = rel_step × (|θ̂_p| + the parameter's complete-data standard error).
    Meng & Rubin (1991) difference along the EM sequence instead; at a
    fixed point the two estimate the same Jacobian.
    """
    X_ND, w, m, c = _check(X, weights, means, covariances)
    rel_step = check_positive_float(rel_step, "rel_step", allow_zero=False)
    K, D = m.shape
    return _em_map_jacobian(X_ND, _pack(w, m, c), K, D, rel_step)


def sem_covariance(X, weights, means, covariances, *, rel_step: float = 1e-5) -> np.ndarray:
    """Supplemented EM: Cov(θ̂) = I_o⁻¹ = (I - DM)⁻¹ I_c⁻¹, DM from :func:`em_map_jacobian`. (P, P), symmetrised.

    Since I_o = I_c (I - DM), only I_c needs a formula; the missing
    information comes from EM itself.
    """
    X_ND, w, m, c = _check(X, weights, means, covariances)
    rel_step = check_positive_float(rel_step, "rel_step", allow_zero=False)
    K, D = m.shape
    DM_PP = _em_map_jacobian(X_ND, _pack(w, m, c), K, D, rel_step)
    I_c = _complete_information(X_ND, _e_step(X_ND, w, m, c)[0], w, m, c)
    V_PP = np.linalg.solve(np.eye(DM_PP.shape[0]) - DM_PP, np.linalg.inv(I_c))
    return 0.5 * (V_PP + V_PP.T)
