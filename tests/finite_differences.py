"""Finite differences, the tests' independent reference for derivatives (information matrices, Hessians)."""

from __future__ import annotations

import numpy as np


def fd_hessian(f, theta, scale, rel=1e-4):
    """Central second differences of f at θ, step rel × scale_p in coordinate p."""
    P = theta.size
    H = np.empty((P, P))
    h = rel * scale
    for i in range(P):
        for j in range(i, P):
            ei, ej = np.eye(P)[i] * h[i], np.eye(P)[j] * h[j]
            H[i, j] = H[j, i] = (f(theta + ei + ej) - f(theta + ei - ej) - f(theta - ei + ej) + f(theta - ei - ej)) / (
                4 * h[i] * h[j]
            )
    return H
