"""emkit.check: right answers in any form pass; named mistakes are caught and explained;
misbehaving answers become feedback, never a crash of the check."""

from __future__ import annotations

import numpy as np
import pytest

from emkit import check, gmm, kmeans

# --- right answers, several forms ---------------------------------------------------------


def assign_loop(X, centers):
    labels = []
    for x in X:
        best, best_d = 0, np.inf
        for k, c in enumerate(centers):
            d = float(np.sum((x - c) ** 2))
            if d < best_d:
                best, best_d = k, d
        labels.append(best)
    return labels  # a list is fine


def assign_norm(X, centers):
    return np.linalg.norm(X[:, None, :] - centers[None], axis=2).argmin(axis=1)


def update_loop(X, labels, K):
    return np.array([X[labels == k].mean(axis=0) for k in range(K)])


def update_onehot(X, labels, K):
    R = np.eye(K)[labels]
    return (R.T @ X) / R.sum(axis=0)[:, None]


def resp_stable(L):
    m = L.max(axis=1, keepdims=True)
    e = np.exp(L - m)
    return e / e.sum(axis=1, keepdims=True)


def resp_logsumexp(L):
    return np.exp(L - gmm.logsumexp(L)[:, None])


def wmeans_loop(X, R):
    return np.array([sum(R[i, k] * X[i] for i in range(len(X))) / R[:, k].sum() for k in range(R.shape[1])])


def wmeans_einsum(X, R):
    return np.einsum("nk,nd->kd", R, X) / R.sum(0)[:, None]


@pytest.mark.parametrize(
    "checker, answer",
    [
        (check.kmeans_assign, kmeans.assign),
        (check.kmeans_assign, assign_loop),
        (check.kmeans_assign, assign_norm),
        (check.kmeans_update, kmeans.update),
        (check.kmeans_update, update_loop),
        (check.kmeans_update, update_onehot),
        (check.responsibilities, resp_stable),
        (check.responsibilities, resp_logsumexp),
        (check.weighted_means, gmm.update_means),
        (check.weighted_means, wmeans_loop),
        (check.weighted_means, wmeans_einsum),
    ],
)
def test_right_answers_pass(checker, answer):
    result = checker(answer)
    assert result.passed and result.score == 1.0, str(result)
    result.raise_if_failed()
    assert "all" in result.summary() and "passed" in result.summary()


# --- named mistakes --------------------------------------------------------------------


@pytest.mark.parametrize(
    "checker, answer, named",
    [
        (check.kmeans_assign, lambda X, C: kmeans.squared_distances(X, C).argmax(1), "argmin, not argmax"),
        (check.kmeans_assign, lambda X, C: kmeans.assign(X, C) + 1, "labels count from 0"),
        (check.kmeans_update, lambda X, l, K: np.stack([X[l == k].sum(0) for k in range(K)]) / len(X), "divided"),
        (check.kmeans_update, lambda X, l, K: np.stack([X[l == k].sum(0) for k in range(K)]), "sum of the points"),
        (check.responsibilities, lambda L: np.exp(L) / np.exp(L).sum(1, keepdims=True), "log-sum-exp"),
        (check.responsibilities, lambda L: resp_stable(L.T).T, "each row must sum to 1"),
        (check.weighted_means, lambda X, R: R.T @ X / len(X), "you divided by N"),
        (check.weighted_means, lambda X, R: np.tile(X.mean(0), (R.shape[1], 1)), "plain mean of all points"),
        (check.weighted_means, lambda X, R: R.T @ X, "that is the weighted sum"),
    ],
)
def test_mistakes_are_caught_and_named(checker, answer, named):
    result = checker(answer)
    assert not result.passed
    assert result.score < 1.0
    assert named in str(result), str(result)
    with pytest.raises(AssertionError, match="parts passed"):
        result.raise_if_failed()


def test_feedback_names_a_concrete_point():
    result = check.kmeans_assign(lambda X, C: kmeans.squared_distances(X, C).argmax(1))
    assert "Point 0, x = [0. 0.]" in str(result)
    assert "so its label is 0; you gave" in str(result)


def test_partial_credit():
    # right except on data far from the origin: naive expansion loses the digits there
    def naive(X, C):
        d2 = (X**2).sum(1)[:, None] - 2 * X @ C.T + (C**2).sum(1)
        return d2.argmin(1) if abs(X).max() < 1e5 else np.zeros(len(X), int)

    result = check.kmeans_assign(naive)
    assert not result.passed and result.score == pytest.approx(2 / 3)


# --- misbehaving answers --------------------------------------------------------------


def raises(*args):
    raise KeyError("oops")


def loops(*args):
    while True:
        pass


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "answer, message",
    [
        (raises, "your function raised KeyError: 'oops'"),
        (lambda X, C: np.zeros(3), "labels should have shape"),
        (lambda X, C: np.full(len(X), np.nan), "whole numbers"),
        (lambda X, C: "abc", "array of numbers"),
        (lambda X, C: np.full(len(X), 0.5), "whole numbers"),
    ],
)
def test_misbehaving_assign_gets_feedback(answer, message):
    result = check.kmeans_assign(answer)
    assert not result.passed and message in str(result), str(result)


