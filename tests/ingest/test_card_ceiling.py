"""The card ceiling's posterior (benchmarks/card_ceiling.py) is the model's: calibrated on
a fresh sample, and better than the row's own fields alone."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from benchmarks import card_ceiling
from benchmarks.model_quality import oracle_score
from fraud_assets.model import evaluation

ROWS = 50_000


@pytest.mark.parametrize("scenario", card_ceiling.SCENARIOS)
def test_the_posterior_is_calibrated_and_beats_the_fields_alone(scenario):
    frame = card_ceiling.simulate(dt.date(2026, 3, 1), 1, ROWS, 11, scenario)
    labels = frame["is_fraud"].to_numpy()
    p = card_ceiling.posterior(frame, card_ceiling.card_model(scenario), scenario, 11, ROWS)
    assert p.min() >= 0 and p.max() <= 1
    assert p.mean() == pytest.approx(labels.mean(), rel=0.1)
    bins = pd.cut(p, [-1e-9, 0.05, 0.5, 0.95, 1.0])
    by_bin = pd.DataFrame({"p": p, "y": labels}).groupby(bins, observed=True).mean()
    assert np.allclose(by_bin["p"], by_bin["y"], atol=0.06), by_bin
    cards = evaluation.score(labels, p, 0.5)["pr_auc"]
    fields = evaluation.score(labels, oracle_score(frame), 0.5)["pr_auc"]
    assert cards > fields + 0.1
