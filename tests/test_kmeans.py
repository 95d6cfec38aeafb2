"""emkit.kmeans against scikit-learn's Lloyd k-means, and the steps on their own."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans

from emkit import datasets, kmeans


def blobs(n=500, seed=0, shift=0.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 3)) * 4
    return centres[rng.integers(0, 4, n)] + rng.normal(size=(n, 3)) + shift


@pytest.mark.parametrize("shift", [0.0, 1e6])
@pytest.mark.parametrize("seed", range(5))
def test_fit_matches_sklearn_from_the_same_start(seed, shift):
    X = blobs(seed=seed, shift=shift)
    init = X[np.random.default_rng(seed).choice(len(X), 4, replace=False)]
    ours = kmeans.fit(X, 4, init=init, tol=0)
    sk = KMeans(4, init=init, n_init=1, algorithm="lloyd", tol=0, max_iter=300).fit(X)
    np.testing.assert_array_equal(ours.labels, sk.labels_)
    np.testing.assert_allclose(ours.centers, sk.cluster_centers_, rtol=1e-10, atol=1e-10 * (1 + shift) * 1e-6)
    assert ours.inertia == pytest.approx(sk.inertia_, rel=1e-9)
    assert ours.n_iter == sk.n_iter_ and ours.converged


def test_fit_matches_sklearn_on_old_faithful_with_default_tol():
    X = datasets.old_faithful()
    init = X[[0, 1, 2]]
    ours = kmeans.fit(X, 3, init=init)
    sk = KMeans(3, init=init, n_init=1, algorithm="lloyd").fit(X)
    np.testing.assert_array_equal(ours.labels, sk.labels_)
    np.testing.assert_allclose(ours.centers, sk.cluster_centers_, rtol=1e-10)
    assert ours.n_iter == sk.n_iter_


def test_assign_is_the_nearest_centre():
    rng = np.random.default_rng(1)
    X, C = rng.normal(size=(200, 2)), rng.normal(size=(5, 2))
    brute = np.array([np.argmin([np.sum((x - c) ** 2) for c in C]) for x in X])
    np.testing.assert_array_equal(kmeans.assign(X, C), brute)
    np.testing.assert_allclose(kmeans.squared_distances(X, C), ((X[:, None] - C[None]) ** 2).sum(-1), atol=1e-12)


def test_update_is_the_mean_of_each_cluster():
    rng = np.random.default_rng(2)
    X, labels = rng.normal(size=(100, 3)), rng.integers(0, 4, 100)
    expected = np.stack([X[labels == k].mean(axis=0) for k in range(4)])
    np.testing.assert_allclose(kmeans.update(X, labels, 4), expected, rtol=1e-13)


def test_empty_cluster_takes_the_farthest_point():
    X = np.array([[0.0], [1.0], [2.0], [10.0]])
    labels = np.array([0, 0, 0, 0])  # cluster 1 is empty
    centers = kmeans.update(X, labels, 2, centers=np.array([[1.0], [50.0]]))
    np.testing.assert_allclose(centers, [[1.0], [10.0]])  # 10 is farthest from its centre 1


def test_inertia_never_increases_and_history_shapes():
    X = blobs(seed=3)
    result = kmeans.fit(X, 4, init="random", seed=3)
    assert len(result.history["centers"]) == result.n_iter + 1
    assert len(result.history["labels"]) == len(result.history["inertia"]) == result.n_iter
    assert np.all(np.diff(result.history["inertia"]) <= 1e-9)
    assert result.inertia == pytest.approx(kmeans.inertia(X, result.centers, result.labels))


@pytest.mark.parametrize("init", ["k-means++", "random", "random-positions"])
def test_inits_and_restarts(init):
    X = blobs(seed=4)
    one = kmeans.fit(X, 4, init=init, seed=0)
    best = kmeans.fit(X, 4, init=init, seed=0, n_init=5)
    assert best.inertia <= one.inertia + 1e-9
    assert kmeans.fit(X, 4, init=init, seed=0).inertia == one.inertia  # seeded: reproducible


def test_kmeans_plusplus_picks_distinct_data_points_spread_out():
    X = np.vstack([np.zeros((50, 2)), np.full((50, 2), 10.0), np.full((50, 2), [0.0, 10.0])])
    X += np.random.default_rng(0).normal(size=X.shape) * 0.1
    C = kmeans.kmeans_plusplus(X, 3, seed=1)
    assert all(any(np.array_equal(c, x) for x in X) for c in C)
    assert len(set(kmeans.assign(C, np.array([[0.0, 0.0], [10.0, 10.0], [0.0, 10.0]])))) == 3


def test_tolerance_rule_stops_early_and_recomputes_labels():
    X = blobs(seed=5)
    loose = kmeans.fit(X, 4, init=X[:4], tol=1.0)
    np.testing.assert_array_equal(loose.labels, kmeans.assign(X, loose.centers))
    assert loose.n_iter <= kmeans.fit(X, 4, init=X[:4], tol=0).n_iter


def counting(monkeypatch, module, name):
    """Wrap module.name so that calls are counted; returns the list of calls' first-argument shapes."""
    calls = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(np.shape(args[0]) if args else None)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random"])
