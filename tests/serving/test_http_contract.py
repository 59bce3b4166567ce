"""Every line of the handbook's HTTP contract, against a real `bentoml serve`."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import hypothesis
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis import GenerationMode

from fraud_assets import contract, settings
from fraud_assets.features.names import FEATURES
from fraud_assets.features.online import online_features
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.model import training
from fraud_assets.orchestration.processes import Server as BentoServer
from tests.serving.support import GOOD, build_feature_store, running_server, wait_for_log


@pytest.fixture(scope="module")
def server(served_home: Path) -> Iterator[BentoServer]:
    """A server on a state folder with a champion and a materialized Feast online store."""
    build_feature_store(served_home)
    yield from running_server(served_home, poll_seconds=30)


@pytest.fixture(scope="module")
def client(server: BentoServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def post(client: httpx.Client, path: str, content: bytes | str) -> httpx.Response:
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


def expected_probability(home: Path, rows: list[dict]) -> np.ndarray:
    """The champion's own answer in this process, with the store's online features."""
    uri = f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = mlflow.sklearn.load_model(f"models:/{settings.REGISTERED_MODEL_NAME}@champion")
    frame = pd.DataFrame(rows)
    features = online_features(frame, store=MerchantFeatureStore(home))
    return training.fraud_probability(model, pd.concat([frame, features], axis=1))


# -- POST /predict: the happy path ------------------------------------------------------
@pytest.mark.feast_store
def test_predict_answers_with_the_champion(client: httpx.Client, served_home: Path) -> None:
    r = client.post("/predict", json=GOOD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["is_fraud"], bool)
    assert 0.0 <= body["fraud_probability"] <= 1.0
    assert body["model_version"] == "1"
    assert body["is_fraud"] == (body["fraud_probability"] >= body["threshold"])
    assert body["fraud_probability"] == pytest.approx(expected_probability(served_home, [GOOD])[0])
    assert r.headers["x-request-id"] == body["request_id"]
    # Freshness (issue 15): the store's newest day is today, inside the two-day limit.
    group = body["feature_groups"]["merchant_stats"]
    assert body["stale"] is False and group["stale"] is False
    assert 0 <= group["feature_age_seconds"] <= 86_400 < group["freshness_limit_seconds"]


def test_predict_keeps_a_given_request_id(client: httpx.Client) -> None:
    r = client.post("/predict", json=GOOD, headers={"X-Request-ID": "abc-123"})
    assert r.json()["request_id"] == "abc-123" == r.headers["x-request-id"]


# -- 400: values outside the contract -----------------------------------------------------
@pytest.mark.parametrize("field,value", [
    ("amount", 0), ("amount", -5.0), ("amount", 50_000.01), ("hour", 24), ("hour", -1),
    ("day_of_week", 7), ("merchant_category", "casino"), ("merchant_category", ""),
])
def test_value_outside_contract_is_400(client: httpx.Client, field: str, value: object) -> None:
    sent = {**GOOD, field: value}
    r = client.post("/predict", json=sent)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert detail["message"] == "Validation failed"
    assert detail["input"] == sent
    assert detail["errors"] == [f"{contract.FIELDS_BY_NAME[field].rule()} (got {value!r})"]


def test_every_bad_field_is_reported_at_once(client: httpx.Client) -> None:
    sent = {"amount": -1, "hour": 25, "day_of_week": 9, "merchant_category": "casino"}
    r = client.post("/predict", json=sent)
    assert r.status_code == 400
    errors = r.json()["detail"]["errors"]
    assert len(errors) == 4
    for f, error in zip(contract.REQUEST_FIELDS, errors, strict=True):
        assert error.startswith(f.name)


def test_boundaries_inside_the_contract_are_scored(client: httpx.Client) -> None:
    for sent in ({**GOOD, "amount": 50_000}, {**GOOD, "amount": 0.01},
                 {**GOOD, "hour": 0, "day_of_week": 6}, {**GOOD, "hour": 23.0}):
        assert client.post("/predict", json=sent).status_code == 200, sent


# -- the optional card_id (issue 15) ---------------------------------------------------------
LONG_CARD = "c" * (contract.CARD_ID_MAX_LENGTH + 1)


@pytest.mark.parametrize("value", ["", "  ", LONG_CARD])
def test_an_empty_or_too_long_card_id_is_400_naming_it(client: httpx.Client,
                                                       value: str) -> None:
    sent = {**GOOD, "card_id": value}
    r = client.post("/predict", json=sent)
    assert r.status_code == 400, r.text
    assert r.json()["detail"]["errors"] == [f"{contract.CARD_ID.rule()} (got {value!r})"]
    batch = client.post("/predict_batch", json={"transactions": [sent, GOOD]}).json()
    assert batch["results"][0] == {"errors": [f"{contract.CARD_ID.rule()} (got {value!r})"]}
    assert "fraud_probability" in batch["results"][1]


@pytest.mark.parametrize("value", [7, True, ["card"]])
def test_a_card_id_that_is_not_a_string_is_422_naming_it(client: httpx.Client,
                                                         value: object) -> None:
    r = client.post("/predict", json={**GOOD, "card_id": value})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", "card_id"] and error["input"] == value
    batch = client.post("/predict_batch", json={"transactions": [{**GOOD, "card_id": value}]})
    assert batch.json()["results"][0] == {
        "errors": [f"card_id: {error['msg']} (got {value!r})"]}


def test_a_card_id_left_out_null_or_given_is_scored(client: httpx.Client) -> None:
    plain = client.post("/predict", json=GOOD)
    unknown = client.post("/predict", json={**GOOD, "card_id": None})
    assert plain.status_code == unknown.status_code == 200
    assert unknown.json()["fraud_probability"] == plain.json()["fraud_probability"]
    given = client.post("/predict", json={**GOOD, "card_id": "card-42"})
    assert given.status_code == 200, given.text


# -- 422: missing fields, wrong JSON types -------------------------------------------------
@pytest.mark.parametrize("field", [f.name for f in contract.REQUEST_FIELDS])
def test_missing_field_is_422_naming_it(client: httpx.Client, field: str) -> None:
    sent = {k: v for k, v in GOOD.items() if k != field}
    r = client.post("/predict", json=sent)
    assert r.status_code == 422
    assert r.json()["detail"] == [{"type": "missing", "loc": ["body", field],
                                   "msg": "Field required", "input": sent}]


WRONG_TYPES = [
    ("amount", True), ("amount", False), ("amount", None), ("amount", [1]), ("amount", "abc"),
    ("amount", ""), ("hour", True), ("hour", "14.5"), ("hour", 14.5), ("hour", False),
    ("day_of_week", {"d": 3}), ("merchant_category", 3), ("merchant_category", None),
]


@pytest.mark.parametrize("field,value", WRONG_TYPES)
def test_wrong_json_type_is_422_naming_it(client: httpx.Client, field: str,
                                          value: object) -> None:
    r = client.post("/predict", json={**GOOD, field: value})
    assert r.status_code == 422, r.text
    [error] = r.json()["detail"]
    assert error["loc"] == ["body", field]
    assert error["input"] == value


@pytest.mark.parametrize("field,value", WRONG_TYPES)
def test_batch_item_of_wrong_json_type_gets_the_same_error(client: httpx.Client, field: str,
                                                           value: object) -> None:
    """One rule on both routes: what /predict refuses with 422, a batch item is refused
    for, with the same message, while the other items are scored."""
    single = client.post("/predict", json={**GOOD, field: value}).json()["detail"][0]
    r = client.post("/predict_batch", json={"transactions": [{**GOOD, field: value}, GOOD]})
    assert r.status_code == 200, r.text
    bad, good = r.json()["results"]
    assert bad == {"errors": [f"{field}: {single['msg']} (got {value!r})"]}
    assert "fraud_probability" in good


def test_booleans_are_never_numbers(client: httpx.Client) -> None:
    for field in ("amount", "hour", "day_of_week"):
        r = client.post("/predict", json={**GOOD, field: True})
        assert r.status_code == 422
        assert r.json()["detail"][0]["msg"] == (
            f"Input should be a valid {'number' if field == 'amount' else 'integer'} "
            "(a JSON number, or a string holding one)")


TEXT_NUMBERS = {"amount": "150.0", "hour": "14", "day_of_week": " 3 "}


@pytest.mark.parametrize("path", ["/predict", "/predict_batch"])
def test_numbers_sent_as_text_are_read_as_numbers(client: httpx.Client, served_home: Path,
                                                  path: str) -> None:
    """FastAPI's default reading, which handbook clients rely on: the same answer as for
    the numbers themselves, and the numbers (not the text) in the prediction log."""
    sent = {**GOOD, **TEXT_NUMBERS}
    rid = f"text-numbers{path.replace('/', '-')}"
    as_numbers = client.post("/predict", json=GOOD).json()
    body = sent if path == "/predict" else {"transactions": [sent, {**sent, "hour": "14.0"}]}
    r = client.post(path, json=body, headers={"X-Request-ID": rid})
    assert r.status_code == 200, r.text
    answers = [r.json()] if path == "/predict" else r.json()["results"]
    for answer in answers:
        assert answer["fraud_probability"] == as_numbers["fraud_probability"]
    logged = wait_for_log(served_home, {rid}, count=len(answers))
    assert len(logged) == len(answers)
    for line in logged:
        assert {k: line[k] for k in GOOD} == GOOD  # 150.0, 14, 3: numbers
        assert isinstance(line["hour"], int) and isinstance(line["amount"], float)


def test_text_numbers_keep_the_value_rules(client: httpx.Client) -> None:
    r = client.post("/predict", json={**GOOD, "amount": "-5", "hour": "24"})
    assert r.status_code == 400
    assert r.json()["detail"]["errors"] == ["amount must be > 0 and <= 50000 (got '-5')",
                                            "hour must be >= 0 and <= 23 (got '24')"]


@pytest.mark.parametrize("body", ["[1, 2]", "\"text\"", "42", "null"])
def test_body_that_is_not_an_object_is_422(client: httpx.Client, body: str) -> None:
    r = post(client, "/predict", body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body"]


# -- other 4xx: unusable bodies, never a 500, never a prediction -------------------------
@pytest.mark.parametrize("body,status,words", [
    ("", 400, "empty"),
    ("   \n", 400, "empty"),
    ('{"amount": 150.0, "hour": ', 400, "Malformed JSON"),
    ("{'amount': 1}", 400, "Malformed JSON"),
    ('{"amount": NaN, "hour": 14, "day_of_week": 3, "merchant_category": "online"}', 400,
     "NaN"),
    ('{"amount": Infinity, "hour": 14, "day_of_week": 3, "merchant_category": "online"}',
     400, "Infinity"),
    ('{"amount": -Infinity, "hour": 14, "day_of_week": 3, "merchant_category": "online"}',
     400, "Infinity"),
    ('{"amount": 1e999, "hour": 14, "day_of_week": 3, "merchant_category": "online"}', 400,
     "1e999"),
    ("[" * 100_000, 413, "too large"),
    ("[" * 50_000, 400, "Malformed JSON"),
])
def test_unusable_body_is_a_clear_4xx(client: httpx.Client, body: str, status: int,
                                      words: str) -> None:
    r = post(client, "/predict", body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert words in detail
    assert "fraud_probability" not in r.text


@pytest.mark.parametrize("path", ["/predict", "/predict_batch"])
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_a_body_that_is_not_json_by_type_is_415_and_not_logged(client: httpx.Client, path: str,
                                                                content_type: str) -> None:
    body = json.dumps(GOOD if path == "/predict" else {"transactions": [GOOD]})
    r = client.post(path, content=body, headers={"Content-Type": content_type,
                                                 "X-Request-ID": "not-json-type"})
    assert r.status_code == 415, r.text
    assert content_type.split(";")[0] in r.json()["detail"]
    assert r.headers["x-request-id"] == "not-json-type"
    for ok_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        assert client.post(path, content=body,
                           headers={"Content-Type": ok_type}).status_code == 200


TOO_LONG = "1" * 5_001


@pytest.mark.parametrize("path,body,where", [
    ("/predict", f'{{"amount": {TOO_LONG}, "hour": 14, "day_of_week": 3, '
                 '"merchant_category": "online"}', "amount"),
    ("/predict", f'{{"amount": 150.0, "hour": -{TOO_LONG}, "day_of_week": 3, '
                 '"merchant_category": "online"}', "hour"),
    ("/predict_batch", f'{{"transactions": [{json.dumps(GOOD)}, {{"amount": 1, "hour": 2, '
                       f'"day_of_week": {TOO_LONG}, "merchant_category": "online"}}]}}',
     "transactions[1].day_of_week"),
])
def test_a_number_too_long_is_400_naming_the_field(client: httpx.Client, served_home: Path,
                                                   path: str, body: str, where: str) -> None:
    """Not Python's advice to its own programmer (sys.set_int_max_str_digits), and nothing
    of the request scored or logged."""
    r = client.post(path, content=body, headers={"Content-Type": "application/json",
                                                 "X-Request-ID": "too-long"})
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": f"{where}: the number is too long (5,001 digits; the "
                                  "limit is 4,300)"}
    time.sleep(0.5)  # the log's writer thread has had time to write anything it got
    assert wait_for_log(served_home, {"too-long"}, count=1, timeout=0) == []


@pytest.mark.parametrize("body,where", [
    ('{"amount": NaN, "hour": 14, "day_of_week": 3, "merchant_category": "online"}',
     "amount: NaN is not"),
    ('{"transactions": [{"amount": 1e999, "hour": 14}]}', "transactions[0].amount: 1e999 is"),
])
def test_a_number_that_is_not_finite_names_the_field(client: httpx.Client, body: str,
                                                     where: str) -> None:
    r = post(client, "/predict_batch" if "transactions" in body else "/predict", body)
    assert r.status_code == 400
    assert r.json()["detail"].startswith(where)


def test_invalid_utf8_is_400(client: httpx.Client) -> None:
    r = post(client, "/predict", b'{"merchant_category": "\xff"}')
    assert r.status_code == 400
    assert "Malformed JSON" in r.json()["detail"]


def test_huge_body_is_413(client: httpx.Client) -> None:
    body = json.dumps({**GOOD, "padding": "x" * 5_000_000})
    r = post(client, "/predict", body)
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]


def test_lone_surrogate_is_echoed_not_a_500(client: httpx.Client) -> None:
    r = post(client, "/predict", '{"amount": 1, "hour": 1, "day_of_week": 1, '
                                 '"merchant_category": "\\ud800"}')
    assert r.status_code == 400
    assert r.json()["detail"]["input"]["merchant_category"] == "\ud800"


# -- health, model info, BentoML built-ins --------------------------------------------------
def test_health_reports_the_answering_version(client: httpx.Client) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "healthy"
    assert body["model_version"] == "1"
    assert body["registry"]["reachable"] is True
    assert body["features"]["failing"] is False and body["warnings"] == []


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/metrics"])
def test_bentoml_builtins_stay(client: httpx.Client, path: str) -> None:
    assert client.get(path).status_code == 200


def test_model_info(client: httpx.Client) -> None:
    info = client.get("/model-info").json()
    assert info["registered_model_name"] == settings.REGISTERED_MODEL_NAME
    assert info["version"] == "1"
    assert info["alias"] == settings.CHAMPION_ALIAS
    assert len(info["run_id"]) == 32
    assert 0.0 < info["threshold"] < 1.0
    assert info["training_window"]["start"] < info["training_window"]["end"]
    assert info["features"] == list(FEATURES)


# -- POST /predict_batch ---------------------------------------------------------------------
def test_batch_answers_each_item_in_order(client: httpx.Client) -> None:
    items = [GOOD, {**GOOD, "amount": -1}, {**GOOD, "hour": "x"}, {**GOOD, "amount": 9000.0,
                                                                    "hour": 3}, "oops"]
    r = client.post("/predict_batch", json={"transactions": items})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(items)
    single = client.post("/predict", json=GOOD).json()
    assert results[0]["fraud_probability"] == pytest.approx(single["fraud_probability"])
    assert results[1] == {"errors": ["amount must be > 0 and <= 50000 (got -1)"]}
    assert results[2]["errors"][0].startswith("hour: Input should be a valid integer")
    assert "is_fraud" in results[3]
    assert results[4]["errors"] == ["item: Input should be a JSON object (got 'oops')"]


@pytest.mark.feast_store
def test_batch_of_10k_is_scored_whole(client: httpx.Client, served_home: Path) -> None:
    """A full 10,000-row batch is answered row for row with the model's probabilities.

    Its speed is measured by `python -m benchmarks.serving_load --batch-runs N`, not here.
    """
    rng = np.random.default_rng(0)
    items = [{"amount": float(a), "hour": int(h), "day_of_week": int(d),
              "merchant_category": str(c)} for a, h, d, c in zip(
        rng.uniform(1, 5000, 10_000).round(2), rng.integers(0, 24, 10_000),
        rng.integers(0, 7, 10_000), rng.choice(contract.MERCHANT_CATEGORIES, 10_000),
        strict=True)]
    r = post(client, "/predict_batch", json.dumps({"transactions": items}))
    assert r.status_code == 200
    results = r.json()["results"]
    assert len(results) == 10_000 and all("fraud_probability" in x for x in results)
    for chunk in (slice(0, 50), slice(9_950, 10_000)):
        expected = expected_probability(served_home, items[chunk])
        assert [x["fraud_probability"] for x in results[chunk]] == pytest.approx(expected)
    assert "dur=" in r.headers["server-timing"]


@pytest.mark.parametrize("payload,status", [
    ({"transactions": "nope"}, 422), ({"items": []}, 422), ([GOOD], 422),
    ({"transactions": [GOOD] * 10_001}, 413),
])
def test_batch_envelope_errors(client: httpx.Client, payload: object, status: int) -> None:
    assert client.post("/predict_batch", json=payload).status_code == status


def test_empty_batch_is_an_empty_answer(client: httpx.Client) -> None:
    r = client.post("/predict_batch", json={"transactions": []})
    assert r.status_code == 200 and r.json()["results"] == []


# -- prediction log ----------------------------------------------------------------------------
@pytest.mark.feast_store
def test_answered_requests_are_logged(client: httpx.Client, served_home: Path) -> None:
    rid = "log-check-1"
    answer = client.post("/predict", json={**GOOD, "transaction_id": "t-42"},
                         headers={"X-Request-ID": rid}).json()
    client.post("/predict_batch", json={"transactions": [GOOD, {**GOOD, "hour": 99}, GOOD]},
                headers={"X-Request-ID": "log-check-batch"})
    lines = wait_for_log(served_home, {rid, "log-check-batch"}, count=3)
    single = next(x for x in lines if x["request_id"] == rid)
    assert single["fraud_probability"] == pytest.approx(answer["fraud_probability"])
    assert single["is_fraud"] == answer["is_fraud"]
    assert single["model_version"] == "1" and single["endpoint"] == "predict"
    assert single["transaction_id"] == "t-42"
    assert {k: single[k] for k in GOOD} == GOOD
    assert single["feature_source"] == "feast"
    stored = online_features(pd.DataFrame([GOOD]), store=MerchantFeatureStore(served_home))
    assert [single[f] for f in FEATURES] == pytest.approx(stored.iloc[0][list(FEATURES)])
    assert sorted(x["item"] for x in lines if x["request_id"] == "log-check-batch") == [0, 2]


# -- documentation ------------------------------------------------------------------------------
def test_openapi_page_shows_the_request_schema(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/TransactionRequest")
    assert client.get("/docs").status_code == 200


# -- fuzz: schemathesis from the served OpenAPI schema ---------------------------------------
# Bodies generated from the schema, valid and broken (wrong types, missing fields, other
# media types), go to every operation; each answer must be no 5xx, a documented status code
# and content type, and a body in the documented shape (`api_responses.BODY_ERRORS` for the
# 4xx of a route that reads JSON, FastAPI's own 422). The number of examples is bounded
# (about 15 s on 2 cores, on this module's server) and the seed fixed, so a failure replays.
# Not checked: `negative_data_rejection`, because the schema says `number` for `amount`
# while the service also reads a string holding one ("150.0"), as FastAPI's default does
# (serving/schemas.py): such a "negative" example is rightly answered 200.
# Per operation and mode; FRAUD_FUZZ_EXAMPLES=1000 for a deeper search by hand.
EXAMPLES = int(os.environ.get("FRAUD_FUZZ_EXAMPLES", "50"))
POST = ("POST /predict", "POST /predict_batch")
GET = ("GET /health", "GET /model-info")
CHECKS = [schemathesis.checks.not_a_server_error,
          schemathesis.checks.status_code_conformance,
          schemathesis.checks.content_type_conformance,
          schemathesis.checks.response_schema_conformance,
          schemathesis.checks.positive_data_acceptance]


@pytest.fixture(scope="module")
def api_schema(server: BentoServer) -> schemathesis.BaseSchema:
    """The schema as the server publishes it (/openapi.json), requests sent to it."""
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


def test_fuzz_covers_every_operation_of_the_schema(api_schema: schemathesis.BaseSchema
                                                   ) -> None:
    found = {f"{op.ok().method.upper()} {op.ok().path}" for op in api_schema.get_all_operations()}
    assert found == set(POST + GET)


# Schemathesis' own pytest plugin (`schema.parametrize`, `from_fixture`) sets a private
# attribute that pytest 9.2 no longer has, so each operation's strategy is run by
# Hypothesis directly: the same cases and checks.
@pytest.mark.parametrize("label,mode", [(op, m) for op in POST for m in GenerationMode]
                         + [(op, GenerationMode.POSITIVE) for op in GET])
def test_every_answer_is_documented_and_no_5xx(api_schema: schemathesis.BaseSchema,
                                               label: str, mode: GenerationMode) -> None:
    method, path = label.split(" ")
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                        suppress_health_check=list(HealthCheck))
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=CHECKS, timeout=30)

    call()


# -- reason codes ---------------------------------------------------------------------
def test_every_answer_carries_its_top_three_reasons(client: httpx.Client) -> None:
    body = client.post("/predict", json={**GOOD, "hour": 3}).json()
    reasons = body["reasons"]
    assert len(reasons) == 3 and len({r["feature"] for r in reasons}) == 3
    assert all(r["feature"] in training.MODEL_INPUTS for r in reasons)
    assert all(r["text"].startswith(f"{r['feature']}=") and "log-odds" in r["text"]
               for r in reasons)
    assert [abs(r["contribution"]) for r in reasons] == sorted(
        (abs(r["contribution"]) for r in reasons), reverse=True)
    batch = client.post("/predict_batch", json={"transactions": [GOOD]}).json()
    assert batch["results"][0]["reasons"] == client.post("/predict", json=GOOD).json()["reasons"]
    bulk = client.post("/predict_batch?explain=false", json={"transactions": [GOOD]}).json()
    assert "reasons" not in bulk["results"][0]
    assert bulk["results"][0]["fraud_probability"] == batch["results"][0]["fraud_probability"]


def test_metrics_count_answers_scores_and_feature_sources(client: httpx.Client) -> None:
    def value(text: str, name: str, **labels: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + "{") and all(f'{k}="{v}"' in line
                                                   for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = client.get("/metrics").text
    items = [GOOD, {**GOOD, "amount": 4000.0, "hour": 2}, GOOD]
    assert client.post("/predict_batch", json={"transactions": items}).status_code == 200
    after = client.get("/metrics").text
    answered = sum(value(after, "fraud_answers_total", model_version="1", decision=d)
                   - value(before, "fraud_answers_total", model_version="1", decision=d)
                   for d in ("flagged", "approved"))
    assert answered == 3
    assert (value(after, "fraud_score_count", model_version="1")
            - value(before, "fraud_score_count", model_version="1")) == 3
    lookups = sum(value(after, "fraud_feature_lookups_total", source=s)
                  - value(before, "fraud_feature_lookups_total", source=s)
                  for s in ("feast", "feast_prior", "imputed"))
    assert lookups == 3
