"""The lake's reads: what `LakeIOManager` hands to a step for the READ_* keys."""

from __future__ import annotations

import pandas as pd
import pandas.testing as pdt
from dagster import AssetKey, build_input_context

from fraud_assets import lake, names
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import LakeIOManager


def _stored(tmp_path):
    frame = pd.DataFrame({"transaction_id": ["t1", "t2", None, "t4"],
                          "merchant_category": ["grocery", "travel", "grocery", None],
                          "split": ["train", "train", "holdout", "holdout"],
                          "amount": [1.5, 2.0, 3.25, 4.0]})
    path = tmp_path / "training_set" / "data.parquet"
    lake.write_frame(frame, path)
    return frame, path


def test_read_frame_keeps_values_whatever_the_text_representation(tmp_path):
    frame, path = _stored(tmp_path)
    plain = lake.read_frame(path)
    arrow = lake.read_frame(path, dictionary=["merchant_category", "split"], arrow_text=True)
    assert arrow["transaction_id"].dtype == lake.ARROW_TEXT
    assert isinstance(arrow["merchant_category"].dtype, pd.CategoricalDtype)
    assert arrow["amount"].dtype == "float64"
    # Same values and missing values either way, and the same row hashes (the model
    # fingerprint hashes the training rows).
    for name in frame.columns:
        assert arrow[name].astype(object).where(arrow[name].notna(), None).tolist() == \
            frame[name].tolist()
    pdt.assert_series_equal(pd.util.hash_pandas_object(arrow, index=False),
                            pd.util.hash_pandas_object(plain, index=False))


def test_read_frame_filters_rows_and_columns(tmp_path):
    _, path = _stored(tmp_path)
    got = lake.read_frame(path, columns=["transaction_id", "split"],
                          filters=[("split", "==", "holdout")], arrow_text=True)
    assert list(got.columns) == ["transaction_id", "split"]
    assert got["transaction_id"].isna().tolist() == [True, False]
    assert got["transaction_id"].iloc[1] == "t4"


def test_a_validated_day_reaches_its_steps_with_arrow_backed_text(tmp_path):
    """`LakeIOManager` hands the drift report and `model_performance` the validated day
    with Arrow-backed text (`ARROW_TEXT_READS`): the same values as pandas' own read; a
    day not in the lake is an empty frame, as for every other partitioned input."""
    frame = pd.DataFrame({"transaction_id": ["t1", None, "t3"],
                          "merchant_category": ["grocery", "travel", None],
                          "amount": [1.5, 2.0, 3.25]})
    day = "2025-01-02"
    lake.write_frame(frame, lake.partition_path(tmp_path, names.TRANSACTIONS_VALIDATED, day))
    manager = LakeIOManager(root=str(tmp_path))

    def load(key: str) -> pd.DataFrame:
        return manager.load_input(build_input_context(
            asset_key=AssetKey(names.TRANSACTIONS_VALIDATED), partition_key=key,
            asset_partitions_def=daily_partitions))

    got = load(day)
    assert got["transaction_id"].dtype == lake.ARROW_TEXT
    assert got["merchant_category"].dtype == lake.ARROW_TEXT
    pdt.assert_frame_equal(got.astype(object).where(got.notna(), None),
                           frame.astype(object).where(frame.notna(), None))
    assert load("2025-01-03").empty
