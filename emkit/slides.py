"""Every notebook is also a slide deck: ``emkit slides [NOTEBOOK...] -o DIR [--offline]``.

A deck is nbconvert's reveal.js export, driven by each cell's slide metadata
(``slide``, ``subslide``, ``fragment``, ``skip``, ``notes``). Code cells
tagged ``hide-input`` (long figure-drawing code) show only their output on
the slide; the notebook keeps the code for readers. By default the
decks load reveal.js, MathJax, RequireJS and jQuery from their CDNs, exactly
as ``jupyter nbconvert --to slides`` does. With ``offline=True`` those assets
are installed from the npm registry into ``DIR/assets`` at build time (never
committed) and the decks point there, so they work with no network. Offline
decks also leave out nbconvert's MermaidJS import: the course has no Mermaid
diagrams, and browsers refuse ES-module imports from ``file://`` pages.

>>> import nbformat
>>> nb = nbformat.v4.new_notebook()
>>> nb.cells = [nbformat.v4.new_markdown_cell("# a", metadata={"slideshow": {"slide_type": "slide"}}),
...             nbformat.v4.new_markdown_cell("b", metadata={"slideshow": {"slide_type": "subslide"}}),
...             nbformat.v4.new_markdown_cell("c", metadata={"slideshow": {"slide_type": "fragment"}}),
...             nbformat.v4.new_markdown_cell("d", metadata={"slideshow": {"slide_type": "skip"}})]
>>> expected_slide_count(nb)
2
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

# npm packages and the versions nbconvert's reveal template expects (jQuery 2.0.3,
# its default, is not on the npm registry; any 2.x serves the template).
ASSETS = {"reveal.js": "4.0.2", "mathjax": "2.7.7", "jquery": "2.2.4", "requirejs": "2.1.10"}
TEMPLATES = Path(__file__).parent / "templates"
HIDE_INPUT_TAG = "hide-input"  # a cell whose code is left off its slide (the output stays)


def expected_slide_count(nb) -> int:
    """How many slides the metadata makes: one per ``slide`` or ``subslide`` cell."""
    count = 0
    for cell in nb.cells:
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
        if kind in ("slide", "subslide"):
            count += 1
    return count


def install_assets(out_dir: str | Path) -> Path:
    """Install the deck assets from the npm registry into ``out_dir/assets`` (once); return that folder."""
    assets = Path(out_dir) / "assets"
    modules = assets / "node_modules"
    if all((modules / name / "package.json").exists() for name in ASSETS):
        return assets
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("offline decks need npm (Node.js) to install reveal.js and MathJax from the npm registry")
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "package.json").write_text('{"name": "emkit-slide-assets", "private": true}\n')
    specs = [f"{name}@{version}" for name, version in ASSETS.items()]
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(assets), *specs],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return assets


def _exporter(offline: bool):
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    c = Config()
    c.SlidesExporter.reveal_scroll = True  # a slide taller than the screen scrolls rather than being cut
    c.SlidesExporter.reveal_number = "c/t"
    # long figure-drawing cells: on a slide the figure matters, not the code that draws it
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {HIDE_INPUT_TAG}
    if offline:
        prefix = "assets/node_modules"
        c.SlidesExporter.extra_template_basedirs = [str(TEMPLATES)]
        c.SlidesExporter.template_name = "emkit_reveal_offline"
        c.SlidesExporter.reveal_theme = "white"  # nbconvert's default, "simple", imports Google Fonts
        c.SlidesExporter.reveal_url_prefix = f"{prefix}/reveal.js"
        c.SlidesExporter.mathjax_url = f"{prefix}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
        c.SlidesExporter.require_js_url = f"{prefix}/requirejs/require.js"
        c.SlidesExporter.jquery_url = f"{prefix}/jquery/dist/jquery.min.js"
    return SlidesExporter(config=c)


def build(notebooks, out_dir: str | Path, *, offline: bool = False) -> list[Path]:
    """Write ``NAME.slides.html`` for each notebook into ``out_dir``; return the paths."""
    import nbformat

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if offline:
        install_assets(out_dir)
    exporter = _exporter(offline)
    written = []
    for path in map(Path, notebooks):
        nb = nbformat.read(path, as_version=4)
        nb.metadata.pop("widgets", None)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        target = out_dir / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    return written
