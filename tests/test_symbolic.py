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


# --- the two-component mixture, derived by SymPy, checked with numbers -----------------------

from emkit import datasets, gmm  # noqa: E402
from emkit.symbolic import V  # noqa: E402


def one_d_problems():
    rng = np.random.default_rng(5)
    yield "random", rng.normal(size=40) * 2 + 1, rng.uniform(0.05, 0.95, size=40)
    X = datasets.old_faithful()
    for col in range(2):
        x = X[:, col]
        # responsibilities from a two-component fit of that column: realistic, not uniform
        fit = gmm.fit(x[:, None], 2, seed=0)
        yield f"old faithful column {col}", x, fit.responsibilities[:, 0]


@pytest.mark.parametrize("name, x, T1", list(one_d_problems()), ids=lambda v: v if isinstance(v, str) else "")
def test_derived_updates_equal_emkit_m_step(name, x, T1):
    resp = np.column_stack([T1, 1 - T1])
    weights, means, covs = gmm.m_step(x[:, None], resp)
    tau = symbolic.evaluate(symbolic.derive_tau()["solution"], x, T1)
    assert tau == pytest.approx(weights[0], rel=1e-12)
    for k in (1, 2):
        mu = symbolic.evaluate(symbolic.derive_mean(k)["solution"], x, T1)
        assert mu == pytest.approx(means[k - 1, 0], rel=1e-12)
        var_expr = symbolic.derive_variance(k)["solution"]
        var = symbolic.evaluate(var_expr, x, T1, **{f"mu{k}": mu})
        assert var == pytest.approx(covs[k - 1, 0, 0], rel=1e-9)


@pytest.mark.parametrize("name, x, T1", list(one_d_problems()), ids=lambda v: v if isinstance(v, str) else "")
def test_symbolic_q_matches_emkit_q_function(name, x, T1):
    theta = {"tau": 0.3, "mu1": float(np.min(x)), "mu2": float(np.max(x)), "Sigma1": 1.5, "Sigma2": 0.7}
    q = symbolic.evaluate(symbolic.q_function(), x, T1, **theta)
    ref = gmm.q_function(
        x[:, None], np.column_stack([T1, 1 - T1]), [0.3, 0.7], [[theta["mu1"]], [theta["mu2"]]], [[[1.5]], [[0.7]]]
    )
    assert q == pytest.approx(ref, rel=1e-12)
    parts = sum(symbolic.evaluate(p, x, T1, **theta) for p in symbolic.q_parts().values())
    assert parts == pytest.approx(ref, rel=1e-12)


def test_q_is_the_complete_likelihood_with_indicators_replaced_by_responsibilities():
    # (.subs does not reach inside a Sum for terms holding its index i; xreplace does)
    linear = symbolic.complete_log_likelihood().xreplace({V.Z1[V.i]: V.T1[V.i]})
    q = symbolic.q_function().xreplace({V.T2[V.i]: 1 - V.T1[V.i]})
    assert symbolic.same_expression(linear, q)
    assert not symbolic.same_expression(linear, q + symbolic.total(V.T1[V.i] * V.mu1))


def test_responsibility_formula_matches_the_e_step():
    x = np.linspace(-3, 5, 30)
    old = {V.tau_t: 0.4, V.mu1_t: -1.0, V.mu2_t: 2.0, V.Sigma1_t: 0.5, V.Sigma2_t: 2.0}
    f = sp.lambdify(sp.Symbol("xi"), symbolic.responsibility_t().subs(old).subs(V.x[V.i], sp.Symbol("xi")), "numpy")
    resp, _ = gmm.e_step(x[:, None], [0.4, 0.6], [[-1.0], [2.0]], [[[0.5]], [[2.0]]])
    np.testing.assert_allclose(f(x), resp[:, 0], rtol=1e-12)


