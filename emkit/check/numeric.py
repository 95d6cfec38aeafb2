"""Checks of the exercises whose answer is a numpy function (notebooks 01-05).

Each exercise is a :class:`~emkit.check.engine.FunctionExercise`: its cases,
the fields the answer returns, the expected values, and its table of known
mistakes. ``check_*(fn, seed=None)`` runs it: with ``seed=None`` on the
course's fixed cases (what the notebooks show), with a number on fresh random
cases of the same kinds (what the grader uses, so that a submission cannot
know the inputs in advance).
"""

from __future__ import annotations

import numpy as np

from .. import gmm
from .engine import Case, Field, FunctionExercise, Mistake, run
from .running import Received, call, read_number

__all__ = [
    "e_step",
    "kmeans_assign",
    "kmeans_update",
    "m_step",
    "map_covariance",
    "missing_conditional",
    "q_value",
    "responsibilities",
    "weighted_means",
]


def _fmt(a) -> str:
    return np.array2string(np.asarray(a, dtype=float), precision=4, suppress_small=True)


def _spd(rng, D):
    A = rng.normal(size=(D, D))
    return A @ A.T + 0.5 * np.eye(D)


def _sqd(X, C):
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)


def _clear_nearest(X, C) -> bool:
    """No point is (nearly) as close to two centres: the right labels are unambiguous."""
    d = np.sort(_sqd(X - X.mean(0), C - X.mean(0)), axis=1)
    return bool(np.all(d[:, 1] - d[:, 0] > 1e-6 * (1.0 + d[:, 1])))


# ---------------------------------------------------------------------------
# k-means (notebook 01)
# ---------------------------------------------------------------------------


def _kmeans_cases(rng):
    def draw(n, k, d, scale):
        while True:
            X = rng.normal(size=(n, d)) * scale
            C = rng.normal(size=(k, d)) * scale
            # the right labels are unambiguous, and slips that would all give one label to every point
            # (‖x‖² − ‖c‖², signed differences) point at different centres, so they can be told apart
            if _clear_nearest(X, C) and np.argmax((C**2).sum(1)) != np.argmax(C.sum(1)):
                return X, C

    X_small, C_small = draw(5, 3, 2, 2.5)
    X_big, C_big = draw(200, 4, 3, 3.0)
    X_far, C_far = draw(6, 3, 2, 2.0)
    out = []
    for name, X, C in [
        ("five points, three centres", X_small, C_small),
        ("200 points in 3-D, four centres", X_big, C_big),
        ("data far from the origin (+1e6)", X_far + 1e6, C_far + 1e6),
    ]:
        out.append(Case(name=name, args=(X, C), X=X, C=C, dims={"N": len(X), "K": len(C), "D": X.shape[1]}))
    return out


def _assign_explain(case, name, got, exp):
    wrong = np.flatnonzero(got != exp)
    i = int(wrong[0])
    d2 = ((case.X[i] - case.C) ** 2).sum(axis=1)
    return (
        f"{wrong.size} of {len(exp)} labels {'is' if wrong.size == 1 else 'are'} wrong. "
        f"Point {i}, x = {_fmt(case.X[i])}:\n"
        f"squared distances to the centres {_fmt(d2)}, so its label is {exp[i]}; you gave {got[i]}."
    )


def _assign_causes(c):
    N, K, D = c.dims["N"], c.dims["K"], c.dims["D"]
    return [
        ((K,), "the argmin ran over the points (axis=0): for each point take the argmin over the centres, axis=1."),
        ((N, K), "that is an N×K array (the distances, or one-hot rows): return one index per point, argmin(axis=1)."),
        ((N, D), "those are the nearest centres' coordinates; return their index (row number) instead."),
        ((), "argmin without axis= picks one number out of the whole matrix; use argmin(axis=1)."),
        ((N, K, D), "the differences were not reduced: sum the squares over the features (axis=2), then argmin."),
    ]


ASSIGN = FunctionExercise(
    title="k-means assignment step",
    signature="assign_step(X, centers) -> labels",
    fields=(Field("labels", shape=lambda c: (c.dims["N"],), integer=True, causes=_assign_causes),),
    cases=_kmeans_cases,
    expected=lambda c: {"labels": _sqd(c.X - c.X.mean(0), c.C - c.X.mean(0)).argmin(axis=1)},
    mistakes=(
        Mistake(
            "argmax instead of argmin",
            "you picked the farthest centre: argmin, not argmax.",
            lambda c: _sqd(c.X, c.C).argmax(1),
        ),
        Mistake(
            "labels counted from 1",
            "labels count from 0 in Python: the first centre is label 0 (drop the + 1).",
            lambda c: _sqd(c.X - c.X.mean(0), c.C - c.X.mean(0)).argmin(1) + 1,
        ),
        Mistake(
            "Manhattan (L1) distance",
            "you summed absolute differences; k-means assigns by the squared Euclidean distance Σ_d (x_d − c_d)².",
            lambda c: np.abs(c.X[:, None] - c.C[None]).sum(2).argmin(1),
        ),
        Mistake(
            "differences not squared",
            "summing the signed differences lets positive and negative ones cancel: square them before summing.",
            lambda c: (c.X[:, None] - c.C[None]).sum(2).argmin(1),
        ),
        Mistake(
            "squared differences summed over the centres (axis=1)",
            "X[:, None, :] - centers[None, :, :] has shape (N, K, D): summing over axis=1 adds up the centres and "
            "leaves one number per feature. Sum over the features (axis=2, the last), then take the argmin over "
            "the centres.",
            lambda c: ((c.X[:, None, :] - c.C[None, :, :]) ** 2).sum(axis=1).argmin(axis=1),
        ),
        Mistake(
            "only the first feature",
            "the distance must add up the squared differences over all D features (sum over axis=2).",
            lambda c: ((c.X[:, None, 0] - c.C[None, :, 0]) ** 2).argmin(1),
        ),
        Mistake(
            "the cross term −2 x·c is missing",
            "‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖²: the cross term −2 x·c is missing.",
            lambda c: ((c.X**2).sum(1)[:, None] + (c.C**2).sum(1)[None]).argmin(1),
        ),
        Mistake(
            "sign of the cross term",
            "‖x − c‖² = ‖x‖² − 2 x·c + ‖c‖²: the cross term has a minus sign.",
            lambda c: ((c.X**2).sum(1)[:, None] + 2 * c.X @ c.C.T + (c.C**2).sum(1)[None]).argmin(1),
        ),
        Mistake(
            "squared norms subtracted",
            "‖x − c‖² is not ‖x‖² − ‖c‖²: expand (x − c)·(x − c), or compute the differences first.",
            lambda c: ((c.X**2).sum(1)[:, None] - (c.C**2).sum(1)[None]).argmin(1),
        ),
    ),
    explain=_assign_explain,
    fallback="use the squared Euclidean distance to every centre and take the argmin over centres (axis=1).",
    default_seed=2024,
)


def kmeans_assign(fn, seed: int | None = None):
    """Check ``fn(X, centers) -> labels``: each point's nearest centre (0-based)."""
    return run(ASSIGN, fn, seed)


def _update_cases(rng):
    out = []
    for c in _kmeans_cases(rng):
        K = len(c.C)
        C0 = c.X[rng.choice(len(c.X), size=K, replace=False)]  # centres at data points: no cluster is empty
        labels = _sqd(c.X - c.X.mean(0), C0 - c.X.mean(0)).argmin(1)
        out.append(Case(name=c.name, args=(c.X, labels, K), X=c.X, labels=labels, K=K, dims=c.dims))
    X = rng.normal(size=(30, 2))
    labels = rng.permutation(np.r_[np.zeros(25, int), np.ones(4, int), 2])  # sizes 25, 4, 1
    out.append(
        Case(
            name="clusters of unequal sizes (25, 4 and 1 points)",
            args=(X, labels, 3),
            X=X,
            labels=labels,
            K=3,
            dims={"N": 30, "K": 3, "D": 2},
        )
    )
    return out


def _per_cluster(c, reduce):
    return np.stack([reduce(c.X[c.labels == k]) for k in range(c.K)])


def _sizes(c):
    return np.bincount(c.labels, minlength=c.K).astype(float)


