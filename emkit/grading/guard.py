"""emkit as a runner sees it: the reference implementation absent, every call of emkit reported.

Loaded by the runner from its file (it imports only the standard library)
before any submission code runs. The OS sandbox (:mod:`.sandbox`) is the
wall: it keeps a submission away from the network, the disk, the grader and
the other submissions. What the wall cannot see is *which of emkit's
functions* a submission used, and that is all this module is about.

**Absence.** A question names the emkit functions that compute its answer
(``forbidden``). The runner's zygote loads emkit through :class:`MarkingFinder`,
which rewrites the *source* of each forbidden function before it is compiled:
the body is replaced by a statement that raises
:class:`ReferenceUnavailable`. The real code of such a function never exists
in the runner's process, in any form (no code object, no bytecode, no text:
``inspect.getsource`` and ``linecache`` show the stub; emkit's files are not
visible inside the sandbox). Renaming code objects, reading the source back
and executing it, running emkit in a child process: each finds only the stub.
Every emkit function that calls a forbidden one (``fit`` calls ``assign``)
reaches the stub too.

**Markers, for the report.** Every other emkit function gets a marker as its
first statement::

    def _emkit_ref_17(): pass
    _emkit_ref_17.__code__  # emkit grade: a call marker

Reading ``__code__`` raises the audit event ``object.__getattr__``; the hook
installed by :func:`install` (PEP 578: it cannot be removed) recognises the
marker by its name and reports ``emkit.kmeans.assign`` (say) to the grader
on its message channel. A stub reports itself the same way before it
raises. The report says which of emkit's functions an answer used, and an
answer that reached a forbidden one scores 0 with the status "uses the
reference implementation". The markers are a diagnostic, not a wall:
audit hooks are not a security boundary (PEP 578 says so), which is why the
wall is the sandbox and the reference's absence.
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import os
import sys

try:  # in the grader: parses take turns across its threads (see emkit.safe_ast)
    from ..safe_ast import parse as _parse
except ImportError:  # in the runner, which loads this file on its own (one thread parses)
    _parse = ast.parse

MARKER_PREFIX = "_emkit_ref_"
MARKED_MODULES = (
    "coins",
    "em",
    "gmm",
    "kmeans",
    "missing",
    "soft",
    "symbolic",
    "datasets",
    "_validation",
    "_core",
    "hmm",
    "inference",
    "accelerate",
    "online",
    "expfamily",
)


class ReferenceUnavailable(RuntimeError):
    """Raised by an emkit function that a graded question forbids: its real code is not in this process."""


def _functions(tree):
    """Module-level functions and the methods of module-level classes, with their qualified names."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, node.name
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield item, f"{node.name}.{item.name}"


