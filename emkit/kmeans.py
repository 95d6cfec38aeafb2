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

from dataclasses import dataclass

import numpy as np

from ._core import Prepared, block_rows, row_blocks, row_slices
from ._validation import check_count, check_data, check_positive_float, distinct_rows
from .em import FitResult, best_of

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


# ---------------------------------------------------------------------------
# The two steps, on prepared data (centred once per fit; see emkit._core.Prepared)
# ---------------------------------------------------------------------------

# The assignment step finds, for each point, the smallest of K squared distances
# and where it is. numpy's argmin along rows of K = 20 is slow (a branch per
# entry), while an elementwise minimum down the K rows of a (K, B) block runs at
# memory speed. So the index rides along in the value: squared distances are
# >= 0, and the bit patterns of non-negative floats sort like the floats; the
# lowest INDEX_BITS bits of each are replaced by the centre's index k, and one
# integer minimum gives both the smallest distance (to 52 - INDEX_BITS bits) and
# its k. Distances equal to that precision go to the lower index.
#
# It runs in the calling thread, a block of rows at a time, each block's
# distances from one matrix product of at most PRODUCT_MACS multiply-adds
# (1,092 rows at K = 20, D = 10; never fewer than MIN_BLOCK_ROWS rows, so for
# large K × D the products are larger): OpenBLAS computes a product that small
# in the calling thread, so it never wakes its own worker threads for us. Measured on
# a 2-core virtual machine (N = 300,000, D = 10, K = 20, a pass over the
# data, benchmarks/bench.py --only assign): with larger products OpenBLAS
# splits each one over both cores, which took 21-26 ms in most processes at
# some times (its spinning worker then shares the main thread's core) and
# 9.5-12 ms in all of them at others, while small products take 10-17 ms in
# every process; over a whole fit the two tie at best. Worker threads of our own do not pay either: OpenBLAS
# serialises products called from several threads at once, and the
# element-wise steps on a block take microseconds, less than handing the
# interpreter's lock from one thread to another costs there.
INDEX_BITS_MAX = 10  # up to 1,024 centres; beyond, a plain argmin
PRODUCT_MACS = 1 << 18  # OpenBLAS's default threshold: a product this small runs in the calling thread
MIN_BLOCK_ROWS = 1024  # when K × (D + 2) is large, larger products: the calls' own costs stay small


def _index_bits(K: int) -> int:
    return max(1, int(K - 1).bit_length())


def _distance_weights(centers_c_KD) -> np.ndarray:
    """W with W · [x, 1, ‖x‖²] = ‖x‖² - 2 x·c_k + ‖c_k‖² = ‖x - c_k‖² for each centre."""
    K = centers_c_KD.shape[0]
    return np.hstack([-2.0 * centers_c_KD, np.einsum("kd,kd->k", centers_c_KD, centers_c_KD)[:, None], np.ones((K, 1))])


