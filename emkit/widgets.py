"""Interactive viewers for lectures and self-study (ipywidgets + matplotlib).

Each viewer draws its figure **once**; a step control (a slider as wide as the
figure, ◀ ▶ buttons, a play button and a label saying what the step shows)
then updates the figure's artists in place (colours, positions, ellipses,
titles) and sends the new frame as a PNG to an ``Image`` widget. The same
frame is the viewer's static form: shown wherever widgets cannot run (GitHub,
the static slide decks, a PDF), so a viewer cell never prints
``VBox(children=...)``.

* :func:`kmeans_stepper` (:class:`KMeansFrames`): k-means, one half-step
  (assign or update) at a time, with the Voronoi regions of the centres.
* :func:`soft_assignment_slider` (:class:`SoftFrames`): the stiffness β of
  soft k-means, from uniform weights to hard labels.
* :func:`gmm_stepper` (:class:`GMMFrames`): a Gaussian mixture fit, one E-step
  or M-step at a time, with the log-likelihood trace kept in step.
* :func:`kmeans_explorer`, :func:`gmm_explorer` (:class:`Explorer`): the same,
  where the learner picks K and presses "new start" for another random start.

Every control has a visible, accessible name ("◀ back", "next ▶", "play ⏵",
"components", "new start"), and the caption of a step has a row of its own.

The plain drawing functions (:func:`draw_kmeans_step`, :func:`draw_soft_assignment`,
:func:`draw_gmm_step`) draw one step on given axes, for the static figures
that stand before every viewer in the notebooks, and for tests.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.patches import FancyArrowPatch

from . import gmm, kmeans, soft
from .plotting import PALETTE, covariance_ellipse_points, mix_colors, plot_clusters, plot_gaussian_mixture

REGION_ALPHA = 0.12  # how strongly a centre's region is tinted with its colour

__all__ = [
    "Frames",
    "GMMFrames",
    "KMeansFrames",
    "SoftFrames",
    "Viewer",
    "Explorer",
    "draw_gmm_step",
    "draw_kmeans_step",
    "draw_soft_assignment",
    "gmm_explorer",
    "gmm_step_state",
    "gmm_stepper",
    "hmm_posterior_viewer",
    "kmeans_explorer",
    "kmeans_step_state",
    "kmeans_stepper",
    "png_bytes",
    "soft_assignment_slider",
]

PNG_OPTIONS = {"pil_kwargs": {"compress_level": 1}}  # a frame is sent many times: fast compression over size


def _figure(figsize, ncols=1, width_ratios=None, dpi=80):
    """A figure that belongs to no pyplot window (no inline display, no global state), on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, width_ratios=width_ratios) if ncols > 1 else fig.subplots()
    return fig, axes


