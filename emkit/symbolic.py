"""Symbolic derivations with SymPy, in one shared vocabulary of symbols.

Every result here is also checked numerically in the tests: a CAS can be
silently wrong. (SymPy 1.14 differentiates log(det S) of a MatrixSymbol S to
0; see :func:`logdet_matrixsymbol_derivative`.) Notebooks show the steps;
this module keeps them in one tested place, and :mod:`emkit.check` grades
answers written in the same vocabulary.

**The vocabulary** (:data:`V`): points ``x[i]`` for ``i`` = 1..``N``;
responsibilities ``T1[i]``, ``T2[i]`` (= 1 - T1[i]) computed from the old
parameters θᵗ; the parameters being solved for, ``tau``, ``mu1``, ``mu2``,
``Sigma1``, ``Sigma2`` (in one dimension Σ_k is a variance); and the old
parameters ``tau_t``, ``mu1_t``, ``mu2_t``, ``Sigma1_t``, ``Sigma2_t``.

Missing data (notebook 03): the bivariate Normal with x₂ unobserved.

>>> mean, var = conditional_normal_2d()
>>> mean
m2 + s12*(-m1 + x1)/s11
>>> var
(s11*s22 - s12**2)/s11

The two-component mixture (notebook 04):

>>> derive_tau()["solution"]
Sum(T1[i], (i, 1, N))/N
>>> derive_mean(1)["solution"]
Sum(T1[i]*x[i], (i, 1, N))/Sum(T1[i], (i, 1, N))
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import sympy as sp
from sympy.concrete.summations import Sum

__all__ = [
    "V",
    "bivariate_normal_log_density",
    "complete_log_likelihood",
    "conditional_normal_2d",
    "derive_mean",
    "derive_sigma_2x2",
    "derive_constrained_covariances",
    "derive_sigma_general",
    "derive_weights_lagrange",
    "sigma_2x2_direct_solve",
    "derive_tau",
    "derive_variance",
    "evaluate",
    "logdet_explicit_gradient",
    "logdet_matrixsymbol_derivative",
    "matrix_gradient",
    "normal_2d_symbols",
    "normal_log_density",
    "q_function",
    "q_parts",
    "remember",
    "responsibility_t",
    "same_expression",
    "split_sums",
    "show",
    "show_lines",
    "sums_as_symbols",
    "to_latex",
    "total",
    "trace_identity_2x2",
]


def normal_2d_symbols():
    """x₁, x₂, the means m₁, m₂ and the covariance entries s₁₁, s₁₂, s₂₂ (variances positive)."""
    x1, x2, m1, m2, s12 = sp.symbols("x1 x2 m1 m2 s12", real=True)
    s11, s22 = sp.symbols("s11 s22", positive=True)
    return x1, x2, m1, m2, s11, s12, s22


def bivariate_normal_log_density():
    """log N((x₁, x₂) | (m₁, m₂), [[s₁₁, s₁₂], [s₁₂, s₂₂]]), written out."""
    x1, x2, m1, m2, s11, s12, s22 = normal_2d_symbols()
    S = sp.Matrix([[s11, s12], [s12, s22]])
    v = sp.Matrix([x1 - m1, x2 - m2])
    quad = sp.simplify((v.T * S.inv() * v)[0, 0])
    return -sp.log(2 * sp.pi) - sp.log(S.det()) / 2 - quad / 2


def conditional_normal_2d():
    """E[x₂ | x₁] and Var[x₂ | x₁], derived from the joint log-density.

    As a function of x₂ the log-density is a downward parabola, so the
    conditional distribution is Normal: its mean is where the derivative in
    x₂ vanishes, and its variance is -1 / (second derivative).
    """
    x1, x2, m1, m2, s11, s12, s22 = normal_2d_symbols()
    log_p = bivariate_normal_log_density()
    (mean,) = sp.solve(sp.diff(log_p, x2), x2)
    var = -1 / sp.diff(log_p, x2, 2)
    return sp.collect(sp.simplify(mean - m2), s12) + m2, sp.factor(sp.simplify(var))


# ---------------------------------------------------------------------------
# The two-component Gaussian mixture (the source's exercise), in one dimension
# ---------------------------------------------------------------------------

_i = sp.Symbol("i", integer=True, positive=True)
_N = sp.Symbol("N", integer=True, positive=True)

#: The shared vocabulary. ``V.x[V.i]`` is the i-th point; ``V.T1[V.i]`` its responsibility under θᵗ.
V = SimpleNamespace(
    i=_i,
    N=_N,
    x=sp.IndexedBase("x", real=True),
    T1=sp.IndexedBase("T1", real=True),
    T2=sp.IndexedBase("T2", real=True),
    Z1=sp.IndexedBase("Z1", real=True),  # the indicator [z_i = 1] of the complete data
    tau=sp.Symbol("tau", positive=True),
    mu1=sp.Symbol("mu1", real=True),
    mu2=sp.Symbol("mu2", real=True),
    Sigma1=sp.Symbol("Sigma1", positive=True),
    Sigma2=sp.Symbol("Sigma2", positive=True),
    tau_t=sp.Symbol("tau_t", positive=True),
    mu1_t=sp.Symbol("mu1_t", real=True),
    mu2_t=sp.Symbol("mu2_t", real=True),
    Sigma1_t=sp.Symbol("Sigma1_t", positive=True),
    Sigma2_t=sp.Symbol("Sigma2_t", positive=True),
)


def _mu(k):
    return {1: V.mu1, 2: V.mu2}[k]


def _Sigma(k):
    return {1: V.Sigma1, 2: V.Sigma2}[k]


def _T(k):
    return {1: V.T1, 2: V.T2}[k]


def total(expr):
    """Σ_{i=1}^{N} expr, in the shared vocabulary."""
    return Sum(expr, (V.i, 1, V.N))


def normal_log_density(x, mu, Sigma):
    """log N(x | μ, Σ) in one dimension (Σ is the variance)."""
    return -sp.log(2 * sp.pi * Sigma) / 2 - (x - mu) ** 2 / (2 * Sigma)


def complete_log_likelihood():
    """log L(θ; x, Z) with indicators Z1[i] = [z_i = 1] (and 1 - Z1[i] = [z_i = 2])."""
    xi, Z1 = V.x[V.i], V.Z1[V.i]
    return total(
        Z1 * (sp.log(V.tau) + normal_log_density(xi, V.mu1, V.Sigma1))
        + (1 - Z1) * (sp.log(1 - V.tau) + normal_log_density(xi, V.mu2, V.Sigma2))
    )


def responsibility_t():
    """T1[i] = E[Z1[i] | x_i, θᵗ] = τᵗ N(x_i | μ1ᵗ, Σ1ᵗ) / (τᵗ N(...) + (1 - τᵗ) N(x_i | μ2ᵗ, Σ2ᵗ)), by Bayes' rule."""
    xi = V.x[V.i]
    p1 = V.tau_t * sp.exp(normal_log_density(xi, V.mu1_t, V.Sigma1_t))
    p2 = (1 - V.tau_t) * sp.exp(normal_log_density(xi, V.mu2_t, V.Sigma2_t))
    return p1 / (p1 + p2)


