"""The course website, built as ``python3 course.py site`` builds it, opened page by page in Chromium from disk.

With every http(s) request blocked, each page must: load every image, typeset
every formula (no ``$$`` or ``\\(`` left in the text, no MathJax error), log
no console error, and make no request that leaves the machine. Every local
link on every page and in every deck resolves (file and anchor); each deck's
closing link opens the next deck. Search finds a word, and its snippets show
formulas as text, not TeX. Hints and solutions are closed until clicked.

At exactly 1280×800 and at 390×844 (a phone: touch, mobile viewport), every
page: no code or output block scrolls sideways, no display equation scrolls
at 1280, nothing sticks out of the column at 390 (the page never scrolls
sideways), one search field, and axe-core finds no serious or critical
violation; a screenshot of each is saved in ``build/site-shots/``. The ☰
chapter menu and the contents button open with a real tap (touch events over
the DevTools protocol) at 390, 900 and 1280 px. Dark mode leaves no light box
behind. Every figure has the alt text written in its notebook cell; toggles
have distinct accessible names. The guides of ``docs/`` are chapters; the
performance page has its plots.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import re
import shutil
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from emkit import site, slides

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser_tools import axe_violations, viewport  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MISSING_ALT = [(p.relative_to(ROOT).as_posix(), i) for p, i in site.figures_without_alt(NOTEBOOKS)]
SHOTS = ROOT / "build" / "site-shots"
SIZES = [(1280, 800, False), (390, 844, True)]


def need_browser():
    if slides.chromium() is None or shutil.which("chromedriver") is None:
        if os.environ.get("EMKIT_REQUIRE_BROWSER") == "1":
            pytest.fail("EMKIT_REQUIRE_BROWSER=1 but chromium or chromium-driver is missing")
        pytest.skip("needs chromium and chromium-driver (CI installs them)")
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
    except ImportError:
        if os.environ.get("EMKIT_REQUIRE_BROWSER") == "1":
            pytest.fail("the site extra (sphinx, myst-nb, sphinx-book-theme) is not installed")
        pytest.skip("needs the site extra: pip install -e '.[site]'")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    need_browser()
    out = tmp_path_factory.mktemp("site") / "site"
    # No placeholder: a figure cell without alt text fails the build (and the test below names it).
    index = site.build(ROOT, out, decks=True, pdf=False)
    return index.parent  # PDFs: tests/test_slides.py prints them


# -- alt text ---------------------------------------------------------------------------------------------


def test_every_figure_cell_has_its_alt_text():
    assert not MISSING_ALT, "figure cells without metadata.emkit.alt (notebook, cell index): " + ", ".join(
        f"{p} cell {i}" for p, i in MISSING_ALT
    )


def test_the_build_fails_listing_the_figures_without_alt_text(tmp_path):
    nb = nbformat.v4.new_notebook()
    png = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "iVBORw0KGgo=", "text/plain": "x"}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 01 · A title"),
        nbformat.v4.new_code_cell("plot()", outputs=[nbformat.from_dict(png)]),
        nbformat.v4.new_code_cell("plot()", outputs=[nbformat.from_dict(png)], metadata={"emkit": {"alt": "A line."}}),
        nbformat.v4.new_code_cell("1 + 1"),
    ]
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "01_a.ipynb")
    with pytest.raises(site.MissingAltText) as caught:
        site.write_source(tmp_path, tmp_path / "src")
    assert caught.value.missing == [(Path("notebooks/01_a.ipynb"), 1)]
    assert "notebooks/01_a.ipynb cell 1" in str(caught.value) and "metadata.emkit.alt" in str(caught.value)
    assert site.figure_alt(nb.cells[2]) == "A line." and site.figure_alt(nb.cells[1]) is None


def test_every_figure_on_the_site_carries_its_alt_text(built):
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        wanted = [site.figure_alt(c) for c in nb.cells if site.draws_figure(c)]
        shown = [alt for tag, alt in parsed(built / f"{path.stem}.html").images]
        for alt in shown:
            assert alt and not re.search(r"\.(png|svg|jpe?g)$|^_images/|^[0-9a-f]{32,}", alt), (path.name, alt)
        for alt in filter(None, wanted):
            assert alt in shown, (path.name, alt[:60])


# -- pages, links, navigation -------------------------------------------------------------------------------


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids, self.images, self.text = [], set(), [], []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        if tag == "img":
            self.images.append((tag, attrs.get("alt") or ""))
        if tag in ("script", "style"):
            self._skip += 1
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and attrs.get("rel") in ("preconnect", "dns-prefetch")):
                self.links.append((tag, attrs[key]))

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


@functools.cache
def parsed(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def pages(root: Path) -> list[Path]:
    return sorted(root.glob("*.html"))


def decks(root: Path) -> list[Path]:
    return sorted((root / "slides").glob("*.slides.html"))


def text_of(path: Path) -> str:
    return " ".join(" ".join(parsed(path).text).split())


def test_the_site_has_every_chapter_guide_and_page(built):
    names = {p.name for p in pages(built)}
    assert {f"{p.stem}.html" for p in NOTEBOOKS} <= names
    assert {f"{p.stem}.html" for p in (ROOT / "docs").glob("*.md")} <= names
    assert {"learners.html", "lecturers.html", "instructors.html", "maintainers.html", "performance.html"} <= names
    assert {"index.html", "glossary.html", "downloads.html", "jupyterhub.html", "search.html"} <= names
    downloads = (built / "downloads.html").read_text(encoding="utf-8")
    for student in (ROOT / "notebooks" / "exercises").glob("*.ipynb"):
        assert f'href="exercises/{student.name}"' in downloads
        assert (built / "exercises" / student.name).read_bytes() == student.read_bytes()
    for chapter in NOTEBOOKS:
        assert f'href="slides/{chapter.stem}.slides.html"' in downloads
        assert (built / "slides" / f"{chapter.stem}.slides.html").is_file()
    # every chapter and guide is in the navigation, which every page carries
    nav = {unquote(urlsplit(link).path) for tag, link in parsed(built / "glossary.html").links if tag == "a"}
    assert {f"{p.stem}.html" for p in NOTEBOOKS} | {f"{p.stem}.html" for p in (ROOT / "docs").glob("*.md")} <= nav


def test_the_landing_page_counts_and_links_every_notebook(built):
    text = text_of(built / "index.html")
    assert f"A course in {site.NUMBER_WORDS[len(NOTEBOOKS)]} notebooks" in text
    links = {link for tag, link in parsed(built / "index.html").links if tag == "a"}
    for path in NOTEBOOKS:
        assert f"{path.stem}.html" in links, path.stem


def test_the_glossary_has_the_notation_and_no_code(built):
    glossary = (built / "glossary.html").read_text(encoding="utf-8")
    text = text_of(built / "glossary.html")
    assert "responsibilit" in text
    assert "<pre" not in glossary and "cell_input" not in glossary
    assert not re.search(r"\bimport (numpy|matplotlib)|plotting\.use_course_style|from emkit import", text)
    assert "Notation (the glossary)" not in text  # the page is the glossary: its sections, not the cell's heading


def test_downloads_link_the_pdf_handouts_when_they_are_built(tmp_path):
    decks_ = [tmp_path / "01_kmeans.slides.html", tmp_path / "01_kmeans.slides.pdf"]
    text = site._downloads(["01_kmeans"], {"01_kmeans": "k-means"}, [], decks_)
    assert '<a href="slides/01_kmeans.slides.pdf">' in text and '<a href="slides/01_kmeans.slides.html">' in text
    text = site._downloads(["01_kmeans"], {"01_kmeans": "k-means"}, [], decks_[:1])
    assert "slides.pdf" not in text


def test_every_local_link_of_every_page_and_deck_resolves(built):
    documents = pages(built) + decks(built)
    anchors = {p.resolve(): parsed(p).ids for p in documents}
    problems, checked = [], 0
    for page in documents:
        for tag, link in parsed(page).links:
            parts = urlsplit(link)
            if parts.scheme in ("http", "https", "mailto", "data", "javascript"):
                continue
            checked += 1
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
            name = page.relative_to(built)
            if not target.exists():
                problems.append(f"{name}: <{tag}> {link} -> missing {target}")
            elif target.is_dir():
                problems.append(f"{name}: <{tag}> {link} -> a folder, not a page")
            elif (
                parts.fragment and target in anchors and not {parts.fragment, unquote(parts.fragment)} & anchors[target]
            ):
                # (a browser tries the fragment as written, then decoded: nbconvert's ids keep their %-escapes)
                problems.append(f"{name}: <{tag}> {link} -> no id {parts.fragment!r} in {target.name}")
    assert not problems, "\n".join(problems[:30])
    assert checked > 500


def test_each_deck_links_to_the_next_notebooks_deck(built):
    stems = [p.stem for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        linked = set(
            re.findall(r"\]\((\d\d_[\w-]+)\.ipynb\)", "".join(c.source for c in nb.cells if c.cell_type == "markdown"))
        )
        deck_links = {link for tag, link in parsed(built / "slides" / f"{path.stem}.slides.html").links if tag == "a"}
        for stem in linked & set(stems):
            assert f"{stem}.slides.html" in deck_links, (path.stem, stem)


def test_no_page_or_deck_asks_the_network_for_anything(built):
    for page in pages(built) + decks(built):
        for tag, link in parsed(page).links:
            if tag in ("script", "link", "img", "iframe", "source"):
                assert urlsplit(link).scheme not in ("http", "https"), f"{page.name} loads {link}"


def test_the_performance_page_shows_its_plots_from_stored_results(built):
    stored = site.benchmark_results(ROOT)
    assert stored is not None, "benchmarks/results/ holds no run of bench.py --json"
    path, data = stored
    images = parsed(built / "performance.html").images
    assert len(images) >= 2
    assert any("k-means" in alt and " ms " in alt for _, alt in images)
    assert any("speed-up" in alt and "×" in alt for _, alt in images)
    text = text_of(built / "performance.html")
    assert data["machine"] in text and path.name in text
    assert "emkit:figure" not in (built / "performance.html").read_text(encoding="utf-8")


# -- in the browser ------------------------------------------------------------------------------------------

PAGE_STATE = r"""
const done = arguments[arguments.length - 1];
const ready = (window.MathJax && MathJax.startup && MathJax.startup.promise) || Promise.resolve();
ready.then(() => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  const clone = (document.querySelector('main') || document.body).cloneNode(true);
  clone.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  const text = clone.textContent;
  const raw = [];
  for (const pattern of ['$$', '\\(', '\\[', '\\begin{']) { if (text.includes(pattern)) raw.push(pattern); }
  const inline = text.match(/\$[^$\s][^$]*\$/);
  if (inline) raw.push(inline[0].slice(0, 60));
  done({
    images: imgs.length, broken: broken,
    math: document.querySelectorAll('mjx-container').length,
    errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
    raw: raw,
  });
}).catch(e => done({failed: String(e)}));
"""

SETTLED = r"""
const done = arguments[arguments.length - 1];
const start = Date.now();
(function wait() {
  if (document.documentElement.dataset.emkitMath === 'fitted') done(true);
  else if (Date.now() - start > 30000) done(false);
  else setTimeout(wait, 50);
})();
"""

GEOMETRY = r"""
const article = document.querySelector('article.bd-article') || document.querySelector('main');
const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden';
const name = e => e.tagName.toLowerCase()
  + (e.className && e.className.toString ? '.' + e.className.toString().split(' ')[0] : '');
