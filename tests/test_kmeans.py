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
