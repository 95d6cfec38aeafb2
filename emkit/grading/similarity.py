"""Which answers share code that is rare in this class: winnowed fingerprints weighted by rarity.

For each question, every answer cell is normalised (:func:`normalise`): the
names a student chooses become one placeholder, numbers and strings become
placeholders, comments, blank lines, indentation and line breaks inside
brackets are dropped; keywords, builtins, attribute names (``np.argmin``'s
``argmin``), keyword-argument names (``axis=``) and the usual module aliases
(``np``) are kept. Renaming variables, changing literals or reflowing the code
thus changes nothing.

The normalised token stream is cut into k-grams; a winnowing window keeps the
smallest hash of every ``WINDOW`` consecutive k-grams (Schleimer, Wilkerson
and Aiken, "Winnowing", SIGMOD 2003: the scheme of MOSS and copydetect), so
that any run of ``K + WINDOW - 1`` tokens two answers share gives them at least
one common fingerprint.

Plain overlap would rank first the pairs who wrote the answer everybody
writes (the one-line vectorised answer half the class finds). So each
fingerprint is weighted by its rarity in the class, an inverse document
frequency scaled to [0, 1]::

    rarity(f) = log(n / df(f)) / log(n / 2)      (clipped to [0, 1])

where ``n`` answers were given and ``df(f)`` of them contain ``f``: code that
every answer has (the function header the notebook gives) weighs 0, code only
these two share weighs 1. The similarity of two answers A and B is::

    sum of rarity(f) over f in A ∩ B  /  |A ∪ B|

1 means two identical answers made entirely of code nobody else wrote; two
identical copies of the common one-liner score about the rarity of that line
(0.35 in tests/test_classview.py, where 7 of 12 answers are that line, against
0.97 for a renamed copy of a loop). It is computed for all pairs at once with
two matrix products: 200 answers to one question (19,900 pairs) take about
0.06 s, normalising included.

A high score is something for a person to look at, never a verdict.
"""

from __future__ import annotations

import builtins
import hashlib
import keyword
import math
import re
from dataclasses import dataclass, field

import numpy as np

__all__ = ["K", "WINDOW", "Pair", "fingerprints", "normalise", "pairs"]

K = 6  # tokens per k-gram
WINDOW = 4  # k-grams per winnowing window: a shared run of K + WINDOW - 1 = 9 tokens is always seen

# names kept as they are: they say what the code does, not what the student called things
MODULE_ALIASES = {"np", "numpy", "math", "scipy", "sp", "plt", "pd", "emkit", "self", "cls"}
KEPT = set(keyword.kwlist) | set(keyword.softkwlist) | set(dir(builtins)) | MODULE_ALIASES

_TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>(?i:[rbuf]{0,2})
        (?:'''[\s\S]*?(?:'''|\Z)|\"\"\"[\s\S]*?(?:\"\"\"|\Z)|'(?:\\.|[^'\\\n])*'?|"(?:\\.|[^"\\\n])*"?))
  | (?P<number>0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?)
  | (?P<name>[^\W\d]\w*)
  | (?P<continuation>\\\n)
  | (?P<newline>\n|;)
  | (?P<op>\*\*=?|//=?|>>=?|<<=?|->|:=|[-+*/%@&|^=<>!]=|[^\s\w])
    """,
    re.VERBOSE,
)
_OPEN, _CLOSE = set("([{"), set(")]}")
_MAGIC = re.compile(r"^[ \t]*[%!].*$", re.MULTILINE)


def normalise(source: str) -> tuple[list[str], list[int]]:
    """The normalised tokens of ``source`` and the line (from 0) each starts on.

    >>> normalise("total = x_1 + 2.5  # sum\\nprint(np.sum(total, axis=0))")[0]
    ['V', '=', 'V', '+', 'N', ';', 'print', '(', 'np', '.', 'sum', '(', 'V', ',', 'axis', '=', 'N', ')', ')']
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str; got {type(source).__name__}")
    source = _MAGIC.sub("", source)  # IPython magics and shell lines are not Python
    tokens: list[str] = []
    lines: list[int] = []
    depth, line = 0, 0
    matches = list(_TOKEN.finditer(source))
    for i, m in enumerate(matches):
        kind, text = m.lastgroup, m.group()
        start_line = line
        line += text.count("\n")
        if kind in ("comment", "continuation"):
            continue
        if kind == "newline":
            if depth == 0 and tokens and tokens[-1] != ";":
                tokens.append(";")
                lines.append(start_line)
            continue
        if kind == "string":
            tok = "S"
        elif kind == "number":
            tok = "N"
        elif kind == "name":
            after_dot = bool(tokens) and tokens[-1] == "."
            nxt = matches[i + 1].group() if i + 1 < len(matches) else ""
            keyword_argument = depth > 0 and nxt == "="
            tok = text if (text in KEPT or after_dot or keyword_argument) else "V"
        else:
            tok = text
            if text in _OPEN:
                depth += 1
            elif text in _CLOSE:
                depth = max(0, depth - 1)
        tokens.append(tok)
        lines.append(start_line)
    while tokens and tokens[-1] == ";":
        tokens.pop()
        lines.pop()
    return tokens, lines


_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: k-gram hashes that look random, so the window minimum is a fair pick."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * _M1
        h = (h ^ (h >> np.uint64(27))) * _M2
        return h ^ (h >> np.uint64(31))


def _token_codes(tokens: list[str]) -> np.ndarray:
    """A stable 64-bit code per token (the same in every process: no salted ``hash``)."""
    known: dict[str, int] = {}
    for t in tokens:
        if t not in known:
            known[t] = int.from_bytes(hashlib.blake2b(t.encode("utf-8"), digest_size=8).digest(), "little")
    return np.fromiter((known[t] for t in tokens), dtype=np.uint64, count=len(tokens))


def fingerprints(tokens: list[str], k: int = K, window: int = WINDOW) -> dict[int, list[int]]:
    """Winnowed fingerprints of a token list: {hash: [start positions of its k-grams]}.

    Fewer than ``k`` tokens give none (too short to say anything about copying).
    """
    if k < 1 or window < 1:
        raise ValueError(f"k and window must be at least 1; got k={k}, window={window}")
    n = len(tokens) - k + 1
    if n < 1:
        return {}
    codes = _token_codes(tokens)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):  # polynomial rolling hash over k tokens, modulo 2**64
            h = h * np.uint64(1_000_003) + codes[j : j + n]
    h = _mix(h)
    if n <= window:
        chosen = np.array([n - 1 - int(np.argmin(h[::-1]))])
    else:
        windows = np.lib.stride_tricks.sliding_window_view(h, window)
        rightmost_min = window - 1 - np.argmin(windows[:, ::-1], axis=1)
        chosen = np.unique(np.arange(windows.shape[0]) + rightmost_min)
    out: dict[int, list[int]] = {}
    for p in chosen.tolist():
        out.setdefault(int(h[p]), []).append(p)
    return out


