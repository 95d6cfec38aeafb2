"""Checks of notebook 07, hidden Markov models (see :mod:`.registry`).

Each exercise here is an :class:`~emkit.check.registry.Exercise` in :data:`EXERCISES`;
the registry collects them with the others.

* :func:`forward_step`: ``forward_step(log_alpha_prev_K, log_trans_KK, log_emission_K) -> log_alpha_K``,
  one step of the forward pass in logs,
  log α_t(k) = log b_t(k) + log Σ_j α_{t-1}(j) A_jk. Its slips: A transposed, a sum of logs
  where log-sum-exp belongs, Viterbi's max, the emission term left out or put inside the sum,
  the transition dropped, exp without taking out the maximum (underflow near log α ≈ −1000),
  the scaled α̂_t returned, α returned instead of log α.
* :func:`transition_update`: ``transition_update(xi_sum_KK) -> trans_KK``, Baum–Welch's update of
  A, A_jk = ξ_jk / Σ_k' ξ_jk'. Its slips: columns normalised instead of rows, the row sums
  broadcast along the wrong axis, divided by the total, not normalised, transposed, a softmax of
  the counts, log A returned, uniform rows, add-one smoothing.

The expected values are computed here from the formulas, not by :mod:`emkit.hmm`.
"""

from __future__ import annotations

import numpy as np

from .engine import Case, Field, FunctionExercise, Mistake, run
from .registry import Exercise

__all__ = ["EXERCISES", "forward_step", "transition_update"]


def _fmt(a) -> str:
    return np.array2string(np.asarray(a, dtype=float), precision=4, suppress_small=True)


def _lse(a, axis):
    """log Σ exp(a) over ``axis``, the largest term taken out first; a slice of -inf only gives -inf."""
    a = np.asarray(a, dtype=float)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(m, axis=axis) + np.log(np.exp(a - m).sum(axis=axis))


def _log(a):
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(a, dtype=float))


# ---------------------------------------------------------------------------
# The forward step (Exercise 7.1)
# ---------------------------------------------------------------------------

#: The coins example of notebook 07 at t = 2: α_1 = (0.25, 0.4), A = [[0.9, 0.1], [0.2, 0.8]], x_2 = heads.
COINS_ALPHA_1 = np.array([0.25, 0.4])
COINS_TRANS = np.array([[0.9, 0.1], [0.2, 0.8]])
COINS_EMISSION_2 = np.array([0.5, 0.8])


def _forward_case(name, log_alpha, log_trans, log_b):
    K = log_alpha.shape[0]
    return Case(name=name, args=(log_alpha, log_trans, log_b), la=log_alpha, lA=log_trans, lb=log_b, dims={"K": K})


def _forward_cases(rng):
    cases = [
        _forward_case(
            "the coins example, t = 2 (the α table of the notebook)",
            np.log(COINS_ALPHA_1),
            np.log(COINS_TRANS),
            np.log(COINS_EMISSION_2),
        )
    ]
    A3 = rng.dirichlet(np.full(3, 2.0), size=3)
    cases.append(
        _forward_case(
            "three states",
            np.log(rng.dirichlet(np.ones(3))) - rng.uniform(2.0, 6.0),
            np.log(A3),
            rng.normal(-1.5, 1.0, size=3),
        )
    )
    A4 = rng.dirichlet(np.full(4, 2.0), size=4)
    A4[0, 2] = 0.0  # one transition impossible: log A = -inf there
    A4[0] /= A4[0].sum()
    cases.append(
        _forward_case(
            "four states, one transition impossible (A_02 = 0, log A_02 = −inf)",
            np.log(rng.dirichlet(np.ones(4))) - rng.uniform(5.0, 10.0),
            _log(A4),
            rng.normal(-2.0, 1.0, size=4),
        )
    )
    cases.append(
        _forward_case(
            "late in a long sequence: log α near −1000 (exp underflows to 0)",
            -1000.0 + rng.normal(0.0, 2.0, size=3),
            np.log(rng.dirichlet(np.full(3, 2.0), size=3)),
            rng.normal(-1.0, 0.5, size=3),
        )
    )
    return cases


def _forward_ref(c):
    """log α_t(k) = log b_t(k) + log Σ_j exp(log α_{t-1}(j) + log A_jk)."""
    return c.lb + _lse(c.la[:, None] + c.lA, axis=0)


