"""The Dagster UI plots `shadow_report`'s metadata over its partitions (marker `ui`,
`make test-ui`): the asset's Overview, its metadata switched from "Table" to "Plots" as a
person would click it, in headless Chromium driven by Playwright (the Debian chromium; no
browser download).

The PNG is kept in the test's tmp folder (its path is printed); the test asserts what a
machine can: the Plots view draws a chart per number of the report (canvases) with lines
in them (coloured pixels, counted as in test_evidently_screenshot.py).
"""

from __future__ import annotations

import numpy as np
import pytest
from dagster import DagsterInstance, materialize

from fraud_assets import contract, names
from fraud_assets.defs.monitoring.shadow import shadow_report
from fraud_assets.defs.resources import FraudHome
from fraud_assets.orchestration import servers
from fraud_assets.orchestration.instance import ensure_dagster_home
from fraud_assets.orchestration.processes import free_port
from tests.monitoring.test_shadow_report import log_shadow_day
from tests.support import validated_day, write_validated
from tests.ui.test_evidently_screenshot import CHROMIUM, plotted_pixels

pytestmark = pytest.mark.ui
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is missing: `make test-ui` installs it")
DAYS = ("2025-01-20", "2025-01-21", "2025-01-22", "2025-01-23")
# The page without plots has few coloured pixels (logo, buttons); each chart's line and
# markers add hundreds.
MIN_PLOTTED_PIXELS = 3_000
PLOTTED_NUMBERS = 10  # charts at least: agreement, flag rates, precision/recall/F1 of both


def _fill(home) -> None:
    """Four days of shadow traffic on the platform's instance, the challenger missing a
    growing share of the frauds, each day's report materialized."""
    ensure_dagster_home()
    resources = {"fraud_home": FraudHome(path=str(home))}
    with DagsterInstance.get() as instance:
        for i, day in enumerate(DAYS):
            frame = validated_day(day, rows=400)
            truth = frame[contract.LABEL].astype(bool).to_numpy()
            flags = truth.copy()
            flags[np.flatnonzero(truth)[: i + 1]] = False  # one more missed fraud a day
            write_validated(home, frame, day)
            log_shadow_day(home, frame, flags, day=day)
            assert materialize([shadow_report], partition_key=day, instance=instance,
                               resources=resources).success


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `make test-ui` installs it "
                                               "(apt-get install chromium)")
def test_shadow_report_numbers_are_plotted_in_the_dagster_ui(fraud_home, tmp_path):
    _fill(fraud_home)
    server = servers.dagster_servers(free_port())[0]
    png = tmp_path / "shadow_report_plots.png"
    try:
        server.start().wait_ready()
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1600, "height": 1600})
            page.goto(f"{server.url}/assets/{names.SHADOW_REPORT}", timeout=120_000)
            page.get_by_role("button", name="Plots").click(timeout=120_000)
            # Plotted by event time: "by partition" draws the last 120 partitions of the
            # daily set (up to today), which hold none of these 2025 days.
            page.get_by_role("button", name="Events").last.click(timeout=60_000)
            page.locator("canvas").nth(PLOTTED_NUMBERS - 1).wait_for(timeout=60_000)
            page.wait_for_timeout(3_000)  # the charts' drawing animation
            page.screenshot(path=str(png), full_page=True)
            browser.close()
    finally:
        server.stop()
    print(f"screenshot: {png}")
    assert plotted_pixels(png) >= MIN_PLOTTED_PIXELS, f"no plots drawn, see {png}"
