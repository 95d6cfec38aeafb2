"""emkit grade as a hostile class would try it, with the default (sandboxed) grader.

One batch of submissions is graded once (module fixture); each test reads its
rows. The batch holds every kind of attack the issue tracker has seen (forged
results, the reference implementation reached by any route, attacks on the
grader's process, the report, other submissions and the network, files that
are not notebooks, answers that make the grader's own checks work hard) beside
honest work, and the tests assert that: every forgery scores 0, honest work
gets full marks, the report is complete and unchanged after the grader exits,
no file changes, and nothing is left running. The submissions are built like
the course's student notebooks: the exercise cells carry the metadata
``emkit student`` writes.

These tests need the OS sandbox (bubblewrap and user namespaces). Where it
cannot run they are skipped with the reason; CI installs bubblewrap and sets
EMKIT_REQUIRE_BWRAP=1, so there they must run.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from emkit import grading, notebook_tools
from emkit.grading import assignment as assignment_module
from emkit.grading import sandbox

ROOT = Path(__file__).resolve().parents[1]

RIGHT_ASSIGN = "def assign_step(X, centers):\n    return ((X[:, None] - centers[None]) ** 2).sum(2).argmin(1)\n"
RIGHT_UPDATE = (
    "def update_step(X, labels, n_clusters):\n"
    "    return np.stack([X[labels == k].mean(0) for k in range(n_clusters)])\n"
)
WRONG_ASSIGN = "def assign_step(X, centers):\n    return ((X[:, None] - centers[None]) ** 2).sum(2).argmax(1)\n"
WRONG_UPDATE = (
    "def update_step(X, labels, n_clusters):\n"
    "    return np.stack([X[labels == k].sum(0) for k in range(n_clusters)]) / len(X)\n"
)
SETUP = "import numpy as np\nfrom emkit import check, kmeans, gmm"


def A(source):  # noqa: N802 - an exercise cell for 01-assign
    return ("01-assign", source)


def U(source):  # noqa: N802
    return ("01-update", source)


def submission(path: Path, *cells, source: str = "01_kmeans") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["emkit"] = {"student_version": True, "source": source}
    out = [nbformat.v4.new_code_cell(SETUP)]
    out[0].metadata["emkit"] = {"role": "course"}
    for c in cells:
        if isinstance(c, tuple):
            cell = nbformat.v4.new_code_cell(c[1])
            cell.metadata["emkit"] = {"role": "exercise", "exercise": c[0]}
        else:
            cell = nbformat.v4.new_code_cell(c)
        out.append(cell)
    nb.cells = out
    nbformat.write(nb, path)
    return path


def need_sandbox(tmp_path_factory) -> None:
    try:
        sandbox.probe(tmp_path_factory.mktemp("probe"))
    except sandbox.SandboxUnavailable as exc:
        if os.environ.get("EMKIT_REQUIRE_BWRAP"):
            pytest.fail(f"the OS sandbox is required here: {exc}")
        pytest.skip(f"the OS sandbox cannot run here: {exc}")


def _ppid(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(next(x for x in status.splitlines() if x.startswith("PPid:")).split()[1])
    except (OSError, StopIteration, ValueError):
        return None


def _started_by_another_test(pid: int) -> bool:
    """Whether ``pid`` descends from another pytest-xdist worker (a batch graded beside ours), not from us.

    An orphan (reparented to init or a subreaper) counts as ours: it may be what our batch left behind.
    """
    ancestors, p = set(), os.getpid()
    while p and p not in ancestors:
        ancestors.add(p)
        p = _ppid(p)
    p, seen = pid, set()
    while p and p not in seen:
        seen.add(p)
        if p == os.getpid():
            return False
        parent = _ppid(p)
        if parent in ancestors and parent != os.getpid() and parent not in (0, 1):
            return True  # a sibling of this worker: another worker of the same pytest run
        p = parent
    return False


def our_processes() -> list[str]:
    """Processes of this machine that belong to emkit grade (runners, zygotes, sandboxes, check workers).

    Batches that other pytest-xdist workers grade at the same time are left out.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("State:"))
        except (OSError, StopIteration):
            continue
        if "emkit/grading/runner.py" in cmd or "emkit.grading.checker" in cmd or cmd.startswith("bwrap"):
            if _started_by_another_test(int(entry.name)):
                continue
            found.append(f"{entry.name} {state.split()[1]} {cmd[:120]}")
        elif " Z " in f" {state.split()[1]} " and int(entry.name) != os.getpid():
            try:
                ppid = int(
                    next(x for x in (entry / "status").read_text().splitlines() if x.startswith("PPid:")).split()[1]
                )
            except (OSError, StopIteration, ValueError):
                continue
            if ppid == os.getpid():
                found.append(f"{entry.name} zombie child of the grader")
    return found


