"""The untrusted side of ``emkit grade``: runs one submission's cells and calls its answers.

Started by the grader as a script, never imported:

* ``python -I runner.py --mother SOCKET_FD``: the batch's *mother zygote*,
  which loads numpy, SymPy, matplotlib, IPython (and SciPy, scikit-learn)
  once, never emkit, and forks a *child zygote* per set of forbidden
  functions. A child loads emkit with those functions absent and markers in
  the rest (:mod:`guard`; ``emkit.check`` replaced by a stub, since
  self-checks do not run while grading) and then forks one runner per
  request. The grader sends each runner's pipes over the child's socket,
  with the namespaces of the runner's sandbox (:mod:`sandbox`).
* ``python -I runner.py --probe JSON``: enter a sandbox and report what can be
  seen from inside (:func:`sandbox.probe`).

A forked runner first leaves the zygote behind: it joins its sandbox's
namespaces and forks once more (so that it lives inside the sandbox's PID
namespace), drops every capability, sets ``no_new_privs``, closes every file
descriptor but its three pipes, takes its limits, folder and environment;
only then does it read commands. It reads commands as JSON lines on its
command pipe and answers on its message pipe; the submission's own prints
go to stdout/stderr, which the grader drains and ignores. Everything it
sends back is plain data (:mod:`wire`). It holds no secret and decides
nothing: the grader scores what the answers return.

Commands: ``run`` (one cell), ``snapshot`` (the value of a name),
``describe`` (what names hold), ``lock`` (enter the answer phase) and
``call`` (call an answer function on plain-data arguments), until ``bye``.

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
sys.modules["_emkit_guard"] = guard  # the stubs of absent functions raise guard.ReferenceUnavailable


class _Interrupted(BaseException):  # noqa: N818 - a BaseException, like KeyboardInterrupt, so `except Exception` lets it pass
    """The time limit of a cell or call ran out."""


def _stub_check_module(name: str = "emkit.check"):
    stub = types.ModuleType(name, "Self-checks do not run while a submission is being graded.")

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


def preload_libraries(modules: list) -> dict:
    """Import the libraries a notebook needs (not emkit), draw once, make the shell: the mother zygote's work."""
    import warnings

    warnings.simplefilter("ignore")
    sys.dont_write_bytecode = True
    os.environ["MPLBACKEND"] = "Agg"
    import matplotlib
    import numpy  # noqa: F401 - loaded now, before any submission
    import sympy  # noqa: F401

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    for name in modules:
        if name == "emkit" or name.startswith("emkit."):
            raise ValueError("the mother zygote must not load emkit (each child loads it with its own absences)")
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an optional library (scikit-learn, SciPy) that is not installed
    fig, ax = plt.subplots()  # load the fonts now: reading them later is fine, but slower
    ax.set_title("warm-up $x^2$")
    fig.canvas.draw()
    plt.close(fig)
    shell_config = Config()
    shell_config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=shell_config)
    shell.showtraceback = lambda *a, **k: None  # errors are reported as plain text below
    shell.showsyntaxerror = lambda *a, **k: None
    return {"shell": shell, "plt": plt}