def test_second_derivatives_are_negative_at_the_solutions():
    rng = np.random.default_rng(6)
    x, T1 = rng.normal(size=25), rng.uniform(0.1, 0.9, size=25)
    for derivation, params in [
        (symbolic.derive_tau(), {}),
        (symbolic.derive_mean(1), {"Sigma1": 0.8}),
        (symbolic.derive_variance(1), {"mu1": 0.2}),
    ]:
        at_solution = derivation["second_derivative_at_solution"]
        _, mapping = symbolic.sums_as_symbols(derivation["second_derivative"])
        values = {sym: symbolic.evaluate(s, x, T1) for s, sym in mapping.items()}
        values[V.N] = len(x)
        scalars = {getattr(V, k): v for k, v in params.items()}
        assert float(at_solution.xreplace(values).xreplace(scalars)) < 0


def weighted_scatter(X, r, mean):
    d = X - mean
    return (r[:, None] * d).T @ d


@pytest.mark.parametrize("data", ["random", "old faithful"])
def test_sigma_2x2_derivation_equals_m_step(data):
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 2)) @ [[1.0, 0.0], [-0.8, 0.5]] if data == "random" else datasets.old_faithful()
    resp = rng.dirichlet([1.0, 1.0], size=len(X))
    _, means, covs = gmm.m_step(X, resp)
    derived = symbolic.derive_sigma_2x2()
    Nk, S = derived["N_k"], derived["S"]
    for k in range(2):
        scatter = weighted_scatter(X, resp[:, k], means[k])
        values = {Nk: resp[:, k].sum(), S[0, 0]: scatter[0, 0], S[0, 1]: scatter[0, 1], S[1, 1]: scatter[1, 1]}
        Sigma = np.array(derived["Sigma"].subs(values), dtype=float)
        np.testing.assert_allclose(Sigma, covs[k], rtol=1e-10)
        assert scatter[0, 1] < 0 or data == "old faithful"  # the random case has negative S12


def test_trace_identity_and_logdet_gradient_numerically():
    assert symbolic.trace_identity_2x2() == 0
    rng = np.random.default_rng(8)
    A = rng.normal(size=(2, 2))
    M = A @ A.T + np.eye(2)
    v = rng.normal(size=2)
    assert v @ np.linalg.solve(M, v) == pytest.approx(np.trace(np.linalg.solve(M, np.outer(v, v))))
    S_sym, grad = symbolic.logdet_explicit_gradient()
    values = dict(zip(list(S_sym), M.ravel(), strict=True))
    np.testing.assert_allclose(np.array(grad.subs(values), dtype=float), np.linalg.inv(M).T, rtol=1e-12)
    # the finite-difference truth that a MatrixSymbol derivative of 0 gets wrong
    h, fd = 1e-6, np.zeros((2, 2))
    for r in range(2):
        for c in range(2):
            E = np.zeros((2, 2))
            E[r, c] = h
            fd[r, c] = (np.linalg.slogdet(M + E)[1] - np.linalg.slogdet(M - E)[1]) / (2 * h)
    np.testing.assert_allclose(fd, np.linalg.inv(M).T, atol=1e-8)
    assert np.abs(fd).max() > 0.1


def test_evaluate_reports_missing_values():
    with pytest.raises(ValueError, match="no value given for mu1"):
        symbolic.evaluate(symbolic.derive_variance(1)["solution"], [1.0, 2.0], [0.5, 0.5])


def test_evaluate_handles_a_sum_inside_a_sum():
    rng = np.random.default_rng(10)
    x, T1 = rng.normal(size=9), rng.uniform(size=9)
    i = V.i
    mean = symbolic.total(V.T1[i] * V.x[i]) / symbolic.total(V.T1[i])
    expr = symbolic.total((V.x[i] - mean) ** 2) / V.N
    ref_mean = np.sum(T1 * x) / np.sum(T1)
    assert symbolic.evaluate(expr, x, T1) == pytest.approx(np.mean((x - ref_mean) ** 2), rel=1e-12)


# --- notebook 05: any K, any D --------------------------------------------------------


def test_lagrange_weights_are_the_constrained_maximum_numerically():
    import numpy as np
    from scipy.optimize import minimize

    out = symbolic.derive_weights_lagrange(4)
    counts = np.array([3.2, 7.5, 1.1, 8.2])
    values = dict(zip(out["N"], counts, strict=True))
    symbolic_pi = np.array([float(out["solution"][p].subs(values)) for p in out["pi"]])
    assert float(out["solution"][out["lam"]].subs(values)) == pytest.approx(counts.sum())
    # an independent reference: SciPy's constrained optimiser on the same objective
    ref = minimize(
        lambda p: -np.sum(counts * np.log(p)),
        np.full(4, 0.25),
        constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1}],
        bounds=[(1e-9, 1)] * 4,
        method="SLSQP",
        options={"ftol": 1e-14},
    )
    np.testing.assert_allclose(symbolic_pi, ref.x, atol=1e-6)


