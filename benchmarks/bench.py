"""emkit against scikit-learn, side by side in one process; widget redraws; notebook run times.

    .venv/bin/python benchmarks/bench.py            # everything (several minutes)
    .venv/bin/python benchmarks/bench.py --quick    # the two smallest cases of each kind
    .venv/bin/python benchmarks/bench.py --moderate # every kind of case, at most 300,000 points
    .venv/bin/python benchmarks/bench.py --only gmm|kmeans|assign|widgets|notebooks [...]
    .venv/bin/python benchmarks/bench.py --only gmm kmeans --json benchmarks/results/NAME.json

With ``--json PATH`` every number printed is also written to PATH, with the
machine it was measured on; the course website draws its performance plots
from the newest such file in ``benchmarks/results/`` (``docs/performance.md``).

Method. Both libraries start from the same parameters with tol=0 and a fixed
number of iterations (T per case; three times as many for the cheaper diag
covariances). Each timing runs the fit with T+1 iterations and with 1
iteration; per-iteration time = (t(T+1) - t(1)) / T, so initialisation,
validation and the final E-step cancel. Runs alternate A B A B after a
warm-up, and the median of REPEATS is reported. Peak memory is measured
separately with tracemalloc (numpy reports its allocations to it).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emkit import datasets, gmm, kmeans  # noqa: E402

REPEATS = 5
# set these to limit BLAS and OpenMP threads (on a busy machine, spinning BLAS threads can cost more than they give)
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
ROOT = Path(__file__).resolve().parents[1]
RESULTS: dict = {}  # what --json writes: one list of rows per section, plus the machine


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    import sklearn

    blas = "unknown BLAS"
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]["name"]
    except Exception:  # noqa: BLE001
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, numpy {np.__version__} ({blas}), "
        f"scikit-learn {sklearn.__version__}"
    )


def _load_average() -> list[float] | None:
    """The system's 1, 5 and 15 minute load averages (None where the OS does not say)."""
    import os

    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def matmul_gflops() -> float:
    a = np.random.default_rng(0).standard_normal((2000, 2000))
    a @ a
    times = []
    for _ in range(5):
        t = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t)
    return 2 * 2000**3 / min(times) / 1e9


def make_data(N, D, K, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(K, D)) * 3
    X = centres[rng.integers(0, K, N)] + rng.normal(size=(N, D))
    return X, centres


def start_params(X, centres, covariance_type):
    K, D = centres.shape
    weights = np.full(K, 1.0 / K)
    means = centres + 0.5
    cov = {"full": np.stack([np.eye(D) * 1.5] * K), "diag": np.full((K, D), 1.5)}[covariance_type]
    prec = {"full": np.stack([np.eye(D) / 1.5] * K), "diag": np.full((K, D), 1 / 1.5)}[covariance_type]
    return weights, means, cov, prec


def timed(fn, repeats=REPEATS):
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def per_iteration(run_a, run_b, T):
    """Alternate A B A B; return median per-iteration seconds for each."""
    run_a(1), run_b(1), run_a(T + 1), run_b(T + 1)  # warm-up
    a1, b1, aT, bT = [], [], [], []
    for _ in range(REPEATS):
        for store, run, n in ((a1, run_a, 1), (b1, run_b, 1), (aT, run_a, T + 1), (bT, run_b, T + 1)):
            t = time.perf_counter()
            run(n)
            store.append(time.perf_counter() - t)
    return (statistics.median(aT) - statistics.median(a1)) / T, (statistics.median(bT) - statistics.median(b1)) / T


