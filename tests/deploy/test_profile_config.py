"""The profile switch as configuration, without servers (default suite, about a second):
one variable, the stores each profile configures, passwords never shown, a clear word when
the servers are missing. The servers themselves are tested under the `server` marker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fraud_assets import settings
from fraud_assets.cli import app
from fraud_assets.features.store import FEATURE_REPO, config_dict, online_store_type
from fraud_assets.orchestration import containers, instance, server_profile


@pytest.fixture
def server_home(fraud_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FRAUD_PROFILE=server with a passwords file as `servers start` writes it."""
    monkeypatch.setenv(settings.PROFILE_ENV, settings.SERVER)
    for variable, _ in settings.SERVER_ENV.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv(settings.SERVERS_HOME_ENV, raising=False)
    secrets = settings.server_endpoints().secrets_file
    secrets.parent.mkdir(parents=True)
    secrets.write_text(json.dumps({"postgres": "pg-secret-1", "redis": "redis-secret-2"}))
    return fraud_home


def test_the_profile_is_local_by_default_and_anything_else_is_refused(monkeypatch) -> None:
    monkeypatch.delenv(settings.PROFILE_ENV, raising=False)
    assert settings.profile() == settings.LOCAL
    monkeypatch.setenv(settings.PROFILE_ENV, "Server")
    assert settings.profile() == settings.SERVER
    monkeypatch.setenv(settings.PROFILE_ENV, "cloud")
    with pytest.raises(ValueError, match="FRAUD_PROFILE='cloud': choose local or server"):
        settings.profile()
    monkeypatch.setenv(settings.PROFILE_ENV, "server")
    monkeypatch.setenv("FRAUD_PG_PORT", "54x")
    with pytest.raises(ValueError, match="FRAUD_PG_PORT='54x' is not a number"):
        settings.server_endpoints()


def test_server_stores_replace_only_registry_and_online_store(server_home: Path,
                                                              monkeypatch) -> None:
    server = config_dict(server_home)
    monkeypatch.setenv(settings.PROFILE_ENV, settings.LOCAL)
    local = config_dict(server_home)
    assert {k: v for k, v in server.items() if k not in ("registry", "online_store")} == \
        {k: v for k, v in local.items() if k not in ("registry", "online_store")}
    assert server["offline_store"] == local["offline_store"]  # parquet under FRAUD_HOME
    assert server["registry"]["registry_type"] == "sql"
    assert server["registry"]["path"] == (
        "postgresql+psycopg2://fraud:pg-secret-1@127.0.0.1:5432/fraud_feast")
    assert server["registry"]["cache_ttl_seconds"] == local["registry"]["cache_ttl_seconds"]
    assert server["online_store"]["type"] == "redis"
    assert server["online_store"]["connection_string"].startswith(
        "127.0.0.1:6379,db=0,password=redis-secret-2,")
    assert online_store_type() == "sqlite"
    monkeypatch.setenv(settings.PROFILE_ENV, settings.SERVER)
    assert online_store_type() == "redis"
    # The one configuration file stays the local one: nothing of the server is written there.
    assert yaml.safe_load((FEATURE_REPO / "feature_store.yaml").read_text())[
        "online_store"]["type"] == "sqlite"


def test_passwords_are_masked_for_display(server_home: Path) -> None:
    assert settings.mlflow_tracking_uri() == "http://127.0.0.1:5000"
    url = settings.postgres_url("mlflow")
    assert settings.mask_url(url) == "postgresql+psycopg2://fraud:***@127.0.0.1:5432/fraud_mlflow"
    masked = settings.mask_url(settings.redis_connection_string())
    assert "redis-secret-2" not in masked and "password=***" in masked
    assert settings.mask_url("sqlite:////a/b.db") == "sqlite:////a/b.db"


