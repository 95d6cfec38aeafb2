"""Property-based tests (hypothesis) of the invariants EM rests on."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from emkit import gmm, kmeans

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def problems(draw, min_n=5):
    seed = draw(st.integers(0, 2**32 - 1))
    N = draw(st.integers(min_n, 60))
    D = draw(st.integers(1, 4))
    K = draw(st.integers(1, 4))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    shift = draw(st.sampled_from([0.0, 1e4]))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, D)) * scale + shift
    return rng, X, K


@SETTINGS
@given(problems(), st.sampled_from(["full", "tied", "diag", "spherical"]))
def test_responsibilities_are_probabilities(problem, covariance_type):
    rng, X, K = problem
    D = X.shape[1]
    weights = rng.dirichlet(np.ones(K))
    means = X[rng.integers(0, len(X), K)]
    spread = X.std(axis=0).mean() + 1e-3
    cov = {
        "full": np.stack([np.eye(D) * spread**2] * K),
        "tied": np.eye(D) * spread**2,
        "diag": np.full((K, D), spread**2),
        "spherical": np.full(K, spread**2),
    }[covariance_type]
    resp, loglik = gmm.e_step(X, weights, means, cov, covariance_type)
    assert np.isfinite(loglik)
    assert np.all(resp >= 0)
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=1e-12)


@SETTINGS
@given(problems(min_n=20), st.sampled_from(["full", "diag", "spherical", "tied"]))
def test_log_likelihood_never_decreases(problem, covariance_type):
    rng, X, K = problem
    assume(len(np.unique(X, axis=0)) >= K)
    try:
        result = gmm.fit(
            X, K, covariance_type=covariance_type, init="random", seed=rng, max_iter=30, tol=0, reg_covar=0.0
        )
    except gmm.CollapseError:
        assume(False)  # a singular covariance: the likelihood is unbounded, nothing to test
    history = np.array(result.history["log_likelihood"])
    drops = history[:-1] - history[1:]
    assert np.all(drops <= 1e-10 * np.maximum(1.0, np.abs(history[:-1])))


@SETTINGS
@given(problems(min_n=8))
def test_one_hot_m_step_is_the_kmeans_update(problem):
    rng, X, K = problem
    labels = np.concatenate([np.arange(K), rng.integers(0, K, len(X) - K)])  # no empty cluster
    rng.shuffle(labels)
    resp = np.eye(K)[labels]
    weights, means, _ = gmm.m_step(X, resp, "diag", reg_covar=1.0)
    np.testing.assert_allclose(means, kmeans.update(X, labels, K), rtol=1e-9, atol=1e-9 * np.abs(X).max())
    np.testing.assert_allclose(weights, np.bincount(labels, minlength=K) / len(X), rtol=1e-12)
