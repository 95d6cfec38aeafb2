"""The general EM driver: iteration count, history, convergence, and the decrease warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from emkit import em


def mean_with_missing():
    x = np.array([1.0, 2.0, np.nan, 4.0, np.nan])
    observed = x[~np.isnan(x)]

    def e_step(mu):
        return np.where(np.isnan(x), mu, x), -0.5 * float(((observed - mu) ** 2).sum())

    def m_step(filled):
        return float(filled.mean())

    return e_step, m_step, float(observed.mean())


def test_converges_to_the_observed_data_mle():
    e_step, m_step, mle = mean_with_missing()
    result = em.run(e_step, m_step, 0.0, n_points=1, max_iter=500, tol=1e-14)
    assert result.converged and result.params == pytest.approx(mle, abs=1e-6)
    assert np.all(np.diff(result.history["objective"]) >= 0)


def test_tol_zero_runs_exactly_max_iter_iterations():
    e_step, m_step, _ = mean_with_missing()
    calls = {"e": 0, "m": 0}

    def counting_e(theta):
        calls["e"] += 1
        return e_step(theta)

    def counting_m(expectations):
        calls["m"] += 1
        return m_step(expectations)

    result = em.run(counting_e, counting_m, 0.0, n_points=1, max_iter=7, tol=0, record_params=True)
    assert result.n_iter == 7 and not result.converged
    assert calls == {"e": 8, "m": 7}  # one E-step per iteration, plus the one at θ⁰
    assert len(result.history["objective"]) == len(result.history["params"]) == 8
    assert result.history["params"][0] == 0.0 and result.history["params"][-1] == result.params


def test_warns_loudly_when_the_objective_drops():
    def e_step(theta):
        return theta, [0.0, -1.0, -0.5][theta]

    def m_step(theta):
        return theta + 1

    with pytest.warns(em.ObjectiveDecreaseWarning, match=r"decreased at iteration 1: from 0 to -1 \(a drop of 1\)"):
        em.run(e_step, m_step, 0, n_points=1, max_iter=2, tol=0)


def test_round_off_drop_does_not_warn():
    values = [-1000.0, -1000.0 - 1e-11]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        em.run(lambda t: (t, values[t]), lambda t: t + 1, 0, n_points=1, max_iter=1, tol=0)


def test_bad_driver_arguments():
    e_step, m_step, _ = mean_with_missing()
    with pytest.raises(ValueError, match="max_iter must be at least 0"):
        em.run(e_step, m_step, 0.0, n_points=1, max_iter=-1)
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        em.run(e_step, m_step, 0.0, n_points=1, tol=-1.0)


def test_tol_is_per_point_for_every_model():
    """The same absolute gain stops a run over 1 point and keeps going over 1000."""

    def climbing(gains):
        values = np.concatenate([[0.0], np.cumsum(gains)])
        return (lambda t: (t, float(values[t]))), (lambda t: t + 1)

    e_step, m_step = climbing([1.0, 0.5, 0.05, 0.05, 0.05])
    assert em.run(e_step, m_step, 0, n_points=1, max_iter=5, tol=0.1).n_iter == 3  # gain 0.05 < 0.1 × 1
    assert not em.run(e_step, m_step, 0, n_points=1000, max_iter=5, tol=1e-5).converged  # 0.05 ≥ 1e-5 × 1000
    assert em.run(e_step, m_step, 0, n_points=1000, max_iter=5, tol=1e-3).n_iter == 2  # 0.5 < 1e-3 × 1000


@pytest.mark.parametrize("model", ["gmm", "coins", "missing"])
def test_models_stop_on_the_per_point_gain(model):
    from emkit import coins, datasets, gmm, missing

    rng = np.random.default_rng(3)
    if model == "gmm":
        X = datasets.old_faithful()
        result, n = gmm.fit(X, 2, seed=0, tol=1e-4), len(X)
    elif model == "coins":
        heads = rng.binomial(10, rng.choice([0.3, 0.8], size=40))
        result, n = coins.fit(heads, np.full(40, 10), tol=1e-4), 40
    else:
        X = rng.normal(size=(300, 3)) @ [[1, 0.5, 0], [0, 1, 0.3], [0, 0, 1]]
        X[rng.random(X.shape) < 0.2] = np.nan
        X = X[~np.isnan(X).all(axis=1)]
        result, n = missing.fit(X, tol=1e-4), len(X)
    ll = np.asarray(result.history["log_likelihood"])
    assert result.converged
    assert ll[-1] - ll[-2] < 1e-4 * n  # the last step was small per point ...
    assert np.all(np.diff(ll)[:-1] >= 1e-4 * n)  # ... and no earlier one was


def test_best_of_keeps_the_highest_score_and_the_first_of_ties():
    starts = iter([("a", 1.0), ("b", 3.0), ("c", 3.0), ("d", 2.0)])
    assert em.best_of(4, lambda: next(starts), score=lambda r: r[1]) == ("b", 3.0)
    with pytest.raises(StopIteration):
        next(starts)  # all four restarts ran