def _update_explain(case, name, got, exp):
    err = np.abs(got - exp).max(axis=1)
    k = int(np.argmax(err))
    members = np.flatnonzero(case.labels == k)
    rows = ", ".join(map(str, members[:5])) + (", ..." if members.size > 5 else "")
    return f"centre {k} is {_fmt(got[k])}, but the mean of its {members.size} point(s) (rows {rows}) is {_fmt(exp[k])}."


UPDATE = FunctionExercise(
    title="k-means update step",
    signature="update_step(X, labels, n_clusters) -> centers",
    fields=(
        Field(
            "centers",
            shape=lambda c: (c.K, c.dims["D"]),
            causes=lambda c: [
                ((c.K,), "X[labels == k].mean() averages every entry; .mean(axis=0) gives one mean per feature."),
                ((c.dims["D"],), "one row only: build one centre per cluster, k = 0 .. n_clusters − 1."),
            ],
            rtol=1e-9,
            centre=lambda c: c.X.mean(0),
            axes=("cluster", "feature"),
        ),
    ),
    cases=_update_cases,
    expected=lambda c: {"centers": _per_cluster(c, lambda P: P.mean(axis=0))},
    mistakes=(
        Mistake(
            "divided by N",
            "you divided each cluster's sum by N, the total number of points; divide by the cluster's own size.",
            lambda c: _per_cluster(c, lambda P: P.sum(0)) / len(c.X),
        ),
        Mistake(
            "the sum, not the mean",
            "that is the sum of the points; divide by how many there are.",
            lambda c: _per_cluster(c, lambda P: P.sum(0)),
        ),
        Mistake(
            "n_k − 1 instead of n_k",
            "the mean divides by the cluster's size n_k; n_k − 1 belongs to unbiased variance estimates, not means.",
            lambda c: _per_cluster(c, lambda P: P.sum(0)) / (_sizes(c) - 1)[:, None],
        ),
        Mistake(
            "median instead of mean",
            "that is the median of each cluster; the update (the minimiser of the squared distances) is the mean.",
            lambda c: _per_cluster(c, lambda P: np.median(P, axis=0)),
        ),
        Mistake(
            "ignored the labels",
            "every centre is the mean of all the points: use only the points whose label is k (X[labels == k]).",
            lambda c: np.tile(c.X.mean(0), (c.K, 1)),
        ),
        Mistake(
            "the first point, not the mean",
            "that is the first point of each cluster; the centre is the mean of all its points.",
            lambda c: _per_cluster(c, lambda P: P[0]),
        ),
        Mistake(
            "labels shifted by one",
            "centre k should average the points with label k; your centres use the points with label k + 1.",
            lambda c: np.stack([c.X[c.labels == (k + 1) % c.K].mean(0) for k in range(c.K)]),
        ),
    ),
    explain=_update_explain,
    factors=lambda c, name: {
        "N / n_k": (len(c.X) / _sizes(c))[:, None],
        "n_k / (n_k − 1)": (_sizes(c) / (_sizes(c) - 1))[:, None],
    },
    fallback="centre k is the mean of the rows of X whose label is k: X[labels == k].mean(axis=0).",
    nonfinite_hint=lambda c, name: (
        "a centre came out NaN: the mean of an empty selection. Does labels == k select the points of "
        "cluster k (counting from 0)?"
    ),
    default_seed=7,
)


def kmeans_update(fn, seed: int | None = None):
    """Check ``fn(X, labels, n_clusters) -> centers``: each centre is the mean of its points."""
    return run(UPDATE, fn, seed)


# ---------------------------------------------------------------------------
# Soft assignment (notebook 02)
# ---------------------------------------------------------------------------


def _softmax_rows(L):
    m = L.max(axis=1, keepdims=True)
    e = np.exp(L - m)
    return e / e.sum(axis=1, keepdims=True)


def _resp_cases(rng):
    def log_joint(X, w, m, v):
        return np.log(w) - 0.5 * np.log(2 * np.pi * v) - (X - m) ** 2 / (2 * v)

    X = rng.normal(size=(6, 1)) * 2
    w, m, v = np.array([0.3, 0.7]), np.array([-1.0, 1.5]) + rng.normal(size=2) * 0.3, np.array([1.0, 0.5])
    moderate = log_joint(X, w, m, v)
    X_far = np.array([[40.0], [-35.0], [0.2]]) + rng.normal(size=(3, 1)) * 0.5
    extreme = log_joint(X_far, w, m, np.array([0.05, 0.05]))  # exp() underflows to 0 for the first rows
    three = rng.normal(size=(50, 3)) * 5 - 20
    square = rng.normal(size=(3, 3)) * 2 - 3
    deep = np.vstack([rng.normal(size=(2, 2)) - 800.0, rng.normal(size=(2, 2)) - 700.0])
    cases = [
        ("six points, two components", moderate),
        ("points far from every component (the naive formula gives 0/0)", extreme),
        ("log joint values near −800 and −700 (exp underflows below about −745)", deep),
        ("fifty points, three components, all log joint values below -20", three),
        ("three points, three components", square),
    ]
    return [Case(name=n, args=(L,), L=L, dims={"N": L.shape[0], "K": L.shape[1]}) for n, L in cases]


def _resp_explain(case, name, got, exp):
    i = int(np.argmax(np.abs(got - exp).max(axis=1)))
    return f"row {i}: log joint {_fmt(case.L[i])}\nexpected responsibilities {_fmt(exp[i])}, you gave {_fmt(got[i])}."


def _naive_resp(L):
    e = np.exp(L)
    return e / e.sum(axis=1, keepdims=True)


RESPONSIBILITIES = FunctionExercise(
    title="responsibilities from log joint probabilities",
    signature="responsibilities(log_joint_NK) -> resp_NK",
    fields=(
        Field(
            "responsibilities",
            shape=lambda c: (c.dims["N"], c.dims["K"]),
            causes=lambda c: [((c.dims["N"],), "a sum over the components without keepdims: one number per point.")],
            rtol=1e-8,
            atol=1e-9,
            axes=("point", "component"),
        ),
    ),
    cases=_resp_cases,
    expected=lambda c: {"responsibilities": _softmax_rows(c.L)},
    mistakes=(
        Mistake(
            "no log-sum-exp (0/0 = NaN)",
            "for these inputs every exp(log joint) in a row underflows to 0, so dividing gives 0/0 = NaN. "
            "Subtract each row's maximum before exponentiating (the log-sum-exp trick).",
            lambda c: _naive_resp(c.L),
        ),
        Mistake(
            "returned log-responsibilities",
            "these are log r_ik (log joint minus log-sum-exp): exponentiate them with np.exp.",
            lambda c: c.L - gmm.logsumexp(c.L)[:, None],
        ),
        Mistake(
            "normalised over the points (axis 0)",
            "each row (one point) must sum to 1: divide by the sum over components (axis=1), not over points.",
            lambda c: _softmax_rows(c.L.T).T,
        ),
        Mistake(
            "normalised over the points (axis 0)",
            "each row, one point, must sum to 1: after subtracting each row's maximum, divide by the row sums "
            "(sum over the components, axis=1), not by the column sums over the points (axis=0).",
            lambda c: (lambda e: e / e.sum(axis=0, keepdims=True))(np.exp(c.L - c.L.max(axis=1, keepdims=True))),
        ),
        Mistake(
            "not normalised",
            "exponentiating is half the job: divide each row by its sum so the responsibilities sum to 1.",
            lambda c: np.exp(c.L - c.L.max(axis=1, keepdims=True)),
        ),
        Mistake(
            "not normalised",
            "these are the joint probabilities exp(log joint): divide each row by its sum.",
            lambda c: np.exp(c.L),
        ),
        Mistake(
            "log values divided by their sum",
            "dividing the log joint values by their row sum is the 'share of the total' recipe on logs: "
            "exponentiate first, then divide by the row sum.",
            lambda c: c.L / c.L.sum(axis=1, keepdims=True),
        ),
        Mistake(
            "sign flipped (softmax of −log p)",
            "the most probable component must get the largest responsibility: use exp(+log joint), not exp(−...).",
            lambda c: _softmax_rows(-c.L),
        ),
        Mistake(
            "hard assignments",
            "those are one-hot (hard) assignments to the most probable component; responsibilities are the "
            "posterior probabilities, exp(log joint) normalised per row.",
            lambda c: np.eye(c.L.shape[1])[c.L.argmax(axis=1)],
        ),
        Mistake(
            "missing [:, None] broadcasting",
            "the row sums have shape (N,); without [:, None] (or keepdims=True) numpy divides column j by the "
            "sum of row j.",
            lambda c: np.exp(c.L - c.L.max(1, keepdims=True)) / np.exp(c.L - c.L.max(1, keepdims=True)).sum(1)[None],
        ),
        Mistake(
            "subtracted the overall maximum",
            "subtract each row's own maximum (max(axis=1, keepdims=True)); one maximum for the whole array still "
            "underflows in rows far below it.",
            lambda c: np.exp(c.L - c.L.max()) / np.exp(c.L - c.L.max()).sum(axis=1, keepdims=True),
        ),
        Mistake(
            "subtracted the row minimum",
            "subtract the row *maximum*: after subtracting the minimum the largest term can overflow.",
            lambda c: np.exp(c.L - c.L.min(1, keepdims=True)) / np.exp(c.L - c.L.min(1, keepdims=True)).sum(1)[:, None],
        ),
        Mistake(
            "normalised over the whole array",
            "divide each row by its own sum; dividing by the total of the whole array mixes points together.",
            lambda c: np.exp(c.L - c.L.max()) / np.exp(c.L - c.L.max()).sum(),
        ),
        Mistake(
            "returned the input",
            "these are the log joint values themselves: turn them into probabilities (exponentiate, normalise rows).",
            lambda c: c.L,
        ),
    ),
    explain=_resp_explain,
    fallback="exponentiate, then divide each row by its sum (after subtracting the row maximum).",
    nonfinite_hint=lambda c, name: (
        "for these inputs exp(log joint) under- or overflows. Subtract each row's maximum before exponentiating "
        "(the log-sum-exp trick)."
    ),
    default_seed=11,
)


