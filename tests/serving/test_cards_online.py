"""The per-card state in the service (issue 15), on a real `bentoml serve` with a real Feast
online store (SQLite): every scored request with a card reads and updates its card's state
through Feast, in time order whatever the arrival order; a card-less request says its card
features are unknown. The state is read back here by a second Feast store object on the
same state folder, as another replica would read it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from fraud_assets.features.card_state import CardState
from fraud_assets.features.names import CARD_FEATURES
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.orchestration.processes import Server
from serving.card_lookup import STALE, UNAVAILABLE, UNKNOWN, CardLookup
from tests.serving.support import GOOD, build_feature_store, running_server

pytestmark = pytest.mark.feast_store
T0 = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)


def at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def server(served_home: Path) -> Iterator[Server]:
    build_feature_store(served_home)  # applies the repository, card_state view included
    yield from running_server(served_home, poll_seconds=30)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_a_card_less_request_says_its_card_features_are_unknown(client: httpx.Client) -> None:
    body = client.post("/predict", json=GOOD).json()
    assert body["card_features"] == "unknown"
    assert body["feature_groups"]["card_velocity"]["feature_age_seconds"] is None
    assert body["stale"] is False
    assert client.get("/health").json()["cards"]["unknown_answers"] >= 1


def test_the_card_state_is_kept_in_time_order_through_feast(client: httpx.Client,
                                                            served_home: Path) -> None:
    card = "card-order-1"
    first = client.post("/predict", json={**GOOD, "card_id": card, "amount": 30.0,
                                          "event_timestamp": at(2)}).json()
    assert first["card_features"] == "known"
    assert first["feature_groups"]["card_velocity"]["feature_age_seconds"] is None  # new card
    late = client.post("/predict", json={**GOOD, "card_id": card, "amount": 10.0,
                                         "event_timestamp": at(0)}).json()
    # Out of order: the card's newest stored event is 2 minutes after this one.
    assert late["feature_groups"]["card_velocity"]["feature_age_seconds"] == -120.0
    assert late["feature_groups"]["card_velocity"]["stale"] is False
    results = client.post("/predict_batch", json={"transactions": [
        {**GOOD, "card_id": card, "amount": 40.0, "event_timestamp": at(4)},
        {**GOOD, "card_id": card, "amount": 20.0, "event_timestamp": at(1)},
        {**GOOD, "amount": 99.0}]}).json()["results"]
    assert [x["card_features"] for x in results] == ["known", "known", "unknown"]

    # What another replica sees: the state in the online store, every event in time order.
    stored = CardState(MerchantFeatureStore(served_home).feast).read([card])[card]
    assert stored.amounts.tolist() == [10.0, 20.0, 30.0, 40.0]
    expected = [pd.Timestamp(at(m)).value for m in (0, 1, 2, 4)]
    assert stored.times_ns.tolist() == expected
    assert stored.categories.tolist() == [GOOD["merchant_category"]] * 4


# -- the lookup's own paths, in process ------------------------------------------------
def rows(card: str | None, when: pd.Timestamp) -> tuple[np.ndarray, ...]:
    """One row as `CardLookup.read` takes it: card ids, event times (ns), amounts, categories."""
    return (np.array([card], object), np.array([when.value]), np.array([5.0]),
            np.array(["online"], object))


class _Broken:
    def score_and_update_arrays(self, *arrays: np.ndarray):
        raise ConnectionError("redis is gone")


class _OldCard:
    """A state whose card was last seen long ago (what CardState returns, shape only)."""

    def score_and_update_arrays(self, card_ids: np.ndarray, *arrays: np.ndarray):
        from fraud_assets.features.card_state import CardFeatures
        return CardFeatures(np.zeros((len(card_ids), len(CARD_FEATURES))), np.array([0.0]))


def test_an_unreadable_state_scores_the_card_as_unknown_and_is_reported() -> None:
    lookup = CardLookup(_Broken(), use_store=False)
    read = lookup.read(*rows("c", pd.Timestamp("2025-01-01", tz="UTC")), np.array([1e9]))
    assert read.status.tolist() == [UNAVAILABLE] and read.rows.isna().all().all()
    assert lookup.status()["failing"] and "redis is gone" in lookup.problem()


def test_a_card_state_older_than_its_limit_is_stale_and_unknown() -> None:
    lookup = CardLookup(_OldCard(), use_store=False)
    lookup._limit = 30 * 86_400.0  # the card_state view's tag, as registered
    read = lookup.read(*rows("c", pd.Timestamp("2025-01-01", tz="UTC")),
                       np.array([31 * 86_400.0]))
    assert read.status.tolist() == [STALE] and read.rows.isna().all().all()
    assert lookup.status()["freshness"]["card_velocity"]["stale_answers"] == 1


def test_no_card_means_no_state_call() -> None:
    read = CardLookup(_Broken(), use_store=False).read(
        *rows(None, pd.Timestamp("2025-01-01", tz="UTC")), np.array([1e9]))
    assert read.status.tolist() == [UNKNOWN]
