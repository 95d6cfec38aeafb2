"""The class report of emkit grade on a generated class whose slips, copy and common answer are known.

13 submissions: 3 made the slip "argmax instead of argmin" and 4 "divided by
N"; 2 are off by a constant factor and 1 is wrong with no description (no
slip names them); one cannot be graded. mallory's answer is alice's 13-line
loop with every name renamed, other literals, a comment, a blank line and a
statement split over two lines; 7 of the 12 answers are the one-line
vectorised answer (argmin or argmax), 4 of them letter for letter the same
but for one name. The page is opened in headless Chromium from disk, its
network blocked, at the width of a phone.
"""

from __future__ import annotations

import csv
import json
import os
import random
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from emkit import slides
from emkit.grading import classview, similarity

LOOP = """def assign_step(X, centers):
    n = X.shape[0]
    labels = np.zeros(n, dtype=int)
    for i in range(n):
        best, best_d = 0, np.inf
        for j in range(centers.shape[0]):
            d = 0.0
            for t in range(X.shape[1]):
                d += (X[i, t] - centers[j, t]) ** 2
            if d < best_d:
                best_d = d
                best = j
        labels[i] = best
    return labels
"""

COPY = """def assign_step(X, centers):
    # loop over the points
    num_points = X.shape[0]
    out = np.zeros(num_points,
                   dtype=int)

    for p in range(num_points):
        winner, smallest = 1, np.inf
        for c in range(centers.shape[0]):
            dist = 0
            for dim in range(X.shape[1]):
                dist += (X[p, dim] - centers[c, dim]) ** 2   # squared
            if dist < smallest:
                smallest = dist
                winner = c
        out[p] = winner
    return out
"""

ONE_LINER = """def assign_step(X, centers):
    return np.argmin(((X[:, None, :] - {c}[None, :, :]) ** 2).sum(axis=2), axis=1)
"""
ARGMAX = ONE_LINER.replace("argmin", "argmax")
NORM = """def assign_step(X, centers):
    d = np.linalg.norm(X[:, np.newaxis] - centers, axis=-1)
    return d.argmin(axis=1)
"""
EXPAND = """def assign_step(X, centers):
    sq = (X ** 2).sum(1)[:, None] - 2 * X @ centers.T + (centers ** 2).sum(1)[None, :]
    return np.argmin(sq, axis=1)
"""
LISTCOMP = """def assign_step(X, centers):
    return np.array([min(range(len(centers)), key=lambda k: ((x - centers[k]) ** 2).sum()) for x in X])
"""
UPDATE = """def update_step(X, labels, K):
    return np.stack([X[labels == k].mean(axis=0) for k in range(K)])
"""
UPDATE_N = """def update_step(X, labels, K):
    return np.stack([X[labels == k].sum(axis=0) / len(X) for k in range(K)])
"""