def responsibilities(fn, seed: int | None = None):
    """Check ``fn(log_joint_NK) -> resp_NK``: the posterior p(z_i = k | x_i) from log π_k + log N(x_i | ...)."""
    return run(RESPONSIBILITIES, fn, seed)


def _wmeans_cases(rng):
    X1 = rng.normal(size=(8, 1))
    X2 = rng.normal(size=(40, 2)) * [1.0, 4.0] + 3
    labels = rng.integers(0, 3, size=40)
    labels[:3] = [0, 1, 2]
    X3 = rng.normal(size=(12, 3)) + 2
    cases = [
        ("1-D, two components", X1, rng.dirichlet([1.0, 1.0], size=8)),
        ("2-D, three components", X2, rng.dirichlet([0.5, 1.0, 2.0], size=40)),
        ("one-hot responsibilities (must give the k-means update)", X2, np.eye(3)[labels]),
        ("3-D, three components", X3, rng.dirichlet([1.0, 1.0, 1.0], size=12)),
    ]
    return [
        Case(name=n, args=(X, R), X=X, R=R, dims={"N": X.shape[0], "K": R.shape[1], "D": X.shape[1]})
        for n, X, R in cases
    ]


def _wmean(X, R):
    return (R.T @ X) / R.sum(axis=0)[:, None]


def _hard(R):
    return np.eye(R.shape[1])[R.argmax(axis=1)]


WEIGHTED_MEANS = FunctionExercise(
    title="weighted mean update (M-step for μ_k)",
    signature="weighted_means(X, resp_NK) -> means_KD",
    fields=(
        Field(
            "means",
            shape=lambda c: (c.dims["K"], c.dims["D"]),
            causes=lambda c: [
                ((c.dims["D"],), "one mean only: there is one weighted mean per component (K rows)."),
                ((c.dims["N"], c.dims["D"]), "one row per point: the sum over the points i is missing."),
                (
                    (c.dims["K"], c.dims["K"]),
                    "a K×D array divided by the K counts N_k without [:, None]: numpy lined up N_k with the "
                    "last axis and broadcast the result to K×K. Use N_k[:, None] so that row k is divided by N_k.",
                ),
                *(
                    [
                        (
                            (c.dims["K"], c.dims["N"]),
                            "the K sums were divided by N values, one per point: were the counts summed over the "
                            "components (axis=1)? N_k = Σ_i r_ik sums over the points (axis=0), one count per "
                            "component.",
                            "N_k summed over components (axis=1)",
                        )
                    ]
                    if c.dims["D"] == 1 and c.dims["N"] != c.dims["K"]
                    else []
                ),
            ],
            rtol=1e-9,
            centre=lambda c: c.X.mean(0),
            axes=("component", "feature"),
        ),
    ),
    cases=_wmeans_cases,
    expected=lambda c: {"means": _wmean(c.X, c.R)},
    mistakes=(
        Mistake(
            "divided by N",
            "you divided by N, the number of points (np.mean over the points does that); divide by "
            "N_k = Σ_i r_ik, component k's effective count.",
            lambda c: c.R.T @ c.X / len(c.X),
        ),
        Mistake(
            "unweighted mean",
            "that is the plain mean of all points: weight each point by its responsibility r_ik.",
            lambda c: np.tile(c.X.mean(0), (c.R.shape[1], 1)),
        ),
        Mistake(
            "the weighted sum, not the mean",
            "that is the weighted sum; divide it by N_k = Σ_i r_ik.",
            lambda c: c.R.T @ c.X,
        ),
        Mistake(
            "hard assignments",
            "you averaged each component's points with hard (argmax) labels; the M-step weights every point by r_ik.",
            lambda c: _wmean(c.X, _hard(c.R)),
        ),
        Mistake(
            "squared responsibilities",
            "the weights are r_ik, not r_ik²: Σ_i r_ik x_i / Σ_i r_ik.",
            lambda c: _wmean(c.X, c.R**2),
        ),
        Mistake(
            "the other component's responsibilities",
            "those are the other component's responsibilities (r_i2 for μ_1): use column k for μ_k.",
            lambda c: _wmean(c.X, c.R[:, ::-1]),
        ),
        Mistake(
            "divided by N_k − 1",
            "a mean divides by N_k = Σ_i r_ik; N_k − 1 belongs to unbiased variance estimates.",
            lambda c: c.R.T @ c.X / (c.R.sum(0) - 1)[:, None],
        ),
        Mistake(
            "missing [:, None] broadcasting",
            "the counts N_k have shape (K,); without [:, None] numpy divides column j (feature j) by N_j, the "
            "count of component j, instead of row k by N_k. (With K = D this runs without an error.)",
            lambda c: (c.R.T @ c.X) / c.R.sum(0)[None, :],
        ),
    ),
    factors=lambda c, name: {"N / N_k": (len(c.X) / c.R.sum(0))[:, None]},
    fallback="μ_k = Σ_i r_ik x_i / N_k with N_k = Σ_i r_ik.",
    default_seed=5,
)


def weighted_means(fn, seed: int | None = None):
    """Check ``fn(X, resp_NK) -> means_KD``: μ_k = Σ_i r_ik x_i / Σ_i r_ik."""
    return run(WEIGHTED_MEANS, fn, seed)


# ---------------------------------------------------------------------------
# The general algorithm (notebook 03)
# ---------------------------------------------------------------------------


def _conditional_cases(rng):
    cases = [
        ("positively correlated", np.array([0.0, 1.0, 2.5]) + rng.normal(size=3) * 0.1, np.array([1.0, 2.0]),
         np.array([[2.0, 0.6], [0.6, 1.0]])),
        ("negatively correlated", rng.normal(size=7), np.array([-1.0, 0.5]), np.array([[1.0, -0.7], [-0.7, 3.0]])),
        ("a random covariance, x₁ far from μ₁", rng.normal(size=5) * 10, rng.normal(size=2), _spd(rng, 2)),
    ]  # fmt: skip
    out = []
    for name, x1, mean, cov in cases:
        s11, s12, s22 = cov[0, 0], cov[0, 1], cov[1, 1]
        out.append(
            Case(
                name=name, args=(x1, mean, cov), x1=x1, m1=mean[0], m2=mean[1], s11=s11, s12=s12, s22=s22,
                dims={"len(x1)": len(x1)},
            )
        )  # fmt: skip
    return out


def _conditional_explain(case, name, got, exp):
    if name == "cond_var":
        return f"Var[x₂ | x₁] should be {float(exp):.6g}; you gave {float(got):.6g}"
    i = int(np.argmax(np.abs(got - exp)))
    return f"for x₁ = {case.x1[i]:.4g}: E[x₂ | x₁] should be {exp[i]:.6g}; you gave {got[i]:.6g}"


