"""Answers typed as text are parsed by a whitelist: nothing in them is ever executed."""

from __future__ import annotations

import builtins
import os
import sys

import pytest
import sympy as sp

from emkit import check
from emkit.parse import AnswerSyntaxError, parse_answer
from emkit.symbolic import V, total

HOSTILE = [
    ("__import__('os').system('touch SENTINEL')", "attribute access"),
    ("().__class__.__bases__[0].__subclasses__()", "attribute access"),
    ("tau.__class__", "attribute access"),
    ("Sum(T1[i], (i, 1, N)).doit()", "attribute access"),
    ("open('SENTINEL', 'w').write('x')", "attribute access"),
    ('exec(\'open("SENTINEL", "w")\')', "calls are limited"),
    ("eval('1+1')", "calls are limited"),
    ("lambda: open('SENTINEL', 'w')", "a lambda"),
    ("[open('SENTINEL', 'w') for _ in (1,)]", "a comprehension"),
    ("import os", "not a formula"),
    ("10**10**100", "absurdly large"),
    ("9**9**9**9", "absurdly large"),
    ("x[i]" + " + x[i]" * 500, "characters long"),
    ("-(" * 60 + "tau" + ")" * 60, "nested more than"),
    ("log(" * 60 + "tau" + ")" * 60, "nested more than"),
    ("'a' * 10**9", "only numbers"),
    ('f\'{open("SENTINEL", "w")}\'', "an f-string"),
    ("(y := open('SENTINEL', 'w'))", "an assignment"),
    ("getattr(tau, '__class__')", "calls are limited"),
    ("__builtins__", "underscore"),
    ("log(tau, base=2)", "keyword arguments"),
    ("tau if tau else mu1", "a conditional"),
    ("sys.modules", "attribute access"),
    ("x", "must be indexed"),
    ("x[0]", "indexed by i"),
    ("Sum(T1[i], (i, 0, N))", "from 1 to N"),
    ("123456789", "larger than"),
]


@pytest.mark.parametrize("text, message", HOSTILE)
def test_hostile_strings_are_refused_without_effect(text, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    calls = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda *a, **k: calls.append(a) or real_open(*a, **k))
    modules_before = set(sys.modules)
    with pytest.raises(AnswerSyntaxError, match=message):
        parse_answer(text)
    assert not (tmp_path / "SENTINEL").exists()
    assert calls == []
    assert set(sys.modules) == modules_before
    assert os.listdir(tmp_path) == []


def test_hostile_strings_become_feedback_in_checks():
    result = check.tau_update("__import__('os').system('echo hacked')")
    assert not result.passed and "could not read your answer" in str(result)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Sum(T1[i], (i, 1, N)) / N", total(V.T1[V.i]) / V.N),
        ("τ*μ1 - Σ2", V.tau * V.mu1 - V.Sigma2),
        ("log(tau) + exp(-mu1**2/2) / sqrt(2*pi)", sp.log(V.tau) + sp.exp(-(V.mu1**2) / 2) / sp.sqrt(2 * sp.pi)),
        ("0.5 * tau", V.tau / 2),
        ("-(mu1_t)", -V.mu1_t),
    ],
)
def test_valid_strings_parse(text, expected):
    assert sp.simplify(parse_answer(text) - expected) == 0


def test_non_string_is_refused():
    with pytest.raises(AnswerSyntaxError, match="expected text"):
        parse_answer(42)
