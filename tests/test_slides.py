"""Every notebook is a slide deck that a lecturer can project: checked slide by slide in a real browser.

The browser tests build the offline decks (reveal.js and MathJax installed
from the npm registry) and their PDF handouts, serve them on 127.0.0.1, and
page through every slide in headless Chromium (Selenium) with a 1280×720
window, a projector's size. On every slide, with its fragments shown: nothing
taller or wider than the slide, nothing that scrolls, prose at 20 px or more
and code at 14 px or more on screen, no figure shrunk below 60 %, no widget
printed as ``VBox(...)`` (see tests/deck_geometry.py). The browser console
must stay free of errors. A screenshot of every slide goes to
build/slides/screenshots. Without Chromium, its driver or npm the tests are
skipped, unless EMKIT_REQUIRE_BROWSER=1 (as in CI), where they fail instead.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import nbformat
import pytest
from deck_geometry import measure

from emkit import slides

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
BUILD = ROOT / "build" / "slides"


def slide_units(nb):
    """The cells of each slide, in order (skipped cells and speaker notes left out)."""
    units = []
    for cell in nb.cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if kind in ("slide", "subslide") or not units:
            units.append([])
        if kind not in ("skip", "notes") and "notes" not in cell.metadata.get("tags", []):
            units[-1].append(cell)
    return units


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_decks_have_a_sensible_size(path):
    nb = nbformat.read(path, as_version=4)
    units = slide_units(nb)
    assert 8 <= len(units) <= 45, f"{path.name}: {len(units)} slides"
    for unit in units:
        shown = [c for c in unit if c.cell_type == "code" and slides.HIDE_INPUT_TAG not in c.metadata.get("tags", [])]
        code_lines = sum(len(c.source.splitlines()) for c in shown)
        text = sum(len(c.source) for c in unit if c.cell_type == "markdown")
        first = unit[0].source[:50] if unit else ""
        assert code_lines <= 15, f"{path.name}: a slide with {code_lines} lines of code: {first!r}"
        assert text <= 1800, f"{path.name}: a slide with {text} characters of text: {first!r}"


def test_every_deck_has_speaker_notes():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert any("notes" in c.metadata.get("tags", []) for c in nb.cells), path.name


def test_default_deck_uses_the_projector_template(tmp_path):
    (deck,) = slides.build([NOTEBOOKS[1]], tmp_path)
    html = deck.read_text(encoding="utf-8")
    assert "https://unpkg.com/reveal.js@4.0.2/dist/reveal.js" in html
    assert "mathjax/2.7.7" in html and "mermaid" not in html.lower()
    assert "width: 1280" in html and 'navigationMode: "linear"' in html
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    leaf_sections = len(re.findall(r"<section(?![^>]*>\s*<section)", html))
    assert leaf_sections == slides.expected_slide_count(nb)
    hidden = [c for c in nb.cells if slides.HIDE_INPUT_TAG in c.metadata.get("tags", [])]
    assert hidden and hidden[0].source.splitlines()[1] not in html  # the code is off the slide ...
    assert html.count("data:image/png;base64") >= 5  # ... and the figures are on
    assert "VBox(" not in html and "widget-view+json" not in html  # viewers show their frame
    assert '<aside class="notes">' in html  # speaker notes


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
    written = slides.build(NOTEBOOKS, BUILD, offline=True, pdf=True)
    handler = functools.partial(QuietHandler, directory=str(BUILD))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = slides.browser()
    yield f"http://127.0.0.1:{server.server_address[1]}", written, driver
    driver.quit()
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_slide_fits_a_1280x720_projector(path, built_decks):
    base, _written, driver = built_decks
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(f"{base}/{path.stem}.slides.html")
    slides.wait_for_deck(driver)
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [1280, 720]
    results = measure(driver)
    nb = nbformat.read(path, as_version=4)
    assert len(results) == slides.expected_slide_count(nb)
    failing = [(r["h"], r["v"], r["title"], r["problems"]) for r in results if r["problems"]]
    assert not failing, f"{path.name}: {len(failing)} of {len(results)} slides fail: {failing}"
    assert all(r["scale"] == 1 for r in results)  # a 1280×720 window shows the slides at their own size
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    has_math = any("$" in c.source for c in nb.cells if c.cell_type == "markdown")
    if has_math:
        assert driver.execute_script("return document.querySelectorAll('.MathJax_CHTML').length") > 0
        assert "$$" not in driver.execute_script("return document.body.innerText")
    shots = BUILD / "screenshots" / path.stem
    shots.mkdir(parents=True, exist_ok=True)
    for r in results:
        driver.execute_script("Reveal.slide(arguments[0], arguments[1])", r["h"], r["v"])
        driver.save_screenshot(str(shots / f"{r['h']:02d}-{r['v']:02d}.png"))
    assert len(list(shots.glob("*.png"))) == len(results)


def test_navigation_is_linear_and_explained(built_decks):
    base, _written, driver = built_decks
    driver.get(f"{base}/{NOTEBOOKS[1].stem}.slides.html")
    slides.wait_for_deck(driver)
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


def test_pdf_handouts_have_one_page_per_slide(built_decks):
    _base, written, _driver = built_decks
    pdfs = [p for p in written if p.suffix == ".pdf"]
    assert len(pdfs) == len(NOTEBOOKS)
    for path in NOTEBOOKS:
        pdf = BUILD / f"{path.stem}.slides.pdf"
        data = pdf.read_bytes()
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
        expected = slides.expected_slide_count(nbformat.read(path, as_version=4))
        assert pages == expected, f"{pdf.name}: {pages} pages for {expected} slides"
        box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
        width, height = float(box.group(1)), float(box.group(2))
        assert abs(width / height - 16 / 9) < 0.01, (width, height)  # 1280×720 pages
