"""Measure every slide of a reveal.js deck in a real browser, as a projector shows it.

Used by tests/test_slides.py (and handy from a shell: ``python tests/deck_geometry.py build/slides``).
For each slide, with all its fragments shown, it reports what a person at the
back of the room would notice: content taller or wider than the 1280×720
slide, a block that scrolls sideways, prose under 20 px or code under 14 px
on screen, a figure shrunk below 60 % of its size or covering under 60 % of
the slide's width and of its height, a widget's text form
(``VBox(...)``) where a figure should be, a blank slide (no visible text or
image), a slide without a heading, content under the ◀ ▶ controls or the
slide number, ``### BEGIN SOLUTION`` (or any solution or hidden marker) on a
slide, and a passed check on a slide that is not a solution slide (its
``<section>``'s ``data-emkit-kind``, written by emkit.slides.prepare).

``print_margins`` measures the PDF handout's layout (reveal.js's
``?print-pdf`` pages, which Chromium prints one to a page): how close any
text or image comes to the edges of its page.
"""

from __future__ import annotations

import json
import sys

GO = r"""
const [h, v] = arguments;
Reveal.slide(h, v);
Reveal.getCurrentSlide().querySelectorAll('.fragment').forEach(f => f.classList.add('visible'));
"""

AFTER_MATHJAX = r"""
const done = arguments[arguments.length - 1];
if (!(window.MathJax && MathJax.Hub)) { done(true); }
else { MathJax.Hub.Queue(function () { setTimeout(function () { done(true); }, 30); }); }
"""

EXTENT = r"""
const slide = Reveal.getCurrentSlide();
let b = 0, r = 0;
for (const el of slide.querySelectorAll('*')) {
  const q = el.getBoundingClientRect(); b = Math.max(b, q.bottom); r = Math.max(r, q.right);
}
return [Math.round(b), Math.round(r)];
"""

