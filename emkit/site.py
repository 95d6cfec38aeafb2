"""The course as a static website: ``python3 course.py site`` (or ``python -m emkit site``).

The book is built by Sphinx with myst-nb and sphinx-book-theme (the Jupyter
Book 1 stack) from a source folder that this module writes into
``build/site-src``:

* ``index.md``: the landing page (the route through every notebook, who the
  course is for, how to run it) and the navigation: the course's chapters,
  then the guides;
* one chapter per solution notebook, rendered from its **stored** outputs
  (nothing is re-executed): speaker notes are dropped, a viewer shows the
  still frame it stores, each solution sits behind a "Show a solution"
  toggle, figure-drawing code behind a "Show code" toggle (each toggle's
  accessible name says which exercise or figure it belongs to), and hints
  stay closed ``<details>``;
* ``glossary.md``: the notation, taken from the start-here notebook, where it
  is defined once (that chapter links to it instead of repeating it);
* ``downloads.md``: every student notebook, and every slide deck (offline
  HTML with its reveal.js and MathJax beside it, and the PDF handout); a
  deck's links to the next notebook point to that notebook's deck beside it;
* the **guides**, one page per Markdown file of ``docs/`` (learners,
  lecturers, instructors, maintainers, performance, running the course on a
  JupyterHub): the same files read on the code host, so their links are
  relative links between ``docs/`` pages; a link to another file of the
  repository becomes a download of that file, a link to a folder a page that
  lists (and shows) its files. In ``docs/performance.md`` a line
  ``<!-- emkit:figure NAME -->`` (invisible on the code host) becomes a plot
  drawn at build time from the newest benchmark results stored in
  ``benchmarks/results/*.json`` (written by ``benchmarks/bench.py --json``),
  with an alt text that states what the plot shows, in numbers.

Everything a page loads is on disk: MathJax 4 (its SVG output, which needs no
web fonts, and its font's glyph data) is installed from the npm registry at
build time and served from ``_static``; it breaks a display equation wider
than the column into lines. The theme's scripts and icons ship with it. The
result opens from ``file://`` with no network (``tests/test_site.py`` checks
every page in a browser, at 1280×800 and at 390×844, with axe-core).

On top of the theme, ``templates/site/site.css`` and ``site.js`` (served as
``_static/emkit-site.*``): the ☰ chapter menu and the contents button work
on a tap (the theme binds only a hidden copy of each), one search field,
code and output wrapped instead of scrolled sideways, tables that wrap (and
show row by row on a phone), dark mode for the checks' reports, links
underlined in running text, and search snippets that show formulas as text.
After the build, :func:`_fix_pages` gives the theme's buttons names that
match what they show.

Alt text for figures
--------------------
A figure's alt text is written **once**, in the notebook, as metadata of the
code cell that draws it::

    "metadata": {"emkit": {"alt": "Scatter plot of Old Faithful's 272 eruptions: ..."}}

It says what the figure shows (the kind of plot, the axes, what a reader
should see in it), in plain text, one string per cell (a cell that draws
several images gives them the same text). :func:`figure_alt` reads it; the
site puts it on the figure's ``<img>`` (and on a viewer's still frame), and
the slide decks can call the same function. A cell that stores an image
output (``image/png``, ``image/svg+xml``, ``image/jpeg``, ``image/gif``) but
has no alt text makes the build fail with :class:`MissingAltText`, which
lists every such cell (notebook and cell index); :func:`figures_without_alt`
gives the same list.

>>> import nbformat
>>> cell = nbformat.v4.new_code_cell("plt.plot(x)", metadata={"emkit": {"alt": "  A line rising\\n from 0 to 1. "}})
>>> figure_alt(cell)
'A line rising from 0 to 1.'
>>> figure_alt(nbformat.v4.new_code_cell("1 + 1")) is None
True
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .slides import HIDE_INPUT_TAG, NOTES_TAG, freeze_widget_outputs, install_assets

TEMPLATES = Path(__file__).parent / "templates" / "site"
MATHJAX = {"mathjax": "4.1.3"}  # with its font, @mathjax/mathjax-newcm-font
SOLUTION_TAG = "solution"
GLOSSARY_TITLE = "## Notation (the glossary)"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
CHAPTER_TITLES = {"00_start_here": "00 · Start here: the map and the notation"}
IMAGE_TYPES = ("image/png", "image/svg+xml", "image/jpeg", "image/gif")
# the guides in docs/, in the order the navigation lists them (any other docs/*.md follows, by name)
GUIDES = ("learners", "lecturers", "instructors", "maintainers", "performance", "jupyterhub")
SR_SEPARATOR = "\x1f"  # in a toggle's prompt: what follows it is for screen readers only
FIGURE_MARKER = re.compile(r"^<!--\s*emkit:figure\s+([\w-]+)\s*-->\s*$", re.M)
RUN_MARKER = re.compile(r"^<!--\s*emkit:run\s*-->\s*$", re.M)
NUMBER_WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()

CONF = """\
# Written by emkit.site: the course website's Sphinx configuration.
from emkit.site import sphinx_setup as setup  # noqa: F401 (toggles that say what they open)

