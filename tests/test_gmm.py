"""emkit.gmm against independent references: SciPy densities, scikit-learn fits,
finite differences of Q."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import logsumexp as scipy_logsumexp
from scipy.stats import multivariate_normal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from emkit import datasets, gmm

COV_TYPES = ["full", "tied", "diag", "spherical"]


def relative_difference(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def three_blobs(n=600, seed=1):
    return datasets.sample_gaussian_mixture(
        n,
        [0.3, 0.5, 0.2],
        [[0, 0, 0], [3, 1, 0], [0, 4, 2]],
        [np.eye(3), np.diag([1.0, 2.0, 0.5]), [[1, 0.5, 0], [0.5, 1, 0], [0, 0, 1]]],
        seed=seed,
    )[0]


def random_params(covariance_type, K, D, rng):
    weights = rng.dirichlet(np.ones(K))
    means = rng.normal(size=(K, D)) * 2
    A = rng.normal(size=(K, D, D))
    full = A @ A.transpose(0, 2, 1) + 0.5 * np.eye(D)
    cov = {
        "full": full,
        "tied": full[0],
        "diag": rng.uniform(0.3, 2.0, size=(K, D)),
        "spherical": rng.uniform(0.3, 2.0, size=K),
    }[covariance_type]
    return weights, means, cov


def as_full(cov, covariance_type, K, D):
    if covariance_type == "full":
        return cov
    if covariance_type == "tied":
        return np.broadcast_to(cov, (K, D, D))
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([c * np.eye(D) for c in cov])


def precisions(cov, covariance_type):
    return np.linalg.inv(cov) if covariance_type in ("full", "tied") else 1.0 / cov


# --- densities and the E-step --------------------------------------------------------


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_log_density_matches_scipy(covariance_type):
    rng = np.random.default_rng(0)
    K, D = 3, 4
    X = rng.normal(size=(50, D)) * 3
    weights, means, cov = random_params(covariance_type, K, D, rng)
    ours = gmm.log_gaussian_density(X, means, cov, covariance_type)
    full = as_full(cov, covariance_type, K, D)
    ref = np.stack([multivariate_normal(means[k], full[k]).logpdf(X) for k in range(K)], axis=1)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_e_step_matches_bayes_rule_and_scipy(covariance_type):
    rng = np.random.default_rng(1)
    K, D = 4, 2
    X = rng.normal(size=(80, D)) * 2
    weights, means, cov = random_params(covariance_type, K, D, rng)
    resp, loglik = gmm.e_step(X, weights, means, cov, covariance_type)
    full = as_full(cov, covariance_type, K, D)
    joint = np.stack([weights[k] * multivariate_normal(means[k], full[k]).pdf(X) for k in range(K)], axis=1)
    np.testing.assert_allclose(resp, joint / joint.sum(axis=1, keepdims=True), rtol=1e-11, atol=1e-14)
    assert loglik == pytest.approx(np.log(joint.sum(axis=1)).sum(), rel=1e-12)
    assert gmm.log_likelihood(X, weights, means, cov, covariance_type) == loglik


def test_logsumexp_matches_scipy_and_survives_underflow():
    a = np.array([[-1000.0, -1001.0, -1002.0], [0.5, 2.0, -np.inf], [700.0, 710.0, 705.0]])
    np.testing.assert_allclose(gmm.logsumexp(a), scipy_logsumexp(a, axis=1), rtol=1e-14)
    with np.errstate(all="ignore"):  # the naive version: exp underflows to 0, log(0) = -inf
        naive = np.log(np.exp(a[0]).sum())
    assert naive == -np.inf and np.isfinite(gmm.logsumexp(a)[0])


def test_far_away_point_gets_finite_responsibilities():
    # exp(log density) underflows to 0 for every component: naive Bayes' rule gives 0/0.
    weights, means, cov = np.array([0.5, 0.5]), np.array([[0.0], [1.0]]), np.array([[[1.0]], [[1.0]]])
    resp, loglik = gmm.e_step(np.array([[60.0]]), weights, means, cov)
    assert np.isfinite(loglik)
    np.testing.assert_allclose(resp, [[0.0, 1.0]], atol=1e-20)


def test_zero_weight_component_is_allowed():
    X = np.array([[0.0], [1.0], [2.0]])
    resp, loglik = gmm.e_step(X, [1.0, 0.0], [[1.0], [5.0]], [[[1.0]], [[1.0]]])
    np.testing.assert_array_equal(resp[:, 1], 0.0)
    assert loglik == pytest.approx(multivariate_normal(1.0, 1.0).logpdf(X.ravel()).sum())


# --- the M-step ----------------------------------------------------------------------


def q_reference(X, resp, weights, means, full_covs):
    """Q(θ|θᵗ) from SciPy densities: an implementation independent of emkit."""
    K = resp.shape[1]
    logs = np.stack([np.log(weights[k]) + multivariate_normal(means[k], full_covs[k]).logpdf(X) for k in range(K)], 1)
    return float(np.sum(resp * logs))


def test_q_function_matches_reference():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 2))
    weights, means, cov = random_params("full", 3, 2, rng)
    resp = rng.dirichlet(np.ones(3), size=40)
    assert gmm.q_function(X, resp, weights, means, cov) == pytest.approx(
        q_reference(X, resp, weights, means, cov), rel=1e-12
    )


def test_m_step_is_a_stationary_point_and_maximum_of_q():
    """Finite differences of Q at the M-step's answer vanish, and nearby θ score lower."""
    rng = np.random.default_rng(3)
    N, K, D = 120, 3, 2
    X = rng.normal(size=(N, D)) * [1.0, 3.0] + rng.integers(0, 3, N)[:, None]
    resp = rng.dirichlet(np.ones(K), size=N)
    weights, means, covs = gmm.m_step(X, resp)

    def pack(w, m, c):
        # free coordinates: softmax logits of w, the means, the Cholesky factors' entries
        L = np.linalg.cholesky(c)
        tril = np.tril_indices(D)
        return np.concatenate([np.log(w), m.ravel(), np.concatenate([Lk[tril] for Lk in L])])

    def unpack(v):
        logits, rest = v[:K], v[K:]
        w = np.exp(logits - logits.max())
        w /= w.sum()
        m = rest[: K * D].reshape(K, D)
        tril = np.tril_indices(D)
        L = np.zeros((K, D, D))
        for k, chunk in enumerate(rest[K * D :].reshape(K, -1)):
            L[k][tril] = chunk
        return w, m, L @ L.transpose(0, 2, 1)

    v0 = pack(weights, means, covs)
    q0 = q_reference(X, resp, *unpack(v0))
    assert q0 == pytest.approx(gmm.q_function(X, resp, weights, means, covs), rel=1e-12)
    h = 1e-5
    grad = np.array(
        [
            (q_reference(X, resp, *unpack(v0 + h * e)) - q_reference(X, resp, *unpack(v0 - h * e))) / (2 * h)
            for e in np.eye(v0.size)
        ]
    )
    assert np.max(np.abs(grad)) < 1e-5 * N
    for _ in range(20):
        step = rng.normal(size=v0.size) * 1e-2
        assert q_reference(X, resp, *unpack(v0 + step)) < q0


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_m_step_matches_one_sklearn_iteration_from_the_same_start(covariance_type):
    """scikit-learn's public fit, one iteration from given parameters, is M(E(start)).

    The responsibilities come from SciPy's densities, so neither side of the comparison is emkit's E-step.
    """
    rng = np.random.default_rng(4)
    K, D, N = 3, 3, 400
    X = rng.normal(size=(N, D)) * 2
    weights, means, cov = random_params(covariance_type, K, D, rng)
    full = as_full(cov, covariance_type, K, D)
    joint = np.stack([weights[k] * multivariate_normal(means[k], full[k]).pdf(X) for k in range(K)], axis=1)
    resp = joint / joint.sum(axis=1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(
            K,
            covariance_type=covariance_type,
            weights_init=weights,
            means_init=means,
            precisions_init=precisions(cov, covariance_type),
            max_iter=1,
            tol=0,
            reg_covar=1e-4,
        ).fit(X)
    new_weights, new_means, new_cov = gmm.m_step(X, resp, covariance_type, reg_covar=1e-4)
    np.testing.assert_allclose(new_weights, ref.weights_, rtol=1e-10)
    np.testing.assert_allclose(new_means, ref.means_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(new_cov, ref.covariances_, rtol=1e-9, atol=1e-12)


def plain_covariances(X, resp, means, covariance_type):
    """The M-step's Σ written out with a Python loop over components, in long double."""
    Xl, Rl = X.astype(np.longdouble), resp.astype(np.longdouble)
    Nk = Rl.sum(0)
    S = np.stack([(Rl[:, k, None] * (Xl - means[k])).T @ (Xl - means[k]) for k in range(resp.shape[1])])
    return {
        "full": S / Nk[:, None, None],
        "tied": S.sum(0) / len(X),
        "diag": np.stack([np.diag(s) for s in S]) / Nk[:, None],
        "spherical": np.array([np.trace(s) / X.shape[1] for s in S]) / Nk,
    }[covariance_type].astype(float)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
@pytest.mark.parametrize("offset", [0.0, 1e4])
def test_fast_steps_match_the_plain_reference_formulas(covariance_type, offset):
    """The blocked, centred, moment-based fast paths against the formulas as printed (and those against
    SciPy / a long-double loop), including data far from the origin."""
    rng = np.random.default_rng(21)
    K, D, N = 3, 4, 900
    X = rng.normal(size=(N, D)) * 2 + offset
    weights, means, cov = random_params(covariance_type, K, D, rng)
    means = means + offset
    fast = gmm.log_gaussian_density(X, means, cov, covariance_type)
    plain = gmm.reference_log_gaussian_density(X, means, cov, covariance_type)
    full = as_full(cov, covariance_type, K, D)
    scipy_ref = np.stack([multivariate_normal(means[k], full[k]).logpdf(X) for k in range(K)], axis=1)
    np.testing.assert_allclose(plain, scipy_ref, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(fast, plain, rtol=1e-10, atol=1e-9)

    resp = rng.dirichlet(np.ones(K), size=N)
    new_means = gmm.update_means(X, resp)
    np.testing.assert_allclose(new_means, (resp.T @ X) / resp.sum(0)[:, None], rtol=1e-12)
    fast_cov = gmm.update_covariances(X, resp, new_means, covariance_type)
    plain_cov = gmm.reference_covariances(X, resp, new_means, covariance_type)
    loop_cov = plain_covariances(X, resp, new_means, covariance_type)
    np.testing.assert_allclose(plain_cov, loop_cov, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fast_cov, plain_cov, rtol=1e-9, atol=1e-12)
    _, _, m_step_cov = gmm.m_step(X, resp, covariance_type)
    np.testing.assert_allclose(m_step_cov, plain_cov, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_precision_cholesky_inverts_and_gives_the_log_determinant(covariance_type):
    rng = np.random.default_rng(22)
    K, D = 3, 4
    _, _, cov = random_params(covariance_type, K, D, rng)
    P, log_det = gmm.precision_cholesky(cov, covariance_type, n_features=D)
    P_KDD = {  # each type stores P compactly
        "full": lambda: P,
        "tied": lambda: np.broadcast_to(P, (K, D, D)),
        "diag": lambda: np.stack([np.diag(p) for p in P]),
        "spherical": lambda: np.stack([p * np.eye(D) for p in P]),
    }[covariance_type]()
    full = as_full(cov, covariance_type, K, D)
    for k in range(K):
        np.testing.assert_allclose(P_KDD[k] @ P_KDD[k].T, np.linalg.inv(full[k]), rtol=1e-10, atol=1e-12)
    expected = np.array([np.linalg.slogdet(full[k])[1] for k in range(K)])
    np.testing.assert_allclose(np.broadcast_to(log_det, (K,)), expected, rtol=1e-10)


def test_m_step_with_one_hot_responsibilities_is_the_kmeans_update():
    from emkit import kmeans

    rng = np.random.default_rng(5)
    X = rng.normal(size=(100, 2))
    labels = rng.integers(0, 3, size=100)
    resp = np.eye(3)[labels]
    _, means, _ = gmm.m_step(X, resp)
    np.testing.assert_allclose(means, kmeans.update(X, labels, 3), rtol=1e-13, atol=1e-15)


# --- the fit, against scikit-learn ---------------------------------------------------


def fixed_start(covariance_type, X, K=3):
    weights = np.array([0.2, 0.3, 0.5])
    means = X[[0, 1, 2]].copy()
    D = X.shape[1]
    cov = {
        "full": np.stack([np.eye(D) * 2] * K),
        "tied": np.eye(D) * 2,
        "diag": np.full((K, D), 2.0),
        "spherical": np.full(K, 2.0),
    }[covariance_type]
    return weights, means, cov


def compare_with_sklearn(X, covariance_type, shift=0.0, T=30):
    """emkit on X + shift against scikit-learn on X, from the same start, T iterations."""
    weights, means, cov = fixed_start(covariance_type, X)
    X_shifted, means_shifted = X + shift, means + shift
    # The reference sees exactly the numbers emkit sees, moved back (subtraction is exact here).
    X_ref, means_ref = X_shifted - shift, means_shifted - shift
    ours = gmm.fit(X_shifted, 3, covariance_type=covariance_type, init=(weights, means_shifted, cov), max_iter=T, tol=0)
    sk = GaussianMixture(
        3,
        covariance_type=covariance_type,
        weights_init=weights,
        means_init=means_ref,
        precisions_init=precisions(cov, covariance_type),
        max_iter=T,
        tol=0,
        reg_covar=1e-6,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk.fit(X_ref)
    assert ours.n_iter == T and len(ours.history["log_likelihood"]) == T + 1
    # sklearn's lower_bounds_[t] is the mean log-likelihood at θᵗ (before the M-step of iteration t+1)
    per_point = np.array(ours.history["log_likelihood"][:T]) / len(X)
    return {
        "log_likelihood": relative_difference(per_point, sk.lower_bounds_),
        "weights": relative_difference(ours.weights, sk.weights_),
        "means": relative_difference(ours.means, sk.means_ + shift),
        "covariances": relative_difference(ours.covariances, sk.covariances_),
        "responsibilities": float(np.max(np.abs(ours.responsibilities - sk.predict_proba(X_ref)))),
    }


@pytest.mark.parametrize("shift", [0.0, 1e6])
@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_fit_agrees_with_sklearn_every_iteration(covariance_type, shift):
    diffs = compare_with_sklearn(three_blobs(), covariance_type, shift=shift)
    for name, value in diffs.items():
        assert value <= 1e-10, f"{name}: relative difference {value:.3g}"


@pytest.mark.parametrize("covariance_type", COV_TYPES)
def test_fit_agrees_with_sklearn_on_old_faithful(covariance_type):
    diffs = compare_with_sklearn(datasets.old_faithful(), covariance_type, T=50)
    assert max(diffs.values()) <= 1e-10, diffs


def test_fit_history_and_result_are_consistent():
    X = datasets.old_faithful()
    result = gmm.fit(X, 2, seed=0, record_params=True, tol=1e-8)
    assert result.converged
    assert len(result.history["log_likelihood"]) == result.n_iter + 1 == len(result.history["params"])
    assert result.history["log_likelihood"][-1] == result.log_likelihood
    w, m, c = result.history["params"][-1]
    np.testing.assert_array_equal(m, result.means)
    resp, loglik = gmm.e_step(X, result.weights, result.means, result.covariances)
    np.testing.assert_allclose(resp, result.responsibilities, atol=1e-12)
    assert loglik == pytest.approx(result.log_likelihood, rel=1e-12)
    assert np.all(np.diff(result.history["log_likelihood"]) > -1e-9)


def test_fit_old_faithful_finds_the_two_known_clusters():
    # Reference: scikit-learn fitted to convergence from its own initialisation.
    X = datasets.old_faithful()
    ours = gmm.fit(X, 2, seed=0, tol=1e-10, max_iter=1000)
    sk = GaussianMixture(2, tol=1e-10, max_iter=1000, random_state=0).fit(X)
    order = np.argsort(ours.means[:, 0])
    sk_order = np.argsort(sk.means_[:, 0])
    np.testing.assert_allclose(ours.means[order], sk.means_[sk_order], rtol=1e-6)
    assert ours.log_likelihood == pytest.approx(sk.score(X) * len(X), rel=1e-9)


@pytest.mark.parametrize("init", ["kmeans", "k-means++", "random"])
def test_fit_inits_and_restarts(init):
    X = three_blobs(300)
    single = gmm.fit(X, 3, init=init, seed=3)
    best = gmm.fit(X, 3, init=init, seed=3, n_init=4)
    assert np.isfinite(single.log_likelihood)
    assert best.log_likelihood >= single.log_likelihood - 1e-9
    assert best.bic == pytest.approx(-2 * best.log_likelihood + best.n_parameters * np.log(300))
    assert best.n_parameters == 2 + 9 + 3 * 6


def test_fit_is_reproducible_with_a_seed():
    X = three_blobs(200)
    a, b = gmm.fit(X, 3, init="random", seed=11), gmm.fit(X, 3, init="random", seed=11)
    np.testing.assert_array_equal(a.means, b.means)


def test_max_iter_zero_evaluates_the_start_only():
    X = three_blobs(100)
    start = fixed_start("full", X)
    result = gmm.fit(X, 3, init=start, max_iter=0)
    assert result.n_iter == 0 and result.history["log_likelihood"] == [gmm.log_likelihood(X, *start)]


# --- the lower bound behind "EM never decreases the likelihood" ------------------------


def test_elbo_touches_at_theta_t_and_lies_below_elsewhere():
    rng = np.random.default_rng(9)
    X = three_blobs(150)
    theta_t = random_params("full", 3, 3, rng)
    resp_t, loglik_t = gmm.e_step(X, *theta_t)
    assert gmm.elbo(X, resp_t, *theta_t) == pytest.approx(loglik_t, rel=1e-12)
    for _ in range(20):
        theta = random_params("full", 3, 3, rng)
        bound, loglik = gmm.elbo(X, resp_t, *theta), gmm.log_likelihood(X, *theta)
        assert bound <= loglik + 1e-9
        # the gap is the KL divergence from r to the posterior at θ
        post, _ = gmm.e_step(X, *theta)
        kl = np.sum(resp_t * (np.log(resp_t) - np.log(post)))
        assert loglik - bound == pytest.approx(kl, rel=1e-8, abs=1e-8)


def test_m_step_raises_the_bound_hence_the_likelihood():
    X = three_blobs(200)
    theta_t = fixed_start("full", X)
    resp_t, loglik_t = gmm.e_step(X, *theta_t)
    theta_new = gmm.m_step(X, resp_t)
    chain = [
        loglik_t,
        gmm.elbo(X, resp_t, *theta_t),
        gmm.elbo(X, resp_t, *theta_new),
        gmm.log_likelihood(X, *theta_new),
    ]
    # ℓ(θᵗ) = 𝓛(θᵗ) ≤ 𝓛(θᵗ⁺¹) ≤ ℓ(θᵗ⁺¹)
    assert chain[0] == pytest.approx(chain[1], rel=1e-12)
    assert chain[1] <= chain[2] <= chain[3] + 1e-9


def test_symmetric_start_is_a_fixed_point_that_is_not_a_maximum():
    """EM never decreases the likelihood, but need not increase it: a symmetric start stays put."""
    x, _ = datasets.sample_gaussian_mixture(400, [0.4, 0.6], [[-1.0], [1.5]], [[[0.25]], [[1.44]]], seed=1)
    symmetric = (np.array([0.5, 0.5]), np.full((2, 1), x.mean()), np.full((2, 1, 1), x.var()))
    stuck = gmm.fit(x, 2, init=symmetric, max_iter=30, tol=0, reg_covar=0.0)
    assert np.ptp(stuck.history["log_likelihood"]) < 1e-9
    np.testing.assert_allclose(stuck.means, symmetric[1], rtol=1e-12)
    nudged = (symmetric[0], symmetric[1] + [[-0.01], [0.01]], symmetric[2])
    freed = gmm.fit(x, 2, init=nudged, max_iter=500, tol=1e-10, reg_covar=0.0)
    assert freed.log_likelihood > stuck.log_likelihood + 10


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_fast_m_step_stays_exact_for_a_tiny_far_component(covariance_type):
    """The moment form (second moment minus μμᵀ) would lose ~10 digits here; the guard sums exactly."""
    rng = np.random.default_rng(12)
    broad = rng.normal(size=(3000, 2))
    tiny = rng.normal(size=(60, 2)) * 1e-2 + [1e3, -1e3]  # |μ|/σ = 1e5
    X = np.vstack([broad, tiny])
    resp = np.zeros((len(X), 3))
    resp[:1500, 0] = 1.0
    resp[1500:3000, 1] = 1.0
    resp[3000:, 2] = 1.0
    _, means, cov = gmm.m_step(X, resp, covariance_type)
    Xl, Rl = X.astype(np.longdouble), resp.astype(np.longdouble)
    Nk = Rl.sum(0)
    mu = (Rl.T @ Xl) / Nk[:, None]
    scatter = np.stack([((Rl[:, k, None] * (Xl - mu[k])).T @ (Xl - mu[k])) for k in range(3)])
    ref = {
        "full": scatter / Nk[:, None, None],
        "tied": scatter.sum(0) / len(X),
        "diag": np.stack([np.diag(s) for s in scatter]) / Nk[:, None],
        "spherical": np.stack([np.diag(s).mean() for s in scatter]) / Nk,
    }[covariance_type].astype(float)
    np.testing.assert_allclose(cov, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())  # relative to the matrix
