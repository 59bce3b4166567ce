"""The server profile for a benchmark: the platform's servers (`make servers`; started if
they are not running), with databases, a Redis database and (if asked) an MLflow tracking
server of the benchmark's own, so a platform's data is never touched. Run the benchmarks
from the repository root as modules (`python -m benchmarks.<name>`)."""

from __future__ import annotations

import os

from fraud_assets import settings
from fraud_assets.orchestration.processes import free_port
from fraud_assets.orchestration.server_profile import ServerProfile


def use_server_profile(prefix: str = "bench_", redis_db: int = 15,
                       mlflow: bool = False) -> ServerProfile:
    """Point this process (and its children) at the server profile: fresh databases
    `<prefix>*`, Redis database `redis_db` flushed, and with `mlflow` a tracking server on a
    free port whose backend is `<prefix>mlflow` (stop it with `.mlflow().stop()`)."""
    from psycopg2 import sql

    # The servers of the platform's FRAUD_HOME, whatever state folder the benchmark uses.
    os.environ[settings.SERVERS_HOME_ENV] = str(settings.server_endpoints().home)
    os.environ.update({settings.PROFILE_ENV: settings.SERVER, "FRAUD_DB_PREFIX": prefix,
                       "FRAUD_REDIS_DB": str(redis_db), "FRAUD_MLFLOW_PORT": str(free_port())})
    profile = ServerProfile(settings.server_endpoints(), echo=lambda line: None)
    profile.start(mlflow=False)
    admin = profile.admin_connection()
    try:
        for name in settings.DATABASES:
            admin.cursor().execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(profile.ends.database(name))))
    finally:
        admin.close()
    profile.start(mlflow=mlflow)  # the databases again, empty; the MLflow server migrates its own
    profile.redis_client().flushdb()
    return profile
