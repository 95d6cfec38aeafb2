"""Checks of the two-Gaussian exercise: every correct form passes, each listed mistake is named."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from emkit import check, gmm
from emkit.symbolic import V, normal_log_density, total

i, x, T1, T2, N = V.i, V.x, V.T1, V.T2, V.N
tau, mu1, mu2, S1, S2 = V.tau, V.mu1, V.mu2, V.Sigma1, V.Sigma2


def mean1():
    return total(T1[i] * x[i]) / total(T1[i])


# --- τ ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        total(T1[i]) / N,
        1 - total(T2[i]) / N,
        total(T1[i]) / total(T1[i] + T2[i]),
        "Sum(T1[i], (i, 1, N)) / N",
        "1 - Sum(T2[i], (i, 1, N))/N",
        "Sum(T1[i]/N, (i, 1, N))",
    ],
)
def test_tau_correct_forms(answer):
    result = check.tau_update(answer)
    assert result.passed, str(result)


@pytest.mark.parametrize(
    "answer, named",
    [
        (total(T2[i]) / N, "that is 1 - τ"),
        (total(T1[i]), "divide by N"),
        (total(T1[i]) / total(T2[i]), "not by Σ_i T2[i]"),
    ],
)
def test_tau_mistakes(answer, named):
    result = check.tau_update(answer)
    assert not result.passed and named in str(result) and "counterexample" in str(result), str(result)


# --- μ ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        mean1(),
        total(T1[i] * x[i] / total(T1[i])),
        "Sum(T1[i]*x[i], (i,1,N))/Sum(T1[i], (i,1,N))",
        total((1 - T2[i]) * x[i]) / (N - total(T2[i])),
    ],
)
def test_mu_correct_forms(answer):
    assert check.mu_update(answer).passed


@pytest.mark.parametrize(
    "answer, named",
    [
        (total(T1[i] * x[i]) / N, "you divided by N"),
        (total(x[i]) / N, "plain mean"),
        (total(T1[i] * x[i]), "weighted sum"),
        (total(T2[i] * x[i]) / total(T2[i]), "other component"),
    ],
)
def test_mu_mistakes(answer, named):
    result = check.mu_update(answer)
    assert not result.passed and named in str(result), str(result)


def test_mu_for_component_two():
    assert check.mu_update(total(T2[i] * x[i]) / total(T2[i]), component=2).passed
    assert not check.mu_update(mean1(), component=2).passed


# --- Σ ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        total(T1[i] * (x[i] - mu1) ** 2) / total(T1[i]),  # mu1 = the new mean
        total(T1[i] * (x[i] - mean1()) ** 2) / total(T1[i]),  # the new mean written out
        total(T1[i] * x[i] ** 2) / total(T1[i]) - mu1**2,  # second moment minus μ²
        "Sum(T1[i]*(x[i] - mu1)**2, (i, 1, N)) / Sum(T1[i], (i, 1, N))",
        "Sum(T1[i]*x[i]**2, (i,1,N))/Sum(T1[i], (i,1,N)) - (Sum(T1[i]*x[i], (i,1,N))/Sum(T1[i], (i,1,N)))**2",
    ],
)
def test_sigma_correct_forms(answer):
    result = check.sigma_update(answer)
    assert result.passed, str(result)


@pytest.mark.parametrize(
    "answer, named",
    [
        (total((x[i] - mu1) ** 2) / N, "responsibilities are missing"),
        (total(T1[i] * (x[i] - mu1) ** 2) / N, "you divided by N"),
        (total(T1[i] * (x[i] - V.mu1_t) ** 2) / total(T1[i]), "previous iteration's mean"),
        (total(T1[i] * x[i] ** 2) / total(T1[i]), "not centred"),
        (total(T1[i] * (x[i] - mu1) ** 2), "weighted sum of squares"),
    ],
)
def test_sigma_mistakes(answer, named):
    result = check.sigma_update(answer)
    assert not result.passed and named in str(result), str(result)


# --- Q ---------------------------------------------------------------------------------------


def q_reference():
    return total(
        T1[i] * (sp.log(tau) + normal_log_density(x[i], mu1, S1))
        + T2[i] * (sp.log(1 - tau) + normal_log_density(x[i], mu2, S2))
    )


@pytest.mark.parametrize(
    "answer",
    [
        q_reference(),
        total(sp.expand(q_reference().function)),
        # constants dropped: no 2π
        total(
            T1[i] * (sp.log(tau) - sp.log(S1) / 2 - (x[i] - mu1) ** 2 / (2 * S1))
            + T2[i] * (sp.log(1 - tau) - sp.log(S2) / 2 - (x[i] - mu2) ** 2 / (2 * S2))
        ),
        # T2 written as 1 - T1
        total(
            T1[i] * (sp.log(tau) + normal_log_density(x[i], mu1, S1))
            + (1 - T1[i]) * (sp.log(1 - tau) + normal_log_density(x[i], mu2, S2))
        ),
        "Sum(T1[i]*(log(tau) - log(Sigma1)/2 - (x[i]-mu1)**2/(2*Sigma1))"
        " + T2[i]*(log(1-tau) - log(Sigma2)/2 - (x[i]-mu2)**2/(2*Sigma2)), (i, 1, N))",
    ],
)
def test_q_correct_forms(answer):
    result = check.q_function(answer)
    assert result.passed, str(result)


@pytest.mark.parametrize(
    "answer, named",
    [
        (-q_reference(), "sign is flipped"),
        (q_reference() - total(T1[i] * sp.log(tau) + T2[i] * sp.log(1 - tau)), "terms are missing"),
        (
            total(
                sp.log(
                    tau * sp.exp(normal_log_density(x[i], mu1, S1))
                    + (1 - tau) * sp.exp(normal_log_density(x[i], mu2, S2))
                )
            ),
            "observed-data log-likelihood",
        ),
    ],
)
def test_q_mistakes(answer, named):
    result = check.q_function(answer)
    assert not result.passed and named in str(result), str(result)


@pytest.mark.parametrize(
    "answer, message",
    [
        (V.Z1[i] * x[i], "hidden indicator"),
        (total(T1[i]) / sp.Symbol("M"), "uses M"),
        (sp.Sum(T1[i], (i, 0, N)), "from 1 to N"),
        (T1[i] / N, "outside a Sum"),
        (42, "could not"),  # a number: evaluates but is wrong → counterexample; see below
        ([1, 2], "expected a SymPy expression"),
        ("Sum(T1[i], (i, 1, N)) / M", "unknown name 'M'"),
        ("os.system('ls')", "could not read your answer"),
    ],
)
def test_out_of_vocabulary_answers_get_feedback(answer, message):
    result = check.tau_update(answer)
    assert not result.passed
    if message != "could not":
        assert message in str(result), str(result)


def test_unanswered_symbolic():
    assert not check.tau_update(None).answered
    assert not check.q_function(None).answered


# --- numpy E-step and M-step -----------------------------------------------------------------


def e_step_loop(X, weights, means, covs):
    from scipy.stats import multivariate_normal

    N, K = len(X), len(weights)
    joint = np.array(
        [[weights[k] * multivariate_normal(means[k], covs[k]).pdf(X[n]) for k in range(K)] for n in range(N)]
    )
    # stable enough? no: far points give 0/0 — this loop version fails the far-point part
    return joint / joint.sum(1, keepdims=True), float(np.log(joint.sum(1)).sum())


def e_step_log(X, weights, means, covs):
    a = np.log(weights) + gmm.log_gaussian_density(X, means, covs)
    m = a.max(1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(a - m).sum(1))
    return np.exp(a - lse[:, None]), float(lse.sum())


def test_e_step_right_and_far_point_part():
    assert check.e_step(e_step_log).passed
    assert check.e_step(gmm.e_step).passed
    naive = check.e_step(e_step_loop)
    assert not naive.passed and naive.score == 0.75 and "log-sum-exp" in str(naive), str(naive)


@pytest.mark.parametrize(
    "answer, named",
    [
        (lambda X, w, m, c: (e_step_log(X, w, m, c)[0], e_step_log(X, w, m, c)[1] / len(X)), "average per point"),
        (lambda X, w, m, c: (np.exp(gmm.log_gaussian_density(X, m, c)), 0.0), "each row must sum to 1"),
        (lambda X, w, m, c: e_step_log(X, np.full(len(w), 1 / len(w)), m, c), "weights π_k are missing"),
        (lambda X, w, m, c: (e_step_log(X, w, m, c)[0].T, 0.0), "transposed"),
    ],
)
def test_e_step_mistakes(answer, named):
    result = check.e_step(answer)
    assert not result.passed and named in str(result), str(result)


def m_step_loop(X, R):
    N, D = X.shape
    K = R.shape[1]
    weights, means, covs = np.zeros(K), np.zeros((K, D)), np.zeros((K, D, D))
    for k in range(K):
        Nk = sum(R[n, k] for n in range(N))
        weights[k] = Nk / N
        means[k] = sum(R[n, k] * X[n] for n in range(N)) / Nk
        covs[k] = sum(R[n, k] * np.outer(X[n] - means[k], X[n] - means[k]) for n in range(N)) / Nk
    return weights, means, covs


def m_step_moments(X, R):
    Nk = R.sum(0)
    means = R.T @ X / Nk[:, None]
    second = np.einsum("nk,nd,ne->kde", R, X, X) / Nk[:, None, None]
    return Nk / len(X), means, second - np.einsum("kd,ke->kde", means, means)


@pytest.mark.parametrize("answer", [m_step_loop, m_step_moments, lambda X, R: gmm.m_step(X, R)])
def test_m_step_correct_forms(answer):
    result = check.m_step(answer)
    assert result.passed, str(result)


def with_cov(cov_fn):
    def answer(X, R):
        w, m, _ = gmm.m_step(X, R)
        return w, m, cov_fn(X, R, m)

    return answer


@pytest.mark.parametrize(
    "answer, named",
    [
        (with_cov(lambda X, R, m: np.stack([(X - mk).T @ (X - mk) / len(X) for mk in m])), "responsibility weights"),
        (with_cov(lambda X, R, m: gmm.m_step(X, R)[2] * (R.sum(0) / len(X))[:, None, None]), "divided by N"),
        (
            with_cov(lambda X, R, m: np.stack([(R[:, k, None] * X).T @ X / R[:, k].sum() for k in range(len(m))])),
            "not centred",
        ),
        (with_cov(lambda X, R, m: np.stack([(X - mk) @ (X - mk).T for mk in m])), "N×N outer products"),
        (lambda X, R: (R.sum(0), *gmm.m_step(X, R)[1:]), "must sum to 1"),
        (lambda X, R: (gmm.m_step(X, R)[0], R.T @ X / len(X), gmm.m_step(X, R)[2]), "divided the weighted sums by N"),
    ],
)
def test_m_step_mistakes(answer, named):
    result = check.m_step(answer)
    assert not result.passed and named in str(result), str(result)