def test_a_public_fit_validates_once_and_sorts_the_data_at_most_once(monkeypatch, init):
    import emkit.gmm as gmm_module
    import emkit.kmeans as kmeans_module

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 2)) + rng.integers(0, 3, size=(20_000, 1)) * 4
    uniques = counting(monkeypatch, np, "unique")
    checks = counting(monkeypatch, gmm_module, "check_data")
    checks_km = counting(monkeypatch, kmeans_module, "check_data")
    gmm_module.fit(X, 3, init=init, n_init=3, seed=0, max_iter=20)
    assert len(checks) + len(checks_km) == 1
    assert len(uniques) == 0  # the draws found distinct points: no sort at all
    uniques.clear(), checks_km.clear()
    kmeans_module.fit(X, 3, n_init=3, seed=0)
    assert len(checks_km) == 1 and len(uniques) == 0


def test_distinct_points_are_counted_once_and_only_when_the_draw_fails(monkeypatch):
    uniques = counting(monkeypatch, np, "unique")
    X = np.repeat(np.arange(4.0)[:, None], 5000, axis=0) * [1.0, 2.0]  # 20,000 rows, 4 distinct points
    result = kmeans.fit(X, 4, init="random", seed=0, n_init=1)
    assert sorted(map(tuple, np.round(result.centers, 9))) == [(0, 0), (1, 2), (2, 4), (3, 6)]
    assert len(uniques) <= 1  # at most one sort, and only because random draws kept repeating points
    uniques.clear()
    with pytest.raises(ValueError, match="distinct points in X \\(4\\)"):
        kmeans.fit(X, 5, init="random", seed=0)
    assert len(uniques) == 1


# ---------------------------------------------------------------------------
# The fast paths on data large enough to use them: many row blocks, the
# packed-index minimum and the plain argmin beyond 1,024 centres, the
# incremental cluster sums and their periodic refresh. References: SciPy's distances, sums by
# boolean masks, scikit-learn's Lloyd.
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("N", "D", "K", "offset"),
    [(30_001, 10, 20, 0.0), (120_000, 3, 1, 0.0), (9_000, 2, 300, 1e4), (4_000, 2, 1_100, 0.0), (10_007, 50, 20, 0.0)],
)
def test_assignment_over_many_blocks_is_the_nearest_centre(N, D, K, offset):
    from scipy.spatial.distance import cdist

    import emkit.kmeans as kmeans_module
    from emkit._core import Prepared

    rng = np.random.default_rng(N + K)
    X = rng.normal(size=(N, D)) + offset
    C = X[rng.choice(N, K, replace=False)] + rng.normal(scale=0.01, size=(K, D))
    assert N > kmeans_module._block_rows(np.empty((K, D + 2)))  # several blocks
    d2_NK = cdist(X, C, "sqeuclidean")
    labels = kmeans.assign(X, C)
    best = d2_NK.min(axis=1)
    # the label is a nearest centre (up to the round-off of the expanded form, relative to the data's scale)
    slack = 1e-12 * (1 + np.abs(X).max() ** 2)
    assert np.all(d2_NK[np.arange(N), labels] <= best + slack)
    assert np.mean(labels == d2_NK.argmin(axis=1)) > 0.999
    np.testing.assert_allclose(kmeans.squared_distances(X, C), d2_NK, rtol=1e-9, atol=slack)
    prep = Prepared(X)
    labels_again, total = kmeans_module._assign(prep, C - prep.center_D)
    np.testing.assert_array_equal(labels_again, labels)
    assert total == pytest.approx(d2_NK[np.arange(N), labels].sum(), rel=1e-9)