@dataclass
class Pair:
    """Two answers to one question and how much rare code they share."""

    first: int  # indices into the answers given to :func:`pairs`
    second: int
    question: str
    similarity: float
    lines_first: set[int] = field(default_factory=set)  # lines (from 0) holding the shared rare code
    lines_second: set[int] = field(default_factory=set)


@dataclass
class _Doc:
    tokens: list[str]
    lines: list[int]
    prints: dict[int, list[int]]


def pairs(
    question: str,
    answers: dict[int, str],
    *,
    minimum: float = 0.0,
    highlight: int = 10,
    k: int = K,
    window: int = WINDOW,
) -> list[Pair]:
    """Every pair of ``answers`` ({submission index: source}) with similarity above ``minimum``, most similar first.

    The ``highlight`` most similar pairs also get the lines that hold their shared rare code.
    """
    docs = {i: _Doc(*normalise(src), {}) for i, src in answers.items() if isinstance(src, str) and src.strip()}
    for d in docs.values():
        d.prints = fingerprints(d.tokens, k, window)
    ids = [i for i, d in docs.items() if d.prints]
    n = len(ids)
    if n < 2:
        return []
    vocab = np.unique(np.fromiter((h for i in ids for h in docs[i].prints), dtype=np.uint64))
    M = np.zeros((n, vocab.size), dtype=np.float64)
    for row, i in enumerate(ids):
        cols = np.searchsorted(vocab, np.fromiter(docs[i].prints, dtype=np.uint64))
        M[row, cols] = 1.0
    df = M.sum(axis=0)
    if n > 2:
        rarity = np.clip(np.log(n / df) / math.log(n / 2), 0.0, 1.0)
    else:  # two answers: no class to measure rarity against
        rarity = np.ones_like(df)
    shared = M @ (M * rarity).T  # sum of the rarity of the fingerprints each pair shares
    common = M @ M.T
    sizes = np.diag(common)
    union = sizes[:, None] + sizes[None, :] - common
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = np.where(union > 0, shared / union, 0.0)
    a, b = np.triu_indices(n, k=1)
    keep = sim[a, b] > minimum
    order = np.lexsort((b[keep], a[keep], -sim[a, b][keep]))
    rare = {int(h) for h in vocab[rarity > 0]}
    out = []
    for x, y in zip(a[keep][order].tolist(), b[keep][order].tolist(), strict=True):
        i, j = ids[x], ids[y]
        pair = Pair(i, j, question, float(sim[x, y]))
        if len(out) < highlight:
            both = rare & docs[i].prints.keys() & docs[j].prints.keys()
            pair.lines_first, pair.lines_second = _lines(docs[i], both, k), _lines(docs[j], both, k)
        out.append(pair)
    return out


def _lines(doc: _Doc, hashes: set[int], k: int) -> set[int]:
    """The lines at least half of whose tokens lie in the k-grams of ``hashes``."""
    covered = np.zeros(len(doc.tokens), dtype=bool)
    for h in hashes:
        for p in doc.prints[h]:
            covered[p : p + k] = True
    lines = np.asarray(doc.lines)
    if lines.size == 0:
        return set()
    total = np.bincount(lines)
    hit = np.bincount(lines, weights=covered)
    return {int(x) for x in np.flatnonzero((total > 0) & (hit >= 0.5 * total))}