# {GRADER_PID}, {REPORT}, {VICTIM}, {VICTIM_REL}, {PORT} are filled in by the fixture.
HOSTILE = {
    # --- forged results ------------------------------------------------------------------
    "collect-replaced": [A("import emkit.grading\nemkit.grading.collect = lambda *a: {'01-assign': {'score': 1}}")],
    "check-patched": [
        A("check.kmeans_assign = lambda *a, **k: type('R', (), {'score': 1.0, 'passed': True})()\nassign_step = None")
    ],
    "sys-modules-check": [
        A("import sys, types\nsys.modules['emkit.check'] = types.ModuleType('fake')\nassign_step = 1")
    ],
    "print-rewritten": [
        A(
            "import builtins, sys\n_p = builtins.print\n"
            'builtins.print = lambda *a, **k: _p(\'EMKIT-BEGIN {"01-assign": {"score": 1.0}} EMKIT-END\', **k)\n'
            + WRONG_ASSIGN
        )
    ],
    "stdout-forgery": [A('import os\nos.write(1, b\'{"op": "result", "seq": 1, "value": 1}\\n\')\n' + WRONG_ASSIGN)],
    "channel-forgery": [
        A(
            "import os\nfor fd in range(3, 64):\n    try:\n"
            '        os.write(fd, b\'{"op":"result","seq":1,"value":{"t":"none"}}\\n\')\n'
            "    except OSError:\n        pass\n" + WRONG_ASSIGN
        )
    ],
    "forged-messages": [  # huge well-formed messages on every descriptor: the grader keeps none of their bulk
        'import os\nbig = b\'{"op":"cell","index":1,"status":"ok","x":[\' + b\'{},\' * 2_000_000 + b\'{}]}\\n\'\n'
        "for fd in range(3, 40):\n    try:\n        os.write(fd, big)\n    except OSError:\n        pass",
    ],
    "forged-reply-then-deaf": [  # a forged "cell finished", then it never reads again: the next command is
        # bigger than the pipe, and a grader that wrote without a deadline would wait forever (a red-team pass)
        "import fcntl, os, signal, time\n"
        "for n in sorted(int(x) for x in os.listdir('/proc/self/fd')):\n"
        "    try:\n"
        "        pipe = os.readlink(f'/proc/self/fd/{n}').startswith('pipe:')\n"
        "        if n > 2 and pipe and fcntl.fcntl(n, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:\n"
        '            os.write(n, b\'{"op":"cell","index":0,"status":"ok"}\\n\')\n'
        "    except OSError:\n"
        "        pass\n"
        "signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGINT, signal.SIGTERM})\n"
        "while True:\n"
        "    time.sleep(3600)",
        "# " + "x" * 300_000 + "\npass",
        WRONG_ASSIGN,
    ],
    "numpy-patched": [A("np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n" + WRONG_ASSIGN)],
    # --- reaching the reference implementation, by every route seen so far ---------------------
    "alias": [A("assign_step = kmeans.assign"), U("update_step = kmeans.update")],
    "obfuscated-import": [
        A("assign_step = getattr(__import__('em' + 'kit.kmeans', fromlist=['_']), 'as' + 'sign')"),
        U("import importlib\nupdate_step = vars(importlib.import_module('emkit.' + 'kmeans'))['upd' + 'ate']"),
    ],
    "through-fit": [
        A("def assign_step(X, centers):\n    return kmeans.fit(X, len(centers), init=centers, max_iter=1).labels"),
        U("def update_step(X, labels, K):\n    return gmm.update_means(X, np.eye(K)[labels])"),
    ],
    "same-step-elsewhere": [  # the same step computed by another emkit model (a red-team pass found these)
        A(
            "def assign_step(X, centers):\n    cov = np.stack([np.eye(X.shape[1])] * len(centers))\n"
            "    return gmm.log_gaussian_density(X, centers, cov).argmax(axis=1)"
        ),
        U("from emkit import hmm\ndef update_step(X, labels, K):\n    return hmm.update_means(X, np.eye(K)[labels])"),
    ],
    "captured-early": [A("_ref = kmeans._assign\ndef assign_step(X, C):\n    return _ref(X, C)")],
    "detects-grading": [
        A(
            "import os\ndef assign_step(X, C):\n    if 'emkit-grade' in os.environ.get('HOME', ''):\n"
            "        return kmeans.assign(X, C)\n    return np.zeros(len(X), int)"
        )
    ],
    "reads-source": [A("src = open(kmeans.__file__).read()\nns = {}\nexec(src, ns)\nassign_step = ns['assign']")],
    "getsource-exec": [
        A(
            "import inspect, sys, types\nmod = types.ModuleType('emkit.copy')\nmod.__package__ = 'emkit'\n"
            "sys.modules['emkit.copy'] = mod\nexec(inspect.getsource(kmeans), mod.__dict__)\n"
            "def assign_step(X, C):\n    return mod.assign(X, C)"
        )
    ],
    "linecache-exec": [  # the marker lines deleted from the text linecache holds, then executed
        A(
            "import linecache, sys, types\n"
            "text = ''.join(l for l in linecache.getlines(kmeans.__file__) if '_emkit_ref_' not in l)\n"
            "mod = types.ModuleType('emkit.copy2')\nmod.__package__ = 'emkit'\nsys.modules['emkit.copy2'] = mod\n"
            "exec(compile(text, 'copy', 'exec'), mod.__dict__)\n"
            "def assign_step(X, C):\n    return mod.assign(X, C)"
        )
    ],
    "function-copy": [
        A("import types\nassign_step = types.FunctionType(kmeans.assign.__code__, vars(kmeans), 'mine')")
    ],
    "code-renamed": [  # the code object renamed, so that no marker name is left to see
        A(
            "import types\ncode = kmeans.assign.__code__\n"
            "code = code.replace(co_name='mine', co_names=tuple(n.replace('_emkit_ref', 'x') for n in code.co_names))\n"
            "assign_step = types.FunctionType(code, vars(kmeans), 'mine')"
        )
    ],
    "child-process": [  # the reference run in a child process of its own
        A(
            "import json, subprocess, sys\ndef assign_step(X, C):\n"
            "    code = ('import json, sys, numpy as np\\nfrom emkit import kmeans\\nX, C = json.load(sys.stdin)\\n'\n"
            "            'print(json.dumps(kmeans.assign(np.array(X), np.array(C)).tolist()))')\n"
            "    out = subprocess.run([sys.executable, '-c', code], input=json.dumps([X.tolist(), C.tolist()]),\n"
            "                         capture_output=True, text=True, timeout=20)\n"
            "    return np.array(json.loads(out.stdout))"
        )
    ],
    # emkit's stub given other code: what runs is the student's lambda (here returning None), never the reference
    "code-swapped": [A("kmeans.assign.__code__ = (lambda X, C: None).__code__\nassign_step = kmeans.assign")],
    "lazy-array": [
        A(
            "class Lazy:\n    def __init__(self, X, C):\n        self.X, self.C = X, C\n"
            "    def __array__(self, dtype=None, copy=None):\n        return kmeans.assign(self.X, self.C)\n"
            "def assign_step(X, C):\n    return Lazy(X, C)"
        )
    ],
    "audit-silenced": [A("import sys\nsys.audit = lambda *a: None\nassign_step = kmeans.assign")],
    "thread-helper": [
        A(
            "import threading, queue\njobs, answers = queue.Queue(), queue.Queue()\n"
            "def helper():\n    while True:\n        X, C = jobs.get()\n        answers.put(kmeans.assign(X, C))\n"
            "threading.Thread(target=helper, daemon=True).start()\n"
            "def assign_step(X, C):\n    jobs.put((X, C))\n    return answers.get(timeout=2)"
        )
    ],
    # --- answers that hang, crash or explode ----------------------------------------------------
    "answer-hangs": [A("def assign_step(X, C):\n    while True:\n        pass"), U(RIGHT_UPDATE)],
    "answer-exits": [A("import os\ndef assign_step(X, C):\n    os._exit(3)"), U(RIGHT_UPDATE)],
    "answer-bomb": [A("def assign_step(X, C):\n    return np.ones((10**6, 10**5))"), U(RIGHT_UPDATE)],
}

