"""What the best EM texts teach beyond mixtures, each against an independent reference.

* emkit.inference (standard errors, EM's rate): Louis' identity against the
  finite-difference Hessian of the observed log-likelihood (computed here from
  gmm.log_likelihood alone) and against seeded bootstraps on Old Faithful;
  supplemented EM against Louis; the largest eigenvalue of DM against the
  measured ratio of successive errors of a long EM run.
* emkit.accelerate (SQUAREM, Aitken): the same fixed point as plain EM, far
  fewer EM-map evaluations on slow cases, a never-decreasing objective with
  the safeguard (and a decreasing one without it).
* emkit.online (incremental and online EM): F never decreases while ℓ does,
  the fixed point of batch EM (gmm.fit), the free energy against gmm.elbo,
  online EM near the batch MLE on a long stream.
* emkit.expfamily (Poisson and Bernoulli mixtures): SciPy's densities, and a
  direct numerical maximisation of the log-likelihood (scipy.optimize).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from finite_differences import fd_hessian
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import expit, logsumexp
from scipy.stats import bernoulli, poisson

from emkit import accelerate, datasets, expfamily, gmm, inference, online

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# Fits at a fixed point of EM (reg_covar = 0, converged to round-off)
# ---------------------------------------------------------------------------


def tight_fit(X, K, init):
    result = gmm.fit(X, K, init=init, tol=0, max_iter=400, reg_covar=0.0)
    return result.weights, result.means, result.covariances


@pytest.fixture(scope="module")
def faithful():
    X = datasets.old_faithful()
    return X, tight_fit(X, 2, ([0.5, 0.5], [[2.0, 55.0], [4.3, 80.0]], [np.diag([0.1, 30.0])] * 2))


def waiting_times():
    X = datasets.old_faithful()[:, [1]]
    return X, tight_fit(X, 2, ([0.5, 0.5], [[55.0], [80.0]], [[[30.0]], [[30.0]]]))


def three_in_one_d():
    rng = np.random.default_rng(3)
    z = rng.choice(3, size=400, p=[0.3, 0.5, 0.2])
    X = (np.array([-3.0, 0.0, 4.0])[z] + rng.normal(size=400) * np.array([0.7, 1.0, 1.5])[z])[:, None]
    return X, tight_fit(X, 3, ([0.3, 0.4, 0.3], [[-2.0], [0.5], [3.0]], [[[1.0]]] * 3))


CASES = {"old faithful 2-D": None, "waiting times 1-D": waiting_times, "three components 1-D": three_in_one_d}


def get_case(name, faithful):
    return faithful if CASES[name] is None else CASES[name]()


def correlation_scaled(A, I):
    """A_pq / √(I_pp I_qq): differences on the scale of the information itself, whatever the units."""
    d = np.sqrt(np.diag(I))
    return A / np.outer(d, d)


# ---------------------------------------------------------------------------
# a. Standard errors: Louis' identity, SEM, bootstrap
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_louis_observed_information_is_the_hessian_of_the_log_likelihood(name, faithful):
    X, theta = get_case(name, faithful)
    K, D = theta[1].shape
    theta_P = inference.pack(*theta)

    def ell(t):
        return gmm.log_likelihood(X, *inference.unpack(t, K, D))

    I_o = inference.observed_information(X, *theta)
    scale = np.abs(theta_P) + np.sqrt(np.diag(np.linalg.inv(I_o)))
    H = fd_hessian(ell, theta_P, scale)
    # central differences with steps 1e-4 of each parameter's scale: truncation error ~1e-8 and round-off
    # ~1e-16 · |ℓ| / (1e-4 SE)² relative to the information; 1e-5 leaves a wide margin (measured: ≤ 3e-7)
    np.testing.assert_allclose(correlation_scaled(-H - I_o, I_o), 0.0, atol=1e-5)
    np.testing.assert_allclose(I_o, I_o.T, rtol=1e-12, atol=1e-12 * np.abs(I_o).max())


@pytest.mark.parametrize("name", list(CASES))
def test_complete_information_is_minus_the_hessian_of_q(name, faithful):
    X, theta = get_case(name, faithful)
    K, D = theta[1].shape
    resp, _ = gmm.e_step(X, *theta)  # r at θ̂, held fixed: Q(θ | θ̂) as a function of θ
    theta_P = inference.pack(*theta)

    def Q(t):
        return gmm.q_function(X, resp, *inference.unpack(t, K, D))

    I_c = inference.complete_information(X, *theta)
    H = fd_hessian(Q, theta_P, np.abs(theta_P) + np.sqrt(np.diag(np.linalg.inv(I_c))))
    np.testing.assert_allclose(correlation_scaled(-H - I_c, I_c), 0.0, atol=1e-5)
    I_m = inference.missing_information(X, *theta)
    assert np.linalg.eigvalsh(I_m).min() > -1e-9 * np.abs(I_m).max()  # a covariance: positive semi-definite
    np.testing.assert_allclose(I_c - I_m, inference.observed_information(X, *theta), rtol=1e-12, atol=1e-9)


def test_complete_data_scores_are_gradients(faithful):
    X, theta = faithful
    K, D = 2, 2
    theta_P = inference.pack(*theta)
    scores = inference.complete_data_scores(X, *theta)
    assert scores.shape == (272, K, theta_P.size)
    for i in (0, 100, 271):
        for k in range(K):

            def log_joint(t, i=i, k=k):
                w, m, c = inference.unpack(t, K, D)
                return gmm.log_joint(X[i : i + 1], w, m, c)[0, k]

            h = 1e-6 * (np.abs(theta_P) + 1.0)
            fd = np.array(
                [(log_joint(theta_P + h[p] * e) - log_joint(theta_P - h[p] * e)) / (2 * h[p]) for p, e in
                 enumerate(np.eye(theta_P.size))]
            )  # fmt: skip
            np.testing.assert_allclose(scores[i, k], fd, rtol=1e-5, atol=1e-6)
    # Fisher's identity: the observed score is the expected complete-data score, and at θ̂ they sum to 0
    s = inference.observed_scores(X, *theta)
    assert np.abs(s.sum(axis=0)).max() < 1e-8 * np.abs(s).sum(axis=0).max()


def test_supplemented_em_agrees_with_louis(faithful):
    X, theta = faithful
    se_louis = inference.standard_errors(X, *theta)
    se_sem = inference.standard_errors(X, *theta, method="sem")
    # the numerical DM has central-difference error ~rel_step² = 1e-10 and round-off ~1e-16/1e-5 = 1e-11
    np.testing.assert_allclose(se_sem, se_louis, rtol=1e-6)
    DM_numerical = inference.em_map_jacobian(X, *theta)
    DM = inference.em_rate_matrix(X, *theta)
    np.testing.assert_allclose(DM_numerical, DM, atol=1e-6 * np.abs(DM).max())


BOOTSTRAP_DRAWS = 400


def bootstrap_sd(X, theta, draw_dataset, seed):
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP_DRAWS):
        Xb = draw_dataset(rng)
        fit = gmm.fit(Xb, 2, init=theta, tol=1e-10, max_iter=1000, reg_covar=0.0)  # from θ̂: no label switching
        draws.append(inference.pack(fit.weights, fit.means, fit.covariances))
    return np.std(draws, axis=0, ddof=1)


def test_louis_standard_errors_match_a_parametric_bootstrap(faithful):
    """Simulate from θ̂, refit, take the standard deviation of θ*: what I_o⁻¹ approximates when the model holds.

    Tolerance 15 %: the standard deviation of B = 400 draws has a Monte Carlo relative error of
    1/√(2(B-1)) ≈ 3.5 % (4 of those is 14 %), and I_o⁻¹ is only asymptotically the variance at N = 272
    (measured: at most 9 % off for every parameter).
    """
    X, theta = faithful
    se = inference.standard_errors(X, *theta)
    sd = bootstrap_sd(X, theta, lambda rng: datasets.sample_gaussian_mixture(272, *theta, seed=rng)[0], seed=0)
    np.testing.assert_allclose(sd / se, 1.0, atol=0.15)


def test_a_nonparametric_bootstrap_estimates_the_sandwich_not_the_model_based_errors(faithful):
    """Resampling Old Faithful's rows estimates I_o⁻¹ J I_o⁻¹ (robust), not I_o⁻¹: the data are not exactly
    a Gaussian mixture. Tolerance 20 %: Monte Carlo error 3.5 % per standard deviation (B = 400) with heavier
    tails for the variances, measured at most 10 % over three seeds and B = 400 or 1000."""
    X, theta = faithful
    se_sandwich = inference.standard_errors(X, *theta, method="sandwich")
    sd = bootstrap_sd(X, theta, lambda rng: X[rng.integers(0, len(X), len(X))], seed=1)
    np.testing.assert_allclose(sd / se_sandwich, 1.0, atol=0.2)
    se_louis = inference.standard_errors(X, *theta)
    names = inference.param_names(2, 2)
    # where the Normal model is wrong: the short eruptions' variance, 31 % above the model-based error
    assert se_sandwich[names.index("Σ1[0,0]")] / se_louis[names.index("Σ1[0,0]")] > 1.25
    assert sd[names.index("Σ1[0,0]")] / se_louis[names.index("Σ1[0,0]")] > 1.2


# ---------------------------------------------------------------------------
# b. EM's rate: the largest eigenvalue of DM against the measured error ratio
# ---------------------------------------------------------------------------


def test_em_rate_is_the_largest_eigenvalue_of_dm_and_matches_a_long_run():
    X = datasets.old_faithful()
    run = gmm.fit(X, 2, init="random", seed=0, tol=0, max_iter=150, reg_covar=0.0, record_params=True)
    path = np.array([inference.pack(*theta) for theta in run.history["params"]])
    theta_hat = path[-1]  # 150 iterations at rate 0.24: converged to round-off
    errors = np.linalg.norm(path - theta_hat, axis=1)
    relative = errors / np.linalg.norm(theta_hat)
    near = np.flatnonzero((relative < 1e-4) & (relative > 1e-11))  # near the limit, above round-off
    ratios = errors[near[1:]] / errors[near[:-1]]
    assert len(ratios) >= 8
    theta = inference.unpack(theta_hat, 2, 2)
    eigenvalues = inference.em_rate_eigenvalues(X, *theta)
    # the figures: eigenvalues 0.241, 0.0097, 0.0041; measured ratio → 0.2408
    np.testing.assert_allclose(eigenvalues[:3], [0.2408, 0.00965, 0.00409], rtol=2e-3)
    assert np.all((eigenvalues > -1e-12) & (eigenvalues < 1))
    assert inference.em_rate(X, *theta) == eigenvalues[0]
    np.testing.assert_allclose(np.median(ratios), eigenvalues[0], rtol=1e-3)
    np.testing.assert_allclose(ratios[-5:], eigenvalues[0], rtol=5e-3)
    DM = inference.em_rate_matrix(X, *theta)
    np.testing.assert_allclose(np.sort(np.linalg.eigvals(DM).real)[::-1], eigenvalues, atol=1e-10)
    I_c, I_o = inference.complete_information(X, *theta), inference.observed_information(X, *theta)
    np.testing.assert_allclose(DM, np.eye(11) - np.linalg.solve(I_c, I_o), atol=1e-12)


def test_em_map_is_one_em_iteration(faithful):
    X, theta = faithful
    start = ([0.4, 0.6], [[2.0, 55.0], [4.5, 80.0]], [np.diag([0.1, 40.0]), np.diag([0.2, 40.0])])
    one = gmm.fit(X, 2, init=start, max_iter=1, tol=0, reg_covar=0.0)
    np.testing.assert_allclose(
        inference.em_map(X, inference.pack(*start)), inference.pack(one.weights, one.means, one.covariances),
        rtol=1e-10,
    )  # fmt: skip
    np.testing.assert_allclose(inference.em_map(X, inference.pack(*theta)), inference.pack(*theta), rtol=1e-9)


def test_pack_unpack_and_names():
    w, m, c = [0.2, 0.3, 0.5], np.arange(6.0).reshape(3, 2), np.stack([np.eye(2) + 0.1 * k for k in range(3)])
    theta = inference.pack(w, m, c)
    assert theta.size == 2 + 6 + 9 == len(inference.param_names(3, 2))
    w2, m2, c2 = inference.unpack(theta, 3, 2)
    np.testing.assert_allclose(w2, w)
    np.testing.assert_array_equal(m2, m)
    np.testing.assert_array_equal(c2, c)
    assert inference.param_names(2, 2) == [
        "π1", "μ1[0]", "μ1[1]", "μ2[0]", "μ2[1]", "Σ1[0,0]", "Σ1[0,1]", "Σ1[1,1]", "Σ2[0,0]", "Σ2[0,1]", "Σ2[1,1]",
    ]  # fmt: skip


def test_inference_bad_input(faithful):
    X, (w, m, c) = faithful
    with pytest.raises(ValueError, match=r"not a fixed point of EM: one more EM step moves .* smaller tol"):
        inference.standard_errors(X, w, m + 0.05, c)
    with pytest.raises(ValueError, match=r"every weight must be > 0"):
        inference.observed_information(X, [1.0, 0.0], m, c)
    with pytest.raises(ValueError, match=r"method must be 'louis', 'sem' or 'sandwich'"):
        inference.standard_errors(X, w, m, c, method="bootstrap")
    with pytest.raises(ValueError, match=r"covariances for covariance_type='full' must have shape \(2, 2, 2\)"):
        inference.covariance(X, w, m, c[0])
    with pytest.raises(ValueError, match=r"theta for K=2, D=2 must have shape \(11,\)"):
        inference.unpack(np.zeros(10), 2, 2)
    with pytest.raises(ValueError, match=r"theta must be a finite 1-D vector of length K·6 - 1"):
        inference.em_map(X, np.zeros(10))
    with pytest.raises(ValueError, match=r"rel_step must be a finite number > 0"):
        inference.em_map_jacobian(X, w, m, c, rel_step=0.0)
    # two components on top of each other: a fixed point of EM, but a saddle (DM has eigenvalues above 1)
    mean, cov = X.mean(axis=0), np.cov(X.T, bias=True)
    same = ([0.5, 0.5], [mean, mean], [cov, cov])
    assert inference.em_rate(X, *same) > 1
    with pytest.raises(ValueError, match=r"observed information is not positive definite .* not a strict local max"):
        inference.standard_errors(X, *same)


# ---------------------------------------------------------------------------
# c. Acceleration: SQUAREM and Aitken
# ---------------------------------------------------------------------------


def weight_only_case(delta=0.5, seed=5, N=2000):
    """Notebook 05's weight-only mixture: known components N(±δ, 1), unknown weight π; δ = 0.5 is slow (ρ ≈ 0.81)."""
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(N) < 0.3, delta, -delta) + rng.normal(size=N)
    f1, f2 = np.exp(-0.5 * (x - delta) ** 2), np.exp(-0.5 * (x + delta) ** 2)
    invalid = []

    def e_step(pi):
        if not 0.0 < pi < 1.0:
            invalid.append(pi)
            raise ValueError(f"the weight must lie in (0, 1); got {pi}")
        mix = pi * f1 + (1 - pi) * f2
        return pi * f1 / mix, float(np.sum(np.log(mix)))

    em_map, objective = accelerate.from_steps(e_step, lambda r: float(r.mean()))
    return em_map, objective, f1, f2, invalid


