"""Which of emkit's functions a function calls, read from the source: the closure of a question's forbidden set.

A question forbids the emkit functions that compute its answer
(``emkit.kmeans.assign``). Their work lives in private helpers too
(``_assign``, ``_distance_weights``); a list written by hand misses some. So
the grader makes absent not only the functions a question names but every
private helper (a name starting with ``_``) they reach inside emkit, found by
reading emkit's source (module-level functions, called by name or as
``module.name``). Public functions they call (``symbolic.q_parts``, which a
later exercise starts from) stay unless the question names them. Exempt:

* what the question *allows*, and what any public emkit function the
  question does not forbid reaches, so that every function a learner may
  call still works (a question forbidding ``emkit.gmm.elbo`` leaves
  ``gmm.log_joint`` and the argument checks it shares with ``elbo``); a
  helper goes only when every public route to it is forbidden;
* the plumbing every public function goes through: argument checks
  (``emkit._validation``), the general EM driver (``emkit.em``) and the
  row-block iterators of ``emkit._core``, which compute nothing of an answer.

>>> closure = forbidden_closure({"emkit.kmeans.assign", "emkit.kmeans.fit", "emkit.kmeans.squared_distances"})
>>> "emkit.kmeans._assign" in closure and "emkit.kmeans.assign" in closure
True
>>> "emkit.kmeans._assign" in forbidden_closure({"emkit.kmeans.assign"})  # kmeans.fit still runs it
False
>>> any(name.startswith("emkit._validation.") for name in closure)
False
>>> "emkit.gmm._check_params" in forbidden_closure({"emkit.gmm.elbo"})  # gmm.log_joint needs it
False
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from .. import safe_ast

PACKAGE = Path(__file__).resolve().parents[1]
PLUMBING = ("emkit._validation.", "emkit.em.", "emkit._core.block_rows", "emkit._core.row_blocks",
            "emkit._core.row_slices")  # fmt: skip


def _modules() -> list[str]:
    from .guard import MARKED_MODULES

    return [m for m in MARKED_MODULES if (PACKAGE / f"{m}.py").exists()]


@functools.cache
def call_graph() -> dict[str, frozenset]:
    """emkit function (qualified) -> the emkit functions it references (module-level, by name or module.name)."""
    graph: dict[str, frozenset] = {}
    for module in _modules():
        tree = safe_ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
        local = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        aliases: dict[str, str] = {}  # a name bound by an import -> the emkit function or module it stands for
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                for a in node.names:
                    target = f"emkit.{node.module}.{a.name}" if node.module else f"emkit.{a.name}"
                    aliases[a.asname or a.name] = target
        for node in tree.body:
            functions = []
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions.append((f"emkit.{module}.{node.name}", node))
            elif isinstance(node, ast.ClassDef):
                functions += [
                    (f"emkit.{module}.{node.name}.{item.name}", item)
                    for item in node.body
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
                ]
            for qualified, fn in functions:
                refs = set()
                for sub in ast.walk(fn):
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                        if sub.id in local:
                            refs.add(f"emkit.{module}.{sub.id}")
                        elif sub.id in aliases and aliases[sub.id].count(".") == 2:
                            refs.add(aliases[sub.id])
                    elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
                        base = aliases.get(sub.value.id)
                        if base is not None and base.count(".") == 1:  # module.function
                            refs.add(f"{base}.{sub.attr}")
                graph[qualified] = frozenset(r for r in refs if r != qualified)
    return graph


def reach(names) -> set:
    """The emkit functions ``names`` reach (themselves included)."""
    graph = call_graph()
    seen, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += graph.get(name, ())
    return seen


def _private(qualified: str) -> bool:
    return any(part.startswith("_") for part in qualified.split(".")[1:])


def forbidden_closure(forbidden, allowed=()) -> frozenset:
    """The forbidden functions and the private emkit helpers only they reach (not ``allowed``, nor plumbing)."""
    graph = call_graph()
    reached = reach(forbidden)
    still_public = {name for name in graph if not _private(name) and name not in forbidden}
    keep = reach(set(allowed) | still_public)
    out = set()
    for name in reached:
        if name in forbidden:
            out.add(name)  # named by the question: absent even if it is plumbing
        elif name in graph and name not in keep and not name.startswith(PLUMBING) and _private(name):
            out.add(name)
    return frozenset(out)
