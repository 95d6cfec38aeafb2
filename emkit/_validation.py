"""Input checks shared by every emkit function.

Each check raises ``TypeError`` or ``ValueError`` with a message that names
the argument and says what is wrong, so a learner never sees a traceback from
deep inside numpy and never gets NaN back silently.
"""

from __future__ import annotations

import numbers

import numpy as np

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def check_data(X, name: str = "X") -> np.ndarray:
    """Return ``X`` as a C-contiguous float64 array of shape (N, D).

    Raises if ``X`` is not numeric, not 2-D, empty, or holds NaN or inf.
    """
    try:
        X_ND = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be an array of numbers with shape (n_samples, n_features); "
            f"could not convert it to floats ({exc})"
        ) from None
    if X_ND.ndim != 2:
        hint = " (for one feature, use X.reshape(-1, 1))" if X_ND.ndim == 1 else ""
        raise ValueError(
            f"{name} must be 2-D with shape (n_samples, n_features); got {X_ND.ndim}-D with shape {X_ND.shape}{hint}"
        )
    if X_ND.shape[0] == 0 or X_ND.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {X_ND.shape}")
    finite = np.isfinite(X_ND)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        n_bad = int((~finite).sum())
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite value(s), the first at "
            f"row {row}, column {col} ({X_ND[row, col]}); remove or impute them first"
        )
    return np.ascontiguousarray(X_ND)


def check_count(value, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising if it is not a whole number >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number; got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value}")
    return int(value)


