"""Checks of notebook 05's further exercises: the tied covariance, and sampling from a fitted mixture.

* :func:`tied_covariance`: ``tied_covariance(X, resp_NK, means_KD) -> cov_DD``, the one covariance all
  components share, Σ = Σ_k Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / N. A table of slips (dividing by
  N_k or K, averaging the per-component covariances without weights, forgetting to centre, ...).
* :func:`sample_mixture`: ``sample_mixture(weights, means, covariances, n, seed) -> (X_nD, z_n)``,
  n points drawn from the mixture with their component labels. Judged statistically on 20,000
  points: the labels' counts against the weights (a χ² test), and each component's points against
  its mean and covariance (tolerances a few standard errors wide); a wrong answer is compared with
  what each known slip would give (labels drawn uniformly, Σ used where its square root belongs,
  only the variances, one component for every point).
"""

from __future__ import annotations

import numpy as np

from .engine import Case, Field, FunctionExercise, Mistake, run
from .registry import Exercise
from .results import CheckResult, Part
from .running import AnswerFailed, NotAnswered, call, read_array

__all__ = ["EXERCISES", "sample_mixture", "tied_covariance"]


def _fmt(a) -> str:
    return np.array2string(np.asarray(a, dtype=float), precision=4, suppress_small=True)


def _spd(rng, D):
    A = rng.normal(size=(D, D))
    return A @ A.T + D * np.eye(D)


# ---------------------------------------------------------------------------
# The tied covariance
# ---------------------------------------------------------------------------


def _tied_cases(rng):
    cases = []
    for name, N, K, D in (("2-D, two components", 40, 2, 2), ("3-D, three components", 60, 3, 3), ("1-D", 25, 2, 1)):
        means = rng.normal(scale=3.0, size=(K, D)) + 5.0  # off the origin: not centring shows
        X = means[rng.integers(K, size=N)] + rng.normal(size=(N, D))
        R = rng.dirichlet(np.ones(K), size=N)
        M = R.T @ X / R.sum(0)[:, None]
        cases.append(Case(name=name, args=(X, R, M), X=X, R=R, M=M, dims={"N": N, "K": K, "D": D}))
    return cases


def _scatters(c, centres=None, weights=None):
    centres = c.M if centres is None else centres
    weights = c.R if weights is None else weights
    return np.stack([(weights[:, k, None] * (c.X - centres[k])).T @ (c.X - centres[k]) for k in range(c.R.shape[1])])


def _tied(c):
    return _scatters(c).sum(0) / len(c.X)


TIED = FunctionExercise(
    title="the tied covariance",
    signature="tied_covariance(X, resp_NK, means_KD) -> cov_DD",
    fields=(
        Field(
            "covariance",
            shape=lambda c: (c.dims["D"], c.dims["D"]),
            causes=lambda c: [
                ((c.dims["K"], c.dims["D"], c.dims["D"]), "one covariance per component: tied means ONE, shared."),
                ((c.dims["D"],), "only the variances: return the full D×D matrix."),
            ],
        ),
    ),
    cases=_tied_cases,
    expected=lambda c: {"covariance": _tied(c)},
    mistakes=(
        Mistake(
            "unweighted average of the components' covariances",
            "you averaged the K covariances S_k / N_k with equal weight; the tied M-step pools the scatters: "
            "(Σ_k S_k) / N, which weights each component by its N_k.",
            lambda c: (_scatters(c) / c.R.sum(0)[:, None, None]).mean(0),
        ),
        Mistake(
            "divided by K",
            "you divided the pooled scatter by K; it is a sum over all N points (weighted), so divide by N.",
            lambda c: _scatters(c).sum(0) / c.R.shape[1],
        ),
        Mistake(
            "divided by N − K",
            "N − K is the unbiased correction of a pooled variance; the M-step maximises Q, which gives N.",
            lambda c: _scatters(c).sum(0) / (len(c.X) - c.R.shape[1]),
        ),
        Mistake(
            "not centred",
            "not centred: use (x_i − μ_k), each point about its component's mean.",
            lambda c: _scatters(c, centres=np.zeros_like(c.M)).sum(0) / len(c.X),
        ),
        Mistake(
            "centred on the overall mean",
            "you centred every point on the mean of all the data; centre on each component's mean μ_k: the tied "
            "covariance is the spread *within* the components.",
            lambda c: _scatters(c, centres=np.tile(c.X.mean(0), (c.R.shape[1], 1))).sum(0) / len(c.X),
        ),
        Mistake(
            "without the responsibilities",
            "every point entered every component's scatter with weight 1; weight each by r_ik.",
            lambda c: _scatters(c, weights=np.ones_like(c.R)).sum(0) / len(c.X),
        ),
    ),
    explain=lambda c, name, got, exp: f"the covariance should be\n{_fmt(exp)}\nyou gave\n{_fmt(got)}",
    fallback="Σ = Σ_k Σ_i r_ik (x_i − μ_k)(x_i − μ_k)ᵀ / N: the components' scatters pooled, divided by N.",
    default_seed=31,
)


