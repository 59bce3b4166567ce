"""The Feast objects: entity, offline source, feature view and feature service.

Built here, once, for both callers: `feature_repo/definitions.py` (the `feast` CLI) and
`features.store` (the Dagster assets and serving). Only the offline source path depends
on the state folder, so it is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float64, Int64

from fraud_assets.features import offline
from fraud_assets.features.aggregates import TIMESTAMP
from fraud_assets.features.names import ENTITY, FEATURE_SERVICE, FEATURE_VIEW, FRESHNESS_TAG
from fraud_assets.features.schema import FEATURE_DTYPES

# A day's row is written at 00:00 of its day; two days of ttl keep it in reach for the
# whole day and the day after, so a missed daily run degrades to yesterday's row.
FEATURE_TTL = timedelta(days=2)
# Serving's freshness limit for the view (features/freshness.py): older values are stale and
# scored as unknown. The same two days: a day's row must serve until the next day's lands.
MERCHANT_FRESHNESS = FEATURE_TTL
FEAST_TYPES = {"float64": Float64, "int64": Int64}


@dataclass(frozen=True)
class FeastRepo:
    """The Feast objects of the platform, in apply order."""

    entity: Entity
    source: FileSource
    view: FeatureView
    service: FeatureService

    def objects(self) -> list:
        return [self.entity, self.source, self.view, self.service]


def build_repo(feast_dir: Path) -> FeastRepo:
    """The Feast objects, reading the offline source under `feast_dir`."""
    entity = Entity(name=ENTITY, join_keys=[ENTITY], value_type=ValueType.STRING,
                    description="merchant category of a card transaction")
    source = FileSource(name=f"{FEATURE_VIEW}_source", path=str(offline.source_dir(feast_dir)),
                        timestamp_field=TIMESTAMP,
                        description="one parquet file per feature day, see features/offline.py")
    schema = [Field(name=name, dtype=FEAST_TYPES[dtype]) for name, dtype in FEATURE_DTYPES.items()]
    view = FeatureView(
        name=FEATURE_VIEW, entities=[entity], ttl=FEATURE_TTL, source=source, online=True,
        schema=schema,
        tags={FRESHNESS_TAG: str(int(MERCHANT_FRESHNESS.total_seconds()))},
        description="trailing-window merchant aggregates from days strictly before the row's day")
    service = FeatureService(name=FEATURE_SERVICE, features=[view],
                             description="the merchant features the fraud model uses")
    return FeastRepo(entity, source, view, service)