def _terms(c):
    return c.la[:, None] + c.lA  # (j, k): log α_{t-1}(j) + log A_jk


def _naive_forward(c):
    with np.errstate(divide="ignore", under="ignore"):
        return c.lb + np.log(np.exp(c.la) @ np.exp(c.lA))


def _forward_explain(case, name, got, exp):
    k = int(np.argmax(np.abs(np.asarray(got, dtype=float) - exp)))
    return (
        f"log α_t should be {_fmt(exp)}; you gave {_fmt(got)}.\n"
        f"State {k}: log b_t({k}) = {case.lb[k]:.4f}, and log Σ_j α_t−1(j) A_j{k} = {exp[k] - case.lb[k]:.4f}."
    )


FORWARD = FunctionExercise(
    title="one step of the forward pass, in logs",
    signature="forward_step(log_alpha_prev_K, log_trans_KK, log_emission_K) -> log_alpha_K",
    fields=(
        Field(
            "log_alpha",
            shape=lambda c: (c.dims["K"],),
            causes=lambda c: [
                (
                    (c.dims["K"], c.dims["K"]),
                    "that is the K×K table of terms log α_t−1(j) + log A_jk (+ log b_t(k)): reduce it over the "
                    "previous state j (axis=0) with log-sum-exp.",
                ),
                (
                    (),
                    "one number: you reduced over every axis. log p(x_1..x_t) is the log-sum-exp of the answer; "
                    "the step returns one value per state k.",
                ),
            ],
            rtol=1e-9,
            atol=1e-9,
        ),
    ),
    cases=_forward_cases,
    expected=lambda c: {"log_alpha": _forward_ref(c)},
    mistakes=(
        Mistake(
            "A transposed",
            "A_jk is the probability of moving from j to k, so the sum for state k runs down column k: "
            "Σ_j α_t−1(j) A_jk. You used row k (A transposed). In numpy: log_alpha_prev_K[:, None] + log_trans_KK, "
            "then log-sum-exp over axis 0.",
            lambda c: c.lb + _lse(c.la[None, :] + c.lA, axis=1),
        ),
        Mistake(
            "a sum of logs, not log-sum-exp",
            "log Σ_j (…) is not Σ_j log(…): the terms log α_t−1(j) + log A_jk are logs of numbers to be added, so "
            "combine them with log-sum-exp (take out the largest, exponentiate, sum, take the log, add it back).",
            lambda c: c.lb + _terms(c).sum(axis=0),
        ),
        Mistake(
            "max instead of sum (a Viterbi step)",
            "the maximum over j is the Viterbi recursion (the single best path into k). The forward pass adds up "
            "every way of reaching k: log-sum-exp over j, not max.",
            lambda c: c.lb + _terms(c).max(axis=0),
        ),
        Mistake(
            "emission term missing",
            "α_t(k) = p(x_1..x_t, z_t = k) includes the new observation x_t: add log b_t(k) (log_emission_K).",
            lambda c: _lse(_terms(c), axis=0),
        ),
        Mistake(
            "emission of the previous state",
            "log b_t(k) belongs to the new state k, outside the sum over j; you put it inside the sum, "
            "indexed by the previous state j.",
            lambda c: _lse(_terms(c) + c.lb[:, None], axis=0),
        ),
        Mistake(
            "transition dropped (sum over the wrong axis)",
            "your result is log α_t−1(k) + log b_t(k): the transitions dropped out. Summing over k (axis=1) does that, "
            "because every row of A sums to 1; sum over the previous state j (axis=0).",
            lambda c: c.la + c.lb,
        ),
        Mistake(
            "exp without taking out the maximum (underflow)",
            "near log α ≈ −1000 every exp(log α_t−1(j)) is 0.0 in floating point, and log 0 = −inf. Subtract the "
            "largest log α_t−1(j) before exponentiating and add it back after the log: log-sum-exp.",
            _naive_forward,
        ),
        Mistake(
            "normalised (the scaled α̂_t)",
            "you normalised the result so that the α's sum to 1: that is the scaled forward variable α̂_t. Return "
            "log α_t itself; what you divided away is p(x_t | x_1..x_t−1), which log p(x) is made of.",
            lambda c: _forward_ref(c) - _lse(_forward_ref(c), axis=0),
        ),
        Mistake(
            "α, not log α",
            "those are the probabilities α_t(k); the step works in logs: return log α_t(k).",
            lambda c: np.exp(_forward_ref(c)),
        ),
    ),
    explain=_forward_explain,
    fallback="log α_t(k) = log b_t(k) + log-sum-exp over j of (log α_t−1(j) + log A_jk).",
    nonfinite_hint=lambda c, name: (
        "−inf or NaN: exp of numbers near −1000 underflows to 0 (and log 0 = −inf; −inf − (−inf) = NaN). "
        "Take out the maximum first (log-sum-exp), and never subtract a −inf maximum."
    ),
    default_seed=70,
)


