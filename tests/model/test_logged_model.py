"""What serving gets: the model behind `models:/fraud-detection-model@champion`."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from fraud_assets.features.names import CARD_FEATURES
from fraud_assets.model import deploy, signature, training
from fraud_assets.settings import CHAMPION_ALIAS, REGISTERED_MODEL_NAME
from tests.support import register

# Raw request fields in the contract's types (amount float, hour and day ints, category
# text) plus the merchant features as doubles (the signature's type, NaN when missing): no
# encoding done by the caller.
RAW_REQUESTS = [
    {"amount": 812.5, "hour": 2, "day_of_week": 5, "merchant_category": "online",
     "merchant_avg_amount": 70.2, "merchant_txn_per_day": 2100.0, "merchant_fraud_rate": 0.06},
    {"amount": 12.0, "hour": 14, "day_of_week": 0, "merchant_category": "grocery",
     "merchant_avg_amount": 41.0, "merchant_txn_per_day": 9000.0, "merchant_fraud_rate": 0.004},
]
# A pyfunc caller without a card sends its card features as null: unknown.
RAW_REQUESTS = [{**row, **dict.fromkeys(CARD_FEATURES)} for row in RAW_REQUESTS]


def champion_uri() -> str:
    return f"models:/{REGISTERED_MODEL_NAME}@{CHAMPION_ALIAS}"


def test_champion_alias_loads_the_same_model(registry, split, good_model):
    version = register(registry, good_model, split[0]).version
    deploy.promote(registry, version, reason="test")
    holdout = signature.serving_input(split[1])  # the dtypes a pyfunc caller sends
    mlflow.set_tracking_uri(registry.resolved_tracking_uri())
    try:
        served = mlflow.sklearn.load_model(champion_uri())
        pyfunc = mlflow.pyfunc.load_model(champion_uri())
    finally:
        mlflow.set_tracking_uri(None)
    expected = good_model.pipeline.predict_proba(holdout)
    np.testing.assert_array_equal(served.predict_proba(holdout), expected)
    np.testing.assert_array_equal(np.asarray(pyfunc.predict(holdout)), expected)


def test_logged_model_accepts_raw_transaction_fields(registry, split, good_model):
    logged = register(registry, good_model, split[0])
    mlflow.set_tracking_uri(registry.resolved_tracking_uri())
    try:
        pyfunc = mlflow.pyfunc.load_model(logged.model_uri)
    finally:
        mlflow.set_tracking_uri(None)
    schema = pyfunc.metadata.get_input_schema()
    assert schema.input_names() == list(training.MODEL_INPUTS)
    assert [c.type.name for c in schema.inputs] == [
        "double", "long", "long", "string", "double", "double", "double",
        *["double"] * len(CARD_FEATURES)]
    proba = np.asarray(pyfunc.predict(pd.DataFrame(RAW_REQUESTS)))
    assert proba.shape == (2, 2)
    assert proba[0, 1] > proba[1, 1]  # a large night-time online amount is the riskier one
    tags = registry.version(logged.version).tags
    assert float(tags["threshold"]) == good_model.threshold
    assert tags["features"] == "merchant_avg_amount,merchant_txn_per_day,merchant_fraud_rate"
    assert tags["training_start"] and tags["training_end"]


def test_pyfunc_scores_rows_without_merchant_features(registry, split, good_model):
    """What `mlflow models serve -m models:/...@champion` does: a row whose merchant features
    are missing (null) is scored with them imputed, as in serving; a missing column is an
    error naming it."""
    version = register(registry, good_model, split[0]).version
    deploy.promote(registry, version, reason="test")
    mlflow.set_tracking_uri(registry.resolved_tracking_uri())
    try:
        pyfunc = mlflow.pyfunc.load_model(champion_uri())
    finally:
        mlflow.set_tracking_uri(None)
    nulls = pd.DataFrame(RAW_REQUESTS).assign(
        merchant_avg_amount=None, merchant_txn_per_day=[None, 9000.0], merchant_fraud_rate=None)
    absent = pd.DataFrame(RAW_REQUESTS).drop(columns=["merchant_avg_amount",
                                                      "merchant_txn_per_day",
                                                      "merchant_fraud_rate"])
    expected = good_model.pipeline.predict_proba(training.model_input(nulls))
    np.testing.assert_allclose(np.asarray(pyfunc.predict(nulls)), expected)
    with pytest.raises(mlflow.exceptions.MlflowException, match="merchant_txn_per_day"):
        pyfunc.predict(absent)


def test_sklearn_flavor_takes_loosely_typed_rows(registry, split, good_model):
    """Through `training.fraud_probability`, ints for floats (JSON's 12) are fine too."""
    logged = register(registry, good_model, split[0])
    model = registry.load_model(logged.version)
    loose = pd.DataFrame(RAW_REQUESTS).assign(amount=[812, 12])
    np.testing.assert_allclose(training.fraud_probability(model, loose),
                               training.fraud_probability(good_model.pipeline, loose))
