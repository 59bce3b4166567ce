import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

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


# Texts at the edges of number and timestamp syntax: the fast (Arrow) readers of a landed
# column must give every one of them the verdict of the pandas reading they stand in for.
TRICKY_NUMBERS = ["150.0", "1e3", "-0", "+5", " 7", "7 ", "1_000", "1,5", "0x10", "nan",
                  "NaN", "inf", "-Infinity", "1e400", ".5", "5.", "", " ", "٣", "12abc",
                  "9223372036854775808", "3.0000000001"]


def test_fast_number_reading_agrees_with_pandas_value_by_value():
    for text in TRICKY_NUMBERS:
        column = pd.Series([text, "1.0"], dtype=object)
        fast = contract.parse_numbers(column)
        slow = pd.to_numeric(column, errors="coerce").astype("float64")
        pd.testing.assert_series_equal(fast, slow, obj=repr(text))
    whole = contract.parse_numbers(pd.Series(TRICKY_NUMBERS, dtype=object))
    assert whole.equals(pd.to_numeric(pd.Series(TRICKY_NUMBERS), errors="coerce"))


TRICKY_TIMESTAMPS = [
    "2025-02-03T14:05:00Z", "2025-02-03T14:05:00+05:30", "2025-02-03T14:05:00+0530",
    "2025-02-03T14:05:00+05", "2025-02-03T14:05:00-00:00", "2025-02-03T14:05:00.123456789Z",
    "2025-02-03T14:05:00.5", "2025-02-03 14:05:00", "2025-02-03T14:05:00", "2025-02-03",
    "2025-02-03T14", "2025-02-03T14:05", "2025-02-03T14:05:00z", "2025-02-03T24:00:00",
    "2025-02-03T14:05:60", " 2025-02-03T14:05:00Z", "2025-02-03T14:05:00 Z",
    "20250203T140500Z", "2025-02-03T14:05:00,5Z", "2025-02-03T14:05:00.1234567891Z",
    "2025-02-30T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
    "1677-09-21T00:12:44Z", "2262-04-11T23:47:17Z", "2025-02-03T14:05:00+05:30:00",
    "2025-02-03T14:05:00+24:00", "2025-02-03T14:05:00.Z", "2025-2-3T14:05:00Z",
    "2025-02-03T14:05:00+5:30", "+2025-02-03T14:05:00Z", "2025-02-03T14:05:00Z\n",
    "\uff12\uff10\uff12\uff15-02-03T14:05:00Z", "", " ", "yesterday", None]


def _pandas_time(text) -> pd.Timestamp:
    """pandas' reading of one value on its own (what `parse_timestamps` stands in for)."""
    return pd.to_datetime(pd.Series([text], dtype=object), errors="coerce", utc=True,
                          format="ISO8601").astype("datetime64[ns, UTC]").iloc[0]


def test_fast_timestamp_reading_agrees_with_pandas_value_by_value():
    """Alone, beside a plain time (Arrow then reads the part if it reads the value), and
    all together (Arrow refuses, pandas reads the part): each value gets pandas' time."""
    plain = "2025-02-03T10:00:00Z"
    for storage in (object, "string[pyarrow]"):
        for text in TRICKY_TIMESTAMPS:
            got = contract.parse_timestamps(pd.Series([text, plain], dtype=storage))
            assert str(got.dtype) == "datetime64[ns, UTC]"
            expected = [_pandas_time(text), _pandas_time(plain)]
            assert got.tolist() == expected or (pd.isna(got[0]) and pd.isna(expected[0])
                                                and got[1] == expected[1]), repr(text)
        every = contract.parse_timestamps(pd.Series(TRICKY_TIMESTAMPS, dtype=storage))
        expected = pd.Series([_pandas_time(t) for t in TRICKY_TIMESTAMPS],
                             dtype="datetime64[ns, UTC]")
        pd.testing.assert_series_equal(every, expected)


