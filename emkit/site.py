"""The course as a static website: ``python3 course.py site`` (or ``python -m emkit site``).

The book is built by Sphinx with myst-nb and sphinx-book-theme (the Jupyter
Book 1 stack) from a source folder that this module writes into
``build/site-src``:

* ``index.md``: the landing page (the route, who the course is for, how to run
  it) and the table of contents;
* one chapter per solution notebook, rendered from its **stored** outputs
  (nothing is re-executed): speaker notes are dropped, a viewer shows the
  still frame it stores, each solution sits behind a "Show a solution"
  toggle, and hints stay closed ``<details>``;
* ``glossary.md``: the notation, taken from the start-here notebook, where it
  is defined once (that chapter links to it instead of repeating it);
* ``downloads.md``: every student notebook, and every slide deck (offline
  HTML with its reveal.js and MathJax beside it, and the PDF handout);
* ``jupyterhub.md``: how to run the course for a class on an existing
  JupyterHub or on Binder.

Everything a page loads is on disk: MathJax 3 (its SVG output, which needs no
web fonts) is installed from the npm registry at build time and served from
``_static``; the theme's scripts and icons ship with it. The result opens from
``file://`` with no network (``tests/test_site.py`` checks every page in a
browser).
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

from .slides import HIDE_INPUT_TAG, NOTES_TAG, freeze_widget_outputs, install_assets

TEMPLATES = Path(__file__).parent / "templates" / "site"
MATHJAX = {"mathjax": "3.2.2"}
SOLUTION_TAG = "solution"
GLOSSARY_TITLE = "## Notation (the glossary)"
GLOSSARY_END = "## The data set we keep returning to"  # the first section after the notation
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
CHAPTER_TITLES = {"00_start_here": "00 · Start here: the map and the notation"}

CONF = """\
# Written by emkit.site: the course website's Sphinx configuration.
project = "Expectation Maximization, from k-means to the general algorithm"
author = "the emkit course"
copyright = "the emkit course"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
html_theme = "sphinx_book_theme"
html_title = "EM, from k-means up"
html_static_path = ["_static"]
html_extra_path = ["_extra"]
html_last_updated_fmt = None
html_context = {"default_mode": "light"}  # a page opened for the first time has a mode, so the theme logs no error
html_theme_options = {
    "use_download_button": False,
    "use_fullscreen_button": False,
    "show_toc_level": 2,
    "home_page_in_toc": True,
}
# stored outputs only: a chapter shows what the committed notebook shows
nb_execution_mode = "off"
nb_merge_streams = True
# a viewer's stored still frame, never an empty widget that would fetch ipywidgets from a CDN
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_enable_extensions = ["dollarmath", "amsmath", "html_image"]
myst_heading_anchors = 3
# MathJax 3 from this site's own _static folder; SVG output needs no web fonts (file:// cannot load them)
mathjax_path = "mathjax/tex-svg.js"
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]
"""


def _chapter_cells(nb):
    """The notebook as its chapter shows it (a copy)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    cells = []
    glossary_cells = []
    in_glossary = False
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        slide_type = cell.metadata.get("slideshow", {}).get("slide_type")
        if NOTES_TAG in tags or slide_type == "notes":
            continue  # speaker notes are for the lecturer's screen
        first_line = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
        if cell.cell_type == "markdown" and first_line.startswith(GLOSSARY_TITLE):
            in_glossary = True
            link = _markdown_cell(
                "## Notation\n\nEvery symbol the course uses is defined once, in the "
                "[glossary](glossary.md); the notebook itself carries the same tables."
            )
            cells.append(link)
        elif cell.cell_type == "markdown" and first_line.startswith(GLOSSARY_END):
            in_glossary = False
        if in_glossary:
            glossary_cells.append(cell)
            continue
        if cell.cell_type == "code":
            freeze_widget_outputs(cell)
            if SOLUTION_TAG in tags:
                cell.source = "\n".join(
                    line for line in cell.source.splitlines() if line.strip() not in SOLUTION_MARKERS
                )
                cell.metadata["tags"] = [t for t in tags if t != HIDE_INPUT_TAG] + ["hide-cell"]
                cell.metadata["mystnb"] = {
                    "code_prompt_show": "Show a solution",
                    "code_prompt_hide": "Hide the solution",
                }
        cells.append(cell)
    nb.cells = cells
    return nb, glossary_cells


def _markdown_cell(text: str):
    import nbformat

    return nbformat.v4.new_markdown_cell(text)


def _glossary_section(markdown: str) -> str:
    """A notation cell as a glossary section: "## Notation: one iteration" becomes "## One iteration"."""
    first, _, rest = markdown.partition("\n")
    for prefix in ("## Notation (the glossary): ", "## Notation: "):
        if first.startswith(prefix):
            name = first.removeprefix(prefix)
            first = "## " + name[:1].upper() + name[1:]
    return first + "\n" + rest + "\n"


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "Untitled"


