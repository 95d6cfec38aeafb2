"""The checks of notebook 06's new exercises (emkit.check.deeper): right answers pass, each known slip is
named with what to tell the learner, anything else gets clear feedback.

The answers are the corpus's (tests/check_corpus.py, written the way learners write them: loops, scipy,
emkit's allowed helpers). The references the checks judge against are computed in the check module from
the formulas; here they are checked once more by independent routes: Louis' identity against a
finite-difference second derivative of ℓ and an enumeration of the hidden label, the SQUAREM cycle against
one cycle of emkit.accelerate.squarem, the Poisson M-step against emkit.expfamily and a direct numerical
maximisation of Q, the online-EM step against emkit.online.online_em run over a whole stream.
"""

from __future__ import annotations

import numpy as np
import pytest
from check_corpus import DEEPER_LOUIS, DEEPER_ONLINE, DEEPER_POISSON, DEEPER_SQUAREM
from scipy.optimize import minimize_scalar
from scipy.stats import poisson

from emkit import accelerate, check, expfamily, online
from emkit.check import EXERCISES, deeper
from emkit.grading import assignment

SPECS = {
    "06-louis": (deeper.LOUIS, DEEPER_LOUIS),
    "06-squarem": (deeper.SQUAREM, DEEPER_SQUAREM),
    "06-poisson-m-step": (deeper.POISSON, DEEPER_POISSON),
    "06-online-step": (deeper.ONLINE, DEEPER_ONLINE),
}
SEEDS = (None, 1, 7, 2024, 123456, 2**30 + 5, 2**31 - 1)


# --- the registry -------------------------------------------------------------------------------------


def test_the_exercises_are_declared_for_notebook_06_in_notebook_order():
    assert [(e.id, e.label) for e in check.exercises_for("06_em_deeper")] == [
        ("06-map-sigma", "Exercise 6.1"),
        ("06-louis", "Exercise 6.2"),
        ("06-squarem", "Exercise 6.3"),
        ("06-poisson-m-step", "Exercise 6.4"),
        ("06-online-step", "Exercise 6.5"),
    ]
    for ex_id, name in [("06-louis", "weight_information"), ("06-squarem", "squarem_step"),
                        ("06-poisson-m-step", "poisson_m_step"), ("06-online-step", "online_em_step")]:  # fmt: skip
        e = EXERCISES[ex_id]
        assert e.answer == name and e.check is getattr(check, name) and e.kind == "function"
        assert e.forbidden, ex_id
        # every forbidden or allowed name is a real emkit function (a typo would forbid nothing)
        for qualified in (*e.forbidden, *e.allowed):
            assert assignment._known_function(qualified), qualified
    assert "emkit.accelerate.squarem" in EXERCISES["06-squarem"].forbidden
    assert "emkit.expfamily.m_step" in EXERCISES["06-poisson-m-step"].forbidden
    assert "emkit.online.online_em" in EXERCISES["06-online-step"].forbidden
    assert EXERCISES["06-online-step"].allowed == ("emkit.online.responsibilities",)


# --- right answers pass, each slip is named --------------------------------------------------------------


@pytest.mark.parametrize("ex_id", list(SPECS))
def test_every_corpus_answer_gets_its_verdict_on_fixed_and_fresh_cases(ex_id):
    exercise = EXERCISES[ex_id]
    for seed in SEEDS:
        for answer, expected in SPECS[ex_id][1]:
            result = exercise.check(answer, seed=seed)
            if expected == "pass":
                assert result.passed, (seed, str(result))
            else:
                assert not result.passed, (seed, expected)
                assert expected in result.slips, (seed, expected, result.slips, str(result))


@pytest.mark.parametrize("ex_id", list(SPECS))
def test_every_slip_in_the_tables_has_an_answer_in_the_corpus(ex_id):
    spec, corpus = SPECS[ex_id]
    table = {m.slip for m in spec.mistakes}
    covered = {expected for _answer, expected in corpus}
    assert table <= covered, sorted(table - covered)