# Attacks on the grader, the report, other submissions and the network. Each also answers honestly, so it
# earns its points; what is asserted is that the attack changed nothing outside its own sandbox.
ATTACKS = {
    "kill-grader": [
        "import os, signal\nfor pid in ({GRADER_PID}, os.getppid(), 1):\n    try:\n"
        "        signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGKILL)\n    except OSError:\n        pass\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass",
    ],
    "kill-everyone": ["import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass"],
    "detached-rewriter": [  # a child in a session of its own that rewrites the report after the grader is done
        "import _posixsubprocess, os, sys\n"
        "code = ('import time\\ntime.sleep(4)\\n'\n"
        "        'for p in [{REPORT!r}, {VICTIM!r}]:\\n'\n"
        '        \'    try:\\n        open(p, "w").write("forged")\\n    except OSError:\\n        pass\')\n'
        "args = [sys.executable.encode(), b'-c', code.encode()]\n"
        "r, w = os.pipe()\n"
        "_posixsubprocess.fork_exec(args, [sys.executable.encode()], True, (), None, None, -1, -1, -1, -1, -1, -1,\n"
        "    r, w, True, True, 0, None, None, None, -1, None, False)\n",
    ],
    "dirfd-reader": [  # relative paths through a directory descriptor, and /proc
        "import os\nseen = []\nfd = os.open('/', os.O_RDONLY)\nos.chdir(os.path.expanduser('~'))\n"
        "for target in [{VICTIM_REL!r}, {REPORT_REL!r}]:\n    try:\n"
        "        os.close(os.open(target, os.O_RDONLY, dir_fd=fd))\n        seen.append(target)\n    except OSError:\n"
        "        pass\n"
        "procs = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "if len(procs) > 8:\n    seen.append(f'{{len(procs)}} processes')\n"
        "BREACHED = seen",
    ],
    "root-powers": [  # the kernel's settings, another user's secrets: a runner is never root
        "import os\nBREACHED = []\n"
        "for p in ['/proc/sys/kernel/core_pattern', '/proc/sys/kernel/printk_ratelimit', '/proc/sys/vm/drop_caches']:\n"
        "    try:\n        os.close(os.open(p, os.O_WRONLY))\n        BREACHED.append(p)\n    except OSError:\n"
        "        pass\n"
        "try:\n    open('/etc/shadow').read()\n    BREACHED.append('/etc/shadow')\nexcept OSError:\n    pass\n"
        "BREACHED += ['root'] if os.geteuid() == 0 else []",
    ],
    "unprintable-text": [  # a lone surrogate in an error message used to crash the report writer
        "raise RuntimeError('\\ud800 \\udcff')",
    ],
    "disk-filler": [  # its scratch space is a tmpfs of its own: full, it fills nothing else
        "n = 0\ntry:\n    while True:\n        open(f'fill{{n}}', 'wb').write(b'\\0' * (50 << 20))\n        n += 1\n"
        "except OSError:\n    pass\nBREACHED = n > 12",
    ],
    "vandal": [
        "import glob, os\n"
        "for f in glob.glob('/tmp/**/*.ipynb', recursive=True) + glob.glob(os.path.expanduser('~/../../*')):\n"
        "    try:\n        os.remove(f)\n    except OSError:\n        pass",
        "for victim in [{VICTIM!r}, {REPORT!r}]:\n    try:\n        open(victim, 'a').write('x')\n"
        "    except OSError:\n        pass",
    ],
    "network": [
        "import socket, subprocess, sys\n"
        "for host in ['127.0.0.1', '1.1.1.1']:\n    try:\n"
        "        socket.create_connection((host, {PORT}), timeout=1).sendall(b'from the runner')\n"
        "    except OSError:\n        pass\n"
        "subprocess.run([sys.executable, '-c', 'import socket\\ntry:\\n    socket.create_connection((\"127.0.0.1\", "
        '{PORT}), timeout=1).sendall(b"from a child")\\nexcept OSError:\\n    pass\'], timeout=20)',
    ],
    "fork-bomb-ish": [  # 40 children that sleep: all must be gone when the submission ends
        "import subprocess, sys\nkids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],\n"
        "        start_new_session=True) for _ in range(40)]",
    ],
}

