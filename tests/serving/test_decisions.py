"""Decisions in the answers of a real `bentoml serve`: a version registered before decision
bands existed is still served (decision from is_fraud, a warning in /model-info), then a
version with bands answers approve / review / block at them. The tests run in order on
one server."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fraud_assets.model import deploy, training
from tests.serving.support import GOOD, add_version, running_server, training_frame, wait_for_log
from tests.support import register, registry_at

POLL_SECONDS = 0.5
# Scores from low to high: night hours and large amounts are the simulator's fraud.
ITEMS = [{**GOOD, "amount": a, "hour": h} for a, h in
         ((5.0, 12), (40.0, 14), (300.0, 22), (900.0, 2), (3000.0, 3), (20000.0, 1))]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1 champion, registered as before decision bands: no decision tags."""
    home = tmp_path_factory.mktemp("decisions_home")
    frame = training_frame(seed=1)
    old = dataclasses.replace(training.train(frame), policy=None, decision_metrics={})
    registry = registry_at(home)
    deploy.promote(registry, register(registry, old, frame).version, reason="old version")
    return home


@pytest.fixture(scope="module")
def client(home: Path) -> Iterator[httpx.Client]:
    for server in running_server(home, poll_seconds=POLL_SECONDS):
        with httpx.Client(base_url=server.url, timeout=30) as c:
            yield c


def _check_decisions(answers: list[dict], threshold: float | None = None) -> None:
    for answer in answers:
        bands, score = answer["decision_bands"], answer["fraud_probability"]
        expected = ("block" if score >= bands["block"] else
                    "review" if score >= bands["review"] else "approve")
        assert answer["decision"] == expected
        # is_fraud keeps its meaning: the version's classification threshold.
        assert answer["is_fraud"] == (score >= answer["threshold"])
        if threshold is not None:
            assert bands == {"review": threshold, "block": threshold}


def test_a_version_without_bands_is_served_and_decides_from_is_fraud(
        client: httpx.Client) -> None:
    info = client.get("/model-info").json()
    assert info["version"] == "1" and info["decision_bands_source"] == "threshold"
    assert any("no decision bands stored" in w for w in info["warnings"])
    answers = client.post("/predict_batch", json={"transactions": ITEMS}).json()["results"]
    answers.append(client.post("/predict", json=ITEMS[-1]).json())
    _check_decisions(answers, threshold=info["threshold"])
    assert {a["decision"] for a in answers} <= {"approve", "block"}
    assert {a["decision"] == "block" for a in answers} == {a["is_fraud"] for a in answers}


def test_a_version_with_bands_answers_at_them(client: httpx.Client, home: Path) -> None:
    add_version(registry_at(home), seed=2)  # trained now: bands stored, made champion
    deadline = time.monotonic() + 30
    while client.get("/model-info").json()["version"] != "2":
        assert time.monotonic() < deadline, "version 2 was never picked up"
        time.sleep(POLL_SECONDS)
    info = client.get("/model-info").json()
    assert info["decision_bands_source"] == "stored" and info["warnings"] == []
    bands = info["decision_bands"]
    assert 0 < bands["review"] <= bands["block"]
    assert info["decision_costs"]["review_capacity_per_day"] == 100
    assert info["calibration"]["method"] == "sigmoid"
    table = info["score_fpr_table"]
    assert {row["score"] for row in table} >= {round(bands["review"], 6)}
    rates = [row["false_positive_rate"] for row in sorted(table, key=lambda r: r["score"])]
    assert rates == sorted(rates, reverse=True)  # a higher score flags fewer legit rows
    answers = client.post("/predict_batch", json={"transactions": ITEMS},
                          headers={"X-Request-ID": "bands-batch"}).json()["results"]
    single = client.post("/predict", json=ITEMS[-1], headers={"X-Request-ID": "bands-one"})
    answers.append(single.json())
    _check_decisions(answers)
    assert all(a["decision_bands"] == bands and a["model_version"] == "2" for a in answers)
    assert {"approve", "block"} <= {a["decision"] for a in answers}
    logged = wait_for_log(home, {"bands-batch", "bands-one"}, count=len(answers))
    by_key = {(x["request_id"], x["item"]): x["decision"] for x in logged}
    assert by_key[("bands-one", 0)] == single.json()["decision"]
    assert [by_key[("bands-batch", i)] for i in range(len(ITEMS))] == [
        a["decision"] for a in answers[:-1]]
