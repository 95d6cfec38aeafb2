"""The class's view from a real batch: emkit grade --class-report on a generated class of notebook 01.

Twelve submissions with known slips (three use argmax, four divide the update
by N), one learner who copies another's ten-line loop with every name and
number changed, and many who write the same one-line vectorised answer. The
counts in misconceptions.csv must be exact, the copied pair must top
similarity.csv above every pair of one-liners, and the page must read offline
in Chromium with its charts. ``python tests/test_class_report_e2e.py DIR``
writes the class's page into DIR and a screenshot of it (the guide's
docs/images/class-report.png is made this way).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_grading import A, U, need_sandbox, submission

ROOT = Path(__file__).resolve().parents[1]

ONE_LINER = "def assign_step(X, centers):\n    return ((X[:, None] - centers[None]) ** 2).sum(2).{f}(1)\n"
ARGMAX = ONE_LINER.format(f="argmax")
LOOP = (
    "def assign_step(X, centers):\n"
    "    labels = []\n"
    "    for point in X:\n"
    "        best, best_d = 0, float('inf')\n"
    "        for k in range(len(centers)):\n"
    "            d = 0.0\n"
    "            for j in range(len(point)):\n"
    "                d += (point[j] - centers[k][j]) ** 2\n"
    "            if d < best_d:\n"
    "                best, best_d = k, d\n"
    "        labels.append(best)\n"
    "    return np.array(labels)\n"
)
COPY = (  # the same loop, every name changed, a comment added, other spacing
    "def assign_step(X, centers):\n"
    "    # my own solution\n"
    "    out = []\n"
    "    for row in X:\n"
    "        winner, smallest = 0, float('inf')\n"
    "        for c in range( len(centers) ):\n"
    "            total = 0.0\n"
    "            for dim in range(len(row)):\n"
    "                total += (row[dim] - centers[c][dim])**2\n"
    "            if total < smallest:\n"
    "                winner, smallest = c, total\n"
    "        out.append(winner)\n"
    "    return np.array(out)\n"
)
UPDATE = (
    "def update_step(X, labels, n_clusters):\n"
    "    return np.stack([X[labels == k].mean(0) for k in range(n_clusters)])\n"
)
UPDATE_N = (
    "def update_step(X, labels, n_clusters):\n"
    "    return np.stack([X[labels == k].sum(0) for k in range(n_clusters)]) / len(X)\n"
)
CLASS = {  # student: (assign answer, update answer)
    "ana": (ONE_LINER.format(f="argmin"), UPDATE),
    "ben": (ONE_LINER.format(f="argmin"), UPDATE_N),
    "cleo": (ARGMAX, UPDATE),
    "dan": (ONE_LINER.format(f="argmin"), UPDATE),
    "eva": (ARGMAX, UPDATE_N),
    "finn": (LOOP, UPDATE),
    "gus": (ONE_LINER.format(f="argmin"), UPDATE_N),
    "hana": (ONE_LINER.format(f="argmin"), UPDATE),
    "ivo": (ARGMAX, UPDATE),
    "jo": (COPY, UPDATE),
    "kai": (ONE_LINER.format(f="argmin"), UPDATE_N),
    "lea": (ONE_LINER.format(f="argmin"), UPDATE),
}


def grade_class(folder: Path, out: Path) -> subprocess.CompletedProcess:
    subs = [str(submission(folder / f"{who}.ipynb", A(a), U(u))) for who, (a, u) in CLASS.items()]
    return subprocess.run(
        [sys.executable, "-m", "emkit", "grade", *subs, "--report", str(out / "grades.csv"), "--class-report",
         str(out / "class")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    need_sandbox(tmp_path_factory)
    folder, out = tmp_path_factory.mktemp("class"), tmp_path_factory.mktemp("out")
    result = grade_class(folder, out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_the_terminal_says_what_the_class_got_wrong(graded):
    _, result = graded
    assert "01-assign: 3 of 12 made the mistake “argmax instead of argmin”" in result.stderr
    assert "01-update: 4 of 12 made the mistake “divided by N”" in result.stderr
    assert "finn and jo share rare code" in result.stderr


def test_misconception_counts_are_exact(graded):
    out, _ = graded
    with open(out / "class" / "misconceptions.csv", encoding="utf-8") as f:
        rows = {(r["question"], r["mistake"]): r for r in csv.DictReader(f)}
    assert rows["01-assign", "argmax instead of argmin"]["students"] == "3"
    assert rows["01-update", "divided by N"]["students"] == "4"
    assert float(rows["01-update", "divided by N"]["share"]) == pytest.approx(4 / 12, abs=1e-3)


def test_the_renamed_copy_tops_similarity_and_the_common_one_liner_does_not(graded):
    out, _ = graded
    with open(out / "class" / "similarity.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if r["question"] == "01-assign"]
    top = rows[0]
    assert {top["first"], top["second"]} == {"finn", "jo"}, rows[:3]
    one_liners = {w for w, (a, _) in CLASS.items() if a.startswith(ONE_LINER[:40])}
    pairs = [r for r in rows if {r["first"], r["second"]} <= one_liners]
    assert all(float(r["similarity"]) < float(top["similarity"]) for r in pairs)


def test_the_page_reads_offline_in_chromium_with_its_charts(graded):
    from test_site import need_browser

    need_browser()
    from browser_tools import axe_violations, viewport

    from emkit import slides

    out, _ = graded
    driver = slides.browser(1280, 800, log_network=True)
    try:
        viewport(driver, 1280, 800)
        driver.get((out / "class" / "index.html").as_uri())
        images = driver.execute_script(
            "return [...document.querySelectorAll('img, svg[role=img]')].map(e => e.getAttribute('alt') || "
            "e.getAttribute('aria-label') || '')"
        )
        assert len(images) >= 2 and all(len(a) > 20 for a in images), images
        assert "finn" in driver.page_source and "jo" in driver.page_source
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        import json

        urls = [
            json.loads(e["message"])["message"]["params"]["request"]["url"]
            for e in driver.get_log("performance")
            if '"Network.requestWillBeSent"' in e["message"]
        ]
        assert not [u for u in urls if u.startswith(("http:", "https:", "ws:", "wss:"))], urls  # nothing leaves
        assert axe_violations(driver) == []
    finally:
        driver.quit()


if __name__ == "__main__":  # write a class page and its screenshot (for the instructors' guide)
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    from browser_tools import viewport

    from emkit import slides

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "build/class-report").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        result = grade_class(Path(tmp), target)
    print(result.stderr[-1500:])
    driver = slides.browser(1280, 900)
    try:
        viewport(driver, 1280, 900)
        driver.get((target / "class" / "index.html").as_uri())
        driver.execute_script("document.querySelector('section h2[id*=\"01-assign\"]')?.scrollIntoView()")
        driver.save_screenshot(str(target / "class-report.png"))
    finally:
        driver.quit()
    print("wrote", target / "class-report.png", os.path.getsize(target / "class-report.png"), "bytes")