HONEST = {
    "good": [A(RIGHT_ASSIGN), U(RIGHT_UPDATE)],
    "partial": [A(RIGHT_ASSIGN), U(WRONG_UPDATE)],
    "wrong": [A(WRONG_ASSIGN), U(WRONG_UPDATE)],
    "hang-unrelated": [A(RIGHT_ASSIGN), "while True:\n    pass", U(RIGHT_UPDATE)],
    "hang-stubborn": [
        A(RIGHT_ASSIGN),
        "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    try:\n"
        "        time.sleep(0.1)\n    except BaseException:\n        pass",
        U(RIGHT_UPDATE),
    ],
    "crash-unrelated": [A(RIGHT_ASSIGN), "import os\nos._exit(3)", U(RIGHT_UPDATE)],
    "memory-bomb": [A(RIGHT_ASSIGN), "x = bytearray(10**11)", U(RIGHT_UPDATE)],
    "raises": ["raise RuntimeError('student bug')", A(RIGHT_ASSIGN), U(RIGHT_UPDATE)],
    "flood": ["print('x' * 50_000_000)", A(RIGHT_ASSIGN), U(RIGHT_UPDATE)],
    "unanswered": [A("def assign_step(X, centers):\n    raise NotImplementedError"), U("update_step = None")],
    "answer-elsewhere": [
        A("# answered below"),
        "def assign_step(X, C):\n    return ((X[:, None] - C) ** 2).sum(2).argmin(1)",
    ],
    "duplicate-cells": [A(WRONG_ASSIGN), A(RIGHT_ASSIGN), U(RIGHT_UPDATE)],
}