@pytest.mark.parametrize("ex_id", list(SPECS))
def test_every_slip_shows_on_some_case_and_no_two_slips_look_alike(ex_id):
    """On every seed each slip differs from the right answer on at least one case, and no two slips give the
    same values on every case (else the learner would be told the wrong one)."""
    spec, _ = SPECS[ex_id]
    names = [f.name for f in spec.fields]
    for seed in (spec.default_seed, 1, 2024):
        cases = spec.cases(np.random.default_rng(seed))
        outputs = {}
        for m in spec.mistakes:
            for case_no, case in enumerate(cases):
                row = outputs.setdefault(m.slip, [dict(spec.expected(c)) for c in cases])[case_no]
                with np.errstate(all="ignore"):
                    row[m.field or names[0]] = m.wrong(case)

        def same(a, b):
            return all(
                np.allclose(np.asarray(x[n], float), np.asarray(y[n], float), rtol=1e-7, atol=1e-10, equal_nan=True)
                for x, y in zip(a, b, strict=True)
                for n in names
            )

        right = [spec.expected(c) for c in cases]
        for slip, rows in outputs.items():
            assert not same(rows, right), (seed, slip)
        slips = list(outputs)
        for i, a in enumerate(slips):
            for b in slips[i + 1 :]:
                assert not same(outputs[a], outputs[b]), (seed, a, b)


# --- the references, by independent routes -------------------------------------------------------------


def test_louis_reference_is_minus_the_second_derivative_of_the_log_likelihood():
    for seed in (None, 3):
        for case in deeper.LOUIS.cases(np.random.default_rng(deeper.LOUIS.default_seed if seed is None else seed)):
            I_c, I_m, I_o = deeper.LOUIS.expected(case).values()
            f1, f2, pi = case.f1, case.f2, case.pi

            def ell(p, f1=f1, f2=f2):
                return np.sum(np.log(p * f1 + (1 - p) * f2))

            h = 1e-5
            second = (ell(pi + h) - 2 * ell(pi) + ell(pi - h)) / h**2
            assert I_o == pytest.approx(-second, rel=1e-5)
            assert I_o == pytest.approx(np.sum((f1 - f2) ** 2 / (pi * f1 + (1 - pi) * f2) ** 2), rel=1e-10)
            # I_c and I_m by enumerating the hidden label z ∈ {1, 0} of each point
            r = pi * f1 / (pi * f1 + (1 - pi) * f2)
            score = {1: 1 / pi, 0: -1 / (1 - pi)}  # ∂/∂π log p(x, z) for z = 1, 0
            curvature = {1: 1 / pi**2, 0: 1 / (1 - pi) ** 2}  # -∂²/∂π² log p(x, z)
            mean = r * score[1] + (1 - r) * score[0]
            var = r * score[1] ** 2 + (1 - r) * score[0] ** 2 - mean**2
            assert I_c == pytest.approx(np.sum(r * curvature[1] + (1 - r) * curvature[0]), rel=1e-12)
            assert I_m == pytest.approx(np.sum(var), rel=1e-9)


def test_louis_cases_at_the_maximum_are_at_the_maximum():
    case = deeper.LOUIS.cases(np.random.default_rng(deeper.LOUIS.default_seed))[1]
    best = minimize_scalar(lambda p: -np.sum(np.log(p * case.f1 + (1 - p) * case.f2)), bounds=(0.01, 0.99),
                           method="bounded", options={"xatol": 1e-12})  # fmt: skip
    assert case.pi == pytest.approx(best.x, abs=1e-6)
    I_c = deeper.LOUIS.expected(case)["I_c"]
    assert I_c == pytest.approx(case.N / (case.pi * (1 - case.pi)), rel=1e-9)  # N/(π(1 − π)) holds at π̂ only


def weight_map_from_steps(f1, f2):
    def e_step(pi):
        if not 0.0 < pi < 1.0:
            raise ValueError("not a weight")
        mix = pi * f1 + (1 - pi) * f2
        return pi * f1 / mix, float(np.sum(np.log(mix)))

    return accelerate.from_steps(e_step, lambda r: float(r.mean()))


