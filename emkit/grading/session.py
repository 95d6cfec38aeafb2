"""The grader's side of one runner process: start it, talk to it, time it, kill it.

A :class:`Runner` is one process, forked by a :class:`Zygote`, inside its own
OS sandbox (:mod:`.sandbox`; unless the instructor chose ``--no-sandbox``),
with its own scratch folder, ``HOME`` and temporary folder, a clean
environment, an address-space limit and two pipes: commands go in on one,
plain-data answers and the guard's reports come back on the other. Reports
(lines carrying a random token) are picked out of the byte stream wherever
they are, so a submission that writes into the channel can garble its own
answers but cannot hide a report. Every wait has a deadline; past it the
runner's sandbox is torn down, and every process in it with it.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import wire

RUNNER = Path(__file__).with_name("runner.py")
GRACE = 3.0  # seconds past a time limit before the process is killed
TAIL = 4000  # characters of the submission's own output kept for the report


class RunnerDied(Exception):  # noqa: N818
    """The runner process ended, or was killed because it overran a deadline."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Limits:
    """What one submission may use (see ``emkit grade --help``)."""

    cell: float = 60.0  # seconds per cell
    call: float = 10.0  # seconds per call of an answer function
    total: float = 600.0  # wall-clock seconds for the whole submission
    memory_mb: int = 2048  # address space of the runner
    startup: float = 60.0
    check: float = 60.0  # seconds of the grader's own work checking one question's answer (runner time not counted)
    check_memory_mb: int = 2048  # address space of the process that checks an answer

    def answer_reserve(self, n_questions: int) -> float:
        """Seconds of the submission's budget kept for calling its answers after the last cell.

        A cell is never given more than what is left of the budget minus
        this, so a cell that ignores its interruption cannot use up the time
        the answers defined before it need.
        """
        return min(self.total / 4, max(5.0, 2.0 * self.call) * max(1, n_questions))


@dataclass
class Report:
    """One line from the guard: a call of an emkit function (``ref``)."""

    kind: str
    detail: str
    bucket: int  # which command was in flight


@dataclass
class RunnerConfig:
    scratch: Path
    env: dict = field(default_factory=dict)
    sandboxed: bool = True  # False only with --no-sandbox
    stub_modules: list = field(default_factory=list)  # the instructor's check modules, stubbed like emkit.check
    cgroup: object | None = None  # a cgroups.Group: the runner's share of CPU, processes and memory (if available)


def _ready(replies, expected: str, what: str) -> None:
    try:
        line = replies.readline()
    except OSError:
        line = b""
    if expected.encode() not in line:
        try:
            reason = json.loads(line).get("reason", "")
        except ValueError:
            reason = ""
        raise RunnerDied(f"{what} did not start{': ' + reason if reason else ''}")


class Mother:
    """The batch's mother zygote: numpy, SymPy, matplotlib, IPython, SciPy, scikit-learn loaded once; no emkit.

    It forks a child :class:`Zygote` for each set of functions that must be
    absent. Started from the grader's main thread (a child dies with the
    thread that started it).
    """

    def __init__(self, libraries: list, env: dict, startup: float = 120.0):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-I", str(RUNNER), "--mother", str(theirs.fileno())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            env=env,
            cwd=env.get("HOME"),
        )
        theirs.close()
        self._sock = ours
        self._sock.settimeout(startup)
        self._replies = ours.makefile("rb")
        self._lock = threading.Lock()
        self._sock.sendall(json.dumps({"libraries": libraries}).encode())
        try:
            _ready(self._replies, "mother-ready", "the grader's runner process")
        except RunnerDied:
            self.close()
            raise
        self._sock.settimeout(60.0)

    def zygote(self, emkit_dir: Path, preload: list, *, absent=(), remembered: Path | None = None) -> Zygote:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        hello = {
            "emkit_dir": str(emkit_dir),
            "preload": preload,
            "absent": sorted(absent),
            "remembered_path": str(remembered) if remembered else None,
        }
        try:
            with self._lock:
                socket.send_fds(self._sock, [json.dumps(hello).encode()], [theirs.fileno()])
                reply = json.loads(self._replies.readline() or b"{}")
            pid = int(reply["pid"])
        except (OSError, ValueError, KeyError) as exc:
            ours.close()
            raise RunnerDied(f"the grader's runner process did not fork a zygote ({exc})") from None
        finally:
            theirs.close()
        return Zygote(ours, pid, frozenset(absent))

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()


