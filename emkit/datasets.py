"""Data for the course: Old Faithful (shipped) and samples from a known mixture.

>>> X = old_faithful()
>>> X.shape
(272, 2)
>>> OLD_FAITHFUL_COLUMNS
('eruptions', 'waiting')
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from ._validation import check_count, check_covariances, check_means, check_weights

__all__ = ["OLD_FAITHFUL_COLUMNS", "old_faithful", "sample_gaussian_mixture"]

OLD_FAITHFUL_COLUMNS = ("eruptions", "waiting")


def old_faithful() -> np.ndarray:
    """The Old Faithful geyser data: 272 eruptions × (eruption length, waiting time).

    Columns, in minutes: ``eruptions`` (length of the eruption) and
    ``waiting`` (time to the next eruption). Source: R's ``datasets::faithful``
    (Härdle 1991; Azzalini & Bowman 1990); see ``emkit/data/README.md``.
    """
    text = resources.files("emkit").joinpath("data/old_faithful.csv").read_text(encoding="utf-8")
    return np.loadtxt(text.splitlines(), delimiter=",", skiprows=1)


def sample_gaussian_mixture(n_samples: int, weights, means, covariances, *, seed=None):
    """Draw ``n_samples`` points from a full-covariance Gaussian mixture.

    Returns ``(X_ND, z_N)``: the points and the component each came from (the
    latent variable that EM never sees).
    """
    N = check_count(n_samples, "n_samples")
    D = np.shape(means)[-1] if np.ndim(means) == 2 else 0
    means_KD = check_means(means, D)
    K = means_KD.shape[0]
    weights_K = check_weights(weights, K)
    cov_KDD = check_covariances(covariances, "full", K, D)
    rng = np.random.default_rng(seed)
    z_N = rng.choice(K, size=N, p=weights_K)
    L_KDD = np.linalg.cholesky(cov_KDD)
    eps_ND = rng.standard_normal((N, D))
    X_ND = means_KD[z_N] + np.einsum("nij,nj->ni", L_KDD[z_N], eps_ND)
    return X_ND, z_N
