"""Reason codes are exact for the linear model: they add up to the score's log-odds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import QuantileTransformer

from fraud_assets.features.names import FEATURES
from fraud_assets.model import explain, training


def test_contributions_plus_intercept_are_the_log_odds(split, good_model):
    frame = training.model_input(split[1].head(500))
    explainer = explain.explainer_for(good_model.pipeline)
    contributions = explainer.contributions(frame)
    assert contributions.shape == (500, len(training.MODEL_INPUTS))
    log_odds = good_model.pipeline.decision_function(frame)
    np.testing.assert_allclose(contributions.sum(axis=1) + explainer.intercept, log_odds,
                               rtol=1e-10, atol=1e-10)


def test_scoring_with_reasons_gives_the_pipelines_probabilities(split, good_model):
    frame = training.model_input(split[1].head(500))
    probability, reasons = explain.explainer_for(good_model.pipeline).score_and_explain(frame)
    np.testing.assert_allclose(probability, good_model.pipeline.predict_proba(frame)[:, 1],
                               rtol=1e-12)
    assert len(reasons) == 500 and all(len(r) == explain.TOP_REASONS for r in reasons)
    sizes = [[abs(r["contribution"]) for r in row] for row in reasons]
    assert all(row == sorted(row, reverse=True) for row in sizes)
    first = reasons[0][0]
    assert first["value"] == frame.loc[0, first["feature"]]
    contributions = explain.explainer_for(good_model.pipeline).contributions(frame)
    column = training.MODEL_INPUTS.index(first["feature"])
    assert first["contribution"] == round(contributions[0, column], 4)
    assert first["direction"] == ("towards_fraud" if contributions[0, column] > 0
                                  else "towards_legit")


def test_a_transaction_gets_the_same_score_alone_or_in_any_batch(split, good_model):
    """Micro-batching must not change an answer, not even in the last bit (a 1-row and a
    2-row matrix product once differed by one ulp)."""
    frame = training.model_input(split[1].head(300))
    replay = explain.explainer_for(good_model.pipeline)
    through_sklearn = explain.LinearExplainer(good_model.pipeline)
    through_sklearn.terms = None  # the path of a model the numpy replay does not know
    for explainer in (replay, through_sklearn):
        together, _ = explainer.score(frame, explain=False)
        for size in (1, 2, 3, 17, 64):
            for start in (0, 5, 100):
                part, _ = explainer.score(
                    frame.iloc[start:start + size].reset_index(drop=True), explain=False)
                assert part.tolist() == together[start:start + size].tolist(), (size, start)


def test_a_reason_reads_like_a_fraud_analysts_note(split, good_model):
    frame = training.model_input(split[1].head(50)).assign(hour=3)
    frame.loc[0, FEATURES[0]] = float("nan")  # imputed by the pipeline
    rows = explain.explainer_for(good_model.pipeline).top(frame, k=len(training.MODEL_INPUTS))
    hour = next(r for r in rows[1] if r["feature"] == "hour")
    assert hour["text"] == f"hour=3: {hour['contribution']:+.2f} log-odds"
    imputed = next(r for r in rows[0] if r["feature"] == FEATURES[0])
    assert imputed["value"] is None
    assert imputed["text"].startswith(f"{FEATURES[0]}=missing (imputed): ")


def test_a_model_without_coefficients_is_refused_by_name():
    forest = Pipeline([("columns", training.build_pipeline().steps[0][1]),
                       ("classifier", RandomForestClassifier(n_estimators=2))])
    with pytest.raises(explain.ExplainError, match="LogisticRegression"):
        explain.explainer_for(forest)


def test_the_numpy_replay_is_the_pipelines_own_arithmetic(split, good_model):
    """Serving scores the linear model from its fitted attributes in numpy (a micro-batch
    costs sklearn's per-call overhead twice with a challenger): the same numbers, missing
    features (imputed) included."""
    frame = training.model_input(split[1].head(300))
    frame.loc[::5, FEATURES[1]] = float("nan")
    explainer = explain.explainer_for(good_model.pipeline)
    assert explainer.terms is not None  # the platform's pipeline is replayed
    through_sklearn = np.asarray(explainer.columns.transform(frame) @ explainer.weights)
    np.testing.assert_allclose(explainer.contributions(explain.input_arrays(frame)),
                               through_sklearn, rtol=1e-10, atol=1e-12)
    probability, reasons = explainer.score(explain.input_arrays(frame), explain=False)
    assert reasons is None
    np.testing.assert_allclose(probability, good_model.pipeline.predict_proba(frame)[:, 1],
                               rtol=1e-12)


def test_a_transformer_the_replay_does_not_know_is_scored_through_sklearn(split):
    """A pipeline with a transformer the numpy replay does not cover keeps exact reasons
    and scores, computed by sklearn's own transform."""
    columns = training.build_pipeline().steps[0][1]
    at = [name for name, *_ in columns.transformers].index("merchant")
    columns.transformers[at] = ("merchant", QuantileTransformer(n_quantiles=50),
                                list(FEATURES))
    rows = split[0].dropna(subset=list(FEATURES)).head(3_000)
    model = Pipeline([("columns", columns), ("classifier", LogisticRegression(max_iter=500))])
    model.fit(training.model_input(rows), rows[training.LABEL])
    frame = training.model_input(split[1].dropna(subset=list(FEATURES)).head(100))
    explainer = explain.explainer_for(model)
    assert explainer.terms is None
    probability, reasons = explainer.score(frame)
    np.testing.assert_allclose(probability, model.predict_proba(frame)[:, 1], rtol=1e-12)
    np.testing.assert_allclose(explainer.contributions(frame).sum(axis=1) + explainer.intercept,
                               model.decision_function(frame), rtol=1e-10, atol=1e-10)
    assert len(reasons) == 100 and all(len(r) == explain.TOP_REASONS for r in reasons)


def test_a_replay_that_disagrees_with_the_pipeline_is_not_used(good_model, monkeypatch):
    """The replay is checked against the pipeline on the contract's domain when the
    explainer is built: off by a millionth of a log-odds, it is dropped."""
    replay = explain._LinearTerms.__call__
    monkeypatch.setattr(explain._LinearTerms, "__call__",
                        lambda self, data, rows: replay(self, data, rows) + 1e-6)
    assert explain.LinearExplainer(good_model.pipeline).terms is None
