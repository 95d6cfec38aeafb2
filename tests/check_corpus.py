"""A corpus of answers to the course's exercises, written the way learners write them.

Each entry is ``(exercise id, answer, expected)`` where ``expected`` is
``"pass"`` (a right answer, often in an unusual form, dtype or shape) or the
name of the slip the check must report (``CheckResult.slips``). The wrong
answers are written independently of the checks' own tables (loops, scipy,
np.cov, typed text...), so that matching them is a real test.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from scipy import special, stats
from scipy.spatial.distance import cdist

from emkit.symbolic import V, normal_log_density, total

# =====================================================================================
# 01 · assignment
# =====================================================================================


def assign_loop(X, centers):
    out = []
    for x in X:
        best, best_d = 0, np.inf
        for k, c in enumerate(centers):
            d = sum((a - b) ** 2 for a, b in zip(x, c, strict=True))
            if d < best_d:
                best, best_d = k, d
        out.append(best)
    return out


ASSIGN = [
    (assign_loop, "pass"),
    (lambda X, C: cdist(X, C, "sqeuclidean").argmin(axis=1), "pass"),
    (lambda X, C: np.linalg.norm(X[:, None] - C[None], axis=2).argmin(axis=1), "pass"),
    (lambda X, C: ((X[:, None] - C) ** 2).sum(-1).argmin(-1).astype(float), "pass"),
    (lambda X, C: ((X[:, None] - C) ** 2).sum(-1).argmin(-1)[:, None], "pass"),
    (lambda X, C: cdist(X, C).argmax(axis=1), "argmax instead of argmin"),
    (lambda X, C: cdist(X, C).argmin(axis=1) + 1, "labels counted from 1"),
    (lambda X, C: cdist(X, C, "cityblock").argmin(axis=1), "Manhattan (L1) distance"),
    (lambda X, C: (X[:, None] - C).sum(axis=2).argmin(axis=1), "differences not squared"),
    (lambda X, C: np.abs(X[:, None, 0] - C[None, :, 0]).argmin(axis=1), "only the first feature"),
    (lambda X, C: cdist(X, C).argmin(axis=0), "wrong shape"),
    (lambda X, C: cdist(X, C), "wrong shape"),
    (lambda X, C: C[cdist(X, C).argmin(axis=1)], "wrong shape"),
    (lambda X, C: cdist(X, C).argmin(), "wrong shape"),
    (
        lambda X, C: ((X**2).sum(1)[:, None] + (C**2).sum(1) - 2 * X @ C.T * 0).argmin(1),
        "the cross term −2 x·c is missing",
    ),
    (lambda X, C: ((X**2).sum(1)[:, None] + (C**2).sum(1) + 2 * X @ C.T).argmin(1), "sign of the cross term"),
    (lambda X, C: ((X**2).sum(1)[:, None] - (C**2).sum(1)).argmin(1), "squared norms subtracted"),
    (lambda X, C: ((X - C) ** 2).sum(1).argmin(), "missing axes for pairwise differences"),
]

# =====================================================================================
# 01 · update
# =====================================================================================


def update_onehot(X, labels, K):
    R = np.eye(K)[labels]
    return (R.T @ X) / R.sum(0)[:, None]


def update_add_at(X, labels, K):
    sums = np.zeros((K, X.shape[1]))
    np.add.at(sums, labels, X)
    return sums / np.bincount(labels, minlength=K)[:, None]


UPDATE = [
    (update_onehot, "pass"),
    (update_add_at, "pass"),
    (lambda X, l, K: [list(X[l == k].mean(0)) for k in range(K)], "pass"),
    (lambda X, l, K: np.stack([X[l == k].sum(0) / len(X) for k in range(K)]), "divided by N"),
    (lambda X, l, K: np.stack([X[l == k].sum(0) for k in range(K)]), "the sum, not the mean"),
    (lambda X, l, K: np.stack([X[l == k].sum(0) / (np.sum(l == k) - 1) for k in range(K)]), "n_k − 1 instead of n_k"),
    (lambda X, l, K: np.stack([np.median(X[l == k], axis=0) for k in range(K)]), "median instead of mean"),
    (lambda X, l, K: np.array([X.mean(0)] * K), "ignored the labels"),
    (lambda X, l, K: np.stack([X[l == k][0] for k in range(K)]), "the first point, not the mean"),
    (lambda X, l, K: np.array([X[l == k].mean() for k in range(K)]), "wrong shape"),
    (lambda X, l, K: np.stack([X[l == k].mean(axis=1) for k in range(K)]), "arrays of different lengths stacked"),
    (lambda X, l, K: update_onehot(X, l, K).T, "wrong shape"),
]

# =====================================================================================
# 02 · responsibilities
# =====================================================================================


def resp_rows(L):
    out = np.empty_like(L)
    for n, row in enumerate(L):
        e = np.exp(row - row.max())
        out[n] = e / e.sum()
    return out


RESP = [
    (resp_rows, "pass"),
    (lambda L: special.softmax(L, axis=1), "pass"),
    (lambda L: np.exp(L - special.logsumexp(L, axis=1, keepdims=True)), "pass"),
    (lambda L: special.softmax(L.astype(np.float32), axis=1), "pass"),
    (lambda L: np.exp(L) / np.exp(L).sum(axis=1, keepdims=True), "no log-sum-exp (0/0 = NaN)"),
    (lambda L: L - special.logsumexp(L, axis=1, keepdims=True), "returned log-responsibilities"),
    (lambda L: special.softmax(L, axis=0), "normalised over the points (axis 0)"),
    (lambda L: np.exp(L - L.max(axis=1, keepdims=True)), "not normalised"),
    (lambda L: L / L.sum(axis=1, keepdims=True), "log values divided by their sum"),
    (lambda L: special.softmax(-L, axis=1), "sign flipped (softmax of −log p)"),
    (lambda L: (L == L.max(axis=1, keepdims=True)).astype(float), "hard assignments"),
    (
        lambda L: np.exp(L - L.max(1, keepdims=True)) / np.exp(L - L.max(1, keepdims=True)).sum(axis=1),
        "missing [:, None] broadcasting",
    ),
    (lambda L: np.exp(L - L.max()) / np.exp(L - L.max()).sum(axis=1, keepdims=True), "subtracted the overall maximum"),
    (
        lambda L: np.exp(L - L.min(1, keepdims=True)) / np.exp(L - L.min(1, keepdims=True)).sum(1, keepdims=True),
        "subtracted the row minimum",
    ),
    (lambda L: np.exp(L) / np.exp(L).sum(), "normalised over the whole array"),
    (lambda L: L, "returned the input"),
]

# =====================================================================================
# 02 · weighted means
# =====================================================================================

WMEANS = [
    (lambda X, R: np.einsum("nk,nd->kd", R, X) / R.sum(0)[:, None], "pass"),
    (lambda X, R: np.stack([np.average(X, axis=0, weights=R[:, k]) for k in range(R.shape[1])]), "pass"),
    (lambda X, R: (R.T @ X.astype(np.float32)) / R.sum(0)[:, None].astype(np.float32), "pass"),
    (lambda X, R: np.stack([(R[:, k, None] * X).mean(axis=0) for k in range(R.shape[1])]), "divided by N"),
    (lambda X, R: np.stack([X.mean(axis=0) for _ in range(R.shape[1])]), "unweighted mean"),
    (
        lambda X, R: np.stack([(R[:, k, None] * X).sum(axis=0) for k in range(R.shape[1])]),
        "the weighted sum, not the mean",
    ),
    (lambda X, R: np.stack([X[R.argmax(1) == k].mean(0) for k in range(R.shape[1])]), "hard assignments"),
    (
        lambda X, R: np.stack([np.average(X, axis=0, weights=R[:, k] ** 2) for k in range(R.shape[1])]),
        "squared responsibilities",
    ),
    (lambda X, R: (R.T @ X) / (R.sum(0)[:, None] - 1), "divided by N_k − 1"),
    (lambda X, R: X.T @ R / R.sum(0), "wrong shape"),
]

# =====================================================================================
# 03 · missing-data E-step
# =====================================================================================


def cond_precision(x1, mean, cov):
    P = np.linalg.inv(cov)
    return mean[1] - P[1, 0] / P[1, 1] * (x1 - mean[0]), 1 / P[1, 1]


def cond_right(x1, m, S):
    return m[1] + S[0, 1] / S[0, 0] * (x1 - m[0]), S[1, 1] - S[0, 1] ** 2 / S[0, 0]


def with_var(fn_var):
    return lambda x1, m, S: (cond_right(x1, m, S)[0], fn_var(m, S))


def with_mean(fn_mean):
    return lambda x1, m, S: (fn_mean(x1, m, S), cond_right(x1, m, S)[1])


MISSING = [
    (cond_precision, "pass"),
    (lambda x1, m, S: (cond_right(x1, m, S)[0], np.full(len(x1), cond_right(x1, m, S)[1])), "pass"),
    (lambda x1, m, S: tuple(np.float32(v) for v in cond_right(x1, m, S)[:1]) + (cond_right(x1, m, S)[1],), "pass"),
    (lambda x1, m, S: [list(cond_right(x1, m, S)[0]), float(cond_right(x1, m, S)[1])], "pass"),
    (with_mean(lambda x1, m, S: m[1] + S[0, 1] / S[1, 1] * (x1 - m[0])), "slope s₁₂/s₂₂ instead of s₁₂/s₁₁"),
    (with_mean(lambda x1, m, S: S[0, 1] / S[0, 0] * (x1 - m[0])), "μ₂ left out"),
    (with_mean(lambda x1, m, S: m[1] * np.ones_like(x1)), "filled in the mean μ₂"),
    (with_mean(lambda x1, m, S: m[1] + S[0, 1] / S[0, 0] * (x1 - m[1])), "x₁ centred on μ₂"),
    (with_mean(lambda x1, m, S: m[1] - S[0, 1] / S[0, 0] * (x1 - m[0])), "sign error in the conditional mean"),
    (with_mean(lambda x1, m, S: m[1] + S[0, 1] * (x1 - m[0])), "s₁₂ not divided by s₁₁"),
    (
        with_mean(lambda x1, m, S: m[1] + np.sqrt(S[0, 1] ** 2) / S[0, 0] * (x1 - m[0])),
        "the slope's sign lost (|s₁₂| or |ρ|)",
    ),
    (with_var(lambda m, S: S[1, 1]), "no reduction of the variance"),
    (with_var(lambda m, S: S[1, 1] - S[0, 1] / S[0, 0]), "s₁₂ not squared"),
    (with_var(lambda m, S: S[1, 1] - S[0, 1] ** 2 / S[1, 1]), "divided by s₂₂ instead of s₁₁"),
    (with_var(lambda m, S: S[0, 0] - S[0, 1] ** 2 / S[1, 1]), "roles of x₁ and x₂ swapped"),
    (with_var(lambda m, S: np.sqrt(S[1, 1] - S[0, 1] ** 2 / S[0, 0])), "standard deviation for variance"),
    (with_var(lambda m, S: S[0, 1] ** 2 / S[0, 0]), "the explained part, not the remaining variance"),
    (with_var(lambda m, S: S[1, 1] + S[0, 1] ** 2 / S[0, 0]), "sign error in the conditional variance"),
    (with_var(lambda m, S: np.linalg.inv(S)[1, 1]), "precision instead of variance"),
    (with_var(lambda m, S: np.linalg.det(S)), "det Σ not divided by s₁₁"),
]

# =====================================================================================
# 03 · Q as a number
# =====================================================================================


def q_scipy(X, R, w, m, S):
    return sum(
        np.sum(R[:, k] * (np.log(w[k]) + stats.multivariate_normal(m[k], S[k]).logpdf(X).reshape(-1)))
        for k in range(len(w))
    )


def logn_by_hand(X, m, S, *, half_quad=0.5, half_det=0.5, use_inverse=True, sign=-1.0):
    out = []
    for mk, Sk in zip(m, S, strict=True):
        d = X - mk
        A = np.linalg.inv(Sk) if use_inverse else Sk
        quad = np.einsum("nd,de,ne->n", d, A, d)
        out.append(sign * half_quad * quad - half_det * np.log(np.linalg.det(Sk)))
    return np.stack(out, axis=1)


def q_variant(**kw):
    return lambda X, R, w, m, S: np.sum(R * (np.log(w) + logn_by_hand(X, m, S, **kw)))


def entropy_added(X, R, w, m, S):
    return q_scipy(X, R, w, m, S) - np.sum(R * np.log(R))  # the ELBO: differs from Q by a constant in θ


QVALUE = [
    (q_scipy, "pass"),
    (q_variant(), "pass"),  # log 2π dropped
    (entropy_added, "pass"),
    (lambda X, R, w, m, S: np.float32(q_scipy(X, R, w, m, S)), "pass"),
    (lambda X, R, w, m, S: -q_scipy(X, R, w, m, S), "sign flipped"),
    (
        lambda X, R, w, m, S: np.sum(
            special.logsumexp(np.log(w) + logn_by_hand(X, m, S) - X.shape[1] / 2 * np.log(2 * np.pi), axis=1)
        ),
        "the log-likelihood instead of Q",
    ),
    (lambda X, R, w, m, S: np.sum(R * logn_by_hand(X, m, S)), "log π_k missing"),
    (lambda X, R, w, m, S: np.sum(R * (w + logn_by_hand(X, m, S))), "π_k without its log"),
    (
        lambda X, R, w, m, S: len(X) * np.log(w).sum() + np.sum(R * logn_by_hand(X, m, S)),
        "log π_k not weighted by r_ik",
    ),
    (lambda X, R, w, m, S: np.mean(R * (np.log(w) + logn_by_hand(X, m, S))), "np.mean instead of a sum"),
    (q_variant(half_quad=1.0), "a missing ½ on the quadratic term"),
    (q_variant(use_inverse=False), "Σ in place of Σ⁻¹"),
    (q_variant(sign=1.0), "sign error on the quadratic term"),
    (q_variant(half_det=1.0), "a missing ½ on log det Σ"),
    (q_variant(half_det=0.0), "log det Σ missing"),
    (lambda X, R, w, m, S: np.sum(np.log(w) + logn_by_hand(X, m, S)), "responsibilities missing"),
]

# =====================================================================================
# 04 · E-step
# =====================================================================================


def estep_scipy(X, w, m, S):
    L = np.column_stack(
        [np.log(w[k]) + stats.multivariate_normal(m[k], S[k]).logpdf(X).reshape(-1) for k in range(len(w))]
    )
    ll = special.logsumexp(L, axis=1)
    return np.exp(L - ll[:, None]), ll.sum()


def estep_by_hand(X, w, m, S, **kw):
    D = X.shape[1]
    L = np.log(w) + logn_by_hand(X, m, S, **kw) - D / 2 * np.log(2 * np.pi)
    ll = special.logsumexp(L, axis=1)
    return np.exp(L - ll[:, None]), float(ll.sum())


def estep_resp(f):
    return lambda X, w, m, S: (f(X, w, m, S), estep_scipy(X, w, m, S)[1])


def estep_ll(f):
    return lambda X, w, m, S: (estep_scipy(X, w, m, S)[0], f(X, w, m, S))


def log_joint(X, w, m, S):
    return np.log(w) + logn_by_hand(X, m, S) - X.shape[1] / 2 * np.log(2 * np.pi)


ESTEP = [
    (estep_scipy, "pass"),
    (lambda X, w, m, S: [np.float32(v) for v in estep_scipy(X, w, m, S)], "pass"),
    (lambda X, w, m, S: (estep_scipy(X, w, m, S)[0], np.array(estep_scipy(X, w, m, S)[1])), "pass"),
    (estep_resp(lambda X, w, m, S: special.softmax(log_joint(X, w, m, S) - np.log(w), axis=1)), "weights π_k missing"),
    (estep_resp(lambda X, w, m, S: np.exp(log_joint(X, w, m, S))), "not normalised"),
    (estep_resp(lambda X, w, m, S: np.log(estep_scipy(X, w, m, S)[0])), "returned log-responsibilities"),
    (
        estep_resp(lambda X, w, m, S: special.softmax(log_joint(X, w, m, S), axis=0)),
        "normalised over the points (axis 0)",
    ),
    (estep_resp(lambda X, w, m, S: np.eye(len(w))[log_joint(X, w, m, S).argmax(1)]), "hard assignments"),
    (
        lambda X, w, m, S: (
            np.exp(log_joint(X, w, m, S)) / np.exp(log_joint(X, w, m, S)).sum(1, keepdims=True),
            np.log(np.exp(log_joint(X, w, m, S)).sum(1)).sum(),
        ),
        "no log-sum-exp (0/0 = NaN)",
    ),
    (lambda X, w, m, S: estep_scipy(X, w, m, np.linalg.inv(S)), "Σ⁻¹ used as Σ"),
    (lambda X, w, m, S: estep_by_hand(X, w, m, S, half_quad=1.0), "a missing ½ on the quadratic term"),
    (lambda X, w, m, S: estep_by_hand(X, w, m, S, sign=1.0), "sign error on the quadratic term"),
    (lambda X, w, m, S: estep_by_hand(X, w, m, S, half_det=1.0), "a missing ½ on log det Σ"),
    (estep_ll(lambda X, w, m, S: special.logsumexp(log_joint(X, w, m, S), axis=1).mean()), "average instead of sum"),
    (estep_ll(lambda X, w, m, S: log_joint(X, w, m, S).sum()), "summed the log joint over components"),
    (estep_ll(lambda X, w, m, S: log_joint(X, w, m, S).max(1).sum()), "only the largest term"),
    (
        estep_ll(lambda X, w, m, S: np.sum(estep_scipy(X, w, m, S)[0] * log_joint(X, w, m, S))),
        "Q(θᵗ | θᵗ), not the log-likelihood",
    ),
    (
        estep_ll(lambda X, w, m, S: special.logsumexp(log_joint(X, w, m, S) - np.log(w), axis=1).sum()),
        "weights missing in the log-likelihood",
    ),
    (estep_ll(lambda X, w, m, S: -estep_scipy(X, w, m, S)[1]), "sign flipped"),
    (lambda X, w, m, S: (estep_scipy(X, w, m, S)[0].T, estep_scipy(X, w, m, S)[1]), "wrong shape"),
]

# =====================================================================================
# 04 · M-step
# =====================================================================================


def mstep_cov(X, R):
    Nk = R.sum(0)
    means = R.T @ X / Nk[:, None]
    covs = np.stack(
        [np.cov(X.T, aweights=R[:, k], bias=True).reshape(X.shape[1], X.shape[1]) for k in range(R.shape[1])]
    )
    return Nk / len(X), means, covs


def mstep_loops(X, R):
    N, D = X.shape
    K = R.shape[1]
    w, m, c = np.zeros(K), np.zeros((K, D)), np.zeros((K, D, D))
    for k in range(K):
        nk = 0.0
        for i in range(N):
            nk += R[i, k]
            m[k] += R[i, k] * X[i]
        m[k] /= nk
        for i in range(N):
            d = (X[i] - m[k])[:, None]
            c[k] += R[i, k] * (d @ d.T)
        c[k] /= nk
        w[k] = nk / N
    return w, m, c


def m_with(weights=None, means=None, covs=None):
    def answer(X, R):
        w, m, c = mstep_loops(X, R)
        return (
            w if weights is None else weights(X, R),
            m if means is None else means(X, R),
            c if covs is None else covs(X, R, m),
        )

    return answer


def scatter(X, R, centres, divisor):
    return np.stack([(R[:, k, None] * (X - centres[k])).T @ (X - centres[k]) / divisor[k] for k in range(R.shape[1])])


MSTEP = [
    (mstep_cov, "pass"),
    (mstep_loops, "pass"),
    (lambda X, R: tuple(a.astype(np.float32) for a in mstep_cov(X, R)), "pass"),
    (lambda X, R: list(mstep_cov(X, R)), "pass"),
    (m_with(covs=lambda X, R, m: scatter(X, R, m, R.sum(0) - 1)), "N_k − 1 instead of N_k"),
    (
        m_with(
            covs=lambda X, R, m: np.stack(
                [np.cov(X.T, aweights=R[:, k]).reshape(X.shape[1], -1) for k in range(R.shape[1])]
            )
        ),
        "np.cov without bias=True",
    ),
    (m_with(covs=lambda X, R, m: scatter(X, R, m, np.full(R.shape[1], len(X)))), "divided by N"),
    (
        m_with(covs=lambda X, R, m: np.stack([(X - m[k]).T @ (X - m[k]) / len(X) for k in range(R.shape[1])])),
        "covariance without the responsibilities",
    ),
    (m_with(covs=lambda X, R, m: scatter(X, R, 0 * m, R.sum(0))), "not centred"),
    (
        m_with(covs=lambda X, R, m: scatter(X, R, np.tile(X.mean(0), (R.shape[1], 1)), R.sum(0))),
        "centred on the overall mean",
    ),
    (m_with(covs=lambda X, R, m: np.linalg.inv(scatter(X, R, m, R.sum(0)))), "precision (Σ⁻¹) instead of Σ"),
    (m_with(covs=lambda X, R, m: np.sqrt(np.abs(scatter(X, R, m, R.sum(0))))), "standard deviation for variance"),
    (m_with(covs=lambda X, R, m: scatter(X, R**2, m, R.sum(0))), "squared responsibilities"),
    (m_with(weights=lambda X, R: R.sum(0)), "weights not normalised"),
    (m_with(weights=lambda X, R: np.ones(R.shape[1]) / R.shape[1]), "equal weights"),
    (m_with(means=lambda X, R: R.T @ X / len(X)), "divided by N"),
    (m_with(means=lambda X, R: np.tile(X.mean(0), (R.shape[1], 1))), "unweighted mean"),
    (m_with(covs=lambda X, R, m: np.stack([np.diag(c) for c in scatter(X, R, m, R.sum(0))])), "wrong shape"),
    (m_with(covs=lambda X, R, m: np.moveaxis(scatter(X, R, m, R.sum(0)), 0, -1)), "wrong shape"),
    (
        m_with(covs=lambda X, R, m: np.stack([(R[:, k, None] * (X - m[k])) @ (X - m[k]).T for k in range(R.shape[1])])),
        "wrong shape",
    ),
]

# =====================================================================================
# 04 · symbolic answers
# =====================================================================================

i, x, T1, T2, N, Z1 = V.i, V.x, V.T1, V.T2, V.N, V.Z1
tau, mu1, mu2, S1, S2 = V.tau, V.mu1, V.mu2, V.Sigma1, V.Sigma2
xi = x[i]

Q_RIGHT = total(
    T1[i] * (sp.log(tau) + normal_log_density(xi, mu1, S1))
    + T2[i] * (sp.log(1 - tau) + normal_log_density(xi, mu2, S2))
)
Q_TEXT = (
    "Sum(T1[i]*(log(tau) - log(2*pi*Sigma1)/2 - (x[i]-mu1)**2/(2*Sigma1))"
    " + T2[i]*(log(1-tau) - log(2*pi*Sigma2)/2 - (x[i]-mu2)**2/(2*Sigma2)), (i, 1, N))"
)


HALF = sp.Rational(1, 2)
LOG_TAU, LOG_1_TAU = sp.log(tau), sp.log(1 - tau)


def q_with(log1=LOG_TAU, log2=LOG_1_TAU, w1=T1[i], w2=T2[i], half=HALF, quad_half=HALF, inverse=True, sign=-1):
    def logn(mu, var):
        quad = (xi - mu) ** 2 / var if inverse else (xi - mu) ** 2 * var
        return -half * sp.log(2 * sp.pi * var) + sign * quad_half * quad

    return total(w1 * (log1 + logn(mu1, S1)) + w2 * (log2 + logn(mu2, S2)))


def _complete():
    from emkit.symbolic import complete_log_likelihood

    return complete_log_likelihood()


QFUN = [
    (Q_RIGHT, "pass"),
    (Q_TEXT, "pass"),
    (
        Q_TEXT.replace(" - log(2*pi*Sigma1)/2", " - log(Sigma1)/2").replace(
            " - log(2*pi*Sigma2)/2", " - log(Sigma2)/2"
        ),
        "pass",
    ),
    (Q_RIGHT.xreplace({T2[i]: 1 - T1[i]}), "pass"),
    (total(_complete().function.xreplace({Z1[i]: T1[i]})), "pass"),
    (-Q_RIGHT, "sign flipped"),
    (
        total(
            sp.log(tau * sp.exp(normal_log_density(xi, mu1, S1)) + (1 - tau) * sp.exp(normal_log_density(xi, mu2, S2)))
        ),
        "the log-likelihood instead of Q",
    ),
    (q_with(log1=0, log2=0), "log τ terms missing"),
    (q_with(log1=tau, log2=1 - tau), "τ without its log"),
    (total(sp.log(tau) + sp.log(1 - tau)) + q_with(log1=0, log2=0), "log τ not weighted by T"),
    (Q_RIGHT / N, "a mean instead of a sum"),
    (q_with(half=1), "a missing ½ on log(2πΣ)"),
    (q_with(quad_half=1), "a missing ½ on the quadratic term"),
    (q_with(inverse=False), "Σ in place of Σ⁻¹"),
    (q_with(sign=1), "sign error on the quadratic term"),
    (q_with(w1=T2[i], w2=T1[i]), "responsibilities swapped"),
    (q_with(w2=T1[i]), "T1 used for both components"),
    # the complete-data log-likelihood handed in unchanged, or after a .subs on the whole Sum (which changes
    # nothing): the same expression, so the feedback must not claim which of the two happened
    (_complete().subs(Z1[i], T1[i]), "the complete-data log-likelihood, not its expectation"),
    (_complete(), "the complete-data log-likelihood, not its expectation"),
    (
        total(
            T1[i] * (sp.log(tau) + normal_log_density(xi, mu1, S1))
            + (1 - Z1[i]) * (sp.log(1 - tau) + normal_log_density(xi, mu2, S2))
        ),
        "Z1 left in the answer",
    ),
    ("sum(T1[i]*log(tau) + T2[i]*log(1-tau))", "Python's sum() in an answer string"),
]

TAU = [
    (total(T1[i]) / N, "pass"),
    (1 - total(T2[i]) / N, "pass"),
    (total(T1[i]) / total(T1[i] + T2[i]), "pass"),
    ("total(T1[i]) / N", "pass"),
    ("Sum(T1[i]/N, (i, 1, N))", "pass"),
    (total(T2[i]) / N, "1 − τ instead of τ"),
    (total(T1[i]), "not divided by N"),
    (total(T1[i]) / total(T2[i]), "odds instead of a probability"),
    (total(T1[i] * xi) / total(T1[i]), "μ₁'s update"),
    (total(T1[i]) / (N - 1), "divided by N − 1"),
    (N / total(T1[i]), "upside down"),
    ("Sum(T1[i]**2, (i, 1, N))/N", "squared responsibilities"),
    ("sum(T1[i])/N", "Python's sum() in an answer string"),
    ("sp.Sum(T1[i], (i, 1, N))/N", "sp.Sum in an answer string"),
    (total(T1[i]) / tau - total(T2[i]) / (1 - tau), "the answer contains the unknown"),
    ([total(T1[i]) / N], "a list of solutions instead of one"),
    (sp.Eq(tau, total(T1[i]) / N), "an equation instead of an expression"),
]

MU = [
    (total(T1[i] * xi) / total(T1[i]), "pass"),
    (V.mu1_t + total(T1[i] * (xi - V.mu1_t)) / total(T1[i]), "pass"),
    ("Sum(T1[i]*x[i], (i,1,N))/Sum(T1[i], (i,1,N))", "pass"),
    (total(T1[i] * xi / total(T1[i])), "pass"),
    (total(T1[i] * xi) / N, "divided by N"),
    (total(xi) / N, "unweighted mean"),
    (total(T1[i] * xi), "the weighted sum, not the mean"),
    (total(T2[i] * xi) / total(T2[i]), "the other component's T2"),
    (total(T1[i] * xi) / (total(T1[i]) - 1), "N₁ − 1 instead of N₁"),
    (total(T1[i] ** 2 * xi) / total(T1[i] ** 2), "squared responsibilities"),
    (total(T1[i] * (xi - V.mu1_t)) / total(T1[i]), "the mean shift without the old mean"),
    (total(T1[i] * xi) / total(T2[i]), "divided by the other component's count"),
    (total(T1[i] * (xi - mu1)) / S1, "the answer contains the unknown"),
]

SIGMA_RIGHT = total(T1[i] * (xi - mu1) ** 2) / total(T1[i])
NEW_MEAN = total(T1[i] * xi) / total(T1[i])

SIGMA = [
    (SIGMA_RIGHT, "pass"),
    (total(T1[i] * xi**2) / total(T1[i]) - mu1**2, "pass"),
    (sp.expand(total(T1[i] * (xi**2 - 2 * xi * mu1 + mu1**2))) / total(T1[i]), "pass"),
    (total(T1[i] * (xi - NEW_MEAN) ** 2) / total(T1[i]), "pass"),
    ("Sum(T1[i]*(x[i]-mu1)**2,(i,1,N))/Sum(T1[i],(i,1,N))", "pass"),
    (total((xi - mu1) ** 2) / N, "variance without the responsibilities"),
    (total(T1[i] * (xi - mu1) ** 2) / N, "divided by N"),
    (total(T1[i] * (xi - V.mu1_t) ** 2) / total(T1[i]), "centred on the old mean"),
    (total(T1[i] * xi**2) / total(T1[i]), "not centred"),
    (total(T1[i] * (xi - mu1) ** 2), "the weighted sum, not the mean"),
    (total(T1[i] * (xi - mu1) ** 2) / (total(T1[i]) - 1), "N₁ − 1 instead of N₁"),
    (sp.sqrt(SIGMA_RIGHT), "standard deviation for variance"),
    (total(T1[i] ** 2 * (xi - mu1) ** 2) / total(T1[i]), "squared responsibilities"),
    (total(T2[i] * (xi - mu1) ** 2) / total(T2[i]), "the other component's T2"),
    (total(T1[i] * (xi - total(xi) / N) ** 2) / total(T1[i]), "centred on the overall mean"),
    (SIGMA_RIGHT / 2, "a missing ½ on log Σ"),
    (2 * SIGMA_RIGHT, "a missing ½ on the quadratic term"),
    (total(T1[i]) / total(T1[i] * (xi - mu1) ** 2), "precision (1/Σ) instead of Σ"),
    (total((xi - total(xi) / N) ** 2) / N, "the variance of all the data"),
    (total(T1[i] * ((xi - mu1) ** 2 - S1)), "the answer contains the unknown"),
]

CORPUS = (
    [("01-assign", a, e) for a, e in ASSIGN]
    + [("01-update", a, e) for a, e in UPDATE]
    + [("02-responsibilities", a, e) for a, e in RESP]
    + [("02-weighted-means", a, e) for a, e in WMEANS]
    + [("03-missing-e-step", a, e) for a, e in MISSING]
    + [("03-q-value", a, e) for a, e in QVALUE]
    + [("05-e-step", a, e) for a, e in ESTEP]
    + [("05-m-step", a, e) for a, e in MSTEP]
    + [("04-q", a, e) for a, e in QFUN]
    + [("04-tau", a, e) for a, e in TAU]
    + [("04-mu", a, e) for a, e in MU]
    + [("04-sigma", a, e) for a, e in SIGMA]
)

# --- more slips and more unusual right answers --------------------------------------------
_j = sp.Symbol("j", integer=True)
_own_tau, _own_N = sp.Symbol("tau"), sp.Symbol("N")
_own_T1 = sp.IndexedBase("T1")
MORE = [
    ("05-e-step", lambda X, w, m, S: tuple(reversed(estep_scipy(X, w, m, S))), "wrong shape"),
    ("05-m-step", lambda X, R: (mstep_loops(X, R)[1], mstep_loops(X, R)[0], mstep_loops(X, R)[2]), "wrong shape"),
    ("04-sigma", total(T1[i] * (xi - mu1)) / total(T1[i]), "deviations not squared"),
    ("04-tau", sp.Sum(_own_T1[_j], (_j, 1, _own_N)) / _own_N, "pass"),
    ("04-tau", total(T1[i]) * N**-1, "pass"),
    ("04-mu", sp.Sum(T1[_j] * x[_j], (_j, 1, N)) / sp.Sum(T1[_j], (_j, 1, N)), "pass"),
]
MORE += [
    (
        "05-m-step",
        m_with(
            covs=lambda X, R, m: scatter(
                X, R, np.stack([X[R.argmax(1) == k].mean(0) for k in range(R.shape[1])]), R.sum(0)
            )
        ),
        "centred on a hard-label mean",
    ),
    ("03-missing-e-step", with_mean(lambda x1, m, S: x1.copy()), "copied x₁"),
    ("01-update", lambda X, l, K: np.stack([X[l == (k + 1) % K].mean(0) for k in range(K)]), "labels shifted by one"),
    ("03-missing-e-step", with_mean(lambda x1, m, S: m[0] + S[0, 1] / S[0, 0] * (x1 - m[1])), "means swapped"),
    (
        "03-missing-e-step",
        with_mean(lambda x1, m, S: m[1] + S[0, 0] / S[0, 1] * (x1 - m[0])),
        "slope s₁₁/s₁₂ (inverted)",
    ),
    (
        "03-q-value",
        lambda X, R, w, m, S: np.sum(
            R * (np.log(w) + np.exp(logn_by_hand(X, m, S) - X.shape[1] / 2 * np.log(2 * np.pi)))
        ),
        "the density, not its log",
    ),
    (
        "04-q",
        total(
            T1[i] * (sp.log(tau) + sp.exp(normal_log_density(xi, mu1, S1)))
            + T2[i] * (sp.log(1 - tau) + sp.exp(normal_log_density(xi, mu2, S2)))
        ),
        "the density, not its log",
    ),
    (
        "02-weighted-means",
        lambda X, R: (R[:, ::-1].T @ X) / R[:, ::-1].sum(0)[:, None],
        "the other component's responsibilities",
    ),
]
CORPUS = CORPUS + MORE


# --- a first-time learner's attempts that got misleading feedback (each now names its slip) --------------


def resp_row_max_column_sums(L):
    """The log-sum-exp shift done per row, but the normalisation over the points (axis 0)."""
    e = np.exp(L - L.max(axis=1, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def cond_swapped(x1, mean, cov):
    """The right values, returned as (cond_var, cond_mean)."""
    s11, s12, s22 = cov[0, 0], cov[0, 1], cov[1, 1]
    return s22 - s12**2 / s11, mean[1] + s12 / s11 * (x1 - mean[0])


def mstep_outer_n_by_n(X, R):
    """Covariances preallocated (K, D, D) and filled with an N×N product: numpy refuses to broadcast it."""
    N, D = X.shape
    K = R.shape[1]
    Nk = R.sum(axis=0)
    means = R.T @ X / Nk[:, None]
    covs = np.zeros((K, D, D))
    for k in range(K):
        d = X - means[k]
        covs[k] = (R[:, k, None] * d) @ d.T / Nk[k]
    return Nk / N, means, covs


LEARNER = [
    (
        "01-assign",
        lambda X, C: ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=1).argmin(axis=1),
        "squared differences summed over the centres (axis=1)",
    ),
    ("02-responsibilities", resp_row_max_column_sums, "normalised over the points (axis 0)"),
    ("02-weighted-means", lambda X, R: (R.T @ X) / R.sum(axis=1)[:, None], "N_k summed over components (axis=1)"),
    ("02-weighted-means", lambda X, R: (R.T @ X) / R.sum(axis=1), "N_k summed over components (axis=1)"),
    ("03-missing-e-step", cond_swapped, "the values in the wrong order"),
    (
        "04-tau",
        sp.solve(sp.diff(total(T1[i] * LOG_TAU + T2[i] * LOG_1_TAU), tau), tau),  # [] : the sums hide tau
        "sp.solve found no solution (an empty list)",
    ),
    ("05-m-step", mstep_outer_n_by_n, "an N×N outer product"),
]
CORPUS = CORPUS + LEARNER

# =====================================================================================
# 05 · the MAP covariance update
# =====================================================================================


def map_loop(S, n, P, nu):
    D = len(S)
    out = np.zeros((D, D))
    for a in range(D):
        for b in range(D):
            out[a, b] = (S[a][b] + P[a][b]) / (n + nu + D + 1)
    return out


def map_from_objective(S, n, P, nu):
    """The learner maximises −(n+ν+D+1)/2 log det Σ − ½ tr((S+Ψ)Σ⁻¹) by writing its stationary point."""
    D = S.shape[0]
    a = (n + nu + D + 1) / 2
    return 0.5 * (S + P) / a


MAP = [
    (map_loop, "pass"),
    (map_from_objective, "pass"),
    (lambda S, n, P, nu: np.asarray((np.matrix(S) + np.matrix(P)) / (n + nu + np.shape(S)[0] + 1)), "pass"),
    (lambda S, n, P, nu: [[float(v) for v in row] for row in (S + P) / (n + nu + len(S) + 1)], "pass"),
    (lambda S, n, P, nu: S / n, "no prior (the ML update)"),
    (lambda S, n, P, nu: np.divide(S, n + nu + len(S) + 1), "the prior scale left out"),
    (lambda S, n, P, nu: (S + np.linalg.inv(P)) / (n + nu + len(S) + 1), "Ψ⁻¹ for Ψ"),
    (lambda S, n, P, nu: (S + P) / (n + nu - len(S) - 1), "the posterior mean, not its mode"),
    (lambda S, n, P, nu: (S + P) / (n + nu), "D + 1 missing from the count"),
    (lambda S, n, P, nu: (P + S) / (nu + n + S.shape[1]), "the count one short"),
    (lambda S, n, P, nu: (S + P) / (n - 1 + nu + len(S) + 1), "the count one short"),
]
CORPUS = CORPUS + [("06-map-sigma", a, e) for a, e in MAP]

# =====================================================================================
# 07 · hidden Markov models: one forward step in logs, the transition update
# (written here as learners write them; tests/test_hmm_checks.py checks them in detail)
# =====================================================================================


def forward_loop(log_alpha_prev, log_trans, log_b):
    K = len(log_b)
    out = np.empty(K)
    for k in range(K):
        terms = [log_alpha_prev[j] + log_trans[j, k] for j in range(K)]
        top = max(terms)
        out[k] = log_b[k] + top + np.log(sum(np.exp(v - top) for v in terms))
    return out


def forward_scaled_product(log_alpha_prev, log_trans, log_b):
    m = np.max(log_alpha_prev)
    return log_b + m + np.log(np.exp(log_alpha_prev - m) @ np.exp(log_trans))


def forward_viterbi_loop(log_alpha_prev, log_trans, log_b):
    K = len(log_b)
    return np.array([log_b[k] + max(log_alpha_prev[j] + log_trans[j, k] for j in range(K)) for k in range(K)])


HMM_FORWARD = [
    (forward_loop, "pass"),
    (forward_scaled_product, "pass"),
    (lambda la, lA, lb: lb + special.logsumexp(la + lA.T, axis=1), "pass"),
    (lambda la, lA, lb: np.logaddexp.reduce(la[:, None] + lA, axis=0) + lb, "pass"),
    (lambda la, lA, lb: list(lb + special.logsumexp(la[:, None] + lA, axis=0)), "pass"),
    (lambda la, lA, lb: (lb + special.logsumexp(la[:, None] + lA, axis=0))[None, :], "pass"),
    (lambda la, lA, lb: lb + special.logsumexp(la[None, :] + lA, axis=1), "A transposed"),
    (lambda la, lA, lb: lb + np.sum(la[:, None] + lA, axis=0), "a sum of logs, not log-sum-exp"),
    (forward_viterbi_loop, "max instead of sum (a Viterbi step)"),
    (lambda la, lA, lb: special.logsumexp(la[:, None] + lA, axis=0), "emission term missing"),
    (lambda la, lA, lb: special.logsumexp((la + lb)[:, None] + lA, axis=0), "emission of the previous state"),
    (
        lambda la, lA, lb: lb + special.logsumexp(la[:, None] + lA, axis=1),
        "transition dropped (sum over the wrong axis)",
    ),
    (lambda la, lA, lb: la + lb, "transition dropped (sum over the wrong axis)"),
    (lambda la, lA, lb: lb + np.log(np.exp(la) @ np.exp(lA)), "exp without taking out the maximum (underflow)"),
    (
        lambda la, lA, lb: (lambda a: a - special.logsumexp(a))(lb + special.logsumexp(la[:, None] + lA, axis=0)),
        "normalised (the scaled α̂_t)",
    ),
    (lambda la, lA, lb: np.exp(lb) * (np.exp(la) @ np.exp(lA)), "α, not log α"),
    (lambda la, lA, lb: la[:, None] + lA + lb[None, :], "wrong shape"),
]


def transitions_loop(xi):
    K = len(xi)
    A = np.zeros((K, K))
    for j in range(K):
        out = sum(xi[j])
        for k in range(K):
            A[j][k] = xi[j][k] / out
    return A


HMM_TRANSITIONS = [
    (transitions_loop, "pass"),
    (lambda xi: xi / xi.sum(axis=1)[:, None], "pass"),
    (lambda xi: (xi.T / xi.T.sum(axis=0)).T, "pass"),
    (lambda xi: np.divide(xi, np.sum(xi, axis=-1, keepdims=True)).tolist(), "pass"),
    (lambda xi: np.apply_along_axis(lambda row: row / row.sum(), 1, xi), "pass"),
    (lambda xi: xi / xi.sum(axis=0), "columns normalised instead of rows"),
    (lambda xi: xi / xi.sum(axis=0, keepdims=True), "columns normalised instead of rows"),
    (lambda xi: xi / xi.sum(axis=1), "row sums broadcast along the wrong axis"),
    (lambda xi: xi / np.sum(xi), "divided by the total"),
    (lambda xi: np.array(xi, copy=True), "not normalised (the expected counts)"),
    (lambda xi: (xi / xi.sum(axis=1, keepdims=True)).T, "A transposed"),
    (lambda xi: special.softmax(xi, axis=1), "a softmax of the counts"),
    (lambda xi: np.log(xi / xi.sum(axis=1, keepdims=True)), "log A, not A"),
    (lambda xi: np.ones_like(xi) / len(xi), "uniform rows"),
    (lambda xi: (xi + 1) / (xi.sum(axis=1, keepdims=True) + len(xi)), "add-one smoothing"),
    (lambda xi: xi.sum(axis=1), "wrong shape"),
]
CORPUS = CORPUS + [("07-forward", a, e) for a, e in HMM_FORWARD]
CORPUS = CORPUS + [("07-transitions", a, e) for a, e in HMM_TRANSITIONS]


# =====================================================================================
# 02 · one responsibility by hand, 03 · the coins by hand (numbers typed by the learner)
# =====================================================================================


def _r_by_hand(pi=(0.4, 0.6), var=1.5**2, half=0.5):
    """r_1 for x = 2.5, μ = (0, 4), worked the way a learner would on a calculator."""
    n1 = pi[0] * np.exp(-half * (2.5 - 0.0) ** 2 / var)
    n2 = pi[1] * np.exp(-half * (2.5 - 4.0) ** 2 / var)
    return n1 / (n1 + n2)


ONE_R = [
    (0.215, "pass"),
    ("0.215", "pass"),
    (np.float64(_r_by_hand()), "pass"),
    (0.2151, "pass"),
    (np.array([0.215]), "pass"),
    (2.5 / (2.5 + 1.5), "divided the distances by their sum"),
    (6.25 / (6.25 + 2.25), "divided the distances by their sum"),
    (round(_r_by_hand(pi=(0.5, 0.5)), 3), "forgot the weights π_k"),
    (round(_r_by_hand(var=1.5), 3), "used σ instead of σ²"),
    (round(1 - _r_by_hand(), 3), "the other component's responsibility"),
    (round(_r_by_hand(half=1.0), 3), "lost the ½ in the exponent"),
    (0.4 * stats.norm(0, 1.5).pdf(2.5), "not divided by the sum"),
    ((1 / 2.5) / (1 / 2.5 + 1 / 1.5), "inverse distances"),
]

_h, _n, _rA = np.array([5, 9, 8, 4, 7.0]), np.full(5, 10.0), np.array([0.45, 0.80, 0.73, 0.35, 0.65])
COINS_BY_HAND = [
    (0.71, "pass"),
    (0.713, "pass"),
    (float(np.sum(_rA * _h) / np.sum(_rA * _n)), "pass"),
    ("0,71", "pass"),
    (0.58, "coin B's update"),
    (33 / 50, "ignored the responsibilities"),
    (0.425, "divided by all 50 tosses"),
    (24 / 30, "hard assignments"),
    (2.48, "heads over tails"),
    (7.13, "heads per set, not per toss"),
    (0.287, "the share of tails"),
    (0.6, "the starting value"),
]


def m_completed(X, missing, v):
    N = len(X)
    mean = X.mean(axis=0)
    d = X - mean
    cov = d.T @ d / N
    cov[1, 1] += missing.sum() * v / N
    return mean, cov


def m_completed_np(X, missing, v):
    second = X.T @ X / len(X)  # second moments, then the mean's outer product taken off
    second[1, 1] += v * np.count_nonzero(missing) / len(X)
    mean = np.mean(X, axis=0)
    return mean, second - np.outer(mean, mean)


def m_with_moments(mean_fn=None, cov_fn=None):
    def answer(X, missing, v):
        mean, cov = m_completed(X, missing, v)
        return (mean if mean_fn is None else mean_fn(X, missing, v)), (cov if cov_fn is None else cov_fn(X, missing, v))

    return answer


def _cov_extra(extra_22, extra_12=0.0, ddof=0):
    def cov(X, missing, v):
        N = len(X)
        c = np.cov(X.T, ddof=ddof)  # ddof=1: np.cov's default, N − 1 below
        m = missing.sum()
        c[1, 1] += extra_22(m, v, N) / (N - ddof)
        c[0, 1] += extra_12 * m * v / (N - ddof)
        c[1, 0] = c[0, 1]
        return c

    return cov


def _observed_count(X, missing, v):
    n = (~missing).sum()
    mean = np.array([X[:, 0].mean(), X[:, 1].sum() / n])
    d = X - mean
    S = d.T @ d
    S[1, 1] += missing.sum() * v
    cov = S / len(X)
    cov[1, :], cov[:, 1] = S[1, :] / n, S[:, 1] / n
    return mean, cov


MISSING_M = [
    (m_completed, "pass"),
    (m_completed_np, "pass"),
    (lambda X, m, v: [list(m_completed(X, m, v)[0]), m_completed(X, m, v)[1].tolist()], "pass"),
    (m_with_moments(cov_fn=lambda X, m, v: np.cov(X.T, bias=True)), "forgot the conditional variance"),
    (_observed_count, "divided by the number of observed values"),
    (lambda X, m, v: m_completed(X[~m], m[~m], v), "complete cases only"),
    (m_with_moments(cov_fn=_cov_extra(lambda m, v, N: N * v * N / N)), "conditional variance added to every row"),
    (m_with_moments(cov_fn=_cov_extra(lambda m, v, N: v)), "conditional variance added once"),
    (
        m_with_moments(cov_fn=_cov_extra(lambda m, v, N: m * v, extra_12=1.0)),
        "conditional variance in the covariance too",
    ),
    (m_with_moments(cov_fn=_cov_extra(lambda m, v, N: m * v, ddof=1)), "N − 1 instead of N"),
    (m_with_moments(cov_fn=_cov_extra(lambda m, v, N: m * np.sqrt(v))), "the conditional standard deviation"),
    (m_with_moments(cov_fn=lambda X, m, v: (X.T @ X + np.diag([0, m.sum() * v])) / len(X)), "not centred"),
    (lambda X, m, v: (m_completed(X, m, v)[0], np.diag(m_completed(X, m, v)[1])), "wrong shape"),
]

# --- feedback that must name the right thing (issue: misleading comparisons) ----------------
MISLEADING = [
    # a (K, D) array divided by a (K,) one: an error for K ≠ D, silently wrong for K = D
    ("02-weighted-means", lambda X, R: (R.T @ X) / R.sum(0), "missing [:, None] broadcasting"),
]

CORPUS = CORPUS + [("02-one-r", a, e) for a, e in ONE_R]
CORPUS = CORPUS + [("03-coins", a, e) for a, e in COINS_BY_HAND]
CORPUS = CORPUS + [("03-missing-m-step", a, e) for a, e in MISSING_M]
CORPUS = CORPUS + MISLEADING

# =====================================================================================
# 06 · EM deeper: Louis' identity, one SQUAREM cycle, the Poisson M-step, one online-EM step
# (written here as learners write them; tests/test_deeper_checks.py checks them in detail)
# =====================================================================================


def louis_loop(f1, f2, pi):
    I_c = I_m = 0.0
    for a, b in zip(f1, f2, strict=True):
        r = pi * a / (pi * a + (1 - pi) * b)
        I_c += r / pi**2 + (1 - r) / (1 - pi) ** 2
        I_m += r * (1 - r) / (pi * (1 - pi)) ** 2
    return I_c, I_m, I_c - I_m


def louis_direct_io(f1, f2, pi):
    mix = pi * f1 + (1 - pi) * f2
    r = pi * f1 / mix
    score = (np.array([1.0, 0.0])[None, :] - pi) / (pi * (1 - pi))  # s(z) for z = 1 and z = 0
    probs = np.column_stack([r, 1 - r])
    mean = (probs * score).sum(axis=1)
    I_m = np.sum((probs * score**2).sum(axis=1) - mean**2)
    I_o = np.sum((f1 - f2) ** 2 / mix**2)  # -ℓ'' directly
    return I_o + I_m, I_m, I_o


def louis_parts(f1, f2, pi, *, r=None, ic=None, im=None, io=None):
    """The right formulas with one piece swapped for a slip."""
    r = pi * f1 / (pi * f1 + (1 - pi) * f2) if r is None else r(pi, f1, f2)
    I_c = np.sum(r / pi**2 + (1 - r) / (1 - pi) ** 2) if ic is None else ic(pi, r)
    I_m = np.sum(r * (1 - r)) / (pi * (1 - pi)) ** 2 if im is None else im(pi, r)
    return I_c, I_m, (I_c - I_m if io is None else io(I_c, I_m))


DEEPER_LOUIS = [
    (lambda f1, f2, pi: louis_parts(f1, f2, pi), "pass"),
    (louis_loop, "pass"),
    (louis_direct_io, "pass"),
    (lambda f1, f2, pi: [float(v) for v in louis_parts(f1, f2, pi)], "pass"),
    (lambda f1, f2, pi: tuple(np.float32(v) for v in louis_parts(f1, f2, pi)), "pass"),
    (lambda f1, f2, pi: louis_parts(f1, f2, pi, io=lambda c, m: c + m), "the missing information added (its sign)"),
    (lambda f1, f2, pi: louis_parts(f1, f2, pi, io=lambda c, m: c), "the missing information not subtracted"),
    (lambda f1, f2, pi: louis_parts(f1, f2, pi, io=lambda c, m: m - c), "I_m − I_c (the sign of I_o)"),
    (
        lambda f1, f2, pi: louis_parts(f1, f2, pi, im=lambda p, r: np.sum(r * (1 - r) / (p * (1 - p)))),
        "π(1 − π) not squared in I_m",
    ),
    (
        lambda f1, f2, pi: louis_parts(f1, f2, pi, im=lambda p, r: np.sum(r * (1 - r))),
        "the score's slope left out of I_m",
    ),
    (
        lambda f1, f2, pi: louis_parts(f1, f2, pi, im=lambda p, r: np.sum((r / p - (1 - r) / (1 - p)) ** 2)),
        "the squared observed score, not its variance over the label",
    ),
    (
        lambda f1, f2, pi: louis_parts(f1, f2, pi, ic=lambda p, r: len(r) / (p * (1 - p))),
        "N/(π(1 − π)) away from the maximum",
    ),
    (
        lambda f1, f2, pi: louis_parts(f1, f2, pi, r=lambda p, a, b: (1 - p) * b / (p * a + (1 - p) * b)),
        "r and 1 − r swapped",
    ),
    (lambda f1, f2, pi: louis_parts(f1, f2, pi, r=lambda p, a, b: a / (a + b)), "π left out of the responsibilities"),
    (lambda f1, f2, pi: tuple(v / len(f1) for v in louis_parts(f1, f2, pi)), "a mean over the points, not a sum"),
    (
        lambda f1, f2, pi: louis_parts(f1, f2, pi, im=lambda p, r: np.sum(p * (1 - p) / (p * (1 - p)) ** 2 + 0 * r)),
        "π(1 − π) in place of r_i(1 − r_i) in I_m",
    ),
]


def squarem_cycle(f1, f2, pi0, *, clamp=True, sign=-1.0, ratio="r/v", stabilise=True, check_range=True,
                  guard="<", fallback=2, v_rule="second"):  # fmt: skip
    """One SQUAREM cycle as a learner writes it, with the knobs of the usual slips."""

    def em_map(pi):
        return np.mean(pi * f1 / (pi * f1 + (1 - pi) * f2))

    def loglik(pi):
        with np.errstate(invalid="ignore"):
            return np.sum(np.log(pi * f1 + (1 - pi) * f2))

    pi1 = em_map(pi0)
    pi2 = em_map(pi1)
    r = pi1 - pi0
    v = pi2 - 2 * pi1 + pi0 if v_rule == "second" else pi2 - pi1
    alpha = sign * (abs(r) / abs(v) if ratio == "r/v" else abs(v) / abs(r))
    if clamp:
        alpha = min(alpha, -1.0)
    pi_prime = pi0 - 2 * alpha * r + alpha**2 * v
    back = {2: pi2, 1: pi1, 0: pi0}[fallback]
    if check_range and not 0 < pi_prime < 1:
        return back
    pi_new = em_map(pi_prime) if stabilise else pi_prime
    if guard == "<" and loglik(pi_new) < loglik(pi0):
        return back
    if guard == "not >=" and not loglik(pi_new) >= loglik(pi0):
        return back
    if guard == "reversed" and loglik(pi_new) >= loglik(pi0):
        return back
    return pi_new


def squarem_norms(f1, f2, pi0):
    def em_map(pi):
        resp = pi * f1 / (pi * f1 + (1 - pi) * f2)
        return resp.sum() / len(resp)

    def loglik(pi):
        if pi <= 0 or pi >= 1:
            return -np.inf
        return np.log(pi * f1 + (1 - pi) * f2).sum()

    t0 = np.array([pi0])
    t1 = np.array([em_map(pi0)])
    t2 = np.array([em_map(t1[0])])
    r, v = t1 - t0, t2 - 2 * t1 + t0
    a = min(-np.linalg.norm(r) / np.linalg.norm(v), -1)
    prime = t0 - 2 * a * r + a * a * v
    new = em_map(prime[0]) if loglik(prime[0]) > -np.inf else np.nan
    return new if loglik(new) >= loglik(pi0) else t2


def squarem_plus(f1, f2, pi0):
    def em_map(pi):
        return np.mean(pi * f1 / (pi * f1 + (1 - pi) * f2))

    def loglik(pi):
        return np.sum(np.log(pi * f1 + (1 - pi) * f2)) if 0 < pi < 1 else -np.inf

    p1 = em_map(pi0)
    p2 = em_map(p1)
    r, v = p1 - pi0, p2 - 2 * p1 + pi0
    a = min(-abs(r) / abs(v), -1)
    prime = pi0 + 2 * a * r + a * a * v
    if not 0 < prime < 1:
        return p2
    new = em_map(prime)
    return new if loglik(new) >= loglik(pi0) else p2


def squarem_vs_pi2(f1, f2, pi0):
    """A learner's cycle whose safeguard compares ℓ(π_new) with ℓ(π₂) instead of ℓ(π₀)."""

    def em_map(pi):
        return np.mean(pi * f1 / (pi * f1 + (1 - pi) * f2))

    def loglik(pi):
        return np.sum(np.log(pi * f1 + (1 - pi) * f2))

    pi1 = em_map(pi0)
    pi2 = em_map(pi1)
    r, v = pi1 - pi0, pi2 - 2 * pi1 + pi0
    alpha = min(-abs(r) / abs(v), -1.0)
    pi_prime = pi0 - 2 * alpha * r + alpha**2 * v
    if not 0 < pi_prime < 1:
        return pi2
    pi_new = em_map(pi_prime)
    if loglik(pi_new) < loglik(pi2):
        return pi2
    return pi_new


