"""Where the platform keeps its state: everything lives under one folder, FRAUD_HOME."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def fraud_home() -> Path:
    """The state folder: $FRAUD_HOME, or `.fraud/` in the checkout."""
    return Path(os.environ.get("FRAUD_HOME") or REPO_ROOT / ".fraud").resolve()


def landing_dir(home: Path | None = None) -> Path:
    """Where upstream (or the simulator, or a user) drops one CSV per day."""
    return (home or fraud_home()) / "landing"


def lake_dir(home: Path | None = None) -> Path:
    """Parquet outputs of the daily assets, one folder per asset."""
    return (home or fraud_home()) / "lake"


def dagster_home(home: Path | None = None) -> Path:
    return (home or fraud_home()) / "dagster"


def mlflow_dir(home: Path | None = None) -> Path:
    return (home or fraud_home()) / "mlflow"


def mlflow_tracking_uri(home: Path | None = None) -> str:
    """$MLFLOW_TRACKING_URI if set (a server or PostgreSQL), else SQLite in the state folder."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env and home is None:
        return env
    return f"sqlite:///{mlflow_dir(home) / 'mlflow.db'}"


def mlflow_artifacts_dir(home: Path | None = None) -> Path:
    return mlflow_dir(home) / "artifacts"


def feast_dir(home: Path | None = None) -> Path:
    """Feast registry, offline parquet source and SQLite online store."""
    return (home or fraud_home()) / "feast"


def predictions_dir(home: Path | None = None) -> Path:
    """The serving prediction log, one folder per day."""
    return (home or fraud_home()) / "predictions"


def reports_dir(home: Path | None = None) -> Path:
    """Evidently HTML/JSON reports."""
    return (home or fraud_home()) / "reports"


REGISTERED_MODEL_NAME = "fraud-detection-model"
CHAMPION_ALIAS = "champion"
