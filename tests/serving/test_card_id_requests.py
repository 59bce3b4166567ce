"""The optional `card_id` of a request (issue 15), checked in process by the same code the
routes use: pydantic's JSON types (422) and the contract's value rule (400). The routes
themselves: tests/serving/test_http_contract.py."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fraud_assets import contract
from serving.http_contract import check_items
from serving.schemas import TransactionRequest
from tests.serving.support import GOOD

LONG = "c" * (contract.CARD_ID_MAX_LENGTH + 1)


@pytest.mark.parametrize("value", [3, 3.5, True, ["a"], {"id": "a"}])
def test_a_non_string_card_id_is_a_type_error_naming_it(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        TransactionRequest.model_validate({**GOOD, "card_id": value})
    [error] = caught.value.errors()
    assert error["loc"] == ("card_id",)
    checked = check_items([{**GOOD, "card_id": value}])
    assert checked.errors == {0: [f"card_id: Input should be a valid string (got {value!r})"]}


@pytest.mark.parametrize("value", ["", "   ", LONG])
def test_an_empty_or_too_long_card_id_breaks_the_contract(value: str) -> None:
    TransactionRequest.model_validate({**GOOD, "card_id": value})  # the JSON type is right
    checked = check_items([{**GOOD, "card_id": value}, GOOD])
    assert checked.errors == {0: [f"{contract.CARD_ID.rule()} (got {value!r})"]}
    assert checked.rows == [1]


def test_every_broken_field_is_reported_with_the_card() -> None:
    checked = check_items([{**GOOD, "hour": 25, "card_id": ""}])
    assert [e.split(" ")[0] for e in checked.errors[0]] == ["hour", "card_id"]


def test_left_out_null_and_valid_card_ids_are_scored() -> None:
    edge = "x" * contract.CARD_ID_MAX_LENGTH
    items = [GOOD, {**GOOD, "card_id": None}, {**GOOD, "card_id": "card-7"},
             {**GOOD, "card_id": edge}]
    checked = check_items(items)
    assert not checked.errors and checked.rows == [0, 1, 2, 3]
    assert checked.optional["card_id"].tolist() == [None, None, "card-7", edge]
    without = check_items([GOOD])
    assert list(without.frame.columns) == [f.name for f in contract.REQUEST_FIELDS]
    assert without.frame.equals(checked.frame.iloc[[0]])
    assert without.optional["card_id"].tolist() == [None]
