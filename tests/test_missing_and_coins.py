"""EM beyond clustering: a Normal with missing values, and the two-coin mixture.

References: a direct numerical maximisation of the observed-data likelihood
(scipy.optimize), SciPy densities, and the published two-coin example."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import binom, multivariate_normal

from emkit import coins, missing


def missing_data(n=300, seed=0, p_missing=0.3):
    rng = np.random.default_rng(seed)
    mean = np.array([1.0, -2.0, 0.5])
    cov = np.array([[2.0, 0.8, 0.3], [0.8, 1.0, -0.4], [0.3, -0.4, 1.5]])
    X = rng.multivariate_normal(mean, cov, size=n)
    mask = rng.uniform(size=X.shape) < p_missing
    mask[mask.all(axis=1), 0] = False  # keep at least one value per row
    X[mask] = np.nan
    return X


def observed_loglik_reference(X, mean, cov):
    """log p(X_obs) from SciPy's marginal densities: each row scored on its observed coordinates."""
    observed = ~np.isnan(X)
    total = 0.0
    for pattern in {tuple(row) for row in observed}:
        o = np.array(pattern)
        rows = X[(observed == o).all(axis=1)][:, o]
        total += np.sum(multivariate_normal(mean[o], cov[np.ix_(o, o)]).logpdf(rows))
    return float(total)


def test_observed_loglik_matches_scipy():
    X = missing_data(60)
    mean, cov = np.zeros(3), np.eye(3) + 0.2
    assert missing.log_likelihood(X, mean, cov) == pytest.approx(observed_loglik_reference(X, mean, cov), rel=1e-12)


def test_conditional_moments_match_the_textbook_formula():
    mean, cov = np.array([1.0, 2.0]), np.array([[2.0, 0.6], [0.6, 1.0]])
    m, c = missing.conditional_moments(np.array([[3.0]]), mean, cov, np.array([0]), np.array([1]))
    assert m[0, 0] == pytest.approx(2.0 + 0.6 / 2.0 * (3.0 - 1.0))
    assert c[0, 0] == pytest.approx(1.0 - 0.6**2 / 2.0)


def test_em_reaches_the_maximum_of_the_observed_data_likelihood():
    X = missing_data()
    fit = missing.fit(X, tol=1e-12, max_iter=5000)
    assert fit.converged
    D = 3
    tril = np.tril_indices(D)

    def unpack(v):
        L = np.zeros((D, D))
        L[tril] = v[D:]
        return v[:D], L @ L.T

    def negloglik(v):
        mean, cov = unpack(v)
        return -observed_loglik_reference(X, mean, cov)

    v0 = np.concatenate([np.nanmean(X, 0), np.linalg.cholesky(np.diag(np.nanvar(X, 0)))[tril]])
    ref = minimize(negloglik, v0, method="BFGS", options={"gtol": 1e-8, "maxiter": 2000})
    ref_mean, ref_cov = unpack(ref.x)
    assert fit.log_likelihood >= -ref.fun - 1e-6  # EM is at least as high as the optimiser
    np.testing.assert_allclose(fit.mean, ref_mean, atol=1e-4)
    np.testing.assert_allclose(fit.cov, ref_cov, atol=1e-4)
    assert fit.log_likelihood == pytest.approx(observed_loglik_reference(X, fit.mean, fit.cov), rel=1e-12)


def test_em_loglik_never_decreases_and_no_missing_means_sample_moments():
    X = missing_data(seed=1, p_missing=0.5)
    fit = missing.fit(X, tol=0, max_iter=50)
    assert np.all(np.diff(fit.history["log_likelihood"]) >= -1e-9)
    full = missing_data(seed=2, p_missing=0.0)
    fit_full = missing.fit(full, tol=1e-12)
    np.testing.assert_allclose(fit_full.mean, full.mean(0), rtol=1e-10)
    np.testing.assert_allclose(fit_full.cov, np.cov(full.T, bias=True), rtol=1e-8)


def test_filled_values_are_conditional_means_and_observed_stay():
    X = missing_data(50)
    fit = missing.fit(X, tol=1e-10)
    observed = ~np.isnan(X)
    np.testing.assert_array_equal(fit.filled[observed], X[observed])
    row = int(np.flatnonzero(np.isnan(X[:, 1]) & ~np.isnan(X[:, 0]) & ~np.isnan(X[:, 2]))[0])
    o = np.array([0, 2])
    expected = fit.mean[1] + fit.cov[1, o] @ np.linalg.solve(fit.cov[np.ix_(o, o)], X[row, o] - fit.mean[o])
    assert fit.filled[row, 1] == pytest.approx(expected, rel=1e-8)


