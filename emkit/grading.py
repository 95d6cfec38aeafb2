"""Grade a folder of submitted notebooks: ``emkit grade SUBMISSION.ipynb... --report grades.csv``.

For each submission, in order:

1. Its bytes are read once and hashed. The original is never opened for
   writing, moved or renamed; grading works on a scratch copy.
2. The copy is executed top to bottom in its own worker process with its own
   Jupyter kernel, in a fresh temporary folder (also its ``HOME``), under a
   wall-clock limit. On a timeout the worker and its kernel are killed.
   Errors in student cells do not stop the run.
3. A collector cell appended at the end runs the checks of :mod:`emkit.check`
   on the named answers, in the kernel, and prints the results between
   markers carrying a random nonce made for this run only. Symbolic answers
   are also sent back as text and checked again in the grader's own process
   with the whitelist parser (:mod:`emkit.parse`).
4. Malformed JSON, a crash, a hang or a flood of output becomes a row in the
   report that says so; grading goes on with the next submission.
5. After the last one, every original is hashed again. If one changed or
   vanished (code in some submission can reach the file system), the report
   says so and the original bytes, kept in memory, are written next to the
   report.

**Isolation given:** separate processes, a scratch folder and home per
notebook, time limits, originals kept in memory. **Not given:** a submission
is arbitrary code running as your user; it can read and write anything you
can, use the network, and with enough effort forge its own results in the
kernel. For exams, run the grader inside a container with no network and the
submissions mounted read-only (see the README).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

# question id -> (answer name in the notebook, check function name, kind)
QUESTIONS = {
    "01_kmeans": [
        ("01-assign", "assign_step", "kmeans_assign", "function"),
        ("01-update", "update_step", "kmeans_update", "function"),
    ],
    "02_soft_assignment": [
        ("02-responsibilities", "responsibilities", "responsibilities", "function"),
        ("02-weighted-means", "weighted_means", "weighted_means", "function"),
    ],
    "03_em_algorithm": [
        ("03-missing-e-step", "conditional_x2", "missing_conditional", "function"),
        ("03-q-value", "q_value", "q_value", "function"),
    ],
    "04_gmm_exercise": [
        ("04-q", "q_answer", "q_function", "symbolic"),
        ("04-tau", "tau_answer", "tau_update", "symbolic"),
        ("04-mu", "mu_answer", "mu_update", "symbolic"),
        ("04-sigma", "sigma_answer", "sigma_update", "symbolic"),
        ("04-e-step", "e_step", "e_step", "function"),
        ("04-m-step", "m_step", "m_step", "function"),
    ],
}

MAX_FEEDBACK_CHARS = 2000


@dataclass
class Row:
    """One line of the report: one student, one question."""

    student: str
    submission: str
    question: str
    score: float
    passed_parts: str
    status: str
    feedback: str


@dataclass
class SubmissionResult:
    student: str
    submission: str
    status: str
    seconds: float
    rows: list[Row] = field(default_factory=list)


def questions_for(nb_json: dict, name: str) -> list[tuple]:
    """The questions a notebook answers: from its metadata, else its file name, else the answer names it defines."""
    source = (nb_json.get("metadata", {}).get("emkit") or {}).get("source")
    for key in (source, *[k for k in QUESTIONS if k in name]):
        if key in QUESTIONS:
            return QUESTIONS[key]
    code = "\n".join("".join(c.get("source", "")) for c in nb_json.get("cells", []) if c.get("cell_type") == "code")
    return [q for qs in QUESTIONS.values() for q in qs if q[1] in code]


def _collector_source(questions, nonce: str) -> str:
    spec = [(qid, answer, check_name, kind) for qid, answer, check_name, kind in questions]
    return f"""
import json as _emkit_json
from emkit.grading import collect as _emkit_collect
print("EMKIT-BEGIN-{nonce}" + _emkit_json.dumps(_emkit_collect(globals(), {spec!r})) + "EMKIT-END-{nonce}")
"""


def collect(namespace: dict, questions) -> dict:
    """Run in the submission's kernel: check each named answer, return plain data."""
    import sympy as sp

    from . import check

    out = {}
    for qid, answer_name, check_name, kind in questions:
        if answer_name not in namespace:
            out[qid] = {"status": "missing", "feedback": f"no {answer_name!r} is defined in the notebook"}
            continue
        answer = namespace[answer_name]
        try:
            result = getattr(check, check_name)(answer)
        except Exception as exc:  # noqa: BLE001 - a check must never take the grader down
            out[qid] = {"status": "check error", "feedback": f"{type(exc).__name__}: {exc}"}
            continue
        entry = {
            "status": "answered" if result.answered else "not answered",
            "score": result.score,
            "passed_parts": f"{sum(p.passed for p in result.parts)}/{len(result.parts)}",
            "feedback": str(result),
        }
        if kind == "symbolic" and isinstance(answer, sp.Expr):
            entry["text"] = sp.sstr(answer)
        out[qid] = entry
    return out