def _cm(c, slope=None, centre=None, base=None):
    slope = c.s12 / c.s11 if slope is None else slope
    centre = c.m1 if centre is None else centre
    base = c.m2 if base is None else base
    return base + slope * (c.x1 - centre)


def _sign_hint(c) -> str:
    """The sign slip, said for this case's correlation (positive or negative), whichever side of μ₁ x₁ is."""
    kind, same = ("positive", "the same sign as") if c.s12 > 0 else ("negative", "the opposite sign to")
    return (
        f"the correction is + (s₁₂ / s₁₁)(x₁ − μ₁): here s₁₂ = {c.s12:.4g} ({kind} correlation), so "
        f"E[x₂ | x₁] − μ₂ has {same} x₁ − μ₁; yours has the other sign."
    )


def _abs_slope_hint(c) -> str:
    return (
        f"the slope is s₁₂ / s₁₁ with its sign: here s₁₂ = {c.s12:.4g} < 0, a negative correlation, so a larger x₁ "
        "predicts a smaller x₂. A slope from √(s₁₂²), |s₁₂| or |ρ| loses that sign."
    )


MISSING_CONDITIONAL = FunctionExercise(
    title="missing-data E-step: E[x₂ | x₁] and Var[x₂ | x₁]",
    signature="conditional_x2(x1, mean, cov) -> (cond_mean, cond_var)",
    fields=(
        Field(
            "cond_mean",
            shape=lambda c: (c.dims["len(x1)"],),
            causes=lambda c: [
                (
                    (),
                    "one number where E[x₂ | x₁] needs one value per entry of x1 (per row with a missing x₂): "
                    "was it summed or averaged away?",
                )
            ],
            rtol=1e-9,
            atol=1e-12,
            axes=("point",),
        ),
        Field("cond_var", shape=None, per_row_number=True, rtol=1e-9, atol=1e-12),
    ),
    cases=_conditional_cases,
    expected=lambda c: {"cond_mean": _cm(c), "cond_var": c.s22 - c.s12**2 / c.s11},
    mistakes=(
        Mistake(
            "slope s₁₂/s₂₂ instead of s₁₂/s₁₁",
            "the regression coefficient is s₁₂ / s₁₁: divide by the variance of the *observed* x₁.",
            lambda c: _cm(c, slope=c.s12 / c.s22),
            "cond_mean",
        ),
        Mistake(
            "μ₂ left out",
            "add the mean μ₂: E[x₂ | x₁] = μ₂ + (s₁₂ / s₁₁)(x₁ − μ₁).",
            lambda c: _cm(c, base=0.0),
            "cond_mean",
        ),
        Mistake(
            "filled in the mean μ₂",
            "filling in μ₂ ignores what x₁ tells us about x₂ through s₁₂.",
            lambda c: np.full_like(c.x1, c.m2),
            "cond_mean",
        ),
        Mistake(
            "x₁ centred on μ₂",
            "centre the observed value on its own mean: (x₁ − μ₁), not (x₁ − μ₂).",
            lambda c: _cm(c, centre=c.m2),
            "cond_mean",
        ),
        Mistake(
            "means swapped",
            "E[x₂ | x₁] = μ₂ + (s₁₂ / s₁₁)(x₁ − μ₁): μ₂ outside, μ₁ inside the bracket.",
            lambda c: _cm(c, centre=c.m2, base=c.m1),
            "cond_mean",
        ),
        Mistake(
            "sign error in the conditional mean",
            _sign_hint,
            lambda c: _cm(c, slope=-c.s12 / c.s11),
            "cond_mean",
        ),
        Mistake(
            "the slope's sign lost (|s₁₂| or |ρ|)",
            _abs_slope_hint,
            lambda c: _cm(c, slope=abs(c.s12) / c.s11),
            "cond_mean",
        ),
        Mistake(
            "slope s₁₁/s₁₂ (inverted)",
            "the slope is s₁₂ / s₁₁ (covariance over the variance of x₁); yours is upside down.",
            lambda c: _cm(c, slope=c.s11 / c.s12),
            "cond_mean",
        ),
        Mistake(
            "s₁₂ not divided by s₁₁",
            "the slope is s₁₂ / s₁₁: divide the covariance by the variance of x₁.",
            lambda c: _cm(c, slope=c.s12),
            "cond_mean",
        ),
        Mistake(
            "copied x₁",
            "that is x₁ itself; E[x₂ | x₁] is a prediction of the missing coordinate from the observed one.",
            lambda c: c.x1,
            "cond_mean",
        ),
        Mistake(
            "no reduction of the variance",
            "knowing x₁ reduces the uncertainty: subtract s₁₂² / s₁₁ from s₂₂.",
            lambda c: c.s22,
            "cond_var",
        ),
        Mistake(
            "s₁₂ not squared",
            "the reduction is s₁₂² / s₁₁: the square of s₁₂ is missing.",
            lambda c: c.s22 - c.s12 / c.s11,
            "cond_var",
        ),
        Mistake(
            "divided by s₂₂ instead of s₁₁",
            "Var[x₂ | x₁] = s₂₂ − s₁₂² / s₁₁: divide by the variance of the observed x₁.",
            lambda c: c.s22 - c.s12**2 / c.s22,
            "cond_var",
        ),
        Mistake(
            "roles of x₁ and x₂ swapped",
            "that is Var[x₁ | x₂] = s₁₁ − s₁₂²/s₂₂; we need the variance of the missing x₂: s₂₂ − s₁₂²/s₁₁.",
            lambda c: c.s11 - c.s12**2 / c.s22,
            "cond_var",
        ),
        Mistake(
            "standard deviation for variance",
            "that is the conditional standard deviation; return the variance s₂₂ − s₁₂² / s₁₁ (no square root).",
            lambda c: np.sqrt(c.s22 - c.s12**2 / c.s11),
            "cond_var",
        ),
        Mistake(
            "the explained part, not the remaining variance",
            "s₁₂² / s₁₁ is how much knowing x₁ explains; the conditional variance is what is left: s₂₂ − s₁₂²/s₁₁.",
            lambda c: c.s12**2 / c.s11,
            "cond_var",
        ),
        Mistake(
            "sign error in the conditional variance",
            "conditioning can only reduce the variance: s₂₂ − s₁₂² / s₁₁, with a minus sign.",
            lambda c: c.s22 + c.s12**2 / c.s11,
            "cond_var",
        ),
        Mistake(
            "precision instead of variance",
            "that is the precision Λ₂₂ = 1 / Var[x₂ | x₁]; return the variance, its reciprocal.",
            lambda c: 1.0 / (c.s22 - c.s12**2 / c.s11),
            "cond_var",
        ),
        Mistake(
            "det Σ not divided by s₁₁",
            "s₁₁ s₂₂ − s₁₂² is det Σ; divide it by s₁₁: Var[x₂ | x₁] = s₂₂ − s₁₂² / s₁₁.",
            lambda c: c.s11 * c.s22 - c.s12**2,
            "cond_var",
        ),
    ),
    explain=_conditional_explain,
    wrong_order="E[x₂ | x₁] (one value per entry of x1) comes first, then the single number Var[x₂ | x₁].",
    factors=lambda c, name: {"s₁₁": c.s11, "1/s₁₁": 1 / c.s11},
    fallback="E[x₂ | x₁] = μ₂ + (s₁₂ / s₁₁)(x₁ − μ₁) and Var[x₂ | x₁] = s₂₂ − s₁₂² / s₁₁.",
    default_seed=3,
)


def missing_conditional(fn, seed: int | None = None):
    """Check ``fn(x1, mean, cov) -> (cond_mean, cond_var)`` for a bivariate Normal with x₂ missing.

    ``x1`` holds the observed first coordinates (one per row with a missing x₂), ``mean`` is (μ₁, μ₂)
    and ``cov`` the 2×2 covariance; the answer is E[x₂ | x₁] for each x₁
    (the shape of ``x1``) and Var[x₂ | x₁] (one number: it does not depend on x₁; one
    equal value per x₁ is accepted too).
    """
    return run(MISSING_CONDITIONAL, fn, seed)


# --- Q(θ | θᵗ) as a number ---------------------------------------------------------------


