"""The course website, built as ``python3 course.py site`` builds it, opened page by page in Chromium from disk.

With every http(s) request blocked, each page must: load every image, typeset
every formula (no ``$$`` or ``\\(`` left in the text, no MathJax error), log
no console error, and make no request that leaves the machine. Every local
link on every page resolves (file and anchor). Search finds a word; hints
and solutions are closed until clicked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from emkit import site, slides

ROOT = Path(__file__).resolve().parents[1]


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
    index = site.build(ROOT, out, decks=True, pdf=False)  # PDFs: tests/test_slides.py prints them
    return index.parent


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("name"):
            self.ids.add(attrs["name"])
        for key in ("href", "src"):
            if attrs.get(key) and not (tag == "link" and attrs.get("rel") in ("preconnect", "dns-prefetch")):
                self.links.append((tag, attrs[key]))


def parsed(path: Path) -> Links:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def pages(root: Path) -> list[Path]:
    return sorted(root.glob("*.html"))


def test_the_site_has_every_chapter_and_page(built):
    names = {p.name for p in pages(built)}
    chapters = {f"{p.stem}.html" for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert chapters <= names
    assert {"index.html", "glossary.html", "downloads.html", "jupyterhub.html", "search.html"} <= names
    downloads = (built / "downloads.html").read_text(encoding="utf-8")
    for student in (ROOT / "notebooks" / "exercises").glob("*.ipynb"):
        assert f'href="exercises/{student.name}"' in downloads
        assert (built / "exercises" / student.name).read_bytes() == student.read_bytes()
    for chapter in (ROOT / "notebooks").glob("*.ipynb"):
        assert f'href="slides/{chapter.stem}.slides.html"' in downloads
        assert (built / "slides" / f"{chapter.stem}.slides.html").is_file()
    glossary = (built / "glossary.html").read_text(encoding="utf-8")
    assert "responsibilit" in glossary and "θᵗ" in glossary or "theta^t" in glossary


def test_downloads_link_the_pdf_handouts_when_they_are_built(tmp_path):
    decks = [tmp_path / "01_kmeans.slides.html", tmp_path / "01_kmeans.slides.pdf"]
    text = site._downloads(["01_kmeans"], {"01_kmeans": "k-means"}, [], decks)
    assert '<a href="slides/01_kmeans.slides.pdf">' in text and '<a href="slides/01_kmeans.slides.html">' in text
    text = site._downloads(["01_kmeans"], {"01_kmeans": "k-means"}, [], decks[:1])
    assert "slides.pdf" not in text


def test_every_local_link_resolves(built):
    anchors = {p.resolve(): parsed(p).ids for p in pages(built)}
    problems = []
    for page in pages(built):
        for tag, link in parsed(page).links:
            parts = urlsplit(link)
            if parts.scheme in ("http", "https", "mailto", "data", "javascript"):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page.resolve()
            if not target.exists():
                problems.append(f"{page.name}: <{tag}> {link} -> missing {target}")
            elif parts.fragment and target in anchors and unquote(parts.fragment) not in anchors[target]:
                problems.append(f"{page.name}: <{tag}> {link} -> no id {parts.fragment!r} in {target.name}")
    assert not problems, "\n".join(problems[:30])


def test_no_page_asks_the_network_for_anything(built):
    for page in pages(built):
        for tag, link in parsed(page).links:
            if tag in ("script", "link", "img", "iframe", "source"):
                assert urlsplit(link).scheme not in ("http", "https"), f"{page.name} loads {link}"


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


@pytest.fixture(scope="module")
def browser(built):
    driver = slides.browser(log_network=True)
    driver.set_script_timeout(60)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
    yield driver
    driver.quit()


def requests_made(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_every_page_renders_offline(built, browser):
    driver = browser
    problems = []
    total_math = 0
    for page in pages(built):
        driver.get_log("browser"), driver.get_log("performance")  # start each page with empty logs
        driver.get(page.as_uri())
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
        away = [u for u in requests_made(driver) if urlsplit(u).scheme not in ("file", "data", "blob", "about")]
        if away:
            problems.append(f"{page.name}: requests leaving the machine: {away[:5]}")
    assert not problems, "\n".join(problems)
    assert total_math > 100  # the chapters' formulas were typeset, not merely absent


def test_hints_and_solutions_stay_closed_until_clicked(built, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    driver.get((built / "01_kmeans.html").as_uri())
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


def test_search_finds_a_word_offline(built, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    driver.get((built / "search.html").as_uri() + "?q=responsibilities")
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('#search-results li, ul.search li').length") > 0
    )
    found = driver.execute_script(
        "return Array.from(document.querySelectorAll('#search-results li a, ul.search li a'))"
        ".map(a => a.getAttribute('href'))"
    )
    assert any(re.match(r"0[23]_", href) for href in found), found
