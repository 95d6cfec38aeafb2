"""The instructor's view of a class: which mistakes, how many students, whose answers look alike.

:func:`write_class_report` reads the grader's JSON report (what ``emkit grade
--json`` writes) and writes into a folder:

``index.html``
    one self-contained page (it loads nothing: its charts are SVG images
    inside it, drawn by matplotlib) with, per question, the score
    distribution; every named mistake (slip) with the number and share of
    students who made it and who they are; the wrong answers no slip names,
    grouped by the kind of difference the check reports (what the slip tables
    miss, and where a new slip could be added); then the notes (refused
    actions, cells stopped at a limit, submissions that could not be graded),
    the time each submission took, and the pairs of answers that share code
    rare in this class, side by side.
``misconceptions.csv``
    ``question, mistake, students, share``: one row per question and named
    mistake, then one per group of unnamed wrong answers (mistake
    ``(unnamed) a constant factor``); ``students`` is how many submissions,
    ``share`` that number over all submissions of the report.
``similarity.csv``
    ``first, second, question, similarity``, most similar first (see
    :mod:`emkit.grading.similarity`; pairs scoring under 0.05 are left out).

Students are named by the ``student`` of their submission (the file's stem);
two submissions of one name are told apart by their file names.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import similarity as sim

__all__ = ["ClassView", "difference_kind", "render", "summarise", "summary_lines", "write_class_report"]

LISTED_FROM = 0.05  # similarity.csv lists the pairs from this similarity up
SHOWN_FROM = 0.4  # the page shows pairs from this similarity up ...
SHOWN_PAIRS = 10  # ... at most this many
NO_DESCRIPTION = "no simple description"
FULL_MARKS = "full marks"

# the kinds of difference emkit.check.compare.describe names, by a phrase of its sentence
_KINDS = [
    (re.compile(r"sign flipped|sign is flipped"), "the sign is flipped"),
    (re.compile(r"off by its own factor"), "a factor per component"),
    (re.compile(r"times the right|constant factor"), "a constant factor"),
    (re.compile(r"off by the same constant"), "a constant offset"),
    (re.compile(r"transpose"), "the transpose"),
    (re.compile(r"matrix inverse"), "the matrix inverse"),
    (re.compile(r"another order"), "the components in another order"),
    (re.compile(r"square root"), "the square root"),
    (re.compile(r"square of"), "the square"),
    (re.compile(r"reciprocal"), "the reciprocal"),
    (re.compile(r"only the diagonal"), "only the diagonal entries differ"),
    (re.compile(r"only the off-diagonal"), "only the off-diagonal entries differ"),
]
_ONLY_SOME = re.compile(r"^only (\w+?)s? [\d, .]+(?:differs?)", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def difference_kind(text: str) -> str:
    """The kind of a difference sentence, without its numbers: "your values are 2 times ..." -> "a constant factor".

    >>> difference_kind("your values are 0.5 times the right ones (a factor 1/N).")
    'a constant factor'
    >>> difference_kind("only rows 0, 3 differ.")
    'only some rows differ'
    >>> difference_kind("The shape is (3,) instead of (3, 2).")
    'the shape is (#,) instead of (#, #)'
    """
    t = " ".join(str(text).split()).strip().rstrip(".").strip()
    low = t.lower()
    for pattern, kind in _KINDS:
        if pattern.search(low):
            return kind
    m = _ONLY_SOME.match(low)
    if m:
        return f"only some {m.group(1)}s differ"
    if not low:
        return NO_DESCRIPTION
    return _NUMBER.sub("#", low)


# ---------------------------------------------------------------------------
# What the report says, counted
# ---------------------------------------------------------------------------


@dataclass
class Group:
    """A named mistake or a kind of unnamed wrong answer on one question, and who is in it."""

    name: str
    members: list[int] = field(default_factory=list)  # submission indices, in report order


@dataclass
class QuestionView:
    id: str
    title: str
    max_points: float
    scores: dict[int, float] = field(default_factory=dict)  # submission index -> points
    slips: list[Group] = field(default_factory=list)  # most frequent first
    unnamed: list[Group] = field(default_factory=list)
    statuses: list[Group] = field(default_factory=list)  # full marks, graded (not full), not answered, ...


@dataclass
class ClassView:
    assignment: str
    sandbox: str
    labels: list[str]  # one per submission: the student, or "student (file)" when two share a name
    submissions: list[dict]
    questions: list[QuestionView]
    notes: list[Group]  # kinds of note (refused actions, stopped cells, ...) and who had them
    note_lines: list[tuple[int, str]]  # (submission index, text) for every note
    pairs: list[sim.Pair]

    @property
    def size(self) -> int:
        return len(self.submissions)

    def who(self, members) -> str:
        return ", ".join(self.labels[i] for i in members)


def _need(report) -> list[dict]:
    if not isinstance(report, dict):
        raise TypeError(f"report must be the grader's JSON report (a dict); got {type(report).__name__}")
    subs = report.get("submissions")
    if not isinstance(subs, list) or not all(isinstance(s, dict) for s in subs):
        raise ValueError("report has no 'submissions' list of objects: is it the JSON report of emkit grade --json?")
    return subs


def _labels(subs: list[dict]) -> list[str]:
    names = [
        str(s.get("student") or Path(str(s.get("submission") or f"submission {i + 1}")).stem)
        for i, s in enumerate(subs)
    ]
    count = Counter(names)
    return [
        f"{n} ({s.get('submission', i + 1)})" if count[n] > 1 else n
        for i, (n, s) in enumerate(zip(names, subs, strict=True))
    ]


def _float(x, default: float = 0.0) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return default
    return v if math.isfinite(v) else default


def _group(groups: dict[str, list[int]]) -> list[Group]:
    return [Group(k, v) for k, v in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def summarise(report: dict) -> ClassView:
    """Count what the report says: per question, the slips, the unnamed wrong answers, the statuses."""
    subs = _need(report)
    labels = _labels(subs)
    declared = [q for q in report.get("questions") or [] if isinstance(q, dict) and q.get("id")]
    questions: dict[str, QuestionView] = {}
    for q in declared:
        qid = str(q["id"])
        questions[qid] = QuestionView(qid, str(q.get("title") or ""), _float(q.get("points"), 0.0))
    slips: dict[str, dict[str, list[int]]] = {}
    unnamed: dict[str, dict[str, list[int]]] = {}
    statuses: dict[str, dict[str, list[int]]] = {}
    for i, s in enumerate(subs):
        for row in s.get("questions") or []:
            if not isinstance(row, dict):
                continue
            qid = str(row.get("question") or "")
            if not qid or qid == "-":  # the grader's row for a submission it could not read at all
                continue
            maxp = _float(row.get("max_points"), 0.0)
            qv = questions.get(qid)
            if qv is None:
                qv = questions[qid] = QuestionView(qid, str(row.get("title") or ""), maxp)
            if not qv.title and row.get("title"):
                qv.title = str(row["title"])
            if not qv.max_points and maxp:
                qv.max_points = maxp
            points = _float(row.get("points"), 0.0)
            qv.scores[i] = points
            status = str(row.get("status") or "graded")
            wrong = status == "graded" and points < maxp - 1e-9
            if status == "graded":
                status = FULL_MARKS if not wrong else "graded, not full marks"
            statuses.setdefault(qid, {}).setdefault(status, []).append(i)
            row_slips = [str(x) for x in row.get("slips") or [] if str(x).strip()]
            for slip in dict.fromkeys(row_slips):
                slips.setdefault(qid, {}).setdefault(slip, []).append(i)
            kinds = [difference_kind(d) for d in row.get("differences") or [] if str(d).strip()]
            if wrong and not row_slips and not kinds:
                kinds = [NO_DESCRIPTION]
            for kind in dict.fromkeys(kinds):
                unnamed.setdefault(qid, {}).setdefault(kind, []).append(i)
    for qid, qv in questions.items():
        qv.slips = _group(slips.get(qid, {}))
        qv.unnamed = _group(unnamed.get(qid, {}))
        qv.statuses = _group(statuses.get(qid, {}))
    notes, note_lines = _notes(subs)
    pairs = []
    for qid in questions:
        answers = {
            i: (s.get("answers") or {}).get(qid) for i, s in enumerate(subs) if isinstance(s.get("answers"), dict)
        }
        pairs += sim.pairs(
            qid, {i: a for i, a in answers.items() if isinstance(a, str)}, minimum=LISTED_FROM, highlight=SHOWN_PAIRS
        )
    pairs.sort(key=lambda p: (-p.similarity, p.question, p.first, p.second))
    return ClassView(
        assignment=str(report.get("assignment") or "the assignment"),
        sandbox=str(report.get("sandbox") or ""),
        labels=labels,
        submissions=subs,
        questions=list(questions.values()),
        notes=notes,
        note_lines=note_lines,
        pairs=pairs,
    )


def _note_kind(note: str) -> str:
    low = note.lower()
    if low.startswith("refused"):
        return "refused actions while grading"
    if "time limit" in low or "stopped" in low:
        return "stopped at a limit"
    return "other notes"


_CELL_KINDS = {
    "interrupted": "cells stopped at the time limit",
    "killed": "cells that ended the runner (stopped at a limit or crashed)",
    "error": "cells that raised an error",
}


def _notes(subs: list[dict]) -> tuple[list[Group], list[tuple[int, str]]]:
    kinds: dict[str, list[int]] = {}
    lines: list[tuple[int, str]] = []
    for i, s in enumerate(subs):
        if s.get("graded") is False:
            kinds.setdefault("could not be graded at all", []).append(i)
            lines.append((i, f"could not be graded: {s.get('status', '')}"))
        for note in s.get("notes") or []:
            note = str(note)
            lines.append((i, note))
            k = kinds.setdefault(_note_kind(note), [])
            if not k or k[-1] != i:
                k.append(i)
        counted: Counter[str] = Counter()
        for cell in s.get("cells") or []:
            if not isinstance(cell, dict):
                continue
            st = str(cell.get("status", ""))
            if st.startswith("not run"):
                st = "not run"
            if st in _CELL_KINDS or st == "not run":
                counted[st] += 1
                what = f"cell {cell.get('cell', '?')}: {st}"
                if cell.get("reason"):
                    what += f" ({cell['reason']})"
                elif isinstance(cell.get("error"), dict):
                    what += f" ({cell['error'].get('type', '')})"
                lines.append((i, what))
        for st in counted:
            kinds.setdefault(_CELL_KINDS.get(st, "cells not run (the submission's time ran out)"), []).append(i)
    return _group(kinds), lines


# ---------------------------------------------------------------------------
# Summary lines and CSV files
# ---------------------------------------------------------------------------


def summary_lines(view: ClassView) -> list[str]:
    """One line per named mistake (most frequent first), per unnamed group, and for the most similar pairs."""
    n = view.size
    out = []
    for q in view.questions:
        for g in q.slips:
            out.append(f"{q.id}: {len(g.members)} of {n} made the mistake \u201c{g.name}\u201d")
        for g in q.unnamed:
            out.append(f"{q.id}: {len(g.members)} of {n} wrong with no named mistake ({g.name})")
    shown = [p for p in view.pairs if p.similarity >= SHOWN_FROM][:3]
    for p in shown:
        out.append(
            f"{p.question}: {view.labels[p.first]} and {view.labels[p.second]} share rare code "
            f"(similarity {p.similarity:.2f}): worth a look, not a verdict"
        )
    return out


def _cell(text: str) -> str:
    """A student's name (from a file name they chose) that a spreadsheet will not run as a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def _write_csvs(view: ClassView, folder: Path) -> None:
    n = max(1, view.size)
    with open(folder / "misconceptions.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["question", "mistake", "students", "share"])
        for q in view.questions:
            for g in q.slips:
                w.writerow([q.id, g.name, len(g.members), f"{len(g.members) / n:.3f}"])
            for g in q.unnamed:
                w.writerow([q.id, f"(unnamed) {g.name}", len(g.members), f"{len(g.members) / n:.3f}"])
    with open(folder / "similarity.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["first", "second", "question", "similarity"])
        for p in view.pairs:
            w.writerow([_cell(view.labels[p.first]), _cell(view.labels[p.second]), p.question, f"{p.similarity:.3f}"])


# ---------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------

INK, BAR, GRID = "#1a1a1a", "#1f5f99", "#d0d7de"
# dark ink on white; svg.hashsalt keeps the SVG the same from run to run
_STYLE = {"svg.hashsalt": "emkit", "font.size": 10, "text.color": INK, "axes.labelcolor": INK, "xtick.color": INK,
          "ytick.color": INK}  # fmt: skip


def _svg(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float = 6.4, height: float = 2.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    ax.yaxis.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _count_points(x: float) -> str:
    return f"{_fmt(x)} point{'' if x == 1 else 's'}"


def _count(n: int, word: str = "student") -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _score_chart(values: list[float], max_points: float, what: str, word: str = "student") -> tuple[str, str]:
    """A bar chart of how many got each score (a histogram when scores take many values), and its alt text."""
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        fig, ax = _figure()
        v = np.round(np.asarray(values, dtype=float), 6)
        top = max(max_points, float(v.max(initial=0.0)))
        distinct, counts = np.unique(v, return_counts=True)
        if distinct.size <= 12:
            xs = np.arange(distinct.size)
            ax.bar(xs, counts, color=BAR, width=0.7)
            ax.set_xticks(xs, [_fmt(d) for d in distinct])
            spoken = ", ".join(
                f"{_count_points(d)}: {_count(int(c), word)}" for d, c in zip(distinct, counts, strict=True)
            )
        else:
            edges = np.linspace(0.0, top if top > 0 else 1.0, 11)
            counts, edges = np.histogram(np.clip(v, edges[0], edges[-1]), bins=edges)
            ax.bar(edges[:-1], counts, width=np.diff(edges) * 0.9, align="edge", color=BAR)
            spoken = ", ".join(
                f"{_fmt(lo)} to {_fmt(hi)} points: {_count(int(c), word)}"
                for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
                if c
            )
        ax.set_xlabel(f"points (of {_fmt(max_points)})")
        ax.set_ylabel(f"{word}s")
        ax.yaxis.get_major_locator().set_params(integer=True)
        uri = _svg(fig)
    mean = float(v.mean()) if v.size else 0.0
    alt = (
        f"Bar chart of the points scored on {what} by {_count(v.size, word)} (mean {_fmt(round(mean, 2))} of "
        f"{_fmt(max_points)}): {spoken or 'no scores'}."
    )
    return uri, alt


def _time_chart(seconds: list[float]) -> tuple[str, str]:
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        fig, ax = _figure()
        s = np.asarray(seconds, dtype=float)
        bins = min(20, max(1, int(np.ceil(np.sqrt(s.size)))))
        counts, edges = np.histogram(s, bins=bins)
        ax.bar(edges[:-1], counts, width=np.diff(edges) * 0.9 if s.size else 1, align="edge", color=BAR)
        ax.set_xlabel("seconds to run and grade one submission")
        ax.set_ylabel("submissions")
        ax.yaxis.get_major_locator().set_params(integer=True)
        uri = _svg(fig)
    if s.size:
        alt = (
            f"Histogram of the time each of the {s.size} submissions took: median {np.median(s):.2f} s, "
            f"fastest {s.min():.2f} s, slowest {s.max():.2f} s, {s.sum():.1f} s in all."
        )
    else:
        alt = "Histogram of the time per submission: no submission reported a time."
    return uri, alt


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------

CSS = """
:root{--ink:#1a1a1a;--muted:#4a5058;--line:#c4cbd3;--head:#eef2f6;--link:#0b5394;--mark:#fff0a8}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--ink);
background:#fff}
header,main,nav,footer{max-width:64rem;margin:0 auto;padding:0 1rem}
h1{font-size:1.6rem;margin:1.2rem 0 .4rem}
h2{font-size:1.35rem;margin:2.2rem 0 .6rem;padding-top:.6rem;border-top:2px solid var(--line)}
h3{font-size:1.1rem;margin:1.4rem 0 .4rem}
h4{font-size:1rem;margin:.4rem 0}
a{color:var(--link)}
a:focus,.scroll:focus{outline:3px solid #1f5f99;outline-offset:2px}
.skip{position:absolute;left:-999px}
.skip:focus{left:1rem;top:.5rem;background:#fff;padding:.3rem .6rem}
.muted{color:var(--muted)}
nav ul{padding-left:1.2rem;columns:2 16rem}
figure{margin:.6rem 0}
figure img{display:block;width:100%;max-width:42rem;height:auto}
figcaption{color:var(--muted);font-size:.92rem}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.4rem 0 1rem;min-width:50%}
caption{text-align:left;font-weight:600;padding:.2rem 0}
th,td{border:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top}
thead th{background:var(--head)}
tbody th{font-weight:600}
td.num,th.num{text-align:right;white-space:nowrap}
td.who{min-width:12rem}
.notice{border-left:5px solid #8a5a00;background:#fff8e6;padding:.6rem .9rem;margin:.8rem 0}
.pair{border:1px solid var(--line);border-radius:4px;padding:.6rem;margin:1rem 0}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:.8rem}
.sides>div{min-width:0}
pre{margin:0;padding:.5rem;background:#f6f8fa;border:1px solid var(--line);white-space:pre-wrap;
overflow-wrap:anywhere;font-size:.85rem;
line-height:1.4}
pre mark{display:block;background:var(--mark);color:var(--ink);border-left:4px solid #8a5a00;margin-left:-.5rem;
padding-left:calc(.5rem - 4px)}
@media (max-width:48rem){.sides{grid-template-columns:1fr}nav ul{columns:1}table{min-width:0;width:100%;font-size:.9rem}
th,td{padding:.25rem .3rem}td.who{min-width:0}h1{font-size:1.4rem}h2{font-size:1.2rem}}
"""


def _table(caption: str, head: list[str], rows: list[list[str]], num: set[int] = frozenset(), label=None) -> str:
    """A table whose first column heads its row; ``rows`` hold escaped HTML."""
    e = html.escape
    cols = "".join(f'<th scope="col"{" class=num" if j in num else ""}>{e(h)}</th>' for j, h in enumerate(head))
    body = []
    for r in rows:
        cells = [f'<th scope="row">{r[0]}</th>']
        for j, c in enumerate(r[1:], start=1):
            cls = ' class="num"' if j in num else (' class="who"' if head[j] == "Who" else "")
            cells.append(f"<td{cls}>{c}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    region = e(label or caption)
    return (
        f'<div class="scroll" role="region" aria-label="{region}" tabindex="0"><table><caption>{e(caption)}'
        f"</caption><thead><tr>{cols}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _share(k: int, n: int) -> str:
    return f"{100 * k / max(1, n):.0f}\u00a0%"


def _anchor(qid: str) -> str:
    return "q-" + re.sub(r"[^A-Za-z0-9_-]+", "-", qid)


def _group_table(view: ClassView, caption: str, first: str, groups: list[Group]) -> str:
    e, n = html.escape, view.size
    rows = [[e(g.name), str(len(g.members)), _share(len(g.members), n), e(view.who(g.members))] for g in groups]
    return _table(caption, [first, "Students", "Share", "Who"], rows, num={1, 2})


def _question_section(view: ClassView, q: QuestionView) -> str:
    e, n = html.escape, view.size
    heading = f"{q.id}: {q.title}" if q.title else q.id
    parts = [f'<section aria-labelledby="{_anchor(q.id)}-h"><h2 id="{_anchor(q.id)}-h">{e(heading)}</h2>']
    values = list(q.scores.values())
    answered = sum(len(g.members) for g in q.statuses if g.name in (FULL_MARKS, "graded, not full marks"))
    full = next((len(g.members) for g in q.statuses if g.name == FULL_MARKS), 0)
    parts.append(
        f"<p>{_count(len(values), 'submission')} scored on this question ({_count_points(q.max_points)}); "
        f"{answered} answered it and were graded, {full} of them with full marks.</p>"
    )
    if values:
        uri, alt = _score_chart(values, q.max_points, q.id)
        parts.append(
            f'<figure><img src="{uri}" alt="{e(alt)}"><figcaption>Score distribution on {e(q.id)}: '
            f"how many submissions got each number of points.</figcaption></figure>"
        )
    parts.append("<h3>Named mistakes</h3>")
    if q.slips:
        parts.append(
            _group_table(view, f"Mistakes the check named on {q.id} (share of all {n} submissions)", "Mistake", q.slips)
        )
    else:
        parts.append("<p>No answer matched a mistake the check knows.</p>")
    parts.append("<h3>Wrong answers no mistake names</h3>")
    if q.unnamed:
        parts.append(
            "<p>Failing parts that matched no known mistake, grouped by the kind of difference the check found: "
            "what the mistake tables miss (a frequent group may be worth a new named mistake).</p>"
        )
        parts.append(
            _group_table(
                view, f"Unnamed wrong answers on {q.id}, by kind of difference", "Kind of difference", q.unnamed
            )
        )
    else:
        parts.append("<p>None: every wrong answer matched a named mistake.</p>")
    parts.append("<h3>Outcomes</h3>")
    parts.append(_group_table(view, f"How the answers to {q.id} ended", "Outcome", q.statuses))
    parts.append("</section>")
    return "\n".join(parts)


def _code(source: str, marked: set[int]) -> str:
    out = []
    for i, line in enumerate(source.splitlines() or [""]):
        text = html.escape(line) or " "
        out.append(f"<mark>{text}</mark>" if i in marked else text + "\n")
    return "".join(out)


def _similarity_section(view: ClassView) -> str:
    e = html.escape
    parts = ['<section aria-labelledby="similar-h"><h2 id="similar-h">Answers that look alike</h2>']
    parts.append(
        '<p class="notice"><strong>Similarity is something to look at, never a verdict.</strong> A high score says '
        "that two answers share code that is rare in this class once names, numbers, comments and layout are set "
        "aside. Students discuss ideas, start from the same notebook and sometimes find the same short line; "
        "whether a pair means anything is for a person to decide, with the students.</p>"
    )
    shown = [p for p in view.pairs if p.similarity >= SHOWN_FROM][:SHOWN_PAIRS]
    parts.append(
        f"<p>{len(view.pairs)} pairs of answers share some rare code (similarity.csv lists them all, most similar "
        f"first); the page shows those from {SHOWN_FROM:.2f} up, at most {SHOWN_PAIRS}. Highlighted lines hold "
        "the shared rare code. 1 means identical answers made only of code nobody else wrote; code every student "
        "has counts for nothing.</p>"
    )
    if not shown:
        parts.append(f"<p>No pair of answers reaches {SHOWN_FROM:.2f}.</p>")
    for p in shown:
        a, b = view.labels[p.first], view.labels[p.second]
        src_a = (view.submissions[p.first].get("answers") or {}).get(p.question, "")
        src_b = (view.submissions[p.second].get("answers") or {}).get(p.question, "")
        parts.append(
            f'<div class="pair"><h3>{e(p.question)}: {e(a)} and {e(b)}, similarity {p.similarity:.2f}</h3>'
            '<div class="sides">'
            f"<div><h4>{e(a)}</h4><pre>"
            f"<code>{_code(src_a, p.lines_first)}</code></pre></div>"
            f"<div><h4>{e(b)}</h4><pre>"
            f"<code>{_code(src_b, p.lines_second)}</code></pre></div>"
            "</div></div>"
        )
    parts.append("</section>")
    return "\n".join(parts)


def _notes_section(view: ClassView) -> str:
    e = html.escape
    parts = ['<section aria-labelledby="notes-h"><h2 id="notes-h">Notes</h2>']
    if not view.note_lines:
        parts.append("<p>No submission had a refused action, a cell stopped at a limit or another note.</p>")
    else:
        parts.append(_group_table(view, "Submissions with notes, by kind", "Kind of note", view.notes))
        rows = [[e(view.labels[i]), e(text)] for i, text in view.note_lines]
        parts.append(_table("Every note, per submission", ["Submission", "Note"], rows))
    parts.append("</section>")
    return "\n".join(parts)


def _time_section(view: ClassView) -> str:
    e = html.escape
    parts = ['<section aria-labelledby="time-h"><h2 id="time-h">Time per submission</h2>']
    timed = [(i, _float(s.get("seconds"), float("nan"))) for i, s in enumerate(view.submissions)]
    known = [(i, t) for i, t in timed if math.isfinite(t)]
    uri, alt = _time_chart([t for _, t in known])
    parts.append(
        f'<figure><img src="{uri}" alt="{e(alt)}"><figcaption>Time to run and grade each submission.'
        "</figcaption></figure>"
    )
    order = sorted(range(view.size), key=lambda i: (-_float(view.submissions[i].get("seconds"), -1.0), view.labels[i]))
    rows = []
    for i in order:
        s = view.submissions[i]
        t = _float(s.get("seconds"), float("nan"))
        rows.append(
            [
                e(view.labels[i]),
                f"{t:.2f}" if math.isfinite(t) else "\u2013",
                f"{_fmt(round(_float(s.get('points')), 2))} / {_fmt(_float(s.get('max_points')))}",
                e(str(s.get("status", ""))),
            ]
        )
    parts.append(_table("Submissions, slowest first", ["Submission", "Seconds", "Points", "Run"], rows, num={1, 2}))
    parts.append("</section>")
    return "\n".join(parts)


def render(view: ClassView) -> str:
    """The page, as one HTML string that needs nothing else."""
    e, n = html.escape, view.size
    graded = sum(1 for s in view.submissions if s.get("graded") is not False)
    totals = [_float(s.get("points")) for s in view.submissions if s.get("graded") is not False]
    max_total = max((_float(s.get("max_points")) for s in view.submissions), default=0.0) or sum(
        q.max_points for q in view.questions
    )
    nav = "".join(
        f'<li><a href="#{_anchor(q.id)}-h">{e(q.id)}{": " + e(q.title) if q.title else ""}</a></li>'
        for q in view.questions
    )
    nav += (
        '<li><a href="#notes-h">Notes</a></li><li><a href="#time-h">Time per submission</a></li>'
        '<li><a href="#similar-h">Answers that look alike</a></li>'
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Class report: {e(view.assignment)}</title>",
        f"<style>{CSS}</style></head><body>",
        '<a class="skip" href="#main">Skip to the report</a>',
        f"<header><h1>Class report: {e(view.assignment)}</h1>",
        f'<p class="muted">{_count(n, "submission")}, {graded} graded'
        + (f"; sandbox: {e(view.sandbox)}" if view.sandbox else "")
        + ". Shares are out of all submissions.</p></header>",
        f'<nav aria-label="Sections"><ul>{nav}</ul></nav>',
        '<main id="main">',
        '<section aria-labelledby="overview-h"><h2 id="overview-h">Overview</h2>',
    ]
    if totals:
        uri, alt = _score_chart(totals, max_total, "the whole assignment", "submission")
        parts.append(
            f'<figure><img src="{uri}" alt="{e(alt)}"><figcaption>Total points per graded submission.'
            "</figcaption></figure>"
        )
    rows = []
    for q in view.questions:
        mean = float(np.mean(list(q.scores.values()))) if q.scores else 0.0
        full = next((len(g.members) for g in q.statuses if g.name == FULL_MARKS), 0)
        top = q.slips[0] if q.slips else None
        rows.append(
            [
                f'<a href="#{_anchor(q.id)}-h">{e(q.id)}</a>',
                f"{mean:.2f} / {_fmt(q.max_points)}",
                str(full),
                e(f"{top.name} ({len(top.members)})") if top else "\u2013",
            ]
        )
    parts.append(
        _table(
            "Questions at a glance",
            ["Question", "Mean points", "Full marks", "Most frequent mistake"],
            rows,
            num={1, 2},
        )
    )
    parts.append("</section>")
    parts += [_question_section(view, q) for q in view.questions]
    parts += [_notes_section(view), _time_section(view), _similarity_section(view)]
    parts.append(
        '</main><footer><p class="muted">Written by emkit from the grader\'s JSON report; '
        "misconceptions.csv and similarity.csv beside this page hold the same counts.</p></footer>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_class_report(report: dict, folder: Path) -> list[str]:
    """Write ``folder/index.html``, ``misconceptions.csv`` and ``similarity.csv``; return the summary lines."""
    view = summarise(report)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"folder: {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(render(view), encoding="utf-8")
    _write_csvs(view, folder)
    return summary_lines(view)