def _log_normal(X, means, covs, *, quad=-0.5, logdet=-0.5, precision=False, two_pi=True):
    """log N(x | μ_k, Σ_k) per point and component, with knobs that reproduce the usual slips."""
    N, D = X.shape
    out = np.empty((N, len(means)))
    for k, (m, S) in enumerate(zip(means, covs, strict=True)):
        A = S if precision else np.linalg.inv(S)
        d = X - m
        q = np.einsum("nd,de,ne->n", d, A, d)
        out[:, k] = quad * q + logdet * np.linalg.slogdet(S)[1] - (0.5 * D * np.log(2 * np.pi) if two_pi else 0)
    return out


def _q(X, R, w, m, c, **kw):
    return float(np.sum(R * (np.log(w) + _log_normal(X, m, c, **kw))))


def _rounded_spd(rng, D):
    """A covariance with entries of two decimals (printed exactly in a counterexample)."""
    while True:
        S = np.round(_spd(rng, D) * 0.6, 2)
        S = (S + S.T) / 2
        if np.linalg.eigvalsh(S).min() > 0.1:
            return S


def _q_theta(rng, K, D):
    w = np.round(rng.dirichlet(np.ones(K) * 3), 2)
    w[-1] = round(1.0 - w[:-1].sum(), 2)
    return w, np.round(rng.normal(size=(K, D)), 2), np.stack([_rounded_spd(rng, D) for _ in range(K)])


def _q_cases(rng):
    """Small data sets with short decimals: a counterexample prints everything needed to redo it.

    The learner's Q is evaluated at θb, then with one part of θ changed to θa's at a time (the weights π,
    then component 1's μ and Σ, then component 2's, ...), ending at θa. The differences along that path
    are compared: their sum is Q(θa) − Q(θb), and each one is the change of one part of Q.
    """
    out = []
    for name, N, D, K in [("1-D, two components", 5, 1, 2), ("2-D, three components", 6, 2, 3)]:
        while True:
            X = np.round(rng.normal(size=(N, D)) * 2, 2)
            R = np.round(rng.dirichlet(np.ones(K) * 2, size=N), 2)
            R[:, -1] = np.round(1.0 - R[:, :-1].sum(axis=1), 2)
            if R.min() >= 0.05:
                break
        a, b = _q_theta(rng, K, D), _q_theta(rng, K, D)
        path, here = [b], b
        for part in range(K + 1):  # part 0: the weights; part k + 1: component k's mean and covariance
            w, m, c = (np.array(v, copy=True) for v in here)
            if part == 0:
                w = a[0].copy()
            else:
                m[part - 1], c[part - 1] = a[1][part - 1], a[2][part - 1]
            here = (w, m, c)
            path.append(here)
        out.append(Case(name=name, args=None, X=X, R=R, thetas=path, a=a, b=b, dims={"N": N, "K": K, "D": D}))
    return out


def _q_values(c, q):
    values = [q(c.X, c.R, *theta) for theta in c.thetas]
    return np.diff(values)


def _q_evaluate(fn, case):
    values, float32 = [], False
    for w, m, cov in case.thetas:
        rec = read_number(call(fn, case.X, case.R, w, m, cov, dims=case.dims), "Q")
        float32 = float32 or rec.float32
        values.append(float(rec.array))
    return {"differences": Received(np.diff(values), [], float32)}


def _py(a) -> str:
    """An array as Python text that can be pasted into a cell: np.array([[0.3, 0.7], ...])."""
    return f"np.array({np.round(np.asarray(a, dtype=float), 6).tolist()})"


def _show_theta(theta) -> str:
    w, m, c = theta
    return f"({_py(w)}, {_py(m)}, {_py(c)})"


def _q_parts(c) -> list[str]:
    K = c.dims["K"]
    return ["the weights π (Σ_i Σ_k r_ik log π_k)"] + [
        f"component {k + 1}'s μ and Σ (Σ_i r_i{k + 1} log N(x_i | μ_{k + 1}, Σ_{k + 1}))" for k in range(K)
    ]


def _q_explain(case, name, got, exp):
    got, exp = np.asarray(got, dtype=float), np.asarray(exp, dtype=float)
    lines = [
        "a counterexample (paste these into a cell and call q_value(X, resp_NK, *theta_a) and with theta_b):",
        f"X = {_py(case.X)}",
        f"resp_NK = {_py(case.R)}",
        f"theta_a = {_show_theta(case.a)}  # (weights, means, covariances)",
        f"theta_b = {_show_theta(case.b)}",
        f"Q(θa | θᵗ) − Q(θb | θᵗ) should be {exp.sum():.6g}; yours gives {got.sum():.6g} "
        "(only differences are compared, so constants you dropped do not matter).",
    ]
    wrong = [k for k in range(len(exp)) if not np.isclose(got[k], exp[k], rtol=1e-7, atol=1e-8)]
    if wrong and len(wrong) < len(exp):
        lines.append("Changing one part of θ at a time (from θb's value to θa's), the part(s) of Q that differ:")
    elif wrong:
        lines.append("Changing one part of θ at a time (from θb's value to θa's), every part differs:")
    parts = _q_parts(case)
    for k in wrong:
        lines.append(f"  {parts[k]}: should change by {exp[k]:.6g}; yours by {got[k]:.6g}")
    return "\n".join(lines)


def _lse(L):
    m = L.max(axis=1, keepdims=True)
    return (m[:, 0] + np.log(np.exp(L - m).sum(axis=1))).sum()


Q_VALUE = FunctionExercise(
    title="Q(θ | θᵗ) for a Gaussian mixture",
    signature="q_value(X, resp_NK, weights, means, covariances) -> float",
    fields=(Field("differences", shape=lambda c: (2,), rtol=1e-8, atol=1e-8),),
    cases=_q_cases,
    expected=lambda c: {"differences": _q_values(c, _q)},
    evaluate=_q_evaluate,
    mistakes=(
        Mistake(
            "sign flipped",
            "the sign is flipped: Q is an expected log-likelihood (maximised), not a loss.",
            lambda c: -_q_values(c, _q),
        ),
        Mistake(
            "the log-likelihood instead of Q",
            "that is the log-likelihood log p(X | θ); Q averages the complete-data log-likelihood over r.",
            lambda c: _q_values(c, lambda X, R, w, m, cov: _lse(np.log(w) + _log_normal(X, m, cov))),
        ),
        Mistake(
            "log π_k missing",
            "your Q does not change when only the weights π change. In the complete data each point comes "
            "with its label, and the probability of drawing label k is π_k: p(x_i, z_i = k | θ) = π_k "
            "N(x_i | μ_k, Σ_k), so its log has a log π_k term, and the weights are parameters that the M-step "
            "must estimate from it. In code: add np.log(weights) (shape K, it broadcasts over the rows) to the "
            "N×K log-densities before weighting by resp_NK.",
            lambda c: _q_values(c, lambda X, R, w, m, cov: float(np.sum(R * _log_normal(X, m, cov)))),
        ),
        Mistake(
            "π_k without its log",
            "π_k entered without its log: the term is r_ik log π_k.",
            lambda c: _q_values(c, lambda X, R, w, m, cov: float(np.sum(R * (w + _log_normal(X, m, cov))))),
        ),
        Mistake(
            "log π_k not weighted by r_ik",
            "log π_k must be weighted by r_ik like the density term: Σ_i Σ_k r_ik log π_k, not N Σ_k log π_k.",
            lambda c: _q_values(
                c, lambda X, R, w, m, cov: float(len(X) * np.sum(np.log(w)) + np.sum(R * _log_normal(X, m, cov)))
            ),
        ),
        Mistake(
            "np.mean instead of a sum",
            "Q is a sum over the points (and components), not a mean: np.mean divides it by N·K.",
            lambda c: _q_values(c, _q) / (c.dims["N"] * c.dims["K"]),
        ),
        Mistake(
            "np.mean instead of a sum",
            "Q is a sum over the points, not a mean over them: yours is divided by N.",
            lambda c: _q_values(c, _q) / c.dims["N"],
        ),
        Mistake(
            "the density, not its log",
            "use the log-density log N(x_i | μ_k, Σ_k) (gmm.log_gaussian_density), not the density itself.",
            lambda c: _q_values(
                c, lambda X, R, w, m, cov: float(np.sum(R * (np.log(w) + np.exp(_log_normal(X, m, cov)))))
            ),
        ),
        Mistake(
            "a missing ½ on the quadratic term",
            "log N has −½ (x − μ)ᵀ Σ⁻¹ (x − μ): the ½ is missing.",
            lambda c: _q_values(c, lambda *a: _q(*a, quad=-1.0)),
        ),
        Mistake(
            "Σ in place of Σ⁻¹",
            "the quadratic term uses the inverse: (x − μ)ᵀ Σ⁻¹ (x − μ), not (x − μ)ᵀ Σ (x − μ).",
            lambda c: _q_values(c, lambda *a: _q(*a, precision=True)),
        ),
        Mistake(
            "sign error on the quadratic term",
            "the quadratic term enters with a minus sign: −½ (x − μ)ᵀ Σ⁻¹ (x − μ).",
            lambda c: _q_values(c, lambda *a: _q(*a, quad=0.5)),
        ),
        Mistake(
            "a missing ½ on log det Σ",
            "log N has −½ log det Σ: the ½ is missing.",
            lambda c: _q_values(c, lambda *a: _q(*a, logdet=-1.0)),
        ),
        Mistake(
            "log det Σ missing",
            "the normalising term −½ log det Σ_k is missing (it depends on θ, so it cannot be dropped).",
            lambda c: _q_values(c, lambda *a: _q(*a, logdet=0.0)),
        ),
        Mistake(
            "responsibilities missing",
            "every term must be weighted by r_ik: Q = Σ_i Σ_k r_ik (log π_k + log N(x_i | μ_k, Σ_k)).",
            lambda c: _q_values(c, lambda X, R, w, m, cov: float(np.sum(np.log(w) + _log_normal(X, m, cov)))),
        ),
        Mistake(
            "hard assignments",
            "you kept only each point's most likely component; Q weights every component by r_ik.",
            lambda c: _q_values(c, lambda X, R, w, m, cov: _q(X, _hard(R), w, m, cov)),
        ),
    ),
    explain=_q_explain,
    factors=lambda c, name: {"1/N": 1 / c.dims["N"], "2": 2.0, "½": 0.5},
    fallback="Q = Σ_i Σ_k r_ik [log π_k + log N(x_i | μ_k, Σ_k)], with r from the old θᵗ.",
    default_seed=8,
)


