"""A control group per runner: its fair share of the CPU, a cap on its processes and on all their memory.

Wall-clock limits alone let one submission that starts a hundred busy
processes slow every other submission down until they run out of time.
Where the kernel's control groups are writable (the grader runs as root, or
has a delegated cgroup v2 subtree), each runner and everything it starts
goes into a group of its own:

* **CPU**: every group has the same weight, so the CPU is shared between
  submissions, not between processes (a hundred processes of one submission
  get one submission's share);
* **processes**: at most :data:`MAX_PROCESSES` at once (a fork bomb stops there);
* **memory**: all its processes together (and its scratch tmpfs) at most the
  submission's ``--memory``.

Both layouts are handled: cgroup v2 (one hierarchy, ``cpu.weight``,
``pids.max``, ``memory.max``) and v1 (separate ``cpu``, ``pids`` and
``memory`` hierarchies). Where neither is writable, :func:`available` says
why and grading goes on without them (the report notes it).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
MAX_PROCESSES = 128


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK)


def _v2_root() -> Path | None:
    for candidate in (ROOT, ROOT / "unified"):
        controllers = candidate / "cgroup.controllers"
        if controllers.exists() and _writable(candidate):
            have = set(controllers.read_text().split())
            if {"cpu", "pids", "memory"} <= have:
                return candidate
    return None


def _v1_roots() -> dict | None:
    roots = {name: ROOT / name for name in ("cpu", "pids", "memory")}
    if all(_writable(p) and (p / "cgroup.procs").exists() for p in roots.values()):
        return roots
    return None


class Batch:
    """The parent group of one batch; :meth:`group` makes one per runner."""

    def __init__(self):
        self.name = f"emkit-grade-{os.getpid()}-{time.monotonic_ns()}"
        self.v2 = _v2_root()
        self.v1 = None if self.v2 else _v1_roots()
        self.parents: list[Path] = []
        if self.v2 is not None:
            parent = self.v2 / self.name
            parent.mkdir()
            (parent / "cgroup.subtree_control").write_text("+cpu +pids +memory")
            self.parents = [parent]
        elif self.v1 is not None:
            for root in self.v1.values():
                (root / self.name).mkdir()
                self.parents.append(root / self.name)
        else:
            raise OSError("no writable cgroup (v2 with cpu, pids and memory controllers, or v1 cpu, pids, memory)")
        self._count = 0

    def group(self, memory_bytes: int) -> Group:
        self._count += 1
        return Group(self, f"runner-{self._count}", memory_bytes)

    def close(self) -> None:
        for parent in self.parents:
            for child in sorted(parent.glob("runner-*"), reverse=True):
                _remove(child)
            _remove(parent)


class Group:
    """One runner's group (in each hierarchy, for v1)."""

    def __init__(self, batch: Batch, name: str, memory_bytes: int):
        self.paths = []
        if batch.v2 is not None:
            path = batch.parents[0] / name
            path.mkdir()
            (path / "cpu.weight").write_text("100")
            (path / "pids.max").write_text(str(MAX_PROCESSES))
            (path / "memory.max").write_text(str(memory_bytes))
            self.paths = [path]
        else:
            for parent in batch.parents:
                path = parent / name
                path.mkdir()
                self.paths.append(path)
                kind = parent.parent.name
                if kind == "cpu":
                    (path / "cpu.shares").write_text("1024")
                elif kind == "pids":
                    (path / "pids.max").write_text(str(MAX_PROCESSES))
                elif kind == "memory":
                    (path / "memory.limit_in_bytes").write_text(str(memory_bytes))

    def procs_files(self) -> list[str]:
        """Where a process writes its PID to join this group (in every hierarchy)."""
        return [str(p / "cgroup.procs") for p in self.paths]

    def remove(self) -> None:
        for path in self.paths:
            _remove(path)


def _remove(path: Path) -> None:
    """rmdir a group once its processes are gone (they are being killed: wait a moment)."""
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    shutil.rmtree(path, ignore_errors=True)


def available() -> tuple[bool, str]:
    """Whether control groups can be made here, and if not, why."""
    if _v2_root() is not None or _v1_roots() is not None:
        return True, ""
    return False, "no writable cgroup here (run the grader as root, or in a delegated cgroup v2 subtree)"
