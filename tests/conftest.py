"""Shared fixtures: every test gets its own state folder and no telemetry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

for key, value in {"DAGSTER_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
                   "BENTOML_DO_NOT_TRACK": "true", "FEAST_USAGE": "False",
                   "DO_NOT_TRACK": "1"}.items():
    os.environ.setdefault(key, value)


@pytest.fixture
def fraud_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FRAUD_HOME (and DAGSTER_HOME inside it) for one test."""
    home = tmp_path / "fraud_home"
    home.mkdir()
    monkeypatch.setenv("FRAUD_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return home
