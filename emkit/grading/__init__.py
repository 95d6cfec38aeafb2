"""``emkit grade``: grades that no submission can forge, from a batch that always ends with its report.

::

    emkit grade submissions/*.ipynb --report out/grades.csv [--json out/grades.json]
                [--feedback out/feedback] [--assignment hw.toml] [--jobs 2]
                [--cell-timeout 60] [--call-timeout 10] [--timeout 600] [--memory 2048]
                [--no-sandbox]

**The wall.** Every submission's cells run in a separate process (the
*runner*, :mod:`.runner`) inside an OS sandbox of its own (:mod:`.sandbox`):
its own user, mount, PID, network and IPC namespaces; a read-only system; no
network; nothing of other submissions, the report or the grader's folders
visible; its own scratch folder the only writable place; killed, with
everything it started, when its submission ends. The grader refuses to run
if the sandbox cannot start (``--no-sandbox`` grades without it, for
notebooks you trust, and every report line says so).

**The trust boundary.** The score is computed only in processes of the
grader's own: the grader calls each answer function in the runner on inputs
it makes itself from fresh random seeds and gets back plain data (JSON
numbers, ``.npy`` read with ``allow_pickle=False``, answer text for the
whitelist parser); the same checks a learner sees (:mod:`emkit.check`) then
score it in a check worker of the grader's (:mod:`.checker`), under a time
and a memory limit per question. Nothing a submission prints, writes,
patches or imports changes a score, except through the values its own
answers return. (The learner's self-checks in the notebook do not run while
grading.)

**The reference implementation.** Each question lists the emkit functions
that compute its answer (:data:`emkit.check.EXERCISES`, or the assignment
file). In the runner those functions do not exist (:mod:`.guard`); an
answer that tried to use one scores 0 with the status *uses the reference
implementation*.

**Resilience.** A cell that runs past ``--cell-timeout`` is interrupted and the
next cells run; one that defeats the interruption, crashes the runner or
exhausts its memory is skipped on a replay in a new runner. A cell never
gets more than what is left of the submission's ``--timeout``, minus a
reserve for calling the answers. Each call of an answer has
``--call-timeout``.

**Files.** Only regular files are read (a FIFO, folder or device named like
a notebook gets a status row), at most 100 MB each, with a time limit; each
is hashed, never opened for writing, and hashed again after the batch.
After each submission the CSV and JSON reports are rewritten (write, then
rename), so a crash late in a batch loses nothing already graded; the JSON
carries the CSV's SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import assignment as _assignment
from . import report as _report
from .grader import CheckerPool, Options, Row, SubmissionResult, ZygotePool, grade_submission
from .sandbox import SandboxUnavailable
from .session import Limits

__all__ = ["Limits", "Options", "Row", "SandboxUnavailable", "SubmissionResult", "grade", "read_submission"]

MAX_SUBMISSION_BYTES = 100 * 1024 * 1024
READ_TIMEOUT = 30.0


def read_submission(path: Path, cap: int = MAX_SUBMISSION_BYTES, timeout: float = READ_TIMEOUT) -> bytes | str:
    """The bytes of a submitted file, or the reason it cannot be read (never blocks, never follows into a device).

    The file is opened without waiting (``O_NONBLOCK``: a FIFO would
    otherwise wait for a writer forever), must be a regular file of at most
    ``cap`` bytes, and is read within ``timeout`` seconds.
    """
    box: dict = {}

    def work():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            box["error"] = f"cannot be opened: {exc.strerror}"
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = (
                    "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a folder" if stat.S_ISDIR(st.st_mode)
                    else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                    else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file"
                )  # fmt: skip
                box["error"] = f"is {kind}, not a notebook file: not read"
                return
            if st.st_size > cap:
                box["error"] = f"is {st.st_size / 2**20:.0f} MB, more than the {cap // 2**20} MB read"
                return
            chunks, total = [], 0
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > cap:
                    box["error"] = f"grew past the {cap // 2**20} MB read while it was being read"
                    return
                chunks.append(chunk)
            box["data"] = b"".join(chunks)
        except OSError as exc:
            box["error"] = f"cannot be read: {exc.strerror}"
        finally:
            os.close(fd)

    reader = threading.Thread(target=work, daemon=True)
    reader.start()
    reader.join(timeout)
    if reader.is_alive():
        return f"could not be read within {timeout:g} s"
    return box.get("data", box.get("error", "cannot be read"))


def grade(
    submissions,
    report: str | Path,
    *,
    json_report: str | Path | None = None,
    feedback: str | Path | None = None,
    assignment=None,
    limits: Limits | None = None,
    jobs: int | None = None,
    sandbox: bool = True,
    progress=None,
) -> list[SubmissionResult]:
    """Grade each submission; write the CSV report (and JSON and feedback files if asked); return the results.

    ``assignment`` is an :class:`~.assignment.Assignment`, the path of a TOML
    file, or None for the course's own exercises. ``sandbox=False`` grades
    without the OS sandbox (only for notebooks you trust; the reports say
    so). Raises :class:`SandboxUnavailable` (before reading anything) when
    the sandbox cannot start here. ``progress`` receives one line per
    message (default: stderr, with a bar on a terminal).
    """
    if assignment is None or isinstance(assignment, str | Path):
        assignment = _assignment.load(assignment)
    limits = limits or Limits()
    paths = [Path(p) for p in submissions]
    bar = _report.Progress(len(paths), emit=progress)
    root = Path(tempfile.mkdtemp(prefix="emkit-grade-"))
    options = None
    mode = "bubblewrap" if sandbox else "NONE (--no-sandbox)"
    writer = _report.Writer(
        Path(report), Path(json_report) if json_report else None, Path(feedback) if feedback else None,
        assignment, mode,
    )  # fmt: skip
    try:
        from . import sandbox as sb

        if sandbox:
            try:
                sb.probe(root)
            except SandboxUnavailable as exc:
                raise SandboxUnavailable(sb.explain_unavailable(exc)) from None
        else:
            bar.message(
                "WARNING: grading WITHOUT the OS sandbox (--no-sandbox): a submission can read and change files, "
                "reach the network and interfere with other submissions and with this report. Use this only for "
                "notebooks you trust; every report line says so."
            )
        originals: dict[Path, bytes | str] = {p: read_submission(p) for p in paths}
        digests = {p: hashlib.sha256(b).hexdigest() for p, b in originals.items() if isinstance(b, bytes)}
        jobs = max(1, jobs or min(4, os.cpu_count() or 1))
        options = Options(
            limits=limits, sandboxed=sandbox, scratch_root=root, mpl_cache=sb.matplotlib_cache(root / "mpl")
        )
        options.zygotes = ZygotePool(sb.prepare_scratch(root / "zygote", options.mpl_cache), root)
        options.checkers = CheckerPool(limits.check_memory_mb)
        from . import cgroups

        try:
            options.cgroups = cgroups.Batch()
        except OSError as exc:
            bar.message(
                f"NOTE: {exc}: each submission's time limits hold, but one that starts many busy processes can "
                "slow the others down"
            )
        how = "each in its own sandbox" if sandbox else "WITHOUT a sandbox"
        bar.message(f"grading {len(paths)} submission(s), {jobs} at a time, {how} ({assignment.name}) ...")
        lock = threading.Lock()
        results: list[SubmissionResult | None] = [None] * len(paths)

        def one(n: int, p: Path) -> SubmissionResult:
            data = originals[p]
            if isinstance(data, str):
                r = SubmissionResult(p.stem, p.name, f"could not be read: the file {data}", graded=False)
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
            if not sandbox:
                r.notes.insert(
                    0, "graded WITHOUT the OS sandbox (--no-sandbox): this grade is only as safe as the notebook"
                )
            with lock:
                results[n] = r
                try:
                    writer.write([x for x in results if x is not None])  # what is graded is on disk at once
                except OSError as exc:  # a full disk, say: keep grading; the final write says if it still fails
                    bar.message(f"WARNING: the reports could not be written just now ({exc.strerror})")
                bar.step(r)
            return r

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, range(len(paths)), paths))
    finally:
        if options is not None:
            if options.zygotes is not None:
                options.zygotes.close()
            if options.checkers is not None:
                options.checkers.close()
            if options.cgroups is not None:
                options.cgroups.close()
        shutil.rmtree(root, ignore_errors=True)
    done = [r for r in results if r is not None]
    for p, digest in digests.items():
        now = read_submission(p)
        if not isinstance(now, bytes) or hashlib.sha256(now).hexdigest() != digest:
            what = "vanished or became unreadable" if not isinstance(now, bytes) else "changed"
            backup = Path(report).parent / f"{Path(report).stem}.originals" / p.name
            backup.parent.mkdir(parents=True, exist_ok=True)
            backup.write_bytes(originals[p])
            bar.message(f"WARNING: {p} {what} during grading; its original is saved as {backup}")
            for r in done:
                if r.submission == p.name:
                    r.notes.append(f"WARNING: the file {what} during grading (original saved)")
    writer.write(done, final=True)
    bar.message(_report.summary_table(done))
    for line in _report.check_problems(done):
        bar.message(line)
    return done