def png_bytes(fig) -> bytes:
    """The whole figure as PNG (a full draw)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **PNG_OPTIONS)
    return buf.getvalue()


class Frames:
    """A figure whose static part (axes, ticks, grid, labels) is drawn once and kept as a background.

    A subclass creates its artists, lists the ones that change in
    ``self.dynamic`` and calls :meth:`freeze`; each frame then restores the
    background, draws only the changing artists (blitting) and encodes the
    pixels as PNG. Text layout, the slow part of a matplotlib draw, is paid
    once instead of every frame.
    """

    fig = None
    dynamic: list

    def freeze(self) -> None:
        for artist in self.dynamic:
            artist.set_animated(True)
        self.fig.canvas.draw()  # lays out (constrained layout) and draws the static part only
        self.fig.set_layout_engine("none")  # positions fixed from now on
        self._background = self.fig.canvas.copy_from_bbox(self.fig.bbox)

    def background(self):
        """The pixels every frame starts from (subclasses may add a part that changes seldom)."""
        return self._background

    def render(self) -> bytes:
        """The current frame as PNG: the background plus the changing artists."""
        from PIL import Image

        canvas = self.fig.canvas
        canvas.restore_region(self.background())
        for artist in self.dynamic:
            (artist.axes or self.fig).draw_artist(artist)
        width, height = canvas.get_width_height()
        image = Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="PNG", compress_level=1)
        return buf.getvalue()


# ---------------------------------------------------------------------------
# The step control shared by every viewer
# ---------------------------------------------------------------------------


VIEWER_CSS = (
    "<style>.emkit-frames > .lm-TabBar, .emkit-frames > .widget-tab-bar { display: none !important; }"
    " .emkit-frames > .widget-tab-contents { padding: 0 !important; border: 0 !important; }</style>"
)


def _frame_deck(children, index: int, layout):
    """A Tab showing child ``index`` with its tab bar hidden: a deck of pre-built views, switched in the browser."""
    import ipywidgets as w

    layout.overflow = "hidden"
    deck = w.Tab(children, selected_index=index, layout=layout)
    deck.add_class("emkit-frames")
    return deck


class Viewer:
    """A frame source (``frames.show(value)`` moves its artists to one step) behind a step control.

    ``values`` are the steps (integers for half-steps, numbers for a
    parameter); ``describe(value)`` says what a step shows. The control is a
    slider as wide as the figure, ◀ and ▶ buttons, a play button and a label.

    Every frame is rendered once, when the viewer is first displayed (blitting
    makes that a few tens of milliseconds a frame), and held by the browser as
    a deck of image views (a ``Tab`` with its bar hidden) linked to the slider
    in JavaScript: moving the slider (mouse, keyboard or play) shows another
    view in the browser, with no round trip to the kernel and no new decode.
    A viewer that is never displayed (a notebook run without a frontend)
    renders nothing.
    """

    def __init__(self, frames, values, describe, *, start=0, interval_ms=700):
        import ipywidgets as w

        self.frames, self.values, self.describe = frames, list(values), describe
        self.width = f"{int(frames.fig.get_figwidth() * frames.fig.dpi)}px"
        self.height = f"{int(frames.fig.get_figheight() * frames.fig.dpi)}px"
        n = len(self.values)
        self.slider = w.IntSlider(
            value=start, min=0, max=n - 1, readout=False, continuous_update=True, layout=w.Layout(width=self.width),
            description="step", description_allow_html=False, style={"description_width": "3em"},
        )  # fmt: skip
        # The animation is ipywidgets' Play (it runs in the browser), driven by a labelled toggle: Play's own
        # icon buttons have no accessible names, and its "play" icon looks like "next".
        self.play = w.Play(value=start, min=0, max=n - 1, interval=interval_ms, show_repeat=False)
        self.play.layout.display = "none"
        self.playing = w.ToggleButton(
            value=False, description="play ⏵", tooltip="play the steps one after another (click again to stop)",
            layout=w.Layout(width="7em"),
        )  # fmt: skip
        self.previous = w.Button(description="◀ back", tooltip="previous step", layout=w.Layout(width="6.5em"))
        self.next = w.Button(description="next ▶", tooltip="next step", layout=w.Layout(width="6.5em"))
        w.jslink((self.play, "value"), (self.slider, "value"))
        w.jslink((self.playing, "value"), (self.play, "playing"))
        self.previous.on_click(lambda _b: self.step(-1))
        self.next.on_click(lambda _b: self.step(+1))
        self._pngs: list[bytes | None] = [None] * n
        self._box = None

    def frame(self, index: int) -> bytes:
        """The PNG of step ``index`` (rendered on first use, then kept)."""
        index = int(index)
        if self._pngs[index] is None:
            self.frames.show(self.values[index])
            self._pngs[index] = self.frames.render()
        return self._pngs[index]

    def caption(self, index: int) -> str:
        return f"<b>{index + 1} / {len(self.values)}</b>&nbsp; {self.describe(self.values[index])}"

    @property
    def box(self):
        """The widget: the control above a stack of every frame (built, and every frame rendered, once)."""
        if self._box is None:
            import ipywidgets as w

            images = [
                w.Image(value=self.frame(k), format="png", layout=w.Layout(width=self.width))
                for k in range(len(self.values))
            ]  # noqa: E501
            labels = [w.HTML(self.caption(k), layout=w.Layout(width="100%")) for k in range(len(self.values))]
            # A Tab keeps a view of every child and only hides all but one (ipywidgets' Stack would build
            # the shown child's view afresh, and decode its PNG again, on every step); its tab bar is hidden
            # by VIEWER_CSS. A fixed size with hidden overflow keeps a step's layout inside the box; the
            # caption has a row of its own, two lines high, so that the longest one is shown whole.
            self.stack = _frame_deck(images, self.slider.value, w.Layout(width=self.width, height=self.height))
            self.labels = _frame_deck(labels, self.slider.value, w.Layout(width=self.width, height="3.4em"))
            w.jslink((self.slider, "value"), (self.stack, "selected_index"))
            w.jslink((self.slider, "value"), (self.labels, "selected_index"))
            self._box = w.VBox(
                [
                    w.HBox([self.previous, self.playing, self.next, self.play], layout=w.Layout(width=self.width)),
                    self.labels,
                    self.slider,
                    self.stack,
                    w.HTML(VIEWER_CSS, layout=w.Layout(display="none")),
                ],
                layout=w.Layout(width="max-content"),
            )
        return self._box

    def step(self, delta: int) -> None:
        self.slider.value = int(np.clip(self.slider.value + delta, 0, len(self.values) - 1))

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
        index = self.slider.value
        data["image/png"] = base64.b64encode(self.frame(index)).decode("ascii")  # the frame static renderers show
        data["text/plain"] = f"viewer at step {index + 1} of {len(self.values)}: {self.describe(self.values[index])}"
        return data


# ---------------------------------------------------------------------------
# k-means
# ---------------------------------------------------------------------------


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


def _inertia(X, labels, centers):
    return None if labels is None else float(((X - centers[labels]) ** 2).sum())


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
    J = _inertia(X, labels, centers)
    if J is not None:
        caption += f"\ninertia J = {J:.2f}"
    ax.set_title(caption, fontsize=12)
    return J


def _region_grid(X, resolution: int = 150):
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.05 * (hi - lo)
    return np.meshgrid(
        np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution), np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    )


def _region_cmap(K):
    from matplotlib.colors import ListedColormap

    return ListedColormap([PALETTE[k % len(PALETTE)] for k in range(K)])


def _draw_regions(ax, X, centers, resolution: int = 150):
    """Shade each centre's Voronoi cell: the points that would be assigned to it."""
    gx, gy = _region_grid(X, resolution)
    owner = kmeans.assign(np.column_stack([gx.ravel(), gy.ravel()]), centers).reshape(gx.shape)
    K = len(centers)
    return ax.pcolormesh(
        gx, gy, owner, cmap=_region_cmap(K), alpha=REGION_ALPHA, shading="auto", vmin=-0.5, vmax=K - 0.5
    )