def _kill_tree(pid: int) -> None:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ipykernel
        os.kill(pid, 9)
        return
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    for proc in [*parent.children(recursive=True), parent]:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def _run_worker(nb_bytes: bytes, questions, timeout: float) -> tuple[str, dict]:
    """Execute a scratch copy in a worker process; return (status, answers)."""
    nonce = secrets.token_hex(16)
    scratch = Path(tempfile.mkdtemp(prefix="emkit-grade-"))
    try:
        work = scratch / "work"
        work.mkdir()
        (work / "submission.ipynb").write_bytes(nb_bytes)
        (scratch / "collector.py").write_text(_collector_source(questions, nonce), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("JPY_")}
        env.update({"HOME": str(work), "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"})
        log = open(scratch / "worker.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "emkit.grading",
                "worker",
                str(work / "submission.ipynb"),
                str(scratch / "collector.py"),
                str(scratch / "result.json"),
                str(timeout),
            ],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=timeout + 30)
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            proc.wait()
            return f"timed out after {timeout:g} s", {}
        finally:
            log.close()
        result_path = scratch / "result.json"
        if not result_path.exists():
            tail = (scratch / "worker.log").read_bytes()[-600:].decode("utf-8", "replace")
            return f"crashed (worker exit code {proc.returncode}): {tail.strip()[-300:]}", {}
        result = json.loads(result_path.read_text(encoding="utf-8"))
        text = result.get("collector_output", "")
        begin, end = f"EMKIT-BEGIN-{nonce}", f"EMKIT-END-{nonce}"
        if begin not in text or end not in text:
            return result.get("status", "the checks did not run") or "the checks did not run", {}
        answers = json.loads(text[text.index(begin) + len(begin) : text.index(end)])
        return result.get("status", "ok"), answers
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def worker(nb_path: str, collector_path: str, result_path: str, timeout: str) -> int:
    """Run inside the worker process: execute the notebook, then the collector cell."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    status = "ok"
    try:
        nb = nbformat.reads(Path(nb_path).read_text(encoding="utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001
        Path(result_path).write_text(json.dumps({"status": f"malformed notebook: {exc}"[:300]}))
        return 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nb.cells.append(nbformat.v4.new_code_cell(Path(collector_path).read_text(encoding="utf-8")))
    client = NotebookClient(
        nb,
        timeout=float(timeout),
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(Path(nb_path).parent)}},
        record_timing=False,
    )
    errors = []
    try:
        client.execute()
    except CellTimeoutError:
        status = f"timed out after {float(timeout):g} s in one cell"
    except DeadKernelError:
        status = "the kernel died (the notebook crashed it)"
    except Exception as exc:  # noqa: BLE001
        status = f"execution failed: {type(exc).__name__}: {exc}"[:300]
    for cell in nb.cells[:-1]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"{out.get('ename')}: {out.get('evalue')}"[:200])
    collector_output = "".join(
        o.get("text", "") for o in nb.cells[-1].get("outputs", []) if o.get("output_type") == "stream"
    )
    if status == "ok" and errors:
        status = f"ran with {len(errors)} cell error(s), first: {errors[0]}"
    Path(result_path).write_text(json.dumps({"status": status, "collector_output": collector_output}))
    return 0


def _recheck_symbolic(qid, check_name, entry) -> dict:
    """Check a symbolic answer again in this process, from its text, with the whitelist parser."""
    from . import check

    text = entry.get("text")
    if text is None:
        return entry
    result = getattr(check, check_name)(text)
    if result.score != entry.get("score"):
        entry = dict(entry)
        entry["feedback"] = f"[re-checked by the grader] {result}"
        entry["score"] = result.score
        entry["passed_parts"] = f"{sum(p.passed for p in result.parts)}/{len(result.parts)}"
    return entry


def grade_one(path: Path, nb_bytes: bytes, timeout: float) -> SubmissionResult:
    student = path.stem
    start = time.perf_counter()
    try:
        nb_json = json.loads(nb_bytes.decode("utf-8"))
        if not isinstance(nb_json, dict) or "cells" not in nb_json:
            raise ValueError("no 'cells': not a notebook")
        import nbformat

        nbformat.reads(nb_bytes.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001
        status = f"malformed notebook: {exc}"[:300]
        return SubmissionResult(
            student,
            path.name,
            status,
            time.perf_counter() - start,
            [Row(student, path.name, "-", 0.0, "0/0", status, "")],
        )
    questions = questions_for(nb_json, path.name)
    if not questions:
        status = "no known exercise found in this notebook"
        return SubmissionResult(
            student,
            path.name,
            status,
            time.perf_counter() - start,
            [Row(student, path.name, "-", 0.0, "0/0", status, "")],
        )
    status, answers = _run_worker(nb_bytes, questions, timeout)
    rows = []
    for qid, _answer_name, check_name, kind in questions:
        entry = answers.get(qid)
        if entry is None:
            rows.append(Row(student, path.name, qid, 0.0, "0/0", status, "not graded: " + status))
            continue
        if kind == "symbolic":
            entry = _recheck_symbolic(qid, check_name, entry)
        rows.append(
            Row(
                student,
                path.name,
                qid,
                float(entry.get("score", 0.0)),
                entry.get("passed_parts", "0/0"),
                entry.get("status", status),
                str(entry.get("feedback", ""))[:MAX_FEEDBACK_CHARS],
            )
        )
    return SubmissionResult(student, path.name, status, time.perf_counter() - start, rows)


def grade(
    submissions,
    report: str | Path,
    *,
    json_report: str | Path | None = None,
    timeout: float = 120.0,
    jobs: int | None = None,
    progress=None,
) -> list[SubmissionResult]:
    """Grade each submission; write a CSV report (and JSON, if asked); return the results.

    ``jobs`` submissions are graded at once, each in its own worker process and
    kernel (default: the number of cores, at most 4). Every original is read
    into memory first, so grading never depends on the file staying put.
    """
    from concurrent.futures import ThreadPoolExecutor

    progress = progress or (lambda message: print(message, file=sys.stderr, flush=True))
    paths = [Path(p) for p in submissions]
    originals = {}
    for p in paths:
        try:
            originals[p] = p.read_bytes()
        except OSError as exc:
            originals[p] = None
            progress(f"cannot read {p}: {exc}")
    digests = {p: hashlib.sha256(b).hexdigest() for p, b in originals.items() if b is not None}

    def one(n, p):
        if originals[p] is None:
            status = "could not be read"
            return SubmissionResult(p.stem, p.name, status, 0.0, [Row(p.stem, p.name, "-", 0.0, "0/0", status, "")])
        result = grade_one(p, originals[p], timeout)
        score = sum(r.score for r in result.rows)
        progress(
            f"[{n}/{len(paths)}] {p.name}: {score:.2f} / {len(result.rows)} ({result.status}, {result.seconds:.1f} s)"
        )
        return result

    jobs = jobs or min(4, os.cpu_count() or 1)
    progress(f"grading {len(paths)} submission(s), {jobs} at a time ...")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, range(1, len(paths) + 1), paths))
    report = Path(report)
    tampered = []
    for p, digest in digests.items():
        now = hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
        if now != digest:
            tampered.append(p)
            backup = report.parent / f"{report.stem}.originals" / p.name
            backup.parent.mkdir(parents=True, exist_ok=True)
            backup.write_bytes(originals[p])
            progress(
                f"WARNING: {p} {'vanished' if now is None else 'changed'} during grading; "
                f"its original is saved as {backup}"
            )
            for r in results:
                for row in r.rows:
                    if row.submission == p.name:
                        row.status += f" | WARNING: the file {'vanished' if now is None else 'changed'} during grading"
    _write_reports(results, report, json_report)
    progress(summary_table(results))
    return results


def _write_reports(results, report: Path, json_report) -> None:
    rows = [asdict(row) for r in results for row in r.rows]
    report.parent.mkdir(parents=True, exist_ok=True)
    with open(report, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(Row.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(rows)
    if json_report:
        Path(json_report).write_text(
            json.dumps(
                [
                    {
                        "student": r.student,
                        "submission": r.submission,
                        "status": r.status,
                        "seconds": round(r.seconds, 2),
                        "questions": [asdict(row) for row in r.rows],
                    }
                    for r in results
                ],
                indent=2,
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )


def summary_table(results) -> str:
    lines = ["", f"{'student':24s} {'score':>7s} {'of':>3s}  status"]
    for r in results:
        score = sum(row.score for row in r.rows)
        lines.append(f"{r.student[:24]:24s} {score:7.2f} {len(r.rows):3d}  {r.status[:70]}")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "worker":
        sys.exit(worker(*sys.argv[2:]))
    print("internal entry point of emkit grade; use: emkit grade SUBMISSION.ipynb... --report grades.csv")
    sys.exit(2)