def _fd_gradient(f, A, h=1e-6):
    import itertools

    import numpy as np

    G = np.zeros_like(A)
    for r, c in itertools.product(range(len(A)), repeat=2):
        E = np.zeros_like(A)
        E[r, c] = h
        G[r, c] = (f(A + E) - f(A - E)) / (2 * h)
    return G


@pytest.mark.parametrize("D", [2, 3, 5])
def test_matrix_gradient_rules_match_finite_differences(D):
    import numpy as np

    rng = np.random.default_rng(D)
    B = rng.normal(size=(D, D))
    Lam_num = B @ B.T + D * np.eye(D)
    A_num = rng.normal(size=(D, D))
    Lam, A = sp.MatrixSymbol("Lambda", D, D), sp.MatrixSymbol("A", D, D)
    c1, c2 = sp.Rational(3, 2), sp.Rational(-1, 2)
    grad = symbolic.matrix_gradient(c1 * sp.log(sp.Determinant(Lam)) + c2 * sp.Trace(Lam * A), Lam)
    numeric = np.array(sp.lambdify((Lam, A), grad, "numpy")(Lam_num, A_num), dtype=float)  # Λ⁻ᵀ as numpy

    def f(L):
        return 1.5 * np.linalg.slogdet(L)[1] - 0.5 * np.trace(L @ A_num)

    np.testing.assert_allclose(numeric, _fd_gradient(f, Lam_num), atol=1e-7)


def test_matrix_gradient_refuses_terms_it_has_no_rule_for():
    Lam = sp.MatrixSymbol("Lambda", 3, 3)
    with pytest.raises(ValueError, match="no rule"):
        symbolic.matrix_gradient(sp.Trace(Lam * Lam), Lam)


@pytest.mark.parametrize("D", [2, 3, 5])
def test_general_sigma_is_the_maximum_at_every_dimension(D):
    import numpy as np

    out = symbolic.derive_sigma_general()
    assert out["Sigma"] == out["S"] / out["N_k"]
    rng = np.random.default_rng(10 + D)
    X = rng.normal(size=(50, D)) @ rng.normal(size=(D, D))
    r = rng.uniform(0.05, 1.0, size=50)
    mu = (r[:, None] * X).sum(0) / r.sum()
    S = (r[:, None] * (X - mu)).T @ (X - mu)
    Nk = r.sum()
    Sigma = np.array(sp.lambdify((out["S"], out["N_k"]), out["Sigma"], "numpy")(S, Nk), dtype=float)

    def q(Sig):  # the Σ part of Q, written in Σ (not Λ): an independent form of the objective
        return -Nk / 2 * np.linalg.slogdet(Sig)[1] - 0.5 * np.trace(np.linalg.solve(Sig, S))

    assert np.abs(_fd_gradient(q, Sigma)).max() < 1e-6 * abs(q(Sigma))
    for _ in range(100):
        E = rng.normal(size=(D, D)) * 0.1 * np.linalg.eigvalsh(Sigma).min() / D
        assert q(Sigma + (E + E.T) / 2) < q(Sigma)


