"""Grading throughput: ``emkit grade`` on 42 submissions of the course's seven exercise notebooks (01-07).

    .venv/bin/python benchmarks/grading.py                 # 42 submissions, --jobs 2, each in its sandbox
    .venv/bin/python benchmarks/grading.py --n 8 --jobs 1  # smaller
    .venv/bin/python benchmarks/grading.py --no-sandbox    # the unsafe mode, for comparison

The submissions are the course's student notebooks with answers filled in:
for each notebook, alternately the reference solutions (full marks) and the
same with one answer wrong (so the checks' slower, mistake-matching path runs
too). Reported: wall-clock seconds for the batch, seconds per submission
(batch time / number of submissions: the figure the goal of 2 s refers to),
and each submission's own time by notebook.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emkit import grading, notebook_tools  # noqa: E402

WRONG = {  # one wrong answer per notebook, written as a learner would
    "01_kmeans": ("argmin(axis=1)", "argmax(axis=1)"),
    "02_soft_assignment": ("/ Nk_K[:, None]", "/ len(X)"),
    "03_em_algorithm": ("s12**2 / s11", "s12 / s11"),
    "04_gmm_derivation": ("T2[i] * g.subs(Z1[i], 0)", "T2[i] * g.subs(Z1[i], 1)"),
    "05_gmm_numpy": ("/ Nk_K[k]", "/ (Nk_K[k] - 1)"),
    "06_em_deeper": ("prior_dof + D + 1)", "prior_dof + D)"),
    "07_hmm": ("log_alpha_prev_K[:, None] + log_trans_KK", "log_alpha_prev_K[None, :] + log_trans_KK"),
}


def submissions(folder: Path, n: int) -> list[Path]:
    sources = sorted((ROOT / "notebooks").glob("0[1-9]*.ipynb"))
    assert {s.stem for s in sources} == set(WRONG), "one wrong answer per exercise notebook"
    paths = []
    for k in range(n):
        source = sources[k % len(sources)]
        nb = notebook_tools.make_student(
            copy.deepcopy(nbformat.read(source, as_version=4)), source.stem, keep_solutions=True
        )
        if (k // len(sources)) % 2:
            old, new = WRONG[source.stem]
            for cell in nb.cells:
                if cell.metadata.get("emkit", {}).get("role") == "exercise" and old in cell.source:
                    cell.source = cell.source.replace(old, new)
                    break
            else:
                raise SystemExit(f"{source.name}: no exercise cell contains {old!r} (update WRONG)")
        path = folder / f"student{k:02d}_{source.stem}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=42)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-sandbox", action="store_true")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = submissions(folder, args.n)
        start = time.perf_counter()
        results = grading.grade(
            paths,
            folder / "grades.csv",
            jobs=args.jobs,
            sandbox=not args.no_sandbox,
            progress=lambda m: None,
        )
        wall = time.perf_counter() - start
    by_notebook: dict[str, list[float]] = {}
    for r in results:
        by_notebook.setdefault(r.submission.split("_", 1)[1], []).append(r.seconds)
    full = sum(r.points == r.max_points for r in results)
    mode = "none (--no-sandbox)" if args.no_sandbox else "bubblewrap"
    print(f"{args.n} submissions, --jobs {args.jobs}, sandbox {mode}: {wall:.1f} s in all, "
          f"{wall / args.n:.2f} s per submission; {full} with full marks, {args.n - full} with one slip")  # fmt: skip
    for name, times in sorted(by_notebook.items()):
        print(f"  {name:32s} median {statistics.median(times):5.1f} s per submission (n={len(times)})")


if __name__ == "__main__":
    main()
