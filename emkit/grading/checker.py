"""The grader's checks, run in a worker process of the grader's own with a time and a memory limit.

A check is trusted code (emkit's, or the instructor's) working on untrusted
*data*: the values a submission's answers returned, or the text of a
symbolic answer. Plain data cannot run code, but it can make honest code
work very hard (a SymPy power tower that builds a 10¹⁰-bit integer, an
array that makes a comparison slow). So the grader never runs a check in
its own process: a :class:`CheckWorker` runs it, with

* a **memory limit** (``RLIMIT_AS``): past it the check fails with
  MemoryError inside the worker;
* a **time limit** on the worker's own work: the grader waits for it with a
  deadline that does not count the time the submission's runner takes to
  answer the calls; past it, the worker is killed and a new one starts.

Either way that question gets the status "check stopped" and 0 points, and
the rest of the batch is untouched. An exception inside the check itself
(an instructor's check with a bug) is a "check error": not a grade.

A function answer stays in the submission's runner: the worker calls it
through the grader (a ``call`` message with the arguments; the grader makes
the call in the runner and sends back the plain-data result or the
exception), so the worker never talks to submission code either.

The worker and the grader exchange pickles over a socket pair: both ends
are the grader's own trusted code, and what comes from a submission reaches
them only as plain data (:mod:`wire`).
"""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict
from multiprocessing.connection import Connection
from pathlib import Path

STARTUP = 120.0


class CheckStopped(Exception):  # noqa: N818
    """The check of one answer ran out of time or memory, or its worker process died."""


class CheckCrashed(Exception):  # noqa: N818
    """The check itself raised (a bug in the check, not in the answer)."""

    def __init__(self, type_name: str, message: str, where: str):
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.message, self.where = type_name, message, where


def check_ref(fn) -> tuple[str | None, str, str]:
    """How a worker finds a check: (the instructor's folder or None, module, attribute)."""
    from .assignment import check_module

    base = getattr(fn, "_emkit_base", None)
    return (base, check_module(fn), fn.__qualname__)


def _resolve(ref):
    base, module, qualname = ref
    if base:
        from .assignment import load_check_module

        obj = _LOADED.get((base, module))
        if obj is None:
            obj = _LOADED[(base, module)] = load_check_module(module, base)
    else:
        obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


_LOADED: dict = {}  # (folder, module) -> the module, once per worker process


