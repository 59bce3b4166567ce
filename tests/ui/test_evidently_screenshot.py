"""A screenshot of the Evidently project page in headless Chromium (marker `ui`,
`make test-ui`): the page renders the project's three panels over a few days of data.

The PNG is kept in the test's tmp folder (its path is printed) for a person to look at;
the test asserts what a machine can: the page loads and the image is a real screenshot.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from fraud_assets.monitoring import dashboards
from fraud_assets.orchestration import servers
from fraud_assets.orchestration.processes import free_port
from tests.monitoring.test_dashboards import _day
from tests.support import REFERENCE_DAYS, day_frame, day_key, reference_frame

pytestmark = pytest.mark.ui
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _fill(home: Path, days: int = 4) -> None:
    """A few days of real drift reports (one drifted) and performance snapshots."""
    from fraud_assets.monitoring.daily import transactions_report
    from fraud_assets.monitoring.reference import Reference

    ref_frame = reference_frame()
    ref = Reference(ref_frame, "previous_days", "the test's reference days", (), len(ref_frame))
    rng = np.random.default_rng(0)
    for offset in range(days):
        day = day_key(REFERENCE_DAYS + offset)
        current = day_frame(day, "late_night" if offset == days - 1 else None)
        dashboards.save_drift(transactions_report(day, current, ref, home=home), home)
        labels = (rng.random(2_000) < 0.05).astype(int)
        scores = np.clip(labels * 0.5 + rng.random(2_000) * (0.55 + 0.05 * offset), 0, 1)
        performance = _day(labels, scores, 0.55)
        dashboards.save_performance(type(performance)(**{**performance.__dict__, "day": day}),
                                    home)


def screenshot(url: str, png: Path, profile: Path) -> None:
    """Chromium headless, no network beyond the URL, a fresh profile; waits for the JS."""
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                    "--hide-scrollbars", "--window-size=1600,1500",
                    "--virtual-time-budget=20000", f"--screenshot={png}", url],
                   check=True, capture_output=True, timeout=180)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: `make test-ui` installs it "
                                               "(apt-get install chromium)")
def test_the_project_page_renders_the_panels(tmp_path):
    _fill(tmp_path)
    _, project = dashboards.open_project(tmp_path)
    server = servers.evidently_server(free_port(), home=tmp_path)
    png = tmp_path / "evidently_project.png"
    try:
        server.start().wait_ready()
        screenshot(f"{server.url}/projects/{project.id}", png, tmp_path / "chromium-profile")
    finally:
        server.stop()
    print(f"screenshot: {png}")
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 20_000  # a blank page is ~5 KB
