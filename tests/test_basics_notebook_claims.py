"""What notebooks 01-03 (and the appendix) show, checked against independent references.

Each test recomputes a table, a formula or a claim of the notebooks another way: SciPy's densities,
enumeration of every hidden assignment, finite differences, or brute force. A notebook that runs proves
only that it runs; these say that what it prints is right.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import optimize, stats

from emkit import check, coins, datasets, gmm, kmeans, missing
from emkit.check import by_hand

# ---------------------------------------------------------------------------------------------------
# 01 · ties in the assignment step
# ---------------------------------------------------------------------------------------------------


def test_a_tie_can_change_a_label_without_lowering_j_and_the_update_then_lowers_it():
    X = np.array([[4.0], [1.0], [4.0], [3.0]])
    centres = np.array([[4.0], [2.0]])
    before = np.array([0, 1, 0, 1])
    assert np.allclose(kmeans.update(X, before, 2), centres)  # the centres are the means of the labelling
    after = kmeans.assign(X, centres)
    assert after.tolist() == [0, 1, 0, 0]  # lowest index wins the tie
    J = [kmeans.inertia(X, centres, before), kmeans.inertia(X, centres, after)]
    assert J == [2.0, 2.0]
    nxt = kmeans.update(X, after, 2)
    assert np.allclose(nxt[:, 0], [11 / 3, 1.0])
    assert kmeans.inertia(X, nxt, after) == pytest.approx(2 / 3)


def test_hartigan_move_formula_against_recomputing_the_means():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2))
    labels = rng.integers(0, 3, size=30)
    labels[:3] = [0, 1, 2]
    means = kmeans.update(X, labels, 3)
    J = kmeans.inertia(X, means, labels)
    sizes = np.bincount(labels, minlength=3)
    for i in range(30):
        a = labels[i]
        if sizes[a] < 2:
            continue
        for b in set(range(3)) - {a}:
            formula = sizes[b] / (sizes[b] + 1) * np.sum((X[i] - means[b]) ** 2) - sizes[a] / (sizes[a] - 1) * np.sum(
                (X[i] - means[a]) ** 2
            )
            moved = labels.copy()
            moved[i] = b
            direct = kmeans.inertia(X, kmeans.update(X, moved, 3), moved) - J
            assert formula == pytest.approx(direct, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------------------------------
# 02 · the five-point iteration and the by-hand responsibility
# ---------------------------------------------------------------------------------------------------

X5 = np.array([0.0, 1.0, 2.0, 4.0, 5.0])
MU0 = np.array([1.0, 4.0])


def test_the_five_point_table_against_scipy_and_emkit():
    # the notebook's numbers, as printed
    joint = 0.5 * stats.norm(MU0, 1.0).pdf(X5[:, None])  # π_k N(x_i | μ_k, 1), the factors that cancel kept
    r = joint / joint.sum(axis=1, keepdims=True)
    assert np.round(r[:, 0], 3).tolist() == [0.999, 0.989, 0.818, 0.011, 0.001]
    assert round(float(np.exp(-0.5)), 4) == 0.6065 and round(float(np.exp(-2.0)), 4) == 0.1353
    N = r.sum(axis=0)
    mu1 = (r * X5[:, None]).sum(axis=0) / N
    assert np.round(N, 3).tolist() == [2.818, 2.182] and N.sum() == pytest.approx(5.0)
    assert np.round(mu1, 3).tolist() == [0.948, 4.275]
    # emkit's E-step and weighted means agree (σ fixed at 1, weights ½)
    resp, _ = gmm.e_step(X5[:, None], np.array([0.5, 0.5]), MU0[:, None], np.ones((2, 1, 1)))
    assert np.allclose(resp, r, atol=1e-12)
    assert np.allclose(gmm.update_means(X5[:, None], resp)[:, 0], mu1)


def test_the_by_hand_responsibility_and_its_slips_against_scipy():
    x, mu, s, pi = 2.5, np.array([0.0, 4.0]), 1.5, np.array([0.4, 0.6])
    joint = pi * stats.norm(mu, s).pdf(x)
    r1 = joint[0] / joint.sum()
    assert by_hand.ONE_R_EXERCISE.right == pytest.approx(r1, rel=1e-12)
    assert round(r1, 3) == 0.215
    values = {sl.slip + str(n): sl.value for n, sl in enumerate(by_hand.ONE_R_EXERCISE.slips)}
    assert values["divided the distances by their sum0"] == pytest.approx(2.5 / 4.0)
    assert values["forgot the weights π_k2"] == pytest.approx(stats.norm(0, s).pdf(x) / stats.norm(mu, s).pdf(x).sum())
    sigma_not_squared = pi * np.exp(-((x - mu) ** 2) / (2 * s))
    assert values["used σ instead of σ²3"] == pytest.approx(sigma_not_squared[0] / sigma_not_squared.sum())
    assert values["not divided by the sum6"] == pytest.approx(joint[0])
    assert check.one_responsibility(round(r1, 3)).passed


def test_unequal_weights_shift_the_squared_distance_by_log_pi_over_beta():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 2))
    centres = rng.normal(size=(3, 2))
    pi = np.array([0.2, 0.3, 0.5])
    sigma2 = 0.7
    beta = 1 / (2 * sigma2)
    d2 = ((X[:, None, :] - centres[None]) ** 2).sum(-1)
    shifted = -beta * (d2 - np.log(pi) / beta)
    softmax = np.exp(shifted - shifted.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    joint = pi * np.stack([stats.multivariate_normal(c, sigma2 * np.eye(2)).pdf(X) for c in centres], axis=1)
    assert np.allclose(softmax, joint / joint.sum(1, keepdims=True), atol=1e-12)


# ---------------------------------------------------------------------------------------------------
# 03 · the coins
# ---------------------------------------------------------------------------------------------------

HEADS, TOSSES = np.array([5, 9, 8, 4, 7]), np.array([10] * 5)


def test_the_coins_e_step_against_enumerating_every_assignment():
    """P(set i from coin A | all the data), by summing the joint over all 2⁵ assignments of coins to sets."""
    theta = {0: 0.6, 1: 0.5}
    total = np.zeros(5)
    evidence = 0.0
    for assignment in itertools.product((0, 1), repeat=5):
        p = np.prod([0.5 * stats.binom(n, theta[c]).pmf(h) for h, n, c in zip(HEADS, TOSSES, assignment, strict=True)])
        evidence += p
        total += p * (np.array(assignment) == 0)
    r_enum = total / evidence
    r, loglik = coins.e_step(HEADS, TOSSES, [0.6, 0.5], [0.5, 0.5])
    assert np.allclose(r[:, 0], r_enum, atol=1e-12)
    assert loglik == pytest.approx(np.log(evidence), rel=1e-12)
    # the notebook's table and worked numbers
    assert np.round(r_enum, 2).tolist() == list(by_hand.COINS["r_A"])
    assert round(0.6**5 * 0.4**5, 6) == 0.000796 and round(0.5**10, 6) == 0.000977


def test_the_coins_m_step_by_hand_and_the_papers_values():
    r_table = np.array(by_hand.COINS["r_A"])
    assert by_hand.COINS_EXERCISE.right == pytest.approx((r_table * HEADS).sum() / (r_table * TOSSES).sum())
    r, _ = coins.e_step(HEADS, TOSSES, [0.6, 0.5], [0.5, 0.5])
    biases, _ = coins.m_step(HEADS, TOSSES, r)
    assert abs(biases[0] - by_hand.COINS_EXERCISE.right) < by_hand.COINS_EXERCISE.tolerance
    assert (9 + 8 + 7) / 30 == pytest.approx(0.8)  # "if we knew the coins"
    fit = coins.fit(HEADS, TOSSES, init=(0.6, 0.5), fixed_weights=True, max_iter=10, tol=0)
    assert np.round(fit.biases, 2).tolist() == [0.8, 0.52]
    free = coins.fit(HEADS, TOSSES, init=(0.6, 0.5), max_iter=500, tol=1e-12)
    assert not np.allclose(free.weights, 0.5)  # without fixed_weights the weights are estimated too
    # the free fit is a stationary point of the observed-data log-likelihood (finite differences, scipy's pmf)

    def loglik(v):
        a, b, w = v
        return np.sum(np.log(w * stats.binom(TOSSES, a).pmf(HEADS) + (1 - w) * stats.binom(TOSSES, b).pmf(HEADS)))

    grad = optimize.approx_fprime(np.array([*free.biases, free.weights[0]]), loglik, 1e-7)
    assert np.abs(grad).max() < 1e-4


# ---------------------------------------------------------------------------------------------------
# 03 · the bound
# ---------------------------------------------------------------------------------------------------


def _old_faithful_theta():
    X = datasets.old_faithful()
    theta_t = (np.array([0.5, 0.5]), np.array([[2.6, 60.0], [4.6, 82.0]]), np.stack([np.diag([0.1, 40.0])] * 2))
    return X, theta_t


def _joint_scipy(X, w, m, c):
    return np.stack([w[k] * stats.multivariate_normal(m[k], c[k]).pdf(X) for k in range(len(w))], axis=1)


def test_at_theta_t_the_ratio_inside_the_log_is_p_of_x_for_every_k():
    X, theta_t = _old_faithful_theta()
    joint = _joint_scipy(X, *theta_t)
    r, _ = gmm.e_step(X, *theta_t)
    ratio = joint / r
    assert np.allclose(ratio, joint.sum(axis=1, keepdims=True), rtol=1e-9)  # = p(x_i | θᵗ), the same for each k
    F = gmm.elbo(X, r, *theta_t)
    assert F == pytest.approx(np.log(joint.sum(axis=1)).sum(), rel=1e-12)  # the bound touches


def test_the_gap_is_the_sum_of_kl_divergences_and_f_is_q_plus_h():
    X, theta_t = _old_faithful_theta()
    r, _ = gmm.e_step(X, *theta_t)
    theta = (np.array([0.3, 0.7]), np.array([[2.0, 55.0], [4.3, 80.0]]), np.stack([np.diag([0.2, 30.0])] * 2))
    joint = _joint_scipy(X, *theta)
    post = joint / joint.sum(axis=1, keepdims=True)
    kl = sum(stats.entropy(r[i], post[i]) for i in range(len(X)))
    loglik = np.log(joint.sum(axis=1)).sum()
    assert loglik - gmm.elbo(X, r, *theta) == pytest.approx(kl, rel=1e-9)
    q = np.sum(r * np.log(joint))
    H = -np.sum(r * np.log(r))
    assert gmm.elbo(X, r, *theta) == pytest.approx(q + H, rel=1e-12)
    assert gmm.q_function(X, r, *theta) == pytest.approx(q, rel=1e-12)


def test_the_symmetric_start_is_a_fixed_point_but_not_a_maximum():
    x, _ = datasets.sample_gaussian_mixture(400, [0.4, 0.6], [[-1.0], [1.5]], [[[0.25]], [[1.44]]], seed=1)
    sym = (np.array([0.5, 0.5]), np.full((2, 1), x.mean()), np.full((2, 1, 1), x.var()))
    r, _ = gmm.e_step(x, *sym)
    w, m, c = gmm.m_step(x, r)
    assert np.allclose(w, 0.5) and np.allclose(m, x.mean()) and np.allclose(c, x.var())
    nudged = gmm.fit(x, 2, init=(sym[0], sym[1] + [[-0.01], [0.01]], sym[2]), max_iter=500, tol=1e-10, reg_covar=0.0)
    assert nudged.log_likelihood > gmm.log_likelihood(x, *sym) + 10


# ---------------------------------------------------------------------------------------------------
# 03 · missing data
# ---------------------------------------------------------------------------------------------------


def _missing_data():
    rng = np.random.default_rng(3)
    full = rng.multivariate_normal([0.0, 1.0], [[1.0, 0.8], [0.8, 1.0]], size=300)
    Xm = full.copy()
    Xm[rng.uniform(size=300) < 1 / (1 + np.exp(-2.5 * full[:, 0])), 1] = np.nan
    return Xm


def test_the_missing_data_m_step_of_exercise_3_4_is_emkits_and_its_second_moment_identity():
    Xm = _missing_data()
    mean, cov = np.array([0.1, 0.9]), np.array([[1.2, 0.5], [0.5, 1.1]])
    (filled, C), _ = missing.e_step(Xm, mean, cov)
    rows = np.isnan(Xm[:, 1])
    v = cov[1, 1] - cov[0, 1] ** 2 / cov[0, 0]
    ref_mean, ref_cov = missing.m_step(filled, C)
    by_formula = by_hand.MISSING_M_STEP.expected(by_hand.Case(X=filled, missing=rows, v=v, dims={"N": len(Xm), "D": 2}))
    assert np.allclose(by_formula["mean"], ref_mean) and np.allclose(by_formula["cov"], ref_cov)
    # E[x₂² | x₁] = E[x₂ | x₁]² + Var[x₂ | x₁], by sampling the conditional Normal
    draws = np.random.default_rng(0).normal(filled[rows, 1][:3, None], np.sqrt(v), size=(3, 200_000))
    assert np.allclose((draws**2).mean(axis=1), filled[rows, 1][:3] ** 2 + v, rtol=5e-3)


def test_em_for_missing_data_reaches_a_stationary_point_of_the_observed_likelihood():
    Xm = _missing_data()
    fit = missing.fit(Xm, tol=1e-12)
    rows = np.isnan(Xm[:, 1])

    def loglik(v):
        m1, m2, a, b, c = v  # Σ = L Lᵀ with L = [[a, 0], [b, c]]
        L = np.array([[a, 0.0], [b, c]])
        S = L @ L.T
        complete = stats.multivariate_normal([m1, m2], S).logpdf(Xm[~rows]).sum()
        return complete + stats.norm(m1, np.sqrt(S[0, 0])).logpdf(Xm[rows, 0]).sum()

    L = np.linalg.cholesky(fit.cov)
    v = np.array([*fit.mean, L[0, 0], L[1, 0], L[1, 1]])
    assert loglik(v) == pytest.approx(fit.log_likelihood, rel=1e-10)
    assert np.abs(optimize.approx_fprime(v, loglik, 1e-7)).max() < 1e-3


def test_the_conditional_moments_the_notebook_typesets():
    from emkit import symbolic

    latex = symbolic.to_latex(symbolic.conditional_normal_2d()[0])
    assert "s_{12}" in latex and "m_{2}" in latex and "*" not in latex
