"""A whitelist parser for answers typed as text: nothing in the string is ever executed.

A learner or a submitted notebook may give a formula as a string, such as
``"Sum(T1[i]*x[i], (i, 1, N)) / Sum(T1[i], (i, 1, N))"``. We never pass such a
string to ``eval``, ``sympify`` or ``parse_expr``. Instead Python's own
parser turns it into a syntax tree (``ast.parse``, which only reads), and
this module walks the tree, accepting a short list of node kinds and names
and building the SymPy expression itself:

* numbers (whole numbers up to 10⁶ in size, decimals), ``+ - * / **`` and unary minus;
* the vocabulary of :mod:`emkit.symbolic`: ``N``, ``tau``, ``mu1``, ``mu2``,
  ``Sigma1``, ``Sigma2``, their old values ``tau_t``, ..., Greek spellings
  (``τ``, ``μ1``, ``Σ1``), ``pi``;
* ``x[i]``, ``T1[i]``, ``T2[i]``, ``Sum(expr, (i, 1, N))`` and the notebook's
  shorthand ``total(expr)`` for the same sum;
* the functions ``log``, ``exp``, ``sqrt``.

Anything else (attribute access, dunder names, calls to other functions,
keyword arguments, lambdas, comprehensions, strings, comparisons, walrus)
is refused with a message saying what was refused, as are absurd sizes:
more than 2,000 characters, 400 tree nodes or nesting 40 deep, powers
whose exponent is a number above 100 in size, and any number the formula
builds along the way with more than 4,096 bits (``((2**100)**100)**100``
would otherwise make SymPy compute a 10⁶-bit integer, and five levels a
10¹⁰-bit one).

>>> parse_answer("Sum(T1[i], (i, 1, N)) / N")
Sum(T1[i], (i, 1, N))/N
>>> parse_answer("__import__('os').system('echo hi')")
Traceback (most recent call last):
    ...
emkit.parse.AnswerSyntaxError: attribute access (a.b) is not allowed in an answer
"""

from __future__ import annotations

import ast

import sympy as sp

from . import safe_ast

__all__ = ["AnswerSyntaxError", "parse_answer"]

MAX_CHARS = 2000
MAX_NODES = 400
MAX_DEPTH = 40
MAX_INTEGER = 10**6
MAX_EXPONENT = 100
MAX_BITS = 4096  # no number built while reading an answer may be larger than 2**4096


class AnswerSyntaxError(ValueError):
    """The text is not an answer this parser accepts (the message says why; ``slip`` names a known slip)."""

    def __init__(self, message: str, slip: str = ""):
        super().__init__(message)
        self.slip = slip


def _names():
    from .symbolic import V

    names = {
        "N": V.N,
        "i": V.i,
        "tau": V.tau,
        "mu1": V.mu1,
        "mu2": V.mu2,
        "Sigma1": V.Sigma1,
        "Sigma2": V.Sigma2,
        "tau_t": V.tau_t,
        "mu1_t": V.mu1_t,
        "mu2_t": V.mu2_t,
        "Sigma1_t": V.Sigma1_t,
        "Sigma2_t": V.Sigma2_t,
        "pi": sp.pi,
    }
    greek = {"τ": "tau", "μ1": "mu1", "μ2": "mu2", "Σ1": "Sigma1", "Σ2": "Sigma2", "π": "pi"}
    names.update({g: names[latin] for g, latin in greek.items()})
    return names, {"x": V.x, "T1": V.T1, "T2": V.T2}


FUNCTIONS = {"log": sp.log, "exp": sp.exp, "sqrt": sp.sqrt}


def _depth(node, level=0):
    children = list(ast.iter_child_nodes(node))
    return level if not children else max(_depth(c, level + 1) for c in children)


