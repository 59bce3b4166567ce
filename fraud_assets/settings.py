"""Where the platform keeps its state: everything lives under one folder, FRAUD_HOME."""

from __future__ import annotations

import os
from dataclasses import dataclass
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
    "DO_NOT_TRACK": "1",  # also what Evidently (library and `evidently ui`) reads
}
# The demo's first day, and the default first daily partition.
DEFAULT_FIRST_DAY = "2025-01-01"
FIRST_DAY_ENV = "FRAUD_FIRST_DAY"


def disable_telemetry() -> None:
    """Turn telemetry off in this process and its children (a user's explicit value wins)."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)


# How the platform's processes use memory, set the same way (a user's explicit value wins).
# NumPy asks Linux for transparent huge pages on every large array (`madvise`), unless
# NUMPY_MADVISE_HUGEPAGE=0 (NumPy's own switch, read when numpy is imported). Each huge page
# is zeroed and backed whole on first touch; arrays a step frees and the next allocates
# again pay that anew, and where the kernel also hands freed memory back to its host (a VM
# with free page reporting, as the machine behind the scale numbers) it dominated the daily
# job. A 1M-row day, `daily_job` three times in one process (`benchmarks/daily_run.py
# --runs 3` on `benchmarks.scale`'s 30 x 1M state, 2026-12-03, two rounds each): system
# time 36.8-38.9 s with huge pages against 14.9-19.3 s without; runs 22.5-34.2 s against
# 14.0-25.8 s; the card features' system time 4.3-5.3 s against 1.3-1.9 s a run. The
# 30 x 1M retraining job alone: 274 s with huge pages against 201 s without, the same peak
# (5.05 and 5.06 GB). Where huge pages pay on another machine, set the variable to 1.
MEMORY_DEFAULTS: dict[str, str] = {"NUMPY_MADVISE_HUGEPAGE": "0"}


def set_memory_defaults() -> None:
    """Apply MEMORY_DEFAULTS to this process and its children (a user's explicit value
    wins). Must run before numpy is imported to take effect in this process: the package's
    `__init__` runs it, and it imports nothing that imports numpy."""
    for key, value in MEMORY_DEFAULTS.items():
        os.environ.setdefault(key, value)


def memory_settings() -> str:
    """MEMORY_DEFAULTS as this process and its children have them, e.g.
    "NUMPY_MADVISE_HUGEPAGE=0" (printed with the benchmarks' numbers)."""
    return ", ".join(f"{k}={os.environ.get(k, v)}" for k, v in MEMORY_DEFAULTS.items())


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
    "landing": "where upstream (the simulator, or a user) drops one CSV per day, and the "
               "label feed one CSV per day of arrival in landing/labels",
    "lake": "parquet outputs of the daily assets, one folder per asset",
    "dagster": "the Dagster instance (DAGSTER_HOME): dagster.yaml and SQLite storage",
    "mlflow": "the MLflow backend store (SQLite) and artifacts",
    "feast": "Feast registry, offline parquet source and SQLite online store",
    "predictions": "the serving prediction log, one folder per day",
    "bentoml": "the BentoML store (models and Bentos), unless $BENTOML_HOME says otherwise",
    "reports": "Evidently HTML/JSON drift reports",
    "evidently": "the Evidently workspace: daily drift and performance snapshots, the "
                 "dashboards `fraud-platform up` serves",
    "logs": "logs of the servers `fraud-platform up` starts",
    "servers": "the server profile's PostgreSQL and Redis data, MLflow server artifacts, "
               "and their generated passwords (0600), unless $FRAUD_SERVERS_HOME says otherwise",
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
    """$MLFLOW_TRACKING_URI if set; else the profile's store: SQLite in the state folder
    (local) or the MLflow tracking server over HTTP (server; never its database)."""
    override = _env_override("MLFLOW_TRACKING_URI", home)
    if override:
        return override
    if profile() == SERVER:
        return server_endpoints().mlflow_url
    return f"sqlite:///{mlflow_dir(home) / 'mlflow.db'}"


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


# -- the profile: embedded stores (local) or PostgreSQL, Redis and an MLflow server --------
PROFILE_ENV = "FRAUD_PROFILE"
LOCAL, SERVER = "local", "server"
PROFILES = (LOCAL, SERVER)
SERVER_HOST = "127.0.0.1"  # the server profile's servers listen on loopback only
# Every setting of the server profile, its environment variable and default.
SERVER_ENV: dict[str, tuple[str, str]] = {
    "postgres_port": ("FRAUD_PG_PORT", "5432"),
    "redis_port": ("FRAUD_REDIS_PORT", "6379"),
    "mlflow_port": ("FRAUD_MLFLOW_PORT", "5000"),
    # Prefix of the three databases (<prefix>dagster, <prefix>mlflow, <prefix>feast), so
    # several platforms (or tests) can share one PostgreSQL.
    "database_prefix": ("FRAUD_DB_PREFIX", "fraud_"),
    "redis_db": ("FRAUD_REDIS_DB", "0"),
    # Clients only (the servers `fraud-platform servers` starts bind 127.0.0.1): where the
    # platform reaches PostgreSQL and Redis elsewhere, e.g. services in a cluster.
    "postgres_host": ("FRAUD_PG_HOST", "127.0.0.1"),
    "redis_host": ("FRAUD_REDIS_HOST", "127.0.0.1"),
}
# Passwords from the environment (a Kubernetes Secret, say) win over the generated file.
SECRET_ENV = {"postgres": "FRAUD_PG_PASSWORD", "redis": "FRAUD_REDIS_PASSWORD"}
# ... or the path of a file holding it (FRAUD_PG_PASSWORD_FILE: a mounted container secret,
# as the API image gets them; podman 4 shows env-type secrets in `podman inspect`).
SECRET_FILE_ENV = {key: f"{variable}_FILE" for key, variable in SECRET_ENV.items()}
SERVERS_HOME_ENV = "FRAUD_SERVERS_HOME"
POSTGRES_USER = "fraud"
DATABASES = ("dagster", "mlflow", "feast")


def profile() -> str:
    """`local` (embedded SQLite stores, the default) or `server` (PostgreSQL, Redis and an
    MLflow tracking server), from $FRAUD_PROFILE: the one place the profile is read.
    Raises ValueError naming the variable for any other value."""
    raw = (os.environ.get(PROFILE_ENV) or LOCAL).strip().lower()
    if raw not in PROFILES:
        raise ValueError(f"{PROFILE_ENV}={os.environ.get(PROFILE_ENV)!r}: choose "
                         f"{' or '.join(PROFILES)}")
    return raw


class ServerProfileError(RuntimeError):
    """The server profile cannot be used as configured; the message says what to run."""


@dataclass(frozen=True)
class ServerEndpoints:
    """Where the server profile's servers listen and keep their data (from the environment,
    see SERVER_ENV). Ports are TCP ports on SERVER_HOST."""

    home: Path
    postgres_port: int
    redis_port: int
    mlflow_port: int
    database_prefix: str
    redis_db: int
    postgres_host: str = SERVER_HOST
    redis_host: str = SERVER_HOST

    @property
    def secrets_file(self) -> Path:
        """The generated passwords (JSON, mode 0600): never printed, never logged."""
        return self.home / "secrets.json"

    @property
    def mlflow_url(self) -> str:
        return f"http://{SERVER_HOST}:{self.mlflow_port}"

    def database(self, name: str) -> str:
        """The PostgreSQL database of `name` (one of DATABASES)."""
        if name not in DATABASES:
            raise KeyError(f"unknown database {name!r}; known: {', '.join(DATABASES)}")
        return f"{self.database_prefix}{name}"

    def postgres_url(self, name: str, password: str, driver: str = "psycopg2") -> str:
        """SQLAlchemy URL of the database `name` as the role POSTGRES_USER."""
        return (f"postgresql+{driver}://{POSTGRES_USER}:{password}@{self.postgres_host}:"
                f"{self.postgres_port}/{self.database(name)}")


def server_endpoints(home: Path | None = None) -> ServerEndpoints:
    """The server profile's settings; ValueError naming the variable when one is not valid."""
    values: dict[str, object] = {}
    for key, (variable, default) in SERVER_ENV.items():
        raw = os.environ.get(variable) or default
        if key in ("postgres_host", "redis_host"):
            values[key] = raw
            continue
        if key == "database_prefix":
            if not raw.replace("_", "").isalnum() or not raw[0].isalpha():
                raise ValueError(f"{variable}={raw!r}: letters, digits and _ only, "
                                 "starting with a letter")
            values[key] = raw.lower()
            continue
        try:
            values[key] = int(raw)
        except ValueError:
            raise ValueError(f"{variable}={raw!r} is not a number") from None
    servers = os.environ.get(SERVERS_HOME_ENV)  # shared servers: wins over `home`
    return ServerEndpoints(home=Path(servers).resolve() if servers
                           else state_dir("servers", home), **values)


def server_secrets(home: Path | None = None) -> dict[str, str]:
    """The server profile's passwords (`postgres`, `redis`), generated by `fraud-platform
    servers start`; $FRAUD_PG_PASSWORD / $FRAUD_REDIS_PASSWORD win, then the files named by
    $FRAUD_PG_PASSWORD_FILE / $FRAUD_REDIS_PASSWORD_FILE (one password, a final newline
    ignored). ServerProfileError naming the variable when such a file cannot be read, or
    saying to start the servers when no password is found at all."""
    import json

    given = {key: os.environ[variable] for key, variable in SECRET_ENV.items()
             if os.environ.get(variable)}
    for key, variable in SECRET_FILE_ENV.items():
        if key not in given and os.environ.get(variable):
            given[key] = _password_file(variable)
    if len(given) == len(SECRET_ENV):
        return given
    path = server_endpoints(home).secrets_file
    try:
        return {**json.loads(path.read_text()), **given}
    except FileNotFoundError:
        raise ServerProfileError(
            f"{path} is missing: the server profile's servers were never started here; run "
            "`make servers` (fraud-platform servers start)") from None


def _password_file(variable: str) -> str:
    """The password in the file $variable names; ServerProfileError naming both if none."""
    path = Path(os.environ[variable])
    try:
        password = path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ServerProfileError(f"{variable}={path}: cannot read the password file "
                                 f"({exc.strerror or exc})") from None
    if not password:
        raise ServerProfileError(f"{variable}={path}: the password file is empty")
    return password


def postgres_url(database: str, home: Path | None = None, driver: str = "psycopg2") -> str:
    """SQLAlchemy URL of the profile's database `database` (one of DATABASES), password
    included: hand it to a library, never print it (mask_url for display)."""
    return server_endpoints(home).postgres_url(database, server_secrets(home)["postgres"],
                                               driver)


def redis_connection_string(home: Path | None = None) -> str:
    """Feast's Redis connection string (host:port,db=N,password=...), password included.

    Fail fast: redis-py's default retries a refused connection 3 times with backoff, 8.4 s
    per lookup measured here while Redis was down, so every API answer would wait that long
    before imputing; `retry=null` (no retry) fails in under a millisecond, and the timeouts
    bound a Redis that hangs. Feast passes these fields to redis.Redis as they are.
    """
    ends = server_endpoints(home)
    password = server_secrets(home)["redis"]
    return (f"{ends.redis_host}:{ends.redis_port},db={ends.redis_db},password={password},"
            "retry=null,socket_connect_timeout=1,socket_timeout=5")


def mask_url(text: str) -> str:
    """`text` with any password replaced by ***: a URL's user:password@ part and a Redis
    connection string's password=... field."""
    import re

    text = re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)
    return re.sub(r"(password=)[^,\s]+", r"\1***", text)


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