const sideways = Array.from(article.querySelectorAll('pre'))
  .filter(p => visible(p) && p.scrollWidth > p.clientWidth + 1).map(p => p.textContent.trim().slice(0, 50));
const equations = Array.from(article.querySelectorAll('mjx-container[display="true"]'))
  .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => [e.scrollWidth, e.clientWidth]);
const right = article.getBoundingClientRect().right;
const out = [];
for (const el of article.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.right <= right + 1 || el.closest('mjx-assistive-mml, .emkit-sr-only')) continue;
  let a = el.parentElement, held = false;
  while (a && a !== article) {
    if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(a).overflowX)) { held = true; break; }
    a = a.parentElement;
  }
  if (!held) out.push(name(el));
}
const tables = Array.from(article.querySelectorAll('table'))
  .filter(t => visible(t) && t.getBoundingClientRect().right > right + 1).map(t => t.textContent.trim().slice(0, 40));
const fields = Array.from(document.querySelectorAll('.search-button-field, input[type="search"]'))
  .filter(e => visible(e) && !e.closest('dialog')).length;
return {sideways, equations, outside: out.slice(0, 5), tables, fields,
        pageWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth};
"""


@pytest.fixture(scope="module")
def browser(built):
    driver = slides.browser(log_network=True)
    driver.set_script_timeout(90)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
    driver.get("about:blank")  # let the browser's own start-up page finish before the first page is opened
    time.sleep(1)
    yield driver
    driver.quit()


def open_page(driver, url: str) -> None:
    """Open ``url`` and wait until it is the loaded document (not a start-up page still finishing)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 30).until(
        lambda d: (
            d.execute_script("return document.readyState === 'complete' && location.href") == url
            and d.execute_script("return !!document.body")
        )
    )


