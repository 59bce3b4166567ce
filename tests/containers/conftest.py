"""The container suites' fixtures: the engine, and the API image built from the working tree
(once per session, shared by test_images.py and test_topology.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fraud_assets import settings
from fraud_assets.orchestration import containers
from tests import support
from tests.containers.support import BEFORE, listening_ports


@pytest.fixture(scope="session")
def engine() -> containers.Engine:
    BEFORE.update(listening_ports())
    try:
        found = containers.find_engine()
    except containers.ContainerError as exc:
        pytest.skip(str(exc))
    if not found.has_image(containers.BASE_IMAGE):
        # No registry access here: the Debian stand-in (about a minute).
        containers.build_base_image(found)
    return found


@pytest.fixture(scope="session")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A platform state folder: validated days ending today (merchant features fresh by the
    wall clock, so answers use them), a materialized online store, a champion."""
    home = tmp_path_factory.mktemp("container_state")
    support.build_platform(home, first=support.recent_first(support.TRAINING_DAYS))
    return home


@pytest.fixture(scope="session")
def api_image(engine: containers.Engine, state: Path) -> str:
    """The champion's Bento, containerized."""
    env = {"FRAUD_HOME": str(state), "BENTOML_HOME": str(state.parent / "bentoml"),
           "MLFLOW_TRACKING_URI": support.registry_at(state).tracking_uri}
    built = subprocess.run([sys.executable, "-m", "serving.bento_build"], env=os.environ | env,
                           cwd=settings.REPO_ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    tag = json.loads(built.stdout.strip().splitlines()[-1])["bento_tag"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENTOML_HOME", env["BENTOML_HOME"])
        started = time.monotonic()
        image = containers.build_api_image(engine, tag, f"{containers.API_IMAGE}:test")
    print(f"API image built in {time.monotonic() - started:.0f}s, "
          f"{engine.size_mb(image):,.0f} MB")
    return image