def test_environment_passwords_win_over_the_file(server_home: Path, monkeypatch) -> None:
    monkeypatch.setenv("FRAUD_PG_PASSWORD", "from-a-secret")
    monkeypatch.setenv("FRAUD_REDIS_PASSWORD", "r")
    monkeypatch.setenv("FRAUD_PG_HOST", "postgres.fraud.svc")
    assert settings.postgres_url("dagster") == (
        "postgresql+psycopg2://fraud:from-a-secret@postgres.fraud.svc:5432/fraud_dagster")


def test_passwords_from_files_as_a_container_gets_them(server_home: Path, tmp_path: Path,
                                                      monkeypatch) -> None:
    """FRAUD_*_PASSWORD_FILE (a mounted secret) wins over secrets.json, loses to the value
    itself; an unreadable or empty file is an error naming the variable."""
    pg, redis = tmp_path / "pg", tmp_path / "redis"
    pg.write_text("pg-from-file\n")
    redis.write_text("redis-from-file")
    monkeypatch.setenv("FRAUD_PG_PASSWORD_FILE", str(pg))
    assert settings.server_secrets() == {"postgres": "pg-from-file", "redis": "redis-secret-2"}
    monkeypatch.setenv("FRAUD_REDIS_PASSWORD_FILE", str(redis))
    monkeypatch.setenv("FRAUD_REDIS_PASSWORD", "r")
    assert settings.server_secrets() == {"postgres": "pg-from-file", "redis": "r"}
    monkeypatch.setenv("FRAUD_PG_PASSWORD_FILE", str(tmp_path / "missing"))
    with pytest.raises(settings.ServerProfileError,
                       match="FRAUD_PG_PASSWORD_FILE=.*missing: cannot read the password file"):
        settings.server_secrets()
    pg.write_text("\n")
    monkeypatch.setenv("FRAUD_PG_PASSWORD_FILE", str(pg))
    with pytest.raises(settings.ServerProfileError, match="password file is empty"):
        settings.server_secrets()


def test_dagster_yaml_follows_the_profile_and_keeps_a_users_own(server_home: Path,
                                                                monkeypatch) -> None:
    folder = instance.ensure_dagster_home()
    config = yaml.safe_load((folder / "dagster.yaml").read_text())
    assert config["storage"]["postgres"]["postgres_url"] == {"env": instance.PG_URL_ENV}
    assert config["run_queue"]["max_concurrent_runs"] >= 2
    assert "pg-secret-1" not in (folder / "dagster.yaml").read_text()
    assert os.environ[instance.PG_URL_ENV].endswith("@127.0.0.1:5432/fraud_dagster")
    monkeypatch.setenv(settings.PROFILE_ENV, settings.LOCAL)
    instance.ensure_dagster_home()
    assert (folder / "dagster.yaml").read_text() == instance.LOCAL_YAML
    (folder / "dagster.yaml").write_text(instance.LOCAL_YAML + "# mine\n")
    monkeypatch.setenv(settings.PROFILE_ENV, settings.SERVER)
    instance.ensure_dagster_home()
    assert (folder / "dagster.yaml").read_text().endswith("# mine\n")


def test_without_servers_the_profile_says_what_to_run(fraud_home: Path, monkeypatch) -> None:
    monkeypatch.setenv(settings.PROFILE_ENV, settings.SERVER)
    monkeypatch.delenv(settings.SERVERS_HOME_ENV, raising=False)
    with pytest.raises(settings.ServerProfileError, match="run `make servers`"):
        settings.postgres_url("feast")