def forward_step(fn, seed: int | None = None):
    """Check ``fn(log_alpha_prev_K, log_trans_KK, log_emission_K) -> log_alpha_K``: one forward step in logs."""
    return run(FORWARD, fn, seed)


# ---------------------------------------------------------------------------
# The transition update (Exercise 7.2)
# ---------------------------------------------------------------------------

#: The rest of the coins example: π, B (rows: fair, biased; columns: heads, tails) and x = heads, heads, tails.
COINS_START = np.array([0.5, 0.5])
COINS_EMISSION = np.array([[0.5, 0.5], [0.8, 0.2]])
COINS_X = (0, 0, 1)


def coins_xi() -> np.ndarray:
    """ξ_jk = Σ_t p(z_t = j, z_t+1 = k | x) of the coins example, by adding up all 2³ state paths."""
    xi, total = np.zeros((2, 2)), 0.0
    for z in np.ndindex(2, 2, 2):
        p = COINS_START[z[0]] * np.prod([COINS_EMISSION[k, x] for k, x in zip(z, COINS_X, strict=True)])
        p *= np.prod([COINS_TRANS[a, b] for a, b in zip(z[:-1], z[1:], strict=True)])
        total += p
        for a, b in zip(z[:-1], z[1:], strict=True):
            xi[a, b] += p
    return xi / total


def _xi_case(name, xi):
    return Case(name=name, args=(xi,), xi=xi, dims={"K": xi.shape[0]})


def _transition_cases(rng):
    xi3 = rng.dirichlet(np.full(9, 2.0)).reshape(3, 3) * 199.0  # ξ summed over T − 1 = 199 steps
    xi4 = rng.dirichlet(np.full(16, 2.0)).reshape(4, 4) * 300.0
    xi4[1, 3] = 0.0  # a transition never made, in expectation
    xi5 = rng.dirichlet(np.full(25, 2.0)).reshape(5, 5) * 80.0
    xi5[2] *= 1e-4  # a state visited only briefly: its row holds tiny counts
    return [
        _xi_case("ξ of the coins example (T = 3)", coins_xi()),
        _xi_case("three states, ξ summed over 199 transitions", xi3),
        _xi_case("four states, one transition never made (ξ_13 = 0)", xi4),
        _xi_case("five states, one of them visited only briefly (its counts are tiny)", xi5),
    ]


def _rows(xi):
    return xi / xi.sum(axis=1, keepdims=True)