def predicted_weight_rate(pi, f1, f2):
    """1 - I_o / I_c for the weight alone (notebook 05's closed form)."""
    return 1 - np.sum((f1 - f2) ** 2 / (pi * f1 + (1 - pi) * f2) ** 2) / (len(f1) / (pi * (1 - pi)))


def assert_never_decreases(history):
    """Accepted points never lower ℓ; a plain EM step may show a round-off dip (the driver's allowance, 1e-10 |ℓ|)."""
    ell = np.asarray(history["objective"])
    assert np.all(np.diff(ell) >= -1e-10 * np.abs(ell[:-1])), np.diff(ell).min()


def test_squarem_and_aitken_on_the_slow_weight_only_case():
    em_map, objective, f1, f2, _ = weight_only_case()
    xtol = 1e-10
    plain = accelerate.plain_em(em_map, objective, 0.5, xtol=xtol)
    fast = accelerate.squarem(em_map, objective, 0.5, xtol=xtol)
    quick = accelerate.aitken(em_map, objective, 0.5, xtol=xtol)
    rho = predicted_weight_rate(fast.params, f1, f2)
    assert 0.8 < rho < 0.82
    # plain EM stops with its last step below xtol, so it is still ≈ xtol·ρ/(1-ρ) from the limit
    for result in (fast, quick):
        assert result.converged and plain.converged
        assert abs(result.params - plain.params) < 2 * xtol * rho / (1 - rho)
        assert abs(em_map(result.params) - result.params) < xtol
        assert_never_decreases(result.history)
        assert result.objective >= plain.objective - 1e-9
    assert (plain.n_map_evals, fast.n_map_evals, quick.n_map_evals) == (91, 10, 7)
    assert fast.n_map_evals * 5 < plain.n_map_evals and quick.n_map_evals * 5 < plain.n_map_evals
    # Aitken's ratio (θ₂ - θ₁)/(θ₁ - θ₀) estimates the rate 1 - I_o/I_c
    rates = np.array(quick.history["rate"])
    assert abs(rates[np.isfinite(rates)][-1] - rho) < 1e-3