def screenshot(driver, target: Path, max_tiles: int = 40) -> None:
    """The whole page as a reader scrolls through it: viewport shots stitched together (Chromium's own
    full-page capture relays out a tall page and shifts parts of it, which a reader never sees)."""
    from io import BytesIO

    from PIL import Image

    height, view = driver.execute_script("return [document.documentElement.scrollHeight, window.innerHeight]")
    tiles = []
    for top in range(0, min(height, view * max_tiles), view):
        driver.execute_script("window.scrollTo(0, arguments[0])", top)
        time.sleep(0.05)
        shown = driver.execute_script("return window.scrollY")
        png = base64.b64decode(driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})["data"])
        tiles.append((shown, Image.open(BytesIO(png))))
    width = tiles[0][1].width
    scale = width / driver.execute_script("return window.innerWidth")
    page = Image.new("RGB", (width, int(min(height, view * max_tiles) * scale)), "white")
    for shown, tile in tiles:  # later tiles overwrite the overlap of the last, clamped one
        page.paste(tile, (0, int(shown * scale)))
    page.save(target)
    driver.execute_script("window.scrollTo(0, 0)")


def desktop(driver, width=1280, height=800):
    viewport(driver, width, height)
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": False})


def requests_made(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_every_page_renders_offline(built, browser):
    driver = browser
    desktop(driver)
    problems = []
    total_math = 0
    for page in pages(built):
        driver.get_log("browser"), driver.get_log("performance")  # start each page with empty logs
        open_page(driver, page.as_uri())
        state = driver.execute_async_script(PAGE_STATE)
        if "failed" in state:
            problems.append(f"{page.name}: {state['failed']}")
            continue
        total_math += state["math"]
        if state["broken"]:
            problems.append(f"{page.name}: images not loaded: {state['broken'][:5]}")
        if state["errors"]:
            problems.append(f"{page.name}: {state['errors']} MathJax errors")
        if state["raw"]:
            problems.append(f"{page.name}: untypeset maths left in the text: {state['raw']}")
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if errors:
            problems.append(f"{page.name}: console errors: {errors[:3]}")
        away = [u for u in requests_made(driver) if urlsplit(u).scheme in ("http", "https", "ws", "wss", "ftp")]
        if away:
            problems.append(f"{page.name}: requests leaving the machine: {away[:5]}")
    assert not problems, "\n".join(problems)
    assert total_math > 100  # the chapters' formulas were typeset, not merely absent


def test_every_page_fits_at_1280_and_on_a_phone_with_no_serious_axe_violation(built, browser):
    """Geometry and axe-core at 1280×800 and 390×844, and a screenshot of each page at each size."""
    driver = browser
    if SHOTS.exists():
        shutil.rmtree(SHOTS)
    SHOTS.mkdir(parents=True)
    problems, report = [], {}
    try:
        for width, height, mobile in SIZES:
            viewport(driver, width, height, mobile=mobile)
            driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": mobile, "maxTouchPoints": 5})
            for page in pages(built):
                open_page(driver, page.as_uri())
                assert driver.execute_async_script(SETTLED), f"{page.name}: emkit-site.js did not finish"
                g = driver.execute_script(GEOMETRY)
                where = f"{page.name} at {width}"
                if g["sideways"]:
                    problems.append(
                        f"{where}: {len(g['sideways'])} code/output blocks scroll sideways: {g['sideways'][:3]}"
                    )
                if width >= 1280 and g["equations"]:
                    problems.append(f"{where}: display equations scroll sideways: {g['equations']}")
                if g["outside"] or g["tables"]:
                    problems.append(f"{where}: sticks out of the column: {g['outside']} {g['tables']}")
                if g["pageWidth"] > width or g["innerWidth"] != width:
                    problems.append(f"{where}: the page scrolls sideways ({g['pageWidth']} px wide)")
                if (width >= 1280 and g["fields"] != 1) or g["fields"] > 1:
                    problems.append(f"{where}: {g['fields']} search fields")
                found = axe_violations(driver)
                report[where] = [(v[0], v[1], v[3]) for v in found]
                problems += [f"{where}: axe {v[0]} ({v[1]}, {v[3]} nodes): {v[2]} at {v[4]}" for v in found]
                screenshot(driver, SHOTS / f"{page.stem}-{width}.png")
    finally:
        (SHOTS / "axe.json").write_text(json.dumps(report, indent=1))
        desktop(driver)
    assert not problems, "\n".join(problems)


TAP_TARGET = """
const shown = Array.from(document.querySelectorAll(arguments[0]))
  .filter(e => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden');
if (!shown.length) return null;
const r = shown[0].getBoundingClientRect();
return [r.x + r.width / 2, r.y + r.height / 2];
"""

MENU_STATE = """
const shownLinks = root => root ? Array.from(root.querySelectorAll('a')).filter(a => {
  const r = a.getBoundingClientRect();
  return r.width > 0 && r.height > 0 && r.right > 0 && r.left < window.innerWidth
    && getComputedStyle(a).visibility !== 'hidden';
}).map(a => a.getAttribute('href')) : [];
const primary = document.getElementById('pst-primary-sidebar-modal');
const secondary = document.getElementById('pst-secondary-sidebar-modal');
const sidebar = document.getElementById('pst-primary-sidebar');
return {
  primaryOpen: !!(primary && primary.open), primaryLinks: shownLinks(primary),
  secondaryOpen: !!(secondary && secondary.open), secondaryLinks: shownLinks(secondary),
  sidebarLinks: shownLinks(sidebar),
};
"""


def tap(driver, selector: str) -> bool:
    """A finger's tap on the first visible element matching ``selector`` (touch events, not a click)."""
    point = driver.execute_script(TAP_TARGET, selector)
    if point is None:
        return False
    x, y = point
    driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    driver.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    time.sleep(0.5)
    return True


@pytest.mark.parametrize("width, height", [(390, 844), (900, 1000), (1280, 800)])
def test_the_chapter_menu_and_the_contents_open_with_a_tap(built, browser, width, height):
    driver = browser
    viewport(driver, width, height, mobile=width < 1000)
    driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})
    try:
        page = (built / "02_soft_assignment.html").as_uri()
        open_page(driver, page)
        time.sleep(0.5)
        before = driver.execute_script(MENU_STATE)
        assert tap(driver, "button.primary-toggle"), "no visible ☰ button"
        after = driver.execute_script(MENU_STATE)
        if width < 992:  # the theme's narrow layout: the menu is a dialog over the page
            assert not before["primaryOpen"] and after["primaryOpen"], (before, after)
            assert "01_kmeans.html" in after["primaryLinks"], after["primaryLinks"]
        else:  # wide: the sidebar is there, and ☰ folds it away and back
            assert "01_kmeans.html" in before["sidebarLinks"]
            assert "01_kmeans.html" not in after["sidebarLinks"], after
            tap(driver, "button.primary-toggle")
            assert "01_kmeans.html" in driver.execute_script(MENU_STATE)["sidebarLinks"]
        open_page(driver, page)
        time.sleep(0.5)
        if width < 992:
            assert tap(driver, "button.secondary-toggle"), "no visible contents button"
            after = driver.execute_script(MENU_STATE)
            assert after["secondaryOpen"] and any(h.startswith("#") for h in after["secondaryLinks"]), after
        else:  # wide: the contents are always shown beside the page
            assert not driver.execute_script(TAP_TARGET, "button.secondary-toggle")
            links = driver.execute_script(
                "return Array.from(document.querySelectorAll('#pst-secondary-sidebar a')).filter(a => a.offsetParent)"
                ".map(a => a.getAttribute('href'))"
            )
            assert any(h.startswith("#") for h in links)
    finally:
        desktop(driver)