@pytest.mark.parametrize("seed", [None, 1, 2024])
def test_squarem_reference_is_one_cycle_of_emkit_accelerate(seed):
    for case in deeper.SQUAREM.cases(np.random.default_rng(deeper.SQUAREM.default_seed if seed is None else seed)):
        em_map, objective = weight_map_from_steps(case.f1, case.f2)
        one = accelerate.squarem(em_map, objective, case.pi0, xtol=1e-15, max_iter=1)
        assert deeper.SQUAREM.expected(case)["pi_new"] == pytest.approx(one.params, rel=1e-10), case.name
        assert one.history["fallback"][-1] == ("keeps π₂" in case.name or "outside" in case.name), case.name


def test_the_squarem_cases_are_what_their_names_say():
    cases = deeper.SQUAREM.cases(np.random.default_rng(deeper.SQUAREM.default_seed))
    for case in cases:
        p1 = deeper._em_weight(case.pi0, case.f1, case.f2)
        p2 = deeper._em_weight(p1, case.f1, case.f2)
        r, v = p1 - case.pi0, p2 - 2 * p1 + case.pi0
        if "α = −1" in case.name:
            assert abs(r) / abs(v) < 0.9
            assert deeper.SQUAREM.expected(case)["pi_new"] == pytest.approx(deeper._em_weight(p2, case.f1, case.f2))
        if "leaves (0, 1)" in case.name or "far outside" in case.name:
            assert deeper._leaves(case) and deeper.SQUAREM.expected(case)["pi_new"] == p2
        if "kept" in case.name:
            new = deeper.SQUAREM.expected(case)["pi_new"]
            assert new != p2 and deeper.weight_log_likelihood(new, case.f1, case.f2) > deeper.weight_log_likelihood(
                p2, case.f1, case.f2
            )


@pytest.mark.parametrize("seed", [None, 5])
def test_poisson_reference_is_emkit_expfamily_and_the_maximum_of_q(seed):
    for case in deeper.POISSON.cases(np.random.default_rng(deeper.POISSON.default_seed if seed is None else seed)):
        exp = deeper.POISSON.expected(case)
        weights, rates = expfamily.m_step(expfamily.expected_statistics(case.x, case.R), "poisson")
        np.testing.assert_allclose(exp["weights"], weights, rtol=1e-12)
        np.testing.assert_allclose(exp["rates"], rates[:, 0], rtol=1e-9, atol=1e-12)
        for k in range(case.R.shape[1]):  # each rate maximises its own part of Q, Σ_i r_ik log Poisson(x_i | λ)
            r_k, x = case.R[:, k], case.x
            best = minimize_scalar(lambda lam, r_k=r_k, x=x: -np.sum(r_k * poisson.logpmf(x, lam)),
                                   bounds=(1e-6, 50.0), method="bounded", options={"xatol": 1e-10})  # fmt: skip
            assert exp["rates"][k] == pytest.approx(best.x, rel=1e-5, abs=1e-6)