def q_value(fn, seed: int | None = None):
    """Check ``fn(X, resp_NK, weights, means, covariances) -> float``: Q(θ | θᵗ) for a Gaussian mixture.

    The responsibilities belong to the old θᵗ; (weights, means, covariances)
    is the θ being scored (full covariances). An answer that drops terms not
    depending on θ (such as the −(D/2) log 2π) is accepted: only differences
    Q(θa | θᵗ) − Q(θb | θᵗ) are compared.
    """
    return run(Q_VALUE, fn, seed)


# ---------------------------------------------------------------------------
# E-step and M-step in numpy (notebook 04), full covariances in D dimensions
# ---------------------------------------------------------------------------


def _gmm_cases(rng, far_point=False, offset=0.0):
    out = []
    for name, N, D, K in [
        ("1-D, two components", 10, 1, 2),
        ("2-D, three components", 30, 2, 3),
        ("3-D, two components", 40, 3, 2),
    ]:
        X = rng.normal(size=(N, D)) * 2 + offset
        w = rng.dirichlet(np.ones(K) * 2)
        m = rng.normal(size=(K, D)) * 2 + offset
        cov = np.stack([_spd(rng, D) for _ in range(K)])
        out.append(Case(name=name, X=X, w=w, m=m, cov=cov, dims={"N": N, "K": K, "D": D}))
    if far_point:
        c = out[1]
        X = np.vstack([c.X, [[80.0, -60.0]]])
        out.append(
            Case(name="a point far from every component", X=X, w=c.w, m=c.m, cov=c.cov * 0.05,
                 dims={"N": len(X), "K": c.dims["K"], "D": 2})
        )  # fmt: skip
    return out


def _estep_cases(rng):
    out = _gmm_cases(rng, far_point=True)
    for c in out:
        c.args = (c.X, c.w, c.m, c.cov)
    return out


def _estep_ref(X, w, m, cov, **kw):
    L = np.log(w) + _log_normal(X, m, cov, **kw)
    top = L.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(L - top).sum(axis=1))
    return np.exp(L - lse[:, None]), float(lse.sum())


def _estep_variant(field, **kw):
    def wrong(c):
        resp, ll = _estep_ref(c.X, c.w, c.m, c.cov, **kw)
        return resp if field == "resp_NK" else ll

    return wrong


def _joint(c):
    return np.log(c.w) + _log_normal(c.X, c.m, c.cov)


def _both(slip, message, variant):
    return (
        Mistake(slip, message, _estep_variant("resp_NK", **variant), "resp_NK"),
        Mistake(slip, message, _estep_variant("log_likelihood", **variant), "log_likelihood"),
    )


def _estep_explain(case, name, got, exp):
    if name == "log_likelihood":
        return f"log_likelihood should be {float(exp):.6g}; you gave {float(got):.6g}"
    i = int(np.argmax(np.abs(got - exp).max(axis=1)))
    return f"row {i}: responsibilities should be {_fmt(exp[i])}; you gave {_fmt(got[i])}"


E_STEP = FunctionExercise(
    title="E-step",
    signature="e_step(X, weights, means, covariances) -> (resp_NK, log_likelihood)",
    fields=(
        Field(
            "resp_NK",
            shape=lambda c: (c.dims["N"], c.dims["K"]),
            causes=lambda c: [
                ((c.dims["K"], c.dims["N"]), "transposed: one row per point, one column per component (N, K)."),
                (
                    (),
                    "a single number came first: the values are in the wrong order; return (resp_NK, log_likelihood).",
                ),
            ],
            rtol=1e-8,
            atol=1e-10,
            axes=("point", "component"),
        ),
        Field("log_likelihood", shape=None, rtol=1e-8, atol=1e-8),
    ),
    cases=_estep_cases,
    expected=lambda c: dict(zip(("resp_NK", "log_likelihood"), _estep_ref(c.X, c.w, c.m, c.cov), strict=True)),
    mistakes=(
        Mistake(
            "weights π_k missing",
            "the weights π_k are missing from the numerator (and denominator): r_ik ∝ π_k N(x_i | μ_k, Σ_k).",
            lambda c: _softmax_rows(_log_normal(c.X, c.m, c.cov)),
            "resp_NK",
        ),
        Mistake(
            "not normalised",
            "those are the joint probabilities π_k N(x_i | ...): divide each row by its sum over components.",
            lambda c: np.exp(_joint(c)),
            "resp_NK",
        ),
        Mistake(
            "returned log-responsibilities",
            "these are log r_ik: exponentiate them.",
            lambda c: np.log(_estep_ref(c.X, c.w, c.m, c.cov)[0]),
            "resp_NK",
        ),
        Mistake(
            "normalised over the points (axis 0)",
            "each row (one point) must sum to 1 over the components (axis=1).",
            lambda c: _softmax_rows(_joint(c).T).T,
            "resp_NK",
        ),
        Mistake(
            "hard assignments",
            "those are one-hot (hard) assignments; the E-step gives posterior probabilities.",
            lambda c: np.eye(c.dims["K"])[_joint(c).argmax(1)],
            "resp_NK",
        ),
        Mistake(
            "no log-sum-exp (0/0 = NaN)",
            "far from every component the densities underflow to 0: work with log densities and the "
            "log-sum-exp trick (subtract each row's maximum before exponentiating).",
            lambda c: np.exp(_joint(c)) / np.exp(_joint(c)).sum(1, keepdims=True),
            "resp_NK",
        ),
        Mistake(
            "Σ⁻¹ used as Σ",
            "the densities were evaluated with the inverse matrices as covariances: `covariances` holds Σ_k "
            "itself (inverting it gives the precision); use it as the covariance of N(x | μ_k, Σ_k).",
            lambda c: _estep_ref(c.X, c.w, c.m, np.linalg.inv(c.cov))[0],
            "resp_NK",
        ),
        Mistake(
            "Σ⁻¹ used as Σ",
            "the densities were evaluated with the inverse matrices as covariances: `covariances` holds Σ_k "
            "itself (inverting it gives the precision); use it as the covariance of N(x | μ_k, Σ_k).",
            lambda c: _estep_ref(c.X, c.w, c.m, np.linalg.inv(c.cov))[1],
            "log_likelihood",
        ),
        *_both(
            "Σ in place of Σ⁻¹",
            "the quadratic form uses the inverse: (x − μ)ᵀ Σ⁻¹ (x − μ), not (x − μ)ᵀ Σ (x − μ).",
            {"precision": True},
        ),
        *_both(
            "a missing ½ on the quadratic term",
            "log N(x | μ, Σ) has −½ (x − μ)ᵀ Σ⁻¹ (x − μ): the ½ is missing.",
            {"quad": -1.0},
        ),
        *_both(
            "sign error on the quadratic term",
            "the quadratic term enters log N with a minus sign: −½ (x − μ)ᵀ Σ⁻¹ (x − μ).",
            {"quad": 0.5},
        ),
        *_both("a missing ½ on log det Σ", "log N(x | μ, Σ) has −½ log det Σ: the ½ is missing.", {"logdet": -1.0}),
        Mistake(
            "no log-sum-exp (0/0 = NaN)",
            "far from every component the densities underflow to 0, so log(0) = −inf: use log-sum-exp.",
            lambda c: float(np.sum(np.log(np.exp(_joint(c)).sum(1)))),
            "log_likelihood",
        ),
        Mistake(
            "average instead of sum",
            "that is the average per point; return the sum over the points.",
            lambda c: _estep_ref(c.X, c.w, c.m, c.cov)[1] / c.dims["N"],
            "log_likelihood",
        ),
        Mistake(
            "summed the log joint over components",
            "log p(x_i) is the log of a *sum* over components: log Σ_k π_k N(x_i | ...) (log-sum-exp), "
            "not Σ_k log(π_k N(x_i | ...)).",
            lambda c: float(np.sum(_joint(c))),
            "log_likelihood",
        ),
        Mistake(
            "only the largest term",
            "the log of the largest term is not the log of the sum: add log Σ_k exp(a_k − max) to the maximum.",
            lambda c: float(np.sum(_joint(c).max(axis=1))),
            "log_likelihood",
        ),
        Mistake(
            "Q(θᵗ | θᵗ), not the log-likelihood",
            "Σ_i Σ_k r_ik log p(x_i, k) is Q at θᵗ, not log p(X | θᵗ): the difference is the entropy of r.",
            lambda c: float(np.sum(_estep_ref(c.X, c.w, c.m, c.cov)[0] * _joint(c))),
            "log_likelihood",
        ),
        Mistake(
            "weights missing in the log-likelihood",
            "log p(x_i) = log Σ_k π_k N(x_i | μ_k, Σ_k): the weights π_k are missing.",
            lambda c: _lse(_log_normal(c.X, c.m, c.cov)),
            "log_likelihood",
        ),
        Mistake(
            "sign flipped",
            "the log-likelihood is log p(X | θ); yours has the opposite sign (a negative log-likelihood?).",
            lambda c: -_estep_ref(c.X, c.w, c.m, c.cov)[1],
            "log_likelihood",
        ),
    ),
    explain=_estep_explain,
    factors=lambda c, name: {"1/N": 1 / c.dims["N"]},
    fallback="r_ik = π_k N(x_i|μ_k,Σ_k) / Σ_j π_j N(x_i|μ_j,Σ_j) and log-likelihood Σ_i log Σ_k π_k N(x_i|μ_k,Σ_k).",
    nonfinite_hint=lambda c, name: (
        "the densities underflow to 0 far from every component. Work with log densities and the log-sum-exp trick."
    ),
    default_seed=21,
)


