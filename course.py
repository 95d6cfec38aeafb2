#!/usr/bin/env python3
"""Set up and run the EM course with nothing but Python >= 3.11.

    python3 course.py lab       # set up, then open the course in JupyterLab
    python3 course.py test      # set up (with the test tools, and otter/nbgrader apart), then lint and run every test
    python3 course.py site      # set up, then build the course website into build/site/ (opens offline)
    python3 course.py execute   # (maintainers) regenerate student notebooks, re-run all, store outputs

Set-up means: a virtual environment in ``.venv`` next to this file, with the
project installed in editable mode (and, for ``test``, ``site`` and ``execute``,
its test, present and site extras). ``test`` also makes ``.venv-grading`` with the grading extra
(otter-grader, nbgrader): the tests drive those tools from there, and their
JupyterLab extensions stay out of the course's JupyterLab. An environment is
reinstalled only when ``pyproject.toml`` changes. This script uses the
standard library only.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
GRADING_VENV = ROOT / ".venv-grading"


def bin_dir(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin")


def python(env: Path) -> Path:
    return bin_dir(env) / ("python.exe" if os.name == "nt" else "python")


PYTHON = python(VENV)
TOOLS = "test,present,site"  # test tools; RISE, whose slideshows the browser tests check; the website's Sphinx
LINT_PATHS = ["emkit", "tests", "notebooks", "benchmarks", "course.py"]


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    print("$", " ".join(str(c) for c in cmd), flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(result.returncode)


def setup(extra: str | None, env: Path = VENV) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 -- this script must explain itself on an old Python
        sys.exit(f"The course needs Python >= 3.11; this is {sys.version.split()[0]}.")
    if not python(env).exists():
        print(f"Creating a virtual environment in {env.name}/ ...", flush=True)
        try:
            venv.create(env, with_pip=True)
        except Exception as exc:  # e.g. Debian's python3 without python3-venv
            sys.exit(
                f"Could not create a virtual environment ({exc}).\n"
                "On Debian/Ubuntu install it with:  sudo apt-get install python3-venv"
            )
    spec = "." + (f"[{extra}]" if extra else "")
    stamp = env / f".installed-{extra or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    run(python(env), "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(python(env), "-m", "pip", "install", "--quiet", "-e", spec)
    stamp.write_text(digest)


def lab(args: list[str]) -> None:
    setup(None)
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in args:
        # containers and fresh cloud machines often run as root; JupyterLab refuses that unless told
        args = ["--allow-root", *args]
    # served from the repository's folder (so that the notebooks' links to ../90_appendix_numerics.ipynb and
    # ../../docs/ open), starting at the learner's copy of 00; a file given as an argument would serve its folder
    start = "--LabApp.default_url=/lab/tree/notebooks/exercises/00_start_here.ipynb"
    run(PYTHON, "-m", "jupyter", "lab", start, *args)  # run() works in the repository folder


def test(args: list[str]) -> None:
    setup(TOOLS)
    setup("grading", GRADING_VENV)
    run(PYTHON, "-m", "ruff", "check", *LINT_PATHS)
    run(PYTHON, "-m", "ruff", "format", "--check", *LINT_PATHS)
    run(PYTHON, "-m", "pytest", *args, env={**os.environ, "EMKIT_GRADING_BIN": str(bin_dir(GRADING_VENV))})


def execute(args: list[str]) -> None:
    """Regenerate the student notebooks, then re-run every notebook in place."""
    setup(TOOLS)
    sources = sorted(map(str, ROOT.glob("notebooks/*.ipynb")))
    course = sorted(map(str, ROOT.glob("notebooks/0[0-9]_*.ipynb")))  # the appendix (9x) needs no student version
    if not args and course:
        run(PYTHON, "-m", "emkit", "student", *course, "-o", "notebooks/exercises", "--no-execute")
    targets = args or sources + sorted(map(str, ROOT.glob("notebooks/exercises/*.ipynb")))
    run(PYTHON, "-m", "emkit", "execute", *targets)


def site(args: list[str]) -> None:
    """Build the website (chapters from the stored outputs, decks, downloads) into build/site/."""
    setup(TOOLS)
    run(PYTHON, "-m", "emkit", "site", *args)


COMMANDS = {"lab": lab, "test": test, "site": site, "execute": execute}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(__doc__)
    COMMANDS[sys.argv[1]](sys.argv[2:])
