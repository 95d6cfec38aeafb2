"""The grader's outputs: CSV and JSON reports, a feedback file per student, progress, a summary.

The reports are rewritten after every graded submission, each by writing a
temporary file beside it and renaming it over the old one: a reader (or a
crash) sees the previous complete report or the new one, never half of one.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import re
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from .grader import CHECK_ERROR, CHECK_STOPPED, Row, SubmissionResult

FIELDS = [
    "student",
    "submission",
    "question",
    "title",
    "points",
    "max_points",
    "passed_parts",
    "status",
    "slips",
    "feedback",
    "sandbox",
]


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` by writing a temporary file in the same folder and renaming it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def spreadsheet_safe(value):
    """A CSV cell that a spreadsheet shows as text: one starting with = + - @ (a formula) gets a leading '.

    The report's own "-" (no question: a file that could not be read) is no formula and stays as it is.

    >>> spreadsheet_safe("=HYPERLINK(1)"), spreadsheet_safe("-"), spreadsheet_safe("-1+2")
    ("'=HYPERLINK(1)", '-', "'-1+2")
    """
    if isinstance(value, str) and value != "-" and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_bytes(results: list[SubmissionResult], sandbox: str) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in results:
        for row in r.rows:
            data = asdict(row)
            data["slips"] = "; ".join(row.slips)
            data["sandbox"] = sandbox
            writer.writerow({k: spreadsheet_safe(data.get(k, "")) for k in FIELDS})
    return out.getvalue().encode("utf-8", "replace")


def json_data(results: list[SubmissionResult], assignment, sandbox: str, csv_digest: str | None, final: bool) -> dict:
    return {
        "assignment": assignment.name,
        "sandbox": sandbox,
        "complete": final,
        "csv_sha256": csv_digest,
        "questions": [  # the course's default grades each notebook on its own questions: list those that came up
            {"id": q.id, "title": q.title, "points": q.points}
            for q in assignment.questions
            if not getattr(assignment, "per_notebook", False)
            or any(row.question == q.id for r in results for row in r.rows)
        ],
        "submissions": [
            {
                "student": r.student,
                "submission": r.submission,
                "status": r.status,
                "graded": r.graded,
                "points": round(r.points, 6),
                "max_points": r.max_points,
                "seconds": round(r.seconds, 2),
                "notes": r.notes,
                "questions": [asdict(row) for row in r.rows],
                "cells": r.cells,
                "answers": r.answers,
            }
            for r in results
        ],
    }


class Writer:
    """Writes the reports after each submission (atomically), and the feedback files as submissions finish."""

    def __init__(self, csv_path: Path, json_path: Path | None, feedback: Path | None, assignment, sandbox: str):
        self.csv_path, self.json_path, self.feedback = csv_path, json_path, feedback
        self.assignment, self.sandbox = assignment, sandbox
        self._names: dict[str, str] = {}  # submission -> feedback file stem (unique)

    def write(self, results: list[SubmissionResult], final: bool = False) -> None:
        data = csv_bytes(results, self.sandbox)
        atomic_write(self.csv_path, data)
        if self.json_path is not None:
            payload = json_data(results, self.assignment, self.sandbox, hashlib.sha256(data).hexdigest(), final)
            atomic_write(self.json_path, json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8", "replace"))
        if self.feedback is not None:
            for r in results:
                if final or r.submission not in self._names:
                    self._write_feedback(r)

    def _write_feedback(self, r: SubmissionResult) -> None:
        base = self._names.get(r.submission)
        if base is None:
            base = _safe_name(r.student)
            taken = set(self._names.values())
            n = 1
            while base in taken:
                n += 1
                base = f"{_safe_name(r.student)}-{n}"
            self._names[r.submission] = base
        name = self.assignment.name
        atomic_write(self.feedback / f"{base}.md", feedback_markdown(r, name, self.sandbox).encode("utf-8", "replace"))
        atomic_write(self.feedback / f"{base}.html", feedback_html(r, name, self.sandbox).encode("utf-8", "replace"))


def _safe_name(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", student)[:100].lstrip(".") or "submission"


def _heading(row: Row) -> str:
    return f"{row.title or row.question}: {row.points:.2f} / {row.max_points:.2f} ({row.status})"


def feedback_markdown(r: SubmissionResult, assignment_name: str, sandbox: str = "bubblewrap") -> str:
    lines = [f"# Feedback: {r.student}", "", f"*{assignment_name}*, submission `{r.submission}`", ""]
    lines.append(f"**Total: {r.points:.2f} of {r.max_points:.2f} points.** Notebook run: {r.status}.")
    if not sandbox.startswith("bubblewrap"):
        lines += ["", "> Graded WITHOUT the OS sandbox (--no-sandbox)."]
    for note in r.notes:
        lines += ["", f"> {note}"]
    for row in r.rows:
        lines += ["", f"## {_heading(row)}", ""]
        if row.feedback:
            lines += ["```", row.feedback, "```"]
    return "\n".join(lines) + "\n"


def feedback_html(r: SubmissionResult, assignment_name: str, sandbox: str = "bubblewrap") -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Feedback: {e(r.student)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:50em;margin:2em auto;padding:0 1em;line-height:1.45;"
        "color:#1a1a1a}pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f4f4f4;padding:.6em}"
        ".ok{color:#006b4f}.bad{color:#9a3a00}</style>",
        "</head><body><main>",
        f"<h1>Feedback: {e(r.student)}</h1>",
        f"<p><i>{e(assignment_name)}</i>, submission <code>{e(r.submission)}</code></p>",
        f"<p><b>Total: {r.points:.2f} of {r.max_points:.2f} points.</b> Notebook run: {e(r.status)}.</p>",
    ]
    if not sandbox.startswith("bubblewrap"):
        parts.append("<p><b>Graded WITHOUT the OS sandbox (--no-sandbox).</b></p>")
    for note in r.notes:
        parts.append(f"<blockquote>{e(note)}</blockquote>")
    for row in r.rows:
        cls = "ok" if row.max_points and row.points >= row.max_points else "bad"
        parts.append(f"<h2 class='{cls}'>{e(_heading(row))}</h2>")
        if row.feedback:
            parts.append(f"<pre>{e(row.feedback)}</pre>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_feedback(results: list[SubmissionResult], folder: Path, assignment_name: str) -> list[Path]:
    """One Markdown and one HTML feedback file per submission (names made unique)."""
    folder.mkdir(parents=True, exist_ok=True)
    written, used = [], set()
    for r in results:
        base, n = _safe_name(r.student), 1
        while base in used:
            n += 1
            base = f"{_safe_name(r.student)}-{n}"
        used.add(base)
        md, page = folder / f"{base}.md", folder / f"{base}.html"
        md.write_text(feedback_markdown(r, assignment_name), encoding="utf-8")
        page.write_text(feedback_html(r, assignment_name), encoding="utf-8")
        written += [md, page]
    return written


def summary_table(results: list[SubmissionResult]) -> str:
    lines = ["", f"{'student':24s} {'points':>8s} {'of':>6s}  status"]
    for r in results:
        lines.append(f"{r.student[:24]:24s} {r.points:8.2f} {r.max_points:6.2f}  {r.status[:80]}")
    return "\n".join(lines)


def check_problems(results: list[SubmissionResult]) -> list[str]:
    """Loud lines for every question whose check failed or was stopped: those rows are not grades."""
    by_question: dict[tuple[str, str], list[str]] = {}
    for r in results:
        for row in r.rows:
            if row.status in (CHECK_ERROR, CHECK_STOPPED):
                by_question.setdefault((row.title or row.question, row.status), []).append(r.student)
    lines = []
    for (title, status), students in by_question.items():
        who = ", ".join(students[:5]) + (f" and {len(students) - 5} more" if len(students) > 5 else "")
        if status == CHECK_ERROR:
            lines.append(f"CHECK ERROR: the check of {title} raised for {len(students)} submission(s) ({who}): "
                         "these are not grades; see the feedback column, fix the check, grade again.")  # fmt: skip
        else:
            lines.append(f"CHECK STOPPED: checking {title} hit the grader's time or memory limit for "
                         f"{len(students)} submission(s) ({who}); they score 0 on it.")  # fmt: skip
    return lines


class Progress:
    """A bar on a terminal, a line per submission elsewhere (both on stderr)."""

    def __init__(self, total: int, stream=None, emit=None):
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.emit = emit
        self.tty = emit is None and hasattr(self.stream, "isatty") and self.stream.isatty()

    def message(self, text: str) -> None:
        if self.emit is not None:
            self.emit(text)
        else:
            print(text, file=self.stream, flush=True)

    def step(self, r: SubmissionResult) -> None:
        self.done += 1
        line = (
            f"[{self.done}/{self.total}] {r.submission}: {r.points:.2f} / {r.max_points:.2f} "
            f"({r.status[:60]}, {r.seconds:.1f} s)"
        )
        if self.tty:
            width = 30
            filled = round(width * self.done / max(1, self.total))
            bar = "#" * filled + "." * (width - filled)
            print(f"\r[{bar}] {self.done}/{self.total}  {line[:70]:70s}", end="", file=self.stream, flush=True)
            if self.done == self.total:
                print(file=self.stream, flush=True)
        else:
            self.message(line)
