"""The card features as model inputs: unknown is explicit (imputed + indicator), card-less
training ignores them, informative ones are used, and the exact reasons still replay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from fraud_assets import contract
from fraud_assets.features.names import CARD_FEATURES
from fraud_assets.model import explain, training

LABEL = contract.LABEL


def _carded(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Card features that carry signal: fraud rows come in bursts (more events in 10
    minutes, a short gap); 30% of rows have no card (all unknown)."""
    rng = np.random.default_rng(seed)
    fraud = frame[LABEL].to_numpy() == 1
    n = len(frame)
    values = {name: rng.gamma(2.0, 5.0, n) for name in CARD_FEATURES}
    values["card_txn_count_10m"] = rng.poisson(np.where(fraud, 4.0, 0.3)).astype(float)
    values["card_seconds_since_prev"] = rng.exponential(np.where(fraud, 60.0, 20_000.0))
    out = frame.assign(**values)
    out.loc[rng.random(n) < 0.3, list(CARD_FEATURES)] = np.nan
    return out


def test_a_frame_without_card_columns_gets_them_unknown(split):
    frame = training.model_input(split[1].head(10))
    assert list(frame.columns) == list(training.MODEL_INPUTS)
    assert frame[list(CARD_FEATURES)].isna().all().all()


def test_a_card_less_model_gives_the_card_inputs_no_weight(split, good_model):
    holdout = split[1].head(2_000)
    absent = good_model.pipeline.predict_proba(training.model_input(holdout))
    rng = np.random.default_rng(0)
    known = holdout.assign(**{n: rng.gamma(2.0, 5.0, len(holdout)) for n in CARD_FEATURES})
    np.testing.assert_array_equal(
        good_model.pipeline.predict_proba(training.model_input(known)), absent)


def test_informative_card_features_are_used_and_unknown_is_not_zero(split, good_model):
    train, holdout = _carded(split[0], 1), _carded(split[1], 2)
    model = training.train(train)
    truth = holdout[LABEL].to_numpy()
    with_cards = average_precision_score(truth, training.fraud_probability(model.pipeline,
                                                                           holdout))
    without = average_precision_score(truth, training.fraud_probability(good_model.pipeline,
                                                                        holdout))
    assert with_cards > without + 0.05
    row = training.model_input(holdout.head(1))
    unknown = model.pipeline.predict_proba(row.assign(card_txn_count_10m=np.nan))[0, 1]
    zero = model.pipeline.predict_proba(row.assign(card_txn_count_10m=0.0))[0, 1]
    assert unknown != pytest.approx(zero, rel=1e-6)


def test_the_numpy_replay_covers_the_card_inputs(split):
    model = training.train(_carded(split[0], 3))
    explainer = explain.explainer_for(model.pipeline)
    assert explainer.terms is not None  # the imputer's indicators are replayed, not skipped
    frame = training.model_input(_carded(split[1], 4).head(300))
    np.testing.assert_allclose(explainer.contributions(frame).sum(axis=1) + explainer.intercept,
                               model.pipeline.decision_function(frame), rtol=1e-9, atol=1e-9)
    reasons = explainer.top(frame, k=len(training.MODEL_INPUTS))
    assert any(r["feature"] in CARD_FEATURES for rows in reasons for r in rows)


def test_a_card_feature_can_shape_the_score_not_only_tilt_it(split):
    """`training.card_shape`: a card feature whose fraud values lie in a middle band (here
    seconds since the previous charge around e^7 ~ 20 min, legitimate ones on both sides)
    raises the score in the band and not outside it, which one log1p slope cannot do."""
    rng = np.random.default_rng(5)
    train = _carded(split[0], 5)
    fraud = train[LABEL].to_numpy() == 1
    band = np.exp(rng.normal(7.0, 0.5, len(train)))
    sides = np.exp(np.where(rng.random(len(train)) < 0.5, rng.normal(2.0, 0.7, len(train)),
                            rng.normal(12.0, 0.7, len(train))))
    train["card_seconds_since_prev"] = np.where(fraud, band, sides)
    model = training.train(train)
    row = training.model_input(train.head(1))
    score = {s: model.pipeline.predict_proba(row.assign(card_seconds_since_prev=np.exp(s)))[0, 1]
             for s in (2.0, 7.0, 12.0)}
    assert score[7.0] > 5 * max(score[2.0], score[12.0])