def test_nan_means_get_feedback():
    result = check.weighted_means(lambda X, R: np.full((R.shape[1], X.shape[1]), np.nan))
    assert not result.passed and "contains NaN" in str(result)


def test_endless_loop_is_stopped(monkeypatch):
    monkeypatch.setattr(check, "TIME_LIMIT", 0.2)
    result = check.kmeans_update(loops)
    assert not result.passed and "did not finish" in str(result)


def test_stub_is_not_answered_yet():
    for checker in (check.kmeans_assign, check.kmeans_update, check.responsibilities, check.weighted_means):
        result = checker(stub)
        assert not result.answered and not result.passed and result.score == 0.0
        assert "not answered yet" in str(result) and "not answered yet" in result._repr_html_()
    assert not check.kmeans_assign(lambda X, C: None).answered


def test_not_a_function():
    result = check.kmeans_assign(np.zeros(3))
    assert not result.passed and "expected a function" in str(result)


def test_answer_cannot_modify_the_checks_inputs():
    def vandal(X, C):
        labels = kmeans.assign(X, C)
        X[:] = 0.0
        C[:] = 0.0
        return labels

    assert check.kmeans_assign(vandal).passed
    assert check.kmeans_assign(kmeans.assign).passed


def test_html_rendering_escapes_and_marks():
    html = check.kmeans_assign(lambda X, C: kmeans.squared_distances(X, C).argmax(1))._repr_html_()
    assert "✘" in html and "#D55E00" in html and "<pre" in html
    assert "✔" in check.kmeans_assign(kmeans.assign)._repr_html_()


# --- notebook 03 checks -------------------------------------------------------------------


def conditional_right(x1, mean, cov):
    return mean[1] + cov[0, 1] / cov[0, 0] * (x1 - mean[0]), cov[1, 1] - cov[0, 1] ** 2 / cov[0, 0]


def conditional_via_precision(x1, mean, cov):  # the same answer from the precision matrix
    P = np.linalg.inv(cov)
    return mean[1] - P[1, 0] / P[1, 1] * (x1 - mean[0]), np.full(len(x1), 1 / P[1, 1])


def q_right(X, R, w, m, c):
    return gmm.q_function(X, R, w, m, c)


def q_without_constant(X, R, w, m, c):
    D = X.shape[1]
    return gmm.q_function(X, R, w, m, c) + 0.5 * D * np.log(2 * np.pi) * len(X)


def q_loop(X, R, w, m, c):
    from scipy.stats import multivariate_normal

    return sum(
        R[i, k] * (np.log(w[k]) + multivariate_normal(m[k], c[k]).logpdf(X[i]))
        for i in range(len(X))
        for k in range(len(w))
    )


@pytest.mark.parametrize("answer", [conditional_right, conditional_via_precision])
def test_missing_conditional_right_answers(answer):
    assert check.missing_conditional(answer).passed


@pytest.mark.parametrize(
    "answer, named",
    [
        (lambda x1, m, c: (m[1] + c[0, 1] / c[1, 1] * (x1 - m[0]), c[1, 1] - c[0, 1] ** 2 / c[0, 0]), "s₁₂ / s₁₁"),
        (lambda x1, m, c: (c[0, 1] / c[0, 0] * (x1 - m[0]), c[1, 1] - c[0, 1] ** 2 / c[0, 0]), "add the mean"),
        (lambda x1, m, c: (np.full(len(x1), m[1]), c[1, 1]), "ignores what x₁ tells"),
        (lambda x1, m, c: (m[1] + c[0, 1] / c[0, 0] * (x1 - m[0]), c[1, 1]), "reduces the uncertainty"),
    ],
)
def test_missing_conditional_mistakes(answer, named):
    result = check.missing_conditional(answer)
    assert not result.passed and named in str(result), str(result)


@pytest.mark.parametrize("answer", [q_right, q_without_constant, q_loop])
def test_q_value_right_answers(answer):
    result = check.q_value(answer)
    assert result.passed, str(result)


@pytest.mark.parametrize(
    "answer, named",
    [
        (lambda X, R, w, m, c: -gmm.q_function(X, R, w, m, c), "sign is flipped"),
        (lambda X, R, w, m, c: gmm.log_likelihood(X, w, m, c), "that is the log-likelihood"),
        (lambda X, R, w, m, c: gmm.q_function(X, R, w, m, c) - np.sum(R * np.log(w)), "log π_k term is missing"),
        (lambda X, R, w, m, c: [1.0, 2.0], "return one number"),
    ],
)
def test_q_value_mistakes(answer, named):
    result = check.q_value(answer)
    assert not result.passed and named in str(result), str(result)
