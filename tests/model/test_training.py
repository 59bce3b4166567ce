"""Training: the checks before fitting, the time-ordered validation slice, the pipeline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraud_assets import contract
from fraud_assets.features.names import FEATURES
from fraud_assets.model import evaluation, training

TIME = contract.EVENT_TIMESTAMP.name


def test_empty_window_fails_before_training(split):
    with pytest.raises(training.TrainingDataError, match="empty"):
        training.train(split[0].iloc[0:0])


def test_single_class_window_fails_before_training(split):
    legit_only = split[0][split[0][contract.LABEL] == 0]
    with pytest.raises(training.TrainingDataError, match="single class"):
        training.train(legit_only)


def test_missing_feature_column_is_named(split):
    with pytest.raises(training.TrainingDataError, match=FEATURES[0]):
        training.train(split[0].drop(columns=FEATURES[0]))


def test_labels_must_be_zero_or_one(split):
    with pytest.raises(training.TrainingDataError, match="0 or 1"):
        training.train(split[0].assign(**{contract.LABEL: 2}))


def test_validation_slice_is_the_latest_rows(split):
    shuffled = split[0].sample(frac=1.0, random_state=1)
    fit, validation = training.split_validation(shuffled, 0.2)
    assert fit[TIME].max() <= validation[TIME].min()
    assert len(validation) == pytest.approx(0.2 * len(shuffled), abs=1)


def test_threshold_comes_from_training_rows_only(split, good_model):
    """Changing the holdout cannot change the threshold: it is not an input of train()."""
    again = training.train(split[0])
    assert again.threshold == good_model.threshold
    assert 0.0 < good_model.threshold < 1.0
    assert good_model.training_end < split[1][TIME].min()


def test_model_takes_raw_request_fields_and_features(good_model):
    request = pd.DataFrame([{"amount": 812.5, "hour": 2, "day_of_week": 5,
                             "merchant_category": "online", "merchant_avg_amount": 70.0,
                             "merchant_txn_per_day": 3000.0, "merchant_fraud_rate": 0.05}])
    proba = training.fraud_probability(good_model.pipeline, request)
    assert proba.shape == (1,) and 0.0 <= proba[0] <= 1.0


def test_missing_merchant_features_are_imputed(good_model):
    """The first days of a window have no history: the model still answers."""
    request = pd.DataFrame([{"amount": 20.0, "hour": 14, "day_of_week": 1,
                             "merchant_category": "grocery", "merchant_avg_amount": np.nan,
                             "merchant_txn_per_day": np.nan, "merchant_fraud_rate": np.nan}])
    assert np.isfinite(training.fraud_probability(good_model.pipeline, request)).all()


def test_unknown_category_is_an_error_not_a_guess(good_model, split):
    row = split[1].head(1).assign(merchant_category="casino")
    with pytest.raises(ValueError, match="casino"):
        training.fraud_probability(good_model.pipeline, row)


def test_good_model_ranks_well_on_the_holdout(good_model, split):
    holdout = split[1]
    scores = evaluation.score(holdout[contract.LABEL].to_numpy(),
                              training.fraud_probability(good_model.pipeline, holdout),
                              good_model.threshold)
    assert scores["roc_auc"] > 0.95 and scores["pr_auc"] > 0.5


def test_training_set_split_is_checked(training_set):
    with pytest.raises(training.TrainingDataError, match="no holdout"):
        training.split_training_set(training_set.assign(split="train"))
    with pytest.raises(training.TrainingDataError, match="'test'"):
        training.split_training_set(training_set.assign(split="test"))
    with pytest.raises(training.TrainingDataError, match="no 'split' column"):
        training.split_training_set(training_set.drop(columns="split"))


def test_plots_are_written(tmp_path, good_model, split):
    holdout = split[1]
    proba = training.fraud_probability(good_model.pipeline, holdout)
    paths = evaluation.save_plots(holdout[contract.LABEL].to_numpy(), proba,
                                  good_model.threshold, tmp_path)
    assert set(paths) == set(evaluation.PLOT_NAMES)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths.values())


@pytest.mark.parametrize(("change", "message"), [
    ({"amount": 0.0}, "amount must be > 0"),
    ({"hour": None}, r"missing values in \['hour'\]"),
])
def test_bad_request_rows_are_refused_with_the_reason(good_model, split, change, message):
    row = split[1].head(2).astype({"hour": object}).assign(**change)
    with pytest.raises(training.ModelInputError, match=message):
        training.fraud_probability(good_model.pipeline, row)