def tied_covariance(fn, seed: int | None = None):
    """Check ``fn(X, resp_NK, means_KD) -> cov_DD``: the covariance shared by every component."""
    return run(TIED, fn, seed)


# ---------------------------------------------------------------------------
# Sampling from a mixture
# ---------------------------------------------------------------------------

N_SAMPLE = 20_000


def _sample_case(rng):
    weights = np.array([0.6, 0.3, 0.1])
    means = np.array([[0.0, 0.0], [5.0, 1.0], [-2.0, 6.0]])
    covs = np.stack([np.array([[2.0, 1.2], [1.2, 1.5]]), np.array([[0.5, -0.3], [-0.3, 1.0]]), 3.0 * np.eye(2)])
    seed = int(rng.integers(2**31))
    return weights, means, covs, seed


def _stats(X, z, K):
    counts = np.bincount(z, minlength=K).astype(float)
    means = np.stack([X[z == k].mean(0) if counts[k] > 1 else np.full(X.shape[1], np.nan) for k in range(K)])
    covs = np.stack([np.cov(X[z == k].T) if counts[k] > 2 else np.full((2, 2), np.nan) for k in range(K)])
    return counts, means, covs


def _slip_stats(weights, means, covs):
    """What each known slip gives, in the limit: (name, message, weights, covariances)."""
    K = len(weights)
    return [
        ("labels drawn uniformly", "the labels must follow the weights: rng.choice(K, size=n, p=weights).",
         np.full(K, 1 / K), covs),
        ("Σ where its square root belongs",
         "x = μ + Σ z has covariance Σ Σᵀ = Σ², not Σ; use a square root of Σ: μ + L z with L = cholesky(Σ), "
         "or rng.multivariate_normal(μ, Σ).", weights, np.stack([c @ c.T for c in covs])),
        ("only the variances",
         "the points of a component have the right variances but no correlation: draw from the full covariance "
         "(off-diagonal entries too).", weights, np.stack([np.diag(np.diag(c)) for c in covs])),
        ("standard deviations as variances",
         "x = μ + sqrt(Σ) z elementwise does not give covariance Σ off the diagonal (and not at all for negative "
         "entries); use the Cholesky factor.", weights,
         np.stack([np.sqrt(np.abs(c)) @ np.sqrt(np.abs(c)) for c in covs])),
    ]  # fmt: skip


def _chi2_upper(df: int, z: float = 3.719) -> float:
    """The χ² value exceeded with probability about 1e-4 (z = 3.719), by Wilson and Hilferty's approximation.

    (numpy only: the checks run in the learner's kernel, where SciPy need not be installed.)
    """
    a = 2.0 / (9.0 * df)
    return df * (1.0 - a + z * np.sqrt(a)) ** 3


