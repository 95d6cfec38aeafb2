"""Mixtures of exponential-family distributions: the E-step computes expected sufficient statistics,
the M-step maps them to parameters.

A member of an exponential family has the density::

    p(x | η) = h(x) exp(ηᵀ t(x) - A(η))

with natural parameter η, sufficient statistic t(x), base measure h(x) and
log-partition A(η), whose gradient is the mean of t: ∇A(η) = E[t(x)] =: m
(the *mean parameter*). For a mixture Σ_k π_k p(x | η_k), Q(θ | θᵗ) depends on
the data only through the **expected sufficient statistics**::

    E-step:  r_ik = π_k p(x_i | η_k) / Σ_j π_j p(x_i | η_j)
             N_k  = Σ_i r_ik,   T_k = Σ_i r_ik t(x_i)              expected_statistics
    M-step:  π_k = N_k / N
             ∇A(η_k) = T_k / N_k,  i.e.  m_k = T_k / N_k           (match the means)

So every such mixture has the same EM: only t, h and A differ, one entry
per family in :data:`FAMILIES`. Here t(x) = x for both, with D independent
features per point:

* ``poisson``: counts, m = λ (the rates), η = log λ, A = Σ_d λ_d, h = Π_d 1/x_d!;
* ``bernoulli``: 0/1 features, m = p, η = log(p / (1-p)), A = -Σ_d log(1 - p_d), h = 1.

The parameters are reported as mean parameters (``means``: λ or p, shape
K×D), the natural ones being a function of them. The fit runs on
:func:`emkit.em.run`, so the log-likelihood never decreases.

>>> import numpy as np
>>> from emkit import expfamily
>>> rng = np.random.default_rng(0)
>>> x = np.where(rng.random(500) < 0.3, rng.poisson(2.0, 500), rng.poisson(9.0, 500))
>>> result = expfamily.fit(x, 2, family="poisson", seed=0)
>>> order = np.argsort(result.means[:, 0])
>>> np.round(result.weights[order], 2), np.round(result.means[order, 0], 2)
(array([0.25, 0.75]), array([1.88, 8.8 ]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import lgamma

import numpy as np

from . import em
from ._core import log_normalise_rows
from ._validation import check_count, check_positive_float, check_responsibilities, check_weights

__all__ = [
    "FAMILIES",
    "ExpFamilyMixtureResult",
    "ExpectedStatistics",
    "Family",
    "e_step",
    "expected_statistics",
    "fit",
    "log_density",
    "log_likelihood",
    "m_step",
]

# a mean parameter on the boundary (λ = 0, p = 0 or 1) is a legitimate maximum, but its η is ±inf and
# the next E-step would compute 0 · (-inf): keep it a hair inside, as emkit.coins does
MEAN_FLOOR = 1e-12


# ---------------------------------------------------------------------------
# The families: one entry each
# ---------------------------------------------------------------------------


def _poisson_check(x_ND):
    if (x_ND < 0).any() or (x_ND != np.round(x_ND)).any():
        raise ValueError("X must hold counts (whole numbers >= 0) for family='poisson'")


def _bernoulli_check(x_ND):
    if not np.isin(x_ND, (0.0, 1.0)).all():
        raise ValueError("X must hold only 0 and 1 for family='bernoulli'")


def _poisson_log_base(x_ND):
    """log h(x) = -Σ_d log x_d!"""
    values, where = np.unique(x_ND, return_inverse=True)  # counts repeat: one lgamma per distinct value
    log_factorial = np.array([lgamma(v + 1.0) for v in values])
    return -log_factorial[where.reshape(x_ND.shape)].sum(axis=1)


@dataclass(frozen=True)
class Family:
    """What one exponential family needs for its mixture's EM.

    check : (X_ND) -> None, raising if X is not in the family's support.
    log_base_measure : X_ND -> log h(x_i), shape (N,).
    natural : means_KD m -> natural parameters η (K, D).
    log_partition : means_KD m -> A(η(m)) (K,).
    valid_mean : the open interval the mean parameters live in (for checks and the floor).
    """

    name: str
    check: Callable
    log_base_measure: Callable
    natural: Callable
    log_partition: Callable
    valid_mean: tuple


FAMILIES: dict[str, Family] = {
    "poisson": Family(
        name="poisson",
        check=_poisson_check,
        log_base_measure=_poisson_log_base,
        natural=np.log,  # η = log λ
        log_partition=lambda m_KD: m_KD.sum(axis=1),  # A = Σ_d e^η_d = Σ_d λ_d
        valid_mean=(0.0, np.inf),
    ),
    "bernoulli": Family(
        name="bernoulli",
        check=_bernoulli_check,
        log_base_measure=lambda x_ND: np.zeros(x_ND.shape[0]),
        natural=lambda m_KD: np.log(m_KD) - np.log1p(-m_KD),  # η = logit p
        log_partition=lambda m_KD: -np.log1p(-m_KD).sum(axis=1),  # A = Σ_d log(1 + e^η_d) = -Σ_d log(1 - p_d)
        valid_mean=(0.0, 1.0),
    ),
}


def _family(family) -> Family:
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(map(repr, FAMILIES))}; got {family!r}")
    return FAMILIES[family]


def _check_X(X, spec: Family) -> np.ndarray:
    try:
        X_ND = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("X must be an array of numbers with shape (N, D) or (N,)") from None
    if X_ND.ndim == 1:
        X_ND = X_ND[:, None]
    if X_ND.ndim != 2 or X_ND.shape[0] == 0 or X_ND.shape[1] == 0:
        raise ValueError(f"X must be a non-empty array of shape (N, D) or (N,); got shape {np.shape(X)}")
    if not np.isfinite(X_ND).all():
        raise ValueError("X contains NaN or infinite values")
    spec.check(X_ND)
    return X_ND


def _check_means(means, spec: Family, D: int) -> np.ndarray:
    try:
        m_KD = np.asarray(means, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError("means must be an array of numbers with shape (K, D)") from None
    if m_KD.ndim == 1 and D == 1:
        m_KD = m_KD[:, None]
    if m_KD.ndim != 2 or m_KD.shape[1] != D or m_KD.shape[0] == 0:
        raise ValueError(f"means must have shape (K, {D}) (one row of mean parameters per component); got {m_KD.shape}")
    low, high = spec.valid_mean
    if not (np.isfinite(m_KD).all() and (m_KD > low).all() and (m_KD < high).all()):
        raise ValueError(f"the {spec.name} mean parameters must lie strictly between {low} and {high}; got {m_KD}")
    return m_KD


# ---------------------------------------------------------------------------
# The steps
# ---------------------------------------------------------------------------


def _log_density(X_ND, log_h_N, means_KD, spec: Family):
    """log p(x_i | η_k) = log h(x_i) + η_kᵀ x_i - A(η_k): one matrix product for all i and k."""
    return log_h_N[:, None] + X_ND @ spec.natural(means_KD).T - spec.log_partition(means_KD)


def log_density(X, means, family: str = "poisson") -> np.ndarray:
    """log p(x_i | η_k) = log h(x_i) + η_kᵀ t(x_i) - A(η_k) for every point and component: (N, K)."""
    spec = _family(family)
    X_ND = _check_X(X, spec)
    return _log_density(X_ND, spec.log_base_measure(X_ND), _check_means(means, spec, X_ND.shape[1]), spec)


@dataclass(kw_only=True)
class ExpectedStatistics:
    """What the E-step hands to the M-step: N_k = Σ_i r_ik (``counts_K``), T_k = Σ_i r_ik t(x_i)
    (``sums_KD``), N (``n_points``), and the responsibilities r_ik they came from."""

    counts_K: np.ndarray
    sums_KD: np.ndarray
    n_points: int
    responsibilities: np.ndarray


def _expected_statistics(X_ND, resp_NK):
    return ExpectedStatistics(
        counts_K=resp_NK.sum(axis=0), sums_KD=resp_NK.T @ X_ND, n_points=X_ND.shape[0], responsibilities=resp_NK
    )


def _e_step(X_ND, log_h_N, weights_K, means_KD, spec):
    with np.errstate(divide="ignore"):
        a_NK = np.log(weights_K) + _log_density(X_ND, log_h_N, means_KD, spec)
    log_px_N = log_normalise_rows(a_NK)  # a_NK now holds r_ik
    return _expected_statistics(X_ND, a_NK), float(log_px_N.sum())


def _m_step(stats: ExpectedStatistics, spec: Family):
    empty = np.flatnonzero(stats.counts_K <= 10 * np.finfo(float).eps * stats.n_points)
    if empty.size:
        k = int(empty[0])
        raise ValueError(
            f"component {k} has no points (N_k = {stats.counts_K[k]:.3g}): its mean parameter is undefined. "
            "Try fewer components, another seed or restarts (n_init > 1)."
        )
    means_KD = stats.sums_KD / stats.counts_K[:, None]  # ∇A(η_k) = T_k / N_k: match the expected statistic
    low, high = spec.valid_mean
    means_KD = np.clip(means_KD, low + MEAN_FLOOR, high - MEAN_FLOOR if np.isfinite(high) else np.inf)
    return stats.counts_K / stats.n_points, means_KD


def expected_statistics(X, responsibilities, family: str = "poisson") -> ExpectedStatistics:
    """N_k = Σ_i r_ik and T_k = Σ_i r_ik t(x_i) (t(x) = x here): all the M-step needs from the data."""
    spec = _family(family)
    X_ND = _check_X(X, spec)
    return _expected_statistics(X_ND, check_responsibilities(responsibilities, X_ND.shape[0]))


def e_step(X, weights, means, family: str = "poisson"):
    """The E-step: responsibilities and their expected sufficient statistics, and log p(X | θ).

    Returns ``(ExpectedStatistics, log_likelihood)``.
    """
    spec = _family(family)
    X_ND = _check_X(X, spec)
    means_KD = _check_means(means, spec, X_ND.shape[1])
    weights_K = check_weights(weights, means_KD.shape[0])
    return _e_step(X_ND, spec.log_base_measure(X_ND), weights_K, means_KD, spec)


def log_likelihood(X, weights, means, family: str = "poisson") -> float:
    """ℓ(θ) = Σ_i log Σ_k π_k p(x_i | η_k)."""
    return e_step(X, weights, means, family)[1]


def m_step(statistics: ExpectedStatistics, family: str = "poisson"):
    """The M-step from the expected statistics alone: π_k = N_k / N and m_k = T_k / N_k.

    m_k = T_k / N_k solves ∇A(η_k) = T_k / N_k, the stationarity condition of
    Q in η_k (Q is concave in η, so it is the maximum). Mean parameters on the
    boundary (λ = 0, p ∈ {0, 1}) are kept 1e-12 inside it. Returns ``(weights, means)``.
    """
    spec = _family(family)
    if not isinstance(statistics, ExpectedStatistics):
        raise TypeError(
            f"statistics must be the ExpectedStatistics that e_step returns; got {type(statistics).__name__}"
        )
    return _m_step(statistics, spec)


@dataclass(kw_only=True)
class ExpFamilyMixtureResult(em.LikelihoodFit):
    """A fitted exponential-family mixture: ``weights`` π (K,), ``means`` the mean parameters m_k (K, D)
    (λ or p), ``responsibilities`` (N, K), ``family``."""

    weights: np.ndarray
    means: np.ndarray
    responsibilities: np.ndarray
    family: str


def _initial_means(X_ND, K, spec: Family, rng):
    """K starting mean parameters: random points pulled a quarter of the way to the data's mean."""
    rows = rng.choice(X_ND.shape[0], size=K, replace=False)
    m_KD = 0.75 * X_ND[rows] + 0.25 * X_ND.mean(axis=0)
    low, high = spec.valid_mean
    return np.clip(m_KD, low + 1e-3 * max(1.0, X_ND.mean()), high - 1e-3 if np.isfinite(high) else np.inf)