def q_function():
    """Q(θ | θᵗ) = Σ_i E[log-likelihood term of point i], the expectation over z_i under θᵗ.

    The indicator Z1[i] is 1 with probability T1[i] and 0 with probability
    T2[i], so for the i-th term g(Z1[i]) of the complete-data log-likelihood,
    E[g(Z1[i])] = T1[i]·g(1) + T2[i]·g(0). Because g is linear in Z1[i], this is
    the same as replacing Z1[i] by T1[i] (tested).
    """
    g = complete_log_likelihood().function
    Z1 = V.Z1[V.i]
    return total(V.T1[V.i] * g.subs(Z1, 1) + V.T2[V.i] * g.subs(Z1, 0))


def q_parts():
    """Q split into the part with τ and one part per component: Q = Q_tau + Q_1 + Q_2."""
    T1, T2, xi = V.T1[V.i], V.T2[V.i], V.x[V.i]
    return {
        "tau": total(T1 * sp.log(V.tau) + T2 * sp.log(1 - V.tau)),
        "component 1": total(T1 * normal_log_density(xi, V.mu1, V.Sigma1)),
        "component 2": total(T2 * normal_log_density(xi, V.mu2, V.Sigma2)),
    }


def split_sums(expr):
    """Split every Σ over a sum of terms, and move factors that do not depend on i outside.

    Σ_i (a·T1[i]·x[i] - a·μ·T1[i]) becomes a·Σ_i T1[i]·x[i] - a·μ·Σ_i T1[i]; this is
    what lets ``solve`` see the parameter it solves for.
    """

    def split(s):
        terms = sp.Add.make_args(sp.expand(s.function))
        out = []
        for term in terms:
            outside, inside = term.as_independent(V.i, as_Add=False)
            out.append(outside * (Sum(inside, *s.limits).doit() if inside == 1 else Sum(inside, *s.limits)))
        return sp.Add(*out)

    return expr.replace(lambda e: isinstance(e, Sum), split)


