"""The checks of notebook 07 (emkit.check.hmm_checks): right answers pass, each known slip is named,
anything else gets clear feedback.

The answers are the corpus's (tests/check_corpus.py, written the way learners write them, with loops,
scipy and numpy in several styles); the references they are judged against are computed from the
formulas in the check module, and here once more from enumerating state paths (the coins example) and
from emkit.hmm (a step of its forward pass, its transition update).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from check_corpus import HMM_FORWARD, HMM_TRANSITIONS
from scipy.special import logsumexp

from emkit import check, hmm
from emkit.check import EXERCISES, hmm_checks

FORWARD = EXERCISES["07-forward"]
TRANSITIONS = EXERCISES["07-transitions"]


def label(entry):
    return entry[1] if entry[1] != "pass" else f"pass:{getattr(entry[0], '__name__', 'lambda')}"


# --- the registry ---------------------------------------------------------------------------------


def test_the_exercises_are_declared_for_notebook_07():
    assert [(e.id, e.label) for e in check.exercises_for("07_hmm")] == [
        ("07-forward", "Exercise 7.1"),
        ("07-transitions", "Exercise 7.2"),
    ]
    assert FORWARD.check is check.forward_step and TRANSITIONS.check is check.transition_update
    assert FORWARD.answer == "forward_step" and TRANSITIONS.answer == "transition_update"
    assert "emkit.hmm.forward" in FORWARD.forbidden and "emkit.hmm._forward" in FORWARD.forbidden
    assert "emkit.hmm.update_transitions" in TRANSITIONS.forbidden
    # every forbidden name is a real function of emkit.hmm (a typo would forbid nothing)
    for name in FORWARD.forbidden + TRANSITIONS.forbidden:
        module, function = name.rsplit(".", 1)
        assert module == "emkit.hmm" and callable(getattr(hmm, function)), name


# --- right answers pass, each slip is named ---------------------------------------------------------


@pytest.mark.parametrize("exercise, corpus", [(FORWARD, HMM_FORWARD), (TRANSITIONS, HMM_TRANSITIONS)])
def test_every_corpus_answer_gets_its_verdict_on_fixed_and_fresh_cases(exercise, corpus):
    for seed in (None, 1, 2024, 2**31 - 1):
        for answer, expected in corpus:
            result = exercise.check(answer, seed=seed)
            if expected == "pass":
                assert result.passed, (seed, str(result))
            else:
                assert not result.passed, (seed, expected)
                assert expected in result.slips, (seed, expected, result.slips, str(result))


@pytest.mark.parametrize("spec, corpus", [(hmm_checks.FORWARD, HMM_FORWARD), (hmm_checks.TRANSITIONS, HMM_TRANSITIONS)])
def test_every_slip_in_the_tables_has_an_answer_in_the_corpus(spec, corpus):
    table = {m.slip for m in spec.mistakes}
    covered = {expected for _answer, expected in corpus}
    assert table <= covered, sorted(table - covered)


def test_the_references_pass():
    """emkit's own forward pass (one step of it) and transition update pass their checks."""

    def step_from_emkit(log_alpha_prev, log_trans, log_b):
        # a two-step sequence whose first α is log_alpha_prev: start π ∝ α_1, emissions chosen so that
        # log α_1 = log π + log b_1 = log_alpha_prev
        K = len(log_b)
        top = logsumexp(log_alpha_prev)
        start = np.exp(log_alpha_prev - top)
        log_emission = np.vstack([np.full(K, top), log_b])
        return hmm.forward(log_emission, start / start.sum(), np.exp(log_trans))[1]

    assert check.forward_step(step_from_emkit).passed
    assert check.transition_update(hmm.update_transitions).passed


