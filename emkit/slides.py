"""Every notebook is also a slide deck: ``emkit slides [NOTEBOOK...] -o DIR [--offline] [--pdf]``.

A deck is nbconvert's reveal.js export of a notebook, driven by each cell's
slide metadata (``slide``, ``subslide``, ``fragment``, ``skip``, ``notes``), in
the course's projector template (``emkit/templates/emkit_reveal``): a
1280×720 canvas, prose at 24 px and code at 16 px (wrapped, never scrolled
sideways), no input prompts, linear navigation (→ visits every slide), slide
numbers, speaker notes and a help line on the title slide. Before export:

* code cells tagged ``hide-input`` (figure-drawing code) show only their
  output: the notebook keeps the code for readers, the slide shows the figure;
* cells tagged ``notes`` become speaker notes (press S);
* a viewer widget shows the PNG of its current frame (every emkit viewer
  stores one next to its widget view), never ``VBox(children=...)``.

By default the decks load reveal.js, MathJax, RequireJS and jQuery from their
CDNs, as ``jupyter nbconvert --to slides`` does. With ``offline=True`` those
assets are installed from the npm registry into ``DIR/assets`` at build time
(never committed) and the decks point there, so they work with no network.
With ``pdf=True`` (offline decks) each deck is also printed to
``NAME.slides.pdf`` by headless Chromium through reveal.js's print mode: one
slide per page, 1280×720.

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
NOTES_TAG = "notes"  # a cell that becomes the speaker notes of its slide
NOTES_LABEL = "**Speaker notes.**"  # how such a cell starts, so that it reads as notes in JupyterLab
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
SLIDE_SIZE = (1280, 720)


def expected_slide_count(nb) -> int:
    """How many slides the metadata makes: one per ``slide`` or ``subslide`` cell."""
    count = 0
    for cell in nb.cells:
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
        if kind in ("slide", "subslide"):
            count += 1
    return count


def install_assets(out_dir: str | Path, packages: dict[str, str] = ASSETS) -> Path:
    """Install npm ``packages`` (name: version; default the decks' assets) into ``out_dir/assets`` once; return it."""
    assets = Path(out_dir) / "assets"
    modules = assets / "node_modules"
    if all((modules / name / "package.json").exists() for name in packages):
        return assets
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("offline decks need npm (Node.js) to install reveal.js and MathJax from the npm registry")
    assets.mkdir(parents=True, exist_ok=True)
    (assets / "package.json").write_text('{"name": "emkit-slide-assets", "private": true}\n')
    specs = [f"{name}@{version}" for name, version in packages.items()]
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(assets), *specs],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return assets


def prepare(nb):
    """The notebook as its deck shows it (a copy): notes from tags, viewer frames as images."""
    import copy

    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if NOTES_TAG in tags:
            cell.metadata.setdefault("slideshow", {})["slide_type"] = "notes"
            # the label tells a reader of the notebook what the cell is; the notes view says so itself
            cell.source = cell.source.removeprefix(NOTES_LABEL).lstrip()
        freeze_widget_outputs(cell)
    return nb


def freeze_widget_outputs(cell) -> None:
    """A viewer's output as its still frame (the PNG it stores), for pages that run no kernel; in place."""
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if WIDGET_VIEW in data:
            data.pop(WIDGET_VIEW)
            if "image/png" in data:
                data.pop("text/plain", None)
            else:
                data["text/plain"] = "(an interactive viewer: run the notebook to use it)"


def _exporter(offline: bool):
    from nbconvert import SlidesExporter
    from traitlets.config import Config

    c = Config()
    c.SlidesExporter.extra_template_basedirs = [str(TEMPLATES)]
    c.SlidesExporter.template_name = "emkit_reveal"
    c.SlidesExporter.reveal_theme = "white"  # nbconvert's default, "simple", imports Google Fonts
    # long figure-drawing cells: on a slide the figure matters, not the code that draws it
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_input_tags = {HIDE_INPUT_TAG}
    if offline:
        prefix = "assets/node_modules"
        c.SlidesExporter.reveal_url_prefix = f"{prefix}/reveal.js"
        c.SlidesExporter.mathjax_url = f"{prefix}/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe"
        c.SlidesExporter.require_js_url = f"{prefix}/requirejs/require.js"
        c.SlidesExporter.jquery_url = f"{prefix}/jquery/dist/jquery.min.js"
    else:
        c.SlidesExporter.reveal_url_prefix = "https://unpkg.com/reveal.js@4.0.2"
    return SlidesExporter(config=c)


def build(notebooks, out_dir: str | Path, *, offline: bool = False, pdf: bool = False) -> list[Path]:
    """Write ``NAME.slides.html`` for each notebook into ``out_dir`` (and ``NAME.slides.pdf``); return the paths."""
    import nbformat

    if pdf and not offline:
        raise ValueError("PDF handouts are printed from the offline decks: use offline=True (--offline) with pdf")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if offline:
        install_assets(out_dir)
    exporter = _exporter(offline)
    written = []
    for path in map(Path, notebooks):
        nb = prepare(nbformat.read(path, as_version=4))
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        target = out_dir / f"{path.stem}.slides.html"
        target.write_text(body, encoding="utf-8")
        written.append(target)
    if pdf:
        written += print_pdfs([p for p in written if p.suffix == ".html"])
    return written


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def browser(width: int = SLIDE_SIZE[0], height: int = SLIDE_SIZE[1], *, log_network: bool = False):
    """A headless Chromium driven by Selenium, its window the size of a projector (needs chromium-driver).

    With ``log_network``, ``driver.get_log("performance")`` holds the DevTools network events.
    """
    import tempfile

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    exe = chromium()
    driver_exe = shutil.which("chromedriver")
    if exe is None or driver_exe is None:
        raise RuntimeError("needs Chromium and its driver (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = exe
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='emkit-chromium-')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", **({"performance": "ALL"} if log_network else {})})
    driver = webdriver.Chrome(service=Service(driver_exe), options=options)
    # the window's inner size is what a projector shows: make it exactly that
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(width + (width - inner[0]), height + (height - inner[1]))
    return driver


def wait_for_deck(driver, timeout: float = 60.0) -> None:
    """Wait until reveal.js is ready and MathJax has typeset everything."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script(
            "return !!(window.Reveal && Reveal.isReady && Reveal.isReady()) &&"
            " !!(window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 && MathJax.Hub.queue.running === 0)"
        )
    )


def print_pdfs(decks) -> list[Path]:
    """Print each deck to ``NAME.slides.pdf`` (one slide per 1280×720 page) with headless Chromium."""
    import base64
    import time

    written = []
    driver = browser()
    try:
        for deck in map(Path, decks):
            driver.get(deck.resolve().as_uri() + "?print-pdf")
            wait_for_deck(driver)
            time.sleep(0.5)  # reveal.js lays the pages out after it is ready
            pdf = driver.execute_cdp_cmd(
                "Page.printToPDF",
                {"printBackground": True, "preferCSSPageSize": True, "marginTop": 0, "marginBottom": 0,
                 "marginLeft": 0, "marginRight": 0},
            )  # fmt: skip
            target = deck.with_suffix(".pdf")
            target.write_bytes(base64.b64decode(pdf["data"]))
            written.append(target)
    finally:
        driver.quit()
    return written
