"""Maintainer tools for the notebooks: re-execute them in place, with outputs.

    python -m emkit.notebook_tools execute notebooks/01_kmeans.ipynb ...

nbval compares a cell's fresh output with the stored one, so after any change
that a notebook depends on, run this (or ``python3 course.py execute``) and
commit the notebook with its new outputs. Execution is in order, in a fresh
kernel, from the notebook's folder, with no timing metadata recorded.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def execute(path: str | Path, timeout: int = 300) -> float:
    """Run a notebook top to bottom in a fresh kernel and save it with its outputs."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    nb.metadata.pop("widgets", None)  # widget state is per session, not content
    nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "execute":
        print(__doc__)
        return 2
    for name in argv[1:]:
        seconds = execute(name)
        print(f"executed {name} in {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
