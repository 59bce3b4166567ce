"""The online store's freshness in the Dagster UI: Dagster's own freshness check on
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

from __future__ import annotations

import warnings

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    Definitions,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
)

from fraud_assets import names
from fraud_assets.features.repo import MERCHANT_FRESHNESS

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*is superseded.*")
    online_store_freshness = build_last_update_freshness_checks(
        assets=[AssetKey(names.ONLINE_FEATURES)], lower_bound_delta=MERCHANT_FRESHNESS)
    online_store_freshness_sensor = build_sensor_for_freshness_checks(
        freshness_checks=online_store_freshness, name=names.ONLINE_FRESHNESS_SENSOR,
        default_status=DefaultSensorStatus.RUNNING, minimum_interval_seconds=300)

defs = Definitions(asset_checks=online_store_freshness, sensors=[online_store_freshness_sensor])
