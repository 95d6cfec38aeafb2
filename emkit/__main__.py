"""The ``emkit`` command.

emkit student SOURCE.ipynb... -o DIR   student notebooks from solution notebooks
emkit execute NOTEBOOK.ipynb...        re-run notebooks in place, storing outputs
emkit grade SUBMISSION.ipynb... --report grades.csv   grade submissions (see emkit grade --help)
emkit export canvas|moodle REPORT.json -o FILE.csv [--roster roster.csv]   gradebook import file
emkit slides [NOTEBOOK...] -o DIR [--student]   reveal.js decks (lecturer: with solution slides)
emkit otter-tests --assignment hw.toml -o autograder/   what otter generate needs for an assignment
emkit nbgrader-source NOTEBOOK... -o source/ps1   nbgrader source notebooks from the course notebooks
"""

from __future__ import annotations

import argparse
import sys

GRADE_EPILOG = """\
Isolation: every submission runs inside an OS sandbox of its own (bubblewrap:
no network, no other file or process visible, only its scratch folder
writable, killed with everything it started). If the sandbox cannot start
here, emkit grade says why and stops; --no-sandbox grades without it (only for
notebooks you trust), and every report line says so.

Exit status: 0 when every submission was graded (whatever its score); 1 when
at least one could not be graded at all (malformed, unreadable, or its
notebook could not be run); 3 when a check itself failed (a "check error":
those rows are not grades); 2 for a usage error (a bad option or assignment
file) or a sandbox that cannot start.

Time limits: --cell-timeout applies to each cell (a cell past it is stopped and
the next cell runs; it never gets more than what is left of --timeout, minus a
reserve for calling the answers); --call-timeout to each call of an answer
function; --timeout is the wall-clock limit of one whole submission.
"""


