"""Notebook 05's further exercises: the tied covariance and sampling from a mixture, their checks and slips."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from emkit import check, datasets, gmm


def right_tied(X, R, M):
    return sum(np.einsum("n,ni,nj->ij", R[:, k], X - M[k], X - M[k]) for k in range(R.shape[1])) / len(X)


def test_the_tied_update_is_what_em_with_tied_covariances_does():
    """emkit's tied M-step (via gmm.m_step) against the formula the exercise states, on Old Faithful."""
    X = datasets.old_faithful()
    R, _ = gmm.e_step(X, [0.4, 0.6], [[2.0, 55.0], [4.3, 80.0]], [np.diag([0.3, 40.0])] * 2)
    weights, means, cov = gmm.m_step(X, R, covariance_type="tied", reg_covar=0.0)
    np.testing.assert_allclose(cov, right_tied(X, R, means), rtol=1e-10)
    assert check.tied_covariance(right_tied).passed


@pytest.mark.parametrize(
    "wrong, slip",
    [
        (lambda X, R, M: np.mean([np.einsum("n,ni,nj->ij", R[:, k], X - M[k], X - M[k]) / R[:, k].sum()
                                  for k in range(R.shape[1])], axis=0),
         "unweighted average of the components' covariances"),
        (lambda X, R, M: right_tied(X, R, M) * len(X) / R.shape[1], "divided by K"),
        (lambda X, R, M: right_tied(X, R, M) * len(X) / (len(X) - R.shape[1]), "divided by N − K"),
        (lambda X, R, M: right_tied(X, R, np.zeros_like(M)), "not centred"),
    ],
)  # fmt: skip
def test_tied_slips_are_named(wrong, slip):
    result = check.tied_covariance(wrong)
    assert not result.passed and slip in result.slips, str(result)


def test_tied_covariance_per_component_shape_is_explained():
    result = check.tied_covariance(lambda X, R, M: np.stack([np.eye(X.shape[1])] * R.shape[1]))
    assert not result.passed and "ONE, shared" in str(result)


def right_sampler(weights, means, covariances, n, seed):
    rng = np.random.default_rng(seed)
    z = rng.choice(len(weights), size=n, p=weights)
    X = np.stack([rng.multivariate_normal(means[k], covariances[k]) for k in z])
    return X, z


def test_a_right_sampler_passes_and_its_points_have_the_mixture_density():
    result = check.sample_mixture(right_sampler)
    assert result.passed, str(result)
    # independent of the check: the sample's average log-density under the mixture matches its expectation
    w, m, S = np.array([0.6, 0.4]), np.array([[0.0, 0.0], [4.0, 1.0]]), np.stack([np.eye(2), [[1.0, 0.5], [0.5, 2.0]]])
    X, _ = right_sampler(w, m, S, 20000, 3)
    dens = sum(wk * multivariate_normal(mk, Sk).pdf(X) for wk, mk, Sk in zip(w, m, S, strict=True))
    ref, _ = right_sampler(w, m, S, 200000, 4)
    ref_dens = sum(wk * multivariate_normal(mk, Sk).pdf(ref) for wk, mk, Sk in zip(w, m, S, strict=True))
    assert abs(np.log(dens).mean() - np.log(ref_dens).mean()) < 0.03


def uniform_labels(weights, means, covariances, n, seed):
    rng = np.random.default_rng(seed)
    z = rng.integers(len(weights), size=n)
    return means[z] + np.einsum("nij,nj->ni", np.linalg.cholesky(covariances)[z], rng.normal(size=(n, 2))), z


def sigma_as_factor(weights, means, covariances, n, seed):
    rng = np.random.default_rng(seed)
    z = rng.choice(len(weights), size=n, p=weights)
    return means[z] + np.einsum("nij,nj->ni", covariances[z], rng.normal(size=(n, 2))), z


def variances_only(weights, means, covariances, n, seed):
    rng = np.random.default_rng(seed)
    z = rng.choice(len(weights), size=n, p=weights)
    sd = np.sqrt(np.diagonal(covariances, axis1=1, axis2=2))
    return means[z] + sd[z] * rng.normal(size=(n, 2)), z


@pytest.mark.parametrize(
    "wrong, slip",
    [(uniform_labels, "labels drawn uniformly"), (sigma_as_factor, "Σ where its square root belongs"),
     (variances_only, "only the variances")],
)  # fmt: skip
@pytest.mark.parametrize("seed", [None, 7])
def test_sampling_slips_are_named(wrong, slip, seed):
    result = check.sample_mixture(wrong, seed=seed)
    assert not result.passed and slip in result.slips, str(result)


def test_sampling_answers_of_the_wrong_form_get_clear_feedback():
    assert "return two values" in str(check.sample_mixture(lambda w, m, S, n, s: np.zeros((n, 2))))
    r = check.sample_mixture(lambda w, m, S, n, s: (np.zeros((n, 2)), np.full(n, 7)))
    assert "component indices 0..2" in str(r)
    assert not check.sample_mixture(lambda *a: (_ for _ in ()).throw(NotImplementedError)).answered


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10])
def test_the_checks_chi2_bound_is_scipys_to_within_ten_percent(df):
    from scipy.stats import chi2

    from emkit.check.mixtures import _chi2_upper

    assert abs(_chi2_upper(df) / chi2.ppf(1 - 1e-4, df) - 1) < 0.1