def _softmax_rows(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _transition_explain(case, name, got, exp):
    got = np.asarray(got, dtype=float)
    j = int(np.argmax(np.abs(got - exp).max(axis=1)))
    sums = got.sum(axis=1)
    note = "" if np.allclose(sums, 1.0) else f"\nThe rows of your A sum to {_fmt(sums)}; each must sum to 1."
    return (
        f"row {j}: ξ_{j}· = {_fmt(case.xi[j])} (expected transitions out of state {j}: {case.xi[j].sum():.4g}),\n"
        f"so A_{j}· should be {_fmt(exp[j])}; you gave {_fmt(got[j])}." + note
    )


TRANSITIONS = FunctionExercise(
    title="the Baum–Welch update of the transition matrix",
    signature="transition_update(xi_sum_KK) -> trans_KK",
    fields=(
        Field(
            "trans",
            shape=lambda c: (c.dims["K"], c.dims["K"]),
            causes=lambda c: [
                (
                    (c.dims["K"],),
                    "one number per state: those are the row sums Σ_k ξ_jk; divide each row of ξ by its sum.",
                ),
                ((), "one number: A is a K×K matrix, ξ with each row divided by that row's sum."),
            ],
            rtol=1e-9,
            atol=1e-12,
        ),
    ),
    cases=_transition_cases,
    expected=lambda c: {"trans": _rows(c.xi)},
    mistakes=(
        Mistake(
            "columns normalised instead of rows",
            "each *row* of A is a distribution (A_jk = p(z_t+1 = k | z_t = j): row j sums to 1). You divided by the "
            "column sums, Σ_j ξ_jk; divide by the row sums, Σ_k ξ_jk (axis=1).",
            lambda c: c.xi / c.xi.sum(axis=0, keepdims=True),
        ),
        Mistake(
            "row sums broadcast along the wrong axis",
            "xi.sum(axis=1) has shape (K,), and numpy divides column k by the k-th sum. Keep the axis "
            "(keepdims=True, or [:, None]) so that row j is divided by its own sum.",
            lambda c: c.xi / c.xi.sum(axis=1),
        ),
        Mistake(
            "divided by the total",
            "ξ / Σ_jk ξ_jk is the joint distribution of a transition (j, k); A_jk is conditional on the state j "
            "left from: divide each row by its own sum.",
            lambda c: c.xi / c.xi.sum(),
        ),
        Mistake(
            "not normalised (the expected counts)",
            "these are the expected counts ξ_jk themselves; A_jk is a probability: divide each row by its sum.",
            lambda c: c.xi,
        ),
        Mistake(
            "A transposed",
            "your A is the transpose of the right one: row j holds the moves out of j, A_jk = ξ_jk / Σ_k' ξ_jk'.",
            lambda c: _rows(c.xi).T,
        ),
        Mistake(
            "a softmax of the counts",
            "ξ holds expected counts, not logs: divide each row by its sum, with no exponentials.",
            lambda c: _softmax_rows(c.xi),
        ),
        Mistake(
            "log A, not A",
            "those are log A_jk; return the probabilities A_jk themselves.",
            lambda c: _log(_rows(c.xi)),
        ),
        Mistake(
            "uniform rows",
            "every row came out uniform, 1/K: the counts ξ were not used. A_jk = ξ_jk / Σ_k' ξ_jk'.",
            lambda c: np.full_like(c.xi, 1.0 / c.xi.shape[0]),
        ),
        Mistake(
            "add-one smoothing",
            "you added 1 to every count (Laplace smoothing: a MAP update under a Dirichlet prior). The "
            "maximum-likelihood M-step uses ξ as it is: A_jk = ξ_jk / Σ_k' ξ_jk'.",
            lambda c: _rows(c.xi + 1.0),
        ),
    ),
    explain=_transition_explain,
    fallback="A_jk = ξ_jk / Σ_k' ξ_jk': each row of ξ divided by that row's sum.",
    nonfinite_hint=lambda c, name: "NaN or inf: a division by zero? Divide row j by Σ_k ξ_jk (axis=1), never by 0.",
    default_seed=71,
)


def transition_update(fn, seed: int | None = None):
    """Check ``fn(xi_sum_KK) -> trans_KK``: each row of ξ divided by its sum."""
    return run(TRANSITIONS, fn, seed)


_FORWARD_REFERENCE = (
    "emkit.hmm.forward",
    "emkit.hmm._forward",
    "emkit.hmm.e_step",
    "emkit.hmm._e_step",
    "emkit.hmm.log_likelihood",
    "emkit.hmm.fit",
)
_TRANSITION_REFERENCE = (
    "emkit.hmm.update_transitions",
    "emkit.hmm._update_transitions",
    "emkit.hmm.m_step",
    "emkit.hmm._m_step",
    "emkit.hmm.fit",
)

EXERCISES: list[Exercise] = [
    Exercise(
        id="07-forward",
        notebook="07_hmm",
        title="one step of the forward pass, in logs",
        answer="forward_step",
        kind="function",
        check=forward_step,
        signature="forward_step(log_alpha_prev_K, log_trans_KK, log_emission_K) -> log_alpha_K",
        forbidden=_FORWARD_REFERENCE,
    ),
    Exercise(
        id="07-transitions",
        notebook="07_hmm",
        title="the Baum–Welch update of A",
        answer="transition_update",
        kind="function",
        check=transition_update,
        signature="transition_update(xi_sum_KK) -> trans_KK",
        forbidden=_TRANSITION_REFERENCE,
    ),
]