def _grade_parser(sub):
    p = sub.add_parser(
        "grade",
        help="grade submitted notebooks into a report (trusted: submissions run in their own process)",
        description="Grade submitted notebooks. Each runs in a separate process; the scores are computed in "
        "this one, from plain data, on inputs made fresh for each run.",
        epilog=GRADE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("submissions", nargs="+", help="submitted notebooks (read once, never modified)")
    p.add_argument("--report", required=True, help="CSV report: one row per student and question")
    p.add_argument("--json", help="also write a JSON report (points, statuses, each cell's outcome)")
    p.add_argument("--feedback", help="also write one feedback file per student (Markdown and HTML) into this folder")
    p.add_argument("--assignment", help="an assignment file (TOML); default: the course's own exercises")
    p.add_argument(
        "--jobs", type=int, default=None, help="submissions graded at once (default: the number of cores, at most 4)"
    )
    p.add_argument("--cell-timeout", type=float, default=60.0, help="seconds per cell (default 60)")
    p.add_argument("--call-timeout", type=float, default=10.0, help="seconds per call of an answer (default 10)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per submission in all (default 600)")
    p.add_argument("--memory", type=int, default=2048, help="memory limit of a submission in MB (default 2048)")
    p.add_argument(
        "--check-timeout",
        type=float,
        default=60.0,
        help="seconds the grader may spend checking one answer, not counting the submission's own time (default 60)",
    )
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="UNSAFE: grade without the OS sandbox (only for notebooks you trust; every report line says so)",
    )
    p.add_argument(
        "--class-report",
        metavar="DIR",
        help="also write the class's view into DIR: index.html, misconceptions.csv, similarity.csv",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emkit", description="Tools for the EM course.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_student = sub.add_parser("student", help="generate student notebooks from solution notebooks")
    p_student.add_argument("sources", nargs="+", help="solution notebooks")
    p_student.add_argument("-o", "--output", required=True, help="folder for the student notebooks")
    p_student.add_argument("--no-execute", action="store_true", help="do not run the generated notebooks")
    p_student.add_argument(
        "--assignment", help="an assignment file (TOML) whose questions the notebooks' exercise:<id> tags name"
    )
    p_execute = sub.add_parser("execute", help="re-run notebooks in place and store their outputs")
    p_execute.add_argument("notebooks", nargs="+")
    _grade_parser(sub)
    _export_parser(sub)
    p_otter = sub.add_parser(
        "otter-tests",
        help="write what otter generate needs: tests/, requirements.txt, emkit and your checks",
        description="Write, into the output folder: tests/<id>.py for each question of the assignment (one case per "
        "part of its check; otter divides the question's points among them), requirements.txt, a copy of emkit "
        "and of your own check modules. Then, in that folder: otter generate emkit my_checks.py",
    )
    p_otter.add_argument("-o", "--output", required=True, help="the folder to run otter generate in")
    which = p_otter.add_mutually_exclusive_group(required=True)
    which.add_argument("--assignment", help="an assignment file (TOML)")
    which.add_argument("--notebook", help="a course notebook (e.g. notebooks/01_kmeans.ipynb): its exercises")
    p_nbg = sub.add_parser("nbgrader-source", help="nbgrader 0.9 source notebooks from course solution notebooks")
    p_nbg.add_argument("notebooks", nargs="+", help="solution notebooks (notebooks/0*.ipynb)")
    p_nbg.add_argument("-o", "--output", required=True, help="nbgrader's source/<assignment> folder")
    p_nbg.add_argument(
        "--assignment", help="an assignment file (TOML): its questions and points; default: the course's exercises"
    )
    p_slides = sub.add_parser(
        "slides",
        help="build a reveal.js slide deck per notebook (lecturer decks: each exercise posed, then a solution slide)",
    )
    p_slides.add_argument("notebooks", nargs="*", help="solution notebooks (default: notebooks/*.ipynb)")
    p_slides.add_argument(
        "-o", "--output", help="folder for the decks (default build/slides, with --student build/slides-student)"
    )
    p_slides.add_argument(
        "--student", action="store_true", help="student decks: exercises posed, no solution slides, no speaker notes"
    )
    p_slides.add_argument(
        "--link",
        default="{stem}.slides.html",
        help="where a link to another notebook points, {stem} its name (default {stem}.slides.html: its deck)",
    )
    p_slides.add_argument("--offline", action="store_true", help="install reveal.js and MathJax locally (npm)")
    p_slides.add_argument(
        "--pdf", action="store_true", help="also print each deck to PDF, one slide per page (implies --offline)"
    )
    p_site = sub.add_parser("site", help="build the course website (Sphinx, myst-nb) into build/site")
    p_site.add_argument("-o", "--output", default="build/site", help="folder for the site (default build/site)")
    p_site.add_argument("--no-pdf", action="store_true", help="skip the PDF handouts (no Chromium needed)")
    args = parser.parse_args(argv)

    from . import notebook_tools

    if args.command == "slides":
        from pathlib import Path

        from . import slides

        notebooks = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
        output = args.output or ("build/slides-student" if args.student else "build/slides")
        try:
            written = slides.build(
                notebooks,
                output,
                offline=args.offline or args.pdf,
                pdf=args.pdf,
                student=args.student,
                next_link=lambda stem: args.link.format(stem=stem),
            )
        except ValueError as exc:
            print(f"emkit slides: {exc}", file=sys.stderr)
            return 2
        for path in written:
            print(f"wrote {path}", flush=True)
        return 0
    if args.command == "site":
        import shutil
        from pathlib import Path

        from . import site, slides

        pdf = not args.no_pdf
        if pdf and (slides.chromium() is None or shutil.which("chromedriver") is None):
            print("no Chromium and chromium-driver here: the site's decks come without PDF handouts", flush=True)
            pdf = False
        try:
            index = site.build(Path.cwd(), args.output, pdf=pdf)
        except site.MissingAltText as exc:
            print(f"emkit site: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {index}: open it in a browser (it needs no network)", flush=True)
        return 0
    if args.command == "export":
        return _export(args)
    if args.command == "grade":
        return _grade(args)
    if args.command in ("otter-tests", "nbgrader-source"):
        return _clients(args)
    if args.command == "student":
        chosen = None
        if args.assignment:
            from .grading import assignment

            try:
                chosen = assignment.load(args.assignment)
            except assignment.AssignmentError as exc:
                print(f"emkit student: {exc}", file=sys.stderr)
                return 2
        try:
            written = notebook_tools.student(args.sources, args.output, run=not args.no_execute, assignment=chosen)
        except ValueError as exc:
            print(f"emkit student: {exc}", file=sys.stderr)
            return 2
        for path in written:
            print(f"wrote {path}", flush=True)
    else:
        for name in args.notebooks:
            print(f"executed {name} in {notebook_tools.execute(name):.1f} s", flush=True)
    return 0


def _clients(args) -> int:
    from pathlib import Path

    from .grading import assignment, clients

    try:
        if getattr(args, "notebook", None):
            stem = Path(args.notebook).stem
            chosen = assignment.course()
            chosen.questions = [q for q in chosen.questions if q.notebook == stem]
            if not chosen.questions:
                print(f"emkit {args.command}: {args.notebook} has no course exercises", file=sys.stderr)
                return 2
        else:
            chosen = assignment.load(args.assignment)
    except assignment.AssignmentError as exc:
        print(f"emkit {args.command}: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if args.command == "otter-tests":
        for path in clients.write_otter_bundle(chosen, out):
            print(f"wrote {path}", flush=True)
        modules = sorted({p.name for p in out.glob("*.py")})
        print(f"next, in {out}: otter generate emkit {' '.join(modules)}".rstrip(), flush=True)
        return 0
    import nbformat

    for name in args.notebooks:
        nb = nbformat.read(name, as_version=4)
        try:
            nb = clients.nbgrader_source(nb, chosen.by_id(), chosen, Path(name).stem)
        except ValueError as exc:
            print(f"emkit nbgrader-source: {name}: {exc}", file=sys.stderr)
            return 2
        path = out / Path(name).name
        nbformat.write(nb, path)
        print(f"wrote {path}", flush=True)
    return 0


def _grade(args) -> int:
    from . import grading
    from .grading.assignment import AssignmentError
    from .grading.grader import CHECK_ERROR

    for name, value in (("--cell-timeout", args.cell_timeout), ("--call-timeout", args.call_timeout),
                        ("--timeout", args.timeout), ("--memory", args.memory),
                        ("--check-timeout", args.check_timeout)):  # fmt: skip
        if not value > 0:
            print(f"emkit grade: {name} must be positive; got {value}", file=sys.stderr)
            return 2
    if args.jobs is not None and args.jobs < 1:
        print(f"emkit grade: --jobs must be at least 1; got {args.jobs}", file=sys.stderr)
        return 2
    limits = grading.Limits(
        cell=args.cell_timeout, call=args.call_timeout, total=args.timeout, memory_mb=args.memory,
        check=args.check_timeout,
    )  # fmt: skip
    json_report = args.json
    if args.class_report and not json_report:
        from pathlib import Path

        json_report = str(Path(args.class_report) / "grades.json")
    try:
        results = grading.grade(
            args.submissions,
            args.report,
            json_report=json_report,
            feedback=args.feedback,
            assignment=args.assignment,
            limits=limits,
            jobs=args.jobs,
            sandbox=not args.no_sandbox,
        )
    except AssignmentError as exc:
        print(f"emkit grade: {exc}", file=sys.stderr)
        return 2
    except grading.SandboxUnavailable as exc:
        print(f"emkit grade: {exc}", file=sys.stderr)
        return 2
    if args.class_report:
        import json
        from pathlib import Path

        from .grading import classview

        report = json.loads(Path(json_report).read_text(encoding="utf-8"))
        for line in classview.write_class_report(report, Path(args.class_report)):
            print(line, file=sys.stderr)
        print(f"emkit grade: the class's view is in {Path(args.class_report) / 'index.html'}", file=sys.stderr)
    failed = [r for r in results if not r.graded]
    crashed = [r for r in results if any(row.status == CHECK_ERROR for row in r.rows)]
    if failed:
        print(
            f"emkit grade: {len(failed)} submission(s) could not be graded at all: "
            + ", ".join(r.submission for r in failed[:10]),
            file=sys.stderr,
        )
        return 1
    if crashed:
        print(
            f"emkit grade: a check raised for {len(crashed)} submission(s): those rows say 'check error' and are "
            "not grades",
            file=sys.stderr,
        )
        return 3
    return 0


EXPORT_EPILOG = """\
The roster (a CSV file with a header row) says whose each submission is:
columns submission (file name or stem), name, id (Canvas ID), sis_id (SIS User
ID, Moodle ID number), login (SIS Login ID), section, email (Moodle Email
address), first_name, last_name; other columns are ignored. Canvas needs one
of id, sis_id, login; Moodle one of email, sis_id. Without --roster, one row
per submission with the student's name only.

Every roster student gets one row; those without a submission get an empty
grade and are listed on stderr as "no submission", as are submissions that
could not be graded. Submissions no roster row claims are listed as
unmatched and left out of the file.

Exit status: 0 when every submission found its student; 1 when some are
unmatched (the file is written all the same); 2 for bad input (a missing
column, a file that is not the grader's JSON report).
"""


def _export_parser(sub):
    p = sub.add_parser(
        "export",
        help="the gradebook import file of Canvas or Moodle from a JSON report of emkit grade",
        description="Write a CSV file that Canvas (Grades > Import) or Moodle (Grades > Import > CSV file) "
        "imports as it is, one row per student, the grade being the submission's total points.",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("platform", choices=["canvas", "moodle"], help="the learning platform")
    p.add_argument("report", metavar="REPORT.json", help="the JSON report of emkit grade --json")
    p.add_argument("-o", "--output", required=True, metavar="FILE.csv", help="the gradebook file to write")
    p.add_argument("--roster", metavar="roster.csv", help="who is who: maps submission files to students")
    p.add_argument("--column", help="the assignment's column (default: the report's assignment name)")
    return p


def _export(args) -> int:
    from .grading import export

    try:
        done = export.export(args.report, args.platform, args.output, roster=args.roster, column=args.column)
    except export.ExportError as exc:
        print(f"emkit export: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"emkit export: -o {args.output}: {exc}", file=sys.stderr)
        return 2
    for who in done.no_submission:
        print(f"emkit export: no submission: {who} (empty grade)", file=sys.stderr)
    for name in done.not_graded:
        print(f"emkit export: could not be graded: {name} (empty grade)", file=sys.stderr)
    for name in done.unmatched:
        print(f"emkit export: unmatched: {name} is in no roster row; it is not in {done.path}", file=sys.stderr)
    if args.roster is None:
        print(
            f"emkit export: no --roster: {done.path} names students by their file names only; "
            f"{args.platform.capitalize()} needs their IDs to import it",
            file=sys.stderr,
        )
    print(f"wrote {done.path}: {done.rows} students", flush=True)
    return 1 if done.unmatched else 0


if __name__ == "__main__":
    sys.exit(main())
