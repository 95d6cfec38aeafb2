"""Every symbolic result is checked numerically: a CAS can be silently wrong."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scipy.stats import multivariate_normal

from emkit import missing, symbolic


def test_bivariate_log_density_matches_scipy():
    x1, x2, m1, m2, s11, s12, s22 = symbolic.normal_2d_symbols()
    f = sp.lambdify((x1, x2, m1, m2, s11, s12, s22), symbolic.bivariate_normal_log_density(), "numpy")
    rng = np.random.default_rng(0)
    for _ in range(10):
        A = rng.normal(size=(2, 2))
        S = A @ A.T + 0.3 * np.eye(2)
        m, x = rng.normal(size=2), rng.normal(size=2) * 2
        assert f(*x, *m, S[0, 0], S[0, 1], S[1, 1]) == pytest.approx(multivariate_normal(m, S).logpdf(x), rel=1e-12)


def test_conditional_normal_matches_emkit_missing_and_monte_carlo():
    x1, x2, m1, m2, s11, s12, s22 = symbolic.normal_2d_symbols()
    mean_expr, var_expr = symbolic.conditional_normal_2d()
    f_mean = sp.lambdify((x1, m1, m2, s11, s12, s22), mean_expr, "numpy")
    f_var = sp.lambdify((m1, m2, s11, s12, s22), var_expr, "numpy")
    assert x2 not in mean_expr.free_symbols and x1 not in var_expr.free_symbols
    rng = np.random.default_rng(1)
    for _ in range(10):
        A = rng.normal(size=(2, 2))
        S = A @ A.T + 0.3 * np.eye(2)
        m, xo = rng.normal(size=2), rng.normal(size=3)
        ref_mean, ref_var = missing.conditional_moments(xo[:, None], m, S, np.array([0]), np.array([1]))
        np.testing.assert_allclose(f_mean(xo, *m, S[0, 0], S[0, 1], S[1, 1]), ref_mean[:, 0], rtol=1e-12)
        assert f_var(*m, S[0, 0], S[0, 1], S[1, 1]) == pytest.approx(ref_var[0, 0], rel=1e-12)
    # and against sampling: regress x2 on x1 in a large sample
    S = np.array([[2.0, 0.9], [0.9, 1.0]])
    sample = rng.multivariate_normal([1.0, -1.0], S, size=200_000)
    slope = np.polyfit(sample[:, 0], sample[:, 1], 1)[0]
    assert slope == pytest.approx(0.9 / 2.0, abs=0.01)