def peak_mib(fn) -> float:
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def bench_gmm(cases, flops_rate):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    warnings.simplefilter("ignore", ConvergenceWarning)
    print("\nGaussian mixture, per iteration (E-step + M-step), median of", REPEATS)
    print(
        f"{'N':>9} {'D':>3} {'K':>3} {'cov':>5} | {'emkit ms':>9} {'sklearn ms':>10} {'speed-up':>8} | "
        f"{'GFLOP/s':>8} {'of GEMM':>7} | {'max rel Δ loglik':>16} | {'peak MiB emkit / sklearn':>25}"
    )
    for N, D, K, T in cases:
        X, centres = make_data(N, D, K)
        data_mib = X.nbytes / 2**20
        for ct in ("full", "diag"):
            w, m, c, p = start_params(X, centres, ct)

            def ours(n, X=X, K=K, ct=ct, w=w, m=m, c=c):
                return gmm.fit(X, K, covariance_type=ct, init=(w, m, c), max_iter=n, tol=0)

            def theirs(n, X=X, K=K, ct=ct, w=w, m=m, p=p):
                return GaussianMixture(
                    K,
                    covariance_type=ct,
                    weights_init=w,
                    means_init=m,
                    precisions_init=p,
                    init_params="random",
                    max_iter=n,
                    tol=0,
                ).fit(X)

            # diag iterations are ~10x cheaper: more of them, so t(T+1) - t(1) is not lost in timing noise
            T_ct = T if ct == "full" else 3 * T
            t_ours, t_theirs = per_iteration(ours, theirs, T_ct)
            a, b = ours(T + 1), theirs(T + 1)
            ll_a = np.array(a.history["log_likelihood"][: T + 1]) / N
            ll_b = np.array(b.lower_bounds_)
            rel = float(np.max(np.abs(ll_a - ll_b) / np.abs(ll_b)))
            gflops = ""
            if ct == "full":
                g = 4 * N * K * D * D / t_ours / 1e9
                gflops = f"{g:8.2f} {g / flops_rate:7.1%}"
            else:
                gflops = f"{'':8} {'':7}"
            peaks = peak_mib(lambda: ours(3)), peak_mib(lambda: theirs(3))
            mem = f"{peaks[0]:8.0f} / {peaks[1]:<8.0f} (data {data_mib:.0f})"
            RESULTS.setdefault("gmm", []).append(
                {
                    "N": N, "D": D, "K": K, "covariance_type": ct, "iterations": T_ct,
                    "emkit_ms": t_ours * 1e3, "sklearn_ms": t_theirs * 1e3, "speedup": t_theirs / t_ours,
                    "max_rel_loglik_difference": rel,
                    "peak_mib_emkit": peaks[0], "peak_mib_sklearn": peaks[1], "data_mib": data_mib,
                }
            )  # fmt: skip
            print(
                f"{N:9d} {D:3d} {K:3d} {ct:>5} | {t_ours * 1e3:9.2f} {t_theirs * 1e3:10.2f} "
                f"{t_theirs / t_ours:7.2f}x | {gflops} | {rel:16.1e} | {mem:>25}",
                flush=True,
            )


def bench_kmeans(cases):
    """Lloyd per iteration on uniform data (no clusters, so neither side stops early).

    The speed column is scikit-learn's time over emkit's: 1.00x means as fast, 0.67x means emkit
    takes 1.5 times as long. scikit-learn runs with its default threads and with one thread
    (threadpoolctl), since its Lloyd is multi-threaded C and emkit's is numpy alone.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    print("\nk-means (Lloyd), per iteration (assign + update), median of", REPEATS)
    print(
        f"{'N':>9} {'D':>3} {'K':>3} | {'emkit ms':>9} {'sklearn ms':>10} {'speed':>7} | "
        f"{'sklearn 1-thread ms':>19} {'speed':>7} | {'ms per 100k points':>18}"
    )
    for N, D, K, T in cases:
        rng = np.random.default_rng(1)
        X = rng.uniform(size=(N, D))  # no clusters: Lloyd keeps moving, so no early stop
        init = X[rng.choice(N, K, replace=False)]

        def ours(n, X=X, K=K, init=init):
            return kmeans.fit(X, K, init=init, max_iter=n, tol=0)

        def theirs(n, X=X, K=K, init=init):
            return KMeans(K, init=init, n_init=1, algorithm="lloyd", max_iter=n, tol=0).fit(X)

        def theirs_1(n):
            with threadpool_limits(1):
                return theirs(n)

        t_ours, t_theirs = per_iteration(ours, theirs, T)
        _, t_theirs_1 = per_iteration(ours, theirs_1, T)
        assert ours(T + 1).n_iter == theirs(T + 1).n_iter_ == T + 1, "a run stopped early"
        RESULTS.setdefault("kmeans", []).append(
            {
                "N": N, "D": D, "K": K, "iterations": T,
                "emkit_ms": t_ours * 1e3, "sklearn_ms": t_theirs * 1e3, "sklearn_1thread_ms": t_theirs_1 * 1e3,
            }
        )  # fmt: skip
        print(
            f"{N:9d} {D:3d} {K:3d} | {t_ours * 1e3:9.2f} {t_theirs * 1e3:10.2f} {t_theirs / t_ours:6.2f}x | "
            f"{t_theirs_1 * 1e3:19.2f} {t_theirs_1 / t_ours:6.2f}x | {t_ours * 1e3 * 1e5 / N:18.2f}",
            flush=True,
        )


ASSIGN_PROCESSES = 6


def _assign_one_process(variant: str) -> None:
    """In a fresh process: the median ms of a pass of the assignment, emkit's or with 1 MiB products (one per process,
    so that OpenBLAS's threads, once woken by the second, cannot slow the first)."""
    from emkit import kmeans as km
    from emkit._core import Prepared

    rng = np.random.default_rng(1)
    N, D, K = 300_000, 10, 20
    prep = Prepared(rng.uniform(size=(N, D)))
    centers = [prep.Xc_ND[rng.choice(N, K, replace=False)] for _ in range(5)]
    if variant == "large":  # emkit's own loop, with blocks of 6,553 rows: one 1 MiB product each, threaded by OpenBLAS
        km.MIN_BLOCK_ROWS = km.block_rows(K)

    def run(C):
        return km._assign(prep, C)[0]

    assert np.array_equal(run(centers[0]), kmeans_reference_labels(prep.Xc_ND, centers[0]))
    times = []
    for r in range(20):
        t = time.perf_counter()
        run(centers[r % 5])
        times.append(time.perf_counter() - t)
    print(f"{statistics.median(times) * 1e3:.2f}")