def _derive(q_part, parameter, *, use_T2=True):
    def t2_to_t1(e):  # Σ T2[i] = N - Σ T1[i], since T1[i] + T2[i] = 1
        return e.subs(Sum(V.T2[V.i], (V.i, 1, V.N)), V.N - Sum(V.T1[V.i], (V.i, 1, V.N))) if use_T2 else e

    dq = t2_to_t1(split_sums(sp.diff(q_part, parameter)))
    (solution,) = sp.solve(sp.Eq(dq, 0), parameter)
    second = t2_to_t1(split_sums(sp.diff(q_part, parameter, 2)))
    solution = split_sums(solution)
    at_solution = sums_as_symbols(second.subs(parameter, solution))[0]
    return {
        "derivative": dq,
        "solution": solution,
        "second_derivative": second,
        "second_derivative_at_solution": sp.factor(sp.simplify(at_solution)),
    }


_SUM_SYMBOLS: dict[str, sp.Expr] = {}  # the name of a symbol made by sums_as_symbols -> the summand it stands for


def sums_as_symbols(expr):
    """Replace each distinct Σ_i(...) by a plain symbol, so that ``simplify`` can work.

    (SymPy 1.14's ``simplify`` can fail on expressions holding several Sums:
    its ``sum_simplify`` raises StopIteration.) Returns ``(expr, mapping)``.
    :func:`to_latex` prints such a symbol as the sum it stands for.
    """
    sums = sorted(expr.atoms(Sum), key=sp.default_sort_key)
    mapping = {}
    for s in sums:
        name = f"S[{sp.sstr(s.function)}]"
        _SUM_SYMBOLS[name] = s.function
        mapping[s] = sp.Symbol(name, real=True)
    return expr.xreplace(mapping), mapping


# ---------------------------------------------------------------------------
# Showing expressions in the course's notation
# ---------------------------------------------------------------------------

#: How the vocabulary's names are typeset: one notation for the whole course (the glossary's).
LATEX_NAMES = {
    "tau": r"\pi_{1}",
    "tau_t": r"\pi_{1}^{t}",
    "mu1": r"\mu_{1}",
    "mu2": r"\mu_{2}",
    "mu1_t": r"\mu_{1}^{t}",
    "mu2_t": r"\mu_{2}^{t}",
    "Sigma1": r"\Sigma_{1}",
    "Sigma2": r"\Sigma_{2}",
    "Sigma1_t": r"\Sigma_{1}^{t}",
    "Sigma2_t": r"\Sigma_{2}^{t}",
    "N_k": "N_{k}",
}
_INDEXED = {"x": "x_{{{i}}}", "T1": "r_{{{i}1}}", "T2": "r_{{{i}2}}", "Z1": "z_{{{i}1}}", "Z2": "z_{{{i}2}}"}


