"""Every formula and number notebook 07 (hidden Markov models) states, against an independent reference.

References: enumerating every state path of the coins example (T = 3, K = 2: 8 paths), written out
here from the model's definition; hmmlearn (its own forward pass, with scaling, and its own
Baum–Welch); SciPy's Normal densities; SymPy (the Lagrange conditions); plain arithmetic. The α
table is read from the notebook's own markdown, so the numbers a learner checks by hand are the
numbers tested.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from scipy.special import logsumexp
from scipy.stats import norm

from emkit import gmm, hmm

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "07_hmm.ipynb"

# the coins example: states fair (0), biased (1); symbols heads (0), tails (1); x = H, H, T
PI = np.array([0.5, 0.5])
A = np.array([[0.9, 0.1], [0.2, 0.8]])
B = np.array([[0.5, 0.5], [0.8, 0.2]])
X_COINS = (0, 0, 1)
COINS = hmm.CategoricalParams(start=PI, trans=A, emission_probs=B)

# the regime-switching market: calm (0) and turbulent (1) daily returns, in %
STICKY = hmm.GaussianParams(
    start=[1.0, 0.0], trans=[[0.98, 0.02], [0.05, 0.95]], means=[0.05, -0.15], covariances=[0.7**2, 2.2**2]
)
START = hmm.GaussianParams(start=[0.5, 0.5], trans=[[0.5, 0.5]] * 2, means=[0.1, -0.1], covariances=[1.0, 1.5])


def joint(z, x=X_COINS, pi=PI, trans=A, emit=B):
    """p(x, z) = π_z1 b_z1(x_1) Π_t A_z(t-1) z(t) b_zt(x_t), for one path z."""
    p = pi[z[0]] * emit[z[0], x[0]]
    for t in range(1, len(x)):
        p *= trans[z[t - 1], z[t]] * emit[z[t], x[t]]
    return p


def paths(T, K=2):
    return list(itertools.product(range(K), repeat=T))


def alpha_by_enumeration():
    """α_t(k) = Σ over the paths z_1..z_t ending in k of p(x_1..x_t, z_1..z_t)."""
    return np.array([[sum(joint(z, X_COINS[: t + 1]) for z in paths(t + 1) if z[-1] == k) for k in range(2)]
                     for t in range(3)])  # fmt: skip


def beta_by_enumeration():
    """β_t(j) = Σ over the continuations z_t+1..z_T of Π A b, given z_t = j."""
    beta = np.ones((3, 2))
    for t in range(2):
        for j in range(2):
            total = 0.0
            for rest in paths(2 - t):
                p, previous = 1.0, j
                for i, k in enumerate(rest):
                    p *= A[previous, k] * B[k, X_COINS[t + 1 + i]]
                    previous = k
                total += p
            beta[t, j] = total
    return beta


def cells():
    return [("".join(c["source"]), c) for c in json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]]


# --- the α table a learner checks by hand -------------------------------------------------------------------


def alpha_table_rows():
    (table,) = [s for s, c in cells() if c["cell_type"] == "markdown" and "### The α table, by hand" in s]
    rows = re.findall(r"^\| (\d) \| [HT] \| \$(.*?)\$ \| \$(.*?)\$ \|$", table, re.M)
    assert len(rows) == 3
    return table, rows


def test_the_alpha_table_in_the_notebook_is_right_line_by_line():
    table, rows = alpha_table_rows()
    reference = alpha_by_enumeration()
    for t, *entries in rows:
        for k, entry in enumerate(entries):
            expression, value = entry.rsplit("=", 1)
            worked = eval(expression.replace("\\cdot", "*"), {"__builtins__": {}})  # the arithmetic as printed
            assert worked == pytest.approx(float(value), rel=1e-12), entry
            assert float(value) == pytest.approx(reference[int(t) - 1, k], rel=1e-12), (t, k)
    p_x = sum(joint(z) for z in paths(3))
    assert "= 0.143435$" in table and p_x == pytest.approx(0.143435, rel=1e-12)
    np.testing.assert_allclose(np.exp(hmm.forward(hmm.log_emission(np.array(X_COINS), COINS), PI, A)), reference)


def test_the_recursions_as_displayed():
    """α_t = b(x_t) ⊙ (α_t-1 A); β_t = A (b(x_t+1) ⊙ β_t+1); γ = αβ / p(x);
    ξ_t(j, k) = α_t(j) A_jk b_k(x_t+1) β_t+1(k) / p(x): each as the notebook displays it, against the 8 paths."""
    b = B[:, X_COINS].T  # b_k(x_t), T × K
    alpha = np.zeros((3, 2))
    alpha[0] = PI * b[0]
    for t in (1, 2):
        alpha[t] = b[t] * (alpha[t - 1] @ A)
    beta = np.ones((3, 2))
    for t in (1, 0):
        beta[t] = A @ (b[t + 1] * beta[t + 1])
    np.testing.assert_allclose(alpha, alpha_by_enumeration(), rtol=1e-12)
    np.testing.assert_allclose(beta, beta_by_enumeration(), rtol=1e-12)
    p_x = alpha[-1].sum()
    gamma = alpha * beta / p_x
    xi_t = np.array([alpha[t][:, None] * A * (b[t + 1] * beta[t + 1])[None, :] / p_x for t in range(2)])
    everything = {z: joint(z) for z in paths(3)}
    gamma_ref = np.array([[sum(p for z, p in everything.items() if z[t] == k) for k in range(2)] for t in range(3)])
    xi_ref = np.array(
        [[[sum(p for z, p in everything.items() if z[t] == j and z[t + 1] == k) for k in range(2)] for j in range(2)]
         for t in range(2)]
    ) / p_x  # fmt: skip
    np.testing.assert_allclose(gamma, gamma_ref / p_x, rtol=1e-12)
    np.testing.assert_allclose(xi_t, xi_ref, rtol=1e-12)
    np.testing.assert_allclose(xi_t.sum(axis=2), gamma[:2], rtol=1e-12)  # Σ_k ξ_t(j, k) = γ_t(j)
    assert xi_t.sum() == pytest.approx(3 - 1)  # one move per step: T - 1
    # what the notebook prints: γ at t = 2 is nearly even, ξ summed over t
    np.testing.assert_allclose(gamma[1], [0.4997, 0.5003], atol=5e-5)
    np.testing.assert_allclose(xi_t.sum(axis=0), [[0.8471, 0.0575], [0.3235, 0.7719]], atol=5e-5)
    post, _ = hmm.e_step(np.array(X_COINS), COINS)
    np.testing.assert_allclose(post.xi_KK, xi_t.sum(axis=0), rtol=1e-12)


def test_q_is_the_posterior_average_of_the_complete_log_likelihood():
    """Q(θ | θᵗ) = Σ γ_1 log π + Σ ξ log A + Σ γ log b equals E[log p(x, z | θ)] over the 8 paths."""
    other_pi, other_A, other_B = np.array([0.3, 0.7]), np.array([[0.6, 0.4], [0.5, 0.5]]), np.array(
        [[0.4, 0.6], [0.7, 0.3]]
    )  # fmt: skip
    everything = {z: joint(z) for z in paths(3)}
    p_x = sum(everything.values())
    q_paths = sum(p / p_x * np.log(joint(z, pi=other_pi, trans=other_A, emit=other_B)) for z, p in everything.items())
    gamma = np.array([[sum(p for z, p in everything.items() if z[t] == k) for k in range(2)] for t in range(3)]) / p_x
    xi = np.zeros((2, 2))
    for z, p in everything.items():
        for j, k in itertools.pairwise(z):
            xi[j, k] += p / p_x
    q_formula = (
        gamma[0] @ np.log(other_pi) + np.sum(xi * np.log(other_A)) + np.sum(gamma * np.log(other_B[:, X_COINS].T))
    )
    assert q_formula == pytest.approx(q_paths, rel=1e-13)
    assert q_paths == pytest.approx(-3.9029646324, abs=1e-10)  # the value the notebook prints


# --- logs and scaling ----------------------------------------------------------------------------------------


def test_probabilities_underflow_and_scaling_equals_logs_equals_hmmlearn():
    x_long, _ = hmm.sample(STICKY, 2000, seed=2)
    b = norm(STICKY.means[:, 0], np.sqrt(STICKY.covariances[:, 0, 0])).pdf(x_long)  # SciPy's densities, T × K
    alpha = STICKY.start * b[0]
    alpha_hat, log_c = alpha / alpha.sum(), [np.log(alpha.sum())]
    for t in range(1, len(x_long)):
        alpha = b[t] * (alpha @ STICKY.trans)
        alpha_hat = b[t] * (alpha_hat @ STICKY.trans)
        log_c.append(np.log(alpha_hat.sum()))
        alpha_hat /= alpha_hat.sum()
    assert alpha.sum() == 0.0  # underflow: the notebook prints p(x) = 0.0
    model = hmmlearn_hmm.GaussianHMM(2, covariance_type="full", init_params="", implementation="scaling")
    model.startprob_, model.transmat_ = STICKY.start, STICKY.trans
    model.means_, model.covars_ = STICKY.means, STICKY.covariances
    reference = model.score(x_long)
    assert sum(log_c) == pytest.approx(reference, rel=1e-12)
    assert hmm.log_likelihood(x_long, STICKY) == pytest.approx(reference, rel=1e-12)
    assert round(reference) == -2834  # "p(x) ≈ e^-2834"
    assert np.log(np.nextafter(0.0, 1.0)) == pytest.approx(-745, abs=1)  # "the smallest positive double ≈ e^-745"
    assert 250 * np.log10(2) == pytest.approx(75, abs=0.5)  # "2^250 ≈ 10^75"


# --- the model -----------------------------------------------------------------------------------------------


def test_the_markets_long_run_shares_and_spell_lengths():
    eigenvalues, vectors = np.linalg.eig(STICKY.trans.T)
    stationary = np.real(vectors[:, np.argmin(np.abs(eigenvalues - 1))])
    np.testing.assert_allclose(stationary / stationary.sum(), np.array([0.05, 0.02]) / 0.07, rtol=1e-12)
    # a spell in state k lasts 1 / (1 - A_kk) steps on average (a geometric number of stays)
    assert 1 / (1 - 0.98) == pytest.approx(50) and 1 / (1 - 0.95) == pytest.approx(20)


def test_a_mixture_is_an_hmm_with_identical_rows():
    x_seq, _ = hmm.sample(STICKY, 250, seed=1)
    fit = gmm.fit(x_seq, 2, seed=0, n_init=3)
    w, m, s = fit.weights, fit.means[:, 0], np.sqrt(fit.covariances[:, 0, 0])
    reference = logsumexp(np.log(w) + norm(m, s).logpdf(x_seq), axis=1).sum()  # SciPy: Σ_t log Σ_k π_k N(x_t)
    as_hmm = hmm.GaussianParams(start=w, trans=[w, w], means=fit.means, covariances=fit.covariances)
    assert hmm.log_likelihood(x_seq, as_hmm) == pytest.approx(reference, rel=1e-12)
    assert fit.log_likelihood == pytest.approx(reference, rel=1e-10)


# --- the transition update -----------------------------------------------------------------------------------


@pytest.mark.parametrize("K", [2, 3])
def test_the_lagrange_solution_is_xi_over_its_row_sums_and_a_maximum(K):
    xi = sp.Matrix(K, K, lambda j, k: sp.Symbol(f"xi_{j + 1}{k + 1}", positive=True))
    a = sp.Matrix(K, K, lambda j, k: sp.Symbol(f"A_{j + 1}{k + 1}", positive=True))
    lam = sp.symbols(f"lambda_1:{K + 1}", positive=True)
    lagrangian = sum(xi[j, k] * sp.log(a[j, k]) for j in range(K) for k in range(K))
    lagrangian += sum(lam[j] * (1 - sum(a[j, :])) for j in range(K))
    unknowns = [*a, *lam]
    (solution,) = sp.solve([sp.diff(lagrangian, v) for v in unknowns], unknowns, dict=True)
    for j in range(K):
        assert sp.simplify(solution[lam[j]] - sum(xi[j, :])) == 0
        for k in range(K):
            assert sp.simplify(solution[a[j, k]] - xi[j, k] / sum(xi[j, :])) == 0
    rng = np.random.default_rng(K)
    counts = rng.gamma(2.0, 3.0, size=(K, K))
    best = counts / counts.sum(axis=1, keepdims=True)
    numeric = sp.lambdify([*xi], a.subs(solution))
    np.testing.assert_allclose(np.array(numeric(*counts.ravel()), dtype=float), best, rtol=1e-12)
    np.testing.assert_allclose(hmm.update_transitions(counts), best, rtol=1e-12)
    score = np.sum(counts * np.log(best))
    assert all(np.sum(counts * np.log(rng.dirichlet(np.ones(K), size=K))) < score for _ in range(2000))


def test_the_notebooks_sympy_check_at_the_coins_xi():
    post, _ = hmm.e_step(np.array(X_COINS), COINS)
    np.testing.assert_allclose(
        hmm.update_transitions(post.xi_KK), [[0.936416, 0.063584], [0.295316, 0.704684]], atol=5e-7
    )


# --- the fit of the market, and decoding ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def market():
    X, states = hmm.sample(STICKY, 750, seed=0)
    fit = hmm.fit(X, 2, init=START, max_iter=500, tol=1e-8, reg_covar=0.0, record_params=True)
    return X, states, fit


def test_the_market_fit_is_baum_welch_as_hmmlearn_runs_it(market):
    X, _, fit = market
    ll = np.array(fit.history["log_likelihood"])
    assert fit.n_iter == 21 and np.all(np.diff(ll) > 0)
    model = hmmlearn_hmm.GaussianHMM(
        2, covariance_type="full", init_params="", n_iter=fit.n_iter, tol=0, covars_prior=0
    )
    model.startprob_, model.transmat_ = START.start, START.trans
    model.means_, model.covars_ = START.means, START.covariances
    model.fit(X)
    theirs = np.array(model.monitor_.history)
    np.testing.assert_allclose(ll[: len(theirs)], theirs, rtol=1e-8)
    np.testing.assert_allclose(fit.params.trans, model.transmat_, atol=1e-6)
    # what the notebook's prose and alt texts say
    assert ll[0] == pytest.approx(-1435.64, abs=0.01) and ll[-1] == pytest.approx(-1215.13, abs=0.01)
    assert 90 < ll[1] - ll[0] < 110 and 1e-6 < ll[-1] - ll[-2] < 1e-5
    assert np.argmax(fit.params.covariances[:, 0, 0]) == 1  # state 1 is turbulent, as the figures assume


def test_the_hmm_names_regimes_better_than_the_mixture(market):
    X, states, fit = market
    mix = gmm.fit(X, 2, seed=0, n_init=3)
    turbulent_mix = int(np.argmax(mix.covariances[:, 0, 0]))
    mixture_right = np.mean((mix.labels == turbulent_mix).astype(int) == states)
    hmm_right = np.mean(fit.gamma.argmax(axis=1) == states)
    assert mixture_right == pytest.approx(0.724, abs=5e-4) and hmm_right == pytest.approx(0.933, abs=5e-4)


def test_viterbi_and_posterior_decoding_on_the_coins():
    everything = {z: joint(z) for z in paths(3)}
    best = max(everything, key=everything.get)
    assert best == (0, 0, 0) and everything[best] == pytest.approx(0.050625, rel=1e-12)
    path, log_p = hmm.viterbi(np.array(X_COINS), COINS)
    assert tuple(path) == best and np.exp(log_p) == pytest.approx(0.050625, rel=1e-12)
    p_x = sum(everything.values())
    pointwise = tuple(
        int(np.argmax([sum(p for z, p in everything.items() if z[t] == k) for k in range(2)])) for t in range(3)
    )
    assert pointwise == (1, 1, 0) and everything[pointwise] == pytest.approx(0.0256, rel=1e-12)
    assert everything[pointwise] / p_x < everything[best] / p_x


def test_posterior_decoding_can_return_an_impossible_path_viterbi_cannot():
    """The notebook's claim, on a three-state chain in which states 1 and 2 never follow each other."""
    pi = np.array([1.0, 0.0, 0.0])
    trans = np.array([[0.1, 0.6, 0.3], [0.4, 0.6, 0.0], [0.7, 0.0, 0.3]])
    emit = np.array([[0.3, 0.7], [0.9, 0.1], [0.3, 0.7]])
    x = (1, 1, 0)
    everything = {z: joint(z, x, pi, trans, emit) for z in paths(3, K=3)}
    gamma = np.array([[sum(p for z, p in everything.items() if z[t] == k) for k in range(3)] for t in range(3)])
    pointwise = tuple(int(k) for k in gamma.argmax(axis=1))
    assert pointwise == (0, 2, 1) and everything[pointwise] == 0.0  # 2 → 1 is forbidden
    params = hmm.CategoricalParams(start=pi, trans=trans, emission_probs=emit)
    path, log_p = hmm.viterbi(np.array(x), params)
    assert everything[tuple(int(k) for k in path)] == pytest.approx(max(everything.values())) and np.isfinite(log_p)