def write_source(root: Path, src: Path, *, decks: bool = True, pdf: bool = True) -> list[str]:
    """Write the Sphinx source folder ``src`` from the course at ``root``; return the chapter names."""
    import nbformat

    if src.exists():
        shutil.rmtree(src)
    (src / "_static").mkdir(parents=True)
    extra = src / "_extra"
    (extra / "exercises").mkdir(parents=True)
    (src / "conf.py").write_text(CONF, encoding="utf-8")

    chapters, titles, glossary = [], {}, []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        nb, glossary_cells = _chapter_cells(nbformat.read(path, as_version=4))
        if path.stem in CHAPTER_TITLES:  # the landing page already carries the course's title
            first = next(c for c in nb.cells if c.cell_type == "markdown")
            heading, _, rest = first.source.partition("\n")
            first.source = f"# {CHAPTER_TITLES[path.stem]}\n" + rest
        glossary += glossary_cells
        titles[path.stem] = _title(nb)
        nbformat.write(nb, src / path.name)
        chapters.append(path.stem)
    if not glossary:
        raise RuntimeError(f"no glossary found: expected a markdown cell starting {GLOSSARY_TITLE!r}")
    glossary_md = ["# Glossary\n", "The course's notation, defined once; every notebook uses it.\n"]
    glossary_md += [_glossary_section(cell.source) for cell in glossary]
    (src / "glossary.md").write_text("\n".join(glossary_md), encoding="utf-8")

    students = sorted((root / "notebooks" / "exercises").glob("*.ipynb"))
    for path in students:
        shutil.copy(path, extra / "exercises" / path.name)
    deck_files = []
    if decks:
        from . import slides

        deck_files = slides.build(
            [root / "notebooks" / f"{c}.ipynb" for c in chapters], extra / "slides", offline=True, pdf=pdf
        )
    (src / "downloads.md").write_text(_downloads(chapters, titles, students, deck_files), encoding="utf-8")

    assets = install_assets(root / "build" / "site-assets", MATHJAX)
    shutil.copytree(assets / "node_modules" / "mathjax" / "es5", src / "_static" / "mathjax")

    toc = "\n".join(chapters + ["glossary", "downloads", "jupyterhub"])
    index = (TEMPLATES / "index.md").read_text(encoding="utf-8").replace("{{toctree}}", toc)
    (src / "index.md").write_text(index, encoding="utf-8")
    shutil.copy(TEMPLATES / "jupyterhub.md", src / "jupyterhub.md")
    return chapters


def _downloads(chapters, titles, students, deck_files) -> str:
    lines = [
        "# Downloads\n",
        "Links on this page work offline: everything is part of the site.\n",
        "## Student notebooks\n",
        "The exercises with the solutions taken out, ready to run in JupyterLab "
        "(with `emkit` installed, see [running the course](index.md#running-the-course)).\n",
        "| Notebook | File |",
        "|---|---|",
    ]
    for path in students:
        lines.append(
            f'| {titles.get(path.stem, path.stem)} | <a href="exercises/{path.name}" download>{path.name}</a> |'
        )
    if deck_files:
        lines += [
            "\n## Slide decks\n",
            "Each deck is made for a 1280×720 projector. The HTML deck runs offline from the `slides/` folder "
            "(press `s` for the speaker view with notes); the PDF handout has one slide per page.\n",
            "| Notebook | Deck | Handout |",
            "|---|---|---|",
        ]
        names = {p.name for p in deck_files}
        for c in chapters:
            html, pdf = f"{c}.slides.html", f"{c}.slides.pdf"
            pdf_link = f'<a href="slides/{pdf}">{pdf}</a>' if pdf in names else "—"
            lines.append(f'| {titles[c]} | <a href="slides/{html}">{html}</a> | {pdf_link} |')
    return "\n".join(lines) + "\n"


def build(root: str | Path, out: str | Path | None = None, *, decks: bool = True, pdf: bool = True) -> Path:
    """Build the site into ``out`` (default ``ROOT/build/site``); return the path of its ``index.html``."""
    root = Path(root).resolve()
    out = Path(out) if out is not None else root / "build" / "site"
    src = out.parent / (out.name + "-src")
    write_source(root, src, decks=decks, pdf=pdf)
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "auto", str(src), str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"sphinx-build failed:\n{result.stderr[-4000:]}")
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    if warnings:
        raise RuntimeError("sphinx-build warned (the site must build cleanly):\n" + "\n".join(warnings[:40]))
    return out / "index.html"
