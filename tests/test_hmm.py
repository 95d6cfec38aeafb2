"""Hidden Markov models: emkit.hmm against hmmlearn, and against enumerating every state path.

References: hmmlearn (an independent Baum–Welch), and brute force: for small
T every one of the K^T state paths z is scored, log p(x, z) = log π_{z_1} +
Σ_t log A_{z_t z_t+1} + Σ_t log b_t(z_t), and α, β, γ, ξ, p(x) and the
Viterbi path are sums or maxima over those paths, straight from their
definitions.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from emkit import hmm

hmmlearn_hmm = pytest.importorskip("hmmlearn.hmm")

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_gaussian_params(rng, K, D, spread=2.0):
    A_KDD = rng.normal(size=(K, D, D))
    return hmm.GaussianParams(
        start=rng.dirichlet(np.ones(K)),
        trans=rng.dirichlet(np.full(K, 2.0), size=K),
        means=rng.normal(size=(K, D)) * spread,
        covariances=A_KDD @ A_KDD.transpose(0, 2, 1) + 0.5 * np.eye(D),
    )


def random_categorical_params(rng, K, M):
    return hmm.CategoricalParams(
        start=rng.dirichlet(np.ones(K)),
        trans=rng.dirichlet(np.full(K, 2.0), size=K),
        emission_probs=rng.dirichlet(np.ones(M), size=K),
    )


def hmmlearn_model(params, n_iter):
    """An hmmlearn model at the same θ⁰, with no priors and no initialisation of its own."""
    if isinstance(params, hmm.GaussianParams):
        # covars_prior=0 (default 1e-2) makes hmmlearn's covariance update the exact Baum–Welch one
        model = hmmlearn_hmm.GaussianHMM(
            params.n_states, covariance_type="full", init_params="", n_iter=n_iter, tol=0, covars_prior=0.0
        )
        model.means_ = params.means
        model.covars_ = params.covariances
    else:
        model = hmmlearn_hmm.CategoricalHMM(
            params.n_states, init_params="", n_iter=n_iter, tol=0, n_features=params.n_symbols
        )
        model.emissionprob_ = params.emission_probs
    model.startprob_ = params.start
    model.transmat_ = params.trans
    return model


def as_hmmlearn_X(X):
    X = np.asarray(X)
    return X[:, None] if X.ndim == 1 else X


# ---------------------------------------------------------------------------
# Against hmmlearn: same start, same log-likelihood at every iteration
# ---------------------------------------------------------------------------

CASES = {
    "gaussian 1-D": (lambda rng: random_gaussian_params(rng, 2, 1), None),
    "gaussian 2-D, K=3": (lambda rng: random_gaussian_params(rng, 3, 2), None),
    "gaussian 3-D, 3 sequences": (lambda rng: random_gaussian_params(rng, 2, 3), [120, 200, 80]),
    "categorical M=4, K=3": (lambda rng: random_categorical_params(rng, 3, 4), None),
    "categorical, 2 sequences": (lambda rng: random_categorical_params(rng, 2, 3), [150, 250]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_log_likelihood_per_iteration_matches_hmmlearn(case):
    make_params, lengths = CASES[case]
    rng = np.random.default_rng(list(CASES).index(case))
    truth = make_params(rng)
    X, _ = hmm.sample(truth, 400, seed=rng)
    start = make_params(rng)  # a different θ⁰ from the truth, so that EM has something to do
    n_iter = 25
    emission = truth.emission
    ours = hmm.fit(X, truth.n_states, emission=emission, lengths=lengths, init=start, max_iter=n_iter, tol=0,
                   reg_covar=0.0)  # fmt: skip
    model = hmmlearn_model(start, n_iter).fit(as_hmmlearn_X(X), lengths)

    # hmmlearn records log p(X | θᵗ) for t = 0, ..., n_iter - 1 (before each M-step); emkit also the last one.
    # With tol=0 hmmlearn stops early once a step no longer raises ℓ (converged to round-off).
    theirs = np.array(model.monitor_.history)
    assert len(ours.history["log_likelihood"]) == n_iter + 1 and 10 <= len(theirs) <= n_iter
    np.testing.assert_allclose(ours.history["log_likelihood"][: len(theirs)], theirs, rtol=1e-8, atol=0)
    assert ours.log_likelihood == pytest.approx(model.score(as_hmmlearn_X(X), lengths), rel=1e-8)
    assert ours.history["log_likelihood"][-1] > ours.history["log_likelihood"][0] + 1.0  # EM did move
    np.testing.assert_allclose(ours.params.start, model.startprob_, atol=1e-7)
    np.testing.assert_allclose(ours.params.trans, model.transmat_, atol=1e-7)
    if emission == "gaussian":
        np.testing.assert_allclose(ours.params.means, model.means_, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(ours.params.covariances, model.covars_, rtol=1e-7, atol=1e-7)
    else:
        np.testing.assert_allclose(ours.params.emission_probs, model.emissionprob_, atol=1e-7)


@pytest.mark.parametrize("case", list(CASES))
def test_posteriors_and_viterbi_match_hmmlearn(case):
    make_params, lengths = CASES[case]
    rng = np.random.default_rng(7)
    params = make_params(rng)
    X, _ = hmm.sample(params, 400, seed=rng)
    model = hmmlearn_model(params, 1)
    log_px, gamma = model.score_samples(as_hmmlearn_X(X), lengths)
    post, ll = hmm.e_step(X, params, lengths)
    assert ll == pytest.approx(log_px, rel=1e-10)
    np.testing.assert_allclose(post.gamma_TK, gamma, atol=1e-10)
    their_logprob, their_path = model.decode(as_hmmlearn_X(X), lengths, algorithm="viterbi")
    path, logprob = hmm.viterbi(X, params, lengths)
    assert logprob == pytest.approx(their_logprob, rel=1e-10)
    if params.emission == "gaussian":
        np.testing.assert_array_equal(path, their_path)
    else:  # symbols make exact ties between paths common: then both must score the same
        log_b = hmm.log_emission(X, params)
        assert score_paths(path, log_b, params, lengths) == pytest.approx(
            score_paths(their_path, log_b, params, lengths), rel=1e-12
        )
        assert score_paths(path, log_b, params, lengths) == pytest.approx(logprob, rel=1e-12)


def score_paths(z, log_b, params, lengths):
    """Σ_s log p(x^s, z^s): the joint log-probability of state paths, sequence by sequence."""
    ends = np.cumsum(lengths if lengths is not None else [len(z)])
    total = 0.0
    for end, n in zip(ends, lengths if lengths is not None else [len(z)], strict=True):
        zs, bs = z[end - n : end], log_b[end - n : end]
        total += np.log(params.start[zs[0]]) + np.log(params.trans[zs[:-1], zs[1:]]).sum() + bs[np.arange(n), zs].sum()
    return total


def test_a_long_sequence_does_not_underflow():
    """T = 20 000: p(x) ≈ e^-40000 is far below the smallest double; in logs nothing underflows."""
    rng = np.random.default_rng(3)
    params = random_gaussian_params(rng, 3, 2)
    X, _ = hmm.sample(params, 20_000, seed=rng)
    ll = hmm.log_likelihood(X, params)
    assert np.isfinite(ll) and ll < -10_000
    assert ll == pytest.approx(hmmlearn_model(params, 1).score(X), rel=1e-10)
    post, ll2 = hmm.e_step(X, params)
    assert ll2 == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(post.gamma_TK.sum(axis=1), 1.0, atol=1e-10)
    assert post.xi_KK.sum() == pytest.approx(len(X) - 1, rel=1e-8)  # log α carries ~1e-16 · |log α| per step


# ---------------------------------------------------------------------------
# Against enumeration of every state path
# ---------------------------------------------------------------------------


def log_b_reference(X, params):
    """log p(x_t | z_t = k) from SciPy's densities (Gaussian) or by indexing B (categorical)."""
    if isinstance(params, hmm.GaussianParams):
        X = np.asarray(X).reshape(len(X), -1)
        return np.column_stack(
            [
                multivariate_normal(m, c).logpdf(X).reshape(-1)
                for m, c in zip(params.means, params.covariances, strict=True)
            ]
        )
    with np.errstate(divide="ignore"):
        return np.log(params.emission_probs[:, X].T)


