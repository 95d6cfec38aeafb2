"""The guard inside a submission's runner: markers in emkit's functions, and an audit hook.

Loaded by the runner from its file (it imports only the standard library)
before any submission code runs. It does two things.

**Markers.** emkit's model modules are imported through :class:`MarkingFinder`,
which inserts one statement pair at the top of every function and method::

    def _emkit_ref_17(): pass
    _emkit_ref_17.__code__  # emkit grade: a call marker

(the marked text is also what ``inspect.getsource`` shows in the runner, so a
copy of emkit's code executed from it carries its markers too).

Reading ``__code__`` raises the audit event ``object.__getattr__``; the hook
below recognises the marker (by the function's name) and reports that
``emkit.kmeans.assign`` (say) was called. Nothing in the statement looks up a
global or builtin name, so a submission cannot patch it away; and the event
fires however the function was reached (an alias, ``getattr``,
``__import__('em' + 'kit.kmeans')``, ``importlib``, a call from another
emkit function such as ``fit``).

**The audit hook** (:func:`install`; PEP 578: hooks cannot be removed) reports
marker hits to the grader on a file descriptor it checks before every write,
and refuses, once submission code runs:

* reading files outside the Python installation, ``/usr/share``, ``/etc`` and
  the submission's own scratch folder, and reading emkit's own source (its
  data files stay readable); writing, renaming or deleting anything outside
  the scratch folder;
* starting processes, signalling other processes, sockets,
  ctypes, ``gc``'s object lists, tracing and profiling hooks, new audit
  hooks, resource limits;
* rebuilding emkit's code objects (``code.replace`` on them), marshalling code
  out (``marshal.dumps``), replacing an emkit function's code, and executing
  emkit's module code objects;
* loading compiled extension modules from outside the Python installation.

Once the runner enters the *answer* phase, a marker of a function that some
graded question forbids also raises, so its result cannot be used. The hook
uses only values captured when it was made (no module globals, no builtins
looked up later), so patching ``os``, ``builtins`` or this module later
changes nothing.

What this does not stop is documented in the README (an OS sandbox,
``--sandbox bwrap``, adds a second wall).
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import os
import sys

MARKER_PREFIX = "_emkit_ref_"
MARKED_MODULES = ("coins", "em", "gmm", "kmeans", "missing", "soft", "symbolic", "datasets", "_validation", "_core")


# ---------------------------------------------------------------------------
# Markers
# ---------------------------------------------------------------------------


def _functions(tree):
    """Module-level functions and the methods of module-level classes, with their qualified names."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, node.name
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield item, f"{node.name}.{item.name}"


def marked_source(source: str, module: str, table: list) -> str:
    """``source`` with a marker as the first statement of each function (lines inserted, nothing else changed).

    The marker goes on lines of its own after the docstring, at the body's
    indentation, so that the code objects and the text that ``inspect`` and
    tracebacks show stay in step. (A function whose body shares its ``def``
    line gets no marker: emkit has none.)
    """
    lines = source.splitlines(keepends=True)
    inserts = []
    for fn, qual in _functions(ast.parse(source)):
        body = fn.body
        first = body[0]
        if first.lineno == fn.lineno:
            continue
        docstring = (
            isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
        )
        anchor = body[1] if docstring and len(body) > 1 else first
        if docstring and len(body) == 1:
            at = first.end_lineno  # insert after the docstring, at the end of the body
        else:
            at = anchor.lineno - 1
        indent = lines[first.lineno - 1][: len(lines[first.lineno - 1]) - len(lines[first.lineno - 1].lstrip())]
        name = f"{MARKER_PREFIX}{len(table)}"
        table.append(f"{module}.{qual}")
        inserts.append((at, f"{indent}def {name}(): pass\n{indent}{name}.__code__  # emkit grade: a call marker\n"))
    for at, text in sorted(inserts, reverse=True):
        lines.insert(at, text)
    return "".join(lines)


class _MarkingLoader(importlib.machinery.SourceFileLoader):
    """emkit's own files, with markers in the model modules; never from a bytecode cache."""

    def __init__(self, fullname: str, path: str, marked: bool, table: list):
        super().__init__(fullname, path)
        self.marked, self.table, self._text = marked, table, None

    def get_source(self, fullname):
        if self._text is None:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
            self._text = marked_source(text, self.name, self.table) if self.marked else text
            st = os.stat(self.path)
            linecache.cache[self.path] = (st.st_size, st.st_mtime, self._text.splitlines(keepends=True), self.path)
        return self._text

    def get_code(self, fullname):
        return compile(self.get_source(fullname), self.path, "exec", dont_inherit=True)