class Zygote:
    """A child of the mother zygote with emkit loaded (``absent`` functions stubbed); forks a runner on request.

    The zygote itself runs no submission code; each forked runner enters its
    sandbox and sets its own limits, folder and environment before it reads
    its first command.
    """

    def __init__(self, sock: socket.socket, pid: int, absent: frozenset, startup: float = 120.0):
        self._sock, self.pid, self.absent = sock, pid, absent
        self._sock.settimeout(startup)
        self._replies = sock.makefile("rb")
        self._lock = threading.Lock()
        try:
            _ready(self._replies, "zygote-ready", "the grader's zygote")
        except RunnerDied:
            self.close()
            raise
        self._sock.settimeout(30.0)

    def fork(self, request: dict, ns_fds=()) -> tuple[int, int, int, int]:
        """A new runner: (pid, its command pipe, its message pipe, its output pipe) as our ends."""
        cmd_r, cmd_w = os.pipe()
        msg_r, msg_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            with self._lock:
                socket.send_fds(self._sock, [json.dumps(request).encode()], [cmd_r, msg_w, out_w, *ns_fds])
                reply = json.loads(self._replies.readline() or b"{}")
            pid = int(reply["pid"])
        except (OSError, ValueError, KeyError) as exc:
            for fd in (cmd_w, msg_r, out_r):
                os.close(fd)
            raise RunnerDied(f"the grader's runner process did not fork ({exc})") from None
        finally:
            for fd in (cmd_r, msg_w, out_w):
                os.close(fd)
        return pid, cmd_w, msg_r, out_r

    def close(self) -> None:
        try:
            self._sock.close()  # the child zygote ends at the end of its socket
        except OSError:
            pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Runner:
    """One runner process for one submission (a new one, in a new sandbox, after a kill)."""

    def __init__(self, config: RunnerConfig, limits: Limits, zygote: Zygote):
        self.config, self.limits, self.zygote = config, limits, zygote
        self.token = secrets.token_hex(16)
        self.reports: list[Report] = []
        self.bucket = 0
        self.tampered = False
        self.output_tail = ""
        self._messages: queue.Queue = queue.Queue()
        self._pid = None
        self._walls = None  # sandbox.Walls, or None with --no-sandbox

    # --- process ------------------------------------------------------------------------
    def start(self) -> None:
        from . import sandbox

        request = {"memory_mb": self.limits.memory_mb, "cwd": str(self.config.scratch / "work"), "env": self.config.env}
        ns_fds: list[int] = []
        if self.config.cgroup is not None:
            request["cgroups"] = self.config.cgroup.procs_files()
        if self.config.sandboxed:
            if sandbox.privileged():
                request["uid"] = sandbox.SANDBOX_UID
            try:
                self._walls = sandbox.build(self.config.scratch)
            except sandbox.SandboxUnavailable as exc:
                raise RunnerDied(f"its sandbox could not be built ({exc})") from None
            names = self._walls.ns_list()
            request["namespaces"] = [name for name, _ in names]
            ns_fds = [fd for _, fd in names]
        try:
            self._pid, cmd_w, msg_r, out_r = self.zygote.fork(request, ns_fds)
        except RunnerDied:
            self.kill()
            raise
        finally:
            if self._walls is not None:
                self._walls.close_fds()  # the runner has joined (or will): the grader keeps no handle on them
        self._out = os.fdopen(out_r, "rb", buffering=0)
        os.set_blocking(cmd_w, False)  # a runner that stops reading its commands must not block the grader (_send)
        self._cmd = os.fdopen(cmd_w, "wb", buffering=0)
        threading.Thread(target=self._read_messages, args=(msg_r,), daemon=True).start()
        threading.Thread(target=self._drain_output, daemon=True).start()
        self._send({"op": "init", "config": {"token": self.token, "stub_modules": self.config.stub_modules}},
                   self.limits.startup)  # fmt: skip
        ready = self._wait("ready", self.limits.startup)
        self.markers = ready.get("markers", 0)

    def _drain_output(self) -> None:
        out = self._out
        tail = b""
        while True:
            chunk = out.read1(65536) if hasattr(out, "read1") else out.read(65536)
            if not chunk:
                break
            tail = (tail + chunk)[-TAIL:]
        self.output_tail = tail.decode("utf-8", "replace")

    def _read_messages(self, fd: int) -> None:
        marker = f"@@{self.token} ".encode()
        buf = b""
        with os.fdopen(fd, "rb", buffering=0) as f:
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    break
                buf = self._pick_reports(buf + chunk, marker)
                partial = buf.find(marker)  # a report whose end has not arrived: lines stop before it
                done = buf if partial < 0 else buf[:partial]
                cut = done.rfind(b"\n")
                if cut >= 0:
                    for line in done[:cut].split(b"\n"):
                        if line.strip():
                            try:
                                self._messages.put(wire.clean(wire.loads(line)))
                            except wire.WireError:
                                self.tampered = True
                    buf = buf[cut + 1 :]
                if len(buf) > wire.MAX_LINE:
                    self.tampered = True
                    buf = b""
        self._messages.put(None)

    def _pick_reports(self, buf: bytes, marker: bytes) -> bytes:
        """Take every complete guard report out of ``buf``, wherever it is."""
        while True:
            start = buf.find(marker)
            if start < 0:
                return buf
            end = buf.find(b"\n", start + len(marker))
            if end < 0:
                return buf  # the rest of the report has not arrived yet
            text = buf[start + len(marker) : end].decode("utf-8", "replace")
            kind, _, detail = text.partition(" ")
            self.reports.append(Report(kind, detail, self.bucket))
            buf = buf[:start] + buf[end + 1 :]

    def _send(self, message: dict, timeout: float) -> None:
        """Write one command within ``timeout`` seconds, or kill the runner.

        The pipe holds 64 KB: a runner whose code forged a reply and stopped reading would otherwise leave
        the grader blocked on a long command forever (found by a red-team pass), and the batch without its
        report. Every write has a deadline, as every reply has.
        """
        data = memoryview(wire.dumps(message))
        deadline = time.monotonic() + timeout
        poller = select.poll()
        try:
            fd = self._cmd.fileno()
            poller.register(fd, select.POLLOUT)
            while data:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.kill()
                    raise RunnerDied(f"the runner stopped reading its commands for {timeout:g} s (killed)")
                if not poller.poll(max(1, int(left * 1000))):
                    continue
                try:
                    data = data[os.write(fd, data) :]
                except BlockingIOError:
                    continue
        except (BrokenPipeError, OSError, ValueError):
            raise RunnerDied(self._death("the runner stopped reading")) from None

    def _wait(self, op: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise RunnerDied(f"no answer within {timeout:g} s")
            try:
                message = self._messages.get(timeout=left)
            except queue.Empty:
                continue
            if message is None:
                raise RunnerDied(self._death("the runner ended"))
            if message.get("op") == op or (
                op == "result" and message.get("op") in ("not_implemented", "timed_out", "raised")
            ):
                return message
            if message.get("op") == "sandbox-failed" and op == "ready":
                self.kill()
                raise RunnerDied(str(message.get("reason", "the sandbox could not be entered"))[:300])
            self.tampered = True  # an answer to a question we did not ask: someone else is writing

    def _death(self, what: str) -> str:
        self.kill()  # forked by the zygote: no exit status reaches us
        return f"{what} (the process ended or was killed)"

    def kill(self) -> None:
        """End the runner and everything it started (its whole sandbox)."""
        if self._walls is not None:
            self._walls.kill()
        elif self._pid is not None:
            try:
                os.killpg(self._pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def close(self) -> None:
        try:
            self._send({"op": "bye"}, 2.0)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:  # let it end by itself, then tear the sandbox down regardless
                try:
                    if self._messages.get(timeout=max(0.01, deadline - time.monotonic())) is None:
                        break
                except queue.Empty:
                    break
        except RunnerDied:
            pass
        self.kill()
        try:
            self._cmd.close()
        except OSError:
            pass

    # --- commands -----------------------------------------------------------------------
    def _command(self, message: dict, reply: str, timeout: float) -> dict:
        """Send a command and wait for its reply, both within ``timeout`` seconds."""
        self.bucket += 1
        deadline = time.monotonic() + timeout
        self._send(message, timeout)
        left = deadline - time.monotonic()
        if left <= 0:
            self.kill()
            raise RunnerDied(f"no answer within {timeout:g} s")
        return self._wait(reply, left)

    def run_cell(self, index: int, source: str, limit: float) -> dict:
        return self._command({"op": "run", "index": index, "source": source, "limit": limit}, "cell", limit + GRACE)

    def snapshot(self, name: str, limit: float):
        reply = self._command({"op": "snapshot", "name": name, "limit": limit}, "snapshot", limit + GRACE)
        if "error" in reply:
            return wire.Opaque(f"value that could not be read ({reply['error'].get('type')})")
        return wire.decode(reply["value"])

    def describe(self, names) -> dict:
        return self._command({"op": "describe", "names": list(names)}, "described", 30.0)["kinds"]

    def restore(self, functions: dict) -> dict:
        """Give the runner back the real code of ``functions`` (qualified name -> source): their questions are done."""
        return self._command({"op": "restore", "functions": functions}, "restored", 60.0).get("failed", {})

    def call(self, seq: int, name: str, args, limit: float) -> dict:
        message = {"op": "call", "seq": seq, "name": name, "args": [wire.encode(a) for a in args], "limit": limit}
        reply = self._command(message, "result", limit + GRACE)
        if reply.get("seq") != seq:
            self.tampered = True
        return reply

    def reports_since(self, bucket: int) -> list[Report]:
        return [r for r in self.reports if r.bucket >= bucket]
