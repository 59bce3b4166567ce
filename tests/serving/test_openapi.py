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
