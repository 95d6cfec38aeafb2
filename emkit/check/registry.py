"""The one registry of the course's exercises.

Each :class:`Exercise` says: its id (``"01-assign"``), the notebook it belongs
to, the name the learner's answer has there, whether it is a function or an
expression, the check that decides it, its points, and which of emkit's own
functions compute the answer (``forbidden``: an answer that calls one of them
while being graded scores 0, "uses the reference implementation") or may be
used (``allowed``, as the exercise text says). The student-notebook
generator, the grader (``emkit grade`` and its default assignment), the
README's table and the tests all read this one list: adding an exercise
touches one place.

>>> [(e.id, e.label) for e in exercises_for("01_kmeans")]
[('01-assign', 'Exercise 1.1'), ('01-update', 'Exercise 1.2')]
>>> EXERCISES["04-tau"].answer, EXERCISES["04-tau"].kind
('tau_answer', 'expression')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from . import algebra, numeric

__all__ = ["EXERCISES", "Exercise", "exercises_for"]


@dataclass(frozen=True)
class Exercise:
    id: str
    notebook: str
    title: str
    answer: str
    kind: str  # "function": called on inputs the check makes; "expression": a SymPy expression (or its text);
    #            "value": a number or an array the learner computed (by hand, say)
    check: Callable
    signature: str
    points: float = 1.0
    forbidden: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    number: str = ""  # "4.2": the notebook's number, then the exercise's place in it (set by the registry)
    place: float = 0.0  # where it sits among its notebook's exercises (lower first; equal: in list order)

    @property
    def label(self) -> str:
        return f"Exercise {self.number}"

    @property
    def check_name(self) -> str:
        return self.check.__name__


def _numbered(exercises) -> list[Exercise]:
    """Each exercise labelled by its notebook's number and its place there: Exercise 4.2 is 04's second."""
    counts: dict[str, int] = {}
    out = []
    for e in sorted(exercises, key=lambda e: (NOTEBOOKS.index(e.notebook), e.place)):  # stable within one place
        counts[e.notebook] = counts.get(e.notebook, 0) + 1
        out.append(replace(e, number=f"{int(e.notebook[:2])}.{counts[e.notebook]}"))
    return out


#: The course's notebooks, in order (an exercise's ``notebook`` is one of these).
NOTEBOOKS = (
    "00_start_here",
    "01_kmeans",
    "02_soft_assignment",
    "03_em_algorithm",
    "04_gmm_derivation",
    "05_gmm_numpy",
    "06_em_deeper",
    "07_hmm",
)


_KMEANS_ASSIGN = (
    "emkit.kmeans.assign",
    "emkit.kmeans._assign",
    "emkit.kmeans.squared_distances",
    "emkit.kmeans._squared_distances",
    "emkit.kmeans.fit",
    "emkit.kmeans._lloyd",
)
_KMEANS_UPDATE = (
    "emkit.kmeans.update",
    "emkit.kmeans._update",
    "emkit.kmeans._sums",
    "emkit.kmeans._moved_sums",
    "emkit.kmeans.fit",
    "emkit.kmeans._lloyd",
    "emkit.gmm.update_means",
    "emkit.gmm.m_step",
    "emkit.gmm._m_step",
)
_E_STEP = (
    "emkit.gmm.e_step",
    "emkit.gmm._e_step",
    "emkit.gmm.fit",
    "emkit.soft.gaussian_posterior",
    "emkit._core.log_normalise_rows",
)
_M_STEP = (
    "emkit.gmm.m_step",
    "emkit.gmm._m_step",
    "emkit.gmm.update_weights",
    "emkit.gmm.update_means",
    "emkit.gmm.update_covariances",
    "emkit.gmm.reference_covariances",
    "emkit.gmm._scatters",
    "emkit.gmm._variances",
    "emkit.gmm.fit",
)

_LIST = [
    Exercise(
        "01-assign", "01_kmeans", "write the assignment step", "assign_step", "function",
        numeric.kmeans_assign, "assign_step(X, centers) -> labels", forbidden=_KMEANS_ASSIGN,
    ),
    Exercise(
        "01-update", "01_kmeans", "write the update step", "update_step", "function",
        numeric.kmeans_update, "update_step(X, labels, n_clusters) -> centers", forbidden=_KMEANS_UPDATE,
    ),
    Exercise(
        "02-responsibilities", "02_soft_assignment", "responsibilities that survive far-away points",
        "responsibilities", "function", numeric.responsibilities, "responsibilities(log_joint_NK) -> resp_NK",
        forbidden=(*_E_STEP, "emkit.gmm.logsumexp", "emkit._core.logsumexp", "emkit.soft.softmax_weights"),
    ),
    Exercise(
        "02-weighted-means", "02_soft_assignment", "the weighted mean", "weighted_means", "function",
        numeric.weighted_means, "weighted_means(X, resp_NK) -> means_KD",
        forbidden=("emkit.gmm.update_means", "emkit.gmm.m_step", "emkit.gmm._m_step", "emkit.gmm.fit"),
    ),
    Exercise(
        "03-q-value", "03_em_algorithm", "compute Q(θ | θᵗ)", "q_value", "function", numeric.q_value,
        "q_value(X, resp_NK, weights, means, covariances) -> float",
        forbidden=("emkit.gmm.q_function", "emkit.gmm.elbo"),
        allowed=("emkit.gmm.log_gaussian_density", "emkit.gmm.log_joint"),
    ),
    Exercise(
        "03-missing-e-step", "03_em_algorithm", "the missing-data E-step", "conditional_x2", "function",
        numeric.missing_conditional, "conditional_x2(x1, mean, cov) -> (cond_mean, cond_var)",
        forbidden=(
            "emkit.missing.conditional_moments", "emkit.missing.e_step", "emkit.missing._e_step",
            "emkit.missing.fit",
        ),
        allowed=("emkit.symbolic.conditional_normal_2d",),
    ),
    Exercise(
        "04-q", "04_gmm_derivation", "Q(θ | θᵗ)", "q_answer", "expression", algebra.q_function,
        "q_answer: a SymPy expression", forbidden=("emkit.symbolic.q_function", "emkit.symbolic.q_parts"),
    ),
    Exercise(
        "04-tau", "04_gmm_derivation", "the update for τ", "tau_answer", "expression", algebra.tau_update,
        "tau_answer: a SymPy expression", forbidden=("emkit.symbolic.derive_tau", "emkit.symbolic._derive"),
        allowed=("emkit.symbolic.split_sums",),
    ),
    Exercise(
        "04-mu", "04_gmm_derivation", "the update for μ₁", "mu_answer", "expression", algebra.mu_update,
        "mu_answer: a SymPy expression", forbidden=("emkit.symbolic.derive_mean", "emkit.symbolic._derive"),
        allowed=("emkit.symbolic.split_sums",),
    ),
    Exercise(
        "04-sigma", "04_gmm_derivation", "the update for Σ₁ (one dimension)", "sigma_answer", "expression",
        algebra.sigma_update, "sigma_answer: a SymPy expression",
        forbidden=("emkit.symbolic.derive_variance", "emkit.symbolic._derive"),
        allowed=("emkit.symbolic.split_sums",),
    ),
    Exercise(
        "05-e-step", "05_gmm_numpy", "the E-step in numpy", "e_step", "function", numeric.e_step,
        "e_step(X, weights, means, covariances) -> (resp_NK, log_likelihood)",
        forbidden=(*_E_STEP, "emkit.gmm.log_likelihood"),
        allowed=("emkit.gmm.log_gaussian_density", "emkit.gmm.log_joint", "emkit.gmm.logsumexp"),
    ),
    Exercise(
        "05-m-step", "05_gmm_numpy", "the M-step in numpy", "m_step", "function", numeric.m_step,
        "m_step(X, resp_NK) -> (weights, means, covariances)", forbidden=_M_STEP,
    ),
    Exercise(
        "06-map-sigma", "06_em_deeper", "the MAP covariance update", "map_covariance", "function",
        numeric.map_covariance, "map_covariance(scatter_DD, count, prior_scale_DD, prior_dof) -> Sigma_DD",
        forbidden=("emkit.gmm.update_covariances", "emkit.gmm.reference_covariances"),
        allowed=("emkit.gmm.m_step",),
    ),
]  # fmt: skip

from . import by_hand, deeper, hmm_checks, mixtures  # noqa: E402 - they use Exercise, defined above

# Other emkit functions that compute the same step under another name, in another model (a red-team pass
# found each of them giving full marks): a Gaussian density with unit covariance ranks centres by distance, an
# HMM's emission means are weighted means, a Poisson or Bernoulli M-step's means are too, an HMM's posteriors
# from (log α = L, log β = 0) are the softmax of L's rows. They are forbidden with the step they compute.
_DISTANCE_ROUTES = (
    "emkit.gmm.log_gaussian_density",
    "emkit.gmm.reference_log_gaussian_density",
    "emkit.gmm.log_joint",
    "emkit.gmm._log_joint",
    "emkit.gmm._log_joint_blocks",
    "emkit.gmm.e_step",
    "emkit.gmm._e_step",
    "emkit.hmm.log_emission",
    "emkit.hmm._gaussian_log_emission",
    "emkit.soft.distance_share_weights",
    "emkit.soft.inverse_distance_weights",
    "emkit.soft.softmax_weights",
    "emkit.soft.gaussian_posterior",
    "emkit.online.responsibilities",
    "emkit.online._responsibilities",
    "emkit.online._log_joint",
)
_WEIGHTED_MEAN_ROUTES = (
    "emkit.hmm.update_means",
    "emkit.hmm._update_means",
    "emkit.hmm.m_step",
    "emkit.hmm._m_step",
    "emkit.hmm._gaussian_update",
    "emkit.expfamily.m_step",
    "emkit.expfamily._m_step",
    "emkit.online.params_from_statistics",
    "emkit.online._params",
)
_COVARIANCE_ROUTES = ("emkit.hmm.update_covariances", "emkit.hmm._update_covariances")
_SOFTMAX_ROUTES = (
    "emkit.hmm.posteriors",
    "emkit.hmm._posteriors",
    "emkit.online.responsibilities",
    "emkit.online._responsibilities",
)
SAME_STEP: dict[str, tuple[str, ...]] = {
    "01-assign": _DISTANCE_ROUTES,
    "01-update": _WEIGHTED_MEAN_ROUTES,
    "02-responsibilities": _SOFTMAX_ROUTES,
    "02-weighted-means": _WEIGHTED_MEAN_ROUTES,
    "05-e-step": _SOFTMAX_ROUTES,
    "05-m-step": _WEIGHTED_MEAN_ROUTES + _COVARIANCE_ROUTES,
    "05-tied": _COVARIANCE_ROUTES,
}  # fmt: skip


def _with_same_step(e: Exercise) -> Exercise:
    extra = tuple(name for name in SAME_STEP.get(e.id, ()) if name not in e.forbidden and name not in e.allowed)
    return replace(e, forbidden=e.forbidden + extra) if extra else e


#: Every exercise of the course, by id, in course order.
EXERCISES: dict[str, Exercise] = {
    e.id: _with_same_step(e)
    for e in _numbered(_LIST + by_hand.EXERCISES + mixtures.EXERCISES + deeper.EXERCISES + hmm_checks.EXERCISES)
}


def exercises_for(notebook: str) -> list[Exercise]:
    """The exercises of one notebook (by its stem, e.g. ``"01_kmeans"``), in order."""
    return [e for e in EXERCISES.values() if e.notebook == notebook]
