"""The daily card_features asset: point-in-time rows per transaction with a card, the Feast
card_velocity view over them, a bounded history."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance, Definitions, materialize

from fraud_assets import names
from fraud_assets.defs.features import assets as features
from fraud_assets.defs.features.resources import FeastStore
from fraud_assets.defs.resources import FraudHome, LakeIOManager
from fraud_assets.features import card_days, offline
from fraud_assets.features.cards import card_window_features
from fraud_assets.features.names import CARD_FEATURE_VIEW, CARD_FEATURES
from fraud_assets.features.store import MerchantFeatureStore
from tests.support import (
    day_key,
    lake_frame,
    land,
    metadata,
    run_day,
    validated_day,
    with_cards,
    write_validated,
)

ROWS = 600


def carded_day(day: str, seed: int) -> pd.DataFrame:
    return with_cards(validated_day(day, ROWS, seed=seed), seed)


def _resources() -> dict:
    return {"fraud_home": FraudHome(), "lake": LakeIOManager(),
            "feast_store": FeastStore(fraud_home=FraudHome())}


def _run(instance, day: str):
    result = materialize([features.card_features], instance=instance, resources=_resources(),
                         partition_key=day, raise_on_error=False)
    assert result.success, result.get_step_failure_events()
    return result


@pytest.fixture
def instance(fraud_home):
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_rows_are_the_definition_over_the_stored_days(fraud_home, instance):
    days = [day_key(i) for i in range(3)]
    frames = {day: carded_day(day, seed=i) for i, day in enumerate(days)}
    for day, frame in frames.items():
        write_validated(fraud_home, frame, day)
    for day in days:
        result = _run(instance, day)
    rows = pd.read_parquet(offline.day_file(fraud_home / "feast", dt.date.fromisoformat(days[2]),
                                            CARD_FEATURE_VIEW))
    today = frames[days[2]]
    carded = today[today["card_id"].notna()]
    assert list(rows.columns) == list(card_days.COLUMNS)
    assert len(rows) == len(carded) and rows["event_timestamp"].is_monotonic_increasing
    # Against the whole history in memory: the asset's bounded reads change nothing.
    want = card_window_features(pd.concat(frames.values(), ignore_index=True), carded)
    want = pd.concat([carded[["transaction_id"]], want], axis=1)
    got = rows.set_index("transaction_id").loc[want["transaction_id"], list(CARD_FEATURES)]
    np.testing.assert_array_equal(got.to_numpy(), want[list(CARD_FEATURES)].to_numpy())
    assert (rows["card_txn_count_24h"] > 0).mean() > 0.5  # the earlier days are used
    meta = metadata(result, names.CARD_FEATURES)
    assert meta["dagster/row_count"] == len(carded) and meta["transactions"] == ROWS
    assert meta["cards"] == carded["card_id"].nunique()
    assert meta["share_with_card"] == pytest.approx(len(carded) / ROWS)
    assert meta["history_days"] == 2
    earlier = pd.concat([frames[d] for d in days[:2]])
    assert meta["history_rows"] == earlier["card_id"].isin(set(carded["card_id"])).sum()

    # Backfilling a day again replaces its file with the same rows.
    first = offline.day_file(fraud_home / "feast", dt.date.fromisoformat(days[2]),
                             CARD_FEATURE_VIEW).read_bytes()
    _run(instance, days[2])
    assert offline.day_file(fraud_home / "feast", dt.date.fromisoformat(days[2]),
                            CARD_FEATURE_VIEW).read_bytes() == first
    assert offline.stored_days(fraud_home / "feast", CARD_FEATURE_VIEW) == days


def test_history_stops_at_thirty_days(fraud_home, instance):
    """A day reads the 30 days before it and no more: an older day changes nothing."""
    target = day_key(40)
    write_validated(fraud_home, carded_day(target, seed=1), target)
    write_validated(fraud_home, carded_day(day_key(10), seed=2), day_key(10))  # D-30: used
    alone = _run(instance, target)
    assert metadata(alone, names.CARD_FEATURES)["history_days"] == 1
    kept = offline.day_file(fraud_home / "feast", dt.date.fromisoformat(target),
                            CARD_FEATURE_VIEW).read_bytes()
    write_validated(fraud_home, carded_day(day_key(9), seed=3), day_key(9))  # D-31: not read
    assert metadata(_run(instance, target), names.CARD_FEATURES)["history_days"] == 1
    assert offline.day_file(fraud_home / "feast", dt.date.fromisoformat(target),
                            CARD_FEATURE_VIEW).read_bytes() == kept


def test_a_day_without_card_ids_has_no_rows(fraud_home, instance):
    day = day_key(0)
    write_validated(fraud_home, validated_day(day, ROWS), day)  # no card_id column at all
    result = _run(instance, day)
    meta = metadata(result, names.CARD_FEATURES)
    assert meta["dagster/row_count"] == 0 and meta["share_with_card"] == 0.0
    assert meta["transactions"] == ROWS
    assert offline.stored_days(fraud_home / "feast", CARD_FEATURE_VIEW) == []


def test_a_missing_validated_day_fails_naming_it(fraud_home, instance):
    result = materialize([features.card_features], instance=instance, resources=_resources(),
                         partition_key=day_key(0), raise_on_error=False)
    assert not result.success
    error = str(result.get_step_failure_events()[0].event_specific_data.error)
    assert "transactions_validated" in error and day_key(0) in error


def test_feast_serves_the_card_view_point_in_time(fraud_home, instance):
    day = day_key(0)
    frame = carded_day(day, seed=4)
    write_validated(fraud_home, frame, day)
    _run(instance, day)
    store = MerchantFeatureStore(fraud_home)
    store.apply()
    view = store.feast.get_feature_view(CARD_FEATURE_VIEW)
    assert [f.name for f in view.features] == list(CARD_FEATURES)
    rows = pd.read_parquet(offline.day_file(fraud_home / "feast", dt.date.fromisoformat(day),
                                            CARD_FEATURE_VIEW))
    # The card's latest row at or before a time one second after a transaction is that
    # transaction's own (nothing else of the card in between): Feast reads our files.
    last = rows.drop_duplicates("card_id", keep="last").head(5)
    entity = pd.DataFrame({"card_id": last["card_id"].astype(str).to_numpy(),
                           "event_timestamp": last["event_timestamp"] + pd.Timedelta(seconds=1)})
    got = store.feast.get_historical_features(
        entity_df=entity, features=[f"{CARD_FEATURE_VIEW}:{n}" for n in CARD_FEATURES]).to_df()
    got = got.set_index("card_id").loc[entity["card_id"], list(CARD_FEATURES)]
    np.testing.assert_allclose(got.to_numpy(), last[list(CARD_FEATURES)].to_numpy())


def test_lineage_declares_the_day_and_thirty_before():
    defs = Definitions(assets=[features.card_features], resources=_resources())
    graph = defs.resolve_asset_graph()
    validated = AssetKey(names.TRANSACTIONS_VALIDATED)
    mapping = graph.get_partition_mapping(AssetKey(names.CARD_FEATURES), validated)
    daily = features.daily_partitions
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        daily.subset_with_partition_keys(["2025-02-10"]), daily, daily)
    keys = sorted(upstream.partitions_subset.get_partition_keys())
    assert keys[0] == "2025-01-11" and keys[-1] == "2025-02-10" and len(keys) == 31


def test_the_daily_job_computes_card_features_from_a_landed_file(fraud_home, instance):
    """Landed file with card ids -> validated keeps them -> card_features in the same run."""
    day = day_key(9)
    path = land(fraud_home, day, rows=300)
    raw = pd.read_csv(path, dtype=str)
    raw["card_id"] = [f"card-{i % 11}" if i % 5 else "" for i in range(len(raw))]
    raw.to_csv(path, index=False)
    result = run_day(instance, day)
    assert result.success
    validated = lake_frame(fraud_home, names.TRANSACTIONS_VALIDATED, day)
    assert validated["card_id"].notna().sum() == 240  # blank = unknown, kept as missing
    meta = metadata(result, names.CARD_FEATURES)
    assert meta["dagster/row_count"] == 240 and meta["cards"] == 11
    assert meta["share_with_card"] == pytest.approx(0.8)