QUESTIONS = [
    {"id": "01-assign", "title": "Exercise 1: the assignment step", "points": 1.0},
    {"id": "01-update", "title": "Exercise 2: the update step", "points": 1.0},
]
FACTOR_2 = "your values are 2 times the right ones."
FACTOR_N = "your values are 0.5 times the right ones (a factor 1/N)."
# student: answer to 01-assign, its points, slips, differences, status
PLAN = {
    "alice": (LOOP, 1.0, [], [], "graded"),
    "mallory": (COPY, 1.0, [], [], "graded"),
    "bob": (ARGMAX.format(c="centers"), 0.0, ["argmax instead of argmin"], [], "graded"),
    "carol": (ARGMAX.format(c="C"), 0.0, ["argmax instead of argmin"], [], "graded"),
    "dave": (ARGMAX.format(c="centres"), 0.0, ["argmax instead of argmin"], [], "graded"),
    "erin": (ONE_LINER.format(c="centers"), 1.0, [], [], "graded"),
    "frank": (ONE_LINER.format(c="centers"), 0.5, [], [FACTOR_2], "graded"),
    "grace": (ONE_LINER.format(c="mu"), 0.5, [], [FACTOR_N], "graded"),
    "heidi": (ONE_LINER.format(c="c"), 0.0, [], [], "graded"),
    "ivan": (NORM, 1.0, [], [], "graded"),
    "judy": (EXPAND, 0.0, [], [], "uses the reference implementation"),
    "niaj": (LISTCOMP, 1.0, [], [], "graded"),
}
DIVIDED_BY_N = {"bob", "dave", "frank", "niaj"}
ONE_LINER_WRITERS = ["bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


def make_report() -> dict:
    subs = []
    for student, (answer, points, slips, differences, status) in PLAN.items():
        slipped = student in DIVIDED_BY_N
        rows = [
            {"student": student, "submission": f"{student}.ipynb", "question": "01-assign",
             "title": QUESTIONS[0]["title"], "points": points, "max_points": 1.0,
             "passed_parts": "3/3" if points == 1 else "1/3", "status": status, "feedback": "...", "slips": slips,
             "differences": differences},
            {"student": student, "submission": f"{student}.ipynb", "question": "01-update",
             "title": QUESTIONS[1]["title"], "points": 0.0 if slipped else 1.0, "max_points": 1.0,
             "passed_parts": "0/4" if slipped else "4/4", "status": "graded", "feedback": "...",
             "slips": ["divided by N"] if slipped else [], "differences": []},
        ]  # fmt: skip
        subs.append(
            {
                "student": student,
                "submission": f"{student}.ipynb",
                "status": "ok",
                "graded": True,
                "points": sum(r["points"] for r in rows),
                "max_points": 2.0,
                "seconds": round(0.5 + 0.1 * len(subs), 2),
                "notes": [],
                "cells": [{"cell": 3, "status": "ok"}, {"cell": 5, "status": "ok"}],
                "answers": {"01-assign": answer, "01-update": UPDATE_N if slipped else UPDATE},
                "questions": rows,
            }
        )
    subs[2]["notes"] = ["refused while grading: opening a network connection (socket.connect)"]
    subs[3]["cells"][1] = {"cell": 5, "status": "interrupted"}
    subs.append(
        {"student": "olivia", "submission": "olivia.ipynb", "status": "malformed notebook: bad JSON",
         "graded": False, "points": 0.0, "max_points": 0.0, "seconds": 0.01, "notes": [], "cells": [],
         "questions": [{"student": "olivia", "submission": "olivia.ipynb", "question": "-", "points": 0.0,
                        "max_points": 0.0, "passed_parts": "0/0", "status": "malformed notebook: bad JSON",
                        "feedback": ""}]}
    )  # fmt: skip
    return {"assignment": "Homework 3", "sandbox": "bubblewrap", "questions": QUESTIONS, "submissions": subs}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class") / "class report"  # a space: file URLs must still work
    lines = classview.write_class_report(make_report(), folder)
    return folder, lines


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


# ---------------------------------------------------------------------------
# Counts
# ---------------------------------------------------------------------------


def test_misconception_counts_are_exact(written):
    folder, _ = written
    header, rows = read_csv(folder / "misconceptions.csv")
    assert header == ["question", "mistake", "students", "share"]
    got = {(r["question"], r["mistake"]): (int(r["students"]), float(r["share"])) for r in rows}
    assert got == {
        ("01-assign", "argmax instead of argmin"): (3, 0.231),
        ("01-assign", "(unnamed) a constant factor"): (2, 0.154),
        ("01-assign", "(unnamed) no simple description"): (1, 0.077),
        ("01-update", "divided by N"): (4, 0.308),
    }
    assert len(rows) == len(got)  # no row twice


def test_summary_lines_name_count_and_class_size(written):
    _, lines = written
    assert "01-assign: 3 of 13 made the mistake \u201cargmax instead of argmin\u201d" in lines
    assert "01-update: 4 of 13 made the mistake \u201cdivided by N\u201d" in lines
    assert "01-assign: 2 of 13 wrong with no named mistake (a constant factor)" in lines
    flagged = [line for line in lines if "share rare code" in line]
    assert len(flagged) == 1 and "alice and mallory" in flagged[0] and "not a verdict" in flagged[0]


def test_the_view_knows_who_made_each_mistake():
    view = classview.summarise(make_report())
    by_id = {q.id: q for q in view.questions}
    who = {g.name: sorted(view.labels[i] for i in g.members) for g in by_id["01-assign"].slips}
    assert who == {"argmax instead of argmin": ["bob", "carol", "dave"]}
    unnamed = {g.name: sorted(view.labels[i] for i in g.members) for g in by_id["01-assign"].unnamed}
    assert unnamed == {"a constant factor": ["frank", "grace"], classview.NO_DESCRIPTION: ["heidi"]}
    outcomes = {g.name: len(g.members) for g in by_id["01-assign"].statuses}
    assert outcomes == {classview.FULL_MARKS: 5, "graded, not full marks": 6, "uses the reference implementation": 1}
    notes = {g.name: [view.labels[i] for i in g.members] for g in view.notes}
    assert notes == {
        "refused actions while grading": ["bob"],
        "cells stopped at the time limit": ["carol"],
        "could not be graded at all": ["olivia"],
    }


@pytest.mark.parametrize(
    ("sentence", "kind"),
    [
        (FACTOR_2, "a constant factor"),
        ("your values are the right ones with the sign flipped.", "the sign is flipped"),
        ("every value is off by the same constant, 0.25.", "a constant offset"),
        ("it is the transpose of the right answer.", "the transpose"),
        ("only rows 0, 2 differ.", "only some rows differ"),
        ("only column 1 differs.", "only some columns differ"),
        ("each component's values are off by its own factor [1. 2.] (that is N_k).", "a factor per component"),
        ("", classview.NO_DESCRIPTION),
    ],
)
def test_differences_are_grouped_by_kind_not_by_number(sentence, kind):
    assert classview.difference_kind(sentence) == kind


# ---------------------------------------------------------------------------
# Similarity
# ---------------------------------------------------------------------------


def test_renaming_literals_comments_and_layout_normalise_away():
    assert similarity.normalise(LOOP)[0] == similarity.normalise(COPY)[0]
    assert similarity.normalise(LOOP)[0] != similarity.normalise(ONE_LINER.format(c="centers"))[0]


def test_the_renamed_copy_tops_similarity_and_the_common_one_liner_ranks_below(written):
    folder, _ = written
    header, rows = read_csv(folder / "similarity.csv")
    assert header == ["first", "second", "question", "similarity"]
    scores = [float(r["similarity"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    top = rows[0]
    assert {top["first"], top["second"]} == {"alice", "mallory"} and top["question"] == "01-assign"
    copy_score = scores[0]
    common = {
        frozenset((r["first"], r["second"])): float(r["similarity"])
        for r in rows
        if r["question"] == "01-assign" and {r["first"], r["second"]} <= set(ONE_LINER_WRITERS)
    }
    assert len(common) == 21  # every pair of the 7 one-liner writers shares it, and is listed
    # identical text (erin, frank) but common code: far below the copy, and under the page's threshold
    assert common[frozenset(("erin", "frank"))] == max(common.values())
    assert copy_score > 0.9 and max(common.values()) < classview.SHOWN_FROM < copy_score
    assert copy_score > 2.5 * max(common.values())


def test_rarity_weighting_is_what_ranks_the_copy_first():
    """erin's and frank's identical one-liners: 1 alone (nothing says the line is common), under 0.4 in the class."""
    names = list(PLAN)
    answers = {i: PLAN[name][0] for i, name in enumerate(names)}
    assert answers[names.index("erin")] == answers[names.index("frank")]
    ranked = similarity.pairs("01-assign", answers)
    assert {names[ranked[0].first], names[ranked[0].second]} == {"alice", "mallory"}
    in_class = {frozenset((names[p.first], names[p.second])): p.similarity for p in ranked}
    assert in_class[frozenset(("erin", "frank"))] < 0.4
    alone = similarity.pairs("01-assign", {0: answers[names.index("erin")], 1: answers[names.index("frank")]})
    assert alone[0].similarity == pytest.approx(1.0)


def test_the_shared_lines_of_the_top_pair_are_marked():
    answers = {i: PLAN[name][0] for i, name in enumerate(PLAN)}
    top = similarity.pairs("01-assign", answers)[0]
    # the loop body is rare; the header every answer has, the comment and the blank line are not marked
    assert set(range(1, 13)) <= top.lines_first and set(range(6, 16)) <= top.lines_second
    assert 0 not in top.lines_first and not {0, 1, 5} & top.lines_second


def test_similarity_of_200_students_is_fast_and_finds_the_copy():
    rng = random.Random(3)
    templates = [ONE_LINER.format(c="centers"), NORM, EXPAND, LISTCOMP]
    answers = {}
    for i in range(198):
        lines = [
            f"    t{j} = X[{rng.randint(0, 9)}] * {rng.random():.3f} + np.{rng.choice(['sum', 'max'])}(X, axis=1)"
            for j in range(rng.randint(0, 6))
        ]
        body = rng.choice(templates).replace("centers", rng.choice(["centers", "C", "mu", "centres"]))
        answers[i] = body.replace("\n", "\n" + "\n".join(lines) + "\n", 1) if lines else body
    answers[198], answers[199] = LOOP, COPY
    start = time.perf_counter()
    ranked = similarity.pairs("01-assign", answers, minimum=classview.LISTED_FROM)
    seconds = time.perf_counter() - start
    assert (ranked[0].first, ranked[0].second) == (198, 199)
    assert seconds < 2.0, f"{seconds:.2f} s for 19,900 pairs"


def test_answers_that_do_not_parse_are_still_compared():
    broken = {0: "def f(x:\n    return [x,", 1: "%timeit f(1)\ndef f(y:\n    return [y,", 2: "", 3: None}
    ranked = similarity.pairs("q", broken)
    assert len(ranked) == 1 and ranked[0].similarity == pytest.approx(1.0)


# ---------------------------------------------------------------------------
# The page, read as HTML
# ---------------------------------------------------------------------------


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.headings: list[int] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.headings.append(int(tag[1]))


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_page_is_self_contained_and_structured(written):
    folder, _ = written
    page = parse(folder / "index.html")
    html_tag = next(a for t, a in page.tags if t == "html")
    assert html_tag.get("lang") == "en"
    assert page.headings[0] == 1 and page.headings.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(page.headings, page.headings[1:], strict=False))  # no level skipped
    imgs = [a for t, a in page.tags if t == "img"]
    assert len(imgs) == 4  # the total, one per question, the time per submission
    for a in imgs:
        assert a["src"].startswith("data:image/svg+xml;base64,")
        assert len(a.get("alt", "")) > 40, a.get("alt")
    assert all(a.get("scope") in ("col", "row") for t, a in page.tags if t == "th")
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not value or value.startswith(("#", "data:")), (tag, value[:80])
    assert sum(1 for t, a in page.tags if t == "div" and a.get("class") == "pair") == 1


def test_alt_texts_say_what_the_charts_show(written):
    folder, _ = written
    alts = [a["alt"] for t, a in parse(folder / "index.html").tags if t == "img"]
    assert any("01-assign" in alt and "1 point: 5 students" in alt and "0 points: 5 students" in alt for alt in alts), (
        alts
    )
    assert any("time each of the 13 submissions" in alt for alt in alts), alts


def test_code_in_the_page_is_escaped(tmp_path):
    report = make_report()
    evil = "def assign_step(X, centers):\n    return '</code></pre><script>alert(1)</script>'\n"
    for name in ("alice", "mallory"):
        s = next(s for s in report["submissions"] if s["student"] == name)
        s["answers"]["01-assign"] = evil + LOOP.split("\n", 1)[1]
    classview.write_class_report(report, tmp_path)
    text = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_missing_optional_keys_and_an_empty_class(tmp_path):
    report = make_report()
    del report["questions"]
    for s in report["submissions"]:
        for key in ("answers", "seconds", "notes", "cells"):
            s.pop(key, None)
        for row in s["questions"]:
            for key in ("slips", "differences", "title"):
                row.pop(key, None)
    lines = classview.write_class_report(report, tmp_path / "a")
    header, rows = read_csv(tmp_path / "a" / "misconceptions.csv")
    # without slips every wrong graded answer is an unnamed one
    assert {(r["mistake"], r["students"]) for r in rows if r["question"] == "01-assign"} == {
        ("(unnamed) no simple description", "6")
    }
    assert read_csv(tmp_path / "a" / "similarity.csv") == (["first", "second", "question", "similarity"], [])
    assert lines and all("share rare code" not in line for line in lines)
    classview.write_class_report({"assignment": "empty", "submissions": []}, tmp_path / "b")
    assert "Class report: empty" in (tmp_path / "b" / "index.html").read_text(encoding="utf-8")


def test_bad_input_is_named(tmp_path):
    with pytest.raises(ValueError, match="submissions"):
        classview.write_class_report({"students": []}, tmp_path)
    with pytest.raises(TypeError, match="report"):
        classview.write_class_report([], tmp_path)


# ---------------------------------------------------------------------------
# The page in Chromium, offline, on a phone's width
# ---------------------------------------------------------------------------

PHONE = 390

PAGE_STATE = r"""
function lum(rgb) {
  const c = rgb.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function parse(s) { const m = s.match(/[\d.]+/g).map(Number); return {rgb: m.slice(0, 3), a: m.length > 3 ? m[3] : 1}; }
function background(el) {
  for (; el; el = el.parentElement) {
    const b = parse(getComputedStyle(el).backgroundColor);
    if (b.a > 0.5) return b.rgb;
  }
  return [255, 255, 255];
}
const lowContrast = [];
for (const el of document.body.querySelectorAll('*')) {
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || !el.getClientRects().length) continue;
  const st = getComputedStyle(el);
  const l1 = lum(parse(st.color).rgb), l2 = lum(background(el));
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  const size = parseFloat(st.fontSize), bold = parseInt(st.fontWeight) >= 700;
  const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
  if (ratio < need) lowContrast.push(el.tagName + ': ' + ratio.toFixed(2) + ' ' + el.textContent.slice(0, 40));
}
const imgs = [...document.images].map(
  i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0, w: i.getBoundingClientRect().width}));
const unnamedRegions = [...document.querySelectorAll('[tabindex="0"]')]
  .filter(e => !e.getAttribute('aria-label')).length;
return {lowContrast, imgs, unnamedRegions, width: document.documentElement.scrollWidth, inner: window.innerWidth,
        lang: document.documentElement.lang, title: document.title, pairs: document.querySelectorAll('.pair').length,
        marked: document.querySelectorAll('.pair mark').length};
"""


def need_browser():
    if slides.chromium() is None or shutil.which("chromedriver") is None:
        if os.environ.get("EMKIT_REQUIRE_BROWSER") == "1":
            pytest.fail("EMKIT_REQUIRE_BROWSER=1 but chromium or chromium-driver is missing")
        pytest.skip("needs chromium and chromium-driver (CI installs them)")


@pytest.fixture(scope="module")
def phone(written):
    need_browser()
    driver = slides.browser(800, 900, log_network=True)  # --headless --no-sandbox --disable-gpu (slides.CHROMIUM_FLAGS)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*", "wss://*"]})
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE, "height": 844, "deviceScaleFactor": 2, "mobile": True},
    )
    yield driver
    driver.quit()


def requests_made(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_page_reads_offline_in_chromium_on_a_phone(written, phone):
    folder, _ = written
    phone.get_log("browser"), phone.get_log("performance")
    phone.get((folder / "index.html").as_uri())
    state = phone.execute_script(PAGE_STATE)
    errors = [e["message"] for e in phone.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    # chrome:// and its kin are the browser's own new-tab page, sometimes still loading: not the report's
    browser_own = ("chrome", "chrome-untrusted", "chrome-search", "devtools")
    away = [
        u for u in requests_made(phone) if urlsplit(u).scheme not in ("file", "data", "blob", "about", *browser_own)
    ]
    assert not away, away
    assert state["lang"] == "en" and state["title"] == "Class report: Homework 3"
    assert len(state["imgs"]) == 4 and all(i["ok"] and len(i["alt"]) > 40 and i["w"] > 200 for i in state["imgs"])
    assert state["inner"] == PHONE and state["width"] <= PHONE, "the page scrolls sideways on a phone"
    assert not state["lowContrast"], state["lowContrast"]
    assert state["unnamedRegions"] == 0
    assert state["pairs"] == 1 and state["marked"] >= 10


def test_axe_core_finds_no_violation(written, phone):
    """axe-core from the npm registry (tests/browser_tools.py installs it once), or the file EMKIT_AXE_CORE names."""
    if os.environ.get("EMKIT_AXE_CORE"):
        source = Path(os.environ["EMKIT_AXE_CORE"]).read_text(encoding="utf-8")
    else:
        if shutil.which("npm") is None:
            if os.environ.get("EMKIT_REQUIRE_BROWSER") == "1":
                pytest.fail("EMKIT_REQUIRE_BROWSER=1 but npm (to install axe-core) is missing")
            pytest.skip("needs npm to install axe-core")
        from browser_tools import axe_source

        source = axe_source()
    folder, _ = written
    phone.get((folder / "index.html").as_uri())
    phone.execute_script(source)
    phone.set_script_timeout(60)
    result = phone.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => v.id + ': ' + "
        "v.nodes.length))).catch(e => done(['failed: ' + e]));"
    )
    assert result == [], result