def sample_mixture(fn, seed: int | None = None) -> CheckResult:
    """Check ``fn(weights, means, covariances, n, seed) -> (X_nD, z_n)`` statistically, on 20,000 draws."""
    title = "sampling from a mixture"
    rng = np.random.default_rng(41 if seed is None else seed)
    weights, means, covs, answer_seed = _sample_case(rng)
    K, D, n = len(weights), means.shape[1], N_SAMPLE
    name = f"{n} points from a 2-D mixture of {K} components (weights {weights.tolist()})"
    try:
        out = call(fn, weights, means, covs, n, answer_seed)
        if not isinstance(out, tuple | list) or len(out) != 2:
            raise AnswerFailed(
                f"return two values, (X, z): the points and their component labels; got {type(out).__name__}"
            )
        X = read_array(out[0], "X", (n, D), {"n": n, "D": D}).array
        z = read_array(out[1], "z", (n,), {"n": n}, integer=True).array
    except NotAnswered:
        return CheckResult(title, [Part(name, False, "not answered yet", answered=False)])
    except AnswerFailed as exc:
        return CheckResult(title, [Part(name, False, str(exc), slip=exc.slip)])
    if z.min() < 0 or z.max() >= K:
        return CheckResult(
            title, [Part(name, False, f"the labels z must be component indices 0..{K - 1}; got {z.min()}..{z.max()}")]
        )
    counts, got_means, got_covs = _stats(X, z, K)
    parts = []
    stat = float(((counts - n * weights) ** 2 / (n * weights)).sum())
    counts_ok = stat < _chi2_upper(K - 1)
    mean_err = [np.abs(got_means[k] - means[k]) / np.sqrt(np.diag(covs[k]) / max(counts[k], 1)) for k in range(K)]
    means_ok = bool(np.all(np.isfinite(got_means))) and max(float(e.max()) for e in mean_err) < 5.0

    def cov_z(c):  # each entry's distance from c in standard errors of a sample covariance of n_k points
        return [np.abs(got_covs[k] - c[k]) / np.sqrt((np.outer(np.diag(c[k]), np.diag(c[k])) + c[k] ** 2)
                                                       / max(counts[k], 1)) for k in range(K)]  # fmt: skip

    cov_err = cov_z(covs)
    covs_ok = bool(np.all(np.isfinite(got_covs))) and max(float(e.max()) for e in cov_err) < 5.0
    slips = _slip_stats(weights, means, covs)

    def which(fit):
        for slip, message, w, c in slips:
            if fit(w, c):
                return slip, message
        return "", ""

    if counts_ok:
        parts.append(Part("the labels follow the weights", True))
    else:
        slip, message = which(lambda w, c: float(((counts - n * w) ** 2 / (n * w)).sum()) < _chi2_upper(K - 1))
        if counts.max() == n:
            slip, message = (
                "one component for every point",
                "every point came from one component: draw a label per point.",
            )
        parts.append(Part("the labels follow the weights", False,
                          f"counts per component {counts.astype(int).tolist()}; expected about "
                          f"{np.round(n * weights).astype(int).tolist()}", message, slip=slip))  # fmt: skip
    parts.append(Part("each component's points have its mean", means_ok, "" if means_ok else
                      "component means of your points: " + "; ".join(_fmt(m) for m in got_means) +
                      "\nexpected: " + "; ".join(_fmt(m) for m in means),
                      "" if means_ok else "add μ_k of the point's own component z_i."))  # fmt: skip
    if covs_ok:
        parts.append(Part("each component's points have its covariance", True))
    else:
        slip, message = which(lambda w, c: max(float(e.max()) for e in cov_z(c)) < 5.0)
        k = int(np.argmax([e.max() for e in cov_err]))
        shown = f"the covariance of component {k}'s points is\n{_fmt(got_covs[k])}\nexpected\n{_fmt(covs[k])}"
        parts.append(Part("each component's points have its covariance", False, shown,
                          message or "x_i = μ_k + L_k ε_i with L_k L_kᵀ = Σ_k (np.linalg.cholesky) and ε_i ~ N(0, I).",
                          slip=slip))  # fmt: skip
    return CheckResult(title, parts)


EXERCISES = [
    Exercise(
        id="05-tied", notebook="05_gmm_numpy", title="the tied covariance", answer="tied_covariance",
        kind="function", check=tied_covariance, signature="tied_covariance(X, resp_NK, means_KD) -> cov_DD",
        forbidden=("emkit.gmm.update_covariances", "emkit.gmm.reference_covariances", "emkit.gmm._scatters",
                   "emkit.gmm._tied_covariances", "emkit.gmm.m_step", "emkit.gmm._m_step", "emkit.gmm.fit"),
    ),
    Exercise(
        id="05-sample", notebook="05_gmm_numpy", title="sampling from a fitted mixture", answer="sample_mixture",
        kind="function", check=sample_mixture,
        signature="sample_mixture(weights, means, covariances, n, seed) -> (X_nD, z_n)",
        forbidden=("emkit.datasets.sample_gaussian_mixture",),
    ),
]  # fmt: skip