class KMeansFrames(Frames):
    """The k-means figure, drawn once; :meth:`show` moves its artists to half-step ``step``."""

    def __init__(self, X, history: dict, *, figsize=(10, 5.5), labels=None):
        self.X, self.history = np.asarray(X, dtype=float), history
        self.axis_labels = labels or ("feature 1", "feature 2")
        self.fig, self.ax = _figure(figsize)
        ax = self.ax
        gx, gy = _region_grid(self.X, resolution=110)
        self._grid = np.column_stack([gx.ravel(), gy.ravel()])
        self._grid_shape = gx.shape
        self._owners = {}  # centres (as bytes) -> the region image (which centre owns each grid cell)
        K = len(history["centers"][0])
        from matplotlib.colors import to_rgb

        self._rgb = np.array([to_rgb(PALETTE[k % len(PALETTE)]) for k in range(K)])
        # the regions' tints, blended with the white axes once here rather than by Agg every frame
        self._tint = 1 - REGION_ALPHA * (1 - self._rgb)
        extent = (gx.min(), gx.max(), gy.min(), gy.max())
        self.regions = ax.imshow(
            np.ones((*gx.shape, 3)), extent=extent, origin="lower", aspect="auto", interpolation="nearest"
        )
        # one marker line per colour (grey: not yet assigned): Agg stamps a line's markers far faster
        # than it draws a scatter whose points each carry their own colour
        style = {"marker": "o", "linestyle": "none", "markersize": 4.2, "markeredgewidth": 0, "alpha": 0.8}
        self.unassigned = ax.plot(self.X[:, 0], self.X[:, 1], color="0.45", **style)[0]
        self.clusters = [ax.plot([], [], color=PALETTE[k % len(PALETTE)], **style)[0] for k in range(K)]
        self.centres = ax.scatter(
            *np.asarray(history["centers"][0]).T, marker="X", s=260, c=[PALETTE[k % 8] for k in range(K)],
            edgecolors="black", linewidths=1.5, zorder=5,
        )  # fmt: skip
        self.arrows = []
        ax.set(xlabel=self.axis_labels[0], ylabel=self.axis_labels[1])
        self.title = ax.set_title("iteration 00, update: centres to the means\ninertia J = 0.00", fontsize=13)
        self.dynamic = [self.unassigned, *self.clusters, self.centres, self.title]
        self.regions.set_animated(True)
        self.freeze()
        self._with_regions = {}  # centres -> the background with their regions drawn in
        self._key = None

    def background(self):
        """The static background with the current centres' regions (kept per centres: steps revisit them)."""
        if self._key not in self._with_regions:
            canvas = self.fig.canvas
            canvas.restore_region(self._background)
            self.ax.draw_artist(self.regions)
            self._with_regions[self._key] = canvas.copy_from_bbox(self.fig.bbox)
        return self._with_regions[self._key]

    def show(self, step: int) -> float | None:
        labels, centers, previous, caption = kmeans_step_state(self.history, step)
        centers = np.asarray(centers, dtype=float)
        key = centers.tobytes()
        if key not in self._owners:
            self._owners[key] = self._tint[kmeans.assign(self._grid, centers)].reshape(*self._grid_shape, 3)
        self.regions.set_data(self._owners[key])
        self._key = key
        if labels is None:
            self.unassigned.set_data(self.X[:, 0], self.X[:, 1])
            for line in self.clusters:
                line.set_data([], [])
        else:
            labels = np.asarray(labels)
            self.unassigned.set_data([], [])
            for k, line in enumerate(self.clusters):
                line.set_data(self.X[labels == k, 0], self.X[labels == k, 1])
        self.centres.set_offsets(centers)
        for arrow in self.arrows:
            arrow.remove()
            self.dynamic.remove(arrow)
        self.arrows = []
        if previous is not None:
            for a, b in zip(np.asarray(previous), centers, strict=True):
                if np.any(a != b):
                    # a bare arrow patch (an annotation would lay out an empty text every frame)
                    arrow = FancyArrowPatch(
                        a, b, arrowstyle="->", mutation_scale=15, color="black", lw=2, animated=True, zorder=4
                    )
                    self.ax.add_patch(arrow)
                    self.arrows.append(arrow)
                    self.dynamic.append(arrow)
        J = _inertia(self.X, labels, centers)
        self.title.set_text(caption + (f"\ninertia J = {J:.2f}" if J is not None else ""))
        return J


