"""Every notebook is a slide deck that a lecturer can project: checked slide by slide in a real browser.

The browser tests build the offline decks (reveal.js and MathJax installed
from the npm registry) and their PDF handouts, both kinds: the lecturer's
(``emkit slides``: each exercise posed, then its solution slide) and the
students' (``emkit slides --student``: no solutions). They serve them on
127.0.0.1 and page through every slide in headless Chromium (Selenium) with
a viewport of exactly 1280×720 CSS px (set over the DevTools protocol,
tests/browser_tools.viewport), a projector's size. On every slide, with its
fragments shown (tests/deck_geometry.py): nothing taller or wider than the
slide, nothing that scrolls, prose at 20 px or more and code at 14 px or more
on screen, no figure shrunk below 60 %, no widget printed as ``VBox(...)``, no
blank slide, no slide without a heading, nothing under the ◀ ▶ controls or
the slide number, no ``### BEGIN SOLUTION`` (or any marker) and no passed
check outside a solution slide. axe-core (tests/browser_tools.axe_violations)
finds no serious or critical violation on any slide. The browser console must
stay free of errors. The PDF handouts have one page per slide and keep every
text and image at least 12 px (9 pt) from the page's edges. A screenshot of
every slide goes to build/slides/screenshots and build/slides-student/screenshots.
Without Chromium, its driver or npm the tests are skipped, unless
EMKIT_REQUIRE_BROWSER=1 (as in CI), where they fail instead.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
import time
from pathlib import Path

import nbformat
import pytest
from browser_tools import axe_violations, viewport
from deck_geometry import measure, print_margins, slide_indices

from emkit import slides

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BUILD = ROOT / "build"
SOURCES = BUILD / "slides-sources"  # the notebooks as the browser tests built their decks
FOLDERS = {"lecturer": "slides", "student": "slides-student"}
PDF_MARGIN = 12  # px on a 1280×720 page: 9 pt (the slides pad 26 px at the top, 56 px at the sides)


def prepared(path: Path, student: bool = False):
    """The notebook as its deck shows it (as emkit.slides.build prepares it)."""
    return slides.prepare_file(path, student=student)


def slide_units(nb):
    """The cells of each slide of a prepared deck, in order (skipped cells and speaker notes left out)."""
    units = []
    for unit in slides._units(nb.cells):
        shown = [c for c in unit if slides._slide_type(c) not in ("skip", "notes")]
        if any(map(slides._visible, shown)):
            units.append(shown)
    return units


@pytest.mark.parametrize("student", [False, True], ids=["lecturer", "student"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_decks_have_a_sensible_size(path, student):
    units = slide_units(prepared(path, student))
    assert 8 <= len(units) <= 50, f"{path.name}: {len(units)} slides"
    for unit in units:
        shown = [c for c in unit if c.cell_type == "code" and slides.HIDE_INPUT_TAG not in c.metadata.get("tags", [])]
        code_lines = sum(len(c.source.splitlines()) for c in shown)
        text = sum(len(c.source) for c in unit if c.cell_type == "markdown")
        first = unit[0].source[:50] if unit else ""
        assert code_lines <= slides.MAX_CODE_LINES, f"{path.name}: a slide with {code_lines} lines of code: {first!r}"
        assert text <= slides.MAX_TEXT, f"{path.name}: a slide with {text} characters of text: {first!r}"


def test_every_deck_has_speaker_notes():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert any("notes" in c.metadata.get("tags", []) for c in nb.cells), path.name


def test_default_deck_uses_the_projector_template(tmp_path):
    (deck,) = slides.build([NOTEBOOKS[1]], tmp_path)
    html = deck.read_text(encoding="utf-8")
    assert "https://unpkg.com/reveal.js@4.0.2/dist/reveal.js" in html
    assert "mathjax/2.7.7" in html and "mermaid" not in html.lower()
    assert "width: 1280" in html and 'navigationMode: "linear"' in html and 'controlsLayout: "edges"' in html
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    leaf_sections = len(re.findall(r"<section(?![^>]*>\s*<section)", html))
    assert leaf_sections == slides.expected_slide_count(prepared(NOTEBOOKS[1]))
    hidden = [c for c in nb.cells if slides.HIDE_INPUT_TAG in c.metadata.get("tags", [])]
    assert hidden and hidden[0].source.splitlines()[1] not in html  # the code is off the slide ...
    assert html.count("data:image/png;base64") >= 5  # ... and the figures are on
    assert "VBox(" not in html and "widget-view+json" not in html  # viewers show their frame
    assert '<aside class="notes">' in html  # speaker notes


def test_every_deck_figure_carries_its_cells_alt_text(tmp_path):
    """The alt text written once in a figure cell's metadata.emkit.alt is the deck's <img alt>, as on the site."""
    import html as html_lib

    from emkit import site

    for path in NOTEBOOKS:
        (deck,) = slides.build([path], tmp_path / path.stem)
        page = deck.read_text(encoding="utf-8")
        shown = [html_lib.unescape(a) for a in re.findall(r'<img alt="([^"]*)"', page)]
        expected = [
            site.figure_alt(c)
            for c in prepared(path).cells
            if c.cell_type == "code" and slides._slide_type(c) != "skip"
            for o in c.outputs
            if "image/png" in o.get("data", {})
        ]
        assert "No description has been provided" not in page, path.name
        assert len(re.findall(r"<img\b", page)) == len(shown), f"{path.name}: an image without alt text"
        assert [" ".join(a.split()) for a in shown] == expected, path.name


def test_viewer_cells_show_their_frame_in_static_decks():
    nb = slides.prepare(nbformat.read(NOTEBOOKS[1], as_version=4))
    viewer_outputs = [
        o for c in nb.cells for o in c.get("outputs", []) if "kmeans_stepper" in c.source and o.get("data")
    ]
    assert viewer_outputs and all("image/png" in o["data"] and "text/plain" not in o["data"] for o in viewer_outputs)


def test_pdf_needs_offline_decks(tmp_path):
    with pytest.raises(ValueError, match="offline"):
        slides.build([NOTEBOOKS[1]], tmp_path, pdf=True)


@pytest.fixture(scope="module")
def built_decks():
    if slides.chromium() is None or shutil.which("chromedriver") is None or shutil.which("npm") is None:
        if os.environ.get("EMKIT_REQUIRE_BROWSER") == "1":
            pytest.fail("EMKIT_REQUIRE_BROWSER=1 but chromium, chromium-driver or npm is missing")
        pytest.skip("needs chromium, chromium-driver and npm (CI installs them)")
    # the decks and what the tests expect of them come from one copy of the notebooks (others may edit them meanwhile)
    if SOURCES.exists():
        shutil.rmtree(SOURCES)
    (SOURCES / "exercises").mkdir(parents=True)
    for path in NOTEBOOKS:
        shutil.copy(path, SOURCES / path.name)
        if slides.student_notebook(path):
            shutil.copy(slides.student_notebook(path), SOURCES / "exercises" / path.name)
    sources = [SOURCES / path.name for path in NOTEBOOKS]
    written = {}
    for mode, folder in FOLDERS.items():
        written[mode] = slides.build(sources, BUILD / folder, offline=True, pdf=True, student=mode == "student")
    handler = functools.partial(QuietHandler, directory=str(BUILD))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = slides.browser()
    viewport(driver, *slides.SLIDE_SIZE)
    yield f"http://127.0.0.1:{server.server_address[1]}", written, driver
    driver.quit()
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def open_deck(driver, base: str, mode: str, path: Path, query: str = "") -> None:
    driver.get(f"{base}/{FOLDERS[mode]}/{path.stem}.slides.html{query}")
    slides.wait_for_deck(driver)


LEAF = ".reveal .slides section.present:not(.stack)"


@pytest.mark.parametrize("mode", list(FOLDERS))
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_slide_fits_a_1280x720_projector(path, mode, built_decks):
    base, _written, driver = built_decks
    driver.get_log("browser")  # drop what earlier pages logged
    open_deck(driver, base, mode, path)
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [1280, 720]
    results = measure(driver)
    deck = prepared(SOURCES / path.name, mode == "student")
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    # a screenshot of every slide (failing ones included, to look at); the student deck's slides are the
    # lecturer deck's without the solutions, so its per-slide screenshots and axe-core runs would repeat them
    full = mode != "student"
    shots = BUILD / FOLDERS[mode] / "screenshots" / path.stem
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)
    for r in results if full else [r for r in results if r["problems"]]:
        driver.execute_script("Reveal.slide(arguments[0], arguments[1])", r["h"], r["v"])
        driver.save_screenshot(str(shots / f"{r['h']:02d}-{r['v']:02d}.png"))
    # axe-core: the page as a whole on its first slide, then every slide with its fragments shown
    driver.execute_script("Reveal.slide(0, 0)")
    violations = [(1, v) for v in axe_violations(driver)]
    for n, (h, v) in enumerate(slide_indices(driver) if full else [], start=1):
        driver.execute_script(
            "Reveal.slide(arguments[0], arguments[1]);"
            "Reveal.getCurrentSlide().querySelectorAll('.fragment').forEach(f => f.classList.add('visible'));",
            h, v,
        )  # fmt: skip
        violations += [(n, found) for found in axe_violations(driver, context=LEAF)]
    failing = [(r["h"], r["v"], r["title"], r["problems"]) for r in results if r["problems"]]
    assert not failing and not violations, (
        f"{path.name} ({mode}): {len(failing)} of {len(results)} slides fail: {failing}; axe-core: {violations}"
    )
    assert len(results) == slides.expected_slide_count(deck)
    assert all(r["scale"] == 1 for r in results)  # a 1280×720 viewport shows the slides at their own size
    if mode == "student":
        assert "solution" not in {r["kind"] for r in results}
    assert not errors, errors
    has_math = any("$" in c.source for c in deck.cells if c.cell_type == "markdown")
    if has_math:
        assert driver.execute_script("return document.querySelectorAll('.MathJax_CHTML').length") > 0
        assert "$$" not in driver.execute_script("return document.body.innerText")
    if full:
        assert len(list(shots.glob("*.png"))) == len(results)


def test_navigation_is_linear_and_explained(built_decks):
    base, _written, driver = built_decks
    open_deck(driver, base, "lecturer", NOTEBOOKS[1])
    help_text = driver.execute_script("return document.querySelector('.emkit-help').innerText")
    assert "next slide" in help_text and "speaker notes" in help_text
    total = driver.execute_script("return Reveal.getTotalSlides()")
    seen = set()
    for _ in range(total - 1):
        driver.execute_script("Reveal.next()")  # what the right arrow does, fragments included
        seen.add(tuple(driver.execute_script("const i = Reveal.getIndices(); return [i.h, i.v || 0]")))
        if driver.execute_script("return Reveal.isLastSlide() && !Reveal.availableFragments().next"):
            break
    vertical = [s for s in seen if s[1] > 0]
    assert vertical, "the right arrow must reach vertical sub-slides"
    assert driver.execute_script("return Reveal.getConfig().navigationMode") == "linear"


LAST_ROWS_AND_CONTROLS = r"""
const slide = Reveal.getCurrentSlide();
const boxes = Array.from(document.querySelectorAll('.reveal .controls button, .reveal .slide-number'))
  .filter(el => getComputedStyle(el).display !== 'none' && el.getBoundingClientRect().width > 0)
  .map(el => el.getBoundingClientRect());
