"""The untrusted side of ``emkit grade``: runs one submission's cells and calls its answers.

Started by the grader as a script, never imported, in one of two ways:

* ``python -I runner.py CMD_FD MSG_FD``: one runner for one submission;
* ``python -I runner.py --zygote SOCKET_FD``: a *zygote* that loads everything
  once and then forks one runner per submission on request (the grader sends
  the new runner's pipes over the socket). Forking skips the second or so of
  imports each submission would otherwise pay; each forked runner is a new
  process, with its own limits, folder and environment, exactly as above.

A runner reads commands as JSON lines on CMD_FD and answers on MSG_FD; the
submission's own prints go to stdout/stderr, which the grader drains and
ignores. Everything it sends back is plain data (:mod:`wire`). It holds no
secret and decides nothing: the grader scores what the answers return.

Order of events: import numpy, SymPy, matplotlib, IPython and emkit
(emkit's model modules with markers, :mod:`guard`; ``emkit.check`` replaced by
a stub, since self-checks do not run while grading); read the ``init``
command; install the audit hook; then serve ``run`` (one cell), ``snapshot``
(the value of a name), ``describe`` (what names hold), ``lock`` (enter the
answer phase) and ``call`` (call an answer function on plain-data arguments)
until ``bye``.

Time limits: a cell or a call that runs past its limit is interrupted from
inside (a timer signal). A submission that defeats that (by catching the
interruption or taking the signal away) is killed by the grader, which then
starts a new runner and replays the other cells.
"""

import importlib.util
import json
import os
import resource
import signal
import socket
import sys
import types


def _load(name, filename):
    spec = importlib.util.spec_from_file_location(name, os.path.join(os.path.dirname(__file__), filename))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wire = _load("_emkit_wire", "wire.py")
guard = _load("_emkit_guard", "guard.py")


class _Interrupted(BaseException):  # noqa: N818 - a BaseException, like KeyboardInterrupt, so `except Exception` lets it pass
    """The time limit of a cell or call ran out."""


def _stub_check_module():
    stub = types.ModuleType("emkit.check", "Self-checks do not run while a submission is being graded.")

    class _NotRunWhileGrading:
        passed = False
        score = 0.0
        answered = True
        parts = ()

        def __repr__(self):
            return "(self-checks do not run while grading: the grader checks the answers itself)"

        def raise_if_failed(self):
            return None

        def points(self, out_of=1):
            return 0.0

    def _stub(*args, **kwargs):
        return _NotRunWhileGrading()

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _stub

    stub.__getattr__ = __getattr__
    return stub


def preload(emkit_dir: str, modules: list, warm: list = ()) -> dict:
    """Import everything a notebook needs, emkit with markers; nothing of any submission has run yet."""
    import warnings

    warnings.simplefilter("ignore")
    sys.dont_write_bytecode = True
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib
    import numpy  # noqa: F401 - loaded now, before the hook
    import sympy  # noqa: F401

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    table: list = []
    stub = _stub_check_module()
    sys.modules["emkit.check"] = stub
    sys.meta_path.insert(0, guard.MarkingFinder(emkit_dir, table, {"emkit.check": stub}))
    import emkit

    emkit.check = stub
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an optional library (scikit-learn, SciPy) that is not installed
    for spec in warm:
        module, _, function = spec.partition(":")
        getattr(importlib.import_module(module), function)()
    fig, ax = plt.subplots()  # load the fonts now: reading them later is fine, but slower
    ax.set_title("warm-up $x^2$")
    fig.canvas.draw()
    plt.close(fig)
    shell_config = Config()
    shell_config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=shell_config)
    shell.showtraceback = lambda *a, **k: None  # errors are reported as plain text below
    shell.showsyntaxerror = lambda *a, **k: None
    return {"table": table, "shell": shell, "plt": plt}


