"""The ``emkit`` command.

emkit student SOURCE.ipynb... -o DIR   student notebooks from solution notebooks
emkit execute NOTEBOOK.ipynb...        re-run notebooks in place, storing outputs
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emkit", description="Tools for the EM course.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_student = sub.add_parser("student", help="generate student notebooks from solution notebooks")
    p_student.add_argument("sources", nargs="+", help="solution notebooks")
    p_student.add_argument("-o", "--output", required=True, help="folder for the student notebooks")
    p_student.add_argument("--no-execute", action="store_true", help="do not run the generated notebooks")
    p_execute = sub.add_parser("execute", help="re-run notebooks in place and store their outputs")
    p_execute.add_argument("notebooks", nargs="+")
    p_grade = sub.add_parser("grade", help="grade submitted notebooks into a report")
    p_grade.add_argument("submissions", nargs="+", help="submitted notebooks (never modified)")
    p_grade.add_argument("--report", required=True, help="CSV report: one row per student and question")
    p_grade.add_argument("--json", help="also write a JSON report here")
    p_grade.add_argument("--timeout", type=float, default=120.0, help="seconds per notebook (default 120)")
    p_grade.add_argument("--jobs", type=int, default=None, help="notebooks graded at once (default: cores, max 4)")
    p_slides = sub.add_parser("slides", help="build a reveal.js slide deck per notebook")
    p_slides.add_argument("notebooks", nargs="*", help="notebooks (default: notebooks/*.ipynb)")
    p_slides.add_argument("-o", "--output", default="build/slides", help="folder for the decks (default build/slides)")
    p_slides.add_argument("--offline", action="store_true", help="install reveal.js and MathJax locally (npm)")
    args = parser.parse_args(argv)

    from . import notebook_tools

    if args.command == "slides":
        from pathlib import Path

        from . import slides

        notebooks = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
        for path in slides.build(notebooks, args.output, offline=args.offline):
            print(f"wrote {path}", flush=True)
        return 0
    if args.command == "grade":
        from . import grading

        grading.grade(args.submissions, args.report, json_report=args.json, timeout=args.timeout, jobs=args.jobs)
        return 0
    if args.command == "student":
        for path in notebook_tools.student(args.sources, args.output, run=not args.no_execute):
            print(f"wrote {path}", flush=True)
    else:
        for name in args.notebooks:
            print(f"executed {name} in {notebook_tools.execute(name):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
