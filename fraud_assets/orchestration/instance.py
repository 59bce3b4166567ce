"""The Dagster instance of the profile: SQLite under FRAUD_HOME/dagster (local) or
dagster-postgres (server), telemetry off, DAGSTER_HOME exported."""

from __future__ import annotations

import os
from pathlib import Path

from fraud_assets import settings

# The server profile's storage URL reaches Dagster through this variable, so dagster.yaml
# holds no password (every process using the instance gets it from ensure_dagster_home).
PG_URL_ENV = "FRAUD_DAGSTER_PG_URL"
# Local: one run at a time, since concurrent runs on SQLite storage hit "database is locked".
LOCAL_YAML = """\
# Written by fraud-platform. Embedded default: SQLite storage in this folder.
# To scale out, replace `storage` with postgres (dagster-postgres) and pick a run launcher.
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 1
"""
# Server: run, event log and schedule storage on PostgreSQL, which takes concurrent writers.
SERVER_YAML = f"""\
# Written by fraud-platform (FRAUD_PROFILE=server): run, event log and schedule storage
# on PostgreSQL (dagster-postgres); the URL comes from ${PG_URL_ENV}.
telemetry:
  enabled: false
storage:
  postgres:
    postgres_url:
      env: {PG_URL_ENV}
run_queue:
  max_concurrent_runs: 4
"""
_OURS = (LOCAL_YAML, SERVER_YAML)


def ensure_dagster_home(home: Path | None = None) -> Path:
    """Create DAGSTER_HOME with the profile's dagster.yaml (a file the user changed is
    kept; ours is rewritten when the profile changes), export it; under the server profile
    also export the storage URL (settings.ServerProfileError if the servers never ran)."""
    folder = settings.dagster_home(home)
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "dagster.yaml"
    wanted = SERVER_YAML if settings.profile() == settings.SERVER else LOCAL_YAML
    if not config.exists() or (config.read_text() in _OURS and config.read_text() != wanted):
        config.write_text(wanted)
    if wanted == SERVER_YAML:
        os.environ[PG_URL_ENV] = settings.postgres_url("dagster", home)
    os.environ["DAGSTER_HOME"] = str(folder)
    return folder