@pytest.mark.parametrize("method, start", [("squarem", 0.9), ("aitken", 1e-6)])
def test_extrapolation_outside_the_parameter_space_falls_back(method, start):
    """From these starts an extrapolated weight leaves (0, 1) and the model raises: the cycle keeps the EM steps."""
    em_map, objective, f1, f2, invalid = weight_only_case()
    result = getattr(accelerate, method)(em_map, objective, start, xtol=1e-10)
    assert invalid, "an extrapolation should have left (0, 1)"
    assert sum(result.history["fallback"]) >= len(invalid)
    assert_never_decreases(result.history)
    plain = accelerate.plain_em(em_map, objective, 0.5, xtol=1e-12)
    assert abs(result.params - plain.params) < 1e-9


def one_d_mixture_map(x):
    """The EM map of a 1-D two-component mixture on θ = (π1, μ1, μ2, σ²1, σ²2), from emkit.online's steps."""

    def unpack(t):
        return [t[0], 1 - t[0]], t[1:3], t[3:5]

    def e_step(t):
        return online.responsibilities(x, *unpack(t))

    def m_step(resp):
        w, mu, var = online.params_from_statistics(*online.expected_statistics(x, resp))
        return np.concatenate([[w[0]], mu, var])

    return accelerate.from_steps(e_step, m_step)