def fit(
    X,
    n_components: int,
    *,
    family: str = "poisson",
    init=None,
    max_iter: int = 500,
    tol: float = 1e-8,
    seed=None,
    n_init: int = 1,
    record_params: bool = False,
) -> ExpFamilyMixtureResult:
    """Fit a K-component mixture of ``family`` by EM on :func:`emkit.em.run`.

    X : (N, D) or (N,): counts ('poisson') or 0/1 ('bernoulli'), D independent features.
    init : ``None`` (equal weights; means from K random points pulled a quarter of the way to the
        data's mean) or a tuple ``(weights, means)``.
    tol : stop when the log-likelihood per point changes by less than ``tol``.
    seed : an int, ``None`` or a ``numpy.random.Generator``; n_init : restarts, best ℓ kept.
    """
    spec = _family(family)
    X_ND = _check_X(X, spec)
    N, D = X_ND.shape
    K = check_count(n_components, "n_components")
    if K > N:
        raise ValueError(f"n_components={K} is larger than the number of points ({N})")
    max_iter = check_count(max_iter, "max_iter", minimum=0)
    tol = check_positive_float(tol, "tol")
    n_init = check_count(n_init, "n_init")
    if n_init > 1 and init is not None:
        raise ValueError("n_init > 1 needs the random init (init=None), not fixed parameters")
    rng = np.random.default_rng(seed)
    log_h_N = spec.log_base_measure(X_ND)
    if init is not None:
        try:
            weights0, means0 = init
        except (TypeError, ValueError):
            raise TypeError("init must be None or a tuple (weights, means)") from None
        means0 = _check_means(means0, spec, D)
        if means0.shape[0] != K:
            raise ValueError(f"init means have {means0.shape[0]} rows but n_components is {K}")
        weights0 = check_weights(weights0, K, name="init weights")

    def e(theta):
        return _e_step(X_ND, log_h_N, *theta, spec)

    def m(stats):
        return _m_step(stats, spec)

    def once():
        theta0 = (weights0, means0) if init is not None else (np.full(K, 1.0 / K), _initial_means(X_ND, K, spec, rng))
        return em.run(
            e, m, theta0, n_points=N, max_iter=max_iter, tol=tol, record_params=record_params, name="log-likelihood"
        )

    run = em.best_of(n_init, once, lambda r: r.objective)
    return ExpFamilyMixtureResult.from_run(
        run, weights=run.params[0], means=run.params[1], responsibilities=run.expectations.responsibilities,
        family=spec.name,
    )  # fmt: skip
