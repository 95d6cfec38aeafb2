"""One look for every figure in the course: readable on a projector, colour-blind safe.

* :data:`PALETTE`: the Okabe–Ito colours (distinguishable with the common
  colour-vision deficiencies), component k gets ``PALETTE[k]``.
* :func:`use_course_style`: figures sized for a 1280×720 slide, text ≥ 18 px there;
  :func:`panels` for multi-panel figures (at most 2 rows of 3), :func:`legend_outside`.
* :func:`covariance_ellipse_points`: the contour of N(μ, Σ) that holds a given
  probability mass (in 2-D, the set (x-μ)ᵀΣ⁻¹(x-μ) ≤ -2 log(1 - level)).
* :func:`plot_clusters`, :func:`plot_gaussian_mixture`: the two pictures the
  notebooks draw again and again.
"""

from __future__ import annotations

import numpy as np

from . import gmm

__all__ = [
    "DPI",
    "PALETTE",
    "SMALL_TEXT_PT",
    "TALL",
    "WIDE",
    "covariance_ellipse_points",
    "legend_outside",
    "mix_colors",
    "panels",
    "plot_clusters",
    "plot_gaussian_mixture",
    "use_course_style",
]

# Okabe & Ito (2008), "Color Universal Design": orange, sky blue, bluish green,
# vermillion, reddish purple, blue, yellow (last: faint on white), then grey.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442", "#999999")


#: The figure sizes of the course, in inches at :data:`DPI` dots per inch: one figure fills a 1280×720 slide
#: (below its title) at its natural size; on the site it is scaled to the column.
DPI = 100
WIDE = (11.0, 5.4)  # one plot, or a row of up to three panels
TALL = (11.0, 5.6)  # two rows of panels (at most three in a row)
SMALL_TEXT_PT = 13.0  # the smallest text in a figure: 13 pt at 100 dpi is 18 px on the slide


def use_course_style() -> None:
    """Matplotlib settings for the course: figures sized for a 1280×720 slide, text ≥ 18 px, the palette.

    A figure of :data:`WIDE` size is 1100×540 px, which a slide shows at its
    natural size: tick labels and legends at 14 pt are 19 px on the
    projector, titles at 17 pt 24 px. Layouts are constrained (nothing
    overlaps or is cut), legends go where they hide the fewest points (or
    use :func:`legend_outside`).
    """
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.figsize": WIDE,
            "figure.dpi": DPI,
            "savefig.dpi": DPI,
            "figure.constrained_layout.use": True,
            "font.size": 15,
            "axes.titlesize": 17,
            "axes.labelsize": 16,
            "xtick.labelsize": 14,
            "ytick.labelsize": 14,
            "legend.fontsize": 14,
            "legend.title_fontsize": 14,
            "legend.framealpha": 0.9,
            "figure.titlesize": 18,
            "lines.linewidth": 3.0,
            "lines.markersize": 8,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": mpl.cycler(color=list(PALETTE)),
        }
    )


def panels(ncols: int = 1, nrows: int = 1, **kwargs):
    """``plt.subplots`` sized for a slide: one row of up to three panels, or two rows of up to three.

    More panels than that do not stay legible on a projector: split the
    figure in two instead (a ValueError says so).
    """
    import matplotlib.pyplot as plt

    if ncols > 3 or nrows > 2:
        raise ValueError(f"{nrows}×{ncols} panels are too small on a slide: at most 2 rows of 3; split the figure")
    kwargs.setdefault("figsize", WIDE if nrows == 1 else TALL)
    return plt.subplots(nrows, ncols, **kwargs)


def legend_outside(ax, **kwargs):
    """A legend to the right of the axes, off the data."""
    kwargs.setdefault("loc", "center left")
    kwargs.setdefault("bbox_to_anchor", (1.02, 0.5))
    kwargs.setdefault("frameon", False)
    return ax.legend(**kwargs)


