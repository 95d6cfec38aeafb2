"""What the models share: the data prepared once per fit, cache-sized row blocks, log-sum-exp, log 2π.

Validation happens once, at a public function's boundary (``emkit._validation``);
everything here takes arrays that are already checked, and the models' private
steps take a :class:`Prepared` instead of the raw data, so nothing is checked,
centred or transposed twice in one fit.
"""

from __future__ import annotations

import numpy as np

LOG_2PI = float(np.log(2.0 * np.pi))

BLOCK_FLOATS = 1 << 17  # a row block's temporaries stay around 1 MiB: they live in the cache


def block_rows(width: int, *, block_floats: int = BLOCK_FLOATS, minimum: int = 64) -> int:
    """How many rows of ``width`` floats make one cache-sized block."""
    return max(minimum, block_floats // max(width, 1))


def row_blocks(N: int, width: int, *, block_floats: int = BLOCK_FLOATS, minimum: int = 64):
    """Slices of rows such that a block of ``width`` floats per row stays in cache."""
    return row_slices(N, block_rows(width, block_floats=block_floats, minimum=minimum))


def row_slices(N: int, rows: int):
    """Consecutive slices of ``rows`` rows (the last one shorter) covering 0..N."""
    for start in range(0, N, rows):
        yield slice(start, min(N, start + rows))


class Prepared:
    """Checked data (N, D) as the models' loops want them, each view computed once, when first needed.

    ``Xc_ND`` = X - x̄ (distances and covariances do not change under a
    shift, and centring keeps the expanded forms accurate for data far from
    the origin); ``x2_N`` = ‖x_i - x̄‖²; ``var_D`` = each feature's variance;
    ``sq_ND`` = (x_i - x̄)² entrywise; ``XcT_DN`` = a contiguous transpose, so
    per-feature sums read memory in order; ``aug_T`` = the rows of
    [Xc, 1, ‖xc‖²]ᵀ, with which one matrix product gives squared distances
    to any set of centres; ``cache`` for a model's own derived arrays.
    """

    def __init__(self, X_ND: np.ndarray):
        self.X_ND = X_ND
        self.N, self.D = X_ND.shape
        self.center_D = X_ND.mean(axis=0)
        self.Xc_ND = X_ND - self.center_D
        self.cache: dict = {}

    def _lazy(self, key, make):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    @property
    def x2_N(self) -> np.ndarray:
        return self._lazy("x2", lambda: np.einsum("nd,nd->n", self.Xc_ND, self.Xc_ND))

    @property
    def var_D(self) -> np.ndarray:
        return self._lazy("var", lambda: np.einsum("nd,nd->d", self.Xc_ND, self.Xc_ND) / self.N)

    @property
    def sq_ND(self) -> np.ndarray:
        return self._lazy("sq", lambda: self.Xc_ND * self.Xc_ND)

    @property
    def XcT_DN(self) -> np.ndarray:
        return self.aug_T[: self.D]

    @property
    def aug_T(self) -> np.ndarray:
        def make():
            aug = np.empty((self.D + 2, self.N))
            aug[: self.D] = self.Xc_ND.T
            aug[self.D] = 1.0
            aug[self.D + 1] = self.x2_N
            return aug

        return self._lazy("aug", make)


def log_normalise_rows(a_NK: np.ndarray) -> np.ndarray:
    """Turn log-weights into normalised weights, in place; return each row's log-sum-exp.

    log Σ_k exp(a_k) = m + log Σ_k exp(a_k - m) with m = max_k a_k: the
    largest exponential is exp(0) = 1, so nothing overflows and the sum is
    never 0 even when every exp(a_k) on its own would underflow. A row that is
    -inf throughout (no component can explain it) stays -inf.
    """
    m_N1 = a_NK.max(axis=1, keepdims=True)
    m_N1[~np.isfinite(m_N1)] = 0.0
    a_NK -= m_N1
    np.exp(a_NK, out=a_NK)
    s_N1 = a_NK.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        a_NK /= s_N1
        return m_N1[:, 0] + np.log(s_N1[:, 0])


def logsumexp(a: np.ndarray, axis: int = 1) -> np.ndarray:
    """log Σ_k exp(a_k) along ``axis``, without overflow or underflow (see :func:`log_normalise_rows`)."""
    a = np.moveaxis(np.array(a, dtype=np.float64), axis, -1)
    shape = a.shape[:-1]
    return log_normalise_rows(a.reshape(-1, a.shape[-1])).reshape(shape)
