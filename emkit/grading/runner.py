"""The untrusted side of ``emkit grade``: runs one submission's cells and calls its answers.

Started by the grader as a script (``python -I runner.py CMD_FD MSG_FD``), never
imported. It reads commands as JSON lines on CMD_FD and answers on MSG_FD; the
submission's own prints go to stdout/stderr, which the grader drains and
ignores. Everything it sends back is plain data (:mod:`wire`). It holds no
secret and decides nothing: the grader scores what the answers return.

Order of events: read the ``init`` command; import numpy, SymPy, matplotlib,
IPython and emkit (emkit's model modules with markers, :mod:`guard`;
``emkit.check`` replaced by a stub, since self-checks do not run while
grading); install the audit hook; then serve ``run`` (one cell),
``snapshot`` (the value of a name), ``describe`` (what names hold),
``lock`` (enter the answer phase) and ``call`` (call an answer function on
plain-data arguments) until ``bye``.

Time limits: a cell or a call that runs past its limit is interrupted from
inside (a timer signal). A submission that defeats that (by catching the
interruption or taking the signal away) is killed by the grader, which then
starts a new runner and replays the other cells.
"""

import importlib.util
import os
import signal
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


def main(cmd_fd: int, msg_fd: int) -> int:
    commands = os.fdopen(cmd_fd, "rb", buffering=1 << 16)

    def send(message):
        data = wire.dumps(message)
        while data:
            n = os.write(msg_fd, data)
            data = data[n:]

    init = wire.loads(commands.readline())
    config = init["config"]
    table: list = []

    # --- preload (no submission code yet) -------------------------------------------------
    import warnings

    warnings.simplefilter("ignore")
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib
    import numpy as np  # noqa: F401 - loaded now, before the hook
    import sympy  # noqa: F401

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    stub = _stub_check_module()
    sys.modules["emkit.check"] = stub
    sys.meta_path.insert(0, guard.MarkingFinder(config["emkit_dir"], table, {"emkit.check": stub}))
    import emkit

    emkit.check = stub
    for name in config["preload"]:
        importlib.import_module(name)
    fig, ax = plt.subplots()  # load the fonts now: reading them later is fine, but slower
    ax.set_title("warm-up $x^2$")
    fig.canvas.draw()
    plt.close(fig)

    shell_config = Config()
    shell_config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=shell_config)
    shell.showtraceback = lambda *a, **k: None  # errors are reported as plain text below
    shell.showsyntaxerror = lambda *a, **k: None
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
        table=table,
        forbidden=frozenset(config["forbidden"]),
    )
    del init, config["token"]
    _audit = sys.audit
    _audit("emkit.grading.phase", "cells")
    send({"op": "ready", "markers": len(table)})

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

    # --- serve ------------------------------------------------------------------------------
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


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