def test_complete_case_uses_only_full_rows():
    X = missing_data(80)
    mean, cov = missing.complete_case(X)
    full = X[~np.isnan(X).any(axis=1)]
    np.testing.assert_allclose(mean, full.mean(0))
    np.testing.assert_allclose(cov, np.cov(full.T, bias=True))


@pytest.mark.parametrize(
    "X, message",
    [
        (
            np.array([[1.0, np.nan], [np.nan, np.nan], [2.0, 3.0]]),
            r"1 row\(s\) with every value missing \(e.g. row 1\)",
        ),
        (np.array([[1.0, np.nan], [2.0, np.nan]]), r"column 1 of X is never observed"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), r"infinite value at row 0, column 1"),
        (np.array([1.0, 2.0]), r"must be a non-empty 2-D array"),
        (np.array([[1.0, 2.0], [1.0, 3.0], [1.0, np.nan]]), r"column 0 of X has no spread"),
    ],
)
def test_missing_bad_input(X, message):
    with pytest.raises(ValueError, match=message):
        missing.fit(X)


def test_missing_bad_parameters():
    X = missing_data(20)
    with pytest.raises(ValueError, match="cov is not positive definite"):
        missing.e_step(X, np.zeros(3), np.diag([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match=r"mean must have shape \(3,\)"):
        missing.e_step(X, np.zeros(2), np.eye(3))
    with pytest.raises(TypeError, match="init must be None or a pair"):
        missing.fit(X, init=5)


# --- the two-coin mixture ----------------------------------------------------------------


def test_coins_reproduce_do_and_batzoglou():
    # Nature Biotechnology 26:897 (2008), Fig. 1b: after 10 iterations θA ≈ 0.80, θB ≈ 0.52
    fit = coins.fit([5, 9, 8, 4, 7], [10] * 5, init=(0.6, 0.5), fixed_weights=True, max_iter=10, tol=0)
    np.testing.assert_allclose(fit.biases, [0.80, 0.52], atol=0.005)


def test_coins_e_step_and_likelihood_match_scipy():
    h, n = np.array([5, 9, 8, 4, 7]), np.full(5, 10)
    b, w = np.array([0.6, 0.5]), np.array([0.3, 0.7])
    joint = np.stack([w[k] * binom(n, b[k]).pmf(h) for k in range(2)], 1)
    resp, loglik = coins.e_step(h, n, b, w)
    np.testing.assert_allclose(resp, joint / joint.sum(1, keepdims=True), rtol=1e-12)
    assert loglik == pytest.approx(np.log(joint.sum(1)).sum(), rel=1e-12)


def test_coins_m_step_is_a_stationary_point_of_q():
    rng = np.random.default_rng(0)
    h, n = rng.integers(0, 21, 30), np.full(30, 20)
    resp = rng.dirichlet([1, 1], size=30)
    b, w = coins.m_step(h, n, resp)

    def Q(bb):
        return float(np.sum(resp * (h[:, None] * np.log(bb) + (n - h)[:, None] * np.log1p(-bb))))

    for k in range(2):
        e = np.eye(2)[k] * 1e-6
        assert abs(Q(b + e) - Q(b - e)) / 2e-6 < 1e-4
    np.testing.assert_allclose(w, resp.mean(0))


def test_coins_fit_monotone_and_bad_input():
    rng = np.random.default_rng(1)
    h = np.r_[rng.binomial(10, 0.8, 20), rng.binomial(10, 0.3, 30)]
    fit = coins.fit(h, np.full(50, 10), init=(0.55, 0.45), max_iter=200, tol=0)
    assert np.all(np.diff(fit.history["log_likelihood"]) >= -1e-10)
    assert sorted(np.round(fit.biases, 1)) == [0.3, 0.8]
    with pytest.raises(ValueError, match="set 1 has 11 heads in 10 tosses"):
        coins.fit([5, 11], [10, 10])
    with pytest.raises(ValueError, match="biases must lie strictly between 0 and 1"):
        coins.fit([5, 6], [10, 10], init=(1.0, 0.5))
    with pytest.raises(ValueError, match="same length"):
        coins.fit([5, 6], [10])