return Array.from(slide.querySelectorAll('table')).map(t => {
  const rows = t.querySelectorAll('tr'); const q = rows[rows.length - 1].getBoundingClientRect();
  return {bottom: q.bottom, under: boxes.some(c => q.left < c.right && q.right > c.left && q.top < c.bottom
                                                   && q.bottom > c.top)};
});
"""


def test_the_last_row_of_every_table_is_clear_of_the_controls(built_decks):
    """The ◀ ▶ controls sit in the side margins (reveal.js's "edges" layout): a long table stays readable."""
    base, _written, driver = built_decks
    tables = 0
    for path in NOTEBOOKS:
        open_deck(driver, base, "lecturer", path)
        for h, v in slide_indices(driver):
            driver.execute_script("Reveal.slide(arguments[0], arguments[1])", h, v)
            for row in driver.execute_script(LAST_ROWS_AND_CONTROLS):
                tables += 1
                assert not row["under"], f"{path.name} slide {h}/{v}: a table's last row under the controls: {row}"
    assert tables, "no table on any slide"


@pytest.mark.parametrize("mode", list(FOLDERS))
def test_pdf_handouts_have_one_page_per_slide_and_a_margin(mode, built_decks):
    base, written, driver = built_decks
    pdfs = [p for p in written[mode] if p.suffix == ".pdf"]
    assert len(pdfs) == len(NOTEBOOKS)
    for path in NOTEBOOKS:
        pdf = BUILD / FOLDERS[mode] / f"{path.stem}.slides.pdf"
        data = pdf.read_bytes()
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
        expected = slides.expected_slide_count(prepared(SOURCES / path.name, mode == "student"))
        assert pages == expected, f"{pdf.name}: {pages} pages for {expected} slides"
        box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
        width, height = float(box.group(1)), float(box.group(2))
        assert abs(width / height - 16 / 9) < 0.01, (width, height)  # 1280×720 pages
        # what Chromium printed: reveal.js's print layout, its figures fitted as in the PDF
        open_deck(driver, base, mode, path, "?print-pdf")
        deadline = time.monotonic() + 20
        while not driver.execute_script("return !!window.emkitFitted") and time.monotonic() < deadline:
            time.sleep(0.1)
        laid_out = print_margins(driver)
        assert len(laid_out) == expected
        assert {(p["width"], p["height"]) for p in laid_out} == {slides.SLIDE_SIZE}, "pages not 1280×720 px"
        close = [(p["page"], round(p["margin"]), p["what"]) for p in laid_out if p["margin"] < PDF_MARGIN]
        assert not close, f"{pdf.name}: text or images within {PDF_MARGIN} px of a page's edge: {close}"
