"""widgets.hmm_posterior_viewer: the posterior-state viewer of notebook 07, its frames and its callbacks."""

from __future__ import annotations

import ipywidgets as w
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from emkit import hmm, widgets

TRUTH = hmm.GaussianParams(
    start=[1.0, 0.0], trans=[[0.95, 0.05], [0.1, 0.9]], means=[0.0, 0.5], covariances=[0.5**2, 2.0**2]
)


@pytest.fixture(scope="module")
def fitted():
    X, states = hmm.sample(TRUTH, 120, seed=3)
    start = hmm.GaussianParams(start=[0.5, 0.5], trans=[[0.5, 0.5]] * 2, means=[0.1, -0.1], covariances=[1.0, 1.5])
    fit = hmm.fit(X, 2, init=start, max_iter=6, tol=0, record_params=True, reg_covar=0.0)
    return X, states, fit


def all_widgets(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from all_widgets(child)


def test_one_step_per_iteration_and_the_frames_follow_the_fit(fitted):
    X, states, fit = fitted
    viewer = widgets.hmm_posterior_viewer(X, fit.history, states=states, labels=("day t", "return (%)"))
    n = fit.n_iter + 1
    assert viewer.slider.min == 0 and viewer.slider.max == n - 1 and viewer._pngs == [None] * n
    frames = viewer.frames
    for t in (0, 3, n - 1):
        gamma = frames.show(t)
        expected = hmm.e_step(X, fit.history["params"][t])[0].gamma_TK
        np.testing.assert_allclose(gamma, expected, rtol=1e-12)
        for k, line in enumerate(frames.lines):  # the posterior curves are γ_t(k) at θᵗ
            np.testing.assert_allclose(line.get_ydata(), expected[:, k], rtol=1e-12)
        assert frames.marker.get_xdata()[0] == t
        assert frames.marker.get_ydata()[0] == pytest.approx(fit.history["log_likelihood"][t])
        assert f"{fit.history['log_likelihood'][t]:.2f}" in frames.trace_title.get_text()
    assert frames.ax_gamma.get_xlabel() == "day t" and frames.ax.get_ylabel() == "return (%)"
    assert [tick.get_text() for tick in frames.ax_gamma.get_yticklabels()][-1] == "true"
    with pytest.raises(ValueError, match="between 0 and"):
        frames.show(n)


def test_captions_say_which_iteration_and_what_it_shows(fitted):
    X, states, fit = fitted
    viewer = widgets.hmm_posterior_viewer(X, fit.history)
    ll = fit.history["log_likelihood"]
    for t in range(fit.n_iter + 1):
        caption = viewer.caption(t)
        assert f"iteration {t}:" in caption and f"{ll[t]:.2f}" in caption and "A_kk" in caption
    diagonal = np.diag(fit.history["params"][-1].trans)
    assert f"{diagonal[0]:.3f}, {diagonal[1]:.3f}" in viewer.caption(fit.n_iter)
    assert "0.500, 0.500" in viewer.caption(0)  # the uniform start


def test_buttons_and_slider_move_the_view_and_every_control_is_labelled(fitted):
    X, states, fit = fitted
    viewer = widgets.hmm_posterior_viewer(X, fit.history, states=states)
    box = viewer.box  # builds the widget: every frame rendered once
    frames = [bytes(image.value) for image in viewer.stack.children]
    assert len(frames) == fit.n_iter + 1 and all(f.startswith(b"\x89PNG") for f in frames)
    assert len(set(frames)) == len(frames)  # each iteration looks different
    assert viewer.slider.value == 0
    viewer.next.click()
    viewer.next.click()
    assert viewer.slider.value == 2
    viewer.previous.click()
    assert viewer.slider.value == 1
    viewer.slider.value = viewer.slider.max
    viewer.next.click()  # at the end: stays there
    assert viewer.slider.value == viewer.slider.max
    viewer.slider.value = 0
    viewer.previous.click()  # at the start: stays there
    assert viewer.slider.value == 0
    # every button says what it does (a visible description and a tooltip); nothing unlabelled is shown
    controls = [c for c in all_widgets(box) if isinstance(c, w.Button | w.ToggleButton)]
    assert len(controls) >= 2
    for control in controls:
        assert control.description.strip() and control.tooltip and control.tooltip.strip(), control
    for play in (c for c in all_widgets(box) if isinstance(c, w.Play)):
        assert play.layout.display == "none" or play.description.strip()
    assert viewer.slider.tooltip and "iteration" in viewer.slider.tooltip
    # static renderers get the current frame and a caption, never the widget's text form
    bundle = viewer._repr_mimebundle_()
    assert bundle["image/png"] and "VBox" not in bundle["text/plain"]
    assert bundle["text/plain"].startswith(f"viewer at step 1 of {fit.n_iter + 1}: iteration 0")


def test_categorical_sequences_and_several_sequences():
    params = hmm.CategoricalParams(
        start=[0.5, 0.5], trans=[[0.9, 0.1], [0.2, 0.8]], emission_probs=[[0.5, 0.5], [0.8, 0.2]]
    )
    parts = [hmm.sample(params, n, seed=s)[0] for n, s in ((40, 0), (25, 1))]
    X = np.concatenate(parts)
    fit = hmm.fit(X, 2, emission="categorical", lengths=[40, 25], seed=0, max_iter=4, tol=0, record_params=True)
    viewer = widgets.hmm_posterior_viewer(X, fit.history, lengths=[40, 25])
    gamma = viewer.frames.show(2)
    expected = hmm.e_step(X, fit.history["params"][2], [40, 25])[0].gamma_TK
    np.testing.assert_allclose(gamma, expected, rtol=1e-12)
    assert viewer.frame(2).startswith(b"\x89PNG")


def test_bad_input_is_named(fitted):
    X, states, fit = fitted
    with pytest.raises(ValueError, match="record_params=True"):
        widgets.hmm_posterior_viewer(X, {"log_likelihood": fit.history["log_likelihood"]})
    with pytest.raises(ValueError, match=r"states must have one entry per time step, shape \(120,\)"):
        widgets.hmm_posterior_viewer(X, fit.history, states=states[:-1])
    with pytest.raises(ValueError, match="X has 2 feature"):
        widgets.hmm_posterior_viewer(np.column_stack([X, X]), fit.history)