def _course_printer():
    from sympy.printing.latex import LatexPrinter

    class CoursePrinter(LatexPrinter):
        """LaTeX with the glossary's names: x_i, r_{i1} (for T1[i]), π₁ (for tau), sums over i = 1..N."""

        def _print_Symbol(self, expr, style="plain"):
            if expr.name in LATEX_NAMES:
                return LATEX_NAMES[expr.name]
            if expr.name in _SUM_SYMBOLS:  # a sum named by sums_as_symbols: N_k when it counts, else the sum
                summand = _SUM_SYMBOLS[expr.name]
                for k, base in (("1", "T1"), ("2", "T2")):
                    if summand == V.__dict__[base][V.i]:
                        return f"N_{{{k}}}"
                return r"\left(\sum_{i} " + self._print(summand) + r"\right)"
            return super()._print_Symbol(expr, style=style)

        def _print_Indexed(self, expr):
            base = str(expr.base.label)
            if base in _INDEXED and len(expr.indices) == 1:
                return _INDEXED[base].format(i=self._print(expr.indices[0]))
            return super()._print_Indexed(expr)

    return CoursePrinter()


def to_latex(expr) -> str:
    """LaTeX of a SymPy expression in the course's notation (never Python's ``*`` or ``**``)."""
    return _course_printer().doprint(expr)


_ALONE = object()


def show_lines(lhs: str, expr):
    """Display ``lhs = expr`` over several lines, one term of the sum per line (for expressions wider than a slide).

    A sum over the points is shown as ``Σ_i [ term₁ + term₂ + ... ]`` with one
    term of its summand per line; any other expression, one of its top-level
    terms per line.
    """
    from IPython.display import Math

    if expr is None:
        return show(lhs, None)
    printer = _course_printer()
    if isinstance(expr, Sum) and len(expr.limits) == 1:
        inner, (index, lo, hi) = expr.function, expr.limits[0]
        head = rf"\sum_{{{printer.doprint(index)}={printer.doprint(lo)}}}^{{{printer.doprint(hi)}}} \Big["
        tail = r"\Big]"
    else:
        inner, head, tail = expr, "", ""
    terms = sp.Add.make_args(sp.expand(inner, deep=False, mul=False, multinomial=False, log=False, power_exp=False))
    lines = [printer.doprint(t) for t in terms]
    body = r" \\ &\quad + ".join(lines).replace("+ -", "- ")
    return Math(rf"\begin{{aligned}} {lhs} &= {head} {body} {tail} \end{{aligned}}")


def show(lhs, rhs=_ALONE):
    """Display ``lhs = rhs`` typeset (``lhs`` may be LaTeX text, such as ``r"\\partial Q / \\partial \\mu_1"``).

    With one argument, display that expression alone; an answer that is
    still ``None`` shows as "(not answered yet)". Returns an
    ``IPython.display.Math`` (a notebook shows it typeset; the site and
    slides get its LaTeX).
    """
    from IPython.display import Math

    if lhs is None or rhs is None:  # an exercise's answer, not given yet
        left = "" if lhs is None or rhs is _ALONE else (lhs if isinstance(lhs, str) else to_latex(lhs)) + " = "
        return Math(left + r"\text{(not answered yet)}")
    left = lhs if isinstance(lhs, str) else to_latex(lhs)
    rhs = None if rhs is _ALONE else rhs
    return Math(left if rhs is None else f"{left} = {to_latex(rhs)}")


def same_expression(a, b) -> bool:
    """True if SymPy can show a - b = 0 once sums are split and named (False means: not shown)."""
    difference, _ = sums_as_symbols(split_sums(sp.expand(a - b)))
    return sp.simplify(difference) == 0


def derive_tau():
    """τᵗ⁺¹ from ∂Q/∂τ = 0: the average responsibility of component 1."""
    return _derive(q_parts()["tau"], V.tau)


def derive_mean(k: int):
    """μ_kᵗ⁺¹ from ∂Q/∂μ_k = 0: the responsibility-weighted average of the points."""
    return _derive(q_parts()[f"component {k}"], _mu(k), use_T2=False)


