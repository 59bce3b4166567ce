import pandas as pd

from fraud_assets import contract


def raw(**overrides) -> pd.DataFrame:
    row = {"transaction_id": "t1", "event_timestamp": "2025-01-01T14:05:00Z", "amount": "150.0",
           "hour": "14", "day_of_week": "2", "merchant_category": "online", "is_fraud": "0"}
    return pd.DataFrame([row | overrides], dtype=object)


def test_a_valid_row_has_no_reason():
    frame = raw()
    assert contract.reasons(contract.coerce(frame), frame).tolist() == [""]


def test_each_rule_names_its_field():
    cases = {
        "amount": ("-5", "amount must be > 0 and <= 50000"),
        "hour": ("25", "hour must be >= 0 and <= 23"),
        "day_of_week": ("9", "day_of_week must be >= 0 and <= 6"),
        "merchant_category": ("casino", "merchant_category must be one of"),
        "is_fraud": ("2", "is_fraud must be one of 0, 1"),
    }
    for field, (value, message) in cases.items():
        frame = raw(**{field: value})
        assert message in contract.reasons(contract.coerce(frame), frame).iloc[0], field


def test_missing_and_unparseable_are_told_apart():
    frame = pd.concat([raw(amount=None), raw(amount="twelve dollars"), raw(hour="3.5")])
    frame = frame.reset_index(drop=True)
    why = contract.reasons(contract.coerce(frame), frame).tolist()
    assert why == ["amount is missing", "amount is not a valid float (got 'twelve dollars')",
                   "hour is not a valid int (got '3.5')"]


def test_all_broken_fields_are_reported_together():
    frame = raw(amount="0", hour="24", merchant_category="casino")
    reason = contract.reasons(contract.coerce(frame), frame).iloc[0]
    assert reason.count(";") == 2


def test_amount_bounds_are_inclusive_at_the_top_only():
    frame = pd.DataFrame({"amount": ["0", "0.01", "50000", "50000.01"]})
    bad = contract.violations(contract.coerce(frame))["amount"].tolist()
    assert bad == [True, False, False, True]


def test_request_fields_are_the_handbook_body():
    assert [f.name for f in contract.REQUEST_FIELDS] == [
        "amount", "hour", "day_of_week", "merchant_category"]