def test_squarem_on_a_slow_five_parameter_mixture():
    """δ = 0.5 with every parameter free: two heavily overlapping Normals, where EM's rate is 0.984."""
    rng = np.random.default_rng(5)
    x = np.where(rng.random(2000) < 0.3, 0.5, -0.5) + rng.normal(size=2000)
    em_map, objective = one_d_mixture_map(x)
    theta0 = np.array([0.5, -1.0, 1.0, 1.0, 1.0])
    xtol = 1e-8
    plain = accelerate.plain_em(em_map, objective, theta0, xtol=xtol)
    fast = accelerate.squarem(em_map, objective, theta0, xtol=xtol)
    assert plain.converged and fast.converged
    assert fast.n_map_evals * 10 < plain.n_map_evals  # measured: 160 against 3936
    assert_never_decreases(fast.history)
    theta_hat = fast.params
    rho = inference.em_rate(x[:, None], [theta_hat[0], 1 - theta_hat[0]], theta_hat[1:3, None],
                            theta_hat[3:5, None, None])  # fmt: skip
    assert 0.98 < rho < 0.99  # measured 0.984: plain EM needs thousands of steps
    # both stop on a step below xtol, so each is within about xtol·ρ/(1-ρ) of the limit
    np.testing.assert_allclose(plain.params, fast.params, rtol=0, atol=2 * xtol * rho / (1 - rho))
    # without the safeguard an extrapolation lowers ℓ at least once here; with it, never
    unguarded = accelerate.squarem(em_map, objective, theta0, xtol=xtol, safeguard=False)
    assert np.diff(unguarded.history["objective"]).min() < -1e-3
    assert any(fast.history["fallback"])


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.3, 0.7, 1.5]), st.integers(30, 300))
def test_squarem_never_lowers_the_objective(seed, delta, N):
    rng = np.random.default_rng(seed)
    x = np.where(rng.random(N) < rng.uniform(0.2, 0.8), delta, -delta) + rng.normal(size=N)
    em_map, objective = one_d_mixture_map(x)
    theta0 = np.array([0.5, x.min() / 2, x.max() / 2, x.var(), x.var()])
    try:
        result = accelerate.squarem(em_map, objective, theta0, xtol=1e-6, max_iter=300)
    except ValueError as error:  # a component collapsed onto one point: ℓ is unbounded there, nothing to test
        assert "variance <= 0" in str(error)
        assume(False)
    assert_never_decreases(result.history)
    assert result.history["objective"][-1] >= objective(theta0)