DEEPER_SQUAREM = [
    (squarem_cycle, "pass"),
    (squarem_norms, "pass"),
    (lambda f1, f2, p: squarem_cycle(f1, f2, p, guard="not >="), "pass"),
    (lambda f1, f2, p: np.array([squarem_cycle(f1, f2, p)]), "pass"),
    (lambda f1, f2, p: squarem_cycle(f1, f2, p, check_range=False, guard="none"), "no safeguard"),
    # only the ℓ half of the safeguard (NaN < ℓ0 is False: a π′ outside (0, 1) is kept); once a start showed that
    # this answer does fall back when ℓ drops, "no safeguard" no longer explains it
    (
        lambda f1, f2, p: squarem_cycle(f1, f2, p, check_range=False),
        "the safeguard ignores a π′ outside (0, 1)",
    ),
    (
        lambda f1, f2, p: squarem_cycle(f1, f2, p, check_range=False, guard="not >="),
        "the safeguard ignores a π′ outside (0, 1)",
    ),
    (lambda f1, f2, p: squarem_cycle(f1, f2, p, stabilise=False), "no stabilising EM step"),
    (lambda f1, f2, p: squarem_cycle(f1, f2, p, clamp=False), "α not clamped at −1"),
    (lambda f1, f2, p: squarem_cycle(f1, f2, p, clamp=False, sign=1.0), "the extrapolation never kept (always π₂)"),
    (lambda f1, f2, p: squarem_cycle(f1, f2, p, sign=1.0), "α = −1 every time (three plain EM steps)"),
    (lambda f1, f2, p: squarem_cycle(f1, f2, p, ratio="v/r"), "|v|/|r| for |r|/|v|"),
    (lambda f1, f2, p: squarem_cycle(f1, f2, p, fallback=1), "falls back to π₁"),
    (lambda f1, f2, p: squarem_cycle(f1, f2, p, fallback=0), "falls back to π₀ (no move)"),
    (
        lambda f1, f2, p: squarem_cycle(f1, f2, p, v_rule="step"),
        "v = π₂ − π₁ (the second step, not the change of step)",
    ),
    (lambda f1, f2, p: squarem_plus(f1, f2, p), "the sign of the 2αr term"),
    (lambda f1, f2, p: squarem_cycle(f1, f2, p, guard="reversed"), "the extrapolation never kept (always π₂)"),
    # the ℓ half of the safeguard dropped, or ℓ(π_new) compared with ℓ(π₂): only a start where π′ stays inside (0, 1)
    # shows them (a learner's report: both passed every part while the check had four starts)
    (
        lambda f1, f2, p: squarem_cycle(f1, f2, p, guard="none"),
        "the safeguard ignores ℓ (no fallback when ℓ(π_new) < ℓ(π₀))",
    ),
    (squarem_vs_pi2, "ℓ(π_new) compared with ℓ(π₂), not ℓ(π₀)"),
]