def derive_variance(k: int):
    """Σ_kᵗ⁺¹ (one dimension) from ∂Q/∂Σ_k = 0, written with the mean symbol μ_k.

    The solution holds for any μ_k; the M-step evaluates it at the new mean
    μ_kᵗ⁺¹, which is where ∂Q/∂μ_k = 0 too. ``"centred"`` is the same result
    in the familiar form Σ_i T_k[i] (x_i - μ_k)² / Σ_i T_k[i].
    """
    out = _derive(q_parts()[f"component {k}"], _Sigma(k), use_T2=False)
    T = _T(k)[V.i]
    out["centred"] = total(T * (V.x[V.i] - _mu(k)) ** 2) / total(T)
    return out


# ---------------------------------------------------------------------------
# Matrices: the pitfall, and a derivation that is right
# ---------------------------------------------------------------------------


def logdet_matrixsymbol_derivative(n: int = 2):
    """What SymPy returns for ∂ log det S / ∂S with a MatrixSymbol S (SymPy 1.14: 0, which is wrong)."""
    S = sp.MatrixSymbol("S", n, n)
    return sp.log(sp.Determinant(S)).diff(S)


def logdet_explicit_gradient():
    """∂ log det S / ∂S for an explicit 2×2 matrix with four free entries: equals (S⁻¹)ᵀ."""
    a, b, c, d = sp.symbols("a b c d", real=True)
    S = sp.Matrix([[a, b], [c, d]])
    grad = sp.Matrix(2, 2, lambda r, q: sp.diff(sp.log(S.det()), S[r, q]))
    return S, sp.simplify(grad)


def trace_identity_2x2():
    """vᵀ Σ⁻¹ v - tr(Σ⁻¹ v vᵀ) for a symbolic 2-vector v and symmetric 2×2 Σ (simplifies to 0).

    Summed with weights over the points, it turns Σ_i T_i (x_i - μ)ᵀ Σ⁻¹ (x_i - μ)
    into tr(Σ⁻¹ S) with the weighted scatter S = Σ_i T_i (x_i - μ)(x_i - μ)ᵀ.
    """
    v1, v2, b = sp.symbols("v1 v2 b", real=True)
    a, c = sp.symbols("a c", positive=True)
    Sigma = sp.Matrix([[a, b], [b, c]])
    v = sp.Matrix([v1, v2])
    return sp.simplify((v.T * Sigma.inv() * v)[0, 0] - (Sigma.inv() * v * v.T).trace())


def _sigma_2x2_symbols():
    Nk = sp.Symbol("N_k", positive=True)
    S11, S22 = sp.symbols("S_11 S_22", positive=True)
    S12 = sp.Symbol("S_12", real=True)
    return Nk, sp.Matrix([[S11, S12], [S12, S22]])


def derive_sigma_2x2():
    """Σ_k for a 2-D component, derived through the precision Λ = Σ⁻¹ = [[λ₁₁, λ₁₂], [λ₁₂, λ₂₂]].

    Q's Σ_k part is -(N_k / 2) log det Σ - ½ tr(Σ⁻¹ S) (by :func:`trace_identity_2x2`),
    with N_k = Σ_i T_k[i] and S = [[S₁₁, S₁₂], [S₁₂, S₂₂]] the weighted scatter
    around the new mean. In terms of Λ it is (N_k / 2) log det Λ - ½ tr(Λ S);
    setting its three partial derivatives to 0 gives Λ = N_k S⁻¹, so Σ = S / N_k.
    (Solving in the entries of Σ directly makes SymPy 1.14 return a wrong
    branch: see :func:`sigma_2x2_direct_solve`.)
    """
    Nk, S = _sigma_2x2_symbols()
    p, r = sp.symbols("lambda_11 lambda_22", positive=True)
    q = sp.Symbol("lambda_12", real=True)
    Lam = sp.Matrix([[p, q], [q, r]])
    q_lambda = Nk / 2 * sp.log(Lam.det()) - (Lam * S).trace() / 2
    equations = [sp.diff(q_lambda, e) for e in (p, q, r)]
    (solution,) = sp.solve(equations, [p, q, r], dict=True)
    Sigma = sp.simplify(Lam.subs(solution).inv())
    return {
        "q_precision": q_lambda,
        "equations": equations,
        "precision": Lam.subs(solution),
        "Sigma": Sigma,
        "N_k": Nk,
        "S": S,
    }