project = "Expectation Maximization, from k-means to the general algorithm"
author = "the emkit course"
copyright = "the emkit course"
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_repo"]
html_theme = "sphinx_book_theme"
html_title = "EM, from k-means up"
html_static_path = ["_static"]
html_extra_path = ["_extra"]
html_css_files = ["emkit-site.css"]
html_js_files = ["emkit-site.js"]
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
# MathJax 4 from this site's own _static folder; SVG output needs no web fonts (file:// cannot load them).
# A display equation wider than the column breaks into lines. Speech and enrichment run in a web worker that
# file:// cannot start: off (screen readers get MathJax's assistive MathML instead).
mathjax_path = "mathjax/tex-svg.js"
mathjax4_config = {
    "loader": {"paths": {"fonts": "[mathjax]/../mathjax-fonts"}},
    "output": {"displayOverflow": "linebreak", "linebreaks": {"inline": True, "width": "100%"}},
    "options": {
        "enableSpeech": False, "enableBraille": False, "enableExplorer": False, "enableEnrichment": False,
        "enableComplexity": False,
        "menuOptions": {"settings": {"enrich": False, "speech": False, "braille": False, "collapsible": False,
                                     "assistiveMml": True}},
    },
}
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]
"""


# -- alt text -----------------------------------------------------------------------------------------


class MissingAltText(RuntimeError):
    """Figure cells without ``metadata.emkit.alt``; ``.missing`` lists them as (notebook path, cell index)."""

    def __init__(self, missing: list[tuple[Path, int]]):
        self.missing = missing
        lines = [f"  {path} cell {index}" for path, index in missing]
        super().__init__(
            f"{len(missing)} figure cell(s) without alt text: add metadata.emkit.alt (what the figure shows, "
            "in words) to each of these code cells (see emkit.site's docstring):\n" + "\n".join(lines)
        )


def figure_alt(cell) -> str | None:
    """The alt text of the figure a code cell draws: its ``metadata.emkit.alt``, whitespace tidied; else None."""
    emkit_meta = cell.get("metadata", {}).get("emkit", {})
    alt = emkit_meta.get("alt") if isinstance(emkit_meta, dict) else None
    if not isinstance(alt, str) or not alt.strip():
        return None
    return " ".join(alt.split())


def draws_figure(cell) -> bool:
    """Whether a cell stores an image output (a figure, or a viewer's still frame)."""
    if cell.get("cell_type") != "code":
        return False
    return any(any(kind in output.get("data", {}) for kind in IMAGE_TYPES) for output in cell.get("outputs", []))


def figures_without_alt(notebooks) -> list[tuple[Path, int]]:
    """Every (notebook, cell index) that draws a figure but has no alt text."""
    import nbformat

    missing = []
    for path in map(Path, notebooks):
        nb = nbformat.read(path, as_version=4)
        missing += [(path, i) for i, cell in enumerate(nb.cells) if draws_figure(cell) and figure_alt(cell) is None]
    return missing


# -- chapters ------------------------------------------------------------------------------------------

HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def _plain(markdown: str) -> str:
    """A heading as plain text: no emphasis marks, code ticks or dollar signs."""
    return re.sub(r"[*_`$]", "", markdown).strip()


def _chapter_cells(nb, alt_placeholder=None):
    """The notebook as its chapter shows it (a copy), and the glossary's cells.

    ``alt_placeholder(index)`` gives the alt text of a figure cell that has none (the build's tests use it
    while notebooks still lack some); without it such a cell is an error.
    """
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    cells = []
    glossary_cells = []
    in_glossary = False
    heading = _title(nb)
    names_used: dict[str, int] = {}

    def distinct(name: str) -> str:
        names_used[name] = names_used.get(name, 0) + 1
        return name if names_used[name] == 1 else f"{name} ({names_used[name]})"

    for index, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        slide_type = cell.metadata.get("slideshow", {}).get("slide_type")
        if NOTES_TAG in tags or slide_type == "notes":
            continue  # speaker notes are for the lecturer's screen
        first_line = cell.source.lstrip().splitlines()[0] if cell.source.strip() else ""
        if cell.cell_type == "markdown":
            cell.source = _relink_chapter(cell.source)
            found = HEADING.findall(cell.source)
            if found:
                heading = _plain(found[-1])
        if cell.cell_type == "markdown" and first_line.startswith(GLOSSARY_TITLE):
            in_glossary = True
            link = _markdown_cell(
                "## Notation\n\nEvery symbol the course uses is defined once, in the "
                "[glossary](glossary.md); the notebook itself carries the same tables."
            )
            cells.append(link)
        elif in_glossary and not (cell.cell_type == "markdown" and _continues_glossary(first_line)):
            in_glossary = False
        if in_glossary:
            glossary_cells.append(cell)
            continue
        if cell.cell_type == "code":
            freeze_widget_outputs(cell)
            mystnb = cell.metadata.setdefault("mystnb", {})
            if draws_figure(cell):
                alt = figure_alt(cell)
                if alt is None and alt_placeholder is not None:
                    alt = alt_placeholder(index)
                if alt is None:
                    raise MissingAltText([(Path(_title(nb)), index)])
                mystnb["image"] = {"alt": alt}
            if SOLUTION_TAG in tags:
                cell.source = "\n".join(
                    line for line in cell.source.splitlines() if line.strip() not in SOLUTION_MARKERS
                )
                cell.metadata["tags"] = [t for t in tags if t != HIDE_INPUT_TAG] + ["hide-cell"]
                context = distinct(heading)
                mystnb["code_prompt_show"] = f"Show a solution{SR_SEPARATOR}: {context}"
                mystnb["code_prompt_hide"] = f"Hide the solution{SR_SEPARATOR}: {context}"
            elif HIDE_INPUT_TAG in tags:
                what = "the figure" if draws_figure(cell) else "the cell"
                context = distinct(f"{what} in “{heading}”")
                mystnb["code_prompt_show"] = f"Show code{SR_SEPARATOR}: {context}"
                mystnb["code_prompt_hide"] = f"Hide code{SR_SEPARATOR}: {context}"
        cells.append(cell)
    nb.cells = cells
    return nb, glossary_cells


def _markdown_cell(text: str):
    import nbformat

    return nbformat.v4.new_markdown_cell(text)


def _continues_glossary(first_line: str) -> bool:
    """Whether a markdown cell starting with this line belongs to the notation: a subsection of it
    (``### ...``) or another notation section (``## Notation: ...``)."""
    return first_line.startswith(("###", "## Notation"))


def _glossary_section(markdown: str) -> str:
    """A notation cell as a glossary section.

    The notation's own heading goes (the page is the glossary), a subsection becomes a section, and
    "## Notation: one iteration" becomes "## One iteration".

    >>> _glossary_section("## Notation (the glossary)\\n\\nA reference.")
    'A reference.\\n'
    >>> _glossary_section("### Data and model\\n\\n| a |")
    '## Data and model\\n\\n| a |\\n'
    >>> _glossary_section("## Notation: one iteration\\ntext")
    '## One iteration\\ntext\\n'
    """
    first, _, rest = markdown.partition("\n")
    if first.strip() == GLOSSARY_TITLE:
        return rest.strip() + "\n"
    for prefix in ("## Notation (the glossary): ", "## Notation: "):
        if first.startswith(prefix):
            name = first.removeprefix(prefix)
            first = "## " + name[:1].upper() + name[1:]
    first = re.sub(r"^#{3,}\s", "## ", first)
    return first + "\n" + rest + "\n"


def _title(nb) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return "Untitled"


def _summary(nb) -> str:
    """The opening of a notebook's first paragraph, without its bold label ("**Goal.**"): its first sentence,
    or its first two when the first is short."""
    first = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    if first is None:
        return ""
    paragraphs = [p.strip() for p in first.source.split("\n\n") if p.strip() and not p.lstrip().startswith("#")]
    if not paragraphs:
        return ""
    text = re.sub(r"^\*\*[^*]+\*\*\s*", "", " ".join(paragraphs[0].split()))
    sentences = re.findall(r".+?[.!?](?=\s+[A-Z(*]|$)", text)
    if not sentences:
        return text
    return " ".join(s.strip() for s in sentences[:2]) if len(sentences[0]) < 60 else sentences[0].strip()


ROUTE_ROW = re.compile(r"^\|\s*\[[^\]]*\]\((?:\./)?([\w-]+)\.ipynb\)\s*\|\s*(.+?)\s*\|\s*$", re.M)


def _route_goals(nb) -> dict[str, str]:
    """What each notebook lets you do, from the route table of the start-here notebook ("## The route")."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("## The route"):
            return {stem: text[:1].upper() + text[1:] for stem, text in ROUTE_ROW.findall(cell.source)}
    return {}


# -- links between the repository's files, as the site serves them --------------------------------------

MD_LINK = re.compile(r"(!?\[(?:[^\[\]]|\[[^\]]*\])*\]\()(<[^>]+>|[^)\s]+)((?:\s+\"[^\"]*\")?\))")


def _relink_chapter(markdown: str) -> str:
    """A notebook's links to the guides (``../docs/NAME.md``) as links to their site pages."""
    return re.sub(r"\]\((?:\./)?\.\./docs/([\w-]+\.md)", r"](\1", markdown)


class _Relinker:
    """Rewrites the links of a guide in ``docs/`` for the site: see the module's docstring."""

    def __init__(self, root: Path, src: Path):
        self.root, self.src = root, src
        self.folders: dict[Path, str] = {}  # a folder of the repository -> its listing page in the site

    def page(self, markdown: str, source: Path) -> str:
        out, fenced = [], False
        for line in markdown.splitlines(keepends=True):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            out.append(line if fenced else MD_LINK.sub(lambda m: self._link(m, source), line))
        return "".join(out)

    def _link(self, match, source: Path) -> str:
        target = match.group(2).strip("<>")
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match.group(0)
        path, _, fragment = target.partition("#")
        fragment = "#" + fragment if fragment else ""
        resolved = (source.parent / path).resolve()
        docs = (self.root / "docs").resolve()
        if not resolved.exists():
            raise RuntimeError(f"{source.relative_to(self.root)}: the link {target!r} points to nothing")
        if resolved.suffix == ".md" and resolved.parent == docs:
            new = resolved.name + fragment
        elif resolved == (self.root / "README.md").resolve():
            new = "index.md" + fragment
        elif resolved.suffix == ".ipynb" and resolved.parent == (self.root / "notebooks").resolve():
            new = resolved.name + fragment
        elif resolved.is_dir():
            new = self.folder_page(resolved) + fragment
        else:
            relative = resolved.relative_to(self.root.resolve())
            copy_to = self.src / "_repo" / relative
            copy_to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(resolved, copy_to)
            # an image is shown from its copy; a link to a file becomes a download (path:, even of a .md or .ipynb)
            new = ("" if match.group(1).startswith("!") else "path:") + "_repo/" + relative.as_posix()
        return match.group(1) + new + match.group(3)

    def folder_page(self, folder: Path) -> str:
        """A page that lists a folder of the repository (text files shown, every file downloadable)."""
        if folder in self.folders:
            return self.folders[folder]
        relative = folder.relative_to(self.root.resolve())
        name = "files-" + "-".join(relative.parts) + ".md"
        lines = [
            "---\norphan: true\n---\n",
            f"# `{relative.as_posix()}/`\n",
            f"The files of the folder `{relative.as_posix()}/` in the course's repository.\n",
        ]
        for file in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            rel = file.relative_to(self.root.resolve())
            copy_to = self.src / "_repo" / rel
            copy_to.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(file, copy_to)
            lines.append(f"## `{file.relative_to(folder).as_posix()}`\n")
            lines.append(f"[Download `{file.name}`](path:_repo/{rel.as_posix()})\n")
            language = {".py": "python", ".toml": "toml", ".md": "markdown", ".txt": "text", ".cfg": "ini"}
            if file.suffix in language and file.stat().st_size < 50_000:
                lines.append(f"```{{literalinclude}} _repo/{rel.as_posix()}\n:language: {language[file.suffix]}\n```\n")
        (self.src / name).write_text("\n".join(lines), encoding="utf-8")
        self.folders[folder] = name
        return name


def _guides(root: Path) -> list[Path]:
    docs = root / "docs"
    found = {p.stem: p for p in docs.glob("*.md")}
    ordered = [found.pop(name) for name in GUIDES if name in found]
    return ordered + [found[name] for name in sorted(found)]


# -- performance plots from stored benchmark results ----------------------------------------------------


def benchmark_results(root: Path) -> tuple[Path, dict] | None:
    """The newest stored run of ``benchmarks/bench.py --json`` (by file name), and its data."""
    runs = sorted((root / "benchmarks" / "results").glob("*.json"))
    if not runs:
        return None
    return runs[-1], json.loads(runs[-1].read_text(encoding="utf-8"))


def _fmt_n(n: int) -> str:
    return f"{n:,}"


def _plot_kmeans(data, ax_n, ax_k):
    rows = data["kmeans"]
    d = rows[0]["D"]
    k_fixed = 20 if any(r["K"] == 20 for r in rows) else rows[0]["K"]
    by_n = sorted((r for r in rows if r["K"] == k_fixed and r["D"] == d), key=lambda r: r["N"])
    by_n = list({r["N"]: r for r in by_n}.values())
    n_fixed = max((r["N"] for r in rows), key=lambda n: sum(r["N"] == n for r in rows))
    by_k = sorted((r for r in rows if r["N"] == n_fixed and r["D"] == d), key=lambda r: r["K"])
    by_k = list({r["K"]: r for r in by_k}.values())
    series = [
        ("emkit", "emkit_ms", "#0072B2", "o", "-"),
        ("scikit-learn (2 threads)", "sklearn_ms", "#D55E00", "s", "--"),
        ("scikit-learn (1 thread)", "sklearn_1thread_ms", "#009E73", "^", ":"),
    ]
    for label, key, colour, marker, style in series:
        ax_n.plot([r["N"] for r in by_n], [r[key] for r in by_n], marker=marker, ls=style, color=colour, label=label)
        ax_k.plot([r["K"] for r in by_k], [r[key] for r in by_k], marker=marker, ls=style, color=colour, label=label)
    ax_n.set(xscale="log", yscale="log", xlabel="N (points)", ylabel="ms per iteration")
    ax_n.set_xticks([r["N"] for r in by_n], [_fmt_n(r["N"]) for r in by_n], minor=False)
    ax_n.set_xticks([], minor=True)
    ax_n.set_title(f"time against N (K = {k_fixed}, D = {d})")
    ax_k.set(xlabel="K (centres)", ylabel="ms per iteration", ylim=(0, None))
    ax_k.set_title(f"time against K (N = {_fmt_n(n_fixed)}, D = {d})")
    for ax in (ax_n, ax_k):
        ax.grid(True, which="major", alpha=0.3)
    ax_k.figure.legend(loc="outside lower center", ncols=3, frameon=False)
    alt = (
        f"Two line plots of k-means time per iteration (assign and update) in milliseconds. Top, against the "
        f"number of points N at K = {k_fixed} on log–log axes: emkit takes "
        + ", ".join(f"{r['emkit_ms']:.1f} ms at N = {_fmt_n(r['N'])}" for r in by_n)
        + "; scikit-learn with 2 threads takes "
        + ", ".join(f"{r['sklearn_ms']:.1f}" for r in by_n)
        + " ms at the same sizes, with 1 thread "
        + ", ".join(f"{r['sklearn_1thread_ms']:.1f}" for r in by_n)
        + f" ms. Bottom, against the number of centres K at N = {_fmt_n(n_fixed)}: emkit "
        + ", ".join(f"{r['emkit_ms']:.1f} ms at K = {r['K']}" for r in by_k)
        + "; scikit-learn (2 threads) "
        + ", ".join(f"{r['sklearn_ms']:.1f}" for r in by_k)
        + " ms."
    )
    return alt


def _plot_gmm(data, ax):
    import numpy as np

    rows = data["gmm"]
    cases = list(dict.fromkeys((r["N"], r["D"], r["K"]) for r in rows))
    kinds = list(dict.fromkeys(r["covariance_type"] for r in rows))
    colours = {"full": "#0072B2", "diag": "#E69F00", "tied": "#009E73", "spherical": "#CC79A7"}
    width = 0.8 / len(kinds)
    x = np.arange(len(cases))
    for j, kind in enumerate(kinds):
        values = [next((r["speedup"] for r in rows if (r["N"], r["D"], r["K"]) == c and r["covariance_type"] == kind),
                       np.nan) for c in cases]  # fmt: skip
        bars = ax.bar(x + (j - (len(kinds) - 1) / 2) * width, values, width, label=f"{kind} covariances",
                      color=colours.get(kind, "0.5"))  # fmt: skip
        ax.bar_label(bars, fmt="%.1f×", padding=2, fontsize=10)
    ax.axhline(1.0, color="0.3", lw=1, ls="--", label="as fast as scikit-learn")
    ax.set_xticks(x, [f"N = {_fmt_n(n)}\nD = {d}\nK = {k}" for n, d, k in cases])
    ax.set(ylabel="speed-up over scikit-learn (×)", ylim=(0, max(r["speedup"] for r in rows) * 1.2))
    ax.set_title("Gaussian mixture: emkit's speed-up over scikit-learn, per iteration")
    ax.figure.legend(loc="outside lower center", ncols=3, frameon=False)
    alt = (
        "Bar chart of emkit's speed-up over scikit-learn's GaussianMixture per EM iteration, one group of bars per "
        "case, a dashed line at 1 (as fast): "
        + "; ".join(
            f"N = {_fmt_n(n)}, D = {d}, K = {k}: "
            + ", ".join(
                f"{r['speedup']:.1f}× with {r['covariance_type']} covariances"
                for r in rows
                if (r["N"], r["D"], r["K"]) == (n, d, k)
            )
            for n, d, k in cases
        )
        + "."
    )
    return alt


# sized for the text column (about 680 px, where 1 pt of the figure is about 1 px): 12 pt text reads at 12 px
# there; the k-means panels are stacked, and each plot links to itself at full size, for a phone
PLOTS = {"kmeans-time": ((6.6, 7.2), 2, _plot_kmeans), "gmm-speedup": ((6.6, 4.2), 1, _plot_gmm)}


def performance_figures(data: dict, out: Path) -> dict[str, tuple[str, str]]:
    """Draw the performance plots from benchmark ``data`` into ``out``; return {name: (file name, alt text)}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    figures = {}
    for name, (size, panels, draw) in PLOTS.items():
        section = "kmeans" if name.startswith("kmeans") else "gmm"
        if not data.get(section):
            continue
        with plt.rc_context({"font.size": 12, "svg.hashsalt": "emkit", "svg.fonttype": "path"}):
            fig, axes = plt.subplots(panels, 1, figsize=size, layout="constrained")
            alt = draw(data, *(axes if panels > 1 else [axes]))
            fig.savefig(out / f"{name}.svg", metadata={"Date": None})
            plt.close(fig)
        figures[name] = (f"{name}.svg", alt)
    return figures


def _performance_page(markdown: str, root: Path, src: Path) -> str:
    stored = benchmark_results(root)
    if stored is None:
        if FIGURE_MARKER.search(markdown):
            raise RuntimeError("docs/performance.md shows plots, but benchmarks/results/ has no *.json run")
        return markdown
    path, data = stored
    figures = performance_figures(data, src / "_perf")

    def figure(match):
        name = match.group(1)
        if name not in figures:
            raise RuntimeError(f"docs/performance.md: no plot named {name!r} (known: {sorted(figures)})")
        file, alt = figures[name]
        options = f":alt: {alt}\n:class: emkit-plot\n:width: 100%\n:target: _images/{file}"  # a tap opens it whole
        return f"```{{figure}} _perf/{file}\n{options}\n```"

    started = data.get("started", "")[:10]
    when = f" on {started}" if started else ""
    rel = path.relative_to(root).as_posix()
    run = (
        f"The plots below are drawn from the run stored in [`{rel}`](../{rel}){when}, "
        f"measured on **{data.get('machine', 'an unnamed machine')}** "
        f"(`{data.get('platform', '')}`; a 2000 × 2000 matrix product ran at "
        f"{data.get('matmul_gflops', float('nan')):.0f} GFLOP/s), "
        f"each time the median of {data.get('repeats', '?')} runs."
    )
    settings = data.get("environment") or {}
    if settings:
        run += " Thread settings: " + ", ".join(f"`{k}={v}`" for k, v in settings.items()) + "."
    loads = data.get("load_average_at_start"), data.get("load_average_at_end")
    if all(loads):
        run += (
            f" The machine's load average (1 minute) was {loads[0][0]:.1f} at the start and {loads[1][0]:.1f} at "
            "the end of the run."
        )
    markdown = RUN_MARKER.sub(lambda m: run, markdown)
    return FIGURE_MARKER.sub(figure, markdown)


# -- the source folder ------------------------------------------------------------------------------------


def write_source(
    root: Path, src: Path, *, decks: bool = True, pdf: bool = True, allow_missing_alt: bool = False
) -> list[str]:
    """Write the Sphinx source folder ``src`` from the course at ``root``; return the chapter names.

    Raises :class:`MissingAltText` when a figure cell has no alt text, unless ``allow_missing_alt`` (then
    such a figure's alt text says that it is missing).
    """
    import nbformat

    root = Path(root).resolve()
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    missing = figures_without_alt(notebooks)
    if missing and not allow_missing_alt:
        raise MissingAltText([(p.relative_to(root), i) for p, i in missing])

    if src.exists():
        shutil.rmtree(src)
    (src / "_static").mkdir(parents=True)
    extra = src / "_extra"
    (extra / "exercises").mkdir(parents=True)
    (src / "conf.py").write_text(CONF, encoding="utf-8")
    shutil.copy(TEMPLATES / "site.css", src / "_static" / "emkit-site.css")
    shutil.copy(TEMPLATES / "site.js", src / "_static" / "emkit-site.js")

    chapters, titles, summaries, goals, glossary = [], {}, {}, {}, []
    for path in notebooks:
        raw = nbformat.read(path, as_version=4)

        def placeholder(index, name=path.name):
            return f"A figure of {name}, cell {index}, whose alt text has not been written yet."

        nb, glossary_cells = _chapter_cells(raw, placeholder if allow_missing_alt else None)
        if path.stem in CHAPTER_TITLES:  # the landing page already carries the course's title
            first = next(c for c in nb.cells if c.cell_type == "markdown")
            heading, _, rest = first.source.partition("\n")
            first.source = f"# {CHAPTER_TITLES[path.stem]}\n" + rest
        glossary += glossary_cells
        titles[path.stem] = _title(nb)
        summaries[path.stem] = _summary(raw)
        goals.update(_route_goals(raw))
        nbformat.write(nb, src / path.name)
        chapters.append(path.stem)
    if not glossary:
        raise RuntimeError(f"no glossary found: expected a markdown cell starting {GLOSSARY_TITLE!r}")
    glossary_md = ["# Glossary\n", "The course's notation, defined once; every notebook uses it.\n"]
    glossary_md += [_glossary_section(cell.source) for cell in glossary]
    (src / "glossary.md").write_text("\n".join(glossary_md), encoding="utf-8")

    relinker = _Relinker(root, src)
    guides = []
    for path in _guides(root):
        text = path.read_text(encoding="utf-8")
        if path.stem == "performance":
            text = _performance_page(text, root, src)
        (src / path.name).write_text(relinker.page(text, path), encoding="utf-8")
        guides.append(path.stem)

    students = sorted((root / "notebooks" / "exercises").glob("*.ipynb"))
    for path in students:
        shutil.copy(path, extra / "exercises" / path.name)
    deck_files = []
    if decks:
        from . import slides

        deck_files = slides.build(
            [root / "notebooks" / f"{c}.ipynb" for c in chapters], extra / "slides", offline=True, pdf=pdf
        )
        for deck in deck_files:
            if deck.suffix == ".html":
                deck.write_text(_relink_deck(deck.read_text(encoding="utf-8")), encoding="utf-8")
    (src / "downloads.md").write_text(_downloads(chapters, titles, students, deck_files), encoding="utf-8")

    assets = install_assets(root / "build" / "site-assets" / f"mathjax-{MATHJAX['mathjax']}", MATHJAX)
    shutil.copytree(assets / "node_modules" / "mathjax", src / "_static" / "mathjax")
    font = assets / "node_modules" / "@mathjax" / "mathjax-newcm-font"
    fonts = src / "_static" / "mathjax-fonts" / "mathjax-newcm-font"
    shutil.copytree(font / "svg", fonts / "svg")
    for name in ("svg.js", "package.json"):
        shutil.copy(font / name, fonts / name)

    index = (TEMPLATES / "index.md").read_text(encoding="utf-8")
    count = len(chapters)
    index = index.replace("{{notebook_count}}", NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else str(count))
    index = index.replace("{{route}}", _route(chapters, titles, {**summaries, **goals}))
    index = index.replace("{{chapters_toctree}}", "\n".join(chapters + ["glossary", "downloads"]))
    index = index.replace("{{guides_toctree}}", "\n".join(guides))
    (src / "index.md").write_text(index, encoding="utf-8")
    return chapters


def _route(chapters, titles, summaries) -> str:
    rows = ["| Chapter | What it offers |", "|---|---|"]
    for stem in chapters:
        title = titles[stem].replace("|", "\\|")
        summary = summaries.get(stem, "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| [{title}]({stem}.ipynb) | {summary} |")
    return "\n".join(rows)


def _relink_deck(html: str) -> str:
    """A deck's links to the guides (``../docs/NAME.md``) as links to their site pages (the decks sit in slides/)."""
    return re.sub(r'href="(?:\./)?\.\./docs/([\w-]+)\.md(#[^"]*)?"', r'href="../\1.html\2"', html)


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
            "Each deck is made for a 1280×720 projector: a lecturer deck, each exercise posed on its slide and "
            "followed by a slide with a solution. The HTML deck runs offline from the `slides/` folder "
            "(press `s` for the speaker view with notes); the PDF handout has one slide per page. "
            "See [the lecturers' guide](lecturers.md).\n",
            "| Notebook | Deck | Handout |",
            "|---|---|---|",
        ]
        names = {p.name for p in deck_files}
        for c in chapters:
            html, pdf = f"{c}.slides.html", f"{c}.slides.pdf"
            pdf_link = f'<a href="slides/{pdf}">{pdf}</a>' if pdf in names else "—"
            lines.append(f'| {titles[c]} | <a href="slides/{html}">{html}</a> | {pdf_link} |')
    return "\n".join(lines) + "\n"


# -- Sphinx: the toggles, and the pages after the build ---------------------------------------------------


def sphinx_setup(app) -> None:
    """Sphinx hook (``conf.py``'s ``setup``): toggles whose accessible name says what they open.

    myst-nb names every toggle "Toggle hidden content" (``aria-label``), which is not what it shows
    ("Show a solution"), so a screen reader cannot tell them apart (axe: label-content-name-mismatch). Here
    the name is the toggle's own text plus, visually hidden, the exercise or figure it belongs to.
    """
    from html import escape

    from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput

    def prompt(text: str) -> str:
        shown, _, hidden = text.partition(SR_SEPARATOR)
        extra = f'<span class="emkit-sr-only">{escape(hidden)}</span>' if hidden else ""
        return escape(shown) + extra

    def visit(self, node):
        classes = " ".join(node["classes"])
        self.body.append(f'<details class="admonition hide {classes}">\n<summary>\n')
        self.body.append(f'<p class="collapsed admonition-title">{prompt(node["prompt_show"])}</p>\n')
        self.body.append(f'<p class="expanded admonition-title">{prompt(node["prompt_hide"])}</p>\n')
        self.body.append("</summary>\n")

    app.add_node(HideCodeCellNode, override=True, html=(visit, depart_HideCellInput))


THEME_FIXES = [
    # the search field's name is its text ("Search Ctrl+K"), not a shorter label (axe: label-content-name-mismatch)
    (' title="Search" aria-label="Search" data-bs-placement', ' title="Search" data-bs-placement'),
    # the visible toggles say what they open
    ('title="Toggle primary sidebar"', 'title="Chapters" aria-label="Chapters"'),
    ('title="Toggle secondary sidebar"', 'title="Contents of this page" aria-label="Contents of this page"'),
]


def _fix_pages(out: Path) -> None:
    for page in out.rglob("*.html"):
        if page.is_relative_to(out / "_static") or page.is_relative_to(out / "slides"):
            continue
        html = page.read_text(encoding="utf-8")
        fixed = html
        for old, new in THEME_FIXES:
            fixed = fixed.replace(old, new)
        if fixed != html:
            page.write_text(fixed, encoding="utf-8")


def build(
    root: str | Path,
    out: str | Path | None = None,
    *,
    decks: bool = True,
    pdf: bool = True,
    allow_missing_alt: bool = False,
) -> Path:
    """Build the site into ``out`` (default ``ROOT/build/site``); return the path of its ``index.html``.

    Raises :class:`MissingAltText` (listing the cells) if a figure cell has no alt text, unless
    ``allow_missing_alt``.
    """
    root = Path(root).resolve()
    out = Path(out) if out is not None else root / "build" / "site"
    src = out.parent / (out.name + "-src")
    write_source(root, src, decks=decks, pdf=pdf, allow_missing_alt=allow_missing_alt)
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-j", "auto", str(src), str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"sphinx-build failed:\n{result.stderr[-4000:]}")
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    if warnings:
        raise RuntimeError("sphinx-build warned (the site must build cleanly):\n" + "\n".join(warnings[:40]))
    _fix_pages(out)
    return out / "index.html"