def poisson_loop(x, resp):
    N, K = resp.shape
    weights, rates = np.zeros(K), np.zeros(K)
    for k in range(K):
        Nk = sum(resp[i, k] for i in range(N))
        Tk = sum(resp[i, k] * x[i] for i in range(N))
        weights[k], rates[k] = Nk / N, Tk / Nk
    return weights, rates


def poisson_hard(x, resp):
    z = resp.argmax(axis=1)
    K = resp.shape[1]
    return np.array([np.mean(z == k) for k in range(K)]), np.array([x[z == k].mean() for k in range(K)])


DEEPER_POISSON = [
    (poisson_loop, "pass"),
    (lambda x, R: (R.mean(axis=0), R.T @ x / R.sum(axis=0)), "pass"),
    (lambda x, R: (R.sum(0) / R.sum(), np.average(np.tile(x[:, None], R.shape[1]), axis=0, weights=R)), "pass"),
    (lambda x, R: [list(R.mean(0)), list((x @ R) / R.sum(0))], "pass"),
    (lambda x, R: (R.mean(axis=0), R.sum(axis=0) / (R.T @ x)), "1/λ for λ (N_k / T_k)"),
    (lambda x, R: (R.mean(axis=0), R.T @ x / len(x)), "T_k / N, not T_k / N_k"),
    (lambda x, R: (R.mean(axis=0), np.log(R.T @ x / R.sum(axis=0))), "log λ (the natural parameter)"),
    (lambda x, R: (R.mean(axis=0), np.full(R.shape[1], np.mean(x))), "the unweighted mean of x"),
    (
        lambda x, R: (R.mean(axis=0), np.array([x[R.argmax(1) == k].mean() for k in range(R.shape[1])])),
        "hard assignments",
    ),
    (lambda x, R: (R.mean(axis=0), R.T @ x**2 / R.sum(axis=0)), "Σ r x² / N_k (the second moment)"),
    (lambda x, R: (R.sum(axis=0), R.T @ x / R.sum(axis=0)), "counts, not weights (N_k, not N_k / N)"),
    (lambda x, R: (np.ones(R.shape[1]) / R.shape[1], R.T @ x / R.sum(axis=0)), "uniform weights"),
    (lambda x, R: (R.T @ x / R.sum(axis=0), R.mean(axis=0)), "the two outputs swapped"),
    # hard labels for both: on the six counts they happen to give [0.5 0.5], which "uniform weights" also gives
    (poisson_hard, "hard assignments"),
    (lambda x, R: (np.bincount(R.argmax(1), minlength=R.shape[1]) / len(x), R.T @ x / R.sum(0)), "hard assignments"),
    (lambda x, R: (R.mean(axis=1), R.T @ x / R.sum(axis=0)), "wrong shape"),
]


