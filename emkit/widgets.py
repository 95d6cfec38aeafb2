"""Interactive viewers for lectures and self-study (ipywidgets + matplotlib).

Each viewer is a thin widget around a plain drawing function, so the drawing
can be tested without a browser and reused for the static figure that stands
before every widget in the notebooks.

* :func:`kmeans_stepper`, :func:`draw_kmeans_step`: k-means, one half-step
  (assign or update) at a time.
* :func:`soft_assignment_slider`, :func:`draw_soft_assignment`: the stiffness
  β of soft k-means, from uniform weights to hard labels.
* :func:`gmm_stepper`, :func:`draw_gmm_step`: a Gaussian mixture fit, one
  E-step or M-step at a time, with the log-likelihood trace kept in step.
"""

from __future__ import annotations

import numpy as np

from . import gmm, kmeans, soft
from .plotting import PALETTE, mix_colors, plot_clusters, plot_gaussian_mixture

__all__ = [
    "draw_gmm_step",
    "draw_kmeans_step",
    "draw_soft_assignment",
    "gmm_step_state",
    "gmm_stepper",
    "kmeans_stepper",
    "soft_assignment_slider",
]


def _slider_viewer(slider, draw, *, figsize, ncols: int = 1, width_ratios=None):
    """A slider above a figure that ``draw(axes, value)`` redraws whenever the slider moves."""
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    out = widgets.Output()
    layout = {"width_ratios": width_ratios} if width_ratios else {}

    def show(change=None):
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, ncols, figsize=figsize, **layout)
            draw(axes, slider.value)
            plt.show()

    slider.observe(show, names="value")
    show()
    return widgets.VBox([slider, out])


def kmeans_step_state(history: dict, step: int):
    """What half-step ``step`` shows: (labels or None, centres, previous centres or None, caption).

    Step 0 is the start; step 2t-1 is the assignment of iteration t (labels
    from the old centres cᵗ⁻¹); step 2t is the update of iteration t (the
    centres move to cᵗ).
    """
    n_iter = len(history["labels"])
    if not 0 <= step <= 2 * n_iter:
        raise ValueError(f"step must be between 0 and {2 * n_iter}; got {step}")
    if step == 0:
        return None, history["centers"][0], None, "start: initial centres"
    t = (step + 1) // 2
    labels = history["labels"][t - 1]
    if step % 2 == 1:
        return labels, history["centers"][t - 1], None, f"iteration {t}, assign: each point to its nearest centre"
    return labels, history["centers"][t], history["centers"][t - 1], f"iteration {t}, update: centres to the means"


def draw_kmeans_step(ax, X, history: dict, step: int, *, regions: bool = True):
    """Draw half-step ``step`` of a k-means history on ``ax`` and return the inertia shown."""
    X = np.asarray(X, dtype=float)
    labels, centers, previous, caption = kmeans_step_state(history, step)
    ax.clear()
    if regions:
        _draw_regions(ax, X, centers)
    plot_clusters(ax, X, labels, centers)
    if previous is not None:
        for a, b in zip(previous, centers, strict=True):
            if np.any(a != b):
                ax.annotate("", xy=b, xytext=a, arrowprops={"arrowstyle": "->", "color": "black", "lw": 2})
    J = None
    if labels is not None:
        J = float(((X - centers[labels]) ** 2).sum())
        caption += f"\ninertia J = {J:.2f}"
    ax.set_title(caption, fontsize=12)
    return J