def kmeans_stepper(X, history: dict, *, figsize=(10, 5.5), labels=None) -> Viewer:
    """A viewer over the half-steps of a k-means ``history`` (from ``kmeans.fit``); ``labels`` names the axes."""
    frames = KMeansFrames(X, history, figsize=figsize, labels=labels)
    steps = range(2 * len(history["labels"]) + 1)
    return Viewer(frames, steps, lambda s: kmeans_step_state(history, s)[3])


# ---------------------------------------------------------------------------
# Soft assignment
# ---------------------------------------------------------------------------


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


class SoftFrames(Frames):
    """The soft-assignment figure, drawn once; :meth:`show` recolours the points for a stiffness β."""

    def __init__(self, X, centers, *, figsize=(7.5, 5.5)):
        self.X = np.asarray(X, dtype=float)
        self.centers = np.asarray(centers, dtype=float)
        self._d2 = kmeans.squared_distances(self.X, self.centers)
        self.fig, self.ax = _figure(figsize)
        self.points = self.ax.scatter(self.X[:, 0], self.X[:, 1], s=18, color="0.45", linewidths=0)
        for k, c in enumerate(self.centers):
            self.ax.scatter(*c, marker="X", s=220, color=PALETTE[k % len(PALETTE)], edgecolors="black", zorder=5)
        self.ax.set(xlabel="feature 1", ylabel="feature 2")
        self.title = self.ax.set_title("β = 0.000: mean of the largest weight 0.00", fontsize=13)
        self.dynamic = [self.points, self.title]
        self.freeze()

    def show(self, beta: float):
        w_NK = soft.softmax_weights(self._d2, beta)
        self.points.set_facecolor(mix_colors(w_NK))
        self.title.set_text(f"β = {beta:.3g}: mean of the largest weight {w_NK.max(axis=1).mean():.2f}")
        return w_NK