def test_squarem_runs_any_model_on_the_em_driver(faithful):
    """Old Faithful's Gaussian mixture through gmm.e_step / gmm.m_step: SQUAREM reaches gmm.fit's θ̂."""
    X, theta_hat = faithful
    start = ([0.5, 0.5], [[2.0, 55.0], [4.3, 80.0]], [np.eye(2)] * 2)
    em_map, objective = accelerate.from_steps(
        lambda theta: gmm.e_step(X, *theta),
        lambda resp: gmm.m_step(X, resp),
        to_vector=lambda theta: inference.pack(*theta),
        from_vector=lambda v: inference.unpack(v, 2, 2),
    )
    result = accelerate.squarem(em_map, objective, inference.pack(*start), xtol=1e-9)
    assert result.converged
    np.testing.assert_allclose(result.params, inference.pack(*theta_hat), rtol=1e-8, atol=1e-10)
    assert_never_decreases(result.history)
    assert len(result.history["params"]) == len(result.history["objective"]) == len(result.history["n_map_evals"])


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda f, o: accelerate.aitken(f, o, [0.5, 0.5]), ValueError, r"aitken accelerates a single parameter"),
        (lambda f, o: accelerate.squarem(f, o, 0.5, xtol=0.0), ValueError, r"xtol must be a finite number > 0"),
        (lambda f, o: accelerate.squarem(f, o, np.nan), ValueError, r"theta0 must be a finite number or 1-D"),
        (lambda f, o: accelerate.squarem(f, o, "a"), TypeError, r"theta0 must be a number or a 1-D array"),
        (lambda f, o: accelerate.squarem(0.5, o, 0.5), TypeError, r"em_map and objective must be functions"),
        (lambda f, o: accelerate.plain_em(f, o, 0.5, max_iter=0), ValueError, r"max_iter must be at least 1"),
    ],
)
def test_acceleration_bad_input(call, error, message):
    em_map, objective, *_ = weight_only_case(N=50)
    with pytest.raises(error, match=message):
        call(em_map, objective)


# ---------------------------------------------------------------------------
# d. Incremental and online EM
# ---------------------------------------------------------------------------


def small_mixture(seed, N):
    rng = np.random.default_rng(seed)
    return np.where(rng.random(N) < 0.5, 1.5, -1.5) + rng.normal(size=N)


def test_incremental_em_raises_f_while_the_log_likelihood_can_fall():
    x = small_mixture(3, 30)  # 30 points, blocks of 2
    result = online.incremental_em(x, [0.5, 0.5], [-0.3, 0.3], [1.0, 1.0], block_size=2, max_sweeps=50)
    F = np.array(result.history["free_energy"])
    ell = np.array(result.history["log_likelihood"])
    assert F[0] == pytest.approx(ell[0], rel=1e-12)  # q starts as the posterior at θ⁰: no gap
    assert np.all(np.diff(F) >= -1e-10 * np.abs(F[:-1]))  # coordinate ascent on F
    assert np.all(F <= ell + 1e-9)  # F is a lower bound on ℓ
    assert np.diff(ell).min() < -1e-4  # measured -1.2e-3 (5 of 315 steps): a stale q lets ℓ fall, far above round-off


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 7), st.integers(8, 60))
def test_incremental_em_free_energy_never_decreases(seed, block_size, N):
    x = small_mixture(seed, N)
    try:
        result = online.incremental_em(x, [0.5, 0.5], [x.min() / 2, x.max() / 2], [1.0, 1.0],
                                       block_size=block_size, max_sweeps=20, seed=seed)  # fmt: skip
    except ValueError as error:  # a component collapsed onto one point: F is unbounded there, nothing to test
        assert "collapsed" in str(error)
        assume(False)
    F = np.array(result.history["free_energy"])
    assert np.all(np.diff(F) >= -1e-10 * np.maximum(1.0, np.abs(F[:-1])))