def test_missing_information_rate_matches_the_em_map_derivative():
    """ρ = 1 − I_o/I_c (notebook 05) against the EM map's slope at its fixed point, by finite differences."""
    import numpy as np

    rng = np.random.default_rng(0)
    delta = 1.0
    x = np.where(rng.random(3000) < 0.3, delta, -delta) + rng.normal(size=3000)
    f1 = np.exp(-0.5 * (x - delta) ** 2)
    f2 = np.exp(-0.5 * (x + delta) ** 2)

    def em_map(pi):
        return float(np.mean(pi * f1 / (pi * f1 + (1 - pi) * f2)))

    pi = 0.5
    for _ in range(5000):
        pi = em_map(pi)
    I_c = len(x) / (pi * (1 - pi))
    I_o = np.sum((f1 - f2) ** 2 / (pi * f1 + (1 - pi) * f2) ** 2)
    # I_o is minus the second derivative of the log-likelihood: check that too
    ll = lambda p: np.sum(np.log(p * f1 + (1 - p) * f2))  # noqa: E731
    h = 1e-4
    assert -(ll(pi + h) - 2 * ll(pi) + ll(pi - h)) / h**2 == pytest.approx(I_o, rel=1e-5)
    slope = (em_map(pi + 1e-6) - em_map(pi - 1e-6)) / 2e-6
    assert slope == pytest.approx(1 - I_o / I_c, rel=1e-6)


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "tied"])
def test_constrained_covariance_derivations_match_scikit_learn(covariance_type):
    """The SymPy-derived M-steps (notebook 05), evaluated, against one scikit-learn iteration's covariances."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    out = symbolic.derive_constrained_covariances()
    sym = out["symbols"]
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 3)) * [1.0, 2.0, 0.5]
    means = rng.normal(size=(2, 3))
    weights = np.array([0.4, 0.6])
    joint = np.stack([weights[k] * multivariate_normal(means[k], np.eye(3)).pdf(X) for k in range(2)], axis=1)
    resp = joint / joint.sum(axis=1, keepdims=True)
    Nk = resp.sum(0)
    new_means = (resp.T @ X) / Nk[:, None]
    S = np.stack([(resp[:, k, None] * (X - new_means[k])).T @ (X - new_means[k]) for k in range(2)])
    if covariance_type == "spherical":
        ours = np.array([float(out["spherical"].subs({sym["trS_k"]: np.trace(S[k]), sym["D"]: 3, sym["N_k"]: Nk[k]}))
                         for k in range(2)])  # fmt: skip
    elif covariance_type == "diag":
        ours = np.array([[float(out["diag"].subs({sym["S_kdd"]: S[k, d, d], sym["N_k"]: Nk[k]})) for d in range(3)]
                         for k in range(2)])  # fmt: skip
    else:
        ours = np.array(sp.lambdify((sym["S_total"], sym["N"]), out["tied"], "numpy")(S.sum(0), len(X)), dtype=float)
    prec = {"spherical": np.ones(2), "diag": np.ones((2, 3)), "tied": np.eye(3)}[covariance_type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = GaussianMixture(
            2, covariance_type=covariance_type, weights_init=weights, means_init=means, precisions_init=prec,
            max_iter=1, tol=0, reg_covar=0.0,
        ).fit(X)  # fmt: skip
    np.testing.assert_allclose(ours, ref.covariances_, rtol=1e-9)


def test_expressions_are_shown_in_the_glossarys_notation():
    """to_latex: r_{i1} for T1[i], π₁ for tau, real subscripts, sums spelled out; never Python's * or **."""
    V = symbolic.V
    e = symbolic.total(V.T1[V.i] * (V.x[V.i] - V.mu1) ** 2) / symbolic.total(V.T1[V.i]) + V.tau * V.Sigma1_t
    text = symbolic.to_latex(e)
    assert r"r_{i1}" in text and r"\pi_{1}" in text and r"\Sigma_{1}^{t}" in text and "x_{i}" in text
    named, _ = symbolic.sums_as_symbols(symbolic.split_sums(e))
    shown = symbolic.to_latex(named)
    assert r"\sum_{i} r_{i1} x_{i}^{2}" in shown and "S[" not in shown
    for value in (text, shown, symbolic.to_latex(symbolic.derive_sigma_2x2()["precision"])):
        assert "*" not in value and "T1" not in value and "tau" not in value
    assert symbolic.show(r"\tau", V.tau).data == r"\tau = \pi_{1}"


def test_long_expressions_are_shown_one_term_per_line():
    shown = symbolic.show_lines(r"\log L", symbolic.complete_log_likelihood()).data
    assert shown.startswith(r"\begin{aligned}") and shown.count(r"\\") == 1 and r"\sum_{i=1}^{N} \Big[" in shown
    assert "*" not in shown and "Z1" not in shown and "z_{i1}" in shown
    assert symbolic.show_lines("Q", None).data == r"Q = \text{(not answered yet)}"