def soft_assignment_slider(X, centers, *, beta_range=(1e-3, 1e2), n_values: int = 51, figsize=(7.5, 5.5)) -> Viewer:
    """A viewer over the stiffness β of soft k-means, on a logarithmic scale."""
    lo, hi = np.log10(beta_range[0]), np.log10(beta_range[1])
    betas = 10.0 ** np.linspace(lo, hi, n_values)
    frames = SoftFrames(X, centers, figsize=figsize)

    def describe(beta):
        return f"β = {beta:.3g} (small: every point shared evenly; large: hard labels, as k-means)"

    return Viewer(frames, betas, describe, start=n_values // 2)


# ---------------------------------------------------------------------------
# Gaussian mixtures
# ---------------------------------------------------------------------------


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


class GMMFrames(Frames):
    """The mixture figure (data with ellipses; log-likelihood trace), drawn once; :meth:`show` moves its artists."""

    LEVELS = (0.5, 0.9)

    def __init__(self, X, history: dict, covariance_type: str = "full", *, figsize=(12, 5), labels=None):
        self.X = np.asarray(X, dtype=float)
        self.history, self.covariance_type = history, covariance_type
        gmm_step_state(history, 0)  # fails early, and clearly, without a parameter history
        self.fig, (self.ax, self.ax_trace) = _figure(figsize, ncols=2, width_ratios=[3, 2])
        self.points = self.ax.scatter(self.X[:, 0], self.X[:, 1], s=18, color="0.45", alpha=0.85, linewidths=0)
        K = len(history["params"][0][0])
        self.ellipses = [
            [
                self.ax.plot([], [], color=PALETTE[k % 8], ls="-" if lv == max(self.LEVELS) else "--")[0]
                for lv in self.LEVELS
            ]
            for k in range(K)
        ]  # fmt: skip
        self.means = self.ax.scatter(
            np.zeros(K), np.zeros(K), marker="X", s=200, c=[PALETTE[k % 8] for k in range(K)], edgecolors="black",
            linewidths=1.5, zorder=5,
        )  # fmt: skip
        xlabel, ylabel = labels or ("feature 1", "feature 2")
        self.ax.set(xlabel=xlabel, ylabel=ylabel)
        self.title = self.ax.set_title("", fontsize=13)
        ll = np.asarray(history["log_likelihood"])
        self.ax_trace.plot(np.arange(len(ll)), ll, "o-", color="0.6", ms=3)
        (self.marker,) = self.ax_trace.plot([0], [ll[0]], "o", color=PALETTE[3], ms=11)
        self.ax_trace.set(xlabel="iteration t", ylabel="log p(x | θᵗ)")
        self.trace_title = self.ax_trace.set_title("", fontsize=13)
        pad = 0.08 * (self.X.max(axis=0) - self.X.min(axis=0))
        self.ax.set_xlim(self.X[:, 0].min() - pad[0], self.X[:, 0].max() + pad[0])
        self.ax.set_ylim(self.X[:, 1].min() - pad[1], self.X[:, 1].max() + pad[1])
        self.title.set_text("iteration 00, M-step: θ⁰⁰ from those responsibilities")
        self.trace_title.set_text("log-likelihood at θ⁰⁰: -0000.00")
        self.dynamic = [self.points, *(line for lines in self.ellipses for line in lines), self.means, self.marker]
        self.dynamic += [self.title, self.trace_title]
        self.freeze()

    def show(self, step: int):
        shown, colour_params, t, caption = gmm_step_state(self.history, step)
        weights, means, covariances = shown
        resp = None
        if colour_params is None:
            self.points.set_facecolor("0.45")
        else:
            resp, _ = gmm.e_step(self.X, *colour_params, covariance_type=self.covariance_type)
            self.points.set_facecolor(mix_colors(resp))
        means = np.asarray(means, dtype=float)
        cov_KDD = gmm.full_covariances(covariances, self.covariance_type, len(means), 2)
        for k, lines in enumerate(self.ellipses):
            cov = cov_KDD[k]
            for line, level in zip(lines, self.LEVELS, strict=True):
                pts = covariance_ellipse_points(means[k], cov, level)
                line.set_data(pts[:, 0], pts[:, 1])
                line.set_linewidth(1.0 + 4.0 * float(np.asarray(weights)[k]))
        self.means.set_offsets(means)
        ll = np.asarray(self.history["log_likelihood"])
        self.marker.set_data([t], [ll[t]])
        self.title.set_text(caption)
        self.trace_title.set_text(f"log-likelihood at θ{_sup(t)}: {ll[t]:.2f}")
        return resp


def gmm_stepper(X, history: dict, covariance_type: str = "full", *, figsize=(12, 5), labels=None) -> Viewer:
    """A viewer over the E- and M-half-steps of a mixture fit made with ``record_params=True``."""
    frames = GMMFrames(X, history, covariance_type, figsize=figsize, labels=labels)
    steps = range(2 * (len(history["params"]) - 1) + 1)
    return Viewer(frames, steps, lambda s: gmm_step_state(history, s)[3])


# ---------------------------------------------------------------------------
# Explorers: the learner picks K and the start, the viewer follows
# ---------------------------------------------------------------------------


class Explorer:
    """A viewer with a choice of K and of the starting point ("new start" draws another seed).

    ``make(K, seed)`` returns a :class:`Viewer` for that choice; changing K or
    pressing "new start" builds the new viewer (a fit and its frames: a
    second or so) and puts it in place of the old one. The explorer's static
    form is its viewer's current frame.
    """

    def __init__(self, make, ks, k: int, seed: int = 0):
        import ipywidgets as w

        self.make, self.seed = make, int(seed)
        self.k = w.Dropdown(
            options=[(f"K = {v}", v) for v in ks], value=k, description="components", style={"description_width": "7em"}
        )
        self.new_start = w.Button(description="new start", tooltip="run again from another random start")
        self.status = w.HTML(layout=w.Layout(width="100%"))
        self.k.observe(lambda _change: self.refresh(), names="value")
        self.new_start.on_click(lambda _b: self.refresh(self.seed + 1))
        self.viewer = self.make(self.k.value, self.seed)
        self._describe()
        self.box = w.VBox([w.HBox([self.k, self.new_start]), self.status, self.viewer.box])

    def _describe(self) -> None:
        self.status.value = f"K = {self.k.value}, start number {self.seed}: {self.viewer.summary}"

    def refresh(self, seed: int | None = None) -> None:
        if seed is not None:
            self.seed = int(seed)
        self.viewer = self.make(self.k.value, self.seed)
        self._describe()
        children = list(self.box.children)
        children[-1] = self.viewer.box
        self.box.children = children

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)
        data = dict(bundle[0] if isinstance(bundle, tuple) else bundle)
        index = self.viewer.slider.value
        data["image/png"] = base64.b64encode(self.viewer.frame(index)).decode("ascii")
        data["text/plain"] = f"explorer at K = {self.k.value}, start {self.seed}: {self.viewer.summary}"
        return data


