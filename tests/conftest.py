"""Shared fixtures of every test area (state built with tests/support.py).

Telemetry is off: importing fraud_assets turns it off for this process and its children.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from fraud_assets.model import training
from fraud_assets.model.registry import MlflowRegistry
from tests import support


@pytest.fixture
def fraud_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FRAUD_HOME (and DAGSTER_HOME inside it) for one test."""
    home = tmp_path / "fraud_home"
    home.mkdir()
    monkeypatch.setenv("FRAUD_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return home


@pytest.fixture(scope="session")
def test_servers() -> Iterator[support.TestServers]:
    """PostgreSQL and Redis for the session's server-profile tests (skipped, saying how to
    install them, when the binaries are missing)."""
    from fraud_assets.orchestration.server_profile import MissingBinaries, find_binaries

    try:
        find_binaries()
    except MissingBinaries as exc:
        pytest.skip(f"server profile: {exc}")
    servers = support.TestServers().start()
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(params=support.PROFILES)
def profile_home(request: pytest.FixtureRequest, fraud_home: Path) -> Iterator[Path]:
    """A fresh FRAUD_HOME under each profile (local: embedded stores; server: PostgreSQL,
    Redis and an MLflow tracking server, see TestServers)."""
    with support.profile_env(request, request.param):
        yield fraud_home


@pytest.fixture(params=support.PROFILES)
def feast_profile_home(request: pytest.FixtureRequest, fraud_home: Path) -> Iterator[Path]:
    """As `profile_home`, without an MLflow server (Feast-only tests start faster)."""
    with support.profile_env(request, request.param, mlflow=False):
        yield fraud_home


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite database with its schema created, made once per session.

    Creating the schema runs dozens of migrations (seconds on a busy disk); each test
    copies the finished file instead, so every test still has a store of its own.
    """
    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def registry(tmp_path: Path, empty_store: Path) -> MlflowRegistry:
    """Real MLflow: SQLite backend and a local artifact folder, both under tmp_path."""
    db = tmp_path / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(empty_store, db)
    return support.registry_at(tmp_path)


@pytest.fixture(scope="session")
def training_set() -> pd.DataFrame:
    return support.training_set()


@pytest.fixture(scope="session")
def split(training_set: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return training.split_training_set(training_set)


@pytest.fixture(scope="session")
def good_model(split) -> training.TrainedModel:
    return training.train(split[0])


@pytest.fixture(scope="session")
def bad_model(split) -> training.TrainedModel:
    return training.train(support.scrambled(split[0]))


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> support.Platform:
    """A small trained platform (validated days, Feast features, a champion) plus three
    days after its window. Read-only for tests, apart from days and caches they add."""
    return support.landed_platform(tmp_path_factory.mktemp("platform"))


class AlertReceiver:
    """A local HTTP server standing in for a chat's incoming webhook: keeps every JSON body
    posted to it and answers `status` (set 500 to play a broken receiver)."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        received = self.received = []
        receiver = self
        self.status = 200

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def kinds(self) -> list[str]:
        return [body["fraud_alert"]["kind"] for body in self.received]


@pytest.fixture
def alert_receiver(monkeypatch: pytest.MonkeyPatch):
    """A running receiver, with FRAUD_ALERT_WEBHOOK_URL pointing at it."""
    receiver = AlertReceiver()
    monkeypatch.setenv("FRAUD_ALERT_WEBHOOK_URL", receiver.url)
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()