def test_the_coins_case_is_the_notebooks_alpha_table():
    """The first forward case is t = 2 of the coins example; its ξ case is the example's ξ, by enumeration."""
    case = hmm_checks._forward_cases(np.random.default_rng(0))[0]
    np.testing.assert_allclose(np.exp(hmm_checks._forward_ref(case)), [0.1525, 0.276], rtol=1e-12)
    params = hmm.CategoricalParams(
        start=hmm_checks.COINS_START, trans=hmm_checks.COINS_TRANS, emission_probs=hmm_checks.COINS_EMISSION
    )
    post, _ = hmm.e_step(np.array(hmm_checks.COINS_X), params)
    np.testing.assert_allclose(hmm_checks.coins_xi(), post.xi_KK, rtol=1e-12)
    # and by brute force once more, independently of coins_xi's own loop
    x = hmm_checks.COINS_X
    joint = {
        z: params.start[z[0]]
        * np.prod([params.emission_probs[k, s] for k, s in zip(z, x, strict=True)])
        * np.prod([params.trans[a, b] for a, b in itertools.pairwise(z)])
        for z in itertools.product(range(2), repeat=3)
    }
    total = sum(joint.values())
    xi = np.zeros((2, 2))
    for z, p in joint.items():
        for a, b in itertools.pairwise(z):
            xi[a, b] += p / total
    np.testing.assert_allclose(hmm_checks.coins_xi(), xi, rtol=1e-12)


def test_a_slip_is_named_on_the_cases_where_it_shows_and_the_others_pass():
    """exp without the maximum is right on moderate logs and fails only near −1000, where it is named."""
    result = check.forward_step(lambda la, lA, lb: lb + np.log(np.exp(la) @ np.exp(lA)))
    verdicts = [p.passed for p in result.parts]
    assert verdicts == [True, True, True, False]
    assert result.parts[-1].slip == "exp without taking out the maximum (underflow)"
    assert "log-sum-exp" in result.parts[-1].hint


def test_feedback_says_what_to_do():
    text = str(check.forward_step(lambda la, lA, lb: lb + logsumexp(la[None, :] + lA, axis=1)))
    assert "Mistake: A transposed." in text and "runs down column k" in text and "log α_t should be" in text
    text = str(check.transition_update(lambda xi: xi / xi.sum(axis=0)))
    assert "Mistake: columns normalised instead of rows." in text and "row sums, Σ_k ξ_jk (axis=1)" in text
    assert "each must sum to 1" in text


# --- raising, NaN, wrong shapes ------------------------------------------------------------------------


def raises(*args):
    raise IndexError("index 3 is out of bounds for axis 0 with size 3")


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "answer, message",
    [
        (raises, "your function raised IndexError"),
        (lambda la, lA, lb: np.full(len(lb), np.nan), "log_alpha contains nan"),
        (lambda la, lA, lb: la[:, None] + lA + lb, "log_alpha should have shape (K,)"),
        (lambda la, lA, lb: float(logsumexp(la[:, None] + lA)), "one number: you reduced over every axis"),
        (lambda la, lA, lb: "log alpha", "array of numbers"),
        (lambda la, lA, lb: np.full(len(lb), -np.inf), "log_alpha contains -inf"),
    ],
)
def test_misbehaving_forward_steps_get_feedback(answer, message):
    result = check.forward_step(answer)
    assert not result.passed and message in str(result), str(result)
    assert result._repr_html_()


@pytest.mark.parametrize(
    "answer, message",
    [
        (raises, "your function raised IndexError"),
        (lambda xi: xi / 0.0, "division by zero"),
        (lambda xi: np.full_like(xi, np.nan), "trans contains nan"),
        (lambda xi: xi.sum(axis=1), "those are the row sums"),
        (lambda xi: xi[:, :1], "trans should have shape (K, K)"),
        (lambda xi: None, "not answered yet"),
        (stub, "not answered yet"),
    ],
)
def test_misbehaving_transition_updates_get_feedback(answer, message):
    result = check.transition_update(answer)
    assert not result.passed and message in str(result), str(result)


def test_an_answer_that_changes_its_input_is_judged_on_a_copy():
    def in_place(xi):
        xi /= xi.sum(axis=1, keepdims=True)
        return xi

    assert check.transition_update(in_place).passed