def kmeans_explorer(X, ks=range(2, 7), k: int = 3, seed: int = 0, *, labels=None, figsize=(10, 5.5)) -> Explorer:
    """k-means from random starts: pick K, press "new start", step through the run (random points as centres)."""
    X = np.asarray(X, dtype=float)

    def make(K, s):
        fit = kmeans.fit(X, K, init="random", seed=s, n_init=1)
        viewer = kmeans_stepper(X, fit.history, figsize=figsize, labels=labels)
        viewer.summary = f"{fit.n_iter} iterations, inertia J = {fit.inertia:.2f}"
        return viewer

    return Explorer(make, ks, k, seed)


def gmm_explorer(X, ks=range(1, 5), k: int = 2, seed: int = 0, *, labels=None, figsize=(12, 5)) -> Explorer:
    """EM for a Gaussian mixture from random starts: pick K, press "new start", step through the E- and M-steps."""
    X = np.asarray(X, dtype=float)

    def make(K, s):
        fit = gmm.fit(X, K, init="random", seed=s, n_init=1, max_iter=60, record_params=True, reg_covar=1e-6)
        viewer = gmm_stepper(X, fit.history, figsize=figsize, labels=labels)
        viewer.summary = f"{fit.n_iter} iterations, log-likelihood {fit.log_likelihood:.2f}"
        return viewer

    return Explorer(make, ks, k, seed)


