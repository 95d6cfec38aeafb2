"""Every notebook is a slide deck of sensible size, and the decks work in a real browser.

The browser test builds offline decks (reveal.js and MathJax installed from the
npm registry), serves them on 127.0.0.1 and loads each in headless Chromium
with a small probe script that records load errors, console errors, whether
reveal.js initialised, how many slides it built and how many formulas MathJax
typeset. A screenshot of each deck's first slide goes to build/slides/screenshots
for a person to look at. Without Chromium or npm the test is skipped, unless
EMKIT_REQUIRE_BROWSER=1 (as in CI), where it fails instead.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import nbformat
import pytest

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
        if kind not in ("skip", "notes"):
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


def test_default_deck_is_plain_nbconvert(tmp_path):
    (deck,) = slides.build([NOTEBOOKS[1]], tmp_path)
    html = deck.read_text(encoding="utf-8")
    assert "https://unpkg.com/reveal.js@4.0.2/dist/reveal.js" in html
    assert "mathjax/2.7.7" in html
    nb = nbformat.read(NOTEBOOKS[1], as_version=4)
    leaf_sections = len(re.findall(r"<section(?![^>]*>\s*<section)", html))
    assert leaf_sections == slides.expected_slide_count(nb)
    hidden = [c for c in nb.cells if slides.HIDE_INPUT_TAG in c.metadata.get("tags", [])]
    assert hidden and hidden[0].source.splitlines()[1] not in html  # the code is off the slide ...
    assert html.count("data:image/png;base64") >= 5  # ... and the figures are on


PROBE = """<script>
window.__emkit = {errors: []};
window.addEventListener("error", function (e) {
  var t = e.target || {};
  __emkit.errors.push(String(e.message || ("failed to load " + (t.src || t.href || t.tagName))));
}, true);
window.addEventListener("unhandledrejection", function (e) { __emkit.errors.push("unhandled: " + e.reason); });
(function () {
  var original = console.error;
  console.error = function () {
    __emkit.errors.push(Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
})();
setInterval(function () {
  var leaves = Array.prototype.filter.call(document.querySelectorAll(".reveal .slides section"),
    function (s) { return !s.querySelector("section"); });
  var mathDone = !!(window.MathJax && MathJax.Hub && MathJax.Hub.queue && MathJax.Hub.queue.pending === 0
                    && MathJax.Hub.queue.running === 0);
  document.title = "EMKIT" + JSON.stringify({
    ready: !!document.querySelector(".reveal.ready"), slides: leaves.length,
    math: document.querySelectorAll(".MathJax_CHTML").length, mathDone: mathDone,
    texLeft: (document.body.innerText.match(/\\$\\$/g) || []).length, errors: __emkit.errors});
}, 250);
</script>"""


def browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--virtual-time-budget=20000",
]


@pytest.fixture(scope="module")
def served_decks():
    if browser() is None or shutil.which("npm") is None:
        if os.environ.get("EMKIT_REQUIRE_BROWSER") == "1":
            pytest.fail("EMKIT_REQUIRE_BROWSER=1 but chromium or npm is missing")
        pytest.skip("needs chromium and npm (CI installs both)")
    decks = slides.build(NOTEBOOKS, BUILD, offline=True)
    for deck in decks:  # a probed copy of each deck, next to it
        html = deck.read_text(encoding="utf-8")
        deck.with_suffix(".probe.html").write_text(html.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
    handler = functools.partial(QuietHandler, directory=str(BUILD))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", decks
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_deck_in_headless_chromium(path, served_decks, tmp_path):
    base, _ = served_decks
    url = f"{base}/{path.stem}.slides.probe.html"
    profile = tmp_path / "profile"
    out = subprocess.run(
        [browser(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"<title>EMKIT(.*?)</title>", out.stdout, re.S)
    assert match, f"the probe never reported: {out.stderr[-800:]}"
    report = json.loads(match.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    nb = nbformat.read(path, as_version=4)
    assert report["ready"], report
    assert report["slides"] == slides.expected_slide_count(nb), report
    has_math = any("$" in c.source for c in nb.cells if c.cell_type == "markdown")
    if has_math:
        assert report["mathDone"] and report["math"] > 0, report
    assert report["errors"] == [], report["errors"]
    shots = BUILD / "screenshots"
    shots.mkdir(exist_ok=True)
    subprocess.run(
        [
            browser(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}-shot",
            "--window-size=1280,720",
            f"--screenshot={shots / (path.stem + '.png')}",
            f"{base}/{path.stem}.slides.html",
        ],
        capture_output=True,
        timeout=120,
    )
    assert (shots / f"{path.stem}.png").stat().st_size > 10_000
