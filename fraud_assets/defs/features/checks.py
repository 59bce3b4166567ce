"""Checks of the feature assets: the card features' online parity, and the online store's
freshness in the Dagster UI.

`card_online_parity` (on each `card_features` day): the day's transactions replayed through
serving's online card state (`features.card_parity`, a scratch Feast store) must give
exactly the offline rows; the metadata says how many were compared and how many differ.

The online store's freshness: Dagster's own freshness check on
`online_features`, with the merchant view's freshness limit, run by its sensor.

`online_features` stamps each materialization with the event time of the newest feature
day it loaded (`dagster/last_updated_timestamp`), so the check ages the data the store
serves, not the run that loaded it. The limit is the one serving applies to each answer
(`features.repo.MERCHANT_FRESHNESS`, the view's freshness tag): the UI turns red exactly
when answers start to be scored with the merchant features as unknown.

Dagster marks these builders "superseded" by `FreshnessPolicy`; the policy is still in
preview (it needs `freshness: enabled` in dagster.yaml, per Dagster's docs) while the
check runs on any instance, shows pass/fail next to the asset, and reads the data's time
from the metadata above. Their SupersessionWarning is silenced here, and only here.
"""
# No `from __future__ import annotations`: Dagster reads the check's context annotation.

import datetime as dt
import warnings

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetKey,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    asset_check,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
)

from fraud_assets import names
from fraud_assets.defs.features.resources import FeastStore
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome
from fraud_assets.features import card_parity
from fraud_assets.features.repo import MERCHANT_FRESHNESS

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*is superseded.*")
    online_store_freshness = build_last_update_freshness_checks(
        assets=[AssetKey(names.ONLINE_FEATURES)], lower_bound_delta=MERCHANT_FRESHNESS)
    online_store_freshness_sensor = build_sensor_for_freshness_checks(
        freshness_checks=online_store_freshness, name=names.ONLINE_FRESHNESS_SENSOR,
        default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=300)



@asset_check(asset=names.CARD_FEATURES, name=names.CARD_PARITY,
             partitions_def=daily_partitions, blocking=False,
             description="The day replayed through serving's online card state gives "
                         "exactly the offline card features")
def card_online_parity(context: AssetCheckExecutionContext, fraud_home: FraudHome,
                       feast_store: FeastStore) -> AssetCheckResult:
    day = dt.date.fromisoformat(context.partition_key)
    result = card_parity.replay_day(fraud_home.lake, feast_store.feast_dir, day)
    context.log.info(f"card parity {day}: {result.compared} compared, "
                     f"{result.differing} differing")
    return AssetCheckResult(passed=result.passed, metadata={
        "compared": result.compared, "differing": result.differing,
        "differing_per_feature": MetadataValue.json(result.per_feature),
        "differing_examples": ", ".join(result.examples) or "none"})


defs = Definitions(asset_checks=[*online_store_freshness, card_online_parity],
                   sensors=[online_store_freshness_sensor])
