"""``emkit grade``: grades that no submission can forge.

::

    emkit grade submissions/*.ipynb --report out/grades.csv [--json out/grades.json]
                [--feedback out/feedback] [--assignment hw.toml] [--jobs 2]
                [--cell-timeout 60] [--call-timeout 10] [--timeout 600] [--memory 2048]
                [--sandbox bwrap]

**The trust boundary.** A submission's cells run in a separate process (the
*runner*, :mod:`.runner`) with its own scratch folder and ``HOME``, a clean
environment, a memory limit and time limits. The score is computed only
here, in the grader's process: the grader calls each answer function in the
runner on inputs it makes itself from fresh random seeds and gets back plain
data (JSON numbers, ``.npy`` read with ``allow_pickle=False``, answer text
for the whitelist parser); the same checks a learner sees
(:mod:`emkit.check`) then score it here. Nothing a submission prints,
writes, patches or imports changes a score, except through the values its
own answers return. (The learner's self-checks in the notebook do not run
while grading.)

**The reference implementation.** Each question lists the emkit functions
that compute its answer (:data:`emkit.check.EXERCISES`, or the assignment
file). A marker in each of emkit's functions reports every call to the
grader (:mod:`.guard`); an answer that reaches a forbidden one, however it
was reached, scores 0 with the status *uses the reference implementation*.

**Resilience.** A cell that runs past ``--cell-timeout`` is interrupted and the
next cells run; one that defeats the interruption, crashes the runner or
exhausts its memory is skipped on a replay in a new runner. Each call of an
answer has ``--call-timeout``; each submission ``--timeout`` seconds in all.

**Files.** Submissions are read once into memory, hashed, never opened for
writing; after the batch every original is hashed again and the report says
if one changed. A runner can write only inside its own scratch folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import assignment as _assignment
from . import report as _report
from .grader import Options, Row, SubmissionResult, grade_submission
from .session import Limits, Zygote

__all__ = ["Limits", "Options", "Row", "SubmissionResult", "grade"]


def grade(
    submissions,
    report: str | Path,
    *,
    json_report: str | Path | None = None,
    feedback: str | Path | None = None,
    assignment=None,
    limits: Limits | None = None,
    jobs: int | None = None,
    sandbox: str | None = None,
    progress=None,
) -> list[SubmissionResult]:
    """Grade each submission; write the CSV report (and JSON and feedback files if asked); return the results.

    ``assignment`` is an :class:`~.assignment.Assignment`, the path of a TOML
    file, or None for the course's own exercises. ``progress`` receives one
    line per message (default: stderr, with a bar on a terminal).
    """
    if assignment is None or isinstance(assignment, str | Path):
        assignment = _assignment.load(assignment)
    limits = limits or Limits()
    paths = [Path(p) for p in submissions]
    bar = _report.Progress(len(paths), emit=progress)
    originals: dict[Path, bytes | None] = {}
    for p in paths:
        try:
            originals[p] = p.read_bytes()
        except OSError as exc:
            originals[p] = None
            bar.message(f"cannot read {p}: {exc.strerror}")
    digests = {p: hashlib.sha256(b).hexdigest() for p, b in originals.items() if b is not None}
    jobs = max(1, jobs or min(4, os.cpu_count() or 1))
    root = Path(tempfile.mkdtemp(prefix="emkit-grade-"))
    options = None
    try:
        from . import sandbox as sb

        if sandbox == "bwrap":
            sb.check_bwrap(root / "probe")
        options = Options(
            limits=limits, sandbox=sandbox, scratch_root=root, mpl_cache=sb.matplotlib_cache(root / "mpl")
        )
        if sandbox is None:  # one process loads everything once and forks a runner per submission
            zygote_env = sb.prepare_scratch(root / "zygote", options.mpl_cache)
            options.zygote = Zygote(sb.EMKIT_DIR, sb.PRELOAD_ONCE, zygote_env, warm=sb.WARM)
        bar.message(f"grading {len(paths)} submission(s), {jobs} at a time ({assignment.name}) ...")
        lock = threading.Lock()

        def one(n: int, p: Path) -> SubmissionResult:
            data = originals[p]
            if data is None:
                r = SubmissionResult(p.stem, p.name, "could not be read", graded=False)
                r.rows.append(Row(p.stem, p.name, "-", 0.0, 0.0, "0/0", r.status, ""))
            else:
                try:
                    r = grade_submission(p.name, data, assignment, options, root / f"sub-{n}")
                except Exception as exc:  # noqa: BLE001 - a bug here must not lose the batch
                    r = SubmissionResult(
                        p.stem, p.name, f"could not be graded: internal error {type(exc).__name__}: {exc}", graded=False
                    )
                    r.rows.append(Row(p.stem, p.name, "-", 0.0, 0.0, "0/0", r.status, ""))
                finally:
                    shutil.rmtree(root / f"sub-{n}", ignore_errors=True)
            with lock:
                bar.step(r)
            return r

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, range(1, len(paths) + 1), paths))
    finally:
        if options is not None and options.zygote is not None:
            options.zygote.close()
        shutil.rmtree(root, ignore_errors=True)
    for p, digest in digests.items():
        now = hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
        if now != digest:
            what = "vanished" if now is None else "changed"
            backup = Path(report).parent / f"{Path(report).stem}.originals" / p.name
            backup.parent.mkdir(parents=True, exist_ok=True)
            backup.write_bytes(originals[p])
            bar.message(f"WARNING: {p} {what} during grading; its original is saved as {backup}")
            for r in results:
                if r.submission == p.name:
                    r.notes.append(f"WARNING: the file {what} during grading (original saved)")
    _report.write_csv(results, Path(report))
    if json_report:
        _report.write_json(results, Path(json_report), assignment.name)
    if feedback:
        _report.write_feedback(results, Path(feedback), assignment.name)
    bar.message(_report.summary_table(results))
    return results
