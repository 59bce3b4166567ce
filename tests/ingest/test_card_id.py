"""The contract's optional `card_id` (issue 15) in landed files: a file without the column is
judged exactly as before; with it, blank = unknown (null) and a bad value is quarantined
with a reason naming the field."""

import pandas as pd
import pytest
from dagster import DagsterInstance

from fraud_assets import contract
from fraud_assets.validation import runner, suites
from tests.support import checks, lake_frame, land, run_day

DAY = "2025-01-10"
LONG = "c" * (contract.CARD_ID_MAX_LENGTH + 1)


def raw(cards: list[object] | None, n: int = 4) -> pd.DataFrame:
    """`n` valid landed rows as text, with a `card_id` column when `cards` is given."""
    frame = pd.DataFrame({
        "transaction_id": [f"t{i}" for i in range(n)],
        "event_timestamp": [f"{DAY}T0{i}:05:00Z" for i in range(n)],
        "amount": ["150.0"] * n, "hour": [str(i) for i in range(n)], "day_of_week": ["4"] * n,
        "merchant_category": ["online"] * n, "is_fraud": ["0"] * n}, dtype=object)
    if cards is not None:
        frame.insert(1, "card_id", pd.Series(cards, dtype=object))
    return frame


def test_the_column_is_optional_and_not_a_model_input():
    assert contract.CARD_ID in contract.FIELDS
    assert "card_id" not in contract.COLUMNS and contract.OPTIONAL_COLUMNS == ("card_id",)
    assert contract.CARD_ID not in contract.REQUEST_FIELDS
    assert contract.REQUEST_OPTIONAL_FIELDS == (contract.CARD_ID,)


def test_a_file_without_the_column_is_judged_as_before():
    without = raw(None)
    without.loc[1, "amount"] = "-5"
    typed, why = contract.landed_reasons(without, DAY)
    assert "card_id" not in typed.columns
    assert list(typed.columns) == list(contract.COLUMNS)
    assert why.tolist() == ["", "amount must be > 0 and <= 50000 (got '-5')", "", ""]
    with_cards = without.assign(card_id=["a", "b", "c", "d"])
    typed_cards, why_cards = contract.landed_reasons(with_cards, DAY)
    pd.testing.assert_frame_equal(typed_cards[list(contract.COLUMNS)], typed)
    pd.testing.assert_series_equal(why_cards, why)


def test_blank_is_unknown_and_a_bad_value_names_the_field():
    cards = ["card-1", None, "   ", "x" * contract.CARD_ID_MAX_LENGTH, LONG, "ünïcödé" * 9]
    frame = raw(cards, n=6)
    typed, why = contract.landed_reasons(frame, DAY)
    assert str(typed["card_id"].dtype) == "string"
    assert typed["card_id"].isna().tolist() == [False, True, True, False, False, False]
    assert why.tolist()[:4] == ["", "", "", ""]
    assert why[4] == f"card_id must be a string of 1 to 64 characters (got {LONG!r})"
    assert why[5] == "", "63 characters, counted as characters, not bytes"


def test_the_ge_suites_accept_files_with_and_without_the_column():
    for cards in (None, ["a", None, " ", "b"]):
        frame = raw(cards)
        typed, _ = contract.landed_reasons(frame, DAY)
        ge = runner.for_ge(typed)
        structure = runner.run_suite(suites.structure_suite(), ge, frame)
        values = runner.run_suite(suites.values_suite(DAY, columns=frame.columns), ge, frame)
        assert structure.success, structure.failed
        assert values.success, values.failed
        card_rules = [r for r in values.rules if r.column == "card_id"]
        assert len(card_rules) == (0 if cards is None else 1)


def test_the_ge_values_suite_flags_a_card_id_too_long():
    frame = raw(["a", LONG, None, "b"])
    typed, _ = contract.landed_reasons(frame, DAY)
    values = runner.run_suite(suites.values_suite(DAY, columns=frame.columns),
                              runner.for_ge(typed), frame)
    [failed] = values.failed
    assert failed.rule == contract.CARD_ID.rule() and failed.unexpected_count == 1
    assert failed.examples == [LONG]


@pytest.fixture
def instance(fraud_home):
    with DagsterInstance.ephemeral() as inst:
        yield inst


def test_the_daily_job_keeps_card_ids_and_quarantines_bad_ones(fraud_home, instance):
    path = land(fraud_home, DAY, rows=200)
    rows = pd.read_csv(path, dtype=str)
    if "card_id" not in rows.columns:
        rows.insert(1, "card_id", [f"card-{i % 7}" for i in range(len(rows))])
    rows.loc[0, "card_id"] = LONG
    rows.loc[1, "card_id"] = None
    rows.to_csv(path, index=False)
    result = run_day(instance, DAY)
    assert result.success
    evaluations = checks(result)
    assert evaluations["contract_structure"].passed
    assert not evaluations["contract_values"].passed
    quarantine = lake_frame(fraud_home, "transactions_quarantine", DAY)
    assert quarantine["transaction_id"].tolist() == [rows.loc[0, "transaction_id"]]
    assert quarantine["quarantine_reason"].iloc[0].startswith("card_id must be a string")
    validated = lake_frame(fraud_home, "transactions_validated", DAY)
    assert len(validated) == 199 and str(validated["card_id"].dtype) == "string"
    assert validated.set_index("transaction_id")["card_id"].isna().to_dict()[
        rows.loc[1, "transaction_id"]]
    assert validated["card_id"].notna().sum() == 198
