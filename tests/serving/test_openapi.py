"""The request bodies are documented: pydantic models derived from the contract."""

from __future__ import annotations

from typing import Any

import pytest

from fraud_assets import contract

JSON_TYPES = {"float": "number", "int": "integer", "category": "string", "string": "string"}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    from serving.service import app

    return app.openapi()


def _body_schema(openapi: dict[str, Any], path: str) -> dict[str, Any]:
    body = openapi["paths"][path]["post"]["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    return openapi["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_predict_documents_the_contract_fields(openapi: dict[str, Any]) -> None:
    schema = _body_schema(openapi, "/predict")
    assert schema["title"] == "TransactionRequest"
    assert set(schema["required"]) == {f.name for f in contract.REQUEST_FIELDS}
    for f in contract.REQUEST_FIELDS:
        prop = schema["properties"][f.name]
        assert prop["type"] == JSON_TYPES[f.kind], f.name
        assert f.description.lower() in prop["description"].lower()
        assert f.rule() in prop["description"]
    assert schema["properties"]["merchant_category"]["enum"] == list(
        contract.MERCHANT_CATEGORIES)
    assert contract.TRANSACTION_ID.name in schema["properties"]
    card = schema["properties"][contract.CARD_ID.name]  # optional: not in "required"
    assert {t["type"] for t in card["anyOf"]} == {"string", "null"}
    assert (card["minLength"], card["maxLength"]) == (1, contract.CARD_ID_MAX_LENGTH)
    assert contract.CARD_ID.rule() in card["description"]


def test_predict_batch_documents_its_items(openapi: dict[str, Any]) -> None:
    schema = _body_schema(openapi, "/predict_batch")
    items = schema["properties"]["transactions"]
    assert schema["required"] == ["transactions"] and items["type"] == "array"
    item = items["items"]  # inlined: the items skip per-model validation (schemas.py)
    if "$ref" in item:
        item = openapi["components"]["schemas"][item["$ref"].rsplit("/", 1)[-1]]
    assert item["properties"] == _body_schema(openapi, "/predict")["properties"]


def test_validation_errors_are_documented(openapi: dict[str, Any]) -> None:
    for path in ("/predict", "/predict_batch"):
        assert "422" in openapi["paths"][path]["post"]["responses"]


def test_value_rules_are_documented_as_json_schema(openapi: dict[str, Any]) -> None:
    props = _body_schema(openapi, "/predict")["properties"]
    assert props["amount"]["exclusiveMinimum"] == 0 and props["amount"]["maximum"] == 50_000
    assert (props["hour"]["minimum"], props["hour"]["maximum"]) == (0, 23)
    assert "string holding one" in props["amount"]["description"]


def test_every_error_a_body_route_answers_is_documented(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    for path in ("/predict", "/predict_batch"):
        responses = openapi["paths"][path]["post"]["responses"]
        assert {"400", "413", "415", "422", "503"} <= set(responses), path
        ref = responses["400"]["content"]["application/json"]["schema"]["$ref"]
        detail = schemas[ref.rsplit("/", 1)[-1]]["properties"]["detail"]
        assert {"type": "string"} in detail["anyOf"]  # an unusable body
        assert any(s.get("$ref", "").endswith("/ValidationFailed") for s in detail["anyOf"])
