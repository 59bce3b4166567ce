"""Fixtures: a temporary MLflow store per test, and models trained once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from fraud_assets.model import training
from fraud_assets.model.registry import MlflowRegistry
from tests.model import helpers


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
    db = tmp_path / "mlflow.db"
    shutil.copyfile(empty_store, db)
    return MlflowRegistry(tracking_uri=f"sqlite:///{db}",
                          artifact_location=str(tmp_path / "artifacts"))


@pytest.fixture(scope="session")
def training_set() -> pd.DataFrame:
    return helpers.training_set()


@pytest.fixture(scope="session")
def split(training_set: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return training.split_training_set(training_set)


@pytest.fixture(scope="session")
def good_model(split) -> training.TrainedModel:
    return training.train(split[0])


@pytest.fixture(scope="session")
def bad_model(split) -> training.TrainedModel:
    return training.train(helpers.scrambled(split[0]))