def online_reference(s_hat, x, theta, t, alpha, *, gamma=None, resp="logs", square=True, update="blend"):
    """One online-EM step as a learner writes it (scipy's densities), with the knobs of the usual slips."""
    w, m, v = theta
    if resp == "logs":
        a = np.log(w) + stats.norm.logpdf(x, m, np.sqrt(v))
        r = np.exp(a - special.logsumexp(a))
    elif resp == "naive":
        p = w * stats.norm.pdf(x, m, np.sqrt(v))
        with np.errstate(invalid="ignore"):
            r = p / p.sum()
    elif resp == "sd":
        a = np.log(w) + stats.norm.logpdf(x, m, v)
        r = np.exp(a - special.logsumexp(a))
    elif resp == "no weights":
        a = stats.norm.logpdf(x, m, np.sqrt(v))
        r = np.exp(a - special.logsumexp(a))
    else:
        r = np.ones(len(m))
    g = t**-alpha if gamma is None else gamma(t, alpha)
    point = (r, r * x, r * x**2 if square else r * x)
    out = []
    for s, p in zip(s_hat, point, strict=True):
        out.append(
            {"blend": (1 - g) * s + g * p, "add": s + g * p, "swapped": (1 - g) * p + g * s, "replace": p}[update]
        )
    return tuple(out)


