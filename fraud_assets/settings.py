"""Where the platform keeps its state: everything lives under one folder, FRAUD_HOME."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Every tool the platform runs reports usage unless told not to; the platform never phones
# home. The one place this is said: `disable_telemetry()` runs when `fraud_assets` is
# imported (every entry point imports it before any tool), and child processes inherit it.
TELEMETRY_OFF: dict[str, str] = {
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "BENTOML_DO_NOT_TRACK": "true",
    "FEAST_USAGE": "False",  # Feast <= 0.3x; kept should a later version bring usage back
    "DO_NOT_TRACK": "1",
}
# The demo's first day, and the default first daily partition.
DEFAULT_FIRST_DAY = "2025-01-01"
FIRST_DAY_ENV = "FRAUD_FIRST_DAY"


def disable_telemetry() -> None:
    """Turn telemetry off in this process and its children (a user's explicit value wins)."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)


def first_day() -> str:
    """The first daily partition (ISO date): $FRAUD_FIRST_DAY, default the demo's first day.

    Partitions start where the data starts, so the UI does not list hundreds of days that
    never landed. Raises ValueError naming the variable when it is not a date.
    """
    import datetime as dt

    raw = os.environ.get(FIRST_DAY_ENV) or DEFAULT_FIRST_DAY
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        raise ValueError(f"{FIRST_DAY_ENV}={raw!r} is not a date like 2025-01-01") from None


def fraud_home() -> Path:
    """The state folder: $FRAUD_HOME, or `.fraud/` in the checkout."""
    return Path(os.environ.get("FRAUD_HOME") or REPO_ROOT / ".fraud").resolve()


# The folders under FRAUD_HOME and what each holds (deleting FRAUD_HOME starts over).
STATE_FOLDERS: dict[str, str] = {
    "landing": "where upstream (the simulator, or a user) drops one CSV per day",
    "lake": "parquet outputs of the daily assets, one folder per asset",
    "dagster": "the Dagster instance (DAGSTER_HOME): dagster.yaml and SQLite storage",
    "mlflow": "the MLflow backend store (SQLite) and artifacts",
    "feast": "Feast registry, offline parquet source and SQLite online store",
    "predictions": "the serving prediction log, one folder per day",
    "bentoml": "the BentoML store (models and Bentos), unless $BENTOML_HOME says otherwise",
    "reports": "Evidently HTML/JSON drift reports",
    "logs": "logs of the servers `fraud-platform up` starts",
    "engine": "spill and scratch files of the window transforms' engine (DuckDB or Spark)",
}


def state_dir(name: str, home: Path | None = None) -> Path:
    """`name` (one of STATE_FOLDERS) under `home`, default FRAUD_HOME."""
    if name not in STATE_FOLDERS:
        raise KeyError(f"unknown state folder {name!r}; known: {', '.join(STATE_FOLDERS)}")
    return (home or fraud_home()) / name


def _env_override(variable: str, home: Path | None) -> str | None:
    """$variable, unless an explicit `home` is asked for (then the home's own store wins)."""
    return os.environ.get(variable) or None if home is None else None


def landing_dir(home: Path | None = None) -> Path:
    return state_dir("landing", home)


def lake_dir(home: Path | None = None) -> Path:
    return state_dir("lake", home)


def dagster_home(home: Path | None = None) -> Path:
    return state_dir("dagster", home)


def mlflow_dir(home: Path | None = None) -> Path:
    return state_dir("mlflow", home)


def mlflow_tracking_uri(home: Path | None = None) -> str:
    """$MLFLOW_TRACKING_URI if set (a server or PostgreSQL), else SQLite in the state folder."""
    return (_env_override("MLFLOW_TRACKING_URI", home)
            or f"sqlite:///{mlflow_dir(home) / 'mlflow.db'}")


def mlflow_artifacts_dir(home: Path | None = None) -> Path:
    return mlflow_dir(home) / "artifacts"


def feast_dir(home: Path | None = None) -> Path:
    return state_dir("feast", home)


def predictions_dir(home: Path | None = None) -> Path:
    return state_dir("predictions", home)


def bentoml_home(home: Path | None = None) -> Path:
    """$BENTOML_HOME if set, else FRAUD_HOME/bentoml."""
    return Path(_env_override("BENTOML_HOME", home) or state_dir("bentoml", home))


def reports_dir(home: Path | None = None) -> Path:
    return state_dir("reports", home)


REGISTERED_MODEL_NAME = "fraud-detection-model"
CHAMPION_ALIAS = "champion"


# The engine of the heavy per-day and window transforms (features/engine.py): DuckDB in
# process by default, Spark by configuration. Memory is DuckDB's limit (it spills past it).
ENGINE_ENV = "FRAUD_ENGINE"
ENGINES = ("duckdb", "spark")
ENGINE_MEMORY_ENV = "FRAUD_ENGINE_MEMORY"
DEFAULT_ENGINE_MEMORY = "3GB"
SPARK_MASTER_ENV = "FRAUD_SPARK_MASTER"
DEFAULT_SPARK_MASTER = "local[2]"


def engine_name() -> str:
    """$FRAUD_ENGINE (duckdb | spark), default duckdb; ValueError naming the variable."""
    name = (os.environ.get(ENGINE_ENV) or ENGINES[0]).strip().lower()
    if name not in ENGINES:
        raise ValueError(f"{ENGINE_ENV}={name!r} is not one of {', '.join(ENGINES)}")
    return name


def engine_memory() -> str:
    """$FRAUD_ENGINE_MEMORY (e.g. 3GB): DuckDB's memory limit, Spark's driver memory."""
    return os.environ.get(ENGINE_MEMORY_ENV) or DEFAULT_ENGINE_MEMORY


def spark_master() -> str:
    """$FRAUD_SPARK_MASTER, default local[2] (a cluster URL on the server profile)."""
    return os.environ.get(SPARK_MASTER_ENV) or DEFAULT_SPARK_MASTER


def engine_dir(home: Path | None = None) -> Path:
    return state_dir("engine", home)
