"""Freshness in every answer, on a real `bentoml serve` (issue 15).

The module's server reads a store whose newest merchant day is 2025-01-04, long past the
merchant view's two-day limit at arrival time: every answer says the group is stale and
is scored with the merchant features unknown (imputed, as with an unreadable store), and
/health counts those answers. The fresh case (a store ending today) is the module
test_http_contract's server, whose answers must say fresh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from fraud_assets.features.names import FEATURES
from fraud_assets.model import training
from fraud_assets.model.loaded import load_version
from fraud_assets.orchestration.processes import Server
from tests.serving.support import GOOD, build_feature_store, running_server, wait_for_log
from tests.support import FIRST, registry_at

pytestmark = pytest.mark.feast_store
LIMIT = 2 * 86_400.0
NEWEST_DAY = pd.Timestamp(FIRST + dt.timedelta(days=3), tz="UTC")  # FEATURE_DAYS = 4


@pytest.fixture(scope="module")
def server(served_home: Path) -> Iterator[Server]:
    build_feature_store(served_home, first=FIRST)  # 2025-01-01 .. 2025-01-04
    yield from running_server(served_home, poll_seconds=30)


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def unknown_merchant_probability(home: Path, rows: list[dict]) -> np.ndarray:
    """The champion's answer with the merchant features missing (the imputed path)."""
    model = load_version(registry_at(home), "1")
    frame = pd.DataFrame(rows).assign(**{f: np.nan for f in FEATURES})
    return training.fraud_probability(model.model, frame)


def test_a_stale_group_is_reported_and_scored_as_unknown(client: httpx.Client,
                                                         served_home: Path) -> None:
    before = dt.datetime.now(dt.UTC).timestamp()
    r = client.post("/predict", json=GOOD, headers={"X-Request-ID": "stale-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    group = body["feature_groups"]["merchant_stats"]
    assert body["stale"] is True and group["stale"] is True
    assert group["freshness_limit_seconds"] == LIMIT
    age_at_request = before - NEWEST_DAY.timestamp()
    assert age_at_request <= group["feature_age_seconds"] <= age_at_request + 60
    # The handbook's fields keep their meaning: the model's answer, with merchant unknown.
    assert body["fraud_probability"] == pytest.approx(
        unknown_merchant_probability(served_home, [GOOD])[0])
    (logged,) = wait_for_log(served_home, {"stale-1"}, count=1)
    assert logged["feature_source"] == "stale"
    assert all(logged[f] is None for f in FEATURES)


def test_batch_items_carry_freshness_and_health_counts_stale_answers(
        client: httpx.Client) -> None:
    counted = client.get("/health").json()["features"]["freshness"]["merchant_stats"]
    r = client.post("/predict_batch", json={"transactions": [GOOD, {**GOOD, "hour": 99},
                                                             GOOD]})
    results = r.json()["results"]
    assert [x.get("stale") for x in results] == [True, None, True]
    assert results[0]["feature_groups"]["merchant_stats"]["stale"] is True
    health = client.get("/health").json()
    now = health["features"]["freshness"]["merchant_stats"]
    assert now["stale_answers"] == counted["stale_answers"] + 2
    assert now["freshness_limit_seconds"] == LIMIT
    assert health["status"] == "healthy"  # stale data is the answers' business, not health's


# -- event_timestamp in the body (issue 15): the event's own time, else arrival ----------
def test_a_sent_event_time_is_used_and_said(client: httpx.Client, served_home: Path) -> None:
    """A replayed event of 2025-01-05 finds the store's 2025-01-04 rows fresh (34 h old):
    freshness is judged at the event's time, and the model gets the stored features."""
    r = client.post("/predict", json={**GOOD, "event_timestamp": "2025-01-05T10:00:00"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["event_timestamp"] == "2025-01-05T10:00:00Z"  # no offset = UTC
    assert body["event_timestamp_source"] == "request"
    group = body["feature_groups"]["merchant_stats"]
    assert group == {"feature_age_seconds": 34 * 3600.0, "stale": False,
                     "freshness_limit_seconds": LIMIT}
    assert body["stale"] is False
    assert body["fraud_probability"] != pytest.approx(
        unknown_merchant_probability(served_home, [GOOD])[0])


def test_without_event_time_the_arrival_is_used_and_said(client: httpx.Client) -> None:
    before = dt.datetime.now(dt.UTC)
    body = client.post("/predict", json={**GOOD, "event_timestamp": None}).json()
    assert body["event_timestamp_source"] == "arrival"
    used = dt.datetime.fromisoformat(body["event_timestamp"])
    assert before - dt.timedelta(seconds=1) <= used <= dt.datetime.now(dt.UTC)


def test_an_offset_is_converted_to_utc(client: httpx.Client) -> None:
    body = client.post("/predict", json={**GOOD,
                                         "event_timestamp": "2025-01-05T12:00:00+02:00"}).json()
    assert body["event_timestamp"] == "2025-01-05T10:00:00Z"


@pytest.mark.parametrize("value", ["yesterday", "", "2025-13-01T00:00:00Z", "12:00"])
def test_a_bad_event_time_is_400_naming_the_field(client: httpx.Client, value: str) -> None:
    r = client.post("/predict", json={**GOOD, "event_timestamp": value})
    assert r.status_code == 400
    (error,) = r.json()["detail"]["errors"]
    assert error.startswith("event_timestamp must be an ISO 8601 date and time")
    assert repr(value) in error


def test_an_event_time_that_is_not_text_is_422_naming_it(client: httpx.Client) -> None:
    r = client.post("/predict", json={**GOOD, "event_timestamp": 1735689600})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "event_timestamp"


def test_a_batch_item_with_a_bad_event_time_gets_its_error(client: httpx.Client) -> None:
    results = client.post("/predict_batch", json={"transactions": [
        {**GOOD, "event_timestamp": "2025-01-05T00:00:00Z"},
        {**GOOD, "event_timestamp": "soon", "hour": 99}, GOOD]}).json()["results"]
    assert results[0]["event_timestamp_source"] == "request"
    assert results[0]["feature_groups"]["merchant_stats"]["stale"] is False
    assert len(results[1]["errors"]) == 2 and "event_timestamp" in results[1]["errors"][1]
    assert results[2]["event_timestamp_source"] == "arrival" and results[2]["stale"] is True