def _draw_regions(ax, X, centers, resolution: int = 150):
    """Shade each centre's Voronoi cell: the points that would be assigned to it."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.05 * (hi - lo)
    gx, gy = np.meshgrid(
        np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution), np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    )
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    owner = kmeans.assign(grid, centers).reshape(gx.shape)
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap([PALETTE[k % len(PALETTE)] for k in range(len(centers))])
    ax.pcolormesh(gx, gy, owner, cmap=cmap, alpha=0.12, shading="auto", vmin=-0.5, vmax=len(centers) - 0.5)


def kmeans_stepper(X, history: dict, *, figsize=(7, 5)):
    """A slider over the half-steps of a k-means ``history`` (from ``kmeans.fit``)."""
    import ipywidgets as widgets

    slider = widgets.IntSlider(value=0, min=0, max=2 * len(history["labels"]), description="half-step")
    return _slider_viewer(slider, lambda ax, step: draw_kmeans_step(ax, X, history, step), figsize=figsize)


def draw_soft_assignment(ax, X, centers, beta: float):
    """Points coloured by soft-k-means weights softmax(-β d²); returns the weights (N×K)."""
    X = np.asarray(X, dtype=float)
    w_NK = soft.softmax_weights(kmeans.squared_distances(X, centers), beta)
    ax.clear()
    ax.scatter(X[:, 0], X[:, 1], s=18, c=mix_colors(w_NK), linewidths=0)
    for k, c in enumerate(np.asarray(centers, dtype=float)):
        ax.scatter(*c, marker="X", s=220, color=PALETTE[k % len(PALETTE)], edgecolors="black", zorder=5)
    hardness = w_NK.max(axis=1).mean()
    ax.set_title(f"β = {beta:.3g}: mean of the largest weight {hardness:.2f}", fontsize=12)
    return w_NK


def soft_assignment_slider(X, centers, *, beta_range=(1e-3, 1e2), figsize=(7, 5)):
    """A logarithmic slider over the stiffness β of soft k-means."""
    import ipywidgets as widgets

    lo, hi = np.log10(beta_range[0]), np.log10(beta_range[1])
    slider = widgets.FloatLogSlider(value=10 ** ((lo + hi) / 2), min=lo, max=hi, step=0.1, description="β")
    return _slider_viewer(slider, lambda ax, beta: draw_soft_assignment(ax, X, centers, beta), figsize=figsize)


def gmm_step_state(history: dict, step: int):
    """What half-step ``step`` of a mixture fit shows: (params drawn, params for the colours or None, t, caption).

    ``history`` comes from ``gmm.fit(..., record_params=True)``. Step 0 is the
    start θ⁰; step 2t-1 is the E-step of iteration t (responsibilities from
    θᵗ⁻¹ colour the points); step 2t is its M-step (the ellipses move to θᵗ,
    the colours are still the responsibilities they were fitted to).
    """
    params = history.get("params")
    if params is None:
        raise ValueError("the fit has no parameter history: call gmm.fit(..., record_params=True)")
    n_iter = len(params) - 1
    if not 0 <= step <= 2 * n_iter:
        raise ValueError(f"step must be between 0 and {2 * n_iter}; got {step}")
    if step == 0:
        return params[0], None, 0, "start θ⁰"
    t = (step + 1) // 2
    if step % 2 == 1:
        return params[t - 1], params[t - 1], t - 1, f"iteration {t}, E-step: responsibilities from θ{_sup(t - 1)}"
    return params[t], params[t - 1], t, f"iteration {t}, M-step: θ{_sup(t)} from those responsibilities"


def _sup(t: int) -> str:
    return str(t).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


def draw_gmm_step(axes, X, history: dict, step: int, covariance_type: str = "full"):
    """Draw half-step ``step`` on two axes (data and ellipses; log-likelihood trace); returns the resp used."""
    ax_data, ax_trace = axes
    X = np.asarray(X, dtype=float)
    shown, colour_params, t, caption = gmm_step_state(history, step)
    resp = None
    if colour_params is not None:
        resp, _ = gmm.e_step(X, *colour_params, covariance_type=covariance_type)
    ax_data.clear()
    plot_gaussian_mixture(ax_data, X, *shown, covariance_type=covariance_type, resp=resp)
    ax_data.set_title(caption, fontsize=12)
    ll = np.asarray(history["log_likelihood"])
    ax_trace.clear()
    ax_trace.plot(np.arange(len(ll)), ll, "o-", color="0.6", ms=3)
    ax_trace.plot([t], [ll[t]], "o", color=PALETTE[3], ms=10)
    ax_trace.set(xlabel="iteration t", ylabel="log p(x | θᵗ)")
    ax_trace.set_title(f"log-likelihood at θ{_sup(t)}: {ll[t]:.2f}", fontsize=12)
    return resp


def gmm_stepper(X, history: dict, covariance_type: str = "full", *, figsize=(13, 5)):
    """A slider over the E- and M-half-steps of a mixture fit made with ``record_params=True``."""
    import ipywidgets as widgets

    slider = widgets.IntSlider(value=0, min=0, max=2 * (len(history["params"]) - 1), description="half-step")
    return _slider_viewer(
        slider,
        lambda axes, step: draw_gmm_step(axes, X, history, step, covariance_type),
        figsize=figsize,
        ncols=2,
        width_ratios=[3, 2],
    )
