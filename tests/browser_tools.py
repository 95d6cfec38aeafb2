"""Shared helpers for the browser tests: an exact viewport, and axe-core (from the npm registry) on a page.

``viewport(driver, width, height)`` sets the page's viewport to exactly that
size with the DevTools protocol (``Emulation.setDeviceMetricsOverride``): a
window of that size has a smaller viewport (scroll bars, borders).
``axe_violations(driver)`` runs axe-core 4 on the loaded page and returns the
violations of impact "serious" or "critical" as (rule id, impact, help,
number of nodes, first target) tuples; axe-core is installed once per
machine into ``build/npm-tools`` by npm.
"""

from __future__ import annotations

import json
from pathlib import Path

from emkit import slides

ROOT = Path(__file__).resolve().parents[1]
AXE_VERSION = "4.14.1"


def viewport(driver, width: int, height: int, *, mobile: bool = False, scale: float = 1.0) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile},
    )
    if mobile:
        driver.execute_cdp_cmd("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 5})


def axe_source() -> str:
    assets = slides.install_assets(ROOT / "build" / "npm-tools", {"axe-core": AXE_VERSION})
    return (assets / "node_modules" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")


def axe_violations(driver, *, impacts=("serious", "critical"), context: str | None = None) -> list[tuple]:
    """axe-core's violations of the given impacts on the current page (or inside the CSS selector ``context``)."""
    if not driver.execute_script("return !!window.axe"):
        driver.execute_script(axe_source())
    target = json.dumps(context) if context else "document"
    result = driver.execute_async_script(
        f"const done = arguments[arguments.length - 1];"
        f"axe.run({target}, {{resultTypes: ['violations']}}).then(r => done(JSON.stringify(r.violations)))"
        f".catch(e => done(JSON.stringify([{{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}}])));"
    )
    found = []
    for v in json.loads(result):
        if v.get("impact") in impacts:
            first = v["nodes"][0]["target"] if v.get("nodes") else ""
            found.append((v["id"], v["impact"], v.get("help", ""), len(v.get("nodes", [])), first))
    return found
