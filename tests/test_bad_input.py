"""Bad input gets a clear error naming the argument and what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from emkit import gmm, kmeans

X_OK = np.random.default_rng(0).normal(size=(30, 2))
W, M, C = np.array([0.5, 0.5]), np.array([[0.0, 0.0], [1.0, 1.0]]), np.stack([np.eye(2)] * 2)
X_NAN = X_OK.copy()
X_NAN[3, 1] = np.nan
X_INF = X_OK.copy()
X_INF[5, 0] = np.inf

BAD_DATA = [
    (X_NAN, ValueError, r"X contains 1 NaN or infinite value\(s\), the first at row 3, column 1"),
    (X_INF, ValueError, r"X contains 1 NaN or infinite .* row 5, column 0"),
    (np.arange(10.0), ValueError, r"X must be 2-D .* got 1-D .*reshape\(-1, 1\)"),
    (np.zeros((2, 2, 2)), ValueError, r"X must be 2-D .* got 3-D"),
    (np.zeros((0, 2)), ValueError, r"X is empty"),
    ([["a", "b"]], TypeError, r"X must be an array of numbers"),
]


@pytest.mark.parametrize("X, error, message", BAD_DATA)
@pytest.mark.parametrize(
    "call",
    [
        lambda X: gmm.fit(X, 2),
        lambda X: gmm.e_step(X, W, M, C),
        lambda X: gmm.m_step(X, np.full((len(np.atleast_1d(X)), 2), 0.5)),
        lambda X: kmeans.fit(X, 2),
        lambda X: kmeans.assign(X, M),
    ],
    ids=["gmm.fit", "gmm.e_step", "gmm.m_step", "kmeans.fit", "kmeans.assign"],
)
def test_bad_data(call, X, error, message):
    with pytest.raises(error, match=message):
        call(X)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"n_components": 0}, ValueError, r"n_components must be at least 1; got 0"),
        ({"n_components": 2.5}, TypeError, r"n_components must be a whole number; got 2.5"),
        ({"n_components": True}, TypeError, r"n_components must be a whole number"),
        ({"n_components": 31}, ValueError, r"n_components=31 is larger than the number of data points \(30\)"),
        ({"n_components": 2, "covariance_type": "ful"}, ValueError, r"covariance_type must be one of"),
        ({"n_components": 2, "reg_covar": -1.0}, ValueError, r"reg_covar must be a finite number >= 0"),
        ({"n_components": 2, "tol": float("nan")}, ValueError, r"tol must be a finite number"),
        ({"n_components": 2, "max_iter": -1}, ValueError, r"max_iter must be at least 0"),
        ({"n_components": 2, "init": "kmean"}, ValueError, r"init must be 'kmeans', 'k-means\+\+', 'random'"),
        ({"n_components": 2, "init": (W, M, C), "n_init": 3}, ValueError, r"n_init > 1 needs a random init"),
        ({"n_components": 2, "init": ([0.6, 0.6], M, C)}, ValueError, r"init weights must sum to 1; they sum to 1.2"),
        ({"n_components": 3, "init": (W, M, C)}, ValueError, r"init means has 2 rows but there are 3 components"),
        ({"n_components": 2, "init": 5}, TypeError, r"init must be 'kmeans'"),
    ],
)
def test_bad_fit_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        gmm.fit(X_OK, **kwargs)


def test_too_few_distinct_points():
    X = np.repeat([[0.0, 0.0], [1.0, 1.0]], 10, axis=0)
    with pytest.raises(ValueError, match=r"n_components=3 is larger than the number of distinct points in X \(2\)"):
        gmm.fit(X, 3)
    with pytest.raises(ValueError, match=r"n_clusters=3 is larger than the number of distinct points"):
        kmeans.fit(X, 3)


@pytest.mark.parametrize(
    "weights, means, covs, message",
    [
        ([0.7, 0.7], M, C, r"weights must sum to 1; they sum to 1.4"),
        ([1.5, -0.5], M, C, r"weights must be finite and non-negative"),
        ([0.5, 0.5, 0.0], M, C, r"weights has 3 entries but there are 2 components"),
        (W, [[0.0, 0.0, 0.0]], C, r"means must have shape \(n_components, 2\)"),
        (W, M, np.stack([np.eye(2), [[1.0, 2.0], [0.0, 1.0]]]), r"covariances\[1\] is not symmetric"),
        (W, M, np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]), r"covariances\[1\] is not positive definite"),
        (W, M, np.eye(2), r"covariances for covariance_type='full' must have shape \(2, 2, 2\)"),
        (W, M, np.stack([np.eye(2), np.full((2, 2), np.nan)]), r"covariances contains NaN"),
    ],
)
def test_bad_parameters(weights, means, covs, message):
    with pytest.raises(ValueError, match=message):
        gmm.e_step(X_OK, weights, means, covs)


def test_bad_diag_and_spherical_variances():
    with pytest.raises(ValueError, match=r"covariances for covariance_type='diag' must be positive variances"):
        gmm.e_step(X_OK, W, M, np.array([[1.0, 1.0], [0.0, 1.0]]), "diag")
    with pytest.raises(ValueError, match=r"covariances\[1\] = -1"):
        gmm.e_step(X_OK, W, M, np.array([1.0, -1.0]), "spherical")


@pytest.mark.parametrize(
    "resp, message",
    [
        (np.full((30, 2), 0.6), r"rows of responsibilities must sum to 1.*30 row\(s\) do not, e.g. row 0 sums to 1.2"),
        (np.tile([1.5, -0.5], (30, 1)), r"responsibilities has negative entries, e.g. row 0, column 1: -0.5"),
        (np.full((29, 2), 0.5), r"responsibilities must have shape \(n_samples, n_components\) = \(30, K\)"),
        (np.full((30, 2), np.nan), r"responsibilities contains NaN"),
    ],
)
def test_bad_responsibilities(resp, message):
    with pytest.raises(ValueError, match=message):
        gmm.m_step(X_OK, resp)


COMPONENT_2 = r"component 2 of 2 \(index 1\)"  # counted from 1, as the text does, with its Python index


def test_collapse_names_component_count_and_remedy():
    # Component 1 is responsible for a single point: its covariance is singular.
    X = np.random.default_rng(1).normal(size=(20, 2))
    resp = np.zeros((20, 2))
    resp[:, 0] = 1.0
    resp[7] = [0.0, 1.0]
    with pytest.raises(
        gmm.CollapseError,
        match=COMPONENT_2 + r" collapsed: its variance in feature 1 \(column 0\) is below 2e-15 × the data's variance",
    ) as info:
        gmm.m_step(X, resp)
    assert "effective count N_k = 1" in str(info.value) and "reg_covar" in str(info.value)
    # the floor fixes it
    _, _, covs = gmm.m_step(X, resp, reg_covar=1e-6)
    np.testing.assert_allclose(covs[1], 1e-6 * np.eye(2))


def test_component_with_no_weight_collapses_clearly():
    resp = np.zeros((30, 2))
    resp[:, 0] = 1.0
    with pytest.raises(gmm.CollapseError, match=COMPONENT_2 + r" collapsed: its effective count N_k .* is 0"):
        gmm.m_step(X_OK, resp)


def test_collapse_during_fit_is_reported_not_nan():
    # A point far from the rest, a component started on it with a tiny variance, no floor.
    X = np.vstack([np.random.default_rng(2).normal(size=(40, 2)), [[50.0, 50.0]]])
    init = ([0.5, 0.5], [[0.0, 0.0], [50.0, 50.0]], [np.eye(2), 1e-3 * np.eye(2)])
    with pytest.raises(gmm.CollapseError, match=r"component 2 of 2 \(index 1\) collapsed"):
        gmm.fit(X, 2, init=init, reg_covar=0.0)
    result = gmm.fit(X, 2, init=init, reg_covar=1e-6)  # the standard remedy
    assert np.isfinite(result.log_likelihood)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: kmeans.assign(X_OK, np.zeros((2, 3))), ValueError, r"centers must have shape \(n_clusters, 2\)"),
        (lambda: kmeans.update(X_OK, np.zeros(29, int), 2), ValueError, r"labels must have shape \(30,\)"),
        (lambda: kmeans.update(X_OK, np.full(30, 2), 2), ValueError, r"labels must lie in 0..1"),
        (lambda: kmeans.update(X_OK, np.zeros(30), 2), TypeError, r"labels must be integers"),
        (lambda: kmeans.fit(X_OK, 2, init=np.zeros((3, 2))), ValueError, r"init has 3 centres but n_clusters is 2"),
        (lambda: kmeans.fit(X_OK, 2, init="kmeans"), ValueError, r"init must be 'k-means\+\+', 'random'"),
        (lambda: kmeans.fit(X_OK, 0), ValueError, r"n_clusters must be at least 1"),
        (lambda: kmeans.fit(X_OK, "2"), TypeError, r"n_clusters must be a whole number"),
    ],
)
def test_bad_kmeans_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_numerically_singular_covariance_is_a_collapse_not_garbage():
    """A component started on one Old Faithful point with a small variance collapses at the first
    M-step: its responsibilities fall on point 0 and one other eruption with the same whole-minute
    waiting time (N_k = 1.6), a line, so its variance across the line is round-off (1e-219 on one
    machine, 3e-30 on another): positive, so Cholesky succeeds, but every density computed from it is
    meaningless. The message gives the test's threshold, never the round-off itself."""
    from emkit import datasets

    X = datasets.old_faithful()
    base = gmm.fit(X, 1)
    trap = ([0.5, 0.5], np.vstack([base.means, X[:1]]), np.stack([base.covariances[0], 1e-3 * np.eye(2)]))
    with pytest.raises(
        gmm.CollapseError,
        match=COMPONENT_2 + r" collapsed: its variance in feature 2 \(column 1\) is below 2e-15 × the data's "
        r"variance there \(184\), zero at the data's scale \(effective count N_k = 1.6, reg_covar = 0\)\.",
    ):
        gmm.fit(X, 2, init=trap, reg_covar=0.0)


def test_badly_scaled_features_are_not_mistaken_for_a_collapse():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 2)) * [1e-8, 1e8]  # scales 16 orders of magnitude apart
    X[:100] += [3e-8, 3e8]
    result = gmm.fit(X, 2, seed=0, reg_covar=0.0)
    assert np.isfinite(result.log_likelihood)