def test_incremental_em_reaches_the_batch_em_fixed_point():
    """Run until a sweep no longer raises F (tol=0: round-off, |ΔF| ~ 1e-13 |F|). F is flat at its maximum, so
    that leaves the parameters free by about √(|ΔF| / curvature) ~ 1e-7 (measured ≤ 7e-8); allowed 1e-6."""
    rng = np.random.default_rng(0)
    x = np.where(rng.random(400) < 0.4, 2.0, -1.0) + rng.normal(size=400)
    start = ([0.5, 0.5], [-0.5, 0.5], [1.0, 1.0])
    inc = online.incremental_em(x, *start, block_size=20, seed=0, tol=0.0)
    batch = gmm.fit(x[:, None], 2, init=(start[0], np.array(start[1])[:, None], np.array(start[2])[:, None, None]),
                    tol=0, max_iter=2000, reg_covar=0.0)  # fmt: skip
    assert inc.converged
    np.testing.assert_allclose(inc.weights, batch.weights, atol=1e-6)
    np.testing.assert_allclose(inc.means, batch.means[:, 0], atol=1e-6)
    np.testing.assert_allclose(inc.variances, batch.covariances[:, 0, 0], atol=1e-6)
    assert inc.log_likelihood == pytest.approx(batch.log_likelihood, rel=1e-12)
    assert inc.free_energy == pytest.approx(inc.log_likelihood, rel=1e-10)  # converged: q is the posterior again


def test_free_energy_and_steps_match_the_gaussian_mixture_module():
    rng = np.random.default_rng(2)
    x = rng.normal(size=50) * 2
    theta = ([0.3, 0.7], [-1.0, 1.5], [0.5, 2.0])
    q = rng.dirichlet([1.0, 1.0], size=50)
    gmm_theta = (theta[0], np.array(theta[1])[:, None], np.array(theta[2])[:, None, None])
    assert online.free_energy(x, q, *theta) == pytest.approx(gmm.elbo(x[:, None], q, *gmm_theta), rel=1e-12)
    resp, ell = online.responsibilities(x, *theta)
    ref_resp, ref_ell = gmm.e_step(x[:, None], *gmm_theta)
    np.testing.assert_allclose(resp, ref_resp, rtol=1e-12)
    assert ell == pytest.approx(ref_ell, rel=1e-12) == online.log_likelihood(x, *theta)
    assert online.free_energy(x, resp, *theta) == pytest.approx(ell, rel=1e-12)
    w, m, v = online.params_from_statistics(*online.expected_statistics(x, q))
    ref_w, ref_m, ref_c = gmm.m_step(x[:, None], q)
    np.testing.assert_allclose(w, ref_w, rtol=1e-12)
    np.testing.assert_allclose(m, ref_m[:, 0], rtol=1e-12)
    np.testing.assert_allclose(v, ref_c[:, 0, 0], rtol=1e-10)


def test_online_em_on_a_long_stream_ends_near_the_batch_mle():
    """100 000 points, each seen once. Tolerances in units of the batch MLE's standard error (Louis):
    the Polyak–Ruppert average of online EM has the MLE's asymptotic variance, so it differs from the MLE by
    o(1/√n) — measured at most 0.9 SE over four seeds — allowed 1.5 SE. The last iterate fluctuates with
    step γ_n = n^-0.6, about √(n γ_n / 2) ≈ 7 SE — measured 2.7–5.7 — allowed 10 SE."""
    N = 100_000
    rng = np.random.default_rng(0)
    x = np.where(rng.random(N) < 0.4, 2.0, -1.0) + rng.normal(size=N)
    start = ([0.5, 0.5], [-0.5, 0.5], [1.0, 1.0])
    batch = gmm.fit(x[:, None], 2, init=(start[0], np.array(start[1])[:, None], np.array(start[2])[:, None, None]),
                    tol=1e-12, max_iter=1000, reg_covar=0.0)  # fmt: skip
    mle = (batch.weights, batch.means, batch.covariances)
    se = inference.standard_errors(x[:, None], *mle)
    result = online.online_em(x, *start, alpha=0.6)

    def packed(w, m, v):
        return inference.pack(w, np.asarray(m)[:, None], np.asarray(v)[:, None, None])

    assert np.all(np.abs(packed(*result.averaged) - inference.pack(*mle)) < 1.5 * se)
    assert np.all(np.abs(packed(result.weights, result.means, result.variances) - inference.pack(*mle)) < 10 * se)
    assert result.history["t"][-1] == N and len(result.history["params"]) == len(result.history["t"])
    np.testing.assert_allclose(result.history["step_size"][-1], N**-0.6)