def online_loop(s_hat, x, theta, t, alpha):
    w, m, v = theta
    logs = [np.log(w[k]) - 0.5 * np.log(2 * np.pi * v[k]) - (x - m[k]) ** 2 / (2 * v[k]) for k in range(len(w))]
    top = max(logs)
    r = [np.exp(a - top) for a in logs]
    r = [e / sum(r) for e in r]
    g = 1 / t**alpha
    s0, s1, s2 = s_hat
    return (
        [s0[k] + g * (r[k] - s0[k]) for k in range(len(w))],
        [s1[k] + g * (r[k] * x - s1[k]) for k in range(len(w))],
        [s2[k] + g * (r[k] * x * x - s2[k]) for k in range(len(w))],
    )


def online_with_emkit(s_hat, x, theta, t, alpha):
    from emkit import online

    r = online.responsibilities(np.array([x]), *theta)[0][0]
    g = t**-alpha
    return tuple(s + g * (p - s) for s, p in zip(s_hat, (r, r * x, r * x * x), strict=True))


def online_no_half(s_hat, x, theta, t, alpha):
    """A learner's step whose log-density lost the ½ in the exponent: −(x − μ)²/σ² for −(x − μ)²/(2σ²)."""
    w, m, v = theta
    a = np.log(w) - 0.5 * np.log(2 * np.pi * v) - (x - m) ** 2 / v
    r = np.exp(a - special.logsumexp(a))
    g = t**-alpha
    return tuple((1 - g) * s + g * p for s, p in zip(s_hat, (r, r * x, r * x * x), strict=True))