def path_log_prob(z, log_b, params):
    """log p(x, z) = log π_{z_1} + Σ_t log A_{z_t, z_t+1} + Σ_t log b_t(z_t)."""
    with np.errstate(divide="ignore"):
        return (
            np.log(params.start[z[0]])
            + sum(np.log(params.trans[a, b]) for a, b in itertools.pairwise(z))
            + sum(log_b[t, k] for t, k in enumerate(z))
        )


def enumerate_everything(X, params):
    """α, β, γ, ξ, log p(x) and the best path, each by summing (or maximising) over every path."""
    log_b = log_b_reference(X, params)
    T, K = log_b.shape
    paths = np.array(list(itertools.product(range(K), repeat=T)))
    log_joint = np.array([path_log_prob(z, log_b, params) for z in paths])
    log_px = logsumexp(log_joint)
    gamma = np.array([[np.exp(logsumexp(log_joint[paths[:, t] == k]) - log_px) for k in range(K)] for t in range(T)])
    xi = np.zeros((K, K))
    for t in range(T - 1):
        for j, k in itertools.product(range(K), repeat=2):
            xi[j, k] += np.exp(logsumexp(log_joint[(paths[:, t] == j) & (paths[:, t + 1] == k)]) - log_px)
    # α_t(k) = Σ over prefixes z_1..z_t ending in k of p(x_1..x_t, z_1..z_t)
    log_alpha = np.empty((T, K))
    for t in range(T):
        prefixes = np.array(list(itertools.product(range(K), repeat=t + 1)))
        scores = np.array([path_log_prob(z, log_b[: t + 1], params) for z in prefixes])
        log_alpha[t] = [logsumexp(scores[prefixes[:, -1] == k]) for k in range(K)]
    # β_t(j) = Σ over suffixes z_t+1..z_T of Π A b, given z_t = j
    log_beta = np.zeros((T, K))
    with np.errstate(divide="ignore"):
        log_A = np.log(params.trans)
    for t in range(T - 1):
        suffixes = np.array(list(itertools.product(range(K), repeat=T - t - 1)))
        for j in range(K):
            scores = [
                sum(log_A[a, b] for a, b in itertools.pairwise((j, *s)))
                + sum(log_b[t + 1 + i, k] for i, k in enumerate(s))
                for s in suffixes
            ]
            log_beta[t, j] = logsumexp(scores)
    best = int(np.argmax(log_joint))
    return dict(log_b=log_b, log_px=log_px, gamma=gamma, xi=xi, log_alpha=log_alpha, log_beta=log_beta,
                best_path=paths[best], best_log_prob=log_joint[best])  # fmt: skip