class MarkingFinder(importlib.abc.MetaPathFinder):
    """Finds ``emkit`` and its submodules in ``package_dir`` and loads them with markers."""

    def __init__(self, package_dir: str, table: list, stubs: dict):
        self.package_dir, self.table, self.stubs = package_dir, table, stubs

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "emkit" and not fullname.startswith("emkit."):
            return None
        if fullname in self.stubs:
            return None
        parts = fullname.split(".")[1:]
        base = os.path.join(self.package_dir, *parts)
        if os.path.isfile(os.path.join(base, "__init__.py")):
            file, search = os.path.join(base, "__init__.py"), [base]
        elif os.path.isfile(base + ".py"):
            file, search = base + ".py", None
        else:
            return None
        marked = len(parts) == 1 and parts[0] in MARKED_MODULES
        loader = _MarkingLoader(fullname, file, marked, self.table)
        return importlib.util.spec_from_file_location(fullname, file, loader=loader, submodule_search_locations=search)


# ---------------------------------------------------------------------------
# The audit hook
# ---------------------------------------------------------------------------

_DENY_ALWAYS = frozenset(
    {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
        "os.startfile",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "sys.settrace",
        "sys.setprofile",
        "sys._current_frames",
        "sys._current_exceptions",
        "sys.addaudithook",
        "resource.setrlimit",
        "resource.prlimit",
        "marshal.dumps",
        "builtins.input",
        "webbrowser.open",
        "urllib.Request",
        "http.client.connect",
        "ftplib.connect",
        "smtplib.connect",
        "nntplib.connect",
        "poplib.connect",
        "imaplib.open",
        "telnetlib.Telnet.open",
        "fcntl.ioctl",
        "syslog.openlog",
        "os.add_dll_directory",
    }
)
_PATH_WRITES = frozenset(
    {
        "os.mkdir",
        "os.remove",
        "os.rmdir",
        "os.truncate",
        "os.chmod",
        "os.chown",
        "os.utime",
        "os.chflags",
        "os.lchflags",
        "os.lchmod",
        "os.setxattr",
        "os.removexattr",
        "shutil.rmtree",
        "shutil.chown",
    }
)
_PATH_READS = frozenset({"os.listdir", "os.scandir", "os.listxattr", "os.getxattr", "glob.glob", "sqlite3.connect"})
_TWO_PATHS = frozenset({"os.rename", "os.link", "os.symlink", "shutil.copyfile", "shutil.copymode", "shutil.copystat"})