MEASURE = r"""
const [h, v] = arguments;
const slide = Reveal.getCurrentSlide();
slide.querySelectorAll('.fragment').forEach(f => f.classList.add('visible'));
const scale = Reveal.getScale();
const W = window.innerWidth, H = window.innerHeight;
const problems = [];
const cut = (t, n) => Array.from(t || '').slice(0, n).join('');
let bottom = 0, right = 0, top = 1e9, left = 1e9;
for (const el of slide.querySelectorAll('*')) {
  if (el.closest('aside.notes') || el.closest('.MathJax_Preview') || el.tagName === 'SCRIPT') continue;
  const cs = getComputedStyle(el);
  if (cs.display === 'none' || cs.visibility === 'hidden') continue;
  const r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) continue;
  bottom = Math.max(bottom, r.bottom); right = Math.max(right, r.right);
  top = Math.min(top, r.top); left = Math.min(left, r.left);
  if ((cs.overflowX === 'auto' || cs.overflowX === 'scroll') && el.scrollWidth > el.clientWidth + 2) {
    problems.push('scrolls sideways: ' + el.tagName.toLowerCase() + ' ' + cut(el.innerText, 40));
  }
  if ((cs.overflowY === 'auto' || cs.overflowY === 'scroll') && el.scrollHeight > el.clientHeight + 2) {
    problems.push('scrolls up and down: ' + el.tagName.toLowerCase() + ' ' + cut(el.innerText, 40));
  }
}
if (bottom > H + 1) problems.push('taller than the slide: content ends at ' + Math.round(bottom) + ' px of ' + H);
if (right > W + 1) problems.push('wider than the slide: content ends at ' + Math.round(right) + ' px of ' + W);
if (top < -1) problems.push('content starts above the slide');
const prose = slide.querySelectorAll(
  '.jp-RenderedMarkdown p, .jp-RenderedMarkdown li, .jp-RenderedMarkdown td, .jp-RenderedMarkdown th');
let minProse = 1e9, minCode = 1e9;
for (const el of prose) {
  if (el.closest('aside.notes') || !el.innerText.trim()) continue;
  minProse = Math.min(minProse, parseFloat(getComputedStyle(el).fontSize) * scale);
}
for (const el of slide.querySelectorAll('pre')) {
  if (el.closest('aside.notes') || !el.innerText.trim()) continue;
  minCode = Math.min(minCode, parseFloat(getComputedStyle(el).fontSize) * scale);
}
if (minProse < 19.99) problems.push('prose at ' + minProse.toFixed(1) + ' px');
if (minCode < 13.99) problems.push('code at ' + minCode.toFixed(1) + ' px');
if (/\b(VBox|HBox|IntSlider|FloatLogSlider)\(/.test(slide.innerText)) problems.push('a widget shows as text');
let minFigure = 1e9;
for (const img of slide.querySelectorAll('img')) {
  if (!img.naturalWidth) { problems.push('an image did not load'); continue; }
  const s = img.getBoundingClientRect().width / img.naturalWidth;
  minFigure = Math.min(minFigure, s);
  if (s < 0.6) problems.push('a figure shrunk to ' + Math.round(100 * s) + ' % of its size');
  // made for the room: a figure spans at least 60 % of the slide's width or of its height
  const q = img.getBoundingClientRect();
  if (img.closest('.jp-OutputArea-output') && q.width < 0.6 * W && q.height < 0.6 * H) {
    problems.push('a figure of ' + Math.round(q.width) + '×' + Math.round(q.height) +
                  ' px, under 60 % of the slide both ways');
  }
}
// what is drawn: text (each line's box) and images, outside speaker notes and MathJax's hidden copies
const drawn = [];
const skip = n => n.closest('aside.notes, .MathJax_Preview, .MJX_Assistive_MathML, script, style, .emkit-help');
const walker = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
for (let t = walker.nextNode(); t; t = walker.nextNode()) {
  const el = t.parentElement;
  if (!t.textContent.trim() || !el || skip(el)) continue;
  const cs = getComputedStyle(el);
  if (cs.visibility === 'hidden' || parseFloat(cs.opacity) === 0) continue;
  const range = document.createRange(); range.selectNodeContents(t);
  for (const q of range.getClientRects()) {
    if (q.width > 0 && q.height > 0) drawn.push([q, cut(t.textContent.trim(), 30)]);
  }
}
for (const el of slide.querySelectorAll('img, svg, canvas')) {
  if (skip(el)) continue;
  const q = el.getBoundingClientRect();
  if (q.width > 0 && q.height > 0 && getComputedStyle(el).visibility !== 'hidden') {
    drawn.push([q, el.tagName.toLowerCase()]);
  }
}
const inside = drawn.filter(([q]) => q.right > 0 && q.bottom > 0 && q.left < W && q.top < H);
if (!inside.length) problems.push('a blank slide: no visible text or image');
// the ◀ ▶ controls and the slide number sit over the slide: nothing drawn may be under them
const chrome = [];
for (const el of document.querySelectorAll('.reveal .controls button, .reveal .slide-number')) {
  const cs = getComputedStyle(el);
  if (cs.display === 'none' || cs.visibility === 'hidden' || parseFloat(cs.opacity) === 0) continue;
  const q = el.getBoundingClientRect();
  if (q.width > 0 && q.height > 0) chrome.push([q, el.className || el.tagName]);
}
for (const [q, what] of drawn) {
  for (const [c, name] of chrome) {
    if (q.left < c.right - 1 && q.right > c.left + 1 && q.top < c.bottom - 1 && q.bottom > c.top + 1) {
      problems.push('under the ' + name + ': ' + what);
    }
  }
}
const kind = slide.dataset.emkitKind || (slide.parentElement && slide.parentElement.dataset.emkitKind) || '';
const text = slide.innerText || '';
for (const marker of ['### BEGIN SOLUTION', '### END SOLUTION', '### BEGIN HIDDEN', '### END HIDDEN']) {
  if (text.includes(marker)) problems.push('shows ' + marker);
}
if (/passed\. Well done!/.test(text) && kind !== 'solution') {
  problems.push('a passed check on a ' + (kind || 'course') + ' slide');
}
const headings = Array.from(slide.querySelectorAll('h1, h2, h3')).filter(h => {
  if (skip(h)) return false;
  const q = h.getBoundingClientRect();
  return q.width > 0 && q.height > 0 && h.textContent.trim();
});
if (!headings.length) problems.push('no heading');
const heading = headings[0];
let title = '';
if (heading) {
  const copy = heading.cloneNode(true);
  copy.querySelectorAll('.MJX_Assistive_MathML, script').forEach(n => n.remove());
  title = cut(copy.textContent.trim(), 70);
} else {
  title = cut((slide.innerText || '').trim(), 50);
}
return {h: h, v: v, title: title, kind: kind,
        problems: problems, bottom: Math.round(bottom), minProse: minProse, minCode: minCode, minFigure: minFigure,
        scale: scale};
"""