def test_missing_binaries_say_how_to_install(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(server_profile.glob, "glob", lambda pattern: [])
    with pytest.raises(server_profile.MissingBinaries,
                       match="apt-get install postgresql redis-server"):
        server_profile.find_binaries()
    result = CliRunner().invoke(app, ["servers", "start"])
    assert result.exit_code == 1 and "apt-get install postgresql redis-server" in result.output


def _flags(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_api_replicas_reach_the_servers_on_the_hosts_loopback_without_a_password(
        server_home: Path, monkeypatch) -> None:
    """`run-api --replicas` under the server profile, as run arguments: the servers at
    slirp4netns' address of the host's loopback, the registry as model source, passwords as
    mounted secrets only, nothing from the host mounted, only the replica's port published."""
    from fraud_assets.model.loaded import REGISTRY

    podman = containers.Engine("podman", "podman")
    args = containers.ApiReplicas(podman, "img", 8300, count=2, poll_seconds=1).run_args(
        8301, "fraud-api-8301")
    assert "pg-secret-1" not in " ".join(args) and "redis-secret-2" not in " ".join(args)
    env = dict(value.split("=", 1) for value in _flags(args, "-e"))
    loopback = containers.HOST_LOOPBACK
    assert env["FRAUD_PG_HOST"] == env["FRAUD_REDIS_HOST"] == loopback
    assert env["MLFLOW_TRACKING_URI"] == f"http://{loopback}:5000"
    assert env["FRAUD_MODEL_SOURCE"] == REGISTRY and env["FRAUD_CHAMPION_POLL_SECONDS"] == "1"
    assert env["FRAUD_PG_PASSWORD_FILE"] == "/run/secrets/fraud-api-8300-postgres-password"
    assert _flags(args, "--secret") == [
        "fraud-api-8300-postgres-password,type=mount,target=fraud-api-8300-postgres-password",
        "fraud-api-8300-redis-password,type=mount,target=fraud-api-8300-redis-password"]
    assert _flags(args, "--network") == [containers.SLIRP_HOST_LOOPBACK]
    assert _flags(args, "-p") == ["127.0.0.1:8301:8301"]
    assert [v.split(":")[0] for v in _flags(args, "-v")] == [containers.PREDICTIONS_VOLUME]

    # Servers elsewhere: reached as they are, on the engine's own network.
    monkeypatch.setenv("FRAUD_PG_HOST", "postgres.fraud.svc")
    monkeypatch.setenv("FRAUD_REDIS_HOST", "redis.fraud.svc")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.fraud.svc:5000")
    args = containers.ApiReplicas(podman, "img", 8300).run_args(8300, "fraud-api-8300")
    env = dict(value.split("=", 1) for value in _flags(args, "-e"))
    assert env["FRAUD_PG_HOST"] == "postgres.fraud.svc" and not _flags(args, "--network")
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.fraud.svc:5000"


def test_api_replicas_refuse_what_cannot_work(server_home: Path, monkeypatch) -> None:
    podman = containers.Engine("podman", "podman")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////tmp/mlflow.db")
    with pytest.raises(containers.ContainerError, match="is not an http"):
        containers.ApiReplicas(podman, "img", 8300).run_args(8300, "fraud-api-8300")
    with pytest.raises(containers.ContainerError, match="podman secrets"):
        containers.ApiReplicas(containers.Engine("docker", "docker"), "img", 8300)
    monkeypatch.setenv(settings.PROFILE_ENV, settings.LOCAL)
    with pytest.raises(containers.ContainerError, match="2 replicas need FRAUD_PROFILE=server"):
        containers.ApiReplicas(podman, "img", 8300, count=2)


@pytest.mark.parametrize(("given", "huge_pages"), [(None, False), ("1", True)])
def test_the_code_locations_numpy_asks_for_no_huge_pages_unless_told(given: str | None,
                                                                      huge_pages: bool) -> None:
    """`settings.MEMORY_DEFAULTS` reaches numpy in a process that loads the code location
    (as a run worker does), and a user's own NUMPY_MADVISE_HUGEPAGE wins."""
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if given is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = given
    code = ("import fraud_assets.definitions, os\n"
            "from numpy._core.multiarray import _get_madvise_hugepage\n"
            "print(_get_madvise_hugepage(), os.environ['NUMPY_MADVISE_HUGEPAGE'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=settings.REPO_ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == [str(huge_pages), given or "0"]