# ---------------------------------------------------------------------------
# Hidden Markov models: the state posteriors, iteration by iteration
# ---------------------------------------------------------------------------


class _HMMPosteriorFrames(Frames):
    """A sequence coloured by its state posteriors γ_t(k) at θᵗ, the posteriors over time, and the
    log-likelihood trace: drawn once; :meth:`show` moves the artists to iteration t."""

    def __init__(self, X, history: dict, *, lengths=None, states=None, figsize=(12, 5.5), labels=None):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.colors import ListedColormap
        from matplotlib.figure import Figure

        from . import hmm

        params = history.get("params")
        if not params:
            raise ValueError("the fit has no parameter history: call hmm.fit(..., record_params=True)")
        self.history, self.lengths = history, lengths
        self.X = X
        self.ll = np.asarray(history["log_likelihood"], dtype=float)
        first = hmm.e_step(X, params[0], lengths)[0].gamma_TK  # checks X against θ⁰ once, clearly
        T, K = first.shape
        series = np.asarray(X, dtype=float)
        self.series = series if series.ndim == 1 else series[:, 0]  # with several features, the first is drawn
        self.t_T = np.arange(1, T + 1)
        if states is not None:
            states = np.asarray(states)
            if states.shape != (T,):
                raise ValueError(f"states must have one entry per time step, shape ({T},); got {states.shape}")
        xlabel, ylabel = labels or ("time t", "x_t")
        self.fig = Figure(figsize=figsize, dpi=80, layout="constrained")
        FigureCanvasAgg(self.fig)
        grid = self.fig.add_gridspec(2, 2, height_ratios=[1.0, 1.0], width_ratios=[3.2, 1.0])
        self.ax = self.fig.add_subplot(grid[0, :])
        self.ax_gamma = self.fig.add_subplot(grid[1, 0], sharex=self.ax)
        self.ax_trace = self.fig.add_subplot(grid[1, 1])
        self.ax.plot(self.t_T, self.series, color="0.8", lw=1.0, zorder=1)
        self.points = self.ax.scatter(self.t_T, self.series, s=14, color="0.45", linewidths=0, zorder=2)
        self.ax.set(ylabel=ylabel)
        self.title = self.ax.set_title("θ⁰⁰: each x_t coloured by its posterior γ_t(k) = p(z_t = k | x, θ⁰⁰)")
        self.lines = [
            self.ax_gamma.plot(self.t_T, first[:, k], color=PALETTE[k % len(PALETTE)], lw=1.6)[0] for k in range(K)
        ]
        top = 1.02
        if states is not None:  # the true states as a strip of colour above the posteriors, in the fit's numbering
            cmap = ListedColormap([PALETTE[k % len(PALETTE)] for k in range(K)])
            self.ax_gamma.imshow(
                states[None, :], aspect="auto", cmap=cmap, vmin=-0.5, vmax=K - 0.5, interpolation="nearest",
                extent=(0.5, T + 0.5, 1.05, 1.2),
            )  # fmt: skip
            top = 1.22
        self.ax_gamma.set(xlabel=xlabel, ylabel="γ_t(k)", ylim=(-0.03, top), xlim=(0.5, T + 0.5))
        ticks = [0.0, 0.5, 1.0] + ([1.125] if states is not None else [])
        self.ax_gamma.set_yticks(ticks, ["0", "0.5", "1", "true"][: len(ticks)])
        self.ax_trace.plot(np.arange(len(self.ll)), self.ll, "o-", color="0.6", ms=3, lw=1.5)
        (self.marker,) = self.ax_trace.plot([0], [self.ll[0]], "o", color=PALETTE[3], ms=11)
        self.ax_trace.set(xlabel="iteration t", ylabel="log p(x | θᵗ)")
        self.trace_title = self.ax_trace.set_title("ℓ(θ⁰⁰) = -00000.00", fontsize=13)
        self.dynamic = [self.points, *self.lines, self.marker, self.title, self.trace_title]
        self.freeze()

    def gamma(self, t: int) -> np.ndarray:
        """γ_t(k) at θᵗ, (T, K): the E-step of iteration t + 1."""
        from . import hmm

        return hmm.e_step(self.X, self.history["params"][t], self.lengths)[0].gamma_TK

    def show(self, t: int) -> np.ndarray:
        t = int(t)
        if not 0 <= t < len(self.history["params"]):
            raise ValueError(f"t must be between 0 and {len(self.history['params']) - 1}; got {t}")
        gamma_TK = self.gamma(t)
        self.points.set_facecolor(mix_colors(gamma_TK))
        for k, line in enumerate(self.lines):
            line.set_ydata(gamma_TK[:, k])
        self.marker.set_data([t], [self.ll[t]])
        self.title.set_text(f"θ{_sup(t)}: each x_t coloured by its posterior γ_t(k) = p(z_t = k | x, θ{_sup(t)})")
        self.trace_title.set_text(f"ℓ(θ{_sup(t)}) = {self.ll[t]:.2f}")
        return gamma_TK


