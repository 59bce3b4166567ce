"""The tree model family: trained by config, logged with its family, served with SHAP
reason codes in the same shape as the linear model's exact ones."""

from __future__ import annotations

import numpy as np
import pytest

from fraud_assets.features.names import FEATURES
from fraud_assets.model import explain, training
from fraud_assets.model.loaded import load_version
from fraud_assets.model.registry import TAG_MODEL_FAMILY
from serving import scorer
from serving.feature_lookup import FeatureLookup
from tests.support import register

# Small on purpose: a real booster and a real SHAP explainer are the point, not a good model.
TREE = training.TrainParams(model_family=training.HIST_GRADIENT_BOOSTING, max_trees=25)
LOOKUP = FeatureLookup(use_store=False)  # imputed features: no store needed in process


@pytest.fixture(scope="module")
def tree_model(split) -> training.TrainedModel:
    return training.train(split[0].iloc[::3].reset_index(drop=True), TREE)  # ~5,000 rows


def requests(split, n: int) -> list[dict]:
    rows = split[1].head(n)
    return rows[list(training.REQUEST_COLUMNS)].to_dict("records")


def test_an_unknown_family_is_refused_by_name():
    with pytest.raises(ValueError, match="model_family must be one of logistic_regression, "
                                         "hist_gradient_boosting; got 'forest'"):
        training.TrainParams(model_family="forest")


def test_shap_values_add_up_to_the_boosters_log_odds(split, tree_model):
    frame = training.model_input(split[1].head(300))
    frame.loc[::4, FEATURES[0]] = np.nan  # missing features go down the trees' NaN branch
    explainer = explain.explainer_for(tree_model.pipeline)
    assert isinstance(explainer, explain.TreeExplainer)
    contributions = explainer.contributions(frame)
    assert contributions.shape == (300, len(training.MODEL_INPUTS))
    np.testing.assert_allclose(contributions.sum(axis=1) + explainer.intercept,
                               tree_model.pipeline.decision_function(frame), atol=1e-6)
    probability, reasons = explainer.score(explain.input_arrays(frame))
    np.testing.assert_allclose(probability, tree_model.pipeline.predict_proba(frame)[:, 1],
                               rtol=1e-12)
    imputed = [r for r in reasons[0] if r["feature"] == FEATURES[0]]
    assert all(r["value"] is None and "missing (imputed)" in r["text"] for r in imputed)


def test_a_tree_champion_served_by_the_scorer_explains_its_log_odds(registry, split,
                                                                    tree_model, good_model):
    """Logged to MLflow with its family, loaded back as serving loads it, answered through
    the real scorer: three reasons per answer, the largest SHAP values, which with the
    rest and the base value make up the model's log-odds. The linear champion's reasons
    stay its exact coefficient x value terms."""
    logged = register(registry, tree_model, split[0])
    assert registry.version(logged.version).tags[TAG_MODEL_FAMILY] == "hist_gradient_boosting"
    run = registry.client().get_run(logged.run_id)
    assert run.data.params["model_family"] == "hist_gradient_boosting"
    assert run.data.params["max_trees"] == "25" and "C" not in run.data.params
    champion = load_version(registry, logged.version)

    answered = scorer.answer(requests(split, 40), champion, LOOKUP, explain=True)
    scored = answered.scored
    explainer = explain.explainer_for(champion.model)
    contributions = explainer.contributions(scored.frame)
    log_odds = champion.model.decision_function(scored.frame)
    np.testing.assert_allclose(contributions.sum(axis=1) + explainer.intercept, log_odds,
                               atol=1e-6)
    np.testing.assert_allclose(scored.probability, 1 / (1 + np.exp(-log_odds)), rtol=1e-9)
    for row, reasons in enumerate(scored.reasons):
        assert len(reasons) == explain.TOP_REASONS
        assert set(reasons[0]) == {"feature", "value", "contribution", "direction", "text"}
        largest = np.sort(np.abs(contributions[row]))[::-1][:explain.TOP_REASONS]
        np.testing.assert_allclose([abs(r["contribution"]) for r in reasons], largest,
                                   atol=1e-4)
        for reason in reasons:
            value = contributions[row, training.MODEL_INPUTS.index(reason["feature"])]
            assert reason["contribution"] == pytest.approx(value, abs=1e-4)
            assert reason["direction"] == ("towards_fraud" if value > 0 else "towards_legit")

    linear = scorer.answer(requests(split, 40), _loaded(good_model), LOOKUP, explain=True)
    exact = explain.explainer_for(good_model.pipeline).top(linear.scored.frame)
    assert linear.scored.reasons == exact


def _loaded(trained: training.TrainedModel):
    from fraud_assets.model.loaded import REGISTRY, LoadedModel

    return LoadedModel(model=trained.pipeline, name="m", version="1", alias=None, run_id=None,
                       threshold=trained.threshold, training_start=None, training_end=None,
                       features=(), source=REGISTRY)


def test_the_default_family_is_unchanged():
    assert training.TrainParams().model_family == training.LOGISTIC_REGRESSION
    assert training.TrainParams().family_params() == {
        "model_family": "logistic_regression", "C": 1.0, "max_iter": 2000,
        "validation_fraction": 0.2}