def test_a_landed_column_of_iso_times_is_read_without_pandas_parser(monkeypatch):
    column = pd.Series(["2025-02-03T14:05:00Z", "2025-02-03 09:00:00", None] * 3,
                       dtype="string[pyarrow]")
    expected = contract.parse_timestamps(column)

    def refuse(*args, **kwargs):
        raise AssertionError("pandas' parser was used")

    monkeypatch.setattr(contract.pd, "to_datetime", refuse)
    pd.testing.assert_series_equal(contract.parse_timestamps(column), expected)
    assert expected.iloc[1] == pd.Timestamp("2025-02-03 09:00:00", tz="UTC")
    assert pd.isna(expected.iloc[2])


def test_int_fields_keep_only_whole_numbers_within_int64():
    column = pd.Series(["3", "3.0", "3.5", "-2", "1e30", None, "x"], dtype=object)
    got = contract.coerce_column(contract.HOUR, column)
    assert str(got.dtype) == "Int64"
    assert got.tolist() == [3, 3, pd.NA, -2, pd.NA, pd.NA, pd.NA]


def test_offsets_and_blanks_are_read_as_python_reads_them():
    stamps = ["2025-01-01T03:00:00Z", "2025-01-01 03:00:00+05:30", "2025-01-01T03:00:00",
              "2025-01-01T03:00:00z", "2025-01-01T03:00:00.123-0100", "2025-01-01", None, ""]
    expected = [bool(s and contract._OFFSET.search(s)) for s in stamps]
    assert contract._has_offset(pd.Series(stamps, dtype=object)).tolist() == expected
    texts = ["t1", " ", "\t\u00a0", "", None, " t2 "]
    assert contract.is_blank(pd.Series(texts, dtype=object)).tolist() == [
        not (t or "").strip() for t in texts]
    # numbers from a JSON body are not text: the pandas path judges them the same way
    assert contract.is_blank(pd.Series([1.5, None], dtype=object)).tolist() == [False, True]


def test_utc_days_are_the_utc_calendar_days_of_any_zone():
    """The vectorised day equals pandas' per-value `strftime` in UTC, whatever zone the
    timestamps are in (a row at 00:30+02:00 belongs to the UTC day before); NaT stays NaT."""
    stamps = pd.Series(pd.to_datetime([
        "2025-01-02T00:30:00+02:00", "2025-01-01T23:59:59.999999999Z", "2025-03-30T01:30Z",
        "2024-02-29T12:00-11:00", "1999-12-31T23:00-01:00", "2025-01-02T00:00:00Z",
    ], utc=True, format="ISO8601")).dt.tz_convert("Europe/Berlin")
    expected = stamps.dt.tz_convert("UTC").dt.strftime("%Y-%m-%d").tolist()
    assert contract.utc_days(stamps).astype(str).tolist() == expected
    assert expected[:2] == ["2025-01-01", "2025-01-01"] and expected[4] == "2000-01-01"
    missing = contract.utc_days(pd.Series([pd.Timestamp("2025-01-01", tz="UTC"), pd.NaT],
                                          dtype="datetime64[ns, UTC]"))
    assert str(missing[0]) == "2025-01-01" and pd.isna(missing[1])


def test_event_order_is_pandas_stable_sort_by_time_then_id():
    """Ties in time are broken by id as Python compares text (case, digits, non-ASCII);
    equal (time, id) pairs keep their order."""
    import numpy as np

    rng = np.random.default_rng(3)
    ids = rng.choice(["t9", "T10", "t10", "é1", "e1", "t1", "ß", "z", "Z0"], 400)
    stamps = pd.to_datetime("2025-01-01", utc=True) + pd.to_timedelta(
        rng.integers(0, 5, 400), unit="s")
    rows = pd.DataFrame({"event_timestamp": stamps, "transaction_id": ids.astype(object)})
    expected = rows.sort_values(["event_timestamp", "transaction_id"], kind="stable").index
    assert contract.event_order(rows).tolist() == expected.tolist()
    arrow_backed = rows.astype({"transaction_id": "string[pyarrow]"})
    assert contract.event_order(arrow_backed).tolist() == expected.tolist()
    assert contract.event_order(rows.iloc[:0]).tolist() == []


