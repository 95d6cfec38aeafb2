"""Where a runner runs: an OS sandbox of its own, around its own scratch folder.

**The wall** (the default; ``emkit grade --no-sandbox`` turns it off, loudly).
For every runner, `bubblewrap <https://github.com/containers/bubblewrap>`_
builds a set of Linux namespaces and runs a tiny *holder* process in them:

* its own **user, mount, PID, network, IPC and UTS namespaces**: no network
  (not even the host's loopback), no other process visible or reachable by
  PID (the grader, the other runners and the zygote do not exist in it), no
  shared memory or message queues with anyone;
* a **file system of its own**: a read-only view of the system (``/usr``,
  ``/etc``, ``/bin`` ...) and of the Python installation, emkit's *source*
  hidden (an empty folder over it; only its data files are visible), an empty
  ``/tmp``, its own ``/proc``, and **its own scratch folder as the only
  writable place** (also its ``HOME`` and ``TMPDIR``). Other submissions, the
  report, the grader's folders, the user's home: not there at all;
* ``--die-with-parent``: if the grader dies, the sandbox dies.

The runner itself is forked by the batch's zygote (which loaded numpy, SymPy,
matplotlib, IPython and emkit once), and before any submission code runs it
**joins the holder's namespaces** (``setns``), forks once more so that it
lives inside the PID namespace, drops every capability, sets
``no_new_privs`` and asks the kernel's out-of-memory killer to take it
first. Killing bubblewrap ends the PID namespace, and the kernel then kills
every process in it: nothing a submission started can outlive its sandbox.

:func:`probe` tries all of that once before a batch (and the runner checks
it again each time); if it does not work here, the grader stops with the
reason instead of grading without the wall. Where bubblewrap cannot run at
all (macOS, Windows, a container that forbids user namespaces), run
``emkit grade`` inside a Linux VM or a container built from
``environment.yml`` with user namespaces allowed (see the instructors' guide).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import site
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import emkit

EMKIT_DIR = Path(emkit.__file__).resolve().parent
RUNNER = Path(__file__).with_name("runner.py")

# Every emkit module a notebook may import: loaded by the zygote, because emkit's source is not
# visible inside the sandbox (emkit.check is a stub while grading: self-checks do not run).
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
    "emkit.hmm",
    "emkit.inference",
    "emkit.accelerate",
    "emkit.online",
    "emkit.expfamily",
]
# Slow to import and used by the course's notebooks: loaded once per batch, by the mother zygote.
LIBRARIES = ["scipy.special", "scipy.stats", "sklearn.cluster", "sklearn.mixture", "ipywidgets"]
# The notebooks that call emkit.symbolic's slow, pure SymPy results: their runners get them computed
# (once per batch, by the grader, then handed to their zygote) instead of paying seconds each.
REMEMBER_FOR = ("06_em_deeper",)

NS_GET_USERNS = 0xB701  # ioctl: the user namespace that owns a namespace
NAMESPACES = ("user", "mnt", "pid", "net", "ipc", "uts")


class SandboxUnavailable(RuntimeError):
    """The OS sandbox cannot run on this machine (the message says why and what to do)."""


def python_roots() -> list[Path]:
    """Folders of the running Python installation and its packages (read-only inside the sandbox)."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.executable).parent}
    for key in ("stdlib", "platstdlib", "purelib", "platlib", "include", "data"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(Path(path))
    for path in [*site.getsitepackages(), site.getusersitepackages()]:
        roots.add(Path(path))
    cwd = Path.cwd().resolve()
    for entry in sys.path:  # package folders a .pth file added (another environment's, say); never the current
        path = Path(entry) if entry else None  # folder, a PYTHONPATH project folder, or emkit's own source
        if (
            path is not None
            and path.is_absolute()
            and path.name in ("site-packages", "dist-packages")
            and path.is_dir()
            and path.resolve() != cwd
            and not _under(EMKIT_DIR, path.resolve())
        ):
            roots.add(path)
    roots |= {p.resolve() for p in list(roots)}
    roots.add(Path(os.path.realpath(sys.executable)).parent)
    return sorted(p for p in roots if p.exists())


def prepare_scratch(scratch: Path, mpl_cache: Path | None) -> dict:
    """Make a runner's scratch folders and its environment (nothing inherited from the grader's)."""
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


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


#: The user a runner becomes when the grader runs as root: never root inside a sandbox (root owns /etc/shadow,
#: the kernel's settings in /proc/sys and more, and needs no capability to use what it owns).
SANDBOX_UID = SANDBOX_GID = 65534  # "nobody"
SCRATCH_BYTES = 512 * 1024 * 1024  # a runner's writable space: a tmpfs of this size, charged to its memory


def privileged() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def bwrap_command(scratch: Path) -> list[str]:
    """The bubblewrap command line that builds the walls for the runner whose scratch folder is ``scratch``.

    Order matters: later mounts go on top of earlier ones, so ``/tmp`` is
    emptied *before* the Python installation is mounted (it may live under
    /tmp), and emkit's source is hidden after the Python folders that may
    contain it. The scratch folder is a fresh tmpfs of :data:`SCRATCH_BYTES`
    at the same path (nothing of the grader's disk is writable, and a full
    scratch folder fills nothing else), world-writable because the runner
    is not root. Run as root, bubblewrap builds the namespaces itself (no
    user namespace: the runner then becomes :data:`SANDBOX_UID`); otherwise
    in a new user namespace where no further one may be made.
    """
    exe = shutil.which("bwrap")
    if exe is None:
        raise SandboxUnavailable(
            "bubblewrap is not installed (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: dnf install "
            "bubblewrap)"
        )
    cmd = [exe, "--die-with-parent", "--as-pid-1", "--new-session"]
    if not privileged():
        cmd += ["--unshare-user", "--disable-userns"]
    cmd += [
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "emkit-runner",
        "--tmpfs",
        "/tmp",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--ro-bind",
        "/proc/sys",
        "/proc/sys",
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
    bound: list[Path] = [Path("/usr"), Path("/etc")]
    made: set[Path] = set()
    for path in python_roots():
        if any(_under(path, b) for b in bound):
            continue
        bound.append(path)
        for parent in reversed(path.parents):  # mount points anyone can pass through (a home may be 0700)
            if parent != Path("/") and parent not in made and not any(_under(parent, b) for b in bound[:-1]):
                made.add(parent)
                cmd += ["--perms", "0755", "--dir", str(parent)]
        cmd += ["--ro-bind", str(path), str(path)]
    if any(_under(EMKIT_DIR, b) for b in bound):  # an installed (not editable) emkit: hide its source
        cmd += ["--tmpfs", str(EMKIT_DIR)]
    data = EMKIT_DIR / "data"
    for parent in reversed(data.parents):
        if parent != Path("/") and parent not in made and not any(_under(parent, b) for b in bound):
            made.add(parent)
            cmd += ["--perms", "0755", "--dir", str(parent)]
    cmd += ["--ro-bind", str(data), str(data)]
    cmd += ["--perms", "0777", "--size", str(SCRATCH_BYTES), "--tmpfs", str(scratch)]
    for sub in ("work", "home", "tmp"):
        cmd += ["--perms", "0777", "--dir", str(scratch / sub)]
    cmd += ["--chdir", str(scratch / "work")]
    return cmd


# The holder is PID 1 of the sandbox: the kernel drops any signal sent to it from inside that it has no handler
# for (so a submission cannot end its own sandbox early and blame another cell), and orphans are reaped.
# Its first act is to write one byte on its stdout: bubblewrap has then finished building the walls (it execs
# the holder last), so joining its namespaces cannot see the machine's own root file system.
HOLDER = (
    "import os, signal\nsignal.signal(signal.SIGINT, signal.SIG_DFL)\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
    "os.write(1, b'r')\nos.close(1)\nwhile True:\n    signal.pause()\n"
)


@dataclass
class Walls:
    """One runner's sandbox: bubblewrap and its holder process (PID 1 inside), and the holder's namespaces."""

    process: subprocess.Popen
    holder: int  # the holder's PID as the grader sees it
    fds: dict  # name -> an open namespace file descriptor: owner (of the mount namespace), user, mnt, pid, ...

    def ns_list(self) -> list[tuple[str, int]]:
        """(name, fd) in the order a process must join them."""
        return [(name, self.fds[name]) for name in ("owner", "mnt", "pid", "net", "ipc", "uts", "user")]

    def close_fds(self) -> None:
        for fd in self.fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = {}

    def kill(self) -> None:
        """End the sandbox: the kernel then kills every process in its PID namespace. Reaps bubblewrap."""
        self.close_fds()
        if self.process.poll() is None:
            try:
                self.process.kill()
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def build(scratch: Path, timeout: float = 10.0) -> Walls:
    """Start bubblewrap for ``scratch``; return its holder's namespaces, ready for a runner to join."""
    cmd = bwrap_command(scratch)
    info_r, info_w = os.pipe()
    try:
        process = subprocess.Popen(  # noqa: S603 - bubblewrap and our own interpreter
            [*cmd, "--info-fd", str(info_w), "--", sys.executable, "-I", "-S", "-c", HOLDER],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=(info_w,),
            close_fds=True,
        )
    except OSError as exc:
        os.close(info_r)
        os.close(info_w)
        raise SandboxUnavailable(f"bubblewrap did not start: {exc}") from None
    os.close(info_w)
    deadline = time.monotonic() + timeout
    try:
        info = b""
        while True:  # bubblewrap writes its JSON, then closes the descriptor
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([info_r], [], [], left)[0]:
                os.close(info_r)
                raise SandboxUnavailable(f"bubblewrap did not build the sandbox within {timeout:g} s")
            chunk = os.read(info_r, 4096)
            if not chunk:
                break
            info += chunk
        os.close(info_r)
        try:
            holder = int(json.loads(info)["child-pid"])  # with --as-pid-1, the holder itself
        except (ValueError, KeyError, TypeError):
            process.kill()
            err = process.communicate(timeout=10)[1].decode("utf-8", "replace").strip()
            why = err[:300] or "no reason given"
            raise SandboxUnavailable(f"bubblewrap cannot build a sandbox here: {why}") from None
        ready = process.stdout.fileno()
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([ready], [], [], left)[0] or os.read(ready, 1) != b"r":
            err = ""
            if process.poll() is not None and process.stderr is not None:
                err = process.stderr.read().decode("utf-8", "replace").strip()[:300]
            raise SandboxUnavailable(f"the sandbox's holder process did not start{': ' + err if err else ''}")
        process.stdout.close()
        process.stdout = None
        fds = {}
        try:
            for name in NAMESPACES:
                fds[name] = os.open(f"/proc/{holder}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
            fds["owner"] = fcntl.ioctl(fds["mnt"], NS_GET_USERNS)
            os.set_inheritable(fds["owner"], False)
        except OSError as exc:
            for fd in fds.values():
                os.close(fd)
            raise SandboxUnavailable(f"the sandbox's namespaces cannot be opened: {exc}") from None
        if process.stderr is not None:
            process.stderr.close()
            process.stderr = None
        return Walls(process, holder, fds)
    except BaseException:
        if process.poll() is None:
            process.kill()
        process.wait()
        raise


def probe(scratch_root: Path) -> dict:
    """Build a sandbox and check from inside that its walls stand; raise SandboxUnavailable if not.

    A canary file next to the probe's scratch folder must be invisible, the
    network unreachable, the grader's PID unknown, every capability dropped
    and the scratch folder writable.
    """
    scratch = scratch_root / "probe"
    (scratch / "work").mkdir(parents=True, exist_ok=True)
    canary = scratch_root / "canary"
    canary.write_text("outside")
    walls = build(scratch)
    try:
        fds = [fd for _, fd in walls.ns_list()]
        for fd in fds:
            os.set_inheritable(fd, True)
        config = {"ns": walls.ns_list(), "scratch": str(scratch), "canary": str(canary), "grader": os.getpid()}
        if privileged():
            config["uid"] = SANDBOX_UID
        arg = json.dumps(config)
        try:
            out = subprocess.run(  # noqa: S603 - our own interpreter and script
                [sys.executable, "-I", str(RUNNER), "--probe", arg],
                pass_fds=fds,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except subprocess.TimeoutExpired:
            raise SandboxUnavailable("the sandbox probe did not finish within 60 s") from None
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not lines:
            raise SandboxUnavailable(f"a process cannot enter the sandbox here: {(out.stderr or out.stdout)[-400:]}")
        seen = json.loads(lines[-1])
    finally:
        walls.kill()
        canary.unlink(missing_ok=True)
    problems = [what for what, bad in seen.items() if bad is True]
    if problems:
        raise SandboxUnavailable("the sandbox's walls do not stand here: " + "; ".join(problems))
    return seen


def explain_unavailable(exc: Exception) -> str:
    """What an instructor reads when the sandbox cannot start (what failed, then the ways out)."""
    return (
        f"the OS sandbox cannot start on this machine: {exc}\n"
        "emkit grade runs every submission inside bubblewrap (Linux user namespaces) and will not grade "
        "without it. Install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap), or run the grader "
        "in a Linux VM or container that allows user namespaces (see the instructors' guide: 'Grading on "
        "macOS, Windows or in a container'). Only for notebooks you trust (your own test submissions), "
        "--no-sandbox grades without the wall; the report then says so on every line."
    )
