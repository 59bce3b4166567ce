"""The server profile's servers on this machine: PostgreSQL, Redis and the MLflow tracking
server, from Debian packages (`apt-get install postgresql redis-server`).

`ServerProfile.start()` (`fraud-platform servers start`, `make servers`) starts whatever is
not running yet and returns; the servers keep running until `stop()` (`make servers-stop`).
Everything lives under `settings.server_endpoints().home` ($FRAUD_HOME/servers unless
$FRAUD_SERVERS_HOME says otherwise):

    secrets.json     generated passwords (0600; never printed)
    postgres/        data/, run/ (the admin socket), postgres.log
    redis/           redis.conf (0600: it holds the password), dump, redis.log
    mlflow/          artifacts served by the tracking server (--serve-artifacts), logs, pids

All three listen on 127.0.0.1 only. PostgreSQL refuses to run as root: as root it runs as
the Debian package's `postgres` user (runuser), which then owns `postgres/`. The platform
connects as the role `fraud` (password in secrets.json) to three databases,
`<prefix>dagster`, `<prefix>mlflow` and `<prefix>feast`, created on first start.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fraud_assets import settings
from fraud_assets.orchestration.processes import Detached, run_tool
from fraud_assets.settings import ServerEndpoints, ServerProfileError

INSTALL_HINT = ("install them with `apt-get install postgresql redis-server` (Debian/Ubuntu), "
                "or point FRAUD_PG_BIN at the folder holding initdb and pg_ctl")
PG_SUPERUSER = "postgres"
PG_OS_USER = "postgres"  # the Debian package's user, for when we run as root
BIN = Path(sys.executable).parent


class MissingBinaries(ServerProfileError):
    """PostgreSQL or Redis is not installed; the message says how to install them."""


@dataclass(frozen=True)
class Binaries:
    pg_bin: Path  # folder with initdb, pg_ctl
    redis_server: Path


def find_binaries() -> Binaries:
    """initdb/pg_ctl ($FRAUD_PG_BIN, Debian's /usr/lib/postgresql/<newest>/bin, or PATH)
    and redis-server (PATH); MissingBinaries naming what is missing and how to install it."""
    missing = []
    candidates = [os.environ.get("FRAUD_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                         else 0, reverse=True)
    on_path = shutil.which("initdb")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    pg_bin = next((Path(c) for c in candidates
                   if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists()),
                  None)
    if pg_bin is None:
        missing.append("PostgreSQL (initdb, pg_ctl)")
    redis = shutil.which("redis-server")
    if redis is None:
        missing.append("Redis (redis-server)")
    if missing:
        raise MissingBinaries(f"the server profile needs {' and '.join(missing)}: {INSTALL_HINT}")
    return Binaries(pg_bin, Path(redis))


def _is_root() -> bool:
    return os.geteuid() == 0


def _new_password() -> str:
    # Hex only: safe in a URL and in Feast's comma-separated Redis connection string.
    return secrets.token_hex(24)


class ServerProfile:
    """The server profile's three servers, for the endpoints in the environment."""

    def __init__(self, endpoints: ServerEndpoints | None = None,
                 echo: Callable[[str], None] = print) -> None:
        self.ends = endpoints or settings.server_endpoints()
        self.echo = echo
        self.home = self.ends.home
        self.pg_dir = self.home / "postgres"
        self.pg_data = self.pg_dir / "data"
        self.pg_run = self.pg_dir / "run"
        self.redis_dir = self.home / "redis"
        self.mlflow_dir = self.home / "mlflow"

    # -- the whole set ---------------------------------------------------------------------
    def start(self, mlflow: bool = True) -> None:
        """Start what is not running (PostgreSQL, Redis, then the MLflow server), creating
        data folders, passwords, the role and the databases on first start. Idempotent."""
        bins = find_binaries()
        self.home.mkdir(parents=True, exist_ok=True)
        secret = self.secrets()
        self._start_postgres(bins)
        self.ensure_databases(secret["postgres"])
        self._start_redis(bins, secret["redis"])
        if mlflow:
            self._start_mlflow()

    def stop(self) -> None:
        """Stop the MLflow server, Redis and PostgreSQL (whatever of them runs)."""
        if self.mlflow().stop():
            self.echo(f"MLflow server on {self.ends.mlflow_url} stopped")
        if self._redis_pid() is not None:
            self.stop_redis()
            self.echo(f"Redis on 127.0.0.1:{self.ends.redis_port} stopped")
        if self.postgres_running():
            self.stop_postgres()
            self.echo(f"PostgreSQL on 127.0.0.1:{self.ends.postgres_port} stopped")

    def status(self) -> dict[str, str]:
        """Server name -> `running on ...` or `stopped`."""
        return {
            "PostgreSQL": (f"running on 127.0.0.1:{self.ends.postgres_port}"
                           if self.postgres_running() else "stopped"),
            "Redis": (f"running on 127.0.0.1:{self.ends.redis_port}"
                      if self.redis_answers() else "stopped"),
            "MLflow server": (f"running on {self.ends.mlflow_url}" if self.mlflow_answers()
                              else "stopped"),
        }

    def running(self) -> bool:
        return self.postgres_running() and self.redis_answers() and self.mlflow_answers()

    # -- passwords ---------------------------------------------------------------------------
    def secrets(self) -> dict[str, str]:
        """The passwords, generated into secrets.json (0600) on first use."""
        path = self.ends.secrets_file
        if path.exists():
            return json.loads(path.read_text())
        values = {"postgres": _new_password(), "redis": _new_password()}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(values, out)
        self.echo(f"generated passwords into {path} (mode 0600)")
        return values

    # -- PostgreSQL --------------------------------------------------------------------------
    def _pg_user(self) -> str | None:
        return PG_OS_USER if _is_root() else None

    def _pg(self, bins: Binaries, tool: str, *args: str, timeout: float = 120.0):
        return run_tool([str(bins.pg_bin / tool), *args], user=self._pg_user(), timeout=timeout)

    def postgres_running(self) -> bool:
        try:
            bins = find_binaries()
        except MissingBinaries:
            return False
        if not (self.pg_data / "PG_VERSION").exists():
            return False
        return self._pg(bins, "pg_ctl", "status", "-D", str(self.pg_data)).returncode == 0

    def _start_postgres(self, bins: Binaries) -> None:
        if self.postgres_running():
            return
        self._prepare_pg_folder()
        if not (self.pg_data / "PG_VERSION").exists():
            self.echo(f"PostgreSQL: creating the cluster in {self.pg_data}")
            done = self._pg(bins, "initdb", "-D", str(self.pg_data), "-U", PG_SUPERUSER,
                            "--auth-local=trust", "--auth-host=scram-sha-256",
                            "--encoding=UTF8", "--no-locale")
            if done.returncode != 0:
                raise ServerProfileError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.ends.postgres_port} "
                   f"-c unix_socket_directories={self.pg_run} -c max_connections=300")
        log = self.pg_dir / "postgres.log"
        done = self._pg(bins, "pg_ctl", "start", "-D", str(self.pg_data), "-l", str(log),
                        "-w", "-t", "90", "-o", options)
        if done.returncode != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) \
                if log.exists() else done.stderr
            raise ServerProfileError(
                f"PostgreSQL did not start on 127.0.0.1:{self.ends.postgres_port} (port taken? "
                f"set FRAUD_PG_PORT):\n{tail}")
        self.echo(f"PostgreSQL      127.0.0.1:{self.ends.postgres_port} (data {self.pg_data})")

    def _prepare_pg_folder(self) -> None:
        """postgres/ owned by the user PostgreSQL runs as; as root, check that user can
        reach it (a folder under a private home cannot work)."""
        self.pg_run.mkdir(parents=True, exist_ok=True)
        os.chmod(self.pg_run, 0o700)
        if not _is_root():
            return
        shutil.chown(self.pg_dir, PG_OS_USER, PG_OS_USER)
        for path in (self.pg_run, *(p for p in self.pg_dir.iterdir() if p.is_file())):
            shutil.chown(path, PG_OS_USER, PG_OS_USER)
        if (self.pg_data).exists():
            run_tool(["chown", "-R", f"{PG_OS_USER}:{PG_OS_USER}", str(self.pg_data)])
        if run_tool(["test", "-w", str(self.pg_dir)], user=PG_OS_USER).returncode != 0:
            raise ServerProfileError(
                f"PostgreSQL runs as the user {PG_OS_USER!r} here (it refuses root), and that "
                f"user cannot reach {self.pg_dir}: put the servers in a folder every user can "
                f"traverse with {settings.SERVERS_HOME_ENV}=/some/path")

    def stop_postgres(self) -> None:
        done = self._pg(find_binaries(), "pg_ctl", "stop", "-D", str(self.pg_data), "-m",
                        "fast", "-w", "-t", "60")
        if done.returncode != 0 and self.postgres_running():
            raise ServerProfileError(f"pg_ctl stop failed: {done.stderr}")

    def admin_connection(self, database: str = "postgres"):
        """A psycopg2 connection as the superuser over the private socket (autocommit)."""
        import psycopg2

        connection = psycopg2.connect(host=str(self.pg_run), port=self.ends.postgres_port,
                                      user=PG_SUPERUSER, dbname=database)
        connection.autocommit = True
        return connection

    def ensure_databases(self, password: str | None = None) -> list[str]:
        """The role `fraud` (with the password of secrets.json) and the three databases of
        the endpoints' prefix; returns the databases it created."""
        from psycopg2 import sql

        password = password or self.secrets()["postgres"]
        created = []
        # Not `with connection:`: psycopg2 opens a transaction there, and CREATE DATABASE
        # refuses to run inside one.
        db = self.admin_connection()
        try:
            cur = db.cursor()
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (settings.POSTGRES_USER,))
            verb = "ALTER" if cur.fetchone() else "CREATE"
            cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(
                sql.Identifier(settings.POSTGRES_USER)), (password,))
            for name in settings.DATABASES:
                database = self.ends.database(name)
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                if cur.fetchone():
                    continue
                cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(settings.POSTGRES_USER)))
                created.append(database)
        finally:
            db.close()
        if created:
            self.echo(f"PostgreSQL: created {', '.join(created)} (role {settings.POSTGRES_USER})")
        return created

    # -- Redis -------------------------------------------------------------------------------
    def _redis_conf(self, password: str) -> Path:
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        conf = self.redis_dir / "redis.conf"
        text = "\n".join([
            "# Written by fraud-platform (server profile); holds the password: mode 0600.",
            "bind 127.0.0.1", "protected-mode yes", f"port {self.ends.redis_port}",
            f"dir {self.redis_dir}", "daemonize yes", f"pidfile {self.redis_dir / 'redis.pid'}",
            f"logfile {self.redis_dir / 'redis.log'}", f"requirepass {password}",
            "save 300 1", "dbfilename dump.rdb", ""])
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        return conf

    def redis_client(self, timeout: float = 2.0):
        import redis

        return redis.Redis(host=settings.SERVER_HOST, port=self.ends.redis_port,
                           db=self.ends.redis_db, password=self.secrets()["redis"],
                           socket_timeout=timeout,
                           socket_connect_timeout=timeout)

    def redis_answers(self) -> bool:
        if not self.ends.secrets_file.exists():
            return False
        try:
            return bool(self.redis_client().ping())
        except Exception:  # refused, auth, timeout: not our Redis answering
            return False

    def _redis_pid(self) -> int | None:
        return Detached("Redis", [], self.redis_dir / "redis.pid",
                        self.redis_dir / "redis.log").pid()

    def _start_redis(self, bins: Binaries, password: str) -> None:
        if self.redis_answers():
            return
        conf = self._redis_conf(password)
        done = run_tool([str(bins.redis_server), str(conf)])
        deadline = time.monotonic() + 20
        while not self.redis_answers():
            if time.monotonic() > deadline or done.returncode != 0:
                log = self.redis_dir / "redis.log"
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else done.stderr
                raise ServerProfileError(
                    f"Redis did not start on 127.0.0.1:{self.ends.redis_port} (port taken? set "
                    f"FRAUD_REDIS_PORT):\n{tail}")
            time.sleep(0.2)
        self.echo(f"Redis           127.0.0.1:{self.ends.redis_port} (data {self.redis_dir})")

    def stop_redis(self) -> None:
        """Stop Redis: SIGTERM, on which it saves its data and exits (SIGKILL after 15 s)."""
        Detached("Redis", [], self.redis_dir / "redis.pid", self.redis_dir / "redis.log").stop(
            grace=15.0)

    # -- the MLflow tracking server ---------------------------------------------------------
    def mlflow(self) -> Detached:
        """`mlflow server` on the endpoints' port with the PostgreSQL backend store and the
        artifacts it serves itself (--serve-artifacts). One worker and no job execution: the
        defaults start many processes and orphan some on SIGTERM (shared/STACK.md). The
        backend URI goes in through the environment, so `ps` never shows the password."""
        port = self.ends.mlflow_port
        env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        if self.ends.secrets_file.exists():
            env["MLFLOW_BACKEND_STORE_URI"] = self.ends.postgres_url(
                "mlflow", self.secrets()["postgres"])
        return Detached(
            "MLflow server",
            [str(BIN / "mlflow"), "server", "--host", settings.SERVER_HOST, "--port", str(port),
             "--workers", "1", "--serve-artifacts",
             "--artifacts-destination", str(self.mlflow_dir / "artifacts")],
            self.mlflow_dir / f"mlflow-{port}.pid", self.mlflow_dir / f"mlflow-{port}.log", env)

    def mlflow_answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.ends.mlflow_url}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def _start_mlflow(self, timeout: float = 180.0) -> None:
        if self.mlflow_answers():
            return
        server = self.mlflow()
        if server.pid() is None:
            server.start()
        deadline = time.monotonic() + timeout
        while not self.mlflow_answers():
            if server.pid() is None or time.monotonic() > deadline:
                server.stop()
                raise ServerProfileError(
                    f"the MLflow server did not answer on {self.ends.mlflow_url} (port taken? "
                    f"set FRAUD_MLFLOW_PORT):\n{server.log_tail()}")
            time.sleep(0.5)
        self.echo(f"MLflow server   {self.ends.mlflow_url} (backend PostgreSQL "
                  f"{self.ends.database('mlflow')}, artifacts {self.mlflow_dir / 'artifacts'})")


def ensure_running(echo: Callable[[str], None] = print) -> None:
    """Under FRAUD_PROFILE=server, start the profile's servers unless they run (what the
    first `make demo|pipeline|drift-demo|serve` does); nothing under the local profile."""
    if settings.profile() != settings.SERVER:
        return
    profile = ServerProfile(echo=echo)
    if not profile.running():
        profile.start()
