"""Checks for the course's exercises: immediate feedback that names the mistake.

Each ``check.*`` function runs a learner's answer on concrete inputs and
returns a :class:`CheckResult`. In a notebook it renders as a short report:
per part, passed, or what is wrong, with a concrete input, the expected and
the actual value, and the name of the slip when it is a known one ("N_k − 1
instead of N_k", "Σ⁻¹ used as Σ", "a missing ½ on the quadratic term", ...).
When no known slip matches, it says what kind of difference it is ("your
values are N_k/(N_k − 1) times the right ones", "only row 2 differs").

The package is organised by concern:

* :mod:`.results`: :class:`CheckResult` and :class:`Part` (``.passed``,
  ``.score``, ``.points(out_of)`` for nbgrader, ``.require_part(k)`` for otter);
* :mod:`.running`: calling learner code safely (exceptions, endless loops,
  warnings, wrong types and shapes, the dtype policy);
* :mod:`.engine` and :mod:`.compare`: cases, fields, mistakes as data, and the
  fallback comparison;
* :mod:`.numeric`: the exercises whose answer is a numpy function;
* :mod:`.algebra`: the SymPy exercises of notebook 04;
* :mod:`.registry`: the one list of exercises (:data:`EXERCISES`) that the
  grader, the student-notebook generator and the docs read;
* :mod:`.custom`: :class:`Checker`, for instructors writing checks of their own.

Every check takes ``seed``: ``None`` (the default) uses the course's fixed
cases, a number makes fresh random cases of the same kinds (the grader's
choice, so that no submission knows its inputs in advance).

>>> from emkit import check, kmeans
>>> check.kmeans_assign(kmeans.assign).passed
True
>>> def wrong(X, centers):      # farthest instead of nearest
...     return kmeans.squared_distances(X, centers).argmax(axis=1)
>>> result = check.kmeans_assign(wrong)
>>> result.passed, result.score, result.slips
(False, 0.0, ['argmax instead of argmin'])
"""

from __future__ import annotations

# isort: off
from .registry import EXERCISES, Exercise, exercises_for  # first: it collects the per-notebook exercise modules
from .algebra import mu_update, q_function, sigma_update, tau_update
from .by_hand import coins_by_hand, missing_m_step, one_responsibility
from .custom import Checker
from .mixtures import sample_mixture, tied_covariance

# isort: on
from .numeric import (
    e_step,
    kmeans_assign,
    kmeans_update,
    m_step,
    map_covariance,
    missing_conditional,
    q_value,
    responsibilities,
    weighted_means,
)
from .results import CheckResult, Part
from .running import TIME_LIMIT

# isort: split
from .deeper import online_em_step, poisson_m_step, squarem_step, weight_information  # the same cycle
from .hmm_checks import forward_step, transition_update  # after .registry, which imports it (a cycle)

__all__ = [
    "EXERCISES",
    "TIME_LIMIT",
    "CheckResult",
    "Checker",
    "Exercise",
    "Part",
    "coins_by_hand",
    "e_step",
    "exercises_for",
    "forward_step",
    "kmeans_assign",
    "kmeans_update",
    "m_step",
    "map_covariance",
    "missing_conditional",
    "missing_m_step",
    "mu_update",
    "one_responsibility",
    "online_em_step",
    "poisson_m_step",
    "q_function",
    "q_value",
    "responsibilities",
    "sample_mixture",
    "sigma_update",
    "squarem_step",
    "tau_update",
    "tied_covariance",
    "transition_update",
    "weight_information",
    "weighted_means",
]
