"""Soft-assignment recipes against Bayes' rule with SciPy densities; viewer callbacks without a browser."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy.stats import norm

from emkit import kmeans, plotting, soft, widgets


def test_distance_share_is_backwards_and_inverse_distance_is_not():
    d = np.array([[1.0, 9.0], [2.0, 2.0]])
    w = soft.distance_share_weights(d)
    np.testing.assert_allclose(w, [[0.1, 0.9], [0.5, 0.5]])
    assert w[0, 1] > w[0, 0]  # the farther centre gets more weight
    np.testing.assert_allclose(soft.inverse_distance_weights(d), [[0.9, 0.1], [0.5, 0.5]])
    np.testing.assert_allclose(soft.inverse_distance_weights(np.array([[0.0, 3.0]])), [[1.0, 0.0]])


@pytest.mark.parametrize("sigma2", [0.1, 1.0, 7.0])
def test_softmax_with_beta_one_over_two_sigma2_is_the_gaussian_posterior(sigma2):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 1)) * 3
    centers = np.array([[-1.0], [0.5], [2.0]])
    # Bayes' rule with SciPy densities and equal weights
    dens = np.stack([norm(c[0], np.sqrt(sigma2)).pdf(X[:, 0]) for c in centers], axis=1)
    bayes = dens / dens.sum(axis=1, keepdims=True)
    softmax = soft.softmax_weights(kmeans.squared_distances(X, centers), 1 / (2 * sigma2))
    np.testing.assert_allclose(softmax, bayes, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(soft.gaussian_posterior(X, centers, sigma2), bayes, rtol=1e-10, atol=1e-15)


def test_softmax_limits():
    d2 = np.array([[1.0, 4.0, 9.0]])
    np.testing.assert_allclose(soft.softmax_weights(d2, 0.0), [[1 / 3] * 3])
    np.testing.assert_allclose(soft.softmax_weights(d2, 1e4), [[1.0, 0.0, 0.0]])
    assert np.all(np.isfinite(soft.softmax_weights(d2 * 1e6, 10.0)))  # no 0/0


def test_bad_input_to_soft():
    with pytest.raises(ValueError, match="d_NK must be non-negative"):
        soft.distance_share_weights(np.array([[-1.0, 1.0]]))
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        soft.softmax_weights(np.ones((2, 2)), -1.0)
    with pytest.raises(ValueError, match="sigma2 must be a finite number > 0"):
        soft.gaussian_posterior(np.ones((2, 1)), np.ones((1, 1)), 0.0)


def test_kmeans_step_states_follow_the_history():
    X = np.random.default_rng(1).normal(size=(60, 2))
    fit = kmeans.fit(X, 3, init=X[:3])
    h = fit.history
    labels, centers, previous, caption = widgets.kmeans_step_state(h, 0)
    assert labels is None and previous is None and np.array_equal(centers, h["centers"][0])
    labels, centers, previous, caption = widgets.kmeans_step_state(h, 1)
    assert np.array_equal(labels, h["labels"][0]) and np.array_equal(centers, h["centers"][0])
    assert "assign" in caption
    labels, centers, previous, caption = widgets.kmeans_step_state(h, 2)
    assert np.array_equal(centers, h["centers"][1]) and np.array_equal(previous, h["centers"][0])
    with pytest.raises(ValueError, match="step must be between 0 and"):
        widgets.kmeans_step_state(h, 2 * fit.n_iter + 1)


def test_draw_kmeans_step_reports_the_inertia_that_never_increases():
    X = np.random.default_rng(2).normal(size=(80, 2))
    fit = kmeans.fit(X, 3, init=X[:3])
    fig, ax = plt.subplots()
    J = [widgets.draw_kmeans_step(ax, X, fit.history, s) for s in range(1, 2 * fit.n_iter + 1)]
    assert np.all(np.diff(J) <= 1e-12)
    assert J[-1] == pytest.approx(fit.inertia)
    plt.close(fig)


def test_viewers_build_and_respond_to_the_slider_and_buttons():
    X = np.random.default_rng(3).normal(size=(40, 2))
    fit = kmeans.fit(X, 2, init=X[:2])
    viewer = widgets.kmeans_stepper(X, fit.history)
    n = 2 * fit.n_iter + 1
    assert viewer.slider.max == n - 1 and viewer._pngs == [None] * n  # nothing rendered until displayed
    box = viewer.box
    frames = [bytes(image.value) for image in viewer.stack.children]
    assert len(frames) == n and all(f.startswith(b"\x89PNG") for f in frames) and len(set(frames)) == n
    assert f"{n} / {n}" in viewer.labels.children[-1].value and "update" in viewer.labels.children[-1].value
    viewer.slider.value = viewer.slider.max
    viewer.next.click()  # at the end: stays there
    assert viewer.slider.value == viewer.slider.max
    viewer.previous.click()
    assert viewer.slider.value == viewer.slider.max - 1
    # the frame a static renderer shows is the current one, never a widget's text form
    bundle = viewer._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["image/png"]
    assert "VBox" not in bundle["text/plain"] and "assign" in bundle["text/plain"]
    assert viewer.slider.layout.width == viewer.stack.children[0].layout.width  # the slider spans the figure
    # every control has a visible, accessible name; the animation is driven by a labelled toggle
    assert [c.description for c in box.children[0].children[:3]] == ["◀ back", "play ⏵", "next ▶"]
    assert viewer.play.layout.display == "none" and not viewer.play.show_repeat
    assert box.children[1] is viewer.labels and viewer.labels.layout.height == "3.4em"  # the caption's own row
    soft_viewer = widgets.soft_assignment_slider(X, fit.centers)
    assert "β = 100" in soft_viewer.caption(soft_viewer.slider.max)
    fig, ax = plt.subplots()
    w = widgets.draw_soft_assignment(ax, X, fit.centers, 50.0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    plt.close("all")


def test_explorers_refit_when_the_learner_changes_k_or_the_start():
    X = np.random.default_rng(4).normal(size=(60, 2)) + np.repeat([[0, 0], [6, 0], [0, 6]], 20, axis=0)
    explorer = widgets.kmeans_explorer(X, ks=range(2, 5), k=3, seed=0, labels=("a (cm)", "b (cm)"))
    first = explorer.viewer
    assert first.frames.ax.get_xlabel() == "a (cm)" and "K = 3, start number 0" in explorer.status.value
    explorer.k.value = 2  # a new K: a new fit and a new viewer, in place of the old one
    assert explorer.viewer is not first and explorer.box.children[-1] is explorer.viewer.box
    assert len(explorer.viewer.frames.history["centers"][0]) == 2 and "K = 2" in explorer.status.value
    explorer.new_start.click()
    assert explorer.seed == 1 and "start number 1" in explorer.status.value
    bundle = explorer._repr_mimebundle_()
    assert bundle["image/png"] and "K = 2" in bundle["text/plain"]
    g = widgets.gmm_explorer(X, ks=range(1, 4), k=3, seed=0, labels=("a", "b"))
    assert len(g.viewer.frames.history["params"][0][0]) == 3 and "log-likelihood" in g.status.value
    g.k.value = 1
    assert len(g.viewer.frames.history["params"][0][0]) == 1
    plt.close("all")


def test_a_frame_updates_artists_instead_of_redrawing():
    X = np.random.default_rng(4).normal(size=(60, 2))
    fit = kmeans.fit(X, 3, init=X[:3])
    frames = widgets.KMeansFrames(X, fit.history)
    artists = (frames.unassigned, *frames.clusters, frames.centres, frames.regions)
    n_children = len(frames.ax.get_children())
    for step in range(2 * fit.n_iter + 1):
        J = frames.show(step)
        assert (frames.unassigned, *frames.clusters, frames.centres, frames.regions) == artists
        labels = widgets.kmeans_step_state(fit.history, step)[0]
        # every point is drawn once: grey before the first assignment, then in its cluster's colour
        shown = [len(line.get_xdata()) for line in (frames.unassigned, *frames.clusters)]
        assert shown == ([60, 0, 0, 0] if labels is None else [0, *np.bincount(labels, minlength=3)])
        if step:
            assert J == pytest.approx(
                float(((X - frames.centres.get_offsets()[widgets.kmeans_step_state(fit.history, step)[0]]) ** 2).sum())
            )
    assert abs(len(frames.ax.get_children()) - n_children) <= 3  # only the arrows come and go
    assert frames.ax.get_xlabel() and frames.ax.get_ylabel()


def test_gmm_step_states_and_drawing_follow_the_fit():
    from emkit import datasets, gmm

    X = datasets.old_faithful()
    fit = gmm.fit(X, 2, init="random", seed=0, max_iter=5, tol=0, record_params=True)
    h = fit.history
    shown, colours, t, caption = widgets.gmm_step_state(h, 0)
    assert colours is None and t == 0 and shown is h["params"][0]
    shown, colours, t, caption = widgets.gmm_step_state(h, 3)  # E-step of iteration 2
    assert shown is h["params"][1] and colours is h["params"][1] and t == 1 and "E-step" in caption
    shown, colours, t, caption = widgets.gmm_step_state(h, 4)  # M-step of iteration 2
    assert shown is h["params"][2] and colours is h["params"][1] and t == 2 and "M-step" in caption
    fig, axes = plt.subplots(1, 2)
    resp = widgets.draw_gmm_step(axes, X, h, 4)
    expected, _ = gmm.e_step(X, *h["params"][1])
    np.testing.assert_allclose(resp, expected)
    assert f"{h['log_likelihood'][2]:.2f}" in axes[1].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="record_params=True"):
        widgets.gmm_step_state({"log_likelihood": [0.0]}, 0)
    viewer = widgets.gmm_stepper(X, h, labels=("eruption (min)", "waiting (min)"))
    viewer.frame(3)
    assert "E-step" in viewer.caption(3) and viewer.frames.ax.get_xlabel() == "eruption (min)"
    lines = viewer.frames.ellipses[0][1]
    expected = plotting.covariance_ellipse_points(h["params"][1][1][0], h["params"][1][2][0], 0.9)
    np.testing.assert_allclose(np.column_stack(lines.get_data()), expected)
    plt.close("all")
