"""The Feast objects: entities, offline sources, feature views and the feature service.

Built here, once, for both callers: `feature_repo/definitions.py` (the `feast` CLI) and
`features.store` (the Dagster assets and serving). Only the offline source path depends
on the state folder, so it is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Array, Float64, Int64, String

from fraud_assets.features import offline
from fraud_assets.features.aggregates import TIMESTAMP
from fraud_assets.features.cards import LOOKBACK
from fraud_assets.features.names import (
    CARD_ENTITY,
    CARD_FEATURE_VIEW,
    CARD_FEATURES,
    CARD_JOIN_KEY,
    CARD_STATE_FIELDS,
    CARD_STATE_TIMESTAMP,
    CARD_STATE_VIEW,
    ENTITY,
    FEATURE_SERVICE,
    FEATURE_VIEW,
    FRESHNESS_TAG,
)
from fraud_assets.features.schema import FEATURE_DTYPES

# A day's row is written at 00:00 of its day; two days of ttl keep it in reach for the
# whole day and the day after, so a missed daily run degrades to yesterday's row.
FEATURE_TTL = timedelta(days=2)
# Serving's freshness limit for the view (features/freshness.py): older values are stale and
# scored as unknown. The same two days: a day's row must serve until the next day's lands.
MERCHANT_FRESHNESS = FEATURE_TTL
FEAST_TYPES = {"float64": Float64, "int64": Int64}
# A card's row describes the card up to that transaction; after the longest look-back of
# the features (30 days) nothing of it is left.
CARD_FEATURE_TTL = LOOKBACK.to_pytimedelta()


@dataclass(frozen=True)
class FeastRepo:
    """The Feast objects of the platform, in apply order."""

    entity: Entity
    source: FileSource
    view: FeatureView
    service: FeatureService
    card_entity: Entity
    card_source: FileSource
    card_view: FeatureView
    card_state: FeatureView

    def objects(self) -> list:
        return [self.entity, self.card_entity, self.source, self.card_source, self.view,
                self.card_view, self.card_state.batch_source, self.card_state, self.service]


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
    card_entity, card_source, card_view = _card_objects(feast_dir)
    return FeastRepo(entity, source, view, service, card_entity, card_source, card_view,
                     _card_state_view(feast_dir, card_entity))


def _card_objects(feast_dir: Path) -> tuple[Entity, FileSource, FeatureView]:
    """The card entity and the `card_velocity` view over the card_features asset's files.

    One row per transaction with a card, at the transaction's own time, holding the
    features computed strictly before it (`features.cards`). Training joins them per
    transaction (`transaction_id`); Feast's as-of join by card would hand a transaction its
    own row. Not in the merchant feature service: online, the service computes the same
    numbers from the card's stored events with the same function.
    """
    entity = Entity(name=CARD_ENTITY, join_keys=[CARD_JOIN_KEY], value_type=ValueType.STRING,
                    description="the card (contract field card_id) a transaction was made with")
    source = FileSource(name=f"{CARD_FEATURE_VIEW}_source",
                        path=str(offline.source_dir(feast_dir, CARD_FEATURE_VIEW)),
                        timestamp_field=TIMESTAMP,
                        description="one parquet file per day of transactions, see "
                                    "features/card_days.py")
    view = FeatureView(
        name=CARD_FEATURE_VIEW, entities=[entity], ttl=CARD_FEATURE_TTL, source=source,
        online=False, schema=[Field(name=name, dtype=Float64) for name in CARD_FEATURES],
        description="per-card counts, sums, gaps and categories over 10 min .. 30 days "
                    "strictly before each transaction")
    return entity, source, view


def _card_state_view(feast_dir: Path, entity: Entity) -> FeatureView:
    """The service's per-card state (`features.card_state`): the card's events of the last
    30 days as arrays, written online by serving (`write_to_online_store`), never offline.

    Its freshness limit (the tag) is the features' longest look-back: a card whose newest
    stored event is older than that has nothing left that a window could count.
    """
    source = FileSource(name=f"{CARD_STATE_VIEW}_source",
                        path=str(offline.source_dir(feast_dir, CARD_STATE_VIEW)),
                        timestamp_field=CARD_STATE_TIMESTAMP,
                        description="not written: the state lives in the online store only")
    return FeatureView(
        name=CARD_STATE_VIEW, entities=[entity], ttl=CARD_FEATURE_TTL, source=source,
        online=True, offline=False,
        schema=[Field(name=name, dtype=dtype) for name, dtype in
                zip(CARD_STATE_FIELDS, (Array(Int64), Array(Float64), Array(String)),
                    strict=True)],
        tags={FRESHNESS_TAG: str(int(CARD_FEATURE_TTL.total_seconds()))},
        description="per card: the times (ns since epoch, UTC), amounts and merchant "
                    "categories of its events of the last 30 days, in time order")