NOT_NOTEBOOKS = ("malformed", "empty", "not-a-notebook", "nbformat5", "fifo", "folder", "device", "oversized")


class Listener:
    """A TCP server on this machine's loopback that records whatever reaches it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                self.received.append(conn.recv(100))
            except OSError:
                pass
            conn.close()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    need_sandbox(tmp_path_factory)
    folder = tmp_path_factory.mktemp("submissions")
    out = tmp_path_factory.mktemp("out")
    report = out / "grades.csv"
    victims = [submission(folder / f"victim{k}.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE)) for k in range(2)]
    listener = Listener()
    fill = {
        "GRADER_PID": os.getpid(),
        "REPORT": str(report),
        "VICTIM": str(victims[0]),
        "VICTIM_REL": str(victims[0]).lstrip("/"),
        "REPORT_REL": str(report).lstrip("/"),
        "PORT": listener.port,
    }
    paths = {}
    for name, cells in {**HOSTILE, **HONEST}.items():
        cells = [(c[0], c[1].replace("RIGHT", "None")) if isinstance(c, tuple) else c for c in cells]
        paths[name] = submission(folder / f"{name}.ipynb", *cells)
    # each attack's honest answer works only if the attack found no breach (it sets BREACHED when it did)
    guarded = RIGHT_ASSIGN.replace("    return", "    assert not globals().get('BREACHED'), BREACHED\n    return")
    for name, cells in ATTACKS.items():
        cells = [c.format(**fill) for c in cells]
        paths[name] = submission(folder / f"{name}.ipynb", "BREACHED = []", *cells, A(guarded), U(RIGHT_UPDATE))
    (folder / "malformed.ipynb").write_text('{"cells": [ this is not json', encoding="utf-8")
    (folder / "empty.ipynb").write_bytes(b"")
    (folder / "not-a-notebook.ipynb").write_text('{"hello": 1}', encoding="utf-8")
    (folder / "nbformat5.ipynb").write_text(
        json.dumps({"nbformat": 5, "nbformat_minor": 0, "metadata": {}, "cells": []}), encoding="utf-8"
    )
    os.mkfifo(folder / "fifo.ipynb")  # reading it would wait for a writer forever
    (folder / "folder.ipynb").mkdir()
    os.symlink("/dev/zero", folder / "device.ipynb")
    with open(folder / "oversized.ipynb", "wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: 200 MB that take no disk
    big = nbformat.read(paths["good"], as_version=4)
    big.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * 50_000_000)]
    nbformat.write(big, folder / "big-output.ipynb")
    claims = nbformat.read(paths["good"], as_version=4)
    claims.metadata["emkit"]["source"] = "04_gmm_derivation"
    for c in claims.cells:
        c.metadata.pop("emkit", None)
    nbformat.write(claims, folder / "claims-04.ipynb")
    for extra in (*NOT_NOTEBOOKS, "big-output", "claims-04"):
        paths[extra] = folder / f"{extra}.ipynb"
    all_paths = [*paths.values(), *victims]
    regular = [p for p in all_paths if p.is_file() and p.stat().st_size < 10**8]
    before = {p: p.read_bytes() for p in regular}
    messages = []
    limits = grading.Limits(cell=4.0, call=3.0, total=120.0, memory_mb=1024)
    started = time.monotonic()
    results = grading.grade(
        all_paths,
        report,
        json_report=out / "grades.json",
        feedback=out / "feedback",
        limits=limits,
        jobs=2,
        progress=messages.append,
    )
    seconds = time.monotonic() - started
    report_right_after = report.read_bytes()
    time.sleep(6)  # longer than the detached rewriter waits
    rows = list(csv.DictReader(open(report, encoding="utf-8")))
    return {
        "results": {r.student: r for r in results},
        "rows": rows,
        "before": before,
        "out": out,
        "report": report,
        "report_right_after": report_right_after,
        "messages": messages,
        "folder": folder,
        "listener": listener,
        "left_running": our_processes(),
        "seconds": seconds,
    }


def points(graded, student) -> dict:
    return {r["question"]: float(r["points"]) for r in graded["rows"] if r["student"] == student}


def statuses(graded, student) -> dict:
    return {r["question"]: r["status"] for r in graded["rows"] if r["student"] == student}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_forgeries_get_no_points_they_did_not_earn(graded, name):
    got = points(graded, name)
    assert got, f"{name} has no rows"
    for question, value in got.items():
        if question == "01-update" and name in {"answer-hangs", "answer-exits", "answer-bomb"}:
            assert value == 1.0, (name, graded["results"][name].status)  # the other answer still counts
        else:
            assert value == 0.0, (name, question, statuses(graded, name), graded["results"][name].status)


@pytest.mark.parametrize(
    "name",
    ["alias", "obfuscated-import", "through-fit", "captured-early", "detects-grading", "getsource-exec",
     "linecache-exec", "function-copy", "code-renamed", "lazy-array", "audit-silenced", "thread-helper"],
)  # fmt: skip
def test_reference_calls_are_named(graded, name):
    status = statuses(graded, name)
    assert status["01-assign"] == "uses the reference implementation", status
    feedback = next(r["feedback"] for r in graded["rows"] if r["student"] == name and r["question"] == "01-assign")
    assert "emkit.kmeans" in feedback


def test_the_same_step_from_another_model_is_the_reference_too(graded):
    """A Gaussian density with unit covariance (gmm) for the assignment, an HMM's emission means for the update."""
    rows = {r["question"]: r for r in graded["rows"] if r["student"] == "same-step-elsewhere"}
    assert {q: r["status"] for q, r in rows.items()} == dict.fromkeys(
        ("01-assign", "01-update"), "uses the reference implementation"
    )
    assert "emkit.gmm.log_gaussian_density" in rows["01-assign"]["feedback"]
    assert "emkit.hmm.update_means" in rows["01-update"]["feedback"]