class CheckWorker:
    """One worker process (restarted after a kill); used by one grading thread at a time."""

    def __init__(self, memory_mb: int = 2048):
        self.memory_mb = memory_mb
        self._proc: subprocess.Popen | None = None
        self._conn: Connection | None = None

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "emkit.grading.checker", str(theirs.fileno()), str(self.memory_mb)],
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": _import_path(), "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"},
        )
        theirs.close()
        self._conn = Connection(ours.detach())
        if not self._conn.poll(STARTUP) or self._conn.recv() != ("ready",):
            self.close()
            raise CheckStopped("the grader's checking process did not start")

    def kill(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    close = kill

    def run(self, ref, answer, seed: int, limit: float, call=None):
        """Run the check ``ref`` on ``answer`` (a value, or ``None`` with ``call`` for a function answer).

        ``call(*args)`` makes one call of the submission's function (in its
        runner) and returns its plain-data result or raises. Returns the
        CheckResult; raises CheckStopped or CheckCrashed.
        """
        if self._proc is None or self._proc.poll() is not None:
            self.kill()
            self._start()
        conn = self._conn
        conn.send(("check", ref, "function" if call is not None else "value", answer, seed))
        own = 0.0
        while True:
            started = time.monotonic()
            try:
                ready = conn.poll(max(0.0, limit - own))
            except (OSError, EOFError):
                ready = True
            own += time.monotonic() - started
            if not ready:
                self.kill()
                raise CheckStopped(f"checking this answer took the grader more than {limit:g} s")
            try:
                message = conn.recv()
            except (OSError, EOFError):
                self.kill()
                raise CheckStopped("the grader's checking process ended (out of memory?)") from None
            kind = message[0]
            if kind == "call":
                conn.send(_remote_call(call, message[1]))
            elif kind == "done":
                return _result(message[1])
            elif kind == "stopped":
                self.kill()
                raise CheckStopped(message[1])
            elif kind == "crashed":
                raise CheckCrashed(*message[1:])


def _remote_call(call, args) -> tuple:
    """Make one call of the submission's function for the worker; return the reply message."""
    from ..check.running import RemoteException

    try:
        return ("value", call(*args))
    except NotImplementedError:
        return ("raise", "NotImplementedError", "", "")
    except TimeoutError as exc:
        return ("raise", "TimeoutError", str(exc), "")
    except RemoteException as exc:
        return ("raise", exc.type_name, exc.message, exc.line)


def _result(data: dict):
    from ..check.results import CheckResult, Part

    return CheckResult(data["exercise"], [Part(**p) for p in data["parts"]])


def _import_path() -> str:
    """emkit's parent folder first (the worker imports the same emkit as the grader), then the grader's path."""
    here = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join([here, *(p for p in sys.path if p)])


# ---------------------------------------------------------------------------
# The worker's side
# ---------------------------------------------------------------------------


class _Answer:
    """The submission's function, as a check sees it: each call goes through the grader to the runner."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def __call__(self, *args):
        from ..check.running import RemoteException

        self.conn.send(("call", args))
        reply = self.conn.recv()
        if reply[0] == "value":
            return reply[1]
        _, type_name, message, line = reply
        if type_name == "NotImplementedError":
            raise NotImplementedError
        if type_name == "TimeoutError":
            raise TimeoutError(message)
        raise RemoteException(type_name, message, line)


def _where(exc: BaseException) -> str:
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if "emkit/grading" not in frame.filename.replace("\\", "/"):
            return f"{frame.filename}, line {frame.lineno}, in {frame.name}"
    return ""


def serve(fd: int, memory_mb: int) -> int:
    import resource
    import warnings

    warnings.simplefilter("ignore")
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    conn = Connection(fd)
    import emkit.check  # noqa: F401 - loaded before the first check: numpy, SymPy, the checks
    import emkit.parse  # noqa: F401
    from emkit.check import running

    running.USE_ALARM = False  # each call is timed by the grader (--call-timeout), not by an alarm in here

    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return 0
        _, ref, kind, answer, seed = message
        try:
            check = _resolve(ref)
        except Exception as exc:  # noqa: BLE001
            conn.send(("crashed", type(exc).__name__, f"the check {ref[1]}:{ref[2]} cannot be loaded: {exc}", ""))
            continue
        subject = _Answer(conn) if kind == "function" else answer
        try:
            try:
                result = check(subject, seed=seed)
            except TypeError as exc:
                if "seed" not in str(exc):
                    raise
                result = check(subject)  # an instructor's check without a seed parameter
            conn.send(("done", _plain(result, ref)))
        except (MemoryError, RecursionError) as exc:
            conn.send(("stopped", f"checking this answer needed more than the grader allows ({type(exc).__name__})"))
            return 0
        except Exception as exc:  # noqa: BLE001 - a check with a bug: reported as such, never as a grade
            conn.send(("crashed", type(exc).__name__, str(exc)[:500], _where(exc)))


def _plain(result, ref) -> dict:
    from emkit.check.results import CheckResult, Part

    name = ref[2]
    if isinstance(result, CheckResult):
        return {"exercise": result.exercise, "parts": [asdict(p) for p in result.parts]}
    if isinstance(result, bool | int | float):  # an instructor's check may return a verdict or a fraction
        value = float(result)
        part = Part("check", value >= 1.0, "" if value >= 1.0 else f"score {value:g}")
        return {"exercise": name, "parts": [asdict(part)]}
    raise TypeError(f"the check returned a {type(result).__name__}, not a CheckResult")


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1]), int(sys.argv[2])))