def sigma_2x2_direct_solve():
    """SymPy's ``solve`` of ∂Q/∂(a, b, c) = 0 with Σ = [[a, b], [b, c]] written directly.

    In SymPy 1.14 the answer for b is (S12 + |S12|) / (2 N_k): right when
    S12 ≥ 0 and wrong (0) when S12 < 0. Kept to show why every symbolic
    result is checked with numbers. The solve takes several seconds, so it
    runs once per process (the result is remembered; each call returns fresh
    containers of the same immutable SymPy objects).
    """
    if "sigma_2x2_direct_solve" not in _REMEMBERED:
        _REMEMBERED["sigma_2x2_direct_solve"] = _sigma_2x2_direct_solve_once()
    solutions, symbols, Nk, S = _REMEMBERED["sigma_2x2_direct_solve"]
    return [dict(solution) for solution in solutions], symbols, Nk, sp.Matrix(S)


_REMEMBERED: dict = {}  # slow, pure results computed once per process (or handed over by remember)


def remember(values: dict | None = None) -> dict:
    """The slow results computed so far (computing them first if asked with no argument), or take some in.

    ``emkit grade`` computes them once per batch in a process of its own and
    hands them to each runner's zygote, so that no submission pays the
    several seconds of SymPy's ``solve`` again.
    """
    if values is None:
        sigma_2x2_direct_solve()
        return dict(_REMEMBERED)
    _REMEMBERED.update(values)
    return dict(_REMEMBERED)


def _sigma_2x2_direct_solve_once():
    Nk, S = _sigma_2x2_symbols()
    a, b, c = sp.symbols("a b c", real=True)
    Sigma = sp.Matrix([[a, b], [b, c]])
    q_sigma = -Nk / 2 * sp.log(Sigma.det()) - (Sigma.inv() * S).trace() / 2
    equations = [sp.simplify(sp.diff(q_sigma, e)) for e in (a, b, c)]
    solutions = sp.solve(equations, [a, b, c], dict=True)
    return tuple(tuple(sol.items()) for sol in solutions), (a, b, c), Nk, sp.ImmutableMatrix(S)


# ---------------------------------------------------------------------------
# Numbers from expressions
# ---------------------------------------------------------------------------


def evaluate(expr, x, T1, **params) -> float:
    """The value of an expression in the shared vocabulary, on data.

    ``x`` and ``T1`` are arrays of length N (``T2`` is 1 - T1); ``params`` give
    numbers for the scalar symbols by name (``tau=0.3, mu1=...``). Each Σ over
    i is evaluated as a numpy sum of its lambdified summand.
    """
    x = np.asarray(x, dtype=float)
    T1 = np.asarray(T1, dtype=float)
    xi, t1, t2 = sp.symbols("x_i T1_i T2_i", real=True)
    indexed = {V.x[V.i]: xi, V.T1[V.i]: t1, V.T2[V.i]: t2}
    scalars = {getattr(V, name): sp.Float(value, 17) for name, value in params.items()}
    scalars[V.N] = sp.Integer(len(x))
    expr = expr.xreplace(scalars)
    while True:  # innermost sums first: a sum's summand may hold another sum (a mean inside a variance)
        innermost = [s for s in expr.atoms(Sum) if not s.function.has(Sum)]
        if not innermost:
            break
        values = {}
        for s in innermost:
            summand = s.function.xreplace(indexed)
            stray = summand.free_symbols - {xi, t1, t2}
            if stray:
                raise ValueError(f"no value given for {', '.join(sorted(map(str, stray)))}")
            f = sp.lambdify((xi, t1, t2), summand, "numpy")
            values[s] = sp.Float(float(np.sum(np.broadcast_to(f(x, T1, 1.0 - T1), x.shape))), 17)
        expr = expr.xreplace(values)
    out = expr
    stray = out.free_symbols
    if stray:
        raise ValueError(f"no value given for {', '.join(sorted(map(str, stray)))}")
    return float(out)


