"""Symbolic derivations with SymPy, in one shared vocabulary of symbols.

Every result here is also checked numerically in the tests (a CAS can be
silently wrong: SymPy 1.14 differentiates log(det(S)) of a MatrixSymbol S to
0). Notebooks show the steps; this module keeps them in one tested place.

Missing data (notebook 03): the bivariate Normal with x₂ unobserved.

>>> mean, var = conditional_normal_2d()
>>> mean
m2 + s12*(-m1 + x1)/s11
>>> var
(s11*s22 - s12**2)/s11
"""

from __future__ import annotations

import sympy as sp

__all__ = ["bivariate_normal_log_density", "conditional_normal_2d", "normal_2d_symbols"]


def normal_2d_symbols():
    """x₁, x₂, the means m₁, m₂ and the covariance entries s₁₁, s₁₂, s₂₂ (variances positive)."""
    x1, x2, m1, m2, s12 = sp.symbols("x1 x2 m1 m2 s12", real=True)
    s11, s22 = sp.symbols("s11 s22", positive=True)
    return x1, x2, m1, m2, s11, s12, s22


def bivariate_normal_log_density():
    """log N((x₁, x₂) | (m₁, m₂), [[s₁₁, s₁₂], [s₁₂, s₂₂]]), written out."""
    x1, x2, m1, m2, s11, s12, s22 = normal_2d_symbols()
    S = sp.Matrix([[s11, s12], [s12, s22]])
    v = sp.Matrix([x1 - m1, x2 - m2])
    quad = sp.simplify((v.T * S.inv() * v)[0, 0])
    return -sp.log(2 * sp.pi) - sp.log(S.det()) / 2 - quad / 2


def conditional_normal_2d():
    """E[x₂ | x₁] and Var[x₂ | x₁], derived from the joint log-density.

    As a function of x₂ the log-density is a downward parabola, so the
    conditional distribution is Normal: its mean is where the derivative in
    x₂ vanishes, and its variance is -1 / (second derivative).
    """
    x1, x2, m1, m2, s11, s12, s22 = normal_2d_symbols()
    log_p = bivariate_normal_log_density()
    (mean,) = sp.solve(sp.diff(log_p, x2), x2)
    var = -1 / sp.diff(log_p, x2, 2)
    return sp.collect(sp.simplify(mean - m2), s12) + m2, sp.factor(sp.simplify(var))