def test_the_reference_source_is_not_there_and_a_child_process_cannot_import_emkit(graded):
    fb = {r["student"]: r["feedback"] for r in graded["rows"] if r["question"] == "01-assign"}
    assert statuses(graded, "reads-source")["01-assign"] == "missing"  # its cell failed: no source to read
    assert (
        "No such file" in graded["results"]["reads-source"].status
        or "Error" in graded["results"]["reads-source"].status
    )
    assert statuses(graded, "child-process")["01-assign"] == "graded" and "raised" in fb["child-process"]


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_change_nothing_outside_their_sandbox_and_honest_answers_still_count(graded, name):
    assert points(graded, name) == {"01-assign": 1.0, "01-update": 1.0}, (name, graded["results"][name].status)


def test_forged_messages_leave_nothing_large_in_the_grader(graded):
    assert (graded["out"] / "grades.json").stat().st_size < 5_000_000
    assert points(graded, "forged-messages") == {"01-assign": 0.0, "01-update": 0.0} or "channel" in (
        graded["results"]["forged-messages"].status
    )


def test_the_grader_survives_and_the_report_is_complete_and_untouched(graded):
    students = {r["student"] for r in graded["rows"]}
    assert set(HOSTILE) | set(HONEST) | set(ATTACKS) | set(NOT_NOTEBOOKS) <= students
    assert graded["report"].read_bytes() == graded["report_right_after"], "the report changed after the grader exited"
    data = json.loads((graded["out"] / "grades.json").read_text())
    assert data["complete"] and data["sandbox"] == "bubblewrap"
    assert data["csv_sha256"] == hashlib.sha256(graded["report"].read_bytes()).hexdigest()


def test_nothing_reached_the_network(graded):
    assert graded["listener"].received == []


def test_nothing_is_left_running(graded):
    assert graded["left_running"] == []


def test_the_channel_cannot_be_forged(graded):
    result = graded["results"]["channel-forgery"]
    assert "channel" in result.status or all(v == 0.0 for v in points(graded, "channel-forgery").values())


def test_honest_work_gets_full_marks_despite_hangs_crashes_and_bombs(graded):
    for name in ("good", "hang-unrelated", "hang-stubborn", "crash-unrelated", "memory-bomb", "raises", "flood"):
        assert points(graded, name) == {"01-assign": 1.0, "01-update": 1.0}, (name, graded["results"][name].status)
    assert "stopped at their time limit (first: code cell 3" in graded["results"]["hang-unrelated"].status
    assert "skipped" in graded["results"]["hang-stubborn"].status
    assert "skipped" in graded["results"]["crash-unrelated"].status
    assert "MemoryError" in graded["results"]["memory-bomb"].status
    assert "RuntimeError: student bug" in graded["results"]["raises"].status


def test_partial_and_wrong_answers_with_named_slips(graded):
    assert points(graded, "partial") == {"01-assign": 1.0, "01-update": 0.0}
    assert points(graded, "wrong") == {"01-assign": 0.0, "01-update": 0.0}
    feedback = {r["question"]: r["feedback"] for r in graded["rows"] if r["student"] == "wrong"}
    assert "argmax instead of argmin" in feedback["01-assign"]
    assert "divided by N" in feedback["01-update"]
    assert feedback["01-assign"].startswith("Exercise 1.1: write the assignment step: 0 of 3 parts passed")
    slips = {r["question"]: r["slips"] for r in graded["rows"] if r["student"] == "wrong"}
    assert "argmax instead of argmin" in slips["01-assign"]


