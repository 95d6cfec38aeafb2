"""emkit.check: right answers in any form pass, each known slip is named, anything else is described.

The corpus (tests/check_corpus.py) holds answers written the way learners
write them; each says whether it is right or which slip it is. Here every
entry is checked on the course's fixed cases and on fresh random cases (the
grader's), and the whole corpus must give no wrong verdict.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import sympy as sp
from check_corpus import CORPUS

from emkit import check, gmm, kmeans
from emkit.check import EXERCISES, algebra, numeric, running
from emkit.symbolic import V, total

i, x, T1, N = V.i, V.x, V.T1, V.N


def label(entry) -> str:
    ex_id, _answer, expected = entry
    return f"{ex_id}:{expected}"


# --- the corpus ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry", CORPUS, ids=[label(e) for e in CORPUS])
def test_corpus_verdict_and_named_slip(entry):
    ex_id, answer, expected = entry
    result = EXERCISES[ex_id].check(answer)
    if expected == "pass":
        assert result.passed, str(result)
    else:
        assert not result.passed, f"a wrong answer passed: {expected}"
        assert expected in result.slips, f"expected the slip {expected!r}; got {result.slips}:\n{result}"
        assert result.score < 1.0


def test_corpus_on_fresh_seeds_gives_no_wrong_verdict():
    """The grader draws fresh cases for every run: the verdicts must not depend on which."""
    wrong = []
    for seed in (7, 123456, 2**30 + 5):
        for ex_id, answer, expected in CORPUS:
            r = EXERCISES[ex_id].check(answer, seed=seed)
            if (expected == "pass") != r.passed or (expected != "pass" and expected not in r.slips):
                wrong.append((seed, ex_id, expected, r.slips))
    assert not wrong, wrong[:10]


def test_the_corpus_covers_every_slip_in_the_tables():
    table_slips = set()
    for spec in (numeric.ASSIGN, numeric.UPDATE, numeric.RESPONSIBILITIES, numeric.WEIGHTED_MEANS,
                 numeric.MISSING_CONDITIONAL, numeric.Q_VALUE, numeric.E_STEP, numeric.M_STEP):  # fmt: skip
        table_slips |= {m.slip for m in spec.mistakes}
    for table in (algebra._tau_mistakes, lambda: algebra._mu_mistakes(1), lambda: algebra._sigma_mistakes(1),
                  algebra._q_mistakes):  # fmt: skip
        table_slips |= {slip for slip, _expr, _msg in table()}
    covered = {expected for _ex, _a, expected in CORPUS}
    missing = table_slips - covered
    assert not missing, f"slips in the tables with no answer in the corpus: {sorted(missing)}"


def test_corpus_statistics():
    wrong = [e for e in CORPUS if e[2] != "pass"]
    right = [e for e in CORPUS if e[2] == "pass"]
    assert len(wrong) >= 140 and len(right) >= 45
    assert {e[0] for e in CORPUS} == set(EXERCISES)
    named = sum(e[2] in EXERCISES[e[0]].check(e[1]).slips for e in wrong)
    assert named / len(wrong) >= 0.9


def test_a_check_on_a_wrong_answer_is_quick():
    """Every check of the corpus, wrong answers included, finishes in well under the few seconds allowed."""
    slowest = 0.0
    for ex_id, answer, _expected in CORPUS:
        start = time.perf_counter()
        EXERCISES[ex_id].check(answer)
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 5.0


# --- what the feedback says --------------------------------------------------------------


def test_feedback_names_a_concrete_point():
    result = check.kmeans_assign(lambda X, C: kmeans.squared_distances(X, C).argmax(1))
    text = str(result)
    assert "Mistake: argmax instead of argmin." in text
    assert "Point 0, x = [" in text and "so its label is" in text and "you gave" in text


def test_unnamed_differences_are_described():
    def scaled(X, R):
        w, m, c = gmm.m_step(X, R)
        return w, m, c * 1.7

    assert "1.7 times the right ones" in str(check.m_step(scaled))

    def one_row(X, R):
        w, m, c = gmm.m_step(X, R)
        m = m.copy()
        m[1] += 0.5
        return w, m, c

    assert "only row 1 differs" in str(check.m_step(one_row))

    result = check.weighted_means(lambda X, R: gmm.update_means(X, R) + 0.25)
    assert "off by the same constant, 0.25" in str(result)


def test_per_component_factor_is_named():
    def unbiased(X, R):
        w, m, c = gmm.m_step(X, R)
        Nk = R.sum(0)
        return w, m, c * (Nk / (Nk - 1))[:, None, None]

    result = check.m_step(unbiased)
    assert result.slips == ["N_k − 1 instead of N_k"]


def test_shapes_are_named_with_the_likely_cause():
    result = check.e_step(lambda X, w, m, c: (gmm.e_step(X, w, m, c)[0].T, gmm.e_step(X, w, m, c)[1]))
    assert "resp_NK should have shape (N, K)" in str(result) and "transposed" in str(result)
    result = check.m_step(lambda X, R: gmm.m_step(X, R)[::-1])
    assert "in this order" in str(result)
    result = check.kmeans_assign(lambda X, C: kmeans.squared_distances(X, C).argmin(axis=0))
    assert "the argmin ran over the points (axis=0)" in str(result)


def test_broadcasting_errors_get_a_cause():
    def missing_axis(L):
        e = np.exp(L - L.max(axis=1, keepdims=True))
        return e / e.sum(axis=1)

    result = check.responsibilities(missing_axis)
    assert "missing [:, None] broadcasting" in result.slips
    assert "keepdims=True" in str(result)


def test_float32_answers_pass_with_a_note():
    result = check.weighted_means(lambda X, R: (gmm.update_means(X, R)).astype(np.float32))
    assert result.passed and "float32" in str(result)
    result = check.e_step(lambda X, w, m, c: [np.float32(v) for v in gmm.e_step(X, w, m, c)])
    assert result.passed and "float32" in str(result)


def test_float16_is_refused_with_a_reason():
    result = check.weighted_means(lambda X, R: gmm.update_means(X, R).astype(np.float16))
    assert not result.passed and "float16" in str(result)


def test_unambiguous_other_shapes_are_read_with_a_note():
    result = check.kmeans_assign(lambda X, C: kmeans.assign(X, C)[:, None])
    assert result.passed and "was read as" in str(result)


# --- misbehaving answers -------------------------------------------------------------------


def raises(*args):
    raise KeyError("oops")


def loops(*args):
    while True:
        pass


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "answer, message",
    [
        (raises, "your function raised KeyError: 'oops'"),
        (lambda X, C: np.zeros(3), "labels should have shape"),
        (lambda X, C: np.full(len(X), np.nan), "labels contains nan"),
        (lambda X, C: "abc", "array of numbers"),
        (lambda X, C: np.full(len(X), 0.5), "whole numbers"),
        (lambda X, C: {"labels": 1}, "array of numbers"),
        (lambda X, C: (v for v in range(3)), "array of numbers"),
        (lambda X, C: np.zeros(len(X)) + 1j, "complex"),
        (lambda X, C: [[1, 2], [3]], "array"),
    ],
)
def test_misbehaving_assign_gets_feedback(answer, message):
    result = check.kmeans_assign(answer)
    assert not result.passed and message in str(result), str(result)


@pytest.mark.parametrize("name", list(EXERCISES))
@pytest.mark.parametrize(
    "answer",
    [
        None,
        3,
        "x",
        object(),
        raises,
        stub,
        lambda *a: None,
        lambda *a: object(),
        lambda *a: 10**400,
        lambda *a: [1, "a"],
    ],
    ids=["None", "int", "str", "object", "raises", "stub", "returns-None", "returns-object", "huge", "mixed-list"],
)
def test_no_answer_makes_a_check_raise(name, answer):
    result = EXERCISES[name].check(answer)
    assert isinstance(result, check.CheckResult) and not result.passed
    assert str(result) and result._repr_html_()


def test_endless_loop_is_stopped(monkeypatch):
    monkeypatch.setattr(running, "TIME_LIMIT", 0.2)
    result = check.kmeans_update(loops)
    assert not result.passed and "did not finish" in str(result)
    assert sum("not run: an earlier part did not finish" in p.message for p in result.parts) == len(result.parts) - 1


def test_stub_is_not_answered_yet():
    for checker in (check.kmeans_assign, check.kmeans_update, check.responsibilities, check.weighted_means):
        result = checker(stub)
        assert not result.answered and not result.passed and result.score == 0.0
        assert "not answered yet" in str(result) and "not answered yet" in result._repr_html_()
    assert not check.kmeans_assign(lambda X, C: None).answered
    assert not check.tau_update(None).answered


def test_not_a_function():
    result = check.kmeans_assign(np.zeros(3))
    assert not result.passed and "expected a function" in str(result)


def test_answer_cannot_modify_the_checks_inputs():
    def vandal(X, C):
        labels = kmeans.assign(X, C)
        X[:] = 0.0
        C[:] = 0.0
        return labels

    assert check.kmeans_assign(vandal).passed
    assert check.kmeans_assign(kmeans.assign).passed


def test_warnings_are_recorded_not_printed(capsys):
    def noisy(X, R):
        np.log(np.zeros(2))
        import warnings

        warnings.warn("student warning", stacklevel=1)
        return gmm.update_means(X, R)

    assert check.weighted_means(noisy).passed
    captured = capsys.readouterr()
    assert captured.err == ""


# --- result objects --------------------------------------------------------------------------


def test_html_rendering_escapes_and_marks():
    html = check.kmeans_assign(lambda X, C: kmeans.squared_distances(X, C).argmax(1))._repr_html_()
    assert "✘" in html and "#D55E00" in html and "<pre" in html and "Mistake: argmax instead of argmin" in html
    assert "✔" in check.kmeans_assign(kmeans.assign)._repr_html_()


def test_partial_credit_points_and_parts(capsys):
    def naive(X, C):  # right except on data far from the origin
        return kmeans.assign(X, C) if abs(X).max() < 1e5 else np.zeros(len(X), int)

    result = check.kmeans_assign(naive)
    assert result.score == pytest.approx(2 / 3)
    points = result.points(3)
    assert points == pytest.approx(2.0) and isinstance(points, float) and repr(points) == "2.0"  # what nbgrader reads
    assert "2 of 3 points" in points._repr_html_() and "2 of 3 parts passed" in points._repr_html_()
    assert capsys.readouterr().out == ""  # nothing printed: nbgrader's feedback shows the HTML form
    result.require_part(1)
    with pytest.raises(AssertionError, match="far from the origin"):
        result.require_part(3)
    with pytest.raises(AssertionError, match="there is no part 4"):
        result.require_part(4)
    with pytest.raises(AssertionError, match="parts passed"):
        result.raise_if_failed()


# --- symbolic answers ---------------------------------------------------------------------------


def test_a_counterexample_names_the_data_and_the_values():
    result = check.tau_update(total(T1[i]) / total(V.T2[i]))
    text = str(result)
    assert "a counterexample: with" in text and "x = [" in text and "T1 = [" in text
    assert "the update should be" in text and "your expression gives" in text


@pytest.mark.parametrize(
    "answer, message",
    [
        (total(V.Z1[i]) / N, "Z1[i], the hidden indicator"),
        (sp.IndexedBase("y")[i] / N, "y is not in the vocabulary"),
        (total(T1[i]) / N + sp.Symbol("alpha"), "uses alpha, which the notebook does not define"),
        (sp.Sum(T1[i], (i, 0, N)) / N, "sums must run over i from 1 to N"),
        (T1[i] / N, "appears outside a Sum"),
        ("Sum(T1[i], (i, 1, N)) / ", "could not read your answer"),
        ("__import__('os').system('true')", "attribute access"),
    ],
)
def test_out_of_vocabulary_answers_get_feedback(answer, message):
    result = check.tau_update(answer)
    assert not result.passed and message in str(result), str(result)


def test_mu_for_component_two_and_sigma_substitutes_the_new_mean():
    assert check.mu_update(total(V.T2[i] * x[i]) / total(V.T2[i]), component=2).passed
    assert check.sigma_update(total(T1[i] * (x[i] - V.mu1) ** 2) / total(T1[i])).passed
    assert check.sigma_update(total(T1[i] * x[i] ** 2) / total(T1[i]) - V.mu1**2).passed


def test_symbolic_checks_never_evaluate_text():
    import os

    marker = "/tmp/emkit_parse_side_effect"
    if os.path.exists(marker):
        os.remove(marker)
    for text in [f"__import__('os').system('touch {marker}')", f"open('{marker}', 'w')", "exec('1')", "lambda: 1"]:
        assert not check.q_function(text).passed
    assert not os.path.exists(marker)


def test_the_registry_points_each_exercise_at_its_notebook_and_check():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for ex in EXERCISES.values():
        nb = json.loads((root / "notebooks" / f"{ex.notebook}.ipynb").read_text())
        cells = [c for c in nb["cells"] if c["metadata"].get("emkit", {}).get("exercise") == ex.id]
        assert len(cells) == 1, ex.id
        assert ex.answer in "".join(cells[0]["source"])
        assert any(f"check.{ex.check_name}(" in "".join(c["source"]) for c in nb["cells"]), ex.id
    readme = (root / "README.md").read_text()
    for ex in EXERCISES.values():
        assert f"`{ex.check_name}(" in readme, ex.check_name


# --- feedback that never blames the wrong thing (issue 28, items 4 and 5) --------------------------------


def test_a_means_array_with_k_equal_d_is_never_called_a_covariance():
    """Weighted means in 3-D with three components: a K×D array that happens to be square."""

    def one_entry_off(X, R):
        m = gmm.update_means(X, R)
        if m.shape[0] == m.shape[1]:
            m = m.copy()
            m[0, 2] += 0.3
        return m

    text = str(check.weighted_means(one_entry_off))
    assert "covariance" not in text and "variances" not in text and "off-diagonal" not in text
    assert "only row 0 differs (component 0)" in text


def test_broadcasting_hint_names_the_axes_that_met():
    text = str(check.weighted_means(lambda X, R: (R.T @ X) / R.sum(0)))
    assert "(K, D) = (3, 2)" in text and "one value per component" in text
    assert "per-point" not in text and "(N, K) or (N, D)" not in text
    text = str(check.responsibilities(lambda L: np.exp(L) / np.exp(L).sum(axis=1)))
    assert "(N, K)" in text and "one value per point" in text


def test_a_factor_per_row_of_responsibilities_is_per_point():
    def half_some_rows(L):
        r = np.exp(L - L.max(1, keepdims=True))
        r /= r.sum(1, keepdims=True)
        return r * np.where(np.arange(len(L)) % 2 == 0, 0.5, 1.0)[:, None]

    text = str(check.responsibilities(half_some_rows))
    assert "each point's values" in text and "off by its own factor" in text
    assert "each component's" not in text


def test_the_complete_data_log_likelihood_handed_in_is_told_so():
    from emkit.symbolic import complete_log_likelihood

    for answer in (complete_log_likelihood(), complete_log_likelihood().subs(V.Z1[i], T1[i])):
        result = check.q_function(answer)
        assert result.slips == ["the complete-data log-likelihood, not its expectation"]
        text = str(result)
        assert "complete-data log-likelihood log L(θ; x, Z) itself" in text
        assert "did not reach the summand" not in text and "If you wrote" not in text


def test_q_counterexamples_show_both_parameter_sets_and_the_part_that_differs():
    from check_corpus import q_with

    text = str(check.q_function(q_with(log1=0, log2=0)))
    assert "θa: tau = " in text and "θb: tau = " in text
    assert (
        "the part(s) of Q that differ" in text and "τ: tau " in text and "component 1" not in text.split("differ:")[1]
    )

    text = str(check.q_value(lambda X, R, w, m, S: float(np.sum(R * gmm.log_gaussian_density(X, m, S)))))
    assert "theta_a = (np.array(" in text and "theta_b = (np.array(" in text and "X = np.array(" in text
    assert "the weights π" in text and "yours by 0" in text
    assert "np.log(weights)" in text  # more than the formula the exercise already shows


def test_fallback_hints_do_not_hand_over_the_answer():
    from emkit.check import numeric

    def unrelated(expr_text):
        return check.q_function(expr_text)

    text = str(unrelated("Sum(T1[i]*x[i], (i, 1, N))"))  # no θ in it at all
    assert "the same value for every θ" in text and "-0 times" not in text
    text = str(unrelated("Sum(T1[i]*(x[i]-mu1)**2*tau + T2[i]*log(Sigma2), (i, 1, N))"))  # nothing simple
    assert "log N(x[i] | μ1, Σ1)) + T2[i]" not in text and "expectation" in text
    assert "(S_k + Ψ) / (N_k + ν + D + 1)" not in numeric.MAP_COVARIANCE.fallback


def test_by_hand_values_accept_rounding_and_name_slips():
    assert check.one_responsibility("0.215").passed and check.one_responsibility(0.219).passed
    assert not check.one_responsibility(0.23).passed
    assert check.one_responsibility(1.7).parts[0].hint.startswith("a responsibility is a probability")
    assert not check.one_responsibility(None).answered and not check.coins_by_hand(None).answered
    assert "function" in str(check.coins_by_hand(lambda: 0.71))
    assert check.coins_by_hand(np.float32(0.713)).passed


def test_the_by_hand_tables_are_covered_by_the_corpus_and_their_slips_are_far_apart():
    from itertools import combinations

    from emkit.check import by_hand

    covered = {expected for _ex, _a, expected in CORPUS}
    for ex in (by_hand.ONE_R_EXERCISE, by_hand.COINS_EXERCISE):
        assert {s.slip for s in ex.slips} <= covered
        values = [ex.right] + [s.value for s in ex.slips]
        assert min(abs(a - b) for a, b in combinations(values, 2)) > 2 * ex.tolerance
    assert {m.slip for m in by_hand.MISSING_M_STEP.mistakes} <= covered


# --- a first-time learner's report: misleading or missing feedback ------------------------------------------


def test_n_k_summed_over_the_components_is_named_not_pairwise_differences():
    for answer in (lambda X, R: (R.T @ X) / R.sum(axis=1)[:, None], lambda X, R: (R.T @ X) / R.sum(axis=1)):
        result = check.weighted_means(answer)
        text = str(result)
        assert result.slips == ["N_k summed over components (axis=1)"], text
        assert "Mistake: N_k summed over components (axis=1)." in text and "over the points (axis=0)" in text
        assert "X[:, None, :]" not in text and "pairwise" not in text and "[:, None] (or keepdims" not in text


def test_an_empty_list_from_solve_points_to_split_sums():
    import sympy as sp

    empty = sp.solve(sp.diff(total(T1[i] * sp.log(V.tau) + V.T2[i] * sp.log(1 - V.tau)), V.tau), V.tau)
    assert empty == []
    for checker in (check.tau_update, check.mu_update, check.sigma_update):
        text = str(checker(empty))
        assert "Mistake: sp.solve found no solution (an empty list)." in text and "split_sums" in text
        assert "[0]" not in text
    assert "take its element [0]" in str(check.tau_update([total(T1[i]) / N]))  # one solution: still said so


def test_a_swapped_pair_is_said_to_be_in_the_wrong_order_and_no_undefined_letter_appears():
    from check_corpus import cond_right

    result = check.missing_conditional(lambda x1, m, S: cond_right(x1, m, S)[::-1])
    text = str(result)
    assert result.slips == ["the values in the wrong order"] and "return (cond_mean, cond_var)" in text
    assert "(R," not in text and "shape R" not in text and "summed or averaged away" not in text
    text = str(check.missing_conditional(lambda x1, m, S: (float(np.mean(cond_right(x1, m, S)[0])), 0.5)))
    assert "cond_mean should have shape (len(x1),)" in text and "per entry of x1" in text and "(R," not in text


def test_the_sign_hint_of_the_conditional_mean_fits_each_correlation():
    from check_corpus import with_mean

    result = check.missing_conditional(with_mean(lambda x1, m, S: m[1] - S[0, 1] / S[0, 0] * (x1 - m[0])))
    by_name = {p.name: p.hint for p in result.parts}
    assert "positive correlation" in by_name["positively correlated"]
    assert "negative correlation" in by_name["negatively correlated"]
    assert "positive" not in by_name["negatively correlated"]


def test_many_differing_rows_are_counted_not_called_only_some():
    def mostly_wrong(X, C):
        labels = kmeans.assign(X, C).copy()
        n = int(0.9 * len(labels))
        labels[:n] = (labels[:n] + 1) % len(C)
        return labels

    text = str(check.kmeans_assign(mostly_wrong))
    assert "180 of 200 rows differ, starting with rows 0, 1, 2." in text and "only rows 0, 1, 2" not in text
    result = check.kmeans_assign(lambda X, C: ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=1).argmin(axis=1))
    assert result.slips == ["squared differences summed over the centres (axis=1)"]


def test_a_hint_of_several_lines_is_indented_in_text_and_broken_in_html():
    from emkit.check import Part

    result = check.CheckResult("x", [Part("p", False, "m", "s0: first\ns2: second", note="a note")])
    lines = str(result).splitlines()
    hint = next(n for n, line in enumerate(lines) if "Hint: s0: first" in line)
    assert lines[hint + 1] == " " * 15 + "s2: second"
    assert "first<br>s2: second" in result._repr_html_()


def test_an_n_by_n_product_put_into_a_covariance_slot_is_named():
    from check_corpus import mstep_outer_n_by_n

    result = check.m_step(mstep_outer_n_by_n)
    assert result.slips == ["an N×N outer product"] and all(not p.passed for p in result.parts)
    text = str(result)
    assert "could not broadcast input array from shape (10,10)" in text and "(r * Xc).T @ Xc" in text


def test_responsibilities_normalised_over_the_points_after_a_row_shift_are_named():
    from check_corpus import resp_row_max_column_sums

    result = check.responsibilities(resp_row_max_column_sums)
    assert result.slips == ["normalised over the points (axis 0)"]
    assert all(p.slip for p in result.parts) and "each row, one point, must sum to 1" in str(result)
