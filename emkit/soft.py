"""Ways to turn distances into soft assignments, right and wrong (notebook 02).

Each function maps distances from N points to K centres to weights
w_ik ≥ 0 with Σ_k w_ik = 1 (shape N×K).

* :func:`distance_share_weights`: w_ik = d_ik / Σ_j d_ij. The tempting first
  idea, and **backwards**: the farther centre gets the larger weight.
* :func:`inverse_distance_weights`: w_ik ∝ 1 / d_ik. Points the right way,
  but has no notion of how spread out a cluster is.
* :func:`softmax_weights`: w_ik ∝ exp(-β d²_ik), "soft k-means" with a
  stiffness β. β → ∞ gives k-means' hard labels; β → 0 gives 1/K each.
* :func:`gaussian_posterior`: p(z_i = k | x_i) by Bayes' rule from
  N(x | c_k, σ²I) and weights π_k. With equal weights it *is* the softmax with
  β = 1 / (2σ²).

>>> import numpy as np
>>> d_NK = np.array([[1.0, 9.0]])          # close to centre 0, far from centre 1
>>> distance_share_weights(d_NK)           # backwards!
array([[0.1, 0.9]])
>>> inverse_distance_weights(d_NK)
array([[0.9, 0.1]])
"""

from __future__ import annotations

import numpy as np

from . import gmm
from ._validation import check_data, check_positive_float, check_weights

__all__ = ["distance_share_weights", "gaussian_posterior", "inverse_distance_weights", "softmax_weights"]


def _check_distances(d, name: str) -> np.ndarray:
    d_NK = check_data(d, name=name)
    if (d_NK < 0).any():
        raise ValueError(f"{name} must be non-negative distances")
    return d_NK


def distance_share_weights(d_NK) -> np.ndarray:
    """w_ik = d_ik / Σ_j d_ij: each centre's share of the total distance (the wrong way round)."""
    d_NK = _check_distances(d_NK, "d_NK")
    total_N1 = d_NK.sum(axis=1, keepdims=True)
    if (total_N1 == 0).any():
        raise ValueError("d_NK has a row of zeros: every centre coincides with the point, shares are 0/0")
    return d_NK / total_N1


def inverse_distance_weights(d_NK, power: float = 1.0) -> np.ndarray:
    """w_ik ∝ d_ik^(-power). A point exactly on a centre belongs to it alone."""
    d_NK = _check_distances(d_NK, "d_NK")
    power = check_positive_float(power, "power", allow_zero=False)
    on_center_NK = d_NK == 0
    with np.errstate(divide="ignore"):
        inv_NK = np.where(on_center_NK, 0.0, d_NK ** (-power))
    hit_N = on_center_NK.any(axis=1)
    inv_NK[hit_N] = on_center_NK[hit_N]
    return inv_NK / inv_NK.sum(axis=1, keepdims=True)


def softmax_weights(d2_NK, beta: float) -> np.ndarray:
    """w_ik = exp(-β d²_ik) / Σ_j exp(-β d²_ij), computed stably (log-sum-exp)."""
    d2_NK = _check_distances(d2_NK, "d2_NK")
    beta = check_positive_float(beta, "beta")
    a_NK = -beta * d2_NK
    return np.exp(a_NK - gmm.logsumexp(a_NK)[:, None])


def gaussian_posterior(X, centers, sigma2: float, weights=None) -> np.ndarray:
    """p(z_i = k | x_i) for the model z ~ π, x | z=k ~ N(c_k, σ²I), by Bayes' rule."""
    X_ND = check_data(X)
    centers_KD = check_data(centers, name="centers")
    K = centers_KD.shape[0]
    sigma2 = check_positive_float(sigma2, "sigma2", allow_zero=False)
    weights_K = np.full(K, 1.0 / K) if weights is None else check_weights(weights, K)
    resp_NK, _ = gmm.e_step(X_ND, weights_K, centers_KD, np.full(K, sigma2), "spherical")
    return resp_NK