def e_step(fn, seed: int | None = None):
    """Check ``fn(X, weights, means, covariances) -> (resp_NK, log_likelihood)`` (full covariances)."""
    return run(E_STEP, fn, seed)


def _mstep_cases(rng):
    out = _gmm_cases(rng, offset=5.0)  # data off the origin: not centring shows
    for c in out:
        c.R = rng.dirichlet(np.ones(c.dims["K"]), size=c.dims["N"])
        c.args = (c.X, c.R)
    return out


def _mstep_ref(X, R):
    Nk = R.sum(0)
    means = R.T @ X / Nk[:, None]
    covs = np.stack([(R[:, k, None] * (X - means[k])).T @ (X - means[k]) / Nk[k] for k in range(R.shape[1])])
    return Nk / len(X), means, covs


def _scatter(X, R, centres, divisor):
    return np.stack([(R[:, k, None] * (X - centres[k])).T @ (X - centres[k]) / divisor[k] for k in range(R.shape[1])])


def _cov_mistake(slip, message, fn):
    return Mistake(slip, message, fn, "covariances")


def _mstep_explain(case, name, got, exp):
    if name == "covariances":
        k = int(np.argmax(np.abs(got - exp).reshape(len(exp), -1).max(axis=1)))
        return f"covariances[{k}] should be\n{_fmt(exp[k])}\nyou gave\n{_fmt(got[k])}"
    if name == "means":
        k = int(np.argmax(np.abs(got - exp).max(axis=1)))
        return f"means[{k}] should be {_fmt(exp[k])}; you gave {_fmt(got[k])}"
    return f"weights should be {_fmt(exp)}; you gave {_fmt(got)}"


def _m_factors(c, name):
    Nk = c.R.sum(0)
    shape = (-1, 1, 1) if name == "covariances" else (-1, 1)
    per = {
        "N_k / (N_k − 1)": (Nk / (Nk - 1)).reshape(shape),
        "N_k / N": (Nk / len(c.X)).reshape(shape),
        "N / N_k": (len(c.X) / Nk).reshape(shape),
    }
    if name == "weights":
        per = {"N": float(len(c.X))}
    return {**per, "2": 2.0, "½": 0.5}