PRINT_MARGINS = r"""
const out = [];
const pages = document.querySelectorAll('.reveal .slides .pdf-page');
pages.forEach((page, n) => {
  const p = page.getBoundingClientRect();
  let least = 1e9, what = '';
  const note = (q, label) => {
    if (q.width <= 0 || q.height <= 0) return;
    const m = Math.min(q.left - p.left, p.right - q.right, q.top - p.top, p.bottom - q.bottom);
    if (m < least) { least = m; what = label; }
  };
  const skip = n => n.closest(
    'aside.notes, .speaker-notes-pdf, .MathJax_Preview, .MJX_Assistive_MathML, script, style');
  const walker = document.createTreeWalker(page, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const el = t.parentElement;
    if (!t.textContent.trim() || !el || skip(el)) continue;
    const cs = getComputedStyle(el);
    if (cs.display === 'none' || cs.visibility === 'hidden') continue;
    const range = document.createRange(); range.selectNodeContents(t);
    for (const q of range.getClientRects()) note(q, t.textContent.trim().slice(0, 30));
  }
  for (const el of page.querySelectorAll('img, svg')) if (!skip(el)) note(el.getBoundingClientRect(), el.tagName);
  out.push({page: n + 1, width: Math.round(p.width), height: Math.round(p.height), margin: least, what: what});
});
return out;
"""


def print_margins(driver) -> list[dict]:
    """For each page of a deck loaded with ``?print-pdf``: its size and how near (px) any text or image comes
    to one of its edges (``margin``, ``what``)."""
    return driver.execute_script(PRINT_MARGINS)


def slide_indices(driver) -> list[tuple[int, int]]:
    return [tuple(x) for x in driver.execute_script(
        "return Reveal.getSlides().map(s => { const i = Reveal.getIndices(s); return [i.h, i.v || 0]; });"
    )]  # fmt: skip


def measure(driver) -> list[dict]:
    """Measure every slide of the deck loaded in ``driver`` (after MathJax has re-typeset it)."""
    import time

    driver.set_script_timeout(30)
    out = []
    for h, v in slide_indices(driver):
        driver.execute_script(GO, h, v)
        driver.execute_async_script(AFTER_MATHJAX)  # the re-typesetting queued by the slide change is done
        # ... and the layout has settled (web fonts arrive and formulas reflow a little later): measure
        # until the extent of the content stays the same three times in a row, 0.1 s apart
        previous, same, deadline = None, 0, time.monotonic() + 8
        while same < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
            now = driver.execute_script(EXTENT)
            same = same + 1 if now == previous else 0
            previous = now
        out.append(driver.execute_script(MEASURE, h, v))
    return out


if __name__ == "__main__":  # python tests/deck_geometry.py build/slides [NAME...]
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from emkit import slides

    folder = Path(sys.argv[1])
    names = sys.argv[2:] or [p.name.split(".")[0] for p in sorted(folder.glob("*.slides.html"))]
    driver = slides.browser()
    slides.set_viewport(driver, 1280, 720)
    total = bad = 0
    try:
        for name in names:
            driver.get((folder / f"{name}.slides.html").resolve().as_uri())
            slides.wait_for_deck(driver)
            for m in measure(driver):
                total += 1
                if m["problems"]:
                    bad += 1
                    print(json.dumps({"deck": name, **m}, ensure_ascii=False))
    finally:
        driver.quit()
    print(f"{bad} of {total} slides with problems")
