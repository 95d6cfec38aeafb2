"""What a check returns: a :class:`CheckResult` made of :class:`Part` s.

A result renders as HTML in a notebook and as text elsewhere. It also gives
the numbers other tools need: ``.passed``, ``.score`` (the fraction of parts
passed, 0..1), ``.points(out_of)`` (for nbgrader: the points earned, a number
that shows the feedback) and ``.raise_if_failed()`` / ``.require_part(k)``
(for otter-grader and plain ``assert`` -style tests).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

__all__ = ["CheckResult", "Part", "Points"]


_INDENT = " " * 9


def _labelled(label: str, text: str) -> list[str]:
    """'Hint: first line' with each further line indented under the first one's text, never at column 0."""
    first, *rest = text.splitlines() or [""]
    under = _INDENT + " " * (len(label) + 2)
    return [f"{_INDENT}{label}: {first}"] + [f"{under}{line}" for line in rest]


def _html_lines(text: str) -> str:
    """The text escaped, its lines separated by <br> (HTML would run them together)."""
    return "<br>".join(html.escape(line) for line in text.splitlines())


@dataclass
class Part:
    """One checked aspect of an answer.

    ``slip`` names a recognised mistake (``"N_k - 1 instead of N_k"``); ``note``
    is shown even when the part passed (for example, that the answer was
    compared at float32 precision).
    """

    name: str
    passed: bool
    message: str = ""
    hint: str = ""
    answered: bool = True
    slip: str = ""
    note: str = ""
    kind: str = ""  # when no slip matched: the kind of difference ("a constant factor", "the transpose", ...)


@dataclass
class CheckResult:
    """The outcome of a check: renders as HTML in a notebook, as text elsewhere."""

    exercise: str
    parts: list[Part] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return all(p.answered for p in self.parts)

    @property
    def passed(self) -> bool:
        return bool(self.parts) and all(p.passed for p in self.parts)

    @property
    def score(self) -> float:
        """The fraction of parts passed, 0..1 (partial credit)."""
        return sum(p.passed for p in self.parts) / len(self.parts) if self.parts else 0.0

    @property
    def slips(self) -> list[str]:
        """The named mistakes recognised in the failing parts (no repeats)."""
        return list(dict.fromkeys(p.slip for p in self.parts if p.slip and not p.passed))

    def summary(self) -> str:
        if not self.answered:
            return f"{self.exercise}: not answered yet — write your answer in the exercise cell above, then run this."
        n = len(self.parts)
        if self.passed:
            return f"{self.exercise}: {'the only part' if n == 1 else f'all {n} parts'} passed. Well done!"
        n_ok = sum(p.passed for p in self.parts)
        return f"{self.exercise}: {n_ok} of {n} parts passed."

    def __str__(self) -> str:
        lines = [self.summary()]
        if self.answered:
            for p in self.parts:
                lines.append(f"  [{'pass' if p.passed else 'FAIL'}] {p.name}")
                if not p.passed:
                    if p.slip:
                        lines.append(f"         Mistake: {p.slip}.")
                    lines += [f"         {line}" for line in p.message.splitlines()]
                    if p.hint:
                        lines += _labelled("Hint", p.hint)
                if p.note:
                    lines += _labelled("Note", p.note)
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        if not self.answered:
            return (
                '<div style="display:block;padding:6px;border-left:5px solid #999999">'
                f'<p style="margin:0;font-weight:bold">{html.escape(self.summary())}</p></div>'
            )
        colour = "#009E73" if self.passed else "#D55E00"
        rows = []
        for p in self.parts:
            mark = "✔" if p.passed else "✘"
            detail = ""
            if not p.passed:
                if p.slip:
                    detail += f"<br><b>Mistake: {html.escape(p.slip)}.</b>"
                detail += f"<pre style='margin:2px 0;white-space:pre-wrap'>{html.escape(p.message)}</pre>"
                if p.hint:
                    detail += f"<i>Hint: {_html_lines(p.hint)}</i>"
            if p.note:
                detail += f"<br><small>Note: {_html_lines(p.note)}</small>"
            rows.append(f"<li>{mark} {html.escape(p.name)}{detail}</li>")
        return (
            f'<div style="display:block;padding:6px;border-left:5px solid {colour}">'
            f'<p style="margin:0;font-weight:bold">{html.escape(self.summary())}</p>'
            f"<ul style='margin:4px 0'>{''.join(rows)}</ul></div>"
        )

    def raise_if_failed(self) -> None:
        """Raise ``AssertionError`` with the feedback text unless every part passed."""
        if not self.passed:
            raise AssertionError(str(self))

    def require_part(self, k: int) -> None:
        """Raise ``AssertionError`` with part ``k``'s feedback (1-based) unless that part passed.

        One otter-grader test case per part gives partial credit with the
        feedback of the part that failed.
        """
        if not 1 <= k <= len(self.parts):
            raise AssertionError(f"{self.exercise}: there is no part {k} (this check has {len(self.parts)})")
        p = self.parts[k - 1]
        if not p.answered:
            raise AssertionError(self.summary())
        if not p.passed:
            one = CheckResult(self.exercise, [p])
            raise AssertionError("\n".join(str(one).splitlines()[1:]))

    def points(self, out_of: float) -> Points:
        """The points earned, ``score × out_of``: a number that displays as this feedback (for nbgrader).

        nbgrader reads a test cell's result as the points earned from its
        plain-text form (here just the number, e.g. ``2.0``), while its
        feedback page and JupyterLab show the HTML form: this feedback, with
        the points, wrapped to the page. Nothing is printed (nbgrader zeroes
        a cell that writes to stderr, and a bare ``Out: 2.0`` says nothing).
        """
        return Points(round(self.score * float(out_of), 6), float(out_of), self)


class Points(float):
    """Points earned (a float, so that nbgrader and arithmetic read it as one) that display as their feedback."""

    def __new__(cls, earned: float, out_of: float, result: CheckResult):
        self = super().__new__(cls, earned)
        self.out_of, self.result = out_of, result
        return self

    def __repr__(self) -> str:
        return repr(float(self))

    def _repr_html_(self) -> str:
        return (
            f"<div><b>{float(self):g} of {self.out_of:g} points</b></div>"
            f"<div style='white-space:normal;overflow-wrap:anywhere'>{self.result._repr_html_()}</div>"
        )
