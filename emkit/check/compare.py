"""When an answer is wrong and no known mistake matches: say what *kind* of difference it is.

"Your Σ is N_k/(N_k − 1) times the right one" or "only row 2 differs" tells
a learner far more than a restated formula. :func:`describe` tries, in
order: a flipped sign, a constant factor (named when it matches a quantity
of the exercise, such as N/N_k), a constant offset, a transpose, a matrix
inverse, components in another order, a square or square root, a
reciprocal, and differences confined to some rows, columns or the diagonal.

It says them in the array's own terms when it is told what the axes are
(``axes=("component", "feature")`` for a K×D array of means,
``("component", "feature", "feature")`` for covariances, ``("point",
"component")`` for responsibilities): a K×D array of means with K = D is
never described as a covariance matrix, and a factor per row of
responsibilities is a factor per *point*, not per component.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Difference", "close", "describe", "name_factor"]


class Difference(str):
    """The sentence :func:`describe` says, with ``kind``: a short name of the kind of difference, for counting."""

    kind: str = ""


def _said(kind: str, text: str) -> Difference:
    out = Difference(text)
    out.kind = kind
    return out


def close(a, b, *, float32: bool = False, rtol: float = 1e-8, atol: float = 1e-10) -> bool:
    """``a`` ≈ ``b`` at float64 tolerances, or float32 ones (relative 2e-5) for a float32 answer."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        return False
    if float32:
        scale = max(1.0, float(np.abs(b).max(initial=0.0)))
        return bool(np.allclose(a, b, rtol=2e-5, atol=2e-6 * scale))
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


def name_factor(c, factors: dict) -> str:
    """The name of a known factor equal to ``c`` (a number, or one per component), or ''."""
    c = np.atleast_1d(np.asarray(c, dtype=float))
    for name, value in factors.items():
        v = np.atleast_1d(np.asarray(value, dtype=float))
        if v.shape == c.shape or v.size == 1:
            if np.allclose(c, np.broadcast_to(v, c.shape), rtol=1e-6, atol=0):
                return name
    return ""


def _constant_ratio(got, exp):
    """The common ratio got/exp (or one ratio per leading index, 'per component'), else None."""
    mask = np.abs(exp) > 1e-12 * max(1.0, float(np.abs(exp).max(initial=0.0)))
    if not mask.any():
        return None
    if np.any(np.abs(got[~mask]) > 1e-9 * max(1.0, float(np.abs(got).max(initial=0.0)))):
        return None
    r = got[mask] / exp[mask]
    if np.allclose(r, r[0], rtol=1e-6, atol=0):
        return float(r[0])
    if exp.ndim >= 2:  # one factor per index of the first axis (a row)?
        per = []
        for k in range(exp.shape[0]):
            m = mask[k]
            if not m.any():
                return None
            rk = got[k][m] / exp[k][m]
            if not np.allclose(rk, rk.ravel()[0], rtol=1e-6, atol=0):
                return None
            per.append(float(rk.ravel()[0]))
        return np.array(per)
    return None


def _column_ratio(got, exp):
    """One ratio got/exp per index of the last axis (a column), else None."""
    if exp.ndim < 2:
        return None
    per = []
    for j in range(exp.shape[-1]):
        e, g = exp[..., j], got[..., j]
        m = np.abs(e) > 1e-12 * max(1.0, float(np.abs(exp).max(initial=0.0)))
        if not m.any() or np.any(np.abs(g[~m]) > 1e-9 * max(1.0, float(np.abs(got).max(initial=0.0)))):
            return None
        r = g[m] / e[m]
        if not np.allclose(r, r[0], rtol=1e-6, atol=0):
            return None
        per.append(float(r[0]))
    return np.array(per)


#: How an axis is called in feedback: its name, and the plural.
_PLURAL = {"point": "points", "component": "components", "feature": "features", "cluster": "clusters", "row": "rows"}


def _plural(name: str) -> str:
    return _PLURAL.get(name, name + "s")


def _is_matrix(axes) -> bool:
    """The last two axes are a D×D matrix over the features (a covariance or a precision)."""
    return axes is not None and len(axes) >= 2 and tuple(axes[-2:]) == ("feature", "feature")


def _fmt(a) -> str:
    return np.array2string(np.asarray(a, dtype=float), precision=4, suppress_small=True)