SMALL = [
    ("gaussian", 2, 1, 7),
    ("gaussian", 3, 2, 5),
    ("gaussian", 3, 1, 6),
    ("categorical", 2, 3, 7),
    ("categorical", 3, 4, 6),
]


@pytest.mark.parametrize("emission, K, dim, T", SMALL)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forward_backward_posteriors_viterbi_against_enumeration(emission, K, dim, T, seed):
    rng = np.random.default_rng(100 * seed + K * 10 + T)
    params = random_gaussian_params(rng, K, dim) if emission == "gaussian" else random_categorical_params(rng, K, dim)
    X, _ = hmm.sample(params, T, seed=rng)
    ref = enumerate_everything(X, params)

    log_b = hmm.log_emission(X, params)
    np.testing.assert_allclose(log_b, ref["log_b"], rtol=1e-12, atol=1e-12)
    log_alpha = hmm.forward(log_b, params.start, params.trans)
    log_beta = hmm.backward(log_b, params.trans)
    np.testing.assert_allclose(log_alpha, ref["log_alpha"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(log_beta, ref["log_beta"], rtol=1e-12, atol=1e-12)
    gamma, xi, log_px = hmm.posteriors(log_alpha, log_beta, log_b, params.trans)
    assert log_px == pytest.approx(ref["log_px"], rel=1e-12)
    assert hmm.log_likelihood(X, params) == pytest.approx(ref["log_px"], rel=1e-12)
    np.testing.assert_allclose(gamma, ref["gamma"], atol=1e-12)
    np.testing.assert_allclose(xi, ref["xi"], atol=1e-12)
    path, log_prob = hmm.viterbi(X, params)
    np.testing.assert_array_equal(path, ref["best_path"])
    assert log_prob == pytest.approx(ref["best_log_prob"], rel=1e-12)


def test_zero_transitions_and_emissions_are_handled_exactly():
    """A left-to-right chain (A_10 = 0) and symbols a state never emits: log 0 = -inf, no NaN anywhere."""
    params = hmm.CategoricalParams(
        start=[1.0, 0.0], trans=[[0.7, 0.3], [0.0, 1.0]], emission_probs=[[0.8, 0.2, 0.0], [0.0, 0.4, 0.6]]
    )
    X = np.array([0, 1, 1, 2, 2, 1])
    ref = enumerate_everything(X, params)
    post, ll = hmm.e_step(X, params)
    assert ll == pytest.approx(ref["log_px"], rel=1e-12)
    np.testing.assert_allclose(post.gamma_TK, ref["gamma"], atol=1e-12)
    np.testing.assert_allclose(post.xi_KK, ref["xi"], atol=1e-12)
    path, log_prob = hmm.viterbi(X, params)
    np.testing.assert_array_equal(path, ref["best_path"])
    new = hmm.m_step(X, post, "categorical", n_symbols=3)
    assert new.trans[1, 0] == 0.0 and np.isfinite(hmm.log_likelihood(X, new))


# ---------------------------------------------------------------------------
# EM: the steps, several sequences, monotone likelihood
# ---------------------------------------------------------------------------


def test_m_step_is_the_baum_welch_formula_and_fit_uses_it():
    rng = np.random.default_rng(11)
    params = random_gaussian_params(rng, 2, 2)
    X, _ = hmm.sample(params, 150, seed=rng)
    post, _ = hmm.e_step(X, params)
    new = hmm.m_step(X, post)
    g = post.gamma_TK
    N_K = g.sum(axis=0)
    means = np.array([g[:, k] @ X / N_K[k] for k in range(2)])
    covs = np.array([(g[:, k, None] * (X - means[k])).T @ (X - means[k]) / N_K[k] for k in range(2)])
    np.testing.assert_allclose(new.means, means, rtol=1e-12)
    np.testing.assert_allclose(new.covariances, covs, rtol=1e-12)
    np.testing.assert_allclose(new.trans, post.xi_KK / post.xi_KK.sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(new.start, g[0], rtol=1e-12)
    one = hmm.fit(X, 2, init=params, max_iter=1, tol=0, reg_covar=0.0)
    np.testing.assert_allclose(one.params.covariances, new.covariances, rtol=1e-12)
    # the M-step maximises Q: Q(θᵗ⁺¹ | θᵗ) ≥ Q(θ | θᵗ) for nearby θ (Q written out from γ and ξ)

    def Q(p):
        return g[0] @ np.log(p.start) + np.sum(post.xi_KK * np.log(p.trans)) + np.sum(g * hmm.log_emission(X, p))

    best = Q(new)
    for _ in range(20):
        step = rng.normal(size=2) * 0.01
        nearby = hmm.GaussianParams(
            start=new.start, trans=new.trans, means=new.means + step, covariances=new.covariances * (1 + abs(step[0]))
        )
        assert Q(nearby) <= best


def test_several_sequences_are_independent_given_theta():
    rng = np.random.default_rng(5)
    params = random_gaussian_params(rng, 3, 1)
    parts = [hmm.sample(params, T, seed=rng)[0] for T in (40, 1, 75)]  # a sequence of length 1 too
    X = np.concatenate(parts)
    lengths = [40, 1, 75]
    post, ll = hmm.e_step(X, params, lengths)
    separate = [hmm.e_step(x, params) for x in parts]
    assert ll == pytest.approx(sum(s[1] for s in separate), rel=1e-12)
    np.testing.assert_allclose(post.xi_KK, sum(s[0].xi_KK for s in separate), rtol=1e-12)
    np.testing.assert_allclose(post.first_K, sum(s[0].gamma_TK[0] for s in separate), rtol=1e-12)
    np.testing.assert_allclose(post.gamma_TK, np.concatenate([s[0].gamma_TK for s in separate]), rtol=1e-12)
    np.testing.assert_allclose(post.log_likelihood_S, [s[1] for s in separate], rtol=1e-12)
    # as one sequence the boundaries would count as transitions: a different likelihood
    assert hmm.log_likelihood(X, params) != pytest.approx(ll, rel=1e-6)
    path, _ = hmm.viterbi(X, params, lengths)
    np.testing.assert_array_equal(path, np.concatenate([hmm.viterbi(x, params)[0] for x in parts]))


def test_fit_recovers_the_generating_chain():
    truth = hmm.GaussianParams(
        start=[0.6, 0.4],
        trans=[[0.9, 0.1], [0.2, 0.8]],
        means=[[0.0, 0.0], [3.0, -1.0]],
        covariances=[[[1.0, 0.3], [0.3, 0.5]], [[0.6, -0.2], [-0.2, 1.2]]],
    )
    X, states = hmm.sample(truth, 4000, seed=1)
    result = hmm.fit(X, 2, seed=0, n_init=2)
    order = np.argsort(result.params.means[:, 0])
    # sampling error of a transition probability from ~400 switches: about ±0.015
    np.testing.assert_allclose(result.params.trans[np.ix_(order, order)], truth.trans, atol=0.03)
    np.testing.assert_allclose(result.params.means[order], truth.means, atol=0.08)
    assert result.converged
    assert np.mean(np.argsort(order)[result.states] == states) > 0.97
    assert result.n_parameters == 1 + 2 + 2 * (2 + 3)
    assert result.bic == pytest.approx(-2 * result.log_likelihood + 13 * np.log(4000))


def test_sample_follows_the_chain():
    params = random_categorical_params(np.random.default_rng(2), 3, 4)
    X, z = hmm.sample(params, 60_000, seed=4)
    counts = np.zeros((3, 3))
    np.add.at(counts, (z[:-1], z[1:]), 1)
    # each row holds ≥ 10 000 transitions: a binomial frequency is within 0.015 of its p (≥ 3 standard errors)
    np.testing.assert_allclose(counts / counts.sum(axis=1, keepdims=True), params.trans, atol=0.015)
    emitted = np.array([np.bincount(X[z == k], minlength=4) / np.sum(z == k) for k in range(3)])
    np.testing.assert_allclose(emitted, params.emission_probs, atol=0.015)
    assert X.dtype.kind == "i" and z.dtype.kind == "i"
    a, _ = hmm.sample(params, 50, seed=9)
    b, _ = hmm.sample(params, 50, seed=9)
    np.testing.assert_array_equal(a, b)


def test_one_dimensional_series_and_parameters():
    params = hmm.GaussianParams(start=[0.5, 0.5], trans=[[0.8, 0.2], [0.3, 0.7]], means=[-1.0, 1.0],
                                covariances=[0.5, 2.0])  # fmt: skip
    assert params.means.shape == (2, 1) and params.covariances.shape == (2, 1, 1)
    X, _ = hmm.sample(params, 100, seed=0)
    assert X.shape == (100, 1)
    assert hmm.log_likelihood(X[:, 0], params) == hmm.log_likelihood(X, params)
    r1 = hmm.fit(X[:, 0], 2, seed=3, max_iter=5, tol=0)
    r2 = hmm.fit(X, 2, seed=3, max_iter=5, tol=0)
    np.testing.assert_array_equal(r1.history["log_likelihood"], r2.history["log_likelihood"])


def test_categorical_fit_and_record_params():
    rng = np.random.default_rng(8)
    truth = random_categorical_params(rng, 2, 5)
    X, _ = hmm.sample(truth, 500, seed=rng)
    result = hmm.fit(X, 2, emission="categorical", n_symbols=5, seed=1, record_params=True, max_iter=40)
    history = result.history
    assert len(history["params"]) == len(history["log_likelihood"]) == result.n_iter + 1
    for theta, ll in zip(history["params"], history["log_likelihood"], strict=True):
        assert hmm.log_likelihood(X, theta) == pytest.approx(ll, rel=1e-12)
    assert result.params.emission_probs.shape == (2, 5)


@st.composite
def hmm_problems(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    K = draw(st.integers(1, 3))
    T = draw(st.integers(8, 60))
    n_seq = draw(st.integers(1, 3))
    cuts = np.sort(rng.choice(np.arange(1, T), size=min(n_seq - 1, T - 1), replace=False))
    lengths = np.diff(np.concatenate([[0], cuts, [T]]))
    if draw(st.booleans()):
        D = draw(st.integers(1, 2))
        params = random_gaussian_params(rng, K, D, spread=draw(st.sampled_from([0.3, 1.0, 3.0])))
        emission = "gaussian"
    else:
        params = random_categorical_params(rng, K, draw(st.integers(2, 5)))
        emission = "categorical"
    X, _ = hmm.sample(params, T, seed=rng)
    return rng, X, K, lengths, emission, getattr(params, "n_symbols", None)


@SETTINGS
@given(hmm_problems(), st.sampled_from(["kmeans", "random"]))
def test_log_likelihood_never_decreases(problem, init):
    rng, X, K, lengths, emission, n_symbols = problem
    try:
        result = hmm.fit(X, K, emission=emission, lengths=lengths, n_symbols=n_symbols, init=init, seed=rng,
                         max_iter=30, tol=0, reg_covar=0.0)  # fmt: skip
    except hmm.CollapseError:
        assume(False)  # a state on a single value: the likelihood is unbounded, nothing to test
    history = np.array(result.history["log_likelihood"])
    assert np.isfinite(history).all()
    drops = history[:-1] - history[1:]
    assert np.all(drops <= 1e-10 * np.maximum(1.0, np.abs(history[:-1])))


# ---------------------------------------------------------------------------
# Bad input: one clear error, naming the argument
# ---------------------------------------------------------------------------

GOOD = dict(start=[0.5, 0.5], trans=[[0.9, 0.1], [0.2, 0.8]], means=[[0.0], [1.0]], covariances=[[[1.0]], [[1.0]]])


@pytest.mark.parametrize(
    "change, error, message",
    [
        (dict(start=[0.5, 0.6]), ValueError, r"start must sum to 1"),
        (dict(start=[1.2, -0.2]), ValueError, r"start has negative entries"),
        (dict(start=[1.0]), ValueError, r"start must have shape \(2,\)"),
        (dict(trans=[[0.9, 0.1], [0.2, 0.7]]), ValueError, r"trans must sum to 1 .* row 1 sums to 0.9"),
        (dict(trans=[[1.0, 0.0, 0.0]]), ValueError, r"trans must be a square matrix"),
        (dict(means=[[0.0], [np.nan]]), ValueError, r"means contains NaN"),
        (dict(means=[[0.0, 1.0]]), ValueError, r"means must have shape \(2, n_features\)"),
        (dict(covariances=[[[1.0]], [[-1.0]]]), ValueError, r"covariances\[1\] is not positive definite"),
        (dict(covariances=[[[1.0]]]), ValueError, r"covariances must have shape \(2, 1, 1\)"),
        (dict(trans="abc"), TypeError, r"trans must be an array of numbers"),
    ],
)
def test_bad_parameters(change, error, message):
    with pytest.raises(error, match=message):
        hmm.GaussianParams(**{**GOOD, **change})


def test_bad_categorical_parameters():
    with pytest.raises(ValueError, match=r"emission_probs must sum to 1 .* row 0"):
        hmm.CategoricalParams(start=[1.0], trans=[[1.0]], emission_probs=[[0.5, 0.4]])
    with pytest.raises(ValueError, match=r"emission_probs must have shape \(1, n_symbols\)"):
        hmm.CategoricalParams(start=[1.0], trans=[[1.0]], emission_probs=[0.5, 0.5])


P = hmm.GaussianParams(**GOOD)
C = hmm.CategoricalParams(start=[0.5, 0.5], trans=[[0.5, 0.5], [0.5, 0.5]], emission_probs=[[0.5, 0.5], [0.1, 0.9]])
X_OK = np.random.default_rng(0).normal(size=(20, 1))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: hmm.log_likelihood(np.array([[1.0], [np.nan]]), P), ValueError, r"X contains NaN .* time 1"),
        (lambda: hmm.log_likelihood(np.zeros((5, 2)), P), ValueError, r"X has 2 feature\(s\) but the means have 1"),
        (lambda: hmm.log_likelihood(np.zeros((0, 1)), P), ValueError, r"X must be a non-empty array"),
        (lambda: hmm.log_likelihood([["a"]], P), TypeError, r"X must be an array of numbers"),
        (lambda: hmm.log_likelihood(X_OK, P, lengths=[10, 5]), ValueError, r"lengths must add up to .* \(20\)"),
        (lambda: hmm.log_likelihood(X_OK, P, lengths=[20, 0]), ValueError, r"at least one time step"),
        (lambda: hmm.log_likelihood(X_OK, P, lengths=[10.0, 10.0]), TypeError, r"lengths must be .* whole numbers"),
        (lambda: hmm.log_likelihood(X_OK, (0.5, 0.5)), TypeError, r"params must be hmm.GaussianParams"),
        (lambda: hmm.log_likelihood([0, 1, 2], C), ValueError, r"X\[2\] = 2 is not a symbol .* 2 columns"),
        (lambda: hmm.log_likelihood([0, 1.5], C), ValueError, r"X must hold whole numbers"),
        (lambda: hmm.viterbi([0, -1], C), ValueError, r"X\[1\] = -1 is not a symbol"),
        (lambda: hmm.fit(X_OK, 0), ValueError, r"n_states must be at least 1"),
        (lambda: hmm.fit(X_OK, 21), ValueError, r"n_states=21 is larger than the number of time steps \(20\)"),
        (
            lambda: hmm.fit(X_OK, 2, emission="poisson"),
            ValueError,
            r"emission must be one of 'gaussian', 'categorical'",
        ),
        (lambda: hmm.fit(X_OK, 2, init="best"), ValueError, r"init must be 'kmeans', 'random' or"),
        (lambda: hmm.fit(X_OK, 2, init=C), TypeError, r"init must be .* for emission='gaussian'"),
        (lambda: hmm.fit(X_OK, 3, init=P), ValueError, r"init has 2 states but n_states is 3"),
        (lambda: hmm.fit(X_OK, 2, init=P, n_init=2), ValueError, r"n_init > 1 needs a random init"),
        (lambda: hmm.fit(X_OK, 2, tol=-1.0), ValueError, r"tol must be a finite number >= 0"),
        (lambda: hmm.fit([0, 1, 3], 2, emission="categorical", n_symbols=3), ValueError, r"X\[2\] = 3"),
        (lambda: hmm.sample(P, 0), ValueError, r"T must be at least 1"),
        (lambda: hmm.forward(np.full((3, 2), np.nan), P.start, P.trans), ValueError, r"log_emission_TK contains NaN"),
        (lambda: hmm.forward(np.zeros((3, 3)), P.start, P.trans), ValueError, r"3 columns .* start_K has 2"),
        (
            lambda: hmm.forward(np.array([[0.0, -np.inf], [-np.inf, -np.inf]]), P.start, P.trans),
            ValueError,
            r"x_1 \(row 1\) has probability 0 under every state",
        ),
        (lambda: hmm.backward(np.zeros((3, 2)), [[0.5, 0.6], [0.5, 0.5]]), ValueError, r"trans must sum to 1"),
        (
            lambda: hmm.posteriors(np.zeros((3, 2)), np.zeros((2, 2)), np.zeros((3, 2)), P.trans),
            ValueError,
            r"log_beta_TK must have the shape of log_emission_TK",
        ),
        (lambda: hmm.update_means(X_OK, np.full((20, 2), 0.6)), ValueError, r"rows of gamma_TK must sum to 1"),
        (lambda: hmm.update_means(X_OK, np.full((19, 2), 0.5)), ValueError, r"gamma_TK must have shape .* T = 20"),
        (lambda: hmm.update_transitions([[1.0, -1.0], [0.0, 1.0]]), ValueError, r"xi_KK must be non-negative"),
        (lambda: hmm.update_emission_probs([0, 5], np.full((2, 2), 0.5), 3), ValueError, r"X\[1\] = 5"),
        (lambda: hmm.m_step(X_OK, "gamma"), TypeError, r"posteriors must be the HMMPosteriors"),
        (lambda: hmm.m_step(X_OK, hmm.e_step(X_OK, P)[0], "gauss"), ValueError, r"emission must be one of"),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_state_that_collapses_is_named():
    X = np.concatenate([np.zeros(10), np.random.default_rng(0).normal(size=30)])  # ten equal values
    start = hmm.GaussianParams(start=[0.5, 0.5], trans=[[0.9, 0.1], [0.1, 0.9]], means=[0.0, 0.5],
                               covariances=[1e-4, 1.0])  # fmt: skip
    with pytest.raises(hmm.CollapseError, match=r"state 0 collapsed: its covariance is singular"):
        hmm.fit(X, 2, init=start, reg_covar=0.0, max_iter=200, tol=0)


def test_all_lists_exactly_the_public_functions_and_classes():
    import inspect

    public = {
        n
        for n, obj in vars(hmm).items()
        if not n.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == hmm.__name__
    }
    assert public == set(hmm.__all__) - {"EMISSIONS"}