M_STEP = FunctionExercise(
    title="M-step",
    signature="m_step(X, resp_NK) -> (weights, means, covariances)",
    fields=(
        Field(
            "weights",
            shape=lambda c: (c.dims["K"],),
            rtol=1e-9,
            causes=lambda c: [
                (
                    (c.dims["K"], c.dims["D"]),
                    "that is the means' shape: return (weights, means, covariances) in this order.",
                ),
                (
                    (c.dims["K"], c.dims["D"], c.dims["D"]),
                    "that is the covariances' shape: return (weights, means, covariances) in this order.",
                ),
            ],
            axes=("component",),
        ),
        Field(
            "means",
            shape=lambda c: (c.dims["K"], c.dims["D"]),
            rtol=1e-9,
            centre=lambda c: c.X.mean(0),
            axes=("component", "feature"),
        ),
        Field(
            "covariances",
            shape=lambda c: (c.dims["K"], c.dims["D"], c.dims["D"]),
            causes=lambda c: [
                (
                    (c.dims["K"], c.dims["N"], c.dims["N"]),
                    "N×N outer products (x − μ)ᵀ(x − μ) across points; each covariance is D×D: "
                    "Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / N_k, i.e. (r_k[:, None] * d).T @ d / N_k.",
                ),
                ((c.dims["K"], c.dims["D"]), "only the variances (the diagonal): return full D×D matrices."),
                (
                    (c.dims["D"], c.dims["D"], c.dims["K"]),
                    "the component axis is last; the course's convention puts it first: (K, D, D) "
                    "(np.stack(..., axis=0)).",
                ),
                ((c.dims["D"], c.dims["D"]), "one matrix only: there is one covariance per component."),
            ],
            rtol=1e-8,
            atol=1e-10,
            axes=("component", "feature", "feature"),
        ),
    ),
    cases=_mstep_cases,
    expected=lambda c: dict(zip(("weights", "means", "covariances"), _mstep_ref(c.X, c.R), strict=True)),
    mistakes=(
        Mistake(
            "weights not normalised",
            "those are the counts N_k; the weights must sum to 1: π_k = N_k / N.",
            lambda c: c.R.sum(0),
            "weights",
        ),
        Mistake(
            "equal weights",
            "the weights are not all 1/K: π_k = N_k / N, the average responsibility of component k.",
            lambda c: np.full(c.dims["K"], 1.0 / c.dims["K"]),
            "weights",
        ),
        Mistake(
            "hard assignments",
            "you counted hard (argmax) labels; π_k = Σ_i r_ik / N uses the soft responsibilities.",
            lambda c: _hard(c.R).mean(0),
            "weights",
        ),
        Mistake(
            "divided by N",
            "you divided the weighted sums by N; divide by N_k = Σ_i r_ik.",
            lambda c: c.R.T @ c.X / len(c.X),
            "means",
        ),
        Mistake(
            "unweighted mean",
            "that is the plain mean of all points: weight each point by r_ik.",
            lambda c: np.tile(c.X.mean(0), (c.dims["K"], 1)),
            "means",
        ),
        Mistake("the weighted sum, not the mean", "divide the weighted sum by N_k.", lambda c: c.R.T @ c.X, "means"),
        Mistake(
            "hard assignments",
            "you averaged with hard (argmax) labels; the M-step weights every point by r_ik.",
            lambda c: _mstep_ref(c.X, _hard(c.R))[1],
            "means",
        ),
        _cov_mistake(
            "N_k − 1 instead of N_k",
            "you divided by N_k − 1 (the 'unbiased' correction); the M-step maximises Q, which gives N_k.",
            lambda c: _scatter(c.X, c.R, _mstep_ref(c.X, c.R)[1], c.R.sum(0) - 1),
        ),
        _cov_mistake(
            "np.cov without bias=True",
            "np.cov(X.T, aweights=r_k) divides by N_k − Σ_i r_ik² / N_k (a correction for 'reliability weights'); "
            "the M-step divides by N_k: pass bias=True, or compute Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / N_k yourself.",
            lambda c: _scatter(c.X, c.R, _mstep_ref(c.X, c.R)[1], c.R.sum(0) - (c.R**2).sum(0) / c.R.sum(0)),
        ),
        _cov_mistake(
            "divided by N",
            "you divided by N; divide by N_k = Σ_i r_ik.",
            lambda c: _scatter(c.X, c.R, _mstep_ref(c.X, c.R)[1], np.full(c.dims["K"], float(len(c.X)))),
        ),
        _cov_mistake(
            "covariance without the responsibilities",
            "the covariance needs the responsibility weights r_ik on each outer product.",
            lambda c: np.stack([(c.X - m).T @ (c.X - m) / len(c.X) for m in _mstep_ref(c.X, c.R)[1]]),
        ),
        _cov_mistake(
            "covariance without the responsibilities",
            "the covariance needs the responsibility weights r_ik on each outer product (and N_k below).",
            lambda c: np.stack(
                [(c.X - m).T @ (c.X - m) / nk for m, nk in zip(_mstep_ref(c.X, c.R)[1], c.R.sum(0), strict=True)]
            ),
        ),
        _cov_mistake(
            "not centred",
            "not centred: use (x_i − μ_k), or subtract μ_k μ_kᵀ from the weighted second moment.",
            lambda c: _scatter(c.X, c.R, np.zeros_like(_mstep_ref(c.X, c.R)[1]), c.R.sum(0)),
        ),
        _cov_mistake(
            "centred on the overall mean",
            "you centred every component on the mean of all the data; centre component k on its own new mean μ_k.",
            lambda c: _scatter(c.X, c.R, np.tile(c.X.mean(0), (c.dims["K"], 1)), c.R.sum(0)),
        ),
        _cov_mistake(
            "centred on a hard-label mean",
            "you centred on the mean of the points assigned (argmax) to k; centre on the weighted mean μ_k.",
            lambda c: _scatter(c.X, c.R, _mstep_ref(c.X, _hard(c.R))[1], c.R.sum(0)),
        ),
        _cov_mistake(
            "precision (Σ⁻¹) instead of Σ",
            "that is the inverse of the covariance (the precision Σ⁻¹); return Σ_k itself.",
            lambda c: np.linalg.inv(_mstep_ref(c.X, c.R)[2]),
        ),
        _cov_mistake(
            "standard deviation for variance",
            "you took square roots of the entries; a covariance matrix holds variances (no square root).",
            lambda c: np.sqrt(np.abs(_mstep_ref(c.X, c.R)[2])),
        ),
        _cov_mistake(
            "hard assignments",
            "you used hard (argmax) labels; every point contributes to every component, weighted by r_ik.",
            lambda c: _mstep_ref(c.X, _hard(c.R))[2],
        ),
        _cov_mistake(
            "squared responsibilities",
            "the weights are r_ik, not r_ik²: Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / N_k.",
            lambda c: _scatter(c.X, c.R**2, _mstep_ref(c.X, c.R)[1], c.R.sum(0)),
        ),
    ),
    explain=_mstep_explain,
    factors=_m_factors,
    fallback="π_k = N_k/N, μ_k = Σ_i r_ik x_i / N_k, Σ_k = Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / N_k.",
    default_seed=22,
)


def m_step(fn, seed: int | None = None):
    """Check ``fn(X, resp_NK) -> (weights, means, covariances)`` (full covariances, no regularisation)."""
    return run(M_STEP, fn, seed)


# ---------------------------------------------------------------------------
# MAP-EM (notebook 05)
# ---------------------------------------------------------------------------


def _map_cases(rng):
    cases = []
    for name, D, Nk, nu in (
        ("2-D, a well-supported component", 2, 40.0, 4.0),
        ("3-D, a component on two points (its scatter is singular)", 3, 1.6, 5.0),
        ("1-D", 1, 7.5, 3.0),
        ("5-D", 5, 20.0, 8.0),
    ):
        if "singular" in name:
            v = rng.normal(size=(D, 1))
            S = Nk * (v @ v.T)  # rank one: the maximum-likelihood Σ would not be invertible
        else:
            S = Nk * _spd(rng, D)
        Psi = 0.1 * _spd(rng, D)
        cases.append(Case(name=name, args=(S, Nk, Psi, nu), S=S, Nk=Nk, Psi=Psi, nu=nu, D=D, dims={"D": D}))
    return cases


def _map(c, scale=None, count=None):
    scale = c.Psi if scale is None else scale
    count = c.Nk + c.nu + c.D + 1 if count is None else count
    return (c.S + scale) / count


MAP_COVARIANCE = FunctionExercise(
    title="the MAP covariance update (an inverse-Wishart prior)",
    signature="map_covariance(scatter_DD, count, prior_scale_DD, prior_dof) -> Sigma_DD",
    fields=(
        Field(
            "Sigma",
            shape=lambda c: (c.dims["D"], c.dims["D"]),
            causes=lambda c: [((), "one number: Σ is a D×D matrix (the scatter plus the prior scale, over a count).")],
            rtol=1e-9,
            axes=("feature", "feature"),
        ),
    ),
    cases=_map_cases,
    expected=lambda c: {"Sigma": _map(c)},
    mistakes=(
        Mistake(
            "no prior (the ML update)",
            "that is the maximum-likelihood update S/N_k: the prior adds Ψ to the scatter and ν + D + 1 to the count.",
            lambda c: c.S / c.Nk,
        ),
        Mistake(
            "the prior scale left out",
            "the count is right but Ψ is missing from the numerator: Σ = (S + Ψ)/(N_k + ν + D + 1).",
            lambda c: _map(c, scale=0.0),
        ),
        Mistake(
            "Ψ⁻¹ for Ψ",
            "you added Ψ⁻¹; the inverse-Wishart's scale Ψ is added as it is (it is a scatter, like S).",
            lambda c: _map(c, scale=np.linalg.inv(c.Psi)),
        ),
        Mistake(
            "the posterior mean, not its mode",
            "N_k + ν - D - 1 in the denominator gives the posterior *mean* of Σ; the M-step takes the maximum, "
            "the *mode*, with N_k + ν + D + 1.",
            lambda c: _map(c, count=c.Nk + c.nu - c.D - 1),
        ),
        Mistake(
            "D + 1 missing from the count",
            "the denominator is N_k + ν + D + 1: the prior's log det term contributes (ν + D + 1)/2, not ν/2.",
            lambda c: _map(c, count=c.Nk + c.nu),
        ),
        Mistake(
            "the count one short",
            "your denominator is N_k + ν + D, one short of N_k + ν + D + 1: a lost + 1, or N_k - 1 in place of "
            "N_k (N_k - 1 belongs to unbiased variance estimates, not to an M-step).",
            lambda c: _map(c, count=c.Nk + c.nu + c.D),
        ),
    ),
    factors=lambda c, name: {"N_k / (N_k + ν + D + 1)": c.Nk / (c.Nk + c.nu + c.D + 1)},
    fallback=(
        "write the prior's log-density beside the likelihood's part of Q: both are −(count/2) log det Σ − "
        "½ tr(scatter · Σ⁻¹), so their sum has that form too. What are its count and its scatter? Then maximise "
        "it as notebook 04 maximised the likelihood part alone."
    ),
    default_seed=13,
)


def map_covariance(fn, seed: int | None = None):
    """Check ``fn(scatter_DD, count, prior_scale_DD, prior_dof) -> Sigma_DD``: (S + Ψ)/(N_k + ν + D + 1)."""
    return run(MAP_COVARIANCE, fn, seed)