DEEPER_ONLINE = [
    (online_reference, "pass"),
    (online_loop, "pass"),
    (online_with_emkit, "pass"),
    (lambda s, x, th, t, a: [list(v) for v in online_reference(s, x, th, t, a)], "pass"),
    (
        lambda s, x, th, t, a: online_reference(s, x, th, t, a, gamma=lambda t, a: t**a),
        "γ_t = t^α (the exponent's sign)",
    ),
    (lambda s, x, th, t, a: online_reference(s, x, th, t, a, gamma=lambda t, a: 1 / t), "α ignored (γ = 1/t)"),
    (
        lambda s, x, th, t, a: online_reference(s, x, th, t, a, gamma=lambda t, a: 1 / np.sqrt(t)),
        "step-size exponent outside (0.5, 1]",
    ),
    (
        lambda s, x, th, t, a: online_reference(s, x, th, t, a, gamma=lambda t, a: 1 / t**2),
        "step-size exponent outside (0.5, 1]",
    ),
    (
        lambda s, x, th, t, a: online_reference(s, x, th, t, a, gamma=lambda t, a: t ** (-1 / a)),
        "step-size exponent outside (0.5, 1]",
    ),
    (
        lambda s, x, th, t, a: online_reference(s, x, th, t, a, gamma=lambda t, a: (t + 1) ** -a),
        "γ_{t+1} for γ_t (off by one)",
    ),
    (lambda s, x, th, t, a: online_reference(s, x, th, t, a, update="add"), "no forgetting (ŝ + γ s̄)"),
    (lambda s, x, th, t, a: online_reference(s, x, th, t, a, update="swapped"), "γ on the old statistics"),
    (
        lambda s, x, th, t, a: online_reference(s, x, th, t, a, update="replace"),
        "the statistics replaced by the point's",
    ),
    (lambda s, x, th, t, a: online_reference(s, x, th, t, a, resp="none"), "responsibilities left out"),
    (lambda s, x, th, t, a: online_reference(s, x, th, t, a, square=False), "x, not x², in s2"),
    (lambda s, x, th, t, a: online_reference(s, x, th, t, a, resp="sd"), "σ for σ² in the responsibilities"),
    (lambda s, x, th, t, a: online_reference(s, x, th, t, a, resp="no weights"), "π left out of the responsibilities"),
    (lambda s, x, th, t, a: online_reference(s, x, th, t, a, resp="naive"), "exp without log-sum-exp (underflow)"),
    # a learner's report: this was called "γ_{t+1} for γ_t" at t = 300 (compared at float32 precision of the
    # statistics, not of their change), while the real off-by-one passed that part
    (online_no_half, "a missing ½ on the quadratic term"),
    (lambda s, x, th, t, a: tuple(np.sum(v) for v in online_reference(s, x, th, t, a)), "wrong shape"),
]
CORPUS = CORPUS + [("06-louis", a, e) for a, e in DEEPER_LOUIS]
CORPUS = CORPUS + [("06-squarem", a, e) for a, e in DEEPER_SQUAREM]
CORPUS = CORPUS + [("06-poisson-m-step", a, e) for a, e in DEEPER_POISSON]
CORPUS = CORPUS + [("06-online-step", a, e) for a, e in DEEPER_ONLINE]


