"""Fixtures for the serving tests: a real MLflow registry and a real `bentoml serve`.

Each test module gets its own state folder with a SQLite MLflow registry holding a
trained champion (version 1), and starts one server for all its tests. The Feast online
store is not materialized there, so features are imputed unless a test says otherwise
(those are marked `feast_store`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.serving.support import add_version
from tests.support import registry_at


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "feast_store: needs a materialized Feast online store")


@pytest.fixture(scope="module")
def served_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state folder whose registry has version 1 as champion."""
    home = tmp_path_factory.mktemp("served_home")
    add_version(registry_at(home), seed=1)
    return home