def parse_answer(text: str) -> sp.Expr:
    """Turn ``text`` into a SymPy expression in the course vocabulary, or raise AnswerSyntaxError."""
    if not isinstance(text, str):
        raise AnswerSyntaxError(f"expected text; got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise AnswerSyntaxError(f"the answer is {len(text)} characters long; at most {MAX_CHARS} are read")
    try:
        tree = safe_ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise AnswerSyntaxError(f"not a formula Python can read ({exc.msg})") from None
    except (ValueError, MemoryError, RecursionError):
        raise AnswerSyntaxError("not a formula this parser can read") from None
    n_nodes = sum(1 for _ in ast.walk(tree))
    if n_nodes > MAX_NODES:
        raise AnswerSyntaxError(f"the formula has {n_nodes} parts; at most {MAX_NODES} are read")
    if _depth(tree) > MAX_DEPTH:
        raise AnswerSyntaxError(f"the formula is nested more than {MAX_DEPTH} levels deep")
    names, bases = _names()
    return _Builder(names, bases).build(tree.body)


class _Builder:
    def __init__(self, names, bases):
        self.names = names
        self.bases = bases

    def build(self, node):
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise AnswerSyntaxError(f"{_describe(node)} is not allowed in an answer")
        return _bounded(method(node))

    def _Constant(self, node):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise AnswerSyntaxError(f"only numbers may appear as constants; found {type(value).__name__}")
        if isinstance(value, int):
            if abs(value) > MAX_INTEGER:
                raise AnswerSyntaxError(f"the number {value} is larger than {MAX_INTEGER}")
            return sp.Integer(value)
        if value != value or abs(value) > MAX_INTEGER:
            raise AnswerSyntaxError(f"the number {value} is out of range")
        return sp.Rational(repr(value))

    def _Name(self, node):
        if node.id.startswith("_"):
            raise AnswerSyntaxError(f"names starting with an underscore are not allowed ({node.id})")
        if node.id in self.names:
            return self.names[node.id]
        if node.id in self.bases:
            raise AnswerSyntaxError(f"{node.id} must be indexed, as {node.id}[i], inside a Sum over i")
        raise AnswerSyntaxError(
            f"unknown name {node.id!r}; the vocabulary is {', '.join(sorted(k for k in self.names if k.isascii()))}, "
            "x[i], T1[i], T2[i], Sum, total, log, exp, sqrt"
        )

    def _UnaryOp(self, node):
        operand = self.build(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        raise AnswerSyntaxError(f"the operator {type(node.op).__name__} is not allowed")

    def _BinOp(self, node):
        left, right = self.build(node.left), self.build(node.right)
        op = type(node.op)
        if op is ast.Add:
            return left + right
        if op is ast.Sub:
            return left - right
        if op is ast.Mult:
            return left * right
        if op is ast.Div:
            return left / right
        if op is ast.Pow:
            if right.is_Number and abs(right) > MAX_EXPONENT:
                raise AnswerSyntaxError(f"an exponent of {right} is absurdly large (at most {MAX_EXPONENT})")
            if left.is_Number and right.is_Number and left != 0:
                size = _bits(left)
                if float(abs(right)) * size > MAX_BITS:
                    raise AnswerSyntaxError(
                        f"the power would be a number of about {float(abs(right)) * size:.3g} bits; "
                        f"numbers in an answer are limited to {MAX_BITS} bits"
                    )
            return sp.Pow(left, right)
        raise AnswerSyntaxError(f"the operator {op.__name__} is not allowed (use + - * / **)")

    def _Subscript(self, node):
        if not isinstance(node.value, ast.Name) or node.value.id not in self.bases:
            raise AnswerSyntaxError("only x[i], T1[i] and T2[i] may be indexed")
        if not (isinstance(node.slice, ast.Name) and node.slice.id == "i"):
            raise AnswerSyntaxError(f"{node.value.id} must be indexed by i")
        return self.bases[node.value.id][self.names["i"]]

    def _Call(self, node):
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in {"sp", "np"}:
            name = "Sum" if func.attr in {"Sum", "sum"} else func.attr
            raise AnswerSyntaxError(
                f"write {name}(...) without the {func.value.id}. prefix: an answer is read as a formula in the "
                "course vocabulary, where Sum, log, exp and sqrt are known by name",
                slip=f"{func.value.id}.{func.attr} in an answer string",
            )
        if isinstance(func, ast.Attribute):
            raise AnswerSyntaxError("attribute access (a.b) is not allowed in an answer")
        if isinstance(func, ast.Name) and func.id == "sum":
            raise AnswerSyntaxError(
                "sum(...) is Python's built-in sum, which adds up a list of numbers and knows nothing of the "
                "index i; write the symbolic sum Sum(expression, (i, 1, N)) (or total(expression))",
                slip="Python's sum() in an answer string",
            )
        if isinstance(func, ast.Name) and func.id == "total":
            if len(node.args) != 1 or node.keywords:
                raise AnswerSyntaxError("total takes one argument: total(expression) means Sum(expression, (i, 1, N))")
            return sp.Sum(self.build(node.args[0]), (self.names["i"], 1, self.names["N"]))
        if not isinstance(func, ast.Name) or func.id not in {"Sum", *FUNCTIONS}:
            raise AnswerSyntaxError("calls are limited to Sum, total, log, exp, sqrt; found a call to something else")
        if node.keywords:
            raise AnswerSyntaxError("keyword arguments are not allowed")
        if node.func.id in FUNCTIONS:
            if len(node.args) != 1:
                raise AnswerSyntaxError(f"{node.func.id} takes one argument")
            return FUNCTIONS[node.func.id](self.build(node.args[0]))
        if len(node.args) != 2 or not isinstance(node.args[1], ast.Tuple):
            raise AnswerSyntaxError("write a sum as Sum(expression, (i, 1, N))")
        limits = node.args[1].elts
        if len(limits) != 3 or not (
            isinstance(limits[0], ast.Name)
            and limits[0].id == "i"
            and isinstance(limits[1], ast.Constant)
            and limits[1].value == 1
            and isinstance(limits[2], ast.Name)
            and limits[2].id == "N"
        ):
            raise AnswerSyntaxError("a sum must run over i from 1 to N: Sum(expression, (i, 1, N))")
        return sp.Sum(self.build(node.args[0]), (self.names["i"], 1, self.names["N"]))


def _bits(number) -> float:
    """About how many bits the size of a SymPy number takes (numerator and denominator of a rational)."""
    if number.is_Rational:
        return float(max(abs(int(number.p)).bit_length(), int(number.q).bit_length(), 1))
    return 64.0  # a float: its exponent is what matters, and SymPy floats carry their own


def _bounded(expr):
    """``expr``, unless a number inside it is too large to be an answer's (see MAX_BITS)."""
    if expr.is_Rational and _bits(expr) > MAX_BITS:
        raise AnswerSyntaxError(f"the formula builds a number of {_bits(expr):.0f} bits (at most {MAX_BITS})")
    return expr


def _describe(node) -> str:
    kinds = {
        "Attribute": "attribute access (a.b)",
        "Lambda": "a lambda",
        "ListComp": "a comprehension",
        "SetComp": "a comprehension",
        "DictComp": "a comprehension",
        "GeneratorExp": "a generator expression",
        "JoinedStr": "an f-string",
        "Compare": "a comparison",
        "BoolOp": "and/or",
        "IfExp": "a conditional expression",
        "NamedExpr": "an assignment (:=)",
        "Starred": "unpacking (*)",
        "Dict": "a dict",
        "Set": "a set",
        "List": "a list",
        "Tuple": "a tuple outside Sum(..., (i, 1, N))",
        "Await": "await",
        "Yield": "yield",
    }
    return kinds.get(type(node).__name__, type(node).__name__)
