"""k-means (Lloyd's algorithm) as two visible steps: assign, then update.

Notation: data x_i (rows of ``X``, N×D), K centres c_k (``centers``, K×D),
labels z_i ∈ {0, ..., K-1} (``labels``, length N). The objective is the
inertia J = Σ_i ‖x_i - c_{z_i}‖².

* :func:`assign`: z_i = argmin_k ‖x_i - c_k‖² (J cannot go up: each point
  moves to its nearest centre).
* :func:`update`: c_k = mean of the points with z_i = k (J cannot go up: the
  mean minimises the sum of squared distances to a set of points).

>>> import numpy as np
>>> X = np.array([[0.0, 0.0], [0.0, 1.0], [9.0, 9.0], [9.0, 10.0]])
>>> result = fit(X, 2, init=X[[0, 2]])
>>> result.centers
array([[0. , 0.5],
       [9. , 9.5]])
>>> result.labels, result.inertia, result.converged
(array([0, 0, 1, 1]), 1.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import check_count, check_data, check_not_more_than_distinct, check_positive_float

__all__ = ["KMeansResult", "assign", "fit", "inertia", "kmeans_plusplus", "squared_distances", "update"]


def _check_centers(centers, n_features: int, name: str = "centers") -> np.ndarray:
    try:
        centers_KD = np.asarray(centers, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers with shape (n_clusters, n_features)") from None
    if centers_KD.ndim != 2 or centers_KD.shape[1] != n_features or centers_KD.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n_clusters, {n_features}); got {centers_KD.shape}")
    if not np.isfinite(centers_KD).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return centers_KD


def _check_labels(labels, n_samples: int, n_clusters: int) -> np.ndarray:
    labels_N = np.asarray(labels)
    if labels_N.shape != (n_samples,):
        raise ValueError(f"labels must have shape ({n_samples},), one per row of X; got {labels_N.shape}")
    if not np.issubdtype(labels_N.dtype, np.integer):
        raise TypeError(f"labels must be integers; got dtype {labels_N.dtype}")
    if labels_N.size and (labels_N.min() < 0 or labels_N.max() >= n_clusters):
        raise ValueError(
            f"labels must lie in 0..{n_clusters - 1}; got values from {labels_N.min()} to {labels_N.max()}"
        )
    return labels_N.astype(np.intp, copy=False)


def _squared_distances(X_ND, centers_KD) -> np.ndarray:
    # ‖x - c‖² = ‖x‖² - 2 x·c + ‖c‖², one matrix product instead of an N×K×D array.
    # Shift both by the centres' mean first so that data far from the origin
    # do not lose their digits to cancellation.
    shift_D = centers_KD.mean(axis=0)
    Xs_ND = X_ND - shift_D
    Cs_KD = centers_KD - shift_D
    d2_NK = np.einsum("nd,nd->n", Xs_ND, Xs_ND)[:, None] - 2.0 * (Xs_ND @ Cs_KD.T)
    d2_NK += np.einsum("kd,kd->k", Cs_KD, Cs_KD)
    np.maximum(d2_NK, 0.0, out=d2_NK)
    return d2_NK


def squared_distances(X, centers) -> np.ndarray:
    """‖x_i - c_k‖² for every point and centre: shape (N, K)."""
    X_ND = check_data(X)
    return _squared_distances(X_ND, _check_centers(centers, X_ND.shape[1]))


def assign(X, centers) -> np.ndarray:
    """The assignment step: each point's nearest centre, z_i = argmin_k ‖x_i - c_k‖².

    Ties go to the lower index.
    """
    X_ND = check_data(X)
    return _assign(X_ND, _check_centers(centers, X_ND.shape[1]))


def _assign(X_ND, centers_KD) -> np.ndarray:
    prep = _Prepared(X_ND)
    return prep.assign(centers_KD - prep.center_D)[0]


def update(X, labels, n_clusters: int, *, centers=None) -> np.ndarray:
    """The update step: c_k = mean of the points assigned to cluster k.

    An empty cluster has no mean. Policy (scikit-learn's): each empty cluster
    takes the point that lies farthest from its own centre (measured to
    ``centers``, the centres the labels came from, if given, else to the new
    means), and that point is taken out of its old cluster's mean.
    """
    X_ND = check_data(X)
    K = check_count(n_clusters, "n_clusters")
    labels_N = _check_labels(labels, X_ND.shape[0], K)
    old_KD = None if centers is None else _check_centers(centers, X_ND.shape[1])
    if old_KD is not None and old_KD.shape[0] != K:
        raise ValueError(f"centers has {old_KD.shape[0]} rows but n_clusters is {K}")
    return _update(X_ND, labels_N, K, old_KD)


def _update(X_ND, labels_N, K, old_centers_KD=None, XT_DN=None) -> np.ndarray:
    XT_DN = np.ascontiguousarray(X_ND.T) if XT_DN is None else XT_DN
    counts_K = np.bincount(labels_N, minlength=K).astype(np.float64)
    # Sum each feature per cluster (a loop over features, never over points).
    sums_KD = np.stack([np.bincount(labels_N, weights=row, minlength=K) for row in XT_DN], axis=1)
    empty_E = np.flatnonzero(counts_K == 0)
    if empty_E.size:
        ref_KD = old_centers_KD
        if ref_KD is None:
            ref_KD = sums_KD / np.maximum(counts_K, 1.0)[:, None]
        dist_N = ((X_ND - ref_KD[labels_N]) ** 2).sum(axis=1)
        far_E = np.argsort(-dist_N, kind="stable")[: empty_E.size]
        for k_new, i in zip(empty_E, far_E, strict=True):  # a loop over empty clusters only
            k_old = labels_N[i]
            if counts_K[k_old] > 1:
                sums_KD[k_old] -= X_ND[i]
                counts_K[k_old] -= 1
            sums_KD[k_new] = X_ND[i]
            counts_K[k_new] = 1
    return sums_KD / counts_K[:, None]


def inertia(X, centers, labels) -> float:
    """J = Σ_i ‖x_i - c_{z_i}‖², the k-means objective."""
    X_ND = check_data(X)
    centers_KD = _check_centers(centers, X_ND.shape[1])
    labels_N = _check_labels(labels, X_ND.shape[0], centers_KD.shape[0])
    return _inertia(X_ND, centers_KD, labels_N)


def _inertia(X_ND, centers_KD, labels_N) -> float:
    diff_ND = X_ND - centers_KD[labels_N]
    return float(np.einsum("nd,nd->", diff_ND, diff_ND))


def kmeans_plusplus(X, n_clusters: int, *, seed=None) -> np.ndarray:
    """k-means++ seeding: spread the initial centres out.

    The first centre is a data point chosen uniformly; each next one is drawn
    with probability proportional to its squared distance to the nearest
    centre chosen so far (greedy: of 2 + ⌊ln K⌋ such draws, the one that
    lowers the inertia most is kept, as in scikit-learn).
    """
    X_ND = check_data(X)
    K = check_count(n_clusters, "n_clusters")
    check_not_more_than_distinct(X_ND, K, "n_clusters")
    rng = np.random.default_rng(seed)
    N = X_ND.shape[0]
    n_trials = 2 + int(np.log(K))
    centers_KD = np.empty((K, X_ND.shape[1]))
    centers_KD[0] = X_ND[rng.integers(N)]
    closest_N = _squared_distances(X_ND, centers_KD[:1])[:, 0]
    for k in range(1, K):  # a loop over centres, never over points
        total = closest_N.sum()
        if total <= 0:  # every point coincides with a centre already chosen
            candidates_T = rng.integers(N, size=n_trials)
        else:
            cdf_N = np.cumsum(closest_N)
            candidates_T = np.searchsorted(cdf_N, rng.uniform(size=n_trials) * cdf_N[-1], side="right")
            candidates_T = np.minimum(candidates_T, N - 1)
        d2_NT = _squared_distances(X_ND, X_ND[candidates_T])
        new_closest_TN = np.minimum(closest_N[None, :], d2_NT.T)
        best = int(np.argmin(new_closest_TN.sum(axis=1)))
        centers_KD[k] = X_ND[candidates_T[best]]
        closest_N = new_closest_TN[best]
    return centers_KD


@dataclass
class KMeansResult:
    """A k-means fit.

    ``history["centers"]`` holds c⁰, ..., cᵀ (T = n_iter, so T + 1 entries);
    ``history["labels"][t-1]`` the labels of assignment step t (from cᵗ⁻¹);
    ``history["inertia"][t-1]`` the inertia after update step t (labels of
    step t with centres cᵗ). The inertia never increases along the history.
    """

    centers: np.ndarray
    labels: np.ndarray
    inertia: float
    n_iter: int
    converged: bool
    history: dict = field(default_factory=dict)


def _initial_centers(X_ND, K, init, rng) -> np.ndarray:
    if isinstance(init, str):
        if init == "k-means++":
            return kmeans_plusplus(X_ND, K, seed=rng)
        if init == "random":  # K distinct data points, picked uniformly
            _, first_index = np.unique(X_ND, axis=0, return_index=True)
            return X_ND[rng.choice(np.sort(first_index), size=K, replace=False)]
        if init == "random-positions":  # uniform in the bounding box of the data
            return rng.uniform(X_ND.min(axis=0), X_ND.max(axis=0), size=(K, X_ND.shape[1]))
        raise ValueError(f"init must be 'k-means++', 'random', 'random-positions' or an array of centres; got {init!r}")
    centers_KD = _check_centers(init, X_ND.shape[1], name="init")
    if centers_KD.shape[0] != K:
        raise ValueError(f"init has {centers_KD.shape[0]} centres but n_clusters is {K}")
    return centers_KD.copy()


def fit(
    X,
    n_clusters: int,
    *,
    init="k-means++",
    max_iter: int = 300,
    tol: float = 1e-4,
    seed=None,
    n_init: int = 1,
) -> KMeansResult:
    """Lloyd's algorithm: repeat assign, update until converged.

    Parameters
    ----------
    init : 'k-means++', 'random' (K distinct data points), 'random-positions'
        (uniform in the data's bounding box) or an array of K centres.
    max_iter : the largest number of iterations (assign + update).
    tol : see *convergence* below.
    seed : an int, ``None`` or a ``numpy.random.Generator``.
    n_init : restarts; the fit with the lowest inertia is returned.

    Convergence (scikit-learn's rule, so the two agree): stop when an
    assignment step changes no label (a fixed point: the next update could
    not move any centre), or when the centres moved by
    Σ_k ‖c_kᵗ - c_kᵗ⁻¹‖² ≤ tol × (mean per-feature variance of X). In the
    second case the final labels are recomputed from the final centres.
    ``converged`` is False only if ``max_iter`` ran out first.

    Empty clusters: see :func:`update`.
    """
    X_ND = check_data(X)
    K = check_count(n_clusters, "n_clusters")
    check_not_more_than_distinct(X_ND, K, "n_clusters")
    max_iter = check_count(max_iter, "max_iter", minimum=1)
    tol = check_positive_float(tol, "tol")
    n_init = check_count(n_init, "n_init")
    if n_init > 1 and not isinstance(init, str):
        raise ValueError("n_init > 1 needs a random init ('k-means++', 'random' or 'random-positions')")
    rng = np.random.default_rng(seed)
    tol_abs = tol * float(np.var(X_ND, axis=0).mean())

    prep = _Prepared(X_ND)  # centred once, with the norms every assignment reuses
    best = None
    for _ in range(n_init):
        result = _lloyd(X_ND, _initial_centers(X_ND, K, init, rng), max_iter, tol_abs, prep)
        if best is None or result.inertia < best.inertia:
            best = result
    return best


class _Prepared:
    """The data as Lloyd's loop wants them, computed once per fit.

    ``Xc_ND`` = X - (mean of X) (distances do not change under a shift, and
    centring keeps the expanded form below accurate); ``x2_N`` = ‖x_i‖²;
    ``XcT_DN`` = a contiguous copy of Xcᵀ, so that each feature's per-cluster
    sums read memory in order.
    """

    BLOCK_FLOATS = 1 << 17

    def __init__(self, X_ND):
        self.center_D = X_ND.mean(axis=0)
        self.Xc_ND = X_ND - self.center_D
        self.x2_N = np.einsum("nd,nd->n", self.Xc_ND, self.Xc_ND)
        self._XcT_DN = None

    @property
    def XcT_DN(self):
        if self._XcT_DN is None:  # only the update step needs it
            self._XcT_DN = np.ascontiguousarray(self.Xc_ND.T)
        return self._XcT_DN

    def assign(self, centers_c_KD):
        """Labels z_i = argmin_k ‖x_i - c_k‖² and the distances d_i = ‖x_i - c_{z_i}‖².

        ‖x - c‖² = ‖x‖² - 2 x·c + ‖c‖², and ‖x‖² does not change which k is
        smallest: a cache-sized block of rows at a time, one matrix product
        gives -2 x·c_k + ‖c_k‖² for every k, then its argmin.
        """
        N, K = self.Xc_ND.shape[0], centers_c_KD.shape[0]
        c2_K = np.einsum("kd,kd->k", centers_c_KD, centers_c_KD)
        minus2C_DK = -2.0 * centers_c_KD.T
        labels_N = np.empty(N, dtype=np.intp)
        d2_N = np.empty(N)
        rows = max(256, self.BLOCK_FLOATS // K)
        for start in range(0, N, rows):
            sl = slice(start, min(N, start + rows))
            g_BK = self.Xc_ND[sl] @ minus2C_DK
            g_BK += c2_K
            lab_B = g_BK.argmin(axis=1)
            labels_N[sl] = lab_B
            d2_N[sl] = g_BK[np.arange(len(lab_B)), lab_B]
        d2_N += self.x2_N
        np.maximum(d2_N, 0.0, out=d2_N)
        return labels_N, d2_N

    def update(self, labels_N, K, old_centers_c_KD):
        """Cluster means (the policy of :func:`update` for empty clusters), and the counts (None if one was empty)."""
        counts_K = np.bincount(labels_N, minlength=K)
        centers_c_KD = _update(self.Xc_ND, labels_N, K, old_centers_c_KD, self.XcT_DN)
        return centers_c_KD, (None if (counts_K == 0).any() else counts_K)


def _lloyd(X_ND, centers_KD, max_iter, tol_abs, prep: _Prepared | None = None) -> KMeansResult:
    """Lloyd's loop on data prepared once (see _Prepared); centres are shifted back at the end.

    The inertia after each update comes from the one after the assignment:
    for fixed labels, J(z, c_new) = J(z, c_old) - Σ_k N_k ‖c_new,k - c_old,k‖²
    (the mean is where the sum of squared distances is smallest, by exactly
    that much). After an empty-cluster relocation it is summed directly.
    """
    prep = prep or _Prepared(X_ND)
    K = centers_KD.shape[0]
    centers_c = centers_KD - prep.center_D
    history = {"centers": [centers_KD], "labels": [], "inertia": []}
    labels_N = None
    converged = strict = False
    n_iter = 0
    for t in range(1, max_iter + 1):
        new_labels_N, d2_N = prep.assign(centers_c)
        new_centers_c, counts_K = prep.update(new_labels_N, K, centers_c)
        moved_KD = new_centers_c - centers_c
        if counts_K is not None:
            inertia = float(d2_N.sum()) - float(counts_K @ np.einsum("kd,kd->k", moved_KD, moved_KD))
        else:
            inertia = _inertia(prep.Xc_ND, new_centers_c, new_labels_N)
        history["labels"].append(new_labels_N)
        history["centers"].append(new_centers_c + prep.center_D)
        history["inertia"].append(max(inertia, 0.0))
        n_iter = t
        shift = float(np.einsum("kd,kd->", moved_KD, moved_KD))
        strict = labels_N is not None and np.array_equal(new_labels_N, labels_N)
        labels_N, centers_c = new_labels_N, new_centers_c
        if strict or shift <= tol_abs:
            converged = True
            break
    if not strict:
        labels_N, _ = prep.assign(centers_c)
    centers_KD = centers_c + prep.center_D
    return KMeansResult(
        centers=centers_KD,
        labels=labels_N,
        inertia=_inertia(X_ND, centers_KD, labels_N),
        n_iter=n_iter,
        converged=converged,
        history=history,
    )