def kmeans_reference_labels(X_ND, C_KD):
    """Nearest centres the plain way, a block at a time: the check that both variants compute the same labels."""
    return np.concatenate(
        [((X_ND[i : i + 10_000, None, :] - C_KD[None]) ** 2).sum(-1).argmin(1) for i in range(0, len(X_ND), 10_000)]
    )


def bench_assign():
    """The assignment step's matrix products: emkit's (small enough that OpenBLAS runs them in the calling
    thread) against one product per 1 MiB block (which OpenBLAS splits over its threads), each process fresh:
    on a small virtual machine the second is fast in some processes and slow in others."""
    print(
        f"\nk-means assignment, a pass over N = 300,000, D = 10, K = 20, median ms, {ASSIGN_PROCESSES} fresh processes"
    )
    print(f"{'round':>8} | {'emkit (products in this thread)':>32} | {'1 MiB products (OpenBLAS threads)':>34}")
    for i in range(ASSIGN_PROCESSES):
        ms = [
            subprocess.run(
                [sys.executable, __file__, "--assign-process", variant], capture_output=True, text=True, check=True
            ).stdout.strip()
            for variant in ("emkit", "large")
        ]
        print(f"{i + 1:8d} | {float(ms[0]):32.2f} | {float(ms[1]):34.2f}", flush=True)
        RESULTS.setdefault("assign", []).append({"process": i + 1, "emkit_ms": float(ms[0]), "large_ms": float(ms[1])})