# ---------------------------------------------------------------------------
# General K and D (notebook 05): a Lagrange multiplier, and two matrix-calculus rules
# ---------------------------------------------------------------------------


def derive_weights_lagrange(K: int = 4):
    """π_k maximising Σ_k N_k log π_k subject to Σ_k π_k = 1, through a Lagrange multiplier λ.

    Returns the Lagrangian, the stationarity equations and the solution for
    π_1..π_K and λ (SymPy solves the K + 1 equations):

    >>> out = derive_weights_lagrange(3)
    >>> out["solution"][out["pi"][0]]
    N_1/(N_1 + N_2 + N_3)
    >>> out["solution"][out["lam"]]
    N_1 + N_2 + N_3
    """
    pi = sp.symbols(f"pi_1:{K + 1}", positive=True)
    N = sp.symbols(f"N_1:{K + 1}", positive=True)
    lam = sp.Symbol("lambda", positive=True)
    lagrangian = sum(n * sp.log(p) for n, p in zip(N, pi, strict=True)) + lam * (1 - sum(pi))
    equations = [sp.diff(lagrangian, v) for v in (*pi, lam)]
    (solution,) = sp.solve(equations, [*pi, lam], dict=True)
    return {"pi": pi, "N": N, "lam": lam, "lagrangian": lagrangian, "equations": equations, "solution": solution}


def matrix_gradient(expr, L):
    """∂ expr / ∂L for a sum of terms c·log det L and c·tr(L A), c and A free of L, by two rules.

    The rules (verified against finite differences in the tests, at D = 2, 3, 5):

    * ∂ log det Λ / ∂Λ = Λ⁻ᵀ
    * ∂ tr(Λ A) / ∂Λ = Aᵀ

    Anything else raises ``ValueError`` rather than guess (SymPy's own
    ``diff`` returns 0 for the first rule: :func:`logdet_matrixsymbol_derivative`).
    """
    out = sp.ZeroMatrix(*L.shape)
    for term in sp.Add.make_args(sp.expand(expr)):
        coeff, factor = term.as_independent(L, as_Add=False)
        if factor == sp.log(sp.Determinant(L)):
            out += coeff * L.I.T
        elif isinstance(factor, sp.Trace) and isinstance(factor.arg, sp.MatMul) and factor.arg.args[0] == L:
            rest = sp.MatMul(*factor.arg.args[1:]).doit()
            if rest.has(L):
                raise ValueError(f"no rule for {factor}: the rest of the product depends on {L}")
            out += coeff * rest.T
        elif factor.has(L):
            raise ValueError(f"no rule for the term {term} (only log det {L} and tr({L} A) are covered)")
    return out


def derive_sigma_general():
    """Σ_k for any D: maximise (N_k/2) log det Λ - ½ tr(Λ S) over the precision Λ = Σ_k⁻¹.

    S = Σ_i r_ik (x_i - μ_k)(x_i - μ_k)ᵀ is the weighted scatter (symmetric,
    D×D). The gradient from :func:`matrix_gradient` is (N_k/2) Λ⁻ᵀ - ½ Sᵀ;
    with Λ and S symmetric, setting it to zero is linear in Σ = Λ⁻¹:
    (N_k/2) Σ = ½ S, so Σ = S / N_k. Returns the objective, the gradient, the
    symmetric form of the equation, and Σ.

    >>> derive_sigma_general()["Sigma"]
    1/N_k*S
    """
    D = sp.Symbol("D", integer=True, positive=True)
    Nk = sp.Symbol("N_k", positive=True)
    Lam = sp.MatrixSymbol("Lambda", D, D)
    S = sp.MatrixSymbol("S", D, D)
    Sigma = sp.MatrixSymbol("Sigma", D, D)
    objective, gradient, symmetric, solution = _precision_stationary(Nk, Lam, S, Sigma)
    return {
        "D": D,
        "N_k": Nk,
        "Lambda": Lam,
        "S": S,
        "objective": objective,
        "gradient": gradient,
        "equation": symmetric,
        "Sigma": solution,
    }


