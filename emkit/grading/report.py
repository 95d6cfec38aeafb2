"""The grader's outputs: CSV and JSON reports, a feedback file per student, progress, a summary."""

from __future__ import annotations

import csv
import html
import json
import re
import sys
from dataclasses import asdict
from pathlib import Path

from .grader import Row, SubmissionResult

FIELDS = list(Row.__dataclass_fields__)


def write_csv(results: list[SubmissionResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        for r in results:
            writer.writerows(asdict(row) for row in r.rows)


def write_json(results: list[SubmissionResult], path: Path, assignment_name: str) -> None:
    data = {
        "assignment": assignment_name,
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
            }
            for r in results
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def _safe_name(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", student)[:100] or "submission"


def feedback_markdown(r: SubmissionResult, assignment_name: str) -> str:
    lines = [f"# Feedback: {r.student}", "", f"*{assignment_name}*, submission `{r.submission}`", ""]
    lines.append(f"**Total: {r.points:.2f} of {r.max_points:.2f} points.** Notebook run: {r.status}.")
    for note in r.notes:
        lines += ["", f"> {note}"]
    for row in r.rows:
        lines += ["", f"## {row.question}: {row.points:.2f} / {row.max_points:.2f} ({row.status})", ""]
        if row.feedback:
            lines += ["```", row.feedback, "```"]
    return "\n".join(lines) + "\n"


def feedback_html(r: SubmissionResult, assignment_name: str) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Feedback: {e(r.student)}</title>",
        "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.4}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:.6em}.ok{color:#007a5a}.bad{color:#b04000}</style>",
        "</head><body>",
        f"<h1>Feedback: {e(r.student)}</h1>",
        f"<p><i>{e(assignment_name)}</i>, submission <code>{e(r.submission)}</code></p>",
        f"<p><b>Total: {r.points:.2f} of {r.max_points:.2f} points.</b> Notebook run: {e(r.status)}.</p>",
    ]
    for note in r.notes:
        parts.append(f"<blockquote>{e(note)}</blockquote>")
    for row in r.rows:
        cls = "ok" if row.max_points and row.points >= row.max_points else "bad"
        parts.append(
            f"<h2 class='{cls}'>{e(row.question)}: {row.points:.2f} / {row.max_points:.2f} ({e(row.status)})</h2>"
        )
        if row.feedback:
            parts.append(f"<pre>{e(row.feedback)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_feedback(results: list[SubmissionResult], folder: Path, assignment_name: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    used: dict[str, int] = {}
    for r in results:
        base = _safe_name(r.student)
        used[base] = used.get(base, 0) + 1
        if used[base] > 1:
            base = f"{base}-{used[base]}"
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