def test_online_em_keeps_theta_during_the_burn_in():
    x = small_mixture(0, 100)
    result = online.online_em(x, [0.5, 0.5], [-1.0, 1.0], [1.0, 1.0], burn_in=30, record_every=1)
    params = result.history["params"]
    for t in range(31):
        np.testing.assert_array_equal(params[t][1], [-1.0, 1.0])
    assert not np.array_equal(params[31][1], [-1.0, 1.0])
    np.testing.assert_allclose(online.step_sizes(4, alpha=0.75, t0=2.0), (np.arange(1, 5) + 2.0) ** -0.75)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: online.step_sizes(10, alpha=0.5), ValueError, r"alpha must satisfy 0.5 < alpha <= 1"),
        (
            lambda: online.online_em([1.0, 2.0], [0.5, 0.5], [0, 1], [1, 1], batch_size=3),
            ValueError,
            r"the stream has 2 points, fewer than one batch of 3",
        ),
        (
            lambda: online.incremental_em([1.0, np.nan], [0.5, 0.5], [0, 1], [1, 1]),
            ValueError,
            r"x contains NaN .* index 1",
        ),
        (
            lambda: online.incremental_em(np.zeros((3, 2)), [0.5, 0.5], [0, 1], [1, 1]),
            ValueError,
            r"x must be a non-empty 1-D array",
        ),
        (
            lambda: online.incremental_em([1.0, 2.0], [0.5, 0.5], [0, 1], [1, 1], block_size=3),
            ValueError,
            r"block_size=3 is larger than the number of points \(2\)",
        ),
        (lambda: online.incremental_em([1.0, 2.0], [0.5, 0.6], [0, 1], [1, 1]), ValueError, r"weights must sum to 1"),
        (lambda: online.responsibilities([1.0], [0.5, 0.5], [0, 1], [1, 0]), ValueError, r"variances must be .* > 0"),
        (
            lambda: online.responsibilities([1.0], [0.5, 0.5], [0, 1], [1]),
            ValueError,
            r"variances has 1 entries but there are 2 components",
        ),
        (lambda: online.params_from_statistics([1.0, 0.0], [0, 0], [1, 1]), ValueError, r"every s0_k .* must be > 0"),
        (lambda: online.params_from_statistics([1.0], [2.0], [1.0]), ValueError, r"a variance <= 0"),
        (
            lambda: online.free_energy([1.0, 2.0], [[1.0, 0.0]], [0.5, 0.5], [0, 1], [1, 1]),
            ValueError,
            r"responsibilities must have shape \(2, 2\)",
        ),
    ],
)
def test_online_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------
# e. The exponential-family view: Poisson and Bernoulli mixtures
# ---------------------------------------------------------------------------


def poisson_data(seed=0, N=600, D=1):
    rng = np.random.default_rng(seed)
    z = rng.random(N) < 0.35
    rates = np.where(z[:, None], np.linspace(1.5, 3.0, D), np.linspace(7.0, 12.0, D))
    return rng.poisson(rates)


def bernoulli_data(seed=0, N=600, D=6):
    rng = np.random.default_rng(seed)
    p = np.array([np.linspace(0.1, 0.8, D), np.linspace(0.9, 0.2, D)])
    z = rng.random(N) < 0.4
    return (rng.random((N, D)) < p[z.astype(int)]).astype(float)


def test_log_density_matches_scipy():
    X = poisson_data(D=3)
    means = np.array([[2.0, 3.0, 4.0], [8.0, 9.0, 10.0]])
    ref = np.column_stack([poisson(m).logpmf(X).sum(axis=1) for m in means])
    np.testing.assert_allclose(expfamily.log_density(X, means, "poisson"), ref, rtol=1e-12)
    B = bernoulli_data(D=4)
    p = np.array([[0.1, 0.5, 0.7, 0.9], [0.6, 0.4, 0.3, 0.2]])
    ref = np.column_stack([bernoulli(pk).logpmf(B).sum(axis=1) for pk in p])
    np.testing.assert_allclose(expfamily.log_density(B, p, "bernoulli"), ref, rtol=1e-12)


def direct_maximum(X, K, family, starts):
    """max ℓ by BFGS in unconstrained coordinates (softmax logits; log λ or logit p), from several starts."""
    N, D = X.shape

    def unpack(v):
        logits = np.append(v[: K - 1], 0.0)
        weights = np.exp(logits - logsumexp(logits))
        raw = v[K - 1 :].reshape(K, D)
        return weights, (np.exp(raw) if family == "poisson" else expit(raw))

    def negative_ell(v):
        weights, means = unpack(v)
        dist = poisson(means[:, None, :]) if family == "poisson" else bernoulli(means[:, None, :])
        log_p = dist.logpmf(X[None]).sum(axis=2).T + np.log(weights)
        return -logsumexp(log_p, axis=1).sum()

    best = min((minimize(negative_ell, v0, method="BFGS", options={"gtol": 1e-9}) for v0 in starts),
               key=lambda r: r.fun)  # fmt: skip
    return -best.fun, *unpack(best.x)


def to_unconstrained(weights, means, family):
    logits = np.log(weights) - np.log(weights[-1])
    raw = np.log(means) if family == "poisson" else np.log(means) - np.log1p(-means)
    return np.concatenate([logits[:-1], raw.ravel()])