def load_emkit(state: dict, emkit_dir: str, modules: list, absent=(), remembered: bytes | None = None) -> dict:
    """Import emkit with markers and the ``absent`` functions stubbed (a child zygote's work); no submission yet.

    ``remembered`` is a pickle of slow, pure SymPy results (``emkit.symbolic.remember``)
    made by the grader's own process for this batch.
    """
    table: list = []
    absent = frozenset(absent)
    stub = _stub_check_module()
    sys.modules["emkit.check"] = stub
    sys.meta_path.insert(0, guard.MarkingFinder(emkit_dir, table, {"emkit.check": stub}, absent))
    import emkit

    emkit.check = stub
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an optional module that this version of emkit does not have
    missing, stubs = [], {}
    for qualified in sorted(absent):  # each forbidden function must now be its stub, or the zygote refuses to serve
        module, _, rest = qualified.rpartition(".")
        obj = sys.modules.get(module)
        if obj is None and "." in module:  # a method: emkit.module.Class.method
            module, _, cls = module.rpartition(".")
            obj = getattr(sys.modules.get(module), cls, None)
        fn = getattr(obj, rest, None)
        while hasattr(fn, "__wrapped__"):  # a decorated function: the stub is the innermost one
            fn = fn.__wrapped__
        code = getattr(fn, "__code__", None)
        if code is None or not any("is not available while this notebook is graded" in str(c) for c in code.co_consts):
            missing.append(qualified)
        else:
            stubs[qualified] = fn
    if missing:
        raise RuntimeError(f"these forbidden functions could not be made absent: {', '.join(missing)}")
    symbolic = sys.modules.get("emkit.symbolic")
    if remembered and symbolic is not None and "emkit.symbolic.remember" not in absent:
        import pickle

        values = pickle.loads(remembered)  # noqa: S301 - made by the grader's own process, never by a submission
        symbolic.remember({k: v for k, v in values.items() if f"emkit.symbolic.{k}" not in absent})
    return {**state, "table": table, "stubs": stubs}


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
    for name in config.get("stub_modules", []):  # the instructor's check modules: self-checks do not run either
        if isinstance(name, str) and name.isidentifier() and name not in sys.modules:
            sys.modules[name] = _stub_check_module(name)
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

    guard.install(fd=msg_fd, token=config["token"], table=state["table"])
    del init, config["token"]
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
        elif op == "restore":  # every question that forbade these functions is graded: their real code comes back
            failed = {}
            for qualified, text in cmd["functions"].items():
                stub = state["stubs"].get(qualified)
                try:
                    module = sys.modules[stub.__module__]
                    made: dict = {}
                    exec(compile(text, module.__file__, "exec", dont_inherit=True), module.__dict__, made)  # noqa: S102 - emkit's own source, from the grader
                    stub.__code__ = made[stub.__name__].__code__
                except Exception as exc:  # noqa: BLE001 - the function stays absent; the grader notes it
                    failed[qualified] = f"{type(exc).__name__}: {exc}"[:200]
            send({"op": "restored", "failed": failed})
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
    """In a freshly forked runner: limits, its folder and environment."""
    limit = int(child["memory_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024 * 1024, 64 * 1024 * 1024))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.chdir(child["cwd"])
    os.environ.clear()
    os.environ.update(child["env"])
    import tempfile

    tempfile.tempdir = None


# ---------------------------------------------------------------------------
# Entering the sandbox (Linux): setns, capabilities, no_new_privs
# ---------------------------------------------------------------------------

CLONE_FLAGS = {
    "owner": 0x10000000,  # CLONE_NEWUSER: the user namespace that owns the sandbox's mount namespace
    "user": 0x10000000,
    "mnt": 0x00020000,
    "pid": 0x20000000,
    "net": 0x40000000,
    "ipc": 0x08000000,
    "uts": 0x04000000,
}
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 28, 38, 47
SECURE_ALL_LOCKED = 0xEF  # noroot, no_setuid_fixup, keep_caps locked, no_cap_ambient_raise: each locked


def _libc():
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def _fail(ctypes, what: str):
    err = ctypes.get_errno()
    return OSError(err, f"{what}: {os.strerror(err)}")


def die_with_parent() -> None:
    ctypes, libc = _libc()
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def join_namespaces(ns_list) -> None:
    """Join the sandbox's namespaces, the owner of its mount namespace first (then we may enter it)."""
    ctypes, libc = _libc()
    current_user = os.stat("/proc/self/ns/user").st_ino  # read now: after the mount namespace, /proc is theirs
    for name, fd in ns_list:
        ino = os.fstat(fd).st_ino
        if name in ("owner", "user"):
            if ino == current_user:
                continue
            current_user = ino
        if libc.setns(fd, CLONE_FLAGS[name]) != 0:
            raise _fail(ctypes, f"setns({name})")


def drop_privileges(uid: int | None = None) -> None:
    """Give up every capability for good (bounding, ambient, effective, permitted, inheritable) and set no_new_privs.

    With ``uid`` (the grader runs as root), first become that user and its
    group, with no supplementary groups: root owns too much to be anyone's
    sandbox user.
    """
    ctypes, libc = _libc()
    libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    if libc.prctl(PR_SET_SECUREBITS, SECURE_ALL_LOCKED, 0, 0, 0) != 0:
        raise _fail(ctypes, "prctl(PR_SET_SECUREBITS)")
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() == 22:  # EINVAL: past the last capability this kernel knows
                break
            raise _fail(ctypes, f"prctl(PR_CAPBSET_DROP, {cap})")
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() == 0 or os.geteuid() == 0 or os.getgid() == 0:
            raise OSError("the runner is still root")

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()  # _LINUX_CAPABILITY_VERSION_3, all zero
    if libc.capset(ctypes.byref(header), data) != 0:
        raise _fail(ctypes, "capset")
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise _fail(ctypes, "prctl(PR_SET_NO_NEW_PRIVS)")
    with open("/proc/self/status", encoding="ascii") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        if int(status.get(key, "1").strip() or "1", 16) != 0:
            raise OSError(f"capabilities left after dropping them: {key} = {status.get(key, '?').strip()}")
    if status.get("NoNewPrivs", "").strip() != "1":
        raise OSError("no_new_privs is not set")


def _close_fds_except(keep) -> None:
    low = 3
    for fd in sorted(k for k in keep if k >= 3):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _runner(state: dict, request: dict, cmd_r: int, msg_w: int, out_w: int, sandboxed: bool) -> int:
    """The runner's own process: its descriptors, privileges, limits, folder; then serve the grader."""
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    _close_fds_except({cmd_r, msg_w})
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    die_with_parent()
    if sandboxed:
        os.setsid()  # its own session and process group, inside the sandbox's PID namespace
        drop_privileges(request.get("uid"))
    try:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as f:
            f.write("1000")  # if memory runs out, the kernel takes a runner, never the grader
    except OSError:
        pass
    _become(request)
    return serve(state, os.fdopen(cmd_r, "rb", buffering=1 << 16), msg_w)


def _tell(fd: int, message: dict) -> None:
    try:
        os.write(fd, wire.dumps(message))
    except OSError:
        pass


def _forked(state: dict, request: dict, fds: list, control) -> None:
    """In the zygote's child: enter the sandbox (if any), become the runner; never returns."""
    code = 1
    try:
        control.close()
        os.setsid()
        die_with_parent()
        cmd_r, msg_w, out_w, *ns_fds = fds
        sandboxed = bool(request.get("namespaces"))
        for procs in request.get("cgroups", []):  # its own share of CPU, processes and memory, for all it starts
            with open(procs, "w", encoding="ascii") as f:
                f.write(str(os.getpid()))
        if not sandboxed:
            code = _runner(state, request, cmd_r, msg_w, out_w, False)
        else:
            names = request["namespaces"]
            try:
                join_namespaces(list(zip(names, ns_fds, strict=True)))
            except OSError as exc:
                _tell(msg_w, {"op": "sandbox-failed", "reason": f"could not enter the sandbox ({exc})"})
                os._exit(1)
            for fd in ns_fds:
                os.close(fd)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            pid = os.fork()  # the runner proper: a member of the sandbox's PID namespace
            if pid == 0:
                try:
                    code = _runner(state, request, cmd_r, msg_w, out_w, True)
                except OSError as exc:
                    _tell(msg_w, {"op": "sandbox-failed", "reason": f"could not lock the sandbox ({exc})"})
                    code = 1
                os._exit(code)
            for fd in (cmd_r, msg_w, out_w):
                os.close(fd)
            _close_fds_except(set())
            while True:
                try:
                    os.waitpid(pid, 0)
                    break
                except ChildProcessError:
                    break
                except InterruptedError:
                    continue
            code = 0
    except BaseException:  # noqa: BLE001 - a runner that fails ends; the grader sees its pipe close
        code = 1
    os._exit(code)


def mother(sock_fd: int) -> int:
    """Load the libraries once; then fork a child zygote per request (each loads emkit with its own absences)."""
    control = socket.socket(fileno=sock_fd)
    die_with_parent()
    hello = json.loads(control.recv(1 << 20).decode())
    try:
        state = preload_libraries(hello["libraries"])
    except Exception as exc:  # noqa: BLE001 - say why, then stop
        control.sendall((json.dumps({"op": "failed", "reason": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
        return 1
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    control.sendall(b'{"op": "mother-ready"}\n')
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 1 << 20, 1)
        except OSError:
            return 0
        if not data:
            return 0
        request = json.loads(data.decode())
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                control.close()
                die_with_parent()
                code = zygote(state, socket.socket(fileno=fds[0]), request)
            finally:
                os._exit(code)
        for fd in fds:
            os.close(fd)
        control.sendall((json.dumps({"op": "forked", "pid": pid}) + "\n").encode())


def zygote(state: dict, control, hello: dict) -> int:
    """A child zygote: emkit with this request's absences; then fork a runner for each request on the socket."""
    try:
        remembered = None
        if hello.get("remembered_path"):
            with open(hello["remembered_path"], "rb") as f:
                remembered = f.read()
        state = load_emkit(state, hello["emkit_dir"], hello["preload"], hello.get("absent", []), remembered)
    except Exception as exc:  # noqa: BLE001 - say why, then stop
        control.sendall((json.dumps({"op": "zygote-failed", "reason": f"{type(exc).__name__}: {exc}"}) + "\n").encode())
        return 1
    control.sendall(b'{"op": "zygote-ready"}\n')
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 1 << 20, 16)
        except OSError:
            return 0
        if not data:
            return 0
        request = json.loads(data.decode())
        pid = os.fork()
        if pid == 0:
            _forked(state, request, fds, control)
        for fd in fds:
            os.close(fd)
        control.sendall((json.dumps({"op": "forked", "pid": pid}) + "\n").encode())


def probe(arg: str) -> int:
    """Enter a sandbox the way a runner does and print (as JSON) every wall that does not stand."""
    config = json.loads(arg)
    pid = os.fork()
    if pid == 0:
        try:
            join_namespaces([(name, fd) for name, fd in config["ns"]])
            inner = os.fork()
            if inner == 0:
                die_with_parent()
                drop_privileges(config.get("uid"))
                os.chdir(config["scratch"] + "/work")
                seen = {}
                seen["the runner is root"] = os.geteuid() == 0 or os.getuid() == 0
                for secret in ("/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches"):
                    try:
                        os.close(os.open(secret, os.O_WRONLY))
                        seen[f"{secret} is writable"] = True
                    except OSError:
                        pass
                try:
                    os.close(os.open("/etc/shadow", os.O_RDONLY))
                    seen["/etc/shadow is readable"] = True
                except OSError:
                    pass
                seen["a file outside the scratch folder is visible"] = os.path.exists(config["canary"])
                seen["the project's folders are visible"] = os.path.exists(os.path.dirname(__file__) + "/grader.py")
                try:
                    os.kill(config["grader"], 0)
                    seen["the grader's process can be signalled"] = True
                except OSError:
                    seen["the grader's process can be signalled"] = False
                try:
                    socket.create_connection(("1.1.1.1", 80), timeout=2).close()
                    seen["the network is reachable"] = True
                except OSError:
                    seen["the network is reachable"] = False
                try:
                    with open("written", "w") as f:
                        f.write("ok")
                    seen["the scratch folder is not writable"] = False
                except OSError:
                    seen["the scratch folder is not writable"] = True
                try:
                    with open("/usr/emkit-probe", "w") as f:
                        f.write("x")
                    seen["the system is writable"] = True
                except OSError:
                    seen["the system is writable"] = False
                print(json.dumps(seen), flush=True)
                os._exit(0)
            _, status = os.waitpid(inner, 0)
            os._exit(os.waitstatus_to_exitcode(status))
        except BaseException as exc:  # noqa: BLE001
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--mother":
        sys.exit(mother(int(sys.argv[2])))
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        sys.exit(probe(sys.argv[2]))
    sys.exit("runner.py is started by emkit grade")
