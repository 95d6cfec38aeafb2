"""``ast.parse`` behind one lock, for code that parses from several threads.

CPython 3.11 keeps the depth counter of its syntax-tree constructor in state
shared by all threads, and a thread switch in the middle of a parse (a
garbage collection can cause one) leaves the counter wrong: the next parse
fails with ``SystemError: AST constructor recursion depth mismatch``
(python/cpython#106905 and the reports linked there). The grader grades
several submissions at once in threads, and each parses emkit's source
(to leave out the reference functions) and answers; one lock makes those
parses take turns. They are short (milliseconds), so nothing waits long.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>", mode: str = "exec") -> ast.AST:
    """``ast.parse(source, filename, mode)``, one thread at a time."""
    with _LOCK:
        return ast.parse(source, filename, mode)
