"""The figure helpers draw what they say they draw."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.stats import chi2, multivariate_normal

from emkit import plotting


@pytest.mark.parametrize("level", [0.5, 0.9, 0.99])
def test_ellipse_is_the_contour_holding_the_stated_mass(level):
    mean, cov = np.array([1.0, -2.0]), np.array([[2.0, 0.8], [0.8, 1.0]])
    pts = plotting.covariance_ellipse_points(mean, cov, level)
    d = pts - mean
    maha = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d)
    np.testing.assert_allclose(maha, chi2.ppf(level, df=2), rtol=1e-10)
    # and a Monte Carlo check of the mass inside
    sample = multivariate_normal(mean, cov).rvs(20000, random_state=0) - mean
    inside = np.einsum("ni,ij,nj->n", sample, np.linalg.inv(cov), sample) <= chi2.ppf(level, df=2)
    assert abs(inside.mean() - level) < 0.01


def test_ellipse_rejects_bad_input():
    with pytest.raises(ValueError, match="level must be a probability"):
        plotting.covariance_ellipse_points([0, 0], np.eye(2), 1.0)
    with pytest.raises(ValueError, match="ellipses are drawn in 2-D"):
        plotting.covariance_ellipse_points([0, 0, 0], np.eye(3))


def test_mix_colors_are_responsibility_weighted():
    colors = plotting.mix_colors(np.array([[1.0, 0.0], [0.5, 0.5]]))
    first = matplotlib.colors.to_rgb(plotting.PALETTE[0])
    second = matplotlib.colors.to_rgb(plotting.PALETTE[1])
    np.testing.assert_allclose(colors[0], first)
    np.testing.assert_allclose(colors[1], (np.array(first) + second) / 2)


def test_plot_helpers_draw_on_the_axes():
    X = np.random.default_rng(0).normal(size=(30, 2))
    fig, ax = plt.subplots()
    plotting.plot_gaussian_mixture(ax, X, [0.5, 0.5], [[0, 0], [1, 1]], [np.eye(2)] * 2, resp=np.full((30, 2), 0.5))
    assert len(ax.lines) == 4  # two components × two levels
    plotting.plot_clusters(ax, X, np.zeros(30, int), [[0, 0]], title="t")
    assert ax.get_title() == "t"
    plt.close(fig)


def test_course_style_makes_figures_for_the_room():
    """A course figure fills a 1280×720 slide at its natural size, and its smallest text is ≥ 18 px there."""
    import io
    import struct

    with matplotlib.rc_context():
        plotting.use_course_style()
        fig, axes = plotting.panels(3)
        for ax in axes:
            ax.plot([0, 1], [0, 1], label="a line")
            ax.set(title="a title", xlabel="x", ylabel="y")
        axes[0].legend()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        width, height = struct.unpack(">II", buf.getvalue()[16:24])
        assert width >= 0.6 * 1280 and height <= 560, (width, height)
        sizes = [matplotlib.rcParams[k] for k in ("xtick.labelsize", "ytick.labelsize", "legend.fontsize")]
        assert min(sizes) * plotting.DPI / 72 >= 18
    with pytest.raises(ValueError, match="split the figure"):
        plotting.panels(6)