def check_positive_float(value, name: str, *, allow_zero: bool = True) -> float:
    """Return ``value`` as a float, raising if it is negative, NaN or not a number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value}")
    return value


def distinct_rows(X_ND: np.ndarray, n: int, name: str) -> np.ndarray:
    """The (sorted) row indices of the first copy of each distinct point; raise if there are fewer than ``n``.

    Counting distinct points sorts the data, so the models call this only
    when an initialisation could not find ``n`` distinct points by itself.
    """
    if n > X_ND.shape[0]:
        raise ValueError(f"{name}={n} is larger than the number of data points ({X_ND.shape[0]})")
    _, first = np.unique(X_ND, axis=0, return_index=True)
    if n > first.size:
        raise ValueError(
            f"{name}={n} is larger than the number of distinct points in X ({first.size}); ask for at most {first.size}"
        )
    return np.sort(first)


def check_covariance_type(covariance_type) -> str:
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {', '.join(map(repr, COVARIANCE_TYPES))}; got {covariance_type!r}"
        )
    return covariance_type


def check_responsibilities(resp, n_samples: int, name: str = "responsibilities") -> np.ndarray:
    """Return responsibilities as float64 (N, K), checking they are a valid posterior."""
    try:
        resp_NK = np.asarray(resp, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers with shape (n_samples, n_components)") from None
    if resp_NK.ndim != 2 or resp_NK.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape (n_samples, n_components) = ({n_samples}, K); got {resp_NK.shape}")
    if not np.isfinite(resp_NK).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if (resp_NK < 0).any():
        row, col = np.argwhere(resp_NK < 0)[0]
        raise ValueError(f"{name} has negative entries, e.g. row {row}, column {col}: {resp_NK[row, col]:.3g}")
    row_sums_N = resp_NK.sum(axis=1)
    bad = np.abs(row_sums_N - 1.0) > 1e-8
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"the rows of {name} must sum to 1 (each is a probability over components); "
            f"{int(bad.sum())} row(s) do not, e.g. row {row} sums to {row_sums_N[row]:.6g}"
        )
    return resp_NK


def check_weights(weights, n_components: int | None = None, name: str = "weights") -> np.ndarray:
    try:
        weights_K = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a 1-D array of numbers") from None
    if weights_K.ndim != 1 or weights_K.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of shape (n_components,); got shape {weights_K.shape}")
    if n_components is not None and weights_K.shape[0] != n_components:
        raise ValueError(f"{name} has {weights_K.shape[0]} entries but there are {n_components} components")
    if not np.isfinite(weights_K).all() or (weights_K < 0).any():
        raise ValueError(f"{name} must be finite and non-negative; got {np.array2string(weights_K, precision=4)}")
    total = weights_K.sum()
    if abs(total - 1.0) > 1e-8:
        raise ValueError(f"{name} must sum to 1; they sum to {total:.10g}")
    return weights_K


def check_means(means, n_features: int, n_components: int | None = None, name: str = "means") -> np.ndarray:
    try:
        means_KD = np.asarray(means, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers with shape (n_components, n_features)") from None
    if means_KD.ndim != 2 or means_KD.shape[1] != n_features:
        raise ValueError(f"{name} must have shape (n_components, {n_features}); got {means_KD.shape}")
    if n_components is not None and means_KD.shape[0] != n_components:
        raise ValueError(f"{name} has {means_KD.shape[0]} rows but there are {n_components} components")
    if not np.isfinite(means_KD).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return means_KD


def is_positive_definite(S_DD: np.ndarray) -> bool:
    """Whether a symmetric matrix has a Cholesky factor (the one positive-definiteness test in emkit)."""
    try:
        np.linalg.cholesky(S_DD)
    except np.linalg.LinAlgError:
        return False
    return True


def check_spd_stack(S_KDD: np.ndarray, name: str, labels=lambda k: f"[{k}]") -> None:
    """Raise unless every matrix in the stack is symmetric positive definite, naming the first that is not."""
    for k, S_DD in enumerate(S_KDD):
        scale = max(np.abs(S_DD).max(), np.finfo(float).tiny)
        if np.abs(S_DD - S_DD.T).max() > 1e-10 * scale:
            raise ValueError(f"{name}{labels(k)} is not symmetric")
        if not is_positive_definite(S_DD):
            smallest = np.linalg.eigvalsh(S_DD).min()
            raise ValueError(f"{name}{labels(k)} is not positive definite (smallest eigenvalue {smallest:.3g})")


def check_covariances(
    covariances, covariance_type: str, n_components: int, n_features: int, name: str = "covariances"
) -> np.ndarray:
    """Check the shape and positive definiteness of covariances of any type.

    Shapes (as in scikit-learn): full (K, D, D), tied (D, D), diag (K, D),
    spherical (K,).
    """
    try:
        cov = np.asarray(covariances, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers") from None
    K, D = n_components, n_features
    expected = {"full": (K, D, D), "tied": (D, D), "diag": (K, D), "spherical": (K,)}[covariance_type]
    if cov.shape != expected:
        raise ValueError(f"{name} for covariance_type={covariance_type!r} must have shape {expected}; got {cov.shape}")
    if not np.isfinite(cov).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if covariance_type == "full":
        check_spd_stack(cov, name)
    elif covariance_type == "tied":
        check_spd_stack(cov[None], name, lambda k: "")
    elif (cov <= 0).any():
        idx = np.argwhere(cov <= 0)[0]
        raise ValueError(
            f"{name} for covariance_type={covariance_type!r} must be positive variances; "
            f"{name}[{', '.join(map(str, idx))}] = {cov[tuple(idx)]:.3g}"
        )
    return cov


def check_missing_data(X, name: str = "X") -> np.ndarray:
    """Return X as float (N, D) where NaN marks a missing value.

    Raises if X is not 2-D, holds ±inf, has a row with nothing observed, or
    a column that is never observed.
    """
    try:
        X_ND = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of numbers (NaN for missing values)") from None
    if X_ND.ndim != 2 or X_ND.shape[0] == 0 or X_ND.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n_samples, n_features); got shape {X_ND.shape}")
    if np.isinf(X_ND).any():
        row, col = np.argwhere(np.isinf(X_ND))[0]
        raise ValueError(f"{name} has an infinite value at row {row}, column {col}; only NaN may mark a missing value")
    missing_ND = np.isnan(X_ND)
    empty_rows = np.flatnonzero(missing_ND.all(axis=1))
    if empty_rows.size:
        raise ValueError(
            f"{name} has {empty_rows.size} row(s) with every value missing (e.g. row {empty_rows[0]}); "
            "such rows carry no information: drop them"
        )
    never = np.flatnonzero(missing_ND.all(axis=0))
    if never.size:
        raise ValueError(f"column {never[0]} of {name} is never observed: its mean and variance cannot be estimated")
    return X_ND