def hmm_posterior_viewer(X, history: dict, *, lengths=None, states=None, figsize=(13, 5.2), labels=None) -> Viewer:
    """A viewer over the iterations of an HMM fit made with ``hmm.fit(..., record_params=True)``.

    Step t shows θᵗ: the sequence (its first feature) with each x_t coloured
    by its state posteriors γ_t(k) = p(z_t = k | x, θᵗ) mixed over the
    palette, the posteriors themselves over time (under the true states as
    a strip of colour, when ``states`` are given in the fit's numbering),
    and log p(x | θᵗ) on the trace, which never goes down. ``lengths`` as
    in :func:`emkit.hmm.fit`; ``labels`` names the time and value axes.
    """
    frames = _HMMPosteriorFrames(X, history, lengths=lengths, states=states, figsize=figsize, labels=labels)
    ll = frames.ll

    def describe(t):
        diagonal = ", ".join(f"{a:.3f}" for a in np.diag(history["params"][t].trans))
        return f"iteration {t}: θ{_sup(t)}, log p(x | θ{_sup(t)}) = {ll[t]:.2f}; stay probabilities A_kk = {diagonal}"

    viewer = Viewer(frames, range(len(history["params"])), describe)
    viewer.slider.tooltip = "EM iteration t: the posteriors γ under θᵗ"
    return viewer