# --- notebook 05: the tied covariance and sampling from a mixture --------------------------------


def _tied_scatter(X, R, M, k, centre=None, weight=True):
    d = X - (M[k] if centre is None else centre)
    w = R[:, k] if weight else np.ones(len(X))
    return (w[:, None] * d).T @ d


TIED = [
    (lambda X, R, M: sum(_tied_scatter(X, R, M, k) for k in range(R.shape[1])) / len(X), "pass"),
    (lambda X, R, M: np.einsum("nk,nki,nkj->ij", R, X[:, None] - M[None], X[:, None] - M[None]) / len(X), "pass"),
    (lambda X, R, M: np.mean([_tied_scatter(X, R, M, k) / R[:, k].sum() for k in range(R.shape[1])], axis=0),
     "unweighted average of the components' covariances"),
    (lambda X, R, M: sum(_tied_scatter(X, R, M, k) for k in range(R.shape[1])) / R.shape[1], "divided by K"),
    (lambda X, R, M: sum(_tied_scatter(X, R, M, k) for k in range(R.shape[1])) / (len(X) - R.shape[1]),
     "divided by N − K"),
    (lambda X, R, M: sum(_tied_scatter(X, R, M, k, centre=0.0) for k in range(R.shape[1])) / len(X), "not centred"),
    (lambda X, R, M: sum(_tied_scatter(X, R, M, k, centre=X.mean(0)) for k in range(R.shape[1])) / len(X),
     "centred on the overall mean"),
    (lambda X, R, M: sum(_tied_scatter(X, R, M, k, weight=False) for k in range(R.shape[1])) / len(X),
     "without the responsibilities"),
]  # fmt: skip


