"""Where a runner runs: its scratch folder, environment, readable paths, and optionally bubblewrap.

Without a sandbox the runner is an ordinary process of your user, fenced by
the guard's audit hook (:mod:`.guard`). With ``--sandbox bwrap`` it also runs
inside `bubblewrap <https://github.com/containers/bubblewrap>`_: no network,
its own process and IPC namespaces, a read-only view of the system, the
Python installation and emkit, and a writable view of its own scratch folder
only (``/tmp`` is empty, other submissions and the report do not exist).
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import emkit

EMKIT_DIR = Path(emkit.__file__).resolve().parent

PRELOAD = [
    "emkit.kmeans",
    "emkit.gmm",
    "emkit.em",
    "emkit.missing",
    "emkit.coins",
    "emkit.soft",
    "emkit.symbolic",
    "emkit.datasets",
    "emkit.plotting",
    "emkit.widgets",
    "emkit.parse",
]
# Loaded once by the zygote (not by every runner): slow to import, and the course's notebooks use them.
PRELOAD_ONCE = [*PRELOAD, "scipy.special", "scipy.stats", "sklearn.cluster", "sklearn.mixture"]
# Pure functions of nothing that remember their result; the zygote calls them once, before any submission
# code, so that every runner it forks finds them computed (the marker in each still reports every call).
WARM = ["emkit.symbolic:sigma_2x2_direct_solve"]


class SandboxUnavailable(RuntimeError):
    """The requested OS sandbox cannot run on this machine (the message says why)."""


def python_roots() -> list[Path]:
    """Folders of the running Python installation and its packages (read-only for a runner)."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib", "include", "data"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(Path(path))
    for path in [*site.getsitepackages(), site.getusersitepackages()]:
        roots.add(Path(path))
    roots |= {p.resolve() for p in list(roots)}
    return sorted(p for p in roots if p.exists())


def read_roots() -> list[Path]:
    extra = [
        Path(p)
        for p in (
            "/usr/share",
            "/usr/lib",
            "/usr/local/share",
            "/etc",
            "/dev/null",
            "/dev/urandom",
            "/dev/random",
            "/sys/devices/system/cpu",
            "/sys/fs/cgroup",
            "/proc/cpuinfo",
            "/proc/meminfo",
            "/proc/stat",
        )
    ]
    return [*python_roots(), *extra]


def prepare_scratch(scratch: Path, mpl_cache: Path | None) -> dict:
    """Make the scratch folders and the runner's environment (nothing inherited but PATH)."""
    for sub in ("work", "home", "tmp", "home/.config/matplotlib"):
        (scratch / sub).mkdir(parents=True, exist_ok=True)
    if mpl_cache is not None:
        for f in mpl_cache.glob("fontlist*.json"):
            shutil.copy(f, scratch / "home/.config/matplotlib" / f.name)
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(scratch / "home"),
        "PWD": str(scratch / "work"),
        "TMPDIR": str(scratch / "tmp"),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(scratch / "home/.config/matplotlib"),
        "IPYTHONDIR": str(scratch / "home/.ipython"),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def matplotlib_cache(folder: Path) -> Path:
    """Build matplotlib's font list once per batch, in a process of its own, for every runner to copy."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MPLCONFIGDIR": str(folder), "MPLBACKEND": "Agg"}
    subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=False, capture_output=True, timeout=120
    )
    return folder


def bwrap_command(scratch: Path) -> list[str]:
    """The bubblewrap prefix for a runner whose scratch folder is ``scratch``."""
    exe = shutil.which("bwrap")
    if exe is None:
        raise SandboxUnavailable("bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)")
    cmd = [
        exe,
        "--die-with-parent",
        "--new-session",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--ro-bind",
        "/usr",
        "/usr",
        "--ro-bind",
        "/etc",
        "/etc",
    ]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    bound: list[Path] = []
    for path in [*python_roots(), EMKIT_DIR]:
        if any(path == b or b in path.parents for b in bound):
            continue
        bound.append(path)
    for path in bound:
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--bind", str(scratch), str(scratch)]
    cmd += ["--chdir", str(scratch / "work")]
    return cmd


def check_bwrap(scratch: Path) -> None:
    """Raise SandboxUnavailable unless a trivial command runs under :func:`bwrap_command`."""
    (scratch / "work").mkdir(parents=True, exist_ok=True)
    cmd = bwrap_command(scratch)
    try:
        out = subprocess.run([*cmd, sys.executable, "-c", "print(42)"], capture_output=True, text=True, timeout=60)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bubblewrap did not start: {exc}") from None
    if out.returncode != 0 or out.stdout.strip() != "42":
        raise SandboxUnavailable(f"bubblewrap cannot run here: {(out.stderr or out.stdout).strip()[:300]}")
