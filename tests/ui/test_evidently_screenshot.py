"""A screenshot of the Evidently project page in headless Chromium (marker `ui`,
`make test-ui`): the page renders the project's three panels over a few days of data.

The PNG is kept in the test's tmp folder (its path is printed) for a person to look at;
the test asserts what a machine can: the plotted lines and markers are there, counted as
saturated pixels (the page's chrome is white, grey and black; measured: ~1,850 saturated
pixels for the logo and the legends alone, ~13,000 with the four days plotted).
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fraud_assets.monitoring import dashboards
from fraud_assets.orchestration import servers
from fraud_assets.orchestration.processes import free_port
from tests.monitoring.test_dashboards import _day
from tests.support import REFERENCE_DAYS, day_frame, day_key, reference_frame

pytestmark = pytest.mark.ui
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MIN_PLOTTED_PIXELS = 6_000


def _fill(home: Path, days: int = 4) -> None:
    """A few days of real drift reports (one drifted) and performance snapshots."""
    from fraud_assets.monitoring.daily import transactions_report
    from fraud_assets.monitoring.reference import Reference

    ref_frame = reference_frame()
    ref = Reference(ref_frame, "previous_days", "the test's reference days", (), len(ref_frame))
    rng = np.random.default_rng(0)
    for offset in range(days):
        day = day_key(REFERENCE_DAYS + offset)
        current = day_frame(day, "late_night" if offset == days - 1 else "normal")
        dashboards.save_drift(transactions_report(day, current, ref, home=home), home)
        labels = (rng.random(2_000) < 0.05).astype(int)
        scores = np.clip(labels * 0.5 + rng.random(2_000) * (0.55 + 0.05 * offset), 0, 1)
        dashboards.save_performance(replace(_day(labels, scores, 0.55), day=day), home)


def screenshot(url: str, png: Path, profile: Path) -> None:
    """Chromium headless, no network beyond the URL, a fresh profile; waits for the JS."""
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--hide-scrollbars", "--window-size=1600,1500",
                    "--virtual-time-budget=30000", f"--screenshot={png}", url],
                   check=True, capture_output=True, timeout=180)


def plotted_pixels(png: Path) -> int:
    """Pixels in colour (max - min channel > 80): the series' lines, markers and legends."""
    colours = Image.open(png).convert("RGB").getcolors(maxcolors=1 << 24)
    return sum(n for n, (r, g, b) in colours if max(r, g, b) - min(r, g, b) > 80)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `make test-ui` installs it "
                                               "(apt-get install chromium)")
def test_the_project_page_renders_the_panels(tmp_path):
    _fill(tmp_path)
    _, project = dashboards.open_project(tmp_path)
    server = servers.evidently_server(free_port(), home=tmp_path)
    png = tmp_path / "evidently_project.png"
    page = f"{server.url}/projects/{project.id}"
    try:
        server.start().wait_ready()
        # The first answers of a fresh server are slow under load, and Chromium's virtual
        # time does not wait for them: warm the page's routes, then allow one more try.
        for route in (page, f"{server.url}/api/v2/dashboards/{project.id}"):
            urllib.request.urlopen(route, timeout=30).read()
        for attempt in range(2):
            screenshot(page, png, tmp_path / f"chromium-profile-{attempt}")
            if plotted_pixels(png) >= MIN_PLOTTED_PIXELS:
                break
    finally:
        server.stop()
    print(f"screenshot: {png}")
    assert plotted_pixels(png) >= MIN_PLOTTED_PIXELS, f"no lines plotted, see {png}"
