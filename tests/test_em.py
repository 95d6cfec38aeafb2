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
    result = em.run(e_step, m_step, 0.0, max_iter=500, tol=1e-14)
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

    result = em.run(counting_e, counting_m, 0.0, max_iter=7, tol=0, record_params=True)
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
        em.run(e_step, m_step, 0, max_iter=2, tol=0)


def test_round_off_drop_does_not_warn():
    values = [-1000.0, -1000.0 - 1e-11]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        em.run(lambda t: (t, values[t]), lambda t: t + 1, 0, max_iter=1, tol=0)


def test_bad_driver_arguments():
    e_step, m_step, _ = mean_with_missing()
    with pytest.raises(ValueError, match="max_iter must be at least 0"):
        em.run(e_step, m_step, 0.0, max_iter=-1)
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        em.run(e_step, m_step, 0.0, tol=-1.0)
