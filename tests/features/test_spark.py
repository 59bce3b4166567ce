"""The same transforms on Spark (local mode) as on DuckDB: one day's merchant sums and one
training set, compared value for value. `make test-spark` installs PySpark and runs this."""

import importlib.util
import shutil

import pandas as pd
import pytest

from fraud_assets.features import daily_sums, training
from fraud_assets.features.engine import DuckDBEngine, SparkEngine
from tests.support import build_store, days

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None,
                       reason="Spark needs Java 17+ (no `java` on PATH); apt-get install "
                              "openjdk-17-jre-headless"),
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None,
                       reason="pyspark is not installed: `make test-spark` installs it "
                              "(uv sync --group spark)"),
]
N_DAYS = 4


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    return SparkEngine(master="local[2]", memory="1g",
                       scratch=tmp_path_factory.mktemp("spark"))


def test_one_day_and_one_training_set_are_the_same_on_spark_and_duckdb(fraud_home, spark):
    store = build_store(fraud_home, N_DAYS, rows=500)
    keys = [d.isoformat() for d in days(N_DAYS)]
    day = {keys[1]: fraud_home / "lake" / "transactions_validated" / f"{keys[1]}.parquet"}
    answers = {}
    for name, engine in (("duckdb", DuckDBEngine(spill_dir=fraud_home / "engine")),
                         ("spark", spark)):
        engine.register(daily_sums.VIEW, day)
        sums = engine.frame(daily_sums.sums_sql()).sort_values("merchant_category")
        built = training.build_window_training_set(
            keys, fraud_home / "lake", store.feast_dir, lambda engine=engine: engine,
            fraud_home / "engine" / name, holdout_days=1, legit_sample_rows=400)
        answers[name] = (sums.reset_index(drop=True), built)
    (duck_sums, duck), (spark_sums, sparked) = answers["duckdb"], answers["spark"]
    pd.testing.assert_frame_equal(spark_sums, duck_sums, check_dtype=False)
    assert duck.sampling == sparked.sampling and duck.sampling.rate < 1  # sampled alike
    pd.testing.assert_frame_equal(sparked.frame, duck.frame)
    assert sparked.rows_without_history == duck.rows_without_history == 500