def test_a_nullable_fields_unparseable_value_is_judged_without_pandas_deprecations():
    """An `is_fraud` that is there but not a number is bad, a blank one is unknown, in any
    index order and either text storage, with no FutureWarning (pandas will refuse the
    Series-through-a-mask assignment that warned)."""
    import warnings

    frame = pd.concat([raw(is_fraud="1"), raw(is_fraud="x"), raw(is_fraud=None),
                       raw(is_fraud=" "), raw(is_fraud="0")])
    frame.index = [9, 3, 5, 1, 0]
    for storage in (object, "string[pyarrow]"):
        landed = frame.astype(storage)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            why = contract.reasons(contract.coerce(landed), landed)
        assert ["is_fraud" in w for w in why] == [False, True, False, False, False], storage


def test_only_text_in_arrow_buffers_counts_as_arrow_backed():
    values = ["a", None, "b"]
    assert contract.arrow_backed(pd.Series(values, dtype="string[pyarrow]"))
    assert contract.arrow_backed(pd.Series(values, dtype=pd.ArrowDtype(pa.string())))
    assert not contract.arrow_backed(pd.Series(values, dtype=object))
    assert not contract.arrow_backed(pd.Series(values, dtype="string[python]"))
    assert not contract.arrow_backed(pd.Series(values, dtype="category"))


@pytest.mark.parametrize("asked_rows", [800, 1_500])  # the asked ids hashed; the stored
def test_rows_are_found_by_transaction_id_the_last_stored_copy_winning(asked_rows):
    """Against pandas' reading of the rule: ids stored twice (the last copy wins), ids
    asked twice (each gets the row), ids never stored (a null row), in the asked order."""
    rng = np.random.default_rng(7)
    ids = [f"t{i}" for i in rng.integers(0, 1_500, size=2_000)]  # ~400 stored twice or more
    stored = pa.table({"transaction_id": ids, "value": np.arange(len(ids), dtype="float64")})
    asked = pd.Series([f"t{i}" for i in rng.integers(0, 2_000, size=asked_rows)],
                      dtype="string[pyarrow]", index=range(5, 5 + asked_rows))
    got = contract.rows_by_transaction_id(stored, asked)
    last = stored.to_pandas().drop_duplicates("transaction_id", keep="last")
    want = last.set_index("transaction_id")["value"].reindex(asked.to_numpy())
    assert got.num_rows == len(asked) and asked.duplicated().any() and want.isna().any()
    np.testing.assert_array_equal(got["value"].to_numpy(zero_copy_only=False),
                                  want.to_numpy())
    assert got["transaction_id"].null_count == int(want.isna().sum())


@pytest.mark.parametrize("dtype", ["string[pyarrow]", "string[python]", object])
def test_ids_become_arrow_text_as_astype_str_writes_them_missing_ones_null(dtype):
    ids = pd.Series(["t1", None, "t3"], dtype=dtype)
    text = contract.id_text(ids)
    assert text.type == pa.string() and text.to_pylist() == ["t1", None, "t3"]
    numbers = contract.id_text(pd.Series([7, None, 9], dtype="Int64"))
    assert numbers.to_pylist() == ["7", None, "9"]  # as astype(str) writes them
    stored = pa.table({"transaction_id": ["7", "t3", "nan", "<NA>", "None"], "v": [1, 2, 3, 4, 5]})
    found = contract.rows_by_transaction_id(stored, pd.Series([9, 7, None], dtype="Int64"))
    assert found["v"].to_pylist() == [None, 1, None]  # a missing id matches no text
    nothing = contract.rows_by_transaction_id(stored.slice(0, 0), pd.Series(["7", None]))
    assert nothing.num_rows == 2 and nothing["v"].null_count == 2
