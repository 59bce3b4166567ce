"""A registered model as loaded for scoring: one type for serving and monitoring.

`LoadedModel` is immutable: a caller takes one and uses its model, version and threshold
together, so a swap never mixes two versions in one answer. It comes from the MLflow
registry (`load_version`, `load_alias`, through the one registry client
`model.registry.MlflowRegistry`) or from a BentoML model that a built Bento carries
(`load_bento_model`; bentoml is imported only there).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fraud_assets import settings
from fraud_assets.features.names import FEATURES
from fraud_assets.model.decisions import POLICY_TAGS, Bands, DecisionPolicy
from fraud_assets.model.registry import (
    TAG_FEATURES,
    TAG_THRESHOLD,
    TAG_TRAINING_END,
    TAG_TRAINING_START,
    MlflowRegistry,
    RegistryError,
)

REGISTRY, BENTO = "registry", "bento"
# Where bentoml.mlflow.import_model puts the MLflow model inside a BentoML model.
BENTO_MLFLOW_FOLDER = "mlflow_model"
# What a BentoML model's metadata holds besides the version tags (see serving.bento_build).
META_NAME, META_VERSION, META_ALIAS, META_RUN_ID = ("registered_model_name", "version",
                                                   "alias", "run_id")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LoadedModel:
    """A loaded model version and what answers, /model-info and monitoring say about it."""

    model: Any  # fitted sklearn Pipeline: predict_proba(training.model_input(frame))
    name: str
    version: str
    alias: str | None
    run_id: str | None
    threshold: float
    training_start: str | None  # the version's tags as written at training time
    training_end: str | None
    features: tuple[str, ...]
    source: str  # REGISTRY or BENTO
    loaded_at: str = field(default_factory=_now)
    # Bands, costs, calibration and score -> FPR table stored with the version; None for a
    # version registered before decision bands existed (see `bands`).
    policy: DecisionPolicy | None = None

    @property
    def bands(self) -> Bands:
        """The version's review/block bands; without stored ones, no review band and
        `block` at the classification threshold (decision = block when is_fraud)."""
        return self.policy.bands if self.policy else Bands.from_threshold(self.threshold)

    def warnings(self) -> list[str]:
        """What a caller of /model-info should know about this version's decisions."""
        if self.policy is not None:
            return []
        return [f"version {self.version} has no decision bands stored (registered before "
                "them): decision is 'block' when is_fraud, else 'approve'; retrain to get "
                "review/block bands chosen by cost"]

    def info(self) -> dict[str, Any]:
        """The /model-info body."""
        decided = (self.policy.info() if self.policy else
                   {"decision_bands": self.bands.as_dict(), "decision_costs": None,
                    "calibration": None, "score_fpr_table": None})
        return {"registered_model_name": self.name, "version": self.version,
                "alias": self.alias, "run_id": self.run_id, "threshold": self.threshold,
                "training_window": {"start": self.training_start, "end": self.training_end},
                "features": list(self.features), "source": self.source,
                "loaded_at": self.loaded_at, **decided,
                "decision_bands_source": "stored" if self.policy else "threshold"}

    def training_days(self) -> tuple[dt.date | None, dt.date | None]:
        """First and last day of the training window (None where a tag is missing)."""
        return _day(self.training_start), _day(self.training_end)

    def trained_on(self, day: str) -> bool:
        """True if `day` lies inside the training window (its metrics are in-sample)."""
        start, end = self.training_days()
        if start is None or end is None:
            return False
        return start <= dt.date.fromisoformat(day) <= end


def _day(tag: str | None) -> dt.date | None:
    return pd.Timestamp(tag).date() if tag else None


def single_threaded(model: Any) -> Any:
    """n_jobs=1 everywhere: a one-row call fanning out to a pool is what made the
    handbook's server slow under load; concurrency comes from batching instead."""
    if hasattr(model, "get_params"):
        jobs = {k: 1 for k in model.get_params(deep=True) if k.endswith("n_jobs")}
        if jobs:
            model.set_params(**jobs)
    return model


def _features(raw: str | None) -> tuple[str, ...]:
    return tuple(x for x in raw.split(",") if x) if raw else FEATURES


def _threshold(tags: dict[str, Any], name: str, version: str) -> float:
    if not tags.get(TAG_THRESHOLD):
        raise RegistryError(f"version {version} of {name!r} has no {TAG_THRESHOLD!r} tag, "
                            "so it cannot be scored at its threshold")
    return float(tags[TAG_THRESHOLD])


def load_version(registry: MlflowRegistry, version: str,
                 alias: str | None = None) -> LoadedModel:
    """A registered version with its threshold and training window, loaded for scoring.

    `alias`: the alias it was looked up by, if any (reported by /model-info).
    """
    found = registry.version(version)
    tags = dict(found.tags or {})
    threshold = _threshold(tags, registry.model_name, version)
    return LoadedModel(
        model=single_threaded(registry.load_model(version)), name=registry.model_name,
        version=str(version), alias=alias, run_id=found.run_id, threshold=threshold,
        training_start=tags.get(TAG_TRAINING_START), training_end=tags.get(TAG_TRAINING_END),
        features=_features(tags.get(TAG_FEATURES)), source=REGISTRY,
        policy=DecisionPolicy.from_tags(tags, f"version {version} of {registry.model_name!r}"))


def load_alias(registry: MlflowRegistry,
               alias: str = settings.CHAMPION_ALIAS) -> LoadedModel | None:
    """The version behind `alias`, loaded; None while no version carries it (or the
    local store does not exist yet: asking would create it)."""
    if not registry.store_exists():
        return None
    version = registry.alias_version(alias)
    return None if version is None else load_version(registry, version, alias=alias)


def load_bento_model(tag: str) -> LoadedModel:
    """The model a built Bento carries (imported from MLflow by `serving.bento_build`)."""
    import bentoml
    import mlflow.sklearn

    stored = bentoml.models.get(tag)
    meta = dict(stored.info.metadata)
    model = mlflow.sklearn.load_model(stored.path_of(BENTO_MLFLOW_FOLDER))
    return LoadedModel(
        model=single_threaded(model), name=str(meta[META_NAME]),
        version=str(meta[META_VERSION]),
        alias=str(meta.get(META_ALIAS) or settings.CHAMPION_ALIAS),
        run_id=meta.get(META_RUN_ID) or None,
        threshold=_threshold(meta, str(meta[META_NAME]), str(meta[META_VERSION])),
        training_start=meta.get(TAG_TRAINING_START) or None,
        training_end=meta.get(TAG_TRAINING_END) or None,
        features=_features(str(meta.get(TAG_FEATURES) or "")), source=BENTO,
        policy=DecisionPolicy.from_tags(meta, f"BentoML model {tag}"))


def bento_metadata(registry: MlflowRegistry, version: str,
                   alias: str = settings.CHAMPION_ALIAS) -> dict[str, str]:
    """What `load_bento_model` reads back, for a version imported into a BentoML model."""
    found = registry.version(version)
    tags = dict(found.tags or {})
    return {META_NAME: registry.model_name, META_VERSION: str(found.version),
            META_ALIAS: alias, META_RUN_ID: found.run_id or "",
            **{k: str(tags.get(k, "")) for k in (TAG_THRESHOLD, TAG_TRAINING_START,
                                                 TAG_TRAINING_END, TAG_FEATURES,
                                                 *POLICY_TAGS)}}
