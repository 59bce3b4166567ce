"""The reference: the champion's training window from MLflow, or the days before."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from mlflow import MlflowClient

from fraud_assets import settings
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.monitoring import reference
from tests.support import day_key, write_day


def test_fallback_uses_the_days_before_and_says_so(tmp_path):
    for i in range(3, 10):
        write_day(tmp_path, day_key(i))
    ref = reference.resolve(day_key(10), None, fallback_days=5, max_rows=1_000, seed=0,
                            lake_root=tmp_path / "lake")
    assert ref.source == "previous_days"
    assert ref.days == tuple(day_key(i) for i in range(5, 10))
    assert "no champion model yet" in ref.description
    assert len(ref.frame) == 1_000 and ref.rows_available == 10_000


def test_no_data_at_all_is_said_plainly(tmp_path):
    ref = reference.resolve(day_key(0), None, 28, 1_000, 0, tmp_path / "lake")
    assert ref.source == "none" and ref.frame.empty
    assert "nothing to compare with" in ref.description


def test_an_absent_mlflow_store_means_no_champion_and_is_not_created(tmp_path):
    db = tmp_path / "mlflow" / "mlflow.db"
    registry = MlflowRegistry(tracking_uri=f"sqlite:///{db}")
    assert reference.champion_window(registry) is None
    assert not db.exists()


def _register_champion(db: Path, tags: dict[str, str]) -> MlflowRegistry:
    db.parent.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model(settings.REGISTERED_MODEL_NAME)
    version = client.create_model_version(settings.REGISTERED_MODEL_NAME,
                                          source=str(db.parent / "model"), tags=tags)
    client.set_registered_model_alias(settings.REGISTERED_MODEL_NAME, settings.CHAMPION_ALIAS,
                                      version.version)
    return MlflowRegistry(tracking_uri=uri)


def test_the_champions_training_window_is_read_from_its_version_tags(tmp_path):
    # Timestamps, as the model assets tag them.
    registry = _register_champion(tmp_path / "mlflow" / "mlflow.db", {
        "training_start": "2025-01-03T00:00:05+00:00",
        "training_end": "2025-01-06T23:59:40+00:00"})
    window = reference.champion_window(registry)
    assert window == reference.ChampionWindow("1", dt.date(2025, 1, 3), dt.date(2025, 1, 6))
    for i in range(0, 10):
        write_day(tmp_path, day_key(i))
    ref = reference.resolve(day_key(20), window, 28, 4_000, 0, tmp_path / "lake")
    assert ref.source == "champion" and ref.champion_version == "1"
    assert ref.days == ("2025-01-03", "2025-01-04", "2025-01-05", "2025-01-06")
    assert len(ref.frame) == 4_000  # 1,000 from each day: spread evenly
    assert "champion v1 training window 2025-01-03 .. 2025-01-06" in ref.description

    registry.tag_version("1", {"training_end": "soon"})
    with pytest.raises(ValueError, match="tag training_end='soon' is not a date"):
        reference.champion_window(registry)