def _block_rows(W_KA) -> int:
    """Rows per block: one product of at most PRODUCT_MACS multiply-adds (K × (D + 2) a row), in cache."""
    return min(block_rows(W_KA.shape[0]), max(MIN_BLOCK_ROWS, PRODUCT_MACS // W_KA.size))


def _blocks(N: int, W_KA):
    """The row blocks of :func:`_block_rows` rows covering 0..N."""
    return row_slices(N, _block_rows(W_KA))


def _squared_distances(prep: Prepared, centers_c_KD) -> np.ndarray:
    """‖x_i - c_k‖² for every point and (centred) centre: (N, K)."""
    W_KA = _distance_weights(centers_c_KD)
    d2_NK = np.empty((prep.N, W_KA.shape[0]))
    for rows in _blocks(prep.N, W_KA):
        np.maximum(W_KA @ prep.aug_T[:, rows], 0.0, out=d2_NK[rows].T)
    return d2_NK


def _assign(prep: Prepared, centers_c_KD, out=None):
    """Labels z_i = argmin_k ‖x_i - c_k‖² (c centred like X), and the sum of those least distances Σ_i d_i.

    ``out``: an array to write the labels into, so that a loop reuses its
    memory instead of touching fresh pages every iteration.
    """
    N, K = prep.N, centers_c_KD.shape[0]
    W_KA = _distance_weights(centers_c_KD)
    labels_N = np.empty(N, dtype=np.intp) if out is None else out
    total = 0.0
    # one buffer for every block: no fresh pages per block
    g_buffer = np.empty((K, _block_rows(W_KA)))
    bits = _index_bits(K)
    if bits > INDEX_BITS_MAX:
        for rows in _blocks(N, W_KA):
            g_KB = g_buffer[:, : rows.stop - rows.start]
            np.matmul(W_KA, prep.aug_T[:, rows], out=g_KB)
            labels_N[rows] = lab_B = g_KB.argmin(axis=0)
            total += float(g_KB[lab_B, np.arange(lab_B.size)].sum())
        return labels_N, max(total, 0.0)
    low = np.int64((1 << bits) - 1)
    keep = ~low
    # k in every column, written out: OR-ing a whole array is several times cheaper than broadcasting a column
    index_KB = np.repeat(np.arange(K, dtype=np.int64)[:, None], g_buffer.shape[1], axis=1)
    key_buffer = np.empty(g_buffer.shape[1], dtype=np.int64)
    for rows in _blocks(N, W_KA):
        B = rows.stop - rows.start
        g_KB, key_B = g_buffer[:, :B], key_buffer[:B]
        np.matmul(W_KA, prep.aug_T[:, rows], out=g_KB)
        key_KB = g_KB.view(np.int64)  # a round-off -1e-16 (a point on a centre) is negative, so still the least
        key_KB &= keep
        np.bitwise_or(key_KB, index_KB[:, :B], out=key_KB)
        np.minimum.reduce(key_KB, axis=0, out=key_B)
        np.bitwise_and(key_B, low, out=labels_N[rows], casting="unsafe")  # while the block is in cache
        key_B &= keep
        total += float(key_B.view(np.float64).sum())
    return labels_N, max(total, 0.0)


def _sums(XcT_DN, labels_N, K):
    """Per-cluster sums of the (centred) points, Σ_{i: z_i = k} x_i, and counts N_k (a bincount per feature)."""
    sums_KD = np.empty((K, XcT_DN.shape[0]))
    for d in range(XcT_DN.shape[0]):
        sums_KD[:, d] = np.bincount(labels_N, weights=XcT_DN[d], minlength=K)
    return sums_KD, np.bincount(labels_N, minlength=K)


def _moved_sums(prep: Prepared, new_labels_N, old_labels_N, moved_M, K):
    """How the cluster sums and counts change when the points ``moved_M`` change cluster.

    Σ_{moved i} x_i ([z_i' = k] - [z_i = k]): the moved rows are gathered once
    (``np.take`` copies whole rows, ten times faster than fancy indexing
    here), then summed into their new clusters and out of their old ones.
    """
    x_DM = np.take(prep.Xc_ND, moved_M, axis=0).T
    into_KD, into_K = _sums(x_DM, new_labels_N[moved_M], K)
    out_KD, out_K = _sums(x_DM, old_labels_N[moved_M], K)
    return into_KD - out_KD, into_K - out_K


def _relocate_empty(prep: Prepared, labels_N, sums_KD, counts_K, ref_c_KD):
    """Empty clusters take the points farthest from their own centres (scikit-learn's policy), in place."""
    empty_E = np.flatnonzero(counts_K == 0)
    if ref_c_KD is None:
        ref_c_KD = sums_KD / np.maximum(counts_K, 1)[:, None]
    diff_ND = prep.Xc_ND - ref_c_KD[labels_N]
    dist_N = np.einsum("nd,nd->n", diff_ND, diff_ND)
    far_E = np.argsort(-dist_N, kind="stable")[: empty_E.size]
    for k_new, i in zip(empty_E, far_E, strict=True):  # a loop over empty clusters only
        k_old = labels_N[i]
        if counts_K[k_old] > 1:
            sums_KD[k_old] -= prep.Xc_ND[i]
            counts_K[k_old] -= 1
        sums_KD[k_new] = prep.Xc_ND[i]
        counts_K[k_new] = 1


def _update(prep: Prepared, labels_N, K, old_centers_c_KD=None) -> np.ndarray:
    """c_k = mean of the (centred) points with z_i = k; empty clusters as in :func:`update`."""
    sums_KD, counts_K = _sums(prep.XcT_DN, labels_N, K)
    if (counts_K == 0).any():
        _relocate_empty(prep, labels_N, sums_KD, counts_K, old_centers_c_KD)
    return sums_KD / counts_K[:, None]


def _inertia(X_ND, centers_KD, labels_N) -> float:
    """Σ_i ‖x_i - c_{z_i}‖² (X and the centres in the same frame), a cache-sized block of rows at a time."""
    total = 0.0
    for rows in row_blocks(X_ND.shape[0], 2 * X_ND.shape[1]):
        diff_BD = X_ND[rows] - centers_KD[labels_N[rows]]
        total += float(np.einsum("nd,nd->", diff_BD, diff_BD))
    return total


# ---------------------------------------------------------------------------
# The public steps: each checks its input once, then runs the private step
# ---------------------------------------------------------------------------


def squared_distances(X, centers) -> np.ndarray:
    """‖x_i - c_k‖² for every point and centre: shape (N, K)."""
    prep = Prepared(check_data(X))
    centers_KD = _check_centers(centers, prep.D)
    return _squared_distances(prep, centers_KD - prep.center_D)


def assign(X, centers) -> np.ndarray:
    """The assignment step: each point's nearest centre, z_i = argmin_k ‖x_i - c_k‖².

    Ties (distances equal to about 14 significant digits) go to the lower index.
    """
    prep = Prepared(check_data(X))
    return _assign(prep, _check_centers(centers, prep.D) - prep.center_D)[0]


def update(X, labels, n_clusters: int, *, centers=None) -> np.ndarray:
    """The update step: c_k = mean of the points assigned to cluster k.

    An empty cluster has no mean. Policy (scikit-learn's): each empty cluster
    takes the point that lies farthest from its own centre (measured to
    ``centers``, the centres the labels came from, if given, else to the new
    means), and that point is taken out of its old cluster's mean.
    """
    prep = Prepared(check_data(X))
    K = check_count(n_clusters, "n_clusters")
    labels_N = _check_labels(labels, prep.N, K)
    old_KD = None if centers is None else _check_centers(centers, prep.D)
    if old_KD is not None and old_KD.shape[0] != K:
        raise ValueError(f"centers has {old_KD.shape[0]} rows but n_clusters is {K}")
    old_c = None if old_KD is None else old_KD - prep.center_D
    return _update(prep, labels_N, K, old_c) + prep.center_D


def inertia(X, centers, labels) -> float:
    """J = Σ_i ‖x_i - c_{z_i}‖², the k-means objective."""
    X_ND = check_data(X)
    centers_KD = _check_centers(centers, X_ND.shape[1])
    labels_N = _check_labels(labels, X_ND.shape[0], centers_KD.shape[0])
    return _inertia(X_ND, centers_KD, labels_N)  # plain differences: no cancellation to avoid by centring


def _plusplus(prep: Prepared, K: int, rng) -> np.ndarray | None:
    """k-means++ on prepared data: the rows of K centres, or None if it runs out of points away from them."""
    Xc, N = prep.Xc_ND, prep.N
    n_trials = 2 + int(np.log(K))
    rows_K = np.empty(K, dtype=np.intp)
    rows_K[0] = rng.integers(N)
    closest_N = _squared_distances(prep, Xc[rows_K[:1]])[:, 0]
    for k in range(1, K):  # a loop over centres, never over points
        total = closest_N.sum()
        if total <= 0:  # every point coincides with a centre already chosen
            return None
        cdf_N = np.cumsum(closest_N)
        candidates_T = np.searchsorted(cdf_N, rng.uniform(size=n_trials) * cdf_N[-1], side="right")
        candidates_T = np.minimum(candidates_T, N - 1)
        d2_NT = _squared_distances(prep, Xc[candidates_T])
        new_closest_TN = np.minimum(closest_N[None, :], d2_NT.T)
        best = int(np.argmin(new_closest_TN.sum(axis=1)))
        rows_K[k] = candidates_T[best]
        closest_N = new_closest_TN[best]
    return rows_K


def kmeans_plusplus(X, n_clusters: int, *, seed=None) -> np.ndarray:
    """k-means++ seeding: spread the initial centres out.

    The first centre is a data point chosen uniformly; each next one is drawn
    with probability proportional to its squared distance to the nearest
    centre chosen so far (greedy: of 2 + ⌊ln K⌋ such draws, the one that
    lowers the inertia most is kept, as in scikit-learn).
    """
    prep = Prepared(check_data(X))
    K = check_count(n_clusters, "n_clusters")
    return prep.X_ND[_initial_rows(prep, K, "k-means++", np.random.default_rng(seed), "n_clusters")]


@dataclass(kw_only=True)
class KMeansResult(FitResult):
    """A k-means fit.

    ``history["centers"]`` holds c⁰, ..., cᵀ (T = n_iter, so T + 1 entries);
    ``history["labels"][t-1]`` the labels of assignment step t (from cᵗ⁻¹),
    in the smallest unsigned integer type that holds K - 1 (so that a long
    fit on many points does not hold gigabytes of labels);
    ``history["inertia"][t-1]`` the inertia after update step t (labels of
    step t with centres cᵗ). The inertia never increases along the history.
    """

    centers: np.ndarray
    labels: np.ndarray
    inertia: float


def _random_distinct_rows(prep: Prepared, K: int, rng, attempts: int = 8):
    """K row indices whose points are distinct, drawn uniformly; None if a few draws keep repeating a point."""
    for _ in range(attempts):
        idx_K = rng.choice(prep.N, size=K, replace=False)
        if _all_distinct(prep.Xc_ND[idx_K]):
            return idx_K
    return None


def _all_distinct(P_KD) -> bool:
    """Whether K points are pairwise different (a sort of K rows, not of the data)."""
    sorted_KD = P_KD[np.lexsort(P_KD.T[::-1])]
    return not np.any(np.all(sorted_KD[1:] == sorted_KD[:-1], axis=1))


def _initial_rows(prep: Prepared, K: int, init: str, rng, name: str) -> np.ndarray:
    """The rows of K distinct data points, by k-means++ or uniformly ('random').

    Distinct points are counted (a sort of the data) only if the draw fails
    to find K of them; ``name`` is what the caller calls K, for the error.
    """
    if K > prep.N:
        raise ValueError(f"{name}={K} is larger than the number of data points ({prep.N})")
    rows_K = _plusplus(prep, K, rng) if init == "k-means++" else _random_distinct_rows(prep, K, rng)
    if rows_K is None:  # many repeated points (or distinct ones closer than round-off)
        first = distinct_rows(prep.X_ND, K, name)  # raises if there are fewer than K distinct points
        rows_K = rng.choice(first, size=K, replace=False)
    return rows_K


def _initial_centers(prep: Prepared, K: int, init, rng, name: str = "n_clusters") -> np.ndarray:
    """K starting centres, centred like the prepared data."""
    if isinstance(init, str):
        if init in ("k-means++", "random"):
            return prep.Xc_ND[_initial_rows(prep, K, init, rng, name)]
        if init == "random-positions":  # uniform in the bounding box of the data
            return rng.uniform(prep.Xc_ND.min(axis=0), prep.Xc_ND.max(axis=0), size=(K, prep.D))
        raise ValueError(f"init must be 'k-means++', 'random', 'random-positions' or an array of centres; got {init!r}")
    centers_KD = _check_centers(init, prep.D, name="init")
    if centers_KD.shape[0] != K:
        raise ValueError(f"init has {centers_KD.shape[0]} centres but n_clusters is {K}")
    return centers_KD - prep.center_D


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

    Empty clusters: see :func:`update`. Why this loop is not
    :func:`emkit.em.run`: see that module's docstring.
    """
    prep = Prepared(check_data(X))
    K = check_count(n_clusters, "n_clusters")
    max_iter = check_count(max_iter, "max_iter", minimum=1)
    tol = check_positive_float(tol, "tol")
    n_init = check_count(n_init, "n_init")
    if n_init > 1 and not isinstance(init, str):
        raise ValueError("n_init > 1 needs a random init ('k-means++', 'random' or 'random-positions')")
    rng = np.random.default_rng(seed)
    tol_abs = tol * float(prep.var_D.mean())
    return best_of(
        n_init, lambda: _lloyd(prep, _initial_centers(prep, K, init, rng), max_iter, tol_abs), lambda r: -r.inertia
    )


REFRESH_EVERY = 10  # iterations between full recomputations of the cluster sums (which are otherwise updated)


def _lloyd(prep: Prepared, centers_c_KD, max_iter, tol_abs) -> KMeansResult:
    """Lloyd's loop on prepared data; centres are shifted back to the data's frame in the history and result.

    Two shortcuts, neither changing the result beyond round-off:

    * the cluster sums are updated by the points that changed cluster (few,
      after the first iterations) instead of summed afresh, and recomputed
      in full every REFRESH_EVERY iterations, after an empty cluster, and
      whenever more than an eighth of the points moved (then summing
      afresh is the cheaper of the two);
    * the inertia after each update comes from the one after the
      assignment: for fixed labels, J(z, c_new) = J(z, c_old) - Σ_k N_k
      ‖c_new,k - c_old,k‖² (the mean is where the sum of squared distances is
      smallest, by exactly that much). After an empty-cluster relocation it
      is summed directly.
    """
    K = centers_c_KD.shape[0]
    centers_c = centers_c_KD
    history = {"centers": [centers_c + prep.center_D], "labels": [], "inertia": []}
    label_type = np.min_scalar_type(K - 1)  # the history's labels take 1 byte per point for K <= 256, not 8
    labels_N = sums_KD = counts_K = None
    converged = strict = False
    n_iter = 0
    # the labels of this and the last iteration take turns in two arrays
    label_buffers = (np.empty(prep.N, dtype=np.intp), np.empty(prep.N, dtype=np.intp))
    for t in range(1, max_iter + 1):
        new_labels_N, J_assigned = _assign(prep, centers_c, out=label_buffers[t % 2])
        moved_N = None if labels_N is None else np.flatnonzero(new_labels_N != labels_N)
        if moved_N is None or sums_KD is None or t % REFRESH_EVERY == 0 or moved_N.size > prep.N // 8:
            sums_KD, counts_K = _sums(prep.XcT_DN, new_labels_N, K)
        elif moved_N.size:
            change_KD, change_K = _moved_sums(prep, new_labels_N, labels_N, moved_N, K)
            sums_KD += change_KD
            counts_K += change_K
        relocated = bool((counts_K == 0).any())
        if relocated:
            _relocate_empty(prep, new_labels_N, sums_KD, counts_K, centers_c)
        new_centers_c = sums_KD / counts_K[:, None]
        moved_KD = new_centers_c - centers_c
        if not relocated:
            J = J_assigned - float(counts_K @ np.einsum("kd,kd->k", moved_KD, moved_KD))
        else:
            J = _inertia(prep.Xc_ND, new_centers_c, new_labels_N)
            sums_KD = None  # the relocation moved sums between clusters: sum afresh next time
        history["labels"].append(new_labels_N.astype(label_type))
        history["centers"].append(new_centers_c + prep.center_D)
        history["inertia"].append(max(J, 0.0))
        n_iter = t
        shift = float(np.einsum("kd,kd->", moved_KD, moved_KD))
        strict = moved_N is not None and moved_N.size == 0
        labels_N, centers_c = new_labels_N, new_centers_c
        if strict or shift <= tol_abs:
            converged = True
            break
    if not strict:
        labels_N, _ = _assign(prep, centers_c)
    return KMeansResult(
        centers=centers_c + prep.center_D,
        labels=labels_N,
        inertia=_inertia(prep.Xc_ND, centers_c, labels_N),
        n_iter=n_iter,
        converged=converged,
        history=history,
    )