TOGGLE_NAMES = """
return Array.from(document.querySelectorAll('details.hide > summary')).map(s => {
  const shown = s.querySelector('.collapsed');
  const visible = shown.cloneNode(true);
  visible.querySelectorAll('.emkit-sr-only').forEach(e => e.remove());
  return [visible.textContent.trim(), shown.textContent.replace(/\\s+/g, ' ').trim(), s.getAttribute('aria-label')];
});
"""


def test_toggles_say_what_they_open_with_distinct_names(built, browser):
    driver = browser
    desktop(driver)
    solutions = 0
    for path in NOTEBOOKS:
        open_page(driver, (built / f"{path.stem}.html").as_uri())
        toggles = driver.execute_script(TOGGLE_NAMES)
        names = [name for _, name, _ in toggles]
        assert len(names) == len(set(names)), (path.stem, names)
        for shown, name, label in toggles:
            assert label is None, "an aria-label would hide the toggle's own text"
            assert shown in ("Show a solution", "Show code"), shown
            assert name.startswith(shown + ": ") and len(name) > len(shown) + 4, name
        solutions += sum(shown == "Show a solution" for shown, _, _ in toggles)
    assert solutions >= 10


def test_hints_and_solutions_stay_closed_until_clicked(built, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    desktop(driver)
    open_page(driver, (built / "01_kmeans.html").as_uri())
    hints = [
        d
        for d in driver.find_elements(By.CSS_SELECTOR, "details")
        if "Hint" in d.text or "hint" in d.get_attribute("innerHTML")[:200].lower()
    ]
    assert hints and not any(d.get_attribute("open") for d in hints)
    solutions = driver.find_elements(By.CSS_SELECTOR, ".cell.tag_hide-cell")
    assert solutions, "no solution cell behind a toggle"
    solution_code = solutions[0].find_element(By.CSS_SELECTOR, ".cell_input")
    assert not solution_code.is_displayed()
    toggle = solutions[0].find_element(By.CSS_SELECTOR, "summary")
    assert "Show a solution" in toggle.text
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", toggle)
    toggle.click()
    WebDriverWait(driver, 5).until(lambda d: solution_code.is_displayed())
    assert "def assign_step" in solution_code.text
    assert "BEGIN SOLUTION" not in solution_code.text


LUMINANCE = """
const lum = c => {
  const m = c.match(/[\\d.]+/g).map(Number);
  return (0.2126 * m[0] + 0.7152 * m[1] + 0.0722 * m[2]) / 255;
};
const background = e => { for (; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
  if (!/rgba\\(0, 0, 0, 0\\)|transparent/.test(c)) return c; } return 'rgb(255, 255, 255)'; };
const probe = sel => Array.from(document.querySelectorAll(sel)).filter(e => e.getClientRects().length).slice(0, 20)
  .map(e => [lum(background(e)), lum(getComputedStyle(e).color)]);
return {
  theme: document.documentElement.dataset.theme,
  checks: probe('.cell_output .output.text_html'),
  code: probe('div.highlight pre'),
  output: probe('.cell_output .output pre'),
  cells: probe('article table td'),
  page: probe('article p'),
};
"""


def test_dark_mode_leaves_no_light_box_behind(built, browser):
    driver = browser
    desktop(driver)
    open_page(driver, (built / "index.html").as_uri())
    driver.execute_script("localStorage.setItem('mode', 'dark')")
    try:
        for name in ("01_kmeans.html", "glossary.html"):
            open_page(driver, (built / name).as_uri())
            assert driver.execute_async_script(SETTLED)
            state = driver.execute_script(LUMINANCE)
            assert state["theme"] == "dark"
            for kind in ("checks", "code", "output", "cells", "page"):
                for back, fore in state[kind]:
                    assert back < 0.3 and fore > 0.55, (name, kind, back, fore)
            assert state["cells"] if name == "glossary.html" else state["checks"] and state["code"]
            found = axe_violations(driver)
            assert not found, (name, found)
            SHOTS.mkdir(parents=True, exist_ok=True)
            screenshot(driver, SHOTS / f"{Path(name).stem}-1280-dark.png")
    finally:
        driver.execute_script("localStorage.removeItem('mode')")


def test_search_finds_a_word_offline(built, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    desktop(driver)
    driver.get((built / "search.html").as_uri() + "?q=responsibilities")
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('#search-results li, ul.search li').length") > 0
    )
    found = driver.execute_script(
        "return Array.from(document.querySelectorAll('#search-results li a, ul.search li a'))"
        ".map(a => a.getAttribute('href'))"
    )
    assert any(re.match(r"0[23]_", href) for href in found), found


RAW_TEX = re.compile(r"\\[()\[\]]|\$\$|\\[a-zA-Z]{2,}")


def test_search_snippets_show_formulas_as_text(built, browser):
    """Served over http (snippets are fetched pages, which file:// forbids): no raw TeX in any snippet."""
    from selenium.webdriver.support.ui import WebDriverWait

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(built)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = browser
    desktop(driver)
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
    driver.get_log("performance")
    try:
        assert driver.execute_script("return 1") == 1
        driver.get(f"http://127.0.0.1:{server.server_port}/search.html?q=theta")
        WebDriverWait(driver, 60).until(
            lambda d: d.execute_script("return document.querySelectorAll('#search-results p.context').length") >= 3
        )
        time.sleep(1)
        snippets = driver.execute_script(
            "return Array.from(document.querySelectorAll('#search-results p.context')).map(p => p.textContent)"
        )
        raw = [(RAW_TEX.search(s).group(0), s) for s in snippets if RAW_TEX.search(s)]
        assert not raw, raw[:3]
        assert any("θ" in s for s in snippets), snippets[:3]
        as_text = driver.execute_script(
            "return [emkitTexToText('\\\\(\\\\theta^t\\\\)'), "
            "emkitTexToText('\\\\(r_{ik}\\\\)'), emkitTexToText('\\\\(\\\\frac{1}{N_k}\\\\)')]"
        )
        assert as_text == ["θᵗ", "rᵢₖ", "1/Nₖ"], as_text
        away = [
            u
            for u in requests_made(driver)
            if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).hostname != "127.0.0.1"
        ]
        assert not away, away[:5]
    finally:
        driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
        server.shutdown()
        server.server_close()