def _color(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def mix_colors(resp_NK) -> np.ndarray:
    """RGB colour of each point: its responsibilities mixed over the palette (N, 3)."""
    from matplotlib.colors import to_rgb

    resp_NK = np.asarray(resp_NK, dtype=float)
    colors_K3 = np.array([to_rgb(_color(k)) for k in range(resp_NK.shape[1])])
    return np.clip(resp_NK @ colors_K3, 0.0, 1.0)


def covariance_ellipse_points(mean_D, cov_DD, level: float = 0.9, n_points: int = 100) -> np.ndarray:
    """Points (n_points, 2) on the ellipse of a 2-D Normal that holds ``level`` of its mass.

    For a 2-D Normal, the squared Mahalanobis distance is χ² with 2 degrees of
    freedom, whose quantile has the closed form r² = -2 log(1 - level).
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be a probability strictly between 0 and 1; got {level}")
    mean_D = np.asarray(mean_D, dtype=float)
    cov_DD = np.asarray(cov_DD, dtype=float)
    if mean_D.shape != (2,) or cov_DD.shape != (2, 2):
        raise ValueError(
            f"ellipses are drawn in 2-D: mean must have shape (2,), cov (2, 2); got {mean_D.shape}, {cov_DD.shape}"
        )
    radius = np.sqrt(-2.0 * np.log1p(-level))
    angle_T = np.linspace(0.0, 2.0 * np.pi, n_points)
    circle_T2 = np.stack([np.cos(angle_T), np.sin(angle_T)], axis=1)
    L_DD = np.linalg.cholesky(cov_DD)
    return mean_D + radius * circle_T2 @ L_DD.T


def plot_clusters(ax, X, labels=None, centers=None, *, title=None, alpha=0.8):
    """Points coloured by hard label, centres as large crosses."""
    X = np.asarray(X, dtype=float)
    if labels is None:
        ax.scatter(X[:, 0], X[:, 1], s=18, color="0.45", alpha=alpha, linewidths=0)
    else:
        labels = np.asarray(labels)
        colors = [_color(int(k)) for k in labels]
        ax.scatter(X[:, 0], X[:, 1], s=18, c=colors, alpha=alpha, linewidths=0)
    if centers is not None:
        centers = np.asarray(centers, dtype=float)
        for k, c in enumerate(centers):
            ax.scatter(*c, marker="X", s=260, color=_color(k), edgecolors="black", linewidths=1.5, zorder=5)
    if title:
        ax.set_title(title)
    return ax


def plot_gaussian_mixture(
    ax, X, weights, means, covariances, covariance_type="full", *, resp=None, levels=(0.5, 0.9), title=None
):
    """Points coloured by responsibility, and each component's probability ellipses.

    The ellipses hold ``levels`` of each component's mass (50 % and 90 % by
    default); line width grows with the component's weight.
    """
    X = np.asarray(X, dtype=float)
    if resp is None:
        ax.scatter(X[:, 0], X[:, 1], s=18, color="0.45", alpha=0.7, linewidths=0)
    else:
        ax.scatter(X[:, 0], X[:, 1], s=18, c=mix_colors(resp), alpha=0.85, linewidths=0)
    means = np.asarray(means, dtype=float)
    weights = np.asarray(weights, dtype=float)
    cov_KDD = gmm.full_covariances(covariances, covariance_type, len(means), X.shape[1])
    for k in range(len(means)):
        cov_DD = cov_KDD[k]
        for level in levels:
            pts = covariance_ellipse_points(means[k], cov_DD, level)
            ax.plot(
                pts[:, 0],
                pts[:, 1],
                color=_color(k),
                lw=1.0 + 4.0 * weights[k],
                ls="-" if level == max(levels) else "--",
            )
        ax.scatter(*means[k], marker="X", s=200, color=_color(k), edgecolors="black", linewidths=1.5, zorder=5)
    if title:
        ax.set_title(title)
    return ax
