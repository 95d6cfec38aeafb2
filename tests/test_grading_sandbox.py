"""emkit grade --sandbox bwrap: the same grades, inside bubblewrap (no network, nothing else on disk).

Skipped where bubblewrap cannot run, with the reason; CI installs it and sets
EMKIT_REQUIRE_BWRAP=1, so there the test must run.
"""

from __future__ import annotations

import os

import pytest
from test_grading import RIGHT_ASSIGN, RIGHT_UPDATE, A, U, submission

from emkit import grading
from emkit.grading import sandbox


@pytest.fixture(scope="module")
def bwrap_ok(tmp_path_factory):
    try:
        sandbox.check_bwrap(tmp_path_factory.mktemp("probe"))
    except sandbox.SandboxUnavailable as exc:
        if os.environ.get("EMKIT_REQUIRE_BWRAP"):
            pytest.fail(f"bubblewrap is required here: {exc}")
        pytest.skip(f"bubblewrap cannot run here: {exc}")


def test_sandboxed_grades_and_walls(bwrap_ok, tmp_path):
    other = submission(tmp_path / "other.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE))
    probe = (
        "import os, socket\nseen = {}\n"
        f"seen['other submission visible'] = os.path.exists({str(other)!r})\n"
        "seen['home is the scratch folder'] = os.path.exists(os.path.expanduser('~'))\n"
        "seen['real home visible'] = os.path.exists('/root/.bashrc') or os.path.exists('/home')\n"
        "try:\n    socket.socket().connect(('1.1.1.1', 80))\n    seen['network'] = True\n"
        "except Exception:\n    seen['network'] = False\n"
        "assert not seen['other submission visible'] and not seen['network'], seen\n"
        "assert seen['home is the scratch folder'] and not seen['real home visible'], seen\n"
    )
    subs = [
        submission(tmp_path / "good.ipynb", A(RIGHT_ASSIGN), U(RIGHT_UPDATE)),
        submission(tmp_path / "walls.ipynb", probe, A(RIGHT_ASSIGN), U(RIGHT_UPDATE)),
        submission(tmp_path / "alias.ipynb", A("assign_step = kmeans.assign"), U(RIGHT_UPDATE)),
    ]
    limits = grading.Limits(cell=10, call=5, total=120)
    results = {
        r.student: r
        for r in grading.grade(subs, tmp_path / "g.csv", sandbox="bwrap", limits=limits, progress=lambda m: None)
    }
    assert results["good"].points == 2.0
    assert results["walls"].points == 2.0 and results["walls"].status == "ok", results["walls"].cells
    alias = {row.question: row.status for row in results["alias"].rows}
    assert alias["01-assign"] == "uses the reference implementation" and results["alias"].points == 1.0