def serve(state: dict, commands, msg_fd: int, init: dict | None = None) -> int:
    """Install the guard, then answer the grader's commands (a binary file) until ``bye`` or their end."""

    def send(message):
        data = wire.dumps(message)
        while data:
            n = os.write(msg_fd, data)
            data = data[n:]

    if init is None:
        init = wire.loads(commands.readline())
    config = init["config"]
    shell, plt = state["shell"], state["plt"]
    namespace = shell.user_ns
    in_limit = [False]

    def on_alarm(signum, frame):
        if in_limit[0]:
            raise _Interrupted("time limit")

    signal.signal(signal.SIGALRM, on_alarm)

    def limited(seconds, fn, *args):
        in_limit[0] = True
        signal.setitimer(signal.ITIMER_REAL, max(0.001, float(seconds)))
        try:
            return fn(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            in_limit[0] = False

    guard.install(
        fd=msg_fd,
        token=config["token"],
        scratch=config["scratch"],
        read_roots=config["read_roots"],
        deny_roots=config["deny_roots"],
        allow_roots=config["allow_roots"],
        table=state["table"],
        forbidden=frozenset(config["forbidden"]),
    )
    del init, config["token"]
    _audit = sys.audit
    _audit("emkit.grading.phase", "cells")
    send({"op": "ready", "markers": len(state["table"])})

    def describe_error(exc):
        tb = exc.__traceback__
        line = ""
        while tb is not None:
            if tb.tb_frame.f_code.co_filename.startswith("<"):
                line = f"line {tb.tb_lineno}"
            tb = tb.tb_next
        try:
            text = str(exc)
        except BaseException:  # noqa: BLE001 - a message that cannot be printed
            text = "(no message)"
        return {"type": type(exc).__name__[:100], "message": text[:1000], "line": line}

    while True:
        raw = commands.readline()
        if not raw:
            return 0
        cmd = wire.loads(raw)
        op = cmd["op"]
        if op == "run":
            outcome = {"op": "cell", "index": cmd["index"], "status": "ok"}
            try:
                result = limited(cmd["limit"], shell.run_cell, cmd["source"], False, True)
                error = result.error_before_exec or result.error_in_exec
                if isinstance(error, _Interrupted):
                    outcome["status"] = "interrupted"
                elif error is not None:
                    outcome.update(status="error", error=describe_error(error))
            except _Interrupted:
                outcome["status"] = "interrupted"
            except BaseException as exc:  # noqa: BLE001 - report, then go on
                outcome.update(status="error", error=describe_error(exc))
            plt.close("all")
            send(outcome)
        elif op == "snapshot":
            try:
                value = limited(cmd["limit"], lambda name=cmd["name"]: wire.encode(namespace.get(name)))
                send({"op": "snapshot", "name": cmd["name"], "value": value})
            except BaseException as exc:  # noqa: BLE001
                send({"op": "snapshot", "name": cmd["name"], "error": describe_error(exc)})
        elif op == "describe":
            kinds = {}
            for name in cmd["names"]:
                if name not in namespace:
                    kinds[name] = "missing"
                else:
                    kinds[name] = "callable" if callable(namespace[name]) else type(namespace[name]).__name__[:100]
            send({"op": "described", "kinds": kinds})
        elif op == "lock":
            _audit("emkit.grading.phase", "answers")
            send({"op": "locked"})
        elif op == "call":
            reply = {"op": "result", "seq": cmd["seq"]}
            try:
                fn = namespace.get(cmd["name"])
                args = [wire.decode(a) for a in cmd["args"]]

                def call_and_encode(fn=fn, args=args):
                    return wire.encode(fn(*args))

                reply["value"] = limited(cmd["limit"], call_and_encode)
            except NotImplementedError:
                reply = {"op": "not_implemented", "seq": cmd["seq"]}
            except _Interrupted:
                reply = {"op": "timed_out", "seq": cmd["seq"]}
            except BaseException as exc:  # noqa: BLE001
                reply = {"op": "raised", "seq": cmd["seq"], "error": describe_error(exc)}
            send(reply)
        elif op == "bye":
            return 0


def _become(child: dict) -> None:
    """In a freshly forked runner: limits, a session of its own, its folder and environment."""
    limit = int(child["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024 * 1024, 64 * 1024 * 1024))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.chdir(child["cwd"])
    os.environ.clear()
    os.environ.update(child["env"])
    import tempfile

    tempfile.tempdir = None


def zygote(sock_fd: int) -> int:
    """Load once, then fork a runner for each request on the socket (the zygote runs no submission code)."""
    control = socket.socket(fileno=sock_fd)
    hello = json.loads(control.recv(1 << 20).decode())
    state = preload(hello["emkit_dir"], hello["preload"], hello.get("warm", []))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked runners are reaped automatically
    control.sendall(b'{"op": "zygote-ready"}\n')
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 1 << 20, 3)
        except OSError:
            return 0
        if not data:
            return 0
        request = json.loads(data.decode())
        cmd_r, msg_w, out_w = fds
        pid = os.fork()
        if pid == 0:  # the new runner
            try:
                control.close()
                os.setsid()
                os.dup2(out_w, 1)
                os.dup2(out_w, 2)
                os.close(out_w)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.close(devnull)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _become(request)
                code = serve(state, os.fdopen(cmd_r, "rb", buffering=1 << 16), msg_w)
            except BaseException:  # noqa: BLE001 - a runner that fails ends; the grader sees its pipe close
                code = 1
            os._exit(code)
        for fd in fds:
            os.close(fd)
        control.sendall((json.dumps({"op": "forked", "pid": pid}) + "\n").encode())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--zygote":
        sys.exit(zygote(int(sys.argv[2])))
    _commands = os.fdopen(int(sys.argv[1]), "rb", buffering=1 << 16)
    _init = wire.loads(_commands.readline())
    _state = preload(_init["config"]["emkit_dir"], _init["config"]["preload"])
    sys.exit(serve(_state, _commands, int(sys.argv[2]), _init))