def bench_widgets():
    """A viewer's frame: its step drawn into the kept figure (blitting) and encoded, against a full redraw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emkit import widgets

    X, _ = datasets.sample_gaussian_mixture(2000, [0.3, 0.3, 0.4], [[0, 0], [4, 1], [1, 4]], [np.eye(2)] * 3, seed=0)
    km = kmeans.fit(X, 3, seed=0)
    gm = gmm.fit(X, 3, seed=0, record_params=True, tol=1e-8)
    makers = [
        ("k-means half-step", lambda: widgets.kmeans_stepper(X, km.history)),
        ("soft assignment (β)", lambda: widgets.soft_assignment_slider(X, km.centers)),
        ("mixture E/M half-step", lambda: widgets.gmm_stepper(X, gm.history)),
    ]
    fig, ax = plt.subplots(figsize=(7.5, 5.5), dpi=80)
    fig2, axes = plt.subplots(1, 2, figsize=(12, 5), dpi=80)
    full_draws = [
        lambda: (widgets.draw_kmeans_step(ax, X, km.history, 3), widgets.png_bytes(fig)),
        lambda: (widgets.draw_soft_assignment(ax, X, km.centers, 1.0), widgets.png_bytes(fig)),
        lambda: (widgets.draw_gmm_step(axes, X, gm.history, 3), widgets.png_bytes(fig2)),
    ]
    print("\nViewer frame for 2,000 points, median ms over its steps: the step drawn into the kept figure and")
    print("encoded as PNG, as a viewer does once per step (three fresh viewers, each step at its best of the three,")
    print("so a busy machine's hiccups do not count) | a full figure redraw and PNG, for comparison")
    for (name, make), full in zip(makers, full_draws, strict=True):
        passes = []
        for _ in range(3):
            viewer = make()
            frames, values, times = viewer.frames, viewer.values, []
            for value in values:
                t = time.perf_counter()
                frames.show(value)
                frames.render()
                times.append(time.perf_counter() - t)
            passes.append(times)
            plt.close(frames.fig)
        best = np.min(passes, axis=0)
        full_ms = statistics.median(timed(full, 5)) * 1e3
        RESULTS.setdefault("widgets", []).append(
            {"viewer": name, "steps": len(values), "median_ms": float(np.median(best) * 1e3),
             "slowest_ms": float(best.max() * 1e3), "full_redraw_ms": full_ms}
        )  # fmt: skip
        print(
            f"  {name:24s} {np.median(best) * 1e3:7.1f} | {full_ms:7.1f}"
            f"   ({len(values)} steps, slowest {best.max() * 1e3:.1f})",
            flush=True,
        )
    plt.close("all")


def bench_notebooks():
    print("\nNotebook execution (fresh kernel, as nbval runs them), seconds")
    paths = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "exercises").glob("*.ipynb"))
    for path in paths:
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / path.name
            copy.write_bytes(path.read_bytes())
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "emkit", "execute", str(copy)], capture_output=True, check=True, cwd=path.parent
            )
            seconds = time.perf_counter() - t
            print(f"  {str(path.relative_to(ROOT)):45s} {seconds:6.1f}", flush=True)
            RESULTS.setdefault("notebooks", []).append({"notebook": str(path.relative_to(ROOT)), "seconds": seconds})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="the two smallest cases of each kind")
    parser.add_argument("--moderate", action="store_true", help="cases of at most 300,000 points (a few minutes)")
    parser.add_argument(
        "--only", nargs="+", action="extend", choices=["gmm", "kmeans", "assign", "widgets", "notebooks"]
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results (and the machine) to this JSON file")
    parser.add_argument("--assign-process", choices=["emkit", "large"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.assign_process:
        return _assign_one_process(args.assign_process)
    started = datetime.datetime.now(datetime.UTC)
    RESULTS.update(machine=machine(), platform=platform.platform(), repeats=REPEATS, command=sys.argv[1:])
    RESULTS["load_average_at_start"] = _load_average()  # other work on the machine slows every timing
    import os

    RESULTS["environment"] = {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}
    if RESULTS["environment"]:
        print("Thread settings:", ", ".join(f"{k}={v}" for k, v in RESULTS["environment"].items()))
    print("Machine:", RESULTS["machine"])
    rate = matmul_gflops()
    RESULTS["matmul_gflops"] = rate
    print(f"Measured matrix multiply (2000×2000, float64): {rate:.1f} GFLOP/s")
    gmm_cases = [(10_000, 2, 3, 20), (100_000, 10, 5, 5), (1_000_000, 2, 20, 3), (100_000, 50, 20, 3)]
    # the target case (300k, 10, 20), then growth with K at that N, then growth with N at K = 20
    km_cases = [(300_000, 10, 20, 10)]
    km_cases += [(300_000, 10, K, 10) for K in (5, 10, 50)]
    km_cases += [(N, 10, 20, 10) for N in (30_000, 100_000, 1_000_000)]
    if args.quick:
        gmm_cases, km_cases = gmm_cases[:2], km_cases[:1]
    elif args.moderate:  # a few minutes: the same kinds of case, at most 300,000 points
        gmm_cases = [(10_000, 2, 3, 20), (100_000, 10, 5, 5), (300_000, 2, 20, 3), (30_000, 50, 20, 3)]
        km_cases = [(N, 10, 20, 10) for N in (30_000, 100_000, 300_000)]
        km_cases += [(100_000, 10, K, 10) for K in (5, 10, 50)]
    only = set(args.only or ["gmm", "kmeans", "assign", "widgets", "notebooks"])
    if "gmm" in only:
        bench_gmm(gmm_cases, rate)
    if "kmeans" in only:
        bench_kmeans(km_cases)
    if "assign" in only:
        bench_assign()
    if "widgets" in only:
        bench_widgets()
    if "notebooks" in only:
        bench_notebooks()
    if args.json:
        RESULTS["started"] = started.isoformat(timespec="seconds")
        RESULTS["seconds"] = round((datetime.datetime.now(datetime.UTC) - started).total_seconds(), 1)
        RESULTS["load_average_at_end"] = _load_average()
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(RESULTS, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
