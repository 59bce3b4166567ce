"""The raw day is judged once per stored file version, and judged again when it changes."""

import os

import pandas as pd

from fraud_assets import contract
from fraud_assets.validation import judged, runner
from tests.support import day_key, validated_day

DAY = day_key(0)


def _raw(rows: int = 50) -> pd.DataFrame:
    frame = validated_day(DAY, rows).astype(str)
    frame.loc[0, "amount"] = "-3"
    return frame


def test_one_judgement_per_file_version(tmp_path):
    raw = _raw()
    source = tmp_path / f"{DAY}.parquet"
    raw.to_parquet(source)
    first = judged.judge(raw, DAY, source)
    typed, why = contract.landed_reasons(raw, DAY)
    pd.testing.assert_frame_equal(first.typed, typed)
    pd.testing.assert_series_equal(first.why, why)
    assert "amount" in first.why.iloc[0]
    assert list(first.ge.columns) == list(runner.for_ge(typed).columns)
    assert judged.judge(pd.read_parquet(source), DAY, source) is first  # another read, same file

    changed = _raw(60)
    changed.to_parquet(source)
    os.utime(source, ns=(1, 1))  # a new version even within the clock's resolution
    again = judged.judge(changed, DAY, source)
    assert again is not first and len(again.typed) == 60


def test_without_a_stored_file_only_the_same_frame_is_reused():
    raw = _raw()
    first = judged.judge(raw, DAY)
    assert judged.judge(raw, DAY) is first
    assert judged.judge(raw.copy(), DAY) is not first


def test_forget_drops_the_kept_day(tmp_path):
    raw = _raw()
    source = tmp_path / f"{DAY}.parquet"
    raw.to_parquet(source)
    first = judged.judge(raw, DAY, source)
    judged.forget()
    again = judged.judge(raw, DAY, source)
    assert again is not first  # judged anew, the same judgement
    pd.testing.assert_series_equal(again.why, first.why)


def test_suites_do_not_fingerprint_their_batches(monkeypatch):
    """GE hashes every batch under 1 GB for a marker nothing reads (2.6 s a 1M-row day);
    the runner turns that off, and the rules are still judged (one row fails)."""
    from fraud_assets.validation import suites

    calls = []
    hash_object = pd.util.hash_pandas_object
    monkeypatch.setattr(pd.util, "hash_pandas_object",
                        lambda *a, **k: calls.append(1) or hash_object(*a, **k))
    day = judged.judge(_raw(), DAY)
    result = runner.run_suite(suites.values_suite(DAY, columns=day.typed.columns), day.ge)
    assert calls == []
    assert [r.unexpected_count for r in result.failed] == [1]


def test_arrow_backed_text_is_judged_as_python_text_is():
    """Arrow-backed text columns reach GE as they are (no categorical copy); each rule
    gives the same verdict, counts and landed examples as on the same day read as
    Python strings (turned into categories): a duplicate id, a card id too long, a blank
    card id and an unknown category."""
    from fraud_assets.validation import suites

    raw = validated_day(DAY, 200).astype(str)
    raw.loc[1, "transaction_id"] = raw.loc[0, "transaction_id"]
    raw.loc[2, "card_id"] = "c" * 200
    raw.loc[3, "card_id"] = "  "
    raw.loc[4, "merchant_category"] = "casino"
    results = {}
    for storage in ("python", "pyarrow"):
        landed = raw.astype(f"string[{storage}]")
        typed, _ = contract.landed_reasons(landed, DAY)
        ge = runner.for_ge(typed)
        kinds = {c: str(ge[c].dtype) for c in ("transaction_id", "card_id")}
        assert all(("category" in k) == (storage == "python") for k in kinds.values()), kinds
        results[storage] = [
            (r.rule, r.success, r.unexpected_count, r.examples)
            for suite in (suites.structure_suite(), suites.values_suite(DAY, columns=raw.columns))
            for r in runner.run_suite(suite, ge, landed).rules]
    assert results["pyarrow"] == results["python"]
    failed = {rule for rule, ok, *_ in results["pyarrow"] if not ok}
    assert "transaction_id is unique in the file" in failed
    assert len(failed) >= 3, failed