def describe(got, expected, factors: dict | None = None, axes: tuple[str, ...] | None = None) -> str:
    """One sentence on how ``got`` differs from ``expected`` (same shape), or '' if nothing simple fits.

    ``axes`` names what each axis of the array counts (``"point"``,
    ``"component"``, ``"feature"``); without it the sentence speaks of rows
    and columns only, and never calls an entry a variance or a covariance.
    """
    got, exp = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    if got.shape != exp.shape:
        return ""
    if axes is not None and len(axes) != exp.ndim:
        axes = None
    factors = factors or {}
    matrix = _is_matrix(axes)
    first = axes[0] if axes else "row"
    if np.allclose(got, -exp, rtol=1e-8, atol=1e-12) and np.abs(exp).max(initial=0) > 0:
        return _said("the sign flipped", "your values are the right ones with the sign flipped.")
    ratio = _constant_ratio(got, exp)
    if ratio is not None and not np.allclose(ratio, 1.0, rtol=1e-8):
        label = name_factor(ratio, factors)
        if np.ndim(ratio) == 0:
            return _said(
                "a constant factor",
                f"your values are {ratio:.6g} times the right ones" + (f" (a factor {label})." if label else "."),
            )
        if first == "row":
            who = "each row's values are"
        else:
            who = f"each {first}'s values (one row of the array per {first}) are"
        extra = ""
        if first == "point" and axes and axes[-1] == "component":
            extra = " Responsibilities of one point must sum to 1 over the components: are your rows normalised?"
        return _said(
            "a factor per component",
            f"{who} off by its own factor {_fmt(ratio)}" + (f" (that is {label})." if label else ".") + extra,
        )
    columns = _column_ratio(got, exp)
    if columns is not None and not np.allclose(columns, 1.0, rtol=1e-8) and exp.shape[0] > 1:
        last = axes[-1] if axes else "column"
        who = "each column's values are" if last == "column" else f"each {last}'s values (one column per {last}) are"
        label = name_factor(columns, factors)
        return _said(
            "a factor per component",
            f"{who} off by its own factor {_fmt(columns)}" + (f" (that is {label})." if label else "."),
        )
    diff = got - exp
    if diff.size > 1 and np.allclose(diff, diff.ravel()[0], rtol=1e-8, atol=1e-10) and abs(diff.ravel()[0]) > 1e-10:
        return _said("a constant offset", f"every value is off by the same constant, {diff.ravel()[0]:.6g}.")
    if exp.ndim >= 2 and exp.shape[-1] == exp.shape[-2]:
        if np.allclose(got, np.swapaxes(exp, -1, -2)) and not np.allclose(exp, np.swapaxes(exp, -1, -2)):
            if axes is not None and not matrix and exp.ndim == 2:
                return _said(
                    "the transpose",
                    f"it is the transpose of the right answer: rows should be {_plural(axes[0])}, "
                    f"columns {_plural(axes[1])}.",
                )
            return _said("the transpose", "it is the transpose of the right answer.")
        if axes is None or matrix:
            try:
                inv = np.linalg.inv(exp)
                if np.allclose(got, inv, rtol=1e-6, atol=1e-10):
                    return _said(
                        "the matrix inverse",
                        "it is the matrix inverse of the right answer"
                        + (" (a precision Σ⁻¹ in place of a covariance Σ?)." if matrix else "."),
                    )
            except np.linalg.LinAlgError:
                pass
    if exp.ndim >= 1 and exp.shape[0] > 1 and not (exp.ndim == 2 and matrix):
        order = [_matching_row(got[k], exp) for k in range(exp.shape[0])]
        if all(o is not None for o in order) and sorted(order) == list(range(exp.shape[0])) and order != sorted(order):
            return _said(
                "rows in another order",
                f"the right values, but the {_plural(first)} (rows) come in another order.",
            )
    with np.errstate(all="ignore"):
        if np.all(exp >= 0) and np.allclose(got, np.sqrt(exp), rtol=1e-7, atol=1e-12):
            return _said(
                "the square root",
                "it is the square root of the right values"
                + (" (a standard deviation in place of a variance?)." if matrix else "."),
            )
        if np.allclose(got, exp**2, rtol=1e-7, atol=1e-12):
            return _said("the square", "it is the square of the right values.")
        if np.all(np.abs(exp) > 1e-12) and np.allclose(got, 1.0 / exp, rtol=1e-7, atol=1e-12):
            return _said("the reciprocal", "it is the reciprocal of the right values.")
    bad = ~np.isclose(got, exp, rtol=1e-8, atol=1e-10)
    if bad.ndim >= 1 and bad.any() and not bad.all():
        if bad.ndim >= 2 and exp.shape[-1] == exp.shape[-2] and (matrix or axes is None):
            eye = np.eye(exp.shape[-1], dtype=bool)
            what_diag = " (the variances)" if matrix else ""
            what_off = " (the covariances between features)" if matrix else ""
            if not (bad & ~eye).any():
                return _said(
                    "only the diagonal",
                    f"only the diagonal entries{what_diag} are wrong; the off-diagonal ones are right.",
                )
            if not (bad & eye).any():
                return _said(
                    "only the off-diagonal",
                    f"only the off-diagonal entries{what_off} are wrong.",
                )
        rows = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))
        if rows.size < bad.shape[0] and not (bad.ndim == 2 and matrix):
            return _only_some("row", rows, first, bad.shape[0])
        if bad.ndim >= 2:
            cols = np.flatnonzero(bad.reshape(bad.shape[0], bad.shape[1], -1).any(axis=(0, 2)))
            if cols.size < bad.shape[1]:
                second = axes[1] if axes else "column"
                return _only_some("column", cols, second, bad.shape[1])
    return ""


def _only_some(where: str, index, name: str, total: int) -> Difference:
    """'only rows 0, 2 differ (components 0, 2).': the array's rows or columns, and what they stand for.

    "Only" while at most half of them differ; beyond that, how many: '185 of 200 rows differ, starting with rows
    0, 1, 2.'
    """
    many = index.size > 1
    if 2 * index.size <= total:
        which = ", ".join(map(str, index[:6])) + (", ..." if index.size > 6 else "")
        text = f"only {where}{'s' if many else ''} {which} {'differ' if many else 'differs'}"
        kind = f"only some {where}s"
    else:
        which = ", ".join(map(str, index[:3]))
        text = f"{index.size} of {total} {where}s differ, " + (
            f"starting with {where}s {which}" if index.size > 3 else f"{where}s {which}"
        )
        kind = f"most {where}s"
    if name not in (where, "row", "column"):
        more = ", ..." if kind.startswith("most") and index.size > 3 else ""
        text += f" ({_plural(name) if many else name} {which}{more})"
    return _said(kind, text + ".")


def _matching_row(row, exp):
    for j in range(exp.shape[0]):
        if np.allclose(row, exp[j], rtol=1e-8, atol=1e-10):
            return j
    return None