def test_online_reference_run_over_a_stream_is_emkit_online_em():
    """Iterate the check's one step over 3000 points, θ from the statistics after each step past a burn-in of
    20 (before, the statistics of a handful of points give no variance): the same θ as emkit.online.online_em."""
    rng = np.random.default_rng(8)
    stream = np.where(rng.random(3000) < 0.4, 2.0, -1.0) + rng.normal(size=3000)
    theta = (np.array([0.5, 0.5]), np.array([-0.5, 0.5]), np.array([1.0, 1.0]))
    s = deeper._implied_stats(theta)
    for t, x in enumerate(stream, start=1):
        s = deeper._online(deeper._online_case("", s, x, theta, t, 0.6))
        if t > 20:
            theta = online.params_from_statistics(*s)
    ref = online.online_em(stream, [0.5, 0.5], [-0.5, 0.5], [1.0, 1.0], alpha=0.6, burn_in=20)
    np.testing.assert_allclose(theta[0], ref.weights, rtol=1e-8)
    np.testing.assert_allclose(theta[1], ref.means, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(theta[2], ref.variances, rtol=1e-8)


def test_online_reference_uses_emkits_responsibilities_and_the_step_size_schedule():
    for case in deeper.ONLINE.cases(np.random.default_rng(deeper.ONLINE.default_seed)):
        r, _ = online.responsibilities(np.array([case.x_t]), *case.theta)
        g = online.step_sizes(case.t, alpha=case.alpha)[-1]
        want = [s + g * (p - s) for s, p in zip(case.s, (r[0], r[0] * case.x_t, r[0] * case.x_t**2), strict=True)]
        got = deeper.ONLINE.expected(case)
        for name, w in zip(("s0", "s1", "s2"), want, strict=True):
            np.testing.assert_allclose(got[name], w, rtol=1e-12, atol=1e-14)


# --- what the feedback says -------------------------------------------------------------------------------


def test_feedback_names_the_slip_and_says_what_to_do():
    text = str(
        check.weight_information(lambda f1, f2, p: (lambda a, b: (a, b, a + b))(*DEEPER_LOUIS[0][0](f1, f2, p)[:2]))
    )
    assert "Mistake: the missing information added (its sign)." in text and "I_o = I_c − I_m" in text
    assert "With π = 0.4: f1 = [" in text or "I_o should be" in text
    text = str(check.squarem_step(lambda f1, f2, p: DEEPER_SQUAREM[0][0](f1, f2, p, check_range=False, guard="none")))
    assert "Mistake: no safeguard." in text and "(outside (0, 1))" in text and "fall back to π₂" in text
    text = str(check.poisson_m_step(lambda x, R: (R.mean(axis=0), R.sum(axis=0) / (R.T @ x))))
    assert "Mistake: 1/λ for λ (N_k / T_k)." in text and "T_k = Σ_i r_ik x_i" in text
    text = str(
        check.online_em_step(lambda s, x, th, t, a: DEEPER_ONLINE[0][0](s, x, th, t, a, gamma=lambda t, a: t**-2.0))
    )
    assert "Mistake: step-size exponent outside (0.5, 1]." in text and "Σ γ_t is finite" in text
    assert "γ_t = t ** -alpha" in text


def test_a_slip_that_shows_only_on_one_case_is_named_there_and_the_others_pass():
    """exp without log-sum-exp is right on moderate points and fails only on the far outlier."""
    result = check.online_em_step(lambda s, x, th, t, a: DEEPER_ONLINE[0][0](s, x, th, t, a, resp="naive"))
    assert [p.passed for p in result.parts] == [True, True, True, True, False]
    assert result.parts[-1].slip == "exp without log-sum-exp (underflow)" and "Work in logs" in result.parts[-1].hint
    result = check.weight_information(lambda f1, f2, p: (lambda c, m, o: (len(f1) / (p * (1 - p)), m, o))(
        *DEEPER_LOUIS[0][0](f1, f2, p)))  # fmt: skip
    assert [p.passed for p in result.parts][1] is True  # at π̂ the shortcut is right
    assert "N/(π(1 − π)) away from the maximum" in result.slips


def raises(*args):
    raise ZeroDivisionError("float division by zero")


def stub(*args):
    raise NotImplementedError


@pytest.mark.parametrize(
    "ex_id, answer, message",
    [
        ("06-louis", raises, "your function raised ZeroDivisionError"),
        ("06-louis", lambda f1, f2, p: (np.nan, np.nan, np.nan), "I_c is nan"),
        ("06-louis", lambda f1, f2, p: np.array([1.0, 2.0, 3.0]), "return 3 values (I_c, I_m, I_o) as a tuple"),
        ("06-louis", lambda f1, f2, p: (f1, f2, f1 - f2), "I_c should be one number; you returned an array"),
        ("06-louis", lambda f1, f2, p: 3.0, "return 3 values"),
        ("06-squarem", raises, "your function raised ZeroDivisionError"),
        ("06-squarem", lambda f1, f2, p: np.nan, "pi_new is nan"),
        ("06-squarem", lambda f1, f2, p: np.array([p, p]), "pi_new should be one number"),
        ("06-squarem", lambda f1, f2, p: "0.3", "pi_new should be one number; you returned a str"),
        ("06-poisson-m-step", raises, "your function raised ZeroDivisionError"),
        ("06-poisson-m-step", lambda x, R: (R.mean(0), np.full(R.shape[1], np.nan)), "rates contains nan"),
        ("06-poisson-m-step", lambda x, R: (R.mean(0), R * x[:, None]), "rates should have shape (K,)"),
        ("06-poisson-m-step", lambda x, R: R.mean(0), "return 2 values (weights, rates) as a tuple"),
        ("06-online-step", raises, "your function raised ZeroDivisionError"),
        (
            "06-online-step",
            lambda s, x, th, t, a: tuple(np.full(len(th[0]), np.nan) for _ in range(3)),
            "s0 contains nan",
        ),
        ("06-online-step", lambda s, x, th, t, a: tuple(v[:1] for v in s), "s0 should have shape (K,)"),
        ("06-online-step", lambda s, x, th, t, a: np.stack(s), "return 3 values (s0, s1, s2) as a tuple"),
        ("06-online-step", lambda s, x, th, t, a: tuple(float(np.sum(v)) for v in s), "one number: each statistic"),
    ],
)
def test_misbehaving_answers_get_clear_feedback(ex_id, answer, message):
    result = EXERCISES[ex_id].check(answer)
    assert not result.passed and message in str(result), str(result)
    assert result._repr_html_()


@pytest.mark.parametrize("ex_id", list(SPECS))
def test_a_stub_is_not_answered_and_a_non_function_is_named(ex_id):
    result = EXERCISES[ex_id].check(stub)
    assert not result.answered and "not answered yet" in str(result)
    result = EXERCISES[ex_id].check(np.zeros(3))
    assert not result.passed and "expected a function" in str(result)


def test_answers_that_change_their_inputs_are_judged_on_copies():
    def in_place(s_hat, x, theta, t, alpha):
        w, m, v = theta
        a = np.log(w) - 0.5 * np.log(2 * np.pi * v) - 0.5 * (x - m) ** 2 / v
        r = np.exp(a - a.max())
        r /= r.sum()
        g = t**-alpha
        for s, p in zip(s_hat, (r, r * x, r * x * x), strict=True):
            s += g * (p - s)  # changes the caller's arrays
        m[:] = 0.0
        return s_hat

    assert check.online_em_step(in_place).passed

    def poisson_in_place(x, R):
        N = R.sum(axis=0)
        out = (N / len(x), R.T @ x / N)
        R[:] = 0.0
        return out

    assert check.poisson_m_step(poisson_in_place).passed


def test_every_check_of_the_corpus_is_quick():
    import time

    slowest = 0.0
    for ex_id, (_, corpus) in SPECS.items():
        for answer, _ in corpus:
            tic = time.perf_counter()
            EXERCISES[ex_id].check(answer)
            slowest = max(slowest, time.perf_counter() - tic)
    assert slowest < 3.0


# --- a first-time learner's report: feedback that named the wrong slip, or none -------------------------------


def _ell(case, pi):
    return deeper.weight_log_likelihood(pi, case.f1, case.f2)


def test_squarem_has_starts_where_only_the_ell_half_of_the_safeguard_decides():
    """Dropping the ℓ fallback, or comparing with ℓ(π₂), passed all four starts: two more starts show each."""
    from check_corpus import squarem_cycle, squarem_vs_pi2

    for seed in SEEDS:
        rng = np.random.default_rng(deeper.SQUAREM.default_seed if seed is None else seed)
        cases = deeper.SQUAREM.cases(rng)
        lowers = [c for c in cases if "overshoots" in c.name]
        between = [c for c in cases if "below ℓ(π₂)" in c.name]
        assert len(lowers) == 1 and len(between) == 1, seed
        for case in (*lowers, *between):
            assert not deeper._leaves(case), (seed, case.name)  # π′ inside (0, 1): the range check passes it
        c = lowers[0]
        p2 = deeper._em_weight(deeper._em_weight(c.pi0, c.f1, c.f2), c.f1, c.f2)
        assert _ell(c, deeper._squarem(c, guard="range only")) < _ell(c, c.pi0)  # M(π′) lowers ℓ ...
        assert deeper.SQUAREM.expected(c)["pi_new"] == p2  # ... so the cycle keeps π₂
        c = between[0]
        p2 = deeper._em_weight(deeper._em_weight(c.pi0, c.f1, c.f2), c.f1, c.f2)
        kept = deeper.SQUAREM.expected(c)["pi_new"]
        assert kept != p2 and _ell(c, c.pi0) <= _ell(c, kept) < _ell(c, p2)

    result = check.squarem_step(lambda f1, f2, p: squarem_cycle(f1, f2, p, guard="none"))
    failed = [p for p in result.parts if not p.passed]
    assert len(failed) == 1 and "overshoots" in failed[0].name
    assert failed[0].slip == "the safeguard ignores ℓ (no fallback when ℓ(π_new) < ℓ(π₀))"
    assert "compare loglik(pi_new) with loglik(pi0)" in failed[0].hint
    result = check.squarem_step(squarem_vs_pi2)
    failed = [p for p in result.parts if not p.passed]
    assert len(failed) == 1 and "below ℓ(π₂)" in failed[0].name
    assert failed[0].slip == "ℓ(π_new) compared with ℓ(π₂), not ℓ(π₀)"
    assert "Mistake: ℓ(π_new) compared with ℓ(π₂), not ℓ(π₀)." in str(result)


def test_online_step_is_judged_on_its_change_so_an_off_by_one_step_size_fails_at_t_300():
    """At t = 300 (α = 1) γ_{t+1} passed at float32 precision of the statistics, and a missing ½ in the exponent
    was called 'γ_{t+1} for γ_t' there."""
    from check_corpus import online_no_half, online_reference

    for seed in SEEDS:
        result = check.online_em_step(
            lambda s, x, th, t, a: online_reference(s, x, th, t, a, gamma=lambda t, a: (t + 1) ** -a), seed=seed
        )
        assert not any(p.passed for p in result.parts), seed
        assert {p.slip for p in result.parts} == {"γ_{t+1} for γ_t (off by one)"}, seed
        assert "float32" not in str(result)
        result = check.online_em_step(online_no_half, seed=seed)
        assert "γ_{t+1} for γ_t (off by one)" not in result.slips, (seed, str(result))
        assert {p.slip for p in result.parts if not p.passed} == {"a missing ½ on the quadratic term"}, seed
    assert "the 2 in 2σ²_k" in str(check.online_em_step(online_no_half))


def test_a_slip_is_named_only_where_it_explains_the_answer_on_every_part_that_tests_it():
    """Hard labels give [0.5 0.5] on the six counts, as uniform weights would: elsewhere they do not, so the
    check says hard assignments."""
    from check_corpus import poisson_hard

    result = check.poisson_m_step(poisson_hard)
    assert result.parts[0].slip == "hard assignments" and "uniform weights" not in result.slips
    assert "Mistake: uniform weights" not in str(result) and "most likely component" in str(result)
    assert check.poisson_m_step(lambda x, R: (np.full(R.shape[1], 1 / R.shape[1]), R.T @ x / R.sum(0))).slips == [
        "uniform weights"
    ]


def test_louis_fallback_points_at_the_wrong_quantity_without_the_formulas():
    from check_corpus import louis_parts

    def im_scaled(p, r):
        return 1.3 * np.sum(r * (1 - r)) / (p * (1 - p)) ** 2

    def ic_unsquared(p, r):
        return np.sum(r / p + (1 - r) / (1 - p) ** 2)

    def im_prior_variance(p, r):
        return np.sum(np.full_like(r, p * (1 - p))) / (p * (1 - p)) ** 2

    wrong_im = check.weight_information(lambda f1, f2, p: louis_parts(f1, f2, p, im=im_scaled))
    text = str(wrong_im)
    assert "I_m:" in text and "Var(z | x_i)" in text
    for formula in ("Σ_i [r_i/π² + (1 − r_i)/(1 − π)²]", "r_i(1 − r_i)/(π(1 − π))²", "I_o = I_c − I_m;"):
        assert formula not in text, formula
    assert "I_c:" not in text  # I_c is right: nothing said about it
    wrong_ic = check.weight_information(lambda f1, f2, p: louis_parts(f1, f2, p, ic=ic_unsquared))
    assert "I_c: differentiate" in str(wrong_ic) and "I_m:" not in str(wrong_ic)
    result = check.weight_information(lambda f1, f2, p: louis_parts(f1, f2, p, im=im_prior_variance))
    assert result.slips == ["π(1 − π) in place of r_i(1 − r_i) in I_m"]
    assert "Mistake: π(1 − π) in place of r_i(1 − r_i) in I_m." in str(result)
