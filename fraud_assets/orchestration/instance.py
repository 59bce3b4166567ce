"""The embedded Dagster instance: SQLite under FRAUD_HOME/dagster, telemetry off."""

from __future__ import annotations

import os
from pathlib import Path

from fraud_assets import settings

# One run at a time: concurrent runs on SQLite storage hit "database is locked".
DAGSTER_YAML = """\
# Written by fraud-platform. Embedded default: SQLite storage in this folder.
# To scale out, replace `storage` with postgres (dagster-postgres) and pick a run launcher.
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 1
"""


def ensure_dagster_home(home: Path | None = None) -> Path:
    """Create DAGSTER_HOME with our dagster.yaml (kept if the user changed it), export it."""
    folder = settings.dagster_home(home)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(folder)
    return folder