def test_equal_distances_go_to_the_lower_index_across_blocks():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(5_000, 2))
    C = np.array([[3.0, 3.0], [0.0, 0.0], [0.0, 0.0], [-3.0, 3.0]])  # centres 1 and 2 coincide
    labels = kmeans.assign(X, C)
    assert not np.any(labels == 2) and np.any(labels == 1)
    on_centre = kmeans.assign(np.vstack([X, C]), C)[-4:]
    np.testing.assert_array_equal(on_centre, [0, 1, 1, 3])  # a point on a centre (distance 0 or -1e-16) is its own


@pytest.mark.parametrize("K", [20, 70])
def test_incremental_sums_are_the_change_in_the_cluster_sums(K):
    import emkit.kmeans as kmeans_module
    from emkit._core import Prepared

    rng = np.random.default_rng(K)
    prep = Prepared(rng.normal(size=(3_000, 4)) * 5 + 100)
    old = rng.integers(0, K, prep.N)
    new = old.copy()
    moved = np.sort(rng.choice(prep.N, 400, replace=False))
    new[moved] = (old[moved] + rng.integers(1, K, moved.size)) % K

    def sums(labels):
        return np.array([prep.Xc_ND[labels == k].sum(axis=0) for k in range(K)]), np.array(
            [np.sum(labels == k) for k in range(K)]
        )

    change_KD, change_K = kmeans_module._moved_sums(prep, new, old, moved, K)
    (new_KD, new_K), (old_KD, old_K) = sums(new), sums(old)
    np.testing.assert_allclose(change_KD, new_KD - old_KD, atol=1e-9 * prep.N)
    np.testing.assert_array_equal(change_K, new_K - old_K)


@pytest.mark.parametrize(("N", "K", "max_iter"), [(40_000, 20, 25), (12_000, 70, 15)])
def test_long_fits_on_many_blocks_match_sklearn(N, K, max_iter):
    """Uniform data keep Lloyd moving: full sums, incremental sums and refreshes all happen."""
    rng = np.random.default_rng(K)
    X = rng.uniform(size=(N, 5))
    init = X[rng.choice(N, K, replace=False)]
    ours = kmeans.fit(X, K, init=init, max_iter=max_iter, tol=0)
    sk = KMeans(K, init=init, n_init=1, algorithm="lloyd", max_iter=max_iter, tol=0).fit(X)
    moved = [np.sum(a != b) for a, b in zip(ours.history["labels"][1:], ours.history["labels"][:-1], strict=True)]
    assert max(moved) > N // 8 and 0 < min(moved) <= N // 8  # both ways of updating the sums were used
    assert ours.n_iter == sk.n_iter_ == max_iter
    np.testing.assert_array_equal(ours.labels, sk.labels_)
    np.testing.assert_allclose(ours.centers, sk.cluster_centers_, rtol=1e-10, atol=1e-12)
    assert ours.inertia == pytest.approx(sk.inertia_, rel=1e-10)
    # the history's inertia (from the assignment's distances and the mean shift) is the inertia of each step
    for t in (0, max_iter // 2, max_iter - 1):
        labels, centers = ours.history["labels"][t], ours.history["centers"][t + 1]
        assert ours.history["inertia"][t] == pytest.approx(kmeans.inertia(X, centers, labels), rel=1e-9)


@pytest.mark.parametrize(("K", "dtype"), [(2, np.uint8), (256, np.uint8), (257, np.uint16)])
def test_history_labels_are_compact_and_equal_to_the_assignments(K, dtype):
    rng = np.random.default_rng(K)
    X = rng.normal(size=(3 * K, 2))
    result = kmeans.fit(X, K, init=X[:K], max_iter=3, tol=0)
    assert all(labels.dtype == dtype for labels in result.history["labels"])
    for t, labels in enumerate(result.history["labels"]):
        np.testing.assert_array_equal(labels, kmeans.assign(X, result.history["centers"][t]))
    assert result.labels.dtype == np.intp


def test_inertia_of_data_far_from_the_origin():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(3)
    X = rng.normal(size=(50_000, 3)) + 1e6
    C = X[:4] + 0.5
    labels = rng.integers(0, 4, len(X))
    expected = cdist(X, C, "sqeuclidean")[np.arange(len(X)), labels].sum()
    assert kmeans.inertia(X, C, labels) == pytest.approx(expected, rel=1e-9)