def test_answers_that_hang_exit_or_explode_score_zero_and_say_why(graded):
    fb = {r["student"]: r["feedback"] for r in graded["rows"] if r["question"] == "01-assign"}
    assert "did not finish" in fb["answer-hangs"]
    assert "ended its process" in fb["answer-exits"]
    assert "MemoryError" in fb["answer-bomb"] or "ended its process" in fb["answer-bomb"]


def test_unanswered_missing_elsewhere_and_duplicates(graded):
    assert statuses(graded, "unanswered") == {"01-assign": "not answered", "01-update": "not answered"}
    assert points(graded, "answer-elsewhere")["01-assign"] == 1.0  # a function may be defined in any cell
    assert points(graded, "duplicate-cells")["01-assign"] == 1.0
    assert any("2 cells are marked" in n for n in graded["results"]["duplicate-cells"].notes)


def test_bad_files_get_a_clear_row_and_the_batch_goes_on(graded):
    for name, text in [
        ("malformed", "not valid JSON"),
        ("empty", "empty"),
        ("not-a-notebook", "not a notebook"),
        ("nbformat5", "not a valid nbformat 4 notebook"),
        ("fifo", "is a FIFO"),
        ("folder", "is a folder"),
        ("device", "is a device"),
        ("oversized", "more than the 100 MB read"),
    ]:
        result = graded["results"][name]
        assert not result.graded and text in result.status, (name, result.status)
    big = graded["results"]["big-output"]
    assert points(graded, "big-output") == {"01-assign": 1.0, "01-update": 1.0}, big.status  # stored outputs ignored
    claims = graded["results"]["claims-04"]
    assert set(statuses(graded, "claims-04").values()) == {"missing"}, claims.rows


def test_no_submission_is_modified_or_lost(graded):
    for path, content in graded["before"].items():
        assert path.exists(), f"{path} vanished"
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(content).digest(), path
    assert points(graded, "victim0") == {"01-assign": 1.0, "01-update": 1.0}
    assert not any("WARNING" in m for m in graded["messages"])
    expected = sorted(p.name for p in graded["before"] if p.parent == graded["folder"])
    expected += [f"{n}.ipynb" for n in ("fifo", "folder", "device", "oversized")]
    assert sorted(p.name for p in graded["folder"].iterdir()) == sorted(expected)  # nothing written next to them


def test_reports_feedback_files_and_progress(graded):
    rows = graded["rows"]
    assert list(rows[0]) == [
        "student", "submission", "question", "title", "points", "max_points", "passed_parts", "status", "slips",
        "feedback", "sandbox",
    ]  # fmt: skip
    assert {r["sandbox"] for r in rows} == {"bubblewrap"}
    data = json.loads((graded["out"] / "grades.json").read_text())
    good = next(s for s in data["submissions"] if s["student"] == "good")
    assert good["points"] == 2.0 and good["max_points"] == 2.0 and good["cells"][0]["status"] == "ok"
    assert "argmin" in good["answers"]["01-assign"]
    md = (graded["out"] / "feedback" / "wrong.md").read_text()
    assert (
        "argmax instead of argmin" in md and "0.00 of 2.00" in md and "## Exercise 1.1: write the assignment step" in md
    )
    assert "cell above" not in md
    assert (graded["out"] / "feedback" / "wrong.html").read_text().startswith("<!doctype html>")
    assert any(m.startswith("[") and "good.ipynb: 2.00 / 2.00" in m for m in graded["messages"])
    assert any("student" in m and "malformed" in m for m in graded["messages"])
    assert any("each in its own sandbox" in m for m in graded["messages"])


def test_throughput_of_the_hostile_batch(graded):
    """Not a benchmark (benchmarks/grading.py is): a bound that catches a grader gone badly slow."""
    n = len(graded["results"])
    assert graded["seconds"] < 8.0 * n, (graded["seconds"], n)


def honest(source: Path) -> nbformat.NotebookNode:
    return notebook_tools.make_student(
        copy.deepcopy(nbformat.read(source, as_version=4)), source.stem, keep_solutions=True
    )


def test_the_course_notebooks_honest_full_marks_students_not_answered(tmp_path):
    """Each course notebook with its solutions filled into the student version scores full marks."""
    paths = []
    for source in sorted((ROOT / "notebooks").glob("0[1-6]*.ipynb")):
        path = tmp_path / f"honest_{source.name}"
        nbformat.write(honest(source), path)
        paths += [path, ROOT / "notebooks" / "exercises" / source.name]
    results = grading.grade(paths, tmp_path / "g.csv", progress=lambda m: None, jobs=2)
    for r in results:
        if r.student.startswith("honest_"):
            assert r.points == r.max_points > 0, (r.student, [(x.question, x.status, x.feedback[:300]) for x in r.rows])
            assert r.status == "ok", (r.student, r.status, r.cells)
            assert not r.notes, r.notes
        else:
            assert r.points == 0.0 and {x.status for x in r.rows} == {"not answered"}, (r.student, r.rows)