def install(
    *,
    fd: int,
    token: str,
    scratch: str,
    read_roots: list,
    deny_roots: list,
    allow_roots: list,
    table: list,
    forbidden: frozenset,
):
    """Install the hook. Returns nothing: the hook is reachable from nowhere but the interpreter."""
    # Everything the hook uses is bound here, once: later patches of os, sys, builtins or this module
    # do not reach it.
    _write, _fstat, _lstat, _readlink, _getcwd = os.write, os.fstat, os.lstat, os.readlink, os.getcwd
    import stat as _stat_module
    import types as _types_module

    _islink = _stat_module.S_ISLNK
    _FunctionType, _CodeType = _types_module.FunctionType, _types_module.CodeType
    _str, _bytes, _int, _type, _len = str, bytes, int, type, len
    _PermissionError, _RuntimeError, _OSError = PermissionError, RuntimeError, OSError
    _O_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    _ident = (_fstat(fd).st_dev, _fstat(fd).st_ino)
    _prefix = "\n@@" + token + " "
    _names = tuple(table)  # marker index -> qualified name
    _forbidden = frozenset(forbidden)
    _scratch = scratch.rstrip("/")
    own = f"/proc/{os.getpid()}"  # its own /proc entries (threadpoolctl reads maps), but not its memory
    _read_roots = (*(r.rstrip("/") for r in read_roots), own)
    _deny_roots = (*(r.rstrip("/") for r in deny_roots), own + "/mem", own + "/task", own + "/pagemap", own + "/fd")
    _allow_roots = tuple(r.rstrip("/") for r in allow_roots)
    _emkit_files = tuple(r.rstrip("/") for r in deny_roots[:1])
    state = [0, False, 0]  # phase (0 preload, 1 cells, 2 answers), channel tampered, reports sent
    _deny_always = _DENY_ALWAYS
    _path_writes, _path_reads, _two_paths = _PATH_WRITES, _PATH_READS, _TWO_PATHS
    _marker_prefix = MARKER_PREFIX
    _marker_len = _len(MARKER_PREFIX)

    def report(kind, detail):
        if state[2] > 2000:
            return
        state[2] += 1
        try:
            st = _fstat(fd)
            if (st.st_dev, st.st_ino) != _ident:
                state[1] = True
                return
            data = (_prefix + kind + " " + detail + "\n").encode("utf-8", "replace")
            while data:
                n = _write(fd, data)
                data = data[n:]
        except _OSError:
            state[1] = True

    def under(path, root):
        return path == root or path.startswith(root + "/")

    def realpath(path):
        if _type(path) is _bytes:
            path = path.decode("utf-8", "surrogateescape")
        if _type(path) is not _str:
            return None
        if not path.startswith("/"):
            path = _getcwd() + "/" + path
        rest = [p for p in path.split("/") if p and p != "."]
        resolved = []
        hops = 0
        while rest:
            part = rest.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join([*resolved, part])
            try:
                link = _islink(_lstat(candidate).st_mode)
            except _OSError:
                link = False
            if link:
                hops += 1
                if hops > 40:
                    return None
                target = _readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                rest = [p for p in target.split("/") if p and p != "."] + rest
            else:
                resolved.append(part)
        return "/" + "/".join(resolved)

    def readable(path):
        real = realpath(path)
        if real is None:
            return False
        if under(real, _scratch):
            return True
        for root in _allow_roots:  # emkit's data files
            if under(real, root):
                return True
        for root in _deny_roots:  # emkit's source, the project it came from
            if under(real, root):
                return False
        for root in _read_roots:
            if under(real, root):
                return True
        return False

    def writable(path):
        real = realpath(path)
        return real is not None and (under(real, _scratch) or real == "/dev/null")

    def refuse(event, what):
        report("denied", event + " " + what[:300])
        raise _PermissionError("not allowed while grading: " + event + " " + what[:200])

    def emkit_code(code):
        name = code.co_filename
        if _type(name) is not _str:
            return False
        for root in _emkit_files:
            if under(name, root):
                return True
        return False

    def hook(event, args):
        # Every value from `args` is type-checked exactly before it is compared or used: a submission can
        # raise events itself (sys.audit) with objects whose __eq__ would otherwise run inside this hook.
        if event == "object.__getattr__":
            if _len(args) < 2 or _type(args[1]) is not _str or args[1] != "__code__":
                return
            obj = args[0]
            if _type(obj) is _FunctionType:
                name = obj.__name__
                if _type(name) is _str and name.startswith(_marker_prefix):
                    digits = name[_marker_len:]
                    if digits.isdigit() and _int(digits) < _len(_names):
                        qual = _names[_int(digits)]
                        report("ref", qual)
                        if (state[0] == 2 or state[1]) and qual in _forbidden:
                            raise _RuntimeError("emkit's reference implementation is not available while grading")
                    return
            return
        if event == "emkit.grading.phase":
            if _len(args) == 1 and _type(args[0]) is _str:
                if args[0] == "cells" and state[0] < 1:
                    state[0] = 1
                elif args[0] == "answers":
                    state[0] = 2
            return
        if state[0] == 0:
            return
        if event == "open":
            path, mode, flags = (args + (None, None, None))[:3]
            if _type(path) is _int:
                return
            write = (_type(mode) is _str and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)) or (
                _type(flags) is _int and flags & _O_WRITE
            )
            ok = writable(path) if write else readable(path)
            if not ok:
                refuse("open" + (" for writing" if write else ""), path if _type(path) is _str else "?")
            return
        if event in _deny_always or event.startswith("socket.") or event.startswith("ctypes."):
            refuse(event, "")
        if event == "object.__setattr__":
            if _len(args) >= 2 and _type(args[1]) is _str and args[1] == "__code__" and _type(args[0]) is _FunctionType:
                mod = args[0].__module__
                if _type(mod) is not _str or mod == "emkit" or mod.startswith("emkit."):
                    refuse("replacing the code of", "an emkit function")
            return
        if event == "code.__new__":
            if _len(args) > 1 and _type(args[1]) is _str:
                for root in _emkit_files:
                    if under(args[1], root):
                        refuse("rebuilding the code of", "an emkit function")
            return
        if event == "exec":
            if args and _type(args[0]) is _CodeType and emkit_code(args[0]):
                refuse("exec of", "emkit's code")
            return
        if event in _path_writes:
            if args and not writable(args[0]):
                refuse(event, args[0] if _type(args[0]) is _str else "?")
            return
        if event in _path_reads:
            if args and args[0] is not None and _type(args[0]) is not _int and not readable(args[0]):
                refuse(event, args[0] if _type(args[0]) is _str else "?")
            return
        if event in _two_paths:
            if _len(args) >= 2 and (not writable(args[1]) or not (writable(args[0]) or readable(args[0]))):
                refuse(event, args[1] if _type(args[1]) is _str else "?")
            return
        if event == "import":
            filename = args[1] if _len(args) > 1 else None
            if filename is not None and not readable(filename):
                refuse("loading the compiled module", filename if _type(filename) is _str else "?")
            return

    sys.addaudithook(hook)