def _nested_functions(tree):
    """Every function defined anywhere in the module (for stripping the ones inside absent functions)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield node


def marked_source(source: str, module: str, table: list, absent: frozenset = frozenset()) -> str:
    """``source`` with a marker in each function, and the body of each ``absent`` function replaced by a stub.

    Lines are only inserted or replaced within a function's own line range,
    so that the text that ``inspect`` and tracebacks show stays in step with
    the code. A function whose qualified name (``emkit.kmeans.assign``) is in
    ``absent`` keeps its ``def`` line (signature and decorators) and its
    docstring; every line of its body after that becomes blank, and a stub
    that reports the call and raises takes the first line.
    """
    lines = source.splitlines(keepends=True)
    edits = []  # (first line index, last line index (exclusive), replacement text)
    for fn, qual in _functions(_parse(source)):
        body = fn.body
        first = body[0]
        if first.lineno == fn.lineno:
            if f"{module}.{qual}" in absent:
                raise ValueError(f"{module}.{qual}: a function on one line cannot be made absent")
            continue
        docstring = (
            isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
        )
        indent = lines[first.lineno - 1][: len(lines[first.lineno - 1]) - len(lines[first.lineno - 1].lstrip())]
        name = f"{MARKER_PREFIX}{len(table)}"
        full = f"{module}.{qual}"
        table.append(full)
        marker = f"{indent}def {name}(): pass\n{indent}{name}.__code__  # emkit grade: a call marker\n"
        if full in absent:
            start = first.end_lineno if docstring else first.lineno - 1  # keep the docstring
            end = fn.end_lineno
            stub = marker + (
                f"{indent}raise __import__('_emkit_guard').ReferenceUnavailable("
                f"'{full} is not available while this notebook is graded: the question asks for your own code')\n"
            )
            blank = max(0, end - start - stub.count("\n"))
            edits.append((start, end, stub + "\n" * blank))
        else:
            anchor = body[1] if docstring and len(body) > 1 else first
            at = first.end_lineno if docstring and len(body) == 1 else anchor.lineno - 1
            edits.append((at, at, marker))
    for start, end, text in sorted(edits, reverse=True):
        lines[start:end] = [text]
    return "".join(lines)


def function_source(package_dir: str, qualified: str) -> str:
    """The real source of an emkit module-level function (``emkit.symbolic.q_parts``), for a runner to restore.

    Read by the grader from emkit's file; blank lines before the ``def`` keep
    the line numbers of tracebacks right. Decorators are left out: the
    runner swaps the code of its stub (the innermost function) for this one.
    """
    parts = qualified.split(".")
    path = os.path.join(package_dir, *parts[1:-1]) + ".py"
    with open(path, encoding="utf-8") as f:
        source = f.read()
    for node in _parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == parts[-1]:
            lines = source.splitlines(keepends=True)[node.lineno - 1 : node.end_lineno]
            return "\n" * (node.lineno - 1) + "".join(lines)
    raise LookupError(f"{qualified} is not a module-level function of {path}")


class _MarkingLoader(importlib.machinery.SourceFileLoader):
    """emkit's own files, with markers and absent functions; never from a bytecode cache."""

    def __init__(self, fullname: str, path: str, marked: bool, table: list, absent: frozenset):
        super().__init__(fullname, path)
        self.marked, self.table, self.absent, self._text = marked, table, absent, None

    def get_source(self, fullname):
        if self._text is None:
            with open(self.path, encoding="utf-8") as f:
                text = f.read()
            self._text = marked_source(text, self.name, self.table, self.absent) if self.marked else text
            st = os.stat(self.path)
            linecache.cache[self.path] = (st.st_size, st.st_mtime, self._text.splitlines(keepends=True), self.path)
        return self._text

    def get_code(self, fullname):
        return compile(self.get_source(fullname), self.path, "exec", dont_inherit=True)


class MarkingFinder(importlib.abc.MetaPathFinder):
    """Finds ``emkit`` and its submodules in ``package_dir`` and loads them with markers (and absences)."""

    def __init__(self, package_dir: str, table: list, stubs: dict, absent: frozenset = frozenset()):
        self.package_dir, self.table, self.stubs, self.absent = package_dir, table, stubs, frozenset(absent)

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
        loader = _MarkingLoader(fullname, file, marked, self.table, self.absent)
        return importlib.util.spec_from_file_location(fullname, file, loader=loader, submodule_search_locations=search)


def install(*, fd: int, token: str, table: list) -> None:
    """Install the audit hook that reports marker hits on ``fd``. It refuses nothing: the sandbox is the wall.

    Everything the hook uses is bound here, once, so that patching ``os``,
    ``sys``, ``builtins`` or this module later changes nothing; and every
    value taken from an event is type-checked before use (a submission can
    raise events itself with objects of its own).
    """
    _write, _fstat = os.write, os.fstat
    import types as _types_module

    _FunctionType = _types_module.FunctionType
    _str, _int, _type, _len = str, int, type, len
    _OSError = OSError
    _ident = (_fstat(fd).st_dev, _fstat(fd).st_ino)
    _prefix = "\n@@" + token + " "
    _names = tuple(table)
    _marker_prefix, _marker_len = MARKER_PREFIX, len(MARKER_PREFIX)
    sent = [0]

    def report(kind, detail):
        if sent[0] > 5000:
            return
        sent[0] += 1
        try:
            st = _fstat(fd)
            if (st.st_dev, st.st_ino) != _ident:
                return
            data = (_prefix + kind + " " + detail + "\n").encode("utf-8", "replace")
            while data:
                data = data[_write(fd, data) :]
        except _OSError:
            pass

    def hook(event, args):
        if event != "object.__getattr__" or _len(args) < 2 or _type(args[1]) is not _str or args[1] != "__code__":
            return
        obj = args[0]
        if _type(obj) is _FunctionType:
            name = obj.__name__
            if _type(name) is _str and name.startswith(_marker_prefix):
                digits = name[_marker_len:]
                if digits.isdigit() and _int(digits) < _len(_names):
                    report("ref", _names[_int(digits)])

    sys.addaudithook(hook)
