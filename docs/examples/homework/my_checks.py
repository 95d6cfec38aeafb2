"""The checks of Homework 3's own questions: check_<name>(answer, seed=None) -> CheckResult."""

import numpy as np

from emkit import gmm
from emkit.check import Checker


def check_elbo(elbo, seed=None):
    """Question 3: F(q, θ) = Σ_i Σ_k r_ik (log π_k + log N(x_i | μ_k, Σ_k) − log r_ik)."""
    c = Checker("Question 3: the evidence lower bound")
    rng = np.random.default_rng(0 if seed is None else seed)  # the grader passes a fresh seed
    X = rng.normal(size=(30, 2))
    weights, means = np.array([0.3, 0.7]), rng.normal(size=(2, 2))
    covariances = np.stack([np.eye(2), 2.0 * np.eye(2)])
    resp_NK = rng.dirichlet([1.0, 1.0], size=30)  # any q, not only the posterior
    q_value = gmm.q_function(X, resp_NK, weights, means, covariances)
    entropy = -np.sum(resp_NK * np.log(resp_NK))
    got = c.call(elbo, X, resp_NK, weights, means, covariances)
    c.compare(
        "30 points, two components, responsibilities that are not the posterior",
        got,
        q_value + entropy,
        slips={
            "the entropy term is missing (that is Q, not F)": q_value,
            "the entropy with the wrong sign": q_value - entropy,
        },
        hint="F adds the entropy of q to Q: −Σ_i Σ_k r_ik log r_ik.",
    )
    return c.result()
