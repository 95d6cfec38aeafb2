"""The set-up files agree with each other, and the shipped data are what they claim."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

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


def test_readme_is_a_front_door():
    """At most 160 lines: the two commands, every notebook on the course map, each use's guide, the website."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 160
    assert "python3 course.py lab" in readme and "python3 course.py test" in readme
    assert "python3 course.py site" in readme
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"`{notebook.stem}`" in readme, f"{notebook.name} is missing from the README's course map"
    for guide in ("learners", "lecturers", "instructors", "maintainers", "performance"):
        assert f"](docs/{guide}.md)" in readme, guide
        assert (ROOT / "docs" / f"{guide}.md").is_file()
    for linked in re.findall(r"\]\(((?!https?:)[^)#]+)", readme):
        assert (ROOT / linked).exists(), f"README links to {linked}, which is not there"
    assert "MIT" in readme and (ROOT / "LICENSE").is_file() and (ROOT / "CITATION.cff").is_file()


def test_old_faithful_ships_with_its_source_note():
    X = datasets.old_faithful()
    assert X.shape == (272, 2)
    np.testing.assert_allclose(X.mean(axis=0), [3.4878, 70.8971], atol=5e-5)
    note = (ROOT / "emkit" / "data" / "README.md").read_text()
    assert "Azzalini & Bowman 1990" in note and "faithful" in note


MODELS = [
    "em", "kmeans", "gmm", "missing", "coins", "soft", "datasets", "_core", "_validation",
    "hmm", "inference", "accelerate", "online", "expfamily",
]  # fmt: skip
TEACHING = {"check", "parse", "symbolic", "grading", "notebook_tools", "safe_ast"}
PRESENTATION = {"plotting", "widgets", "slides", "site"}


def emkit_imports(path: Path) -> set[str]:
    """The emkit modules a file imports (relative or absolute), at any depth of the code."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from .x import y
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import x, y
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif node.module and node.module.split(".")[0] == "emkit":
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("emkit."))
    return found


def test_models_import_no_teaching_tool_or_presentation_module():
    for name in MODELS:
        imported = emkit_imports(ROOT / "emkit" / f"{name}.py")
        assert not imported & (TEACHING | PRESENTATION), (name, imported & (TEACHING | PRESENTATION))
        assert imported <= set(MODELS), (name, imported - set(MODELS))
    # the layer lists cover the whole package, so a new module must pick its layer
    modules = {p.stem for p in (ROOT / "emkit").glob("*.py")} | {
        p.name for p in (ROOT / "emkit").iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert modules - {"__init__", "__main__"} == set(MODELS) | TEACHING | PRESENTATION


def test_emkit_imports_sees_every_import_style(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from . import em, gmm\nfrom ._core import Prepared\nfrom emkit.check import x\nimport emkit.widgets\n"
        "def f():\n    from . import plotting\n"
    )
    assert emkit_imports(sample) == {"em", "gmm", "_core", "check", "widgets", "plotting"}


@pytest.mark.parametrize(
    "name",
    ["coins", "datasets", "em", "gmm", "kmeans", "missing", "soft", "parse", "plotting", "symbolic", "widgets", "hmm",
     "inference", "accelerate", "online", "expfamily"],
)  # fmt: skip
def test_all_lists_exactly_the_public_functions_and_classes(name):
    import importlib
    import inspect

    module = importlib.import_module(f"emkit.{name}")
    public = {
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == module.__name__
    }
    assert set(module.__all__) <= set(vars(module)), set(module.__all__) - set(vars(module))
    assert public <= set(module.__all__), f"public but not in __all__: {sorted(public - set(module.__all__))}"