def _precision_stationary(count, Lam, S, Sigma):
    """Maximise (count/2) log det Λ - ½ tr(Λ S) over Λ: the objective, its gradient, the equation in Σ = Λ⁻¹
    (Λ and S symmetric, so Λ⁻ᵀ = Σ and Sᵀ = S, and it is linear in Σ) and its solution."""
    objective = count / 2 * sp.log(sp.Determinant(Lam)) - sp.Rational(1, 2) * sp.Trace(Lam * S)
    gradient = matrix_gradient(objective, Lam)
    symmetric = gradient.subs({Lam.I.T: Sigma, S.T: S})
    return objective, gradient, symmetric, _solve_linear(symmetric, Sigma)


def _solve_linear(equation, X):
    """The matrix X with a·X + B = 0, for ``equation`` = a·X + B (a scalar, B free of X)."""
    terms = sp.Add.make_args(equation)
    a = sp.Add(*[t.as_coeff_mmul()[0] for t in terms if t.has(X)])
    B = sp.MatAdd(*[t for t in terms if not t.has(X)])
    return sp.simplify(-B / a)


def derive_constrained_covariances():
    """The M-step for the constrained covariance types, each by maximising its part of Q with SymPy.

    With the weighted scatter S_k (and its diagonal entries S_k,dd) and N_k = Σ_i r_ik:

    * spherical, Σ_k = s I: maximise -(N_k D / 2) log s - tr(S_k) / (2 s) over s;
    * diag, Σ_k = diag(s_1..s_D): each s_d separately, -(N_k / 2) log s_d - S_k,dd / (2 s_d);
    * tied, Σ_k = Σ for every k: in the precision Λ, (N/2) log det Λ - ½ tr(Λ Σ_k S_k), through
      :func:`matrix_gradient` (N = Σ_k N_k).

    tr(S_k) is SymPy's ``Trace`` of the matrix symbol S_k and S_k,dd its entry ``S_k[d, d]``, so that both
    print as what they are (``\\operatorname{tr}(S_k)``, ``(S_k)_{d,d}``).

    >>> out = derive_constrained_covariances()
    >>> out["spherical"], out["diag"], out["tied"]
    (Trace(S_k)/(D*N_k), S_k[d, d]/N_k, 1/N*S_total)
    """
    D, Nk, N = sp.symbols("D N_k N", positive=True)
    s = sp.Symbol("s", positive=True)
    Dm = sp.Symbol("D", integer=True, positive=True)
    S_k = sp.MatrixSymbol("S_k", Dm, Dm)
    d = sp.Symbol("d", integer=True, positive=True)
    trS, Sdd = sp.Trace(S_k), S_k[d, d]
    spherical = -(Nk * D / 2) * sp.log(s) - trS / (2 * s)
    diag = -(Nk / 2) * sp.log(s) - Sdd / (2 * s)
    (s_spherical,) = sp.solve(sp.diff(spherical, s), s)
    (s_diag,) = sp.solve(sp.diff(diag, s), s)
    Lam = sp.MatrixSymbol("Lambda", Dm, Dm)
    S_total = sp.MatrixSymbol("S_total", Dm, Dm)  # Σ_k S_k, symmetric
    Sigma = sp.MatrixSymbol("Sigma", Dm, Dm)
    tied = _precision_stationary(N, Lam, S_total, Sigma)[3]
    return {
        "spherical": s_spherical,
        "diag": s_diag,
        "tied": tied,
        "symbols": {"D": D, "N_k": Nk, "N": N, "trS_k": trS, "S_kdd": Sdd, "S_total": S_total},
    }
