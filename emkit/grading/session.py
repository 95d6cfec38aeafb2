"""The grader's side of one runner process: start it, talk to it, time it, kill it.

A :class:`Runner` is one process (optionally inside bubblewrap, see
:mod:`.sandbox`) with its own scratch folder, ``HOME`` and temporary
folder, a clean environment, an address-space limit and two pipes: commands
go in on one, plain-data answers and the guard's reports come back on the
other. Reports (lines carrying a random token) are picked out of the byte
stream wherever they are, so a submission that writes into the channel can
garble its own answers but cannot hide a report. Every wait has a deadline;
past it the process is killed.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import secrets
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


@dataclass
class Report:
    """One line from the guard: a marker hit (``ref``) or a refused action (``denied``)."""

    kind: str
    detail: str
    bucket: int  # which command was in flight


@dataclass
class RunnerConfig:
    scratch: Path
    emkit_dir: Path
    preload: list
    read_roots: list
    deny_roots: list
    allow_roots: list
    forbidden: list
    env: dict = field(default_factory=dict)
    wrap: list = field(default_factory=list)  # e.g. a bubblewrap command line


def _limit_memory(megabytes: int):
    def apply():
        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024 * 1024, 64 * 1024 * 1024))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.setsid()  # its own process group, so that the whole group can be killed

    return apply


class Zygote:
    """One process that has loaded numpy, SymPy, matplotlib, IPython and emkit, and forks a runner on request.

    Shared by every submission of a batch (not with ``--sandbox bwrap``, where
    each runner starts inside its own bubblewrap). The zygote itself runs no
    submission code; each forked runner then sets its own limits, folder,
    environment and session before it reads its first command.
    """

    def __init__(self, emkit_dir: Path, preload: list, env: dict, startup: float = 120.0, warm: list = ()):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-I", str(RUNNER), "--zygote", str(theirs.fileno())],
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
        self._sock.sendall(json.dumps({"emkit_dir": str(emkit_dir), "preload": preload, "warm": list(warm)}).encode())
        line = self._replies.readline()
        if b"zygote-ready" not in line:
            self.close()
            raise RunnerDied("the grader's runner process did not start")
        self._sock.settimeout(30.0)

    def fork(self, request: dict) -> tuple[int, int, int, int]:
        """A new runner: (pid, its command pipe, its message pipe, its output pipe) as our ends."""
        cmd_r, cmd_w = os.pipe()
        msg_r, msg_w = os.pipe()
        out_r, out_w = os.pipe()
        try:
            with self._lock:
                socket.send_fds(self._sock, [json.dumps(request).encode()], [cmd_r, msg_w, out_w])
                reply = json.loads(self._replies.readline() or b"{}")
        except (OSError, ValueError) as exc:
            for fd in (cmd_w, msg_r, out_r):
                os.close(fd)
            raise RunnerDied(f"the grader's runner process did not fork ({exc})") from None
        finally:
            for fd in (cmd_r, msg_w, out_w):
                os.close(fd)
        return int(reply["pid"]), cmd_w, msg_r, out_r

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


class Runner:
    """One runner process for one submission (a new one after a kill)."""

    def __init__(self, config: RunnerConfig, limits: Limits, zygote: Zygote | None = None):
        self.config, self.limits, self.zygote = config, limits, zygote
        self.token = secrets.token_hex(16)
        self.reports: list[Report] = []
        self.bucket = 0
        self.tampered = False
        self.output_tail = ""
        self._messages: queue.Queue = queue.Queue()
        self._proc = None
        self._pid = None

    # --- process ------------------------------------------------------------------------
    def start(self) -> None:
        if self.zygote is not None:
            request = {
                "memory_mb": self.limits.memory_mb,
                "cwd": str(self.config.scratch / "work"),
                "env": self.config.env,
            }
            self._pid, cmd_w, msg_r, out_r = self.zygote.fork(request)
            self._out = os.fdopen(out_r, "rb", buffering=0)
        else:
            cmd_r, cmd_w = os.pipe()
            msg_r, msg_w = os.pipe()
            argv = [*self.config.wrap, sys.executable, "-I", str(RUNNER), str(cmd_r), str(msg_w)]
            self._proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(cmd_r, msg_w),
                cwd=self.config.scratch / "work",
                env=self.config.env,
                preexec_fn=_limit_memory(self.limits.memory_mb),  # noqa: PLW1509 - no threads hold locks we need
            )
            self._pid = self._proc.pid
            self._out = self._proc.stdout
            os.close(cmd_r)
            os.close(msg_w)
        self._cmd = os.fdopen(cmd_w, "wb", buffering=0)
        threading.Thread(target=self._read_messages, args=(msg_r,), daemon=True).start()
        threading.Thread(target=self._drain_output, daemon=True).start()
        config = {
            "token": self.token,
            "scratch": str(self.config.scratch),
            "emkit_dir": str(self.config.emkit_dir),
            "preload": self.config.preload,
            "read_roots": [str(p) for p in self.config.read_roots],
            "deny_roots": [str(p) for p in self.config.deny_roots],
            "allow_roots": [str(p) for p in self.config.allow_roots],
            "forbidden": sorted(self.config.forbidden),
        }
        self._send({"op": "init", "config": config})
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
                                self._messages.put(wire.loads(line))
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

    def _send(self, message: dict) -> None:
        try:
            self._cmd.write(wire.dumps(message))
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
            self.tampered = True  # an answer to a question we did not ask: someone else is writing

    def _death(self, what: str) -> str:
        if self._proc is None:  # forked by the zygote: no exit status reaches us
            self.kill()
            return f"{what} (the process ended or was killed)"
        code = self._proc.poll()
        if code is None:
            self.kill()
            code = self._proc.wait()
        if code < 0:
            name = signal.Signals(-code).name
            extra = " (out of memory?)" if name in ("SIGKILL", "SIGSEGV", "SIGABRT") else ""
            return f"{what}: killed by {name}{extra}"
        return f"{what} (exit code {code})"

    def kill(self) -> None:
        if self._pid is None:
            return
        if self._proc is not None and self._proc.poll() is not None:
            return
        try:
            os.killpg(self._pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            if self._proc is not None:
                self._proc.kill()
        if self._proc is not None:
            self._proc.wait()

    def close(self) -> None:
        try:
            self._send({"op": "bye"})
            if self._proc is not None:
                self._proc.wait(timeout=2)
        except (RunnerDied, subprocess.TimeoutExpired):
            pass
        self.kill()
        try:
            self._cmd.close()
        except OSError:
            pass

    # --- commands -----------------------------------------------------------------------
    def _command(self, message: dict, reply: str, timeout: float) -> dict:
        self.bucket += 1
        self._send(message)
        return self._wait(reply, timeout)

    def run_cell(self, index: int, source: str, limit: float) -> dict:
        return self._command({"op": "run", "index": index, "source": source, "limit": limit}, "cell", limit + GRACE)

    def snapshot(self, name: str, limit: float):
        reply = self._command({"op": "snapshot", "name": name, "limit": limit}, "snapshot", limit + GRACE)
        if "error" in reply:
            return wire.Opaque(f"value that could not be read ({reply['error'].get('type')})")
        return wire.decode(reply["value"])

    def describe(self, names) -> dict:
        return self._command({"op": "describe", "names": list(names)}, "described", 30.0)["kinds"]

    def lock(self) -> None:
        self._command({"op": "lock"}, "locked", 30.0)

    def call(self, seq: int, name: str, args, limit: float) -> dict:
        message = {"op": "call", "seq": seq, "name": name, "args": [wire.encode(a) for a in args], "limit": limit}
        reply = self._command(message, "result", limit + GRACE)
        if reply.get("seq") != seq:
            self.tampered = True
        return reply

    def reports_since(self, bucket: int) -> list[Report]:
        return [r for r in self.reports if r.bucket >= bucket]