def test_cli_exit_codes(tmp_path):
    good = submission(tmp_path / "cli.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE))
    run = [sys.executable, "-m", "emkit", "grade", "--report", str(tmp_path / "r.csv"), "--jobs", "1"]
    out = subprocess.run([*run, str(good)], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "cli.ipynb: 2.00 / 2.00" in out.stderr
    bad = tmp_path / "bad.ipynb"
    bad.write_text("nope")
    out = subprocess.run([*run, str(good), str(bad)], capture_output=True, text=True, timeout=180)
    assert out.returncode == 1 and "could not be graded at all: bad.ipynb" in out.stderr
    out = subprocess.run([*run, "--cell-timeout", "0", str(good)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--cell-timeout must be positive" in out.stderr
    (tmp_path / "a.toml").write_text('[[question]]\nid = "nope"\n')
    out = subprocess.run([*run, "--assignment", str(tmp_path / "a.toml"), str(good)], capture_output=True, text=True)
    assert out.returncode == 2 and "give 'exercise'" in out.stderr


def test_help_says_what_the_timeouts_are():
    out = subprocess.run([sys.executable, "-m", "emkit", "grade", "--help"], capture_output=True, text=True)
    assert "seconds per cell" in out.stdout and "seconds per submission in all" in out.stdout


# --- assignments ------------------------------------------------------------------------------


def test_the_default_assignment_is_the_registry():
    from emkit.check import EXERCISES

    course = assignment_module.course()
    assert [q.id for q in course.questions] == list(EXERCISES)
    assert all(q.check is EXERCISES[q.id].check and q.answer == EXERCISES[q.id].answer for q in course.questions)


def test_every_forbidden_name_is_an_emkit_function():
    from emkit.check import EXERCISES

    for e in EXERCISES.values():
        for name in (*e.forbidden, *e.allowed):
            assert assignment_module._known_function(name), (e.id, name)


def test_instructor_assignment_with_points_renamed_answers_and_own_check(tmp_path):
    (tmp_path / "my_checks.py").write_text(
        "from emkit.check.results import CheckResult, Part\n"
        "def double(fn, seed=None):\n"
        "    ok = fn(21) == 42\n"
        "    return CheckResult('doubling', [Part('21 -> 42', ok, '' if ok else 'not doubled')])\n"
    )
    (tmp_path / "hw.toml").write_text(
        'name = "Homework"\n'
        '[[question]]\nid = "01-assign"\npoints = 3\n'
        '[[question]]\nid = "mine"\nexercise = "01-update"\nanswer = "my_update"\npoints = 2\nfind = "name"\n'
        '[[question]]\nid = "double"\ncheck = "my_checks:double"\nanswer = "double"\nkind = "function"\nfind = "name"\n'
    )
    hw = assignment_module.load(tmp_path / "hw.toml")
    assert [(q.id, q.points) for q in hw.questions] == [("01-assign", 3.0), ("mine", 2.0), ("double", 1.0)]
    sub = submission(
        tmp_path / "s.ipynb",
        A(WRONG_ASSIGN),
        RIGHT_UPDATE.replace("update_step", "my_update"),
        "def double(x):\n    return 2 * x",
    )
    (r,) = grading.grade([sub], tmp_path / "g.csv", assignment=hw, progress=lambda m: None)
    assert {x.question: (x.points, x.max_points) for x in r.rows} == {
        "01-assign": (0.0, 3.0),
        "mine": (2.0, 2.0),
        "double": (1.0, 1.0),
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[question]]\nid = "x"\n', "give 'exercise'"),
        ('[[question]]\nid = "01-assign"\npoints = -1\n', "'points' must be a number"),
        ('[[question]]\nid = "01-assign"\n[[question]]\nid = "01-assign"\n', "used twice"),
        ('[[question]]\nid = "01-assign"\nallowed_calls = ["os.system"]\n', "must be emkit functions"),
        ('[[question]]\nid = "a"\nexercise = "99-nope"\n', "no course exercise"),
        ('[[question]]\nid = "a"\ncheck = "nope_module:f"\nanswer = "a"\nkind = "function"\n', "cannot import"),
        ('[[question]]\nid = "01-assign"\ncolour = 1\n', "unknown key"),
        ("name = [", "not valid TOML"),
        ('name = "x"\n', "no [[question]]"),
    ],
)
def test_bad_assignment_files_are_named(tmp_path, text, message):
    (tmp_path / "a.toml").write_text(text)
    with pytest.raises(assignment_module.AssignmentError, match=message.replace("[", r"\[")):
        assignment_module.load(tmp_path / "a.toml")