@pytest.mark.parametrize(
    "family, X, K",
    [
        ("poisson", poisson_data(D=1), 2),
        ("poisson", poisson_data(seed=1, D=2), 2),
        ("bernoulli", bernoulli_data(D=6), 2),
        ("bernoulli", bernoulli_data(seed=2, D=4, N=300), 3),
    ],
    ids=["poisson 1-D", "poisson 2-D", "bernoulli 6-D", "bernoulli K=3"],
)
def test_em_reaches_the_direct_numerical_maximum(family, X, K):
    result = expfamily.fit(X, K, family=family, seed=0, n_init=3, tol=1e-12, max_iter=5000)
    history = np.array(result.history["log_likelihood"])
    assert np.all(np.diff(history) >= -1e-10 * np.abs(history[:-1]))
    rng = np.random.default_rng(0)
    em_start = to_unconstrained(result.weights, result.means, family)
    starts = [em_start + rng.normal(scale=0.3, size=em_start.size) for _ in range(4)]
    best, weights, means = direct_maximum(X, K, family, starts)
    # BFGS is stopped by its gradient tolerance: EM may be higher, never lower beyond round-off
    assert result.log_likelihood >= best - 1e-7 * abs(best)
    assert result.log_likelihood == pytest.approx(best, rel=1e-7)
    order = [int(np.argmin(np.abs(means - m).sum(axis=1))) for m in result.means]
    assert sorted(order) == list(range(K))
    np.testing.assert_allclose(result.means, means[order], atol=1e-4)
    np.testing.assert_allclose(result.weights, weights[order], atol=1e-4)
    assert result.log_likelihood == pytest.approx(expfamily.log_likelihood(X, result.weights, result.means, family))


def test_e_step_gives_expected_statistics_and_m_step_matches_their_means():
    X = bernoulli_data(D=3)
    weights, means = np.array([0.4, 0.6]), np.array([[0.2, 0.5, 0.7], [0.8, 0.5, 0.3]])
    stats, ell = expfamily.e_step(X, weights, means, "bernoulli")
    np.testing.assert_allclose(stats.counts_K, stats.responsibilities.sum(axis=0))
    np.testing.assert_allclose(stats.sums_KD, stats.responsibilities.T @ X)
    again = expfamily.expected_statistics(X, stats.responsibilities, "bernoulli")
    np.testing.assert_allclose(again.sums_KD, stats.sums_KD)
    new_weights, new_means = expfamily.m_step(stats, "bernoulli")
    np.testing.assert_allclose(new_means, stats.sums_KD / stats.counts_K[:, None])
    # the M-step maximises Q(θ | θᵗ) = Σ_ik r_ik [log π_k + log p(x_i | m_k)]: no nearby θ does better
    r = stats.responsibilities

    def Q(w, m):
        return float(np.sum(r * (np.log(w) + expfamily.log_density(X, m, "bernoulli"))))

    best = Q(new_weights, new_means)
    rng = np.random.default_rng(1)
    for _ in range(30):
        dm = rng.normal(scale=0.01, size=new_means.shape)
        dw = rng.normal(scale=0.01)
        assert Q(new_weights + [dw, -dw], new_means + dm) < best


def test_a_component_with_only_zero_counts_stays_finite():
    X = np.concatenate([np.zeros(50), np.random.default_rng(0).poisson(6.0, 100)]).astype(int)
    result = expfamily.fit(X, 2, family="poisson", seed=1, tol=1e-12, max_iter=2000)
    assert np.isfinite(result.log_likelihood)
    assert result.means.min() < 0.05  # the zero-inflation component: λ near 0, kept 1e-12 inside


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: expfamily.fit([0, 1, 2.5], 2), ValueError, r"X must hold counts"),
        (lambda: expfamily.fit([0, 1, -1], 2), ValueError, r"X must hold counts"),
        (lambda: expfamily.fit([[0, 2]], 1, family="bernoulli"), ValueError, r"X must hold only 0 and 1"),
        (lambda: expfamily.fit([0, 1], 2, family="gamma"), ValueError, r"family must be one of 'poisson', 'bernoulli'"),
        (lambda: expfamily.fit([0, 1], 3), ValueError, r"n_components=3 is larger than the number of points \(2\)"),
        (
            lambda: expfamily.fit([0, 1, 2], 2, init=([0.5, 0.5], [1.0])),
            ValueError,
            r"init means have 1 rows but n_components is 2",
        ),
        (lambda: expfamily.fit([0, 1, 2], 2, init=[0.5]), TypeError, r"init must be None or a tuple"),
        (
            lambda: expfamily.e_step([0, 1], [1.0], [[1.5]], "bernoulli"),
            ValueError,
            r"bernoulli mean parameters must lie strictly between 0.0 and 1.0",
        ),
        (lambda: expfamily.e_step([0, 1], [0.5, 0.6], [[1.0], [2.0]]), ValueError, r"weights must sum to 1"),
        (lambda: expfamily.log_density([[0, 1]], [[1.0]]), ValueError, r"means must have shape \(K, 2\)"),
        (lambda: expfamily.m_step("stats"), TypeError, r"statistics must be the ExpectedStatistics"),
        (lambda: expfamily.log_density([np.nan], [[1.0]]), ValueError, r"X contains NaN"),
    ],
)
def test_expfamily_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------
# The new modules: every public name listed, and nothing else
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("module", [inference, accelerate, online, expfamily], ids=lambda m: m.__name__)
def test_all_lists_exactly_the_public_functions_and_classes(module):
    public = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    }
    assert public == set(module.__all__) - {"FAMILIES"}