def _draw(weights, means, covariances, n, seed, *, labels="weights", factor="cholesky"):
    rng = np.random.default_rng(seed)
    K, D = means.shape
    z = rng.choice(K, size=n, p=weights) if labels == "weights" else rng.integers(K, size=n)
    if factor == "cholesky":
        L = np.linalg.cholesky(covariances)
    elif factor == "sigma":
        L = np.asarray(covariances)
    else:  # only the variances
        L = np.stack([np.diag(np.sqrt(np.diag(c))) for c in covariances])
    return means[z] + np.einsum("nij,nj->ni", L[z], rng.normal(size=(n, D))), z


def _draw_loop(weights, means, covariances, n, seed):
    rng = np.random.default_rng(seed)
    z = rng.choice(len(weights), size=n, p=weights)
    return np.array([rng.multivariate_normal(means[k], covariances[k]) for k in z]), z


SAMPLE = [
    (_draw, "pass"),
    (_draw_loop, "pass"),
    (lambda w, m, S, n, s: _draw(w, m, S, n, s, labels="uniform"), "labels drawn uniformly"),
    (lambda w, m, S, n, s: _draw(w, m, S, n, s, factor="sigma"), "Σ where its square root belongs"),
    (lambda w, m, S, n, s: _draw(w, m, S, n, s, factor="diagonal"), "only the variances"),
]

CORPUS = CORPUS + [("05-tied", a, e) for a, e in TIED] + [("05-sample", a, e) for a, e in SAMPLE]
