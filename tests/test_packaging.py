"""The set-up files agree with each other, and the shipped data are what they claim."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np

from emkit import datasets

ROOT = Path(__file__).resolve().parents[1]


def requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_names_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {requirement_name(s) for s in project["dependencies"]}
    wanted |= {requirement_name(s) for s in project["optional-dependencies"]["test"]}  # "present" is pip-only
    conda = set()
    dependencies = (ROOT / "environment.yml").read_text().split("\ndependencies:\n", 1)[1]
    for line in dependencies.splitlines():
        match = re.match(r"^  - ([A-Za-z0-9_.\-]+)", line)  # top-level conda entries only
        if match:
            conda.add(requirement_name(match.group(1)))
    assert conda - {"python", "pip"} == wanted
    assert "      - -e ." in (ROOT / "environment.yml").read_text()  # installs the project itself


def test_runtime_needs_no_test_reference_libraries():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {requirement_name(s) for s in project["dependencies"]}
    assert runtime == {"numpy", "matplotlib", "sympy", "ipywidgets", "jupyterlab"}
    for path in (ROOT / "emkit").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from) (scipy|sklearn)\b", text, re.M), path


def test_readme_quick_start_is_two_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```(?:sh|bash)?\n(.*?)```", section, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert commands == ["python3 course.py lab", "python3 course.py test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 course.py test" in ci


def test_old_faithful_ships_with_its_source_note():
    X = datasets.old_faithful()
    assert X.shape == (272, 2)
    np.testing.assert_allclose(X.mean(axis=0), [3.4878, 70.8971], atol=5e-5)
    note = (ROOT / "emkit" / "data" / "README.md").read_text()
    assert "Azzalini & Bowman 1990" in note and "faithful" in note
