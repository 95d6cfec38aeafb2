"""Plain data between the grader and a submission's runner: JSON lines, arrays as ``.npy`` without pickle.

This module is loaded by the grader (as ``emkit.grading.wire``) and by the
untrusted runner (from its file, before any submission code runs), so it
imports nothing but the standard library and numpy.

A value is encoded as a small JSON object tagged with ``"t"``:

* ``none``, ``bool``, ``int``, ``float`` (as text, so NaN and inf survive), ``str``;
* ``list`` / ``tuple`` of encoded values (at most :data:`MAX_ITEMS` items, nested at most 4 deep);
* ``npy``: a numeric or boolean array, as the bytes ``numpy.save`` writes with
  ``allow_pickle=False`` (base64), read back with ``allow_pickle=False`` and a size cap;
* ``sympy``: a SymPy object as its text (``sympy.sstr``) and its class name; the
  grader reads the text with the whitelist parser, never ``sympify``;
* ``opaque``: anything else, as its type name only.

Nothing decoded here can run code: no pickle, no eval, no object construction
beyond numbers, strings, lists, tuples and plain arrays.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np

MAX_ITEMS = 10_000
MAX_ARRAY_BYTES = 64 * 1024 * 1024
MAX_TEXT = 200_000
MAX_LINE = 256 * 1024 * 1024


class WireError(ValueError):
    """A message or value that is not valid plain data (a broken or tampered channel)."""


class Opaque:
    """A value the runner could not send as plain data: only its type name arrives."""

    def __init__(self, type_name: str):
        self.type_name = text(type_name, 200) if isinstance(type_name, str) else "value"

    def __repr__(self) -> str:
        return f"<a {self.type_name}>"


def encode(value, depth: int = 0):
    """A JSON-ready description of ``value`` (runner side: may call the submission's own methods)."""
    if value is None:
        return {"t": "none"}
    if isinstance(value, bool | np.bool_):
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        v = int(value)
        if abs(v) < 2**63:
            return {"t": "int", "v": v}
        return {"t": "float", "v": repr(float(v))}
    if isinstance(value, float | np.floating):
        return {"t": "float", "v": repr(float(value))}
    if isinstance(value, str):
        return {"t": "str", "v": str(value)[:MAX_TEXT]}
    if isinstance(value, list | tuple) and not isinstance(value, np.ndarray):
        if depth >= 4 or len(value) > MAX_ITEMS:
            return {"t": "opaque", "type": f"{type(value).__name__} too long or too deeply nested"}
        return {"t": "tuple" if isinstance(value, tuple) else "list", "v": [encode(v, depth + 1) for v in value]}
    module = type(value).__module__ or ""
    if module.startswith("sympy"):
        try:
            import sympy

            return {"t": "sympy", "class": type(value).__name__, "text": sympy.sstr(value)[:MAX_TEXT]}
        except Exception:  # noqa: BLE001 - a value that cannot be printed is opaque
            return {"t": "opaque", "type": f"SymPy {type(value).__name__}"}
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        try:
            arr = np.asarray(value)
        except Exception:  # noqa: BLE001
            return {"t": "opaque", "type": type(value).__name__}
        if arr.dtype.kind not in "biufc" or arr.dtype.hasobject:
            return {"t": "opaque", "type": f"array of dtype {arr.dtype}"}
        if arr.nbytes > MAX_ARRAY_BYTES:
            return {"t": "opaque", "type": f"array of {arr.nbytes} bytes (more than the grader reads)"}
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
        return {"t": "npy", "b": base64.b64encode(buf.getvalue()).decode("ascii")}
    return {"t": "opaque", "type": type(value).__name__}


class SymPyText(str):
    """The text of a SymPy value sent by the runner, with the name of its class."""

    sympy_class = ""


def decode(obj, depth: int = 0):
    """The value described by ``obj`` (grader side: plain data only)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("t"), str):
        raise WireError("not an encoded value")
    t = obj["t"]
    if t == "none":
        return None
    if t == "bool":
        return bool(obj.get("v"))
    if t == "int":
        v = obj.get("v")
        if type(v) is not int:
            raise WireError("bad int")
        return v
    if t == "float":
        v = obj.get("v")
        if not isinstance(v, str) or len(v) > 40:
            raise WireError("bad float")
        return float(v)
    if t == "str":
        v = obj.get("v")
        if not isinstance(v, str):
            raise WireError("bad str")
        return text(v)
    if t in ("list", "tuple"):
        items = obj.get("v")
        if not isinstance(items, list) or len(items) > MAX_ITEMS or depth >= 5:
            raise WireError("bad list")
        out = [decode(v, depth + 1) for v in items]
        return tuple(out) if t == "tuple" else out
    if t == "npy":
        b = obj.get("b")
        if not isinstance(b, str) or len(b) > MAX_ARRAY_BYTES * 4 // 3 + 1024:
            raise WireError("bad array")
        try:
            arr = np.load(io.BytesIO(base64.b64decode(b, validate=True)), allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise WireError(f"bad array ({type(exc).__name__})") from None
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biufc" or arr.dtype.hasobject:
            raise WireError("bad array dtype")
        return arr
    if t == "sympy":
        sympy_text = obj.get("text")
        if not isinstance(sympy_text, str):
            raise WireError("bad sympy text")
        out = SymPyText(text(sympy_text))
        out.sympy_class = text(obj.get("class", ""), 100)
        return out
    if t == "opaque":
        return Opaque(obj.get("type", "value"))
    raise WireError(f"unknown tag {t!r}")


def text(value, limit: int = MAX_TEXT) -> str:
    """A string from the runner made safe to keep: at most ``limit`` characters, no lone surrogates."""
    if not isinstance(value, str):
        return ""
    return value[:limit].encode("utf-8", "replace").decode("utf-8")


def _error(obj) -> dict:
    if not isinstance(obj, dict):
        return {}
    return {
        "type": text(obj.get("type"), 100),
        "message": text(obj.get("message"), 1000),
        "line": text(obj.get("line"), 100),
    }


def clean(message: dict) -> dict:
    """A message from a runner, reduced to the fields its ``op`` may carry, each of the right type and size.

    The grader keeps nothing else a runner sends: a forged message can make
    its own submission's answers unreadable, but cannot put anything large,
    oddly typed or unprintable into the grader's memory or reports.
    """
    op = text(message.get("op"), 40)
    out: dict = {"op": op}

    def integer(key):
        v = message.get(key)
        if type(v) is int:
            out[key] = v

    if op == "ready":
        integer("markers")
    elif op == "cell":
        integer("index")
        out["status"] = text(message.get("status"), 40)
        if "error" in message:
            out["error"] = _error(message.get("error"))
    elif op == "snapshot":
        out["name"] = text(message.get("name"), 100)
        if "error" in message:
            out["error"] = _error(message.get("error"))
        elif "value" in message:
            out["value"] = message.get("value")
    elif op == "described":
        kinds = message.get("kinds")
        if isinstance(kinds, dict):
            out["kinds"] = {text(k, 100): text(v, 100) for k, v in list(kinds.items())[:50]}
    elif op == "restored":
        failed = message.get("failed")
        if isinstance(failed, dict):
            out["failed"] = {text(k, 200): text(v, 200) for k, v in list(failed.items())[:50]}
    elif op in ("result", "not_implemented", "timed_out", "raised"):
        integer("seq")
        if "error" in message:
            out["error"] = _error(message.get("error"))
        if op == "result" and "value" in message:
            out["value"] = message.get("value")
    elif op == "sandbox-failed":
        out["reason"] = text(message.get("reason"), 300)
    return out


def dumps(message: dict) -> bytes:
    return (json.dumps(message, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8")


def loads(line: bytes) -> dict:
    if len(line) > MAX_LINE:
        raise WireError("message too long")
    try:
        message = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"not a JSON message ({exc})") from None
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise WireError("not a message")
    return message
