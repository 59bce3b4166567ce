"""Decision bands by expected cost, calibration, and pricing bands on labelled rows."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression

from fraud_assets.model import decisions
from fraud_assets.model.decisions import Bands, Costs


def _brute_force(score, proba, amount, days, costs, weight):
    """Every pair of thresholds among the scores (and 'never'), priced one by one."""
    best = None
    for review, block in itertools.product([*np.unique(score), decisions.NEVER], repeat=2):
        if review > block:
            continue
        decided = Bands(review, block).decide(score)
        reviews = weight[decided == "review"].sum()
        if reviews > costs.review_capacity_per_day * days + 1e-9:
            continue
        cost = (weight * np.select(
            [decided == "approve", decided == "review", decided == "block"],
            [proba * costs.fraud_loss(amount), np.full(len(score), costs.review),
             (1 - proba) * costs.blocked_legit])).sum()
        best = cost if best is None else min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_bands_minimise_expected_cost_like_the_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 40
    score = np.round(rng.uniform(size=n), 2)  # rounded: ties must stay together
    proba = np.clip(score + rng.normal(0, 0.1, n), 0, 1)
    amount = rng.lognormal(4, 1, n)
    weight = rng.choice([1.0, 3.0], n)
    costs = Costs(review=rng.uniform(1, 30), blocked_legit=rng.uniform(5, 80),
                  review_capacity_per_day=int(rng.integers(1, 8)))
    days = 2.0
    choice = decisions.choose_bands(score, proba, amount, days, costs, weight)
    assert choice.expected_cost == pytest.approx(
        _brute_force(score, proba, amount, days, costs, weight), rel=1e-9)
    assert choice.reviews_per_day <= costs.review_capacity_per_day + 1e-9
    assert choice.expected_cost_approve_all == pytest.approx(
        (weight * proba * amount).sum())


def test_capacity_is_respected_and_binding_capacity_costs_more():
    rng = np.random.default_rng(1)
    score = rng.uniform(size=2_000)
    amount = np.full(2_000, 100.0)  # every review pays: 100 * p > 10 for p > 0.1
    generous = decisions.choose_bands(score, score, amount, 1.0, Costs(
        review_capacity_per_day=5_000, blocked_legit=1e6))
    tight = decisions.choose_bands(score, score, amount, 1.0, Costs(
        review_capacity_per_day=50, blocked_legit=1e6))
    assert generous.reviews_per_day > 50
    assert tight.reviews_per_day <= 50
    assert tight.expected_cost > generous.expected_cost
    # Blocking costs a fortune: never block; the review band is the top 50 scores.
    assert tight.bands.block == decisions.NEVER
    assert (score >= tight.bands.review).sum() == 50


def test_bands_decide_and_fall_back_to_the_threshold():
    bands = Bands(review=0.2, block=0.7)
    assert list(bands.decide(np.array([0.1, 0.2, 0.69, 0.7, 1.0]))) == [
        "approve", "review", "review", "block", "block"]
    old = Bands.from_threshold(0.4)
    assert list(old.decide(np.array([0.39, 0.4]))) == ["approve", "block"]
    with pytest.raises(decisions.DecisionError, match="review <= block"):
        Bands(review=0.8, block=0.5)
    with pytest.raises(decisions.DecisionError, match="'review'"):
        Costs(review=-1)


def test_calibration_improves_brier_on_a_miscalibrated_model():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(6_000, 2))
    y = (x[:, 0] + rng.normal(size=6_000) > 2.2).astype(int)  # ~6% positives
    frame = pd.DataFrame(x, columns=["a", "b"])
    # class_weight="balanced" inflates every probability: a miscalibrated model.
    model = LogisticRegression(class_weight="balanced").fit(frame[:2_000], y[:2_000])
    calibration = decisions.fit_calibration(model, frame[2_000:4_000], y[2_000:4_000])
    test, truth = frame[4_000:], y[4_000:]
    raw = model.predict_proba(test)[:, 1]
    assert decisions.brier(truth, calibration.apply(raw)) < 0.7 * decisions.brier(truth, raw)
    # The two stored numbers are scikit-learn's calibrated classifier, exactly.
    sklearn_calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid").fit(
        frame[2_000:4_000], y[2_000:4_000])
    np.testing.assert_allclose(calibration.apply(raw),
                               sklearn_calibrated.predict_proba(test)[:, 1], atol=1e-9)


def test_realized_costs_enforce_the_capacity_per_day():
    truth = np.array([1, 1, 0, 1, 0, 1])
    score = np.array([0.9, 0.5, 0.45, 0.4, 0.5, 0.1])
    amount = np.array([100.0, 200.0, 50.0, 300.0, 10.0, 1000.0])
    day = np.array(["d1", "d1", "d1", "d1", "d2", "d2"])
    report = decisions.realized_costs(truth, score, amount, day, Bands(0.3, 0.8),
                                      Costs(review=5, blocked_legit=20,
                                            review_capacity_per_day=2))
    # d1: 0.9 blocked (fraud, free); 0.5 and 0.45 reviewed; 0.4 (fraud, 300) overflows.
    # d2: 0.5 reviewed; 0.1 (fraud, 1000) approved.
    assert report.cost == 300 + 1000 + 3 * 5
    assert report.review_overflow == 1 and report.fraud_missed == 2
    assert report.reviews_per_day == 1.5
    assert report.cost_saved == 1600 - report.cost


def test_expected_costs_are_the_mean_realized_cost_over_every_labelling():
    # 8 rows on 2 days: enumerate all 256 labellings, weight each by its probability.
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 1, 8)
    score = rng.uniform(0, 1, 8)
    amount = rng.uniform(5, 500, 8)
    day = np.array([1, 1, 1, 1, 1, 2, 2, 2])
    bands, costs = Bands(0.3, 0.7), Costs(review=5, blocked_legit=20, review_capacity_per_day=2)
    mean = 0.0
    for labels in itertools.product((0, 1), repeat=8):
        y = np.array(labels)
        weight = np.prod(np.where(y == 1, p, 1 - p))
        mean += weight * decisions.realized_costs(y, score, amount, day, bands, costs).cost
    expected = decisions.expected_costs(p, score, amount, day, bands, costs)
    assert expected.cost == pytest.approx(mean)
    assert expected.cost_approve_all == pytest.approx(float((p * amount).sum()))
    # Known labels are facts: the expectation on 0/1 labels is the realized cost.
    y = (p > 0.5).astype(int)
    assert decisions.expected_costs(y, score, amount, day, bands, costs) == \
        decisions.realized_costs(y, score, amount, day, bands, costs)
    with pytest.raises(decisions.DecisionError, match="probabilities in"):
        decisions.expected_costs(np.array([0.5, np.nan]), score[:2], amount[:2], day[:2],
                                 bands, costs)


def test_precision_at_k_is_per_day_and_named_for_transactions():
    truth = np.array([1, 0, 0, 1, 1, 0])
    score = np.array([0.9, 0.8, 0.1, 0.2, 0.7, 0.6])
    day = np.array([1, 1, 1, 2, 2, 2])
    assert decisions.precision_at_k_per_day(truth, score, day, k=2) == pytest.approx(
        (0.5 + 0.5) / 2)


def test_card_precision_at_k_counts_each_card_once_a_day():
    # Day 1: card a has two frauds (0.9, 0.8), card b none (0.7); k=2 -> cards a, b -> 1/2.
    # Day 2: two card-less rows, each its own card: 0.6 fraud, 0.5 not -> 1/2.
    truth = np.array([1, 1, 0, 1, 0])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    day = np.array([1, 1, 1, 2, 2])
    card = np.array(["a", "a", "b", None, ""], dtype=object)
    assert decisions.card_precision_at_k_per_day(truth, score, day, card, k=2) == \
        pytest.approx((0.5 + 0.5) / 2)
    # Per transaction the same day 1 would be 2/2 (a's two frauds both in the top 2).
    assert decisions.precision_at_k_per_day(truth, score, day, k=2) == pytest.approx(0.75)
    # Without any card id it is the transaction precision@k.
    none = np.array([None] * 5, dtype=object)
    assert decisions.card_precision_at_k_per_day(truth, score, day, none, k=2) == \
        decisions.precision_at_k_per_day(truth, score, day, k=2)


def _pandas_card_precision(truth, score, day, card, k):
    """The definitions as pandas groupbys (how they were first written): per day the k
    highest scores, ties in row order; each card once a day at its highest score."""
    def per_day(y, s, d):
        frame = pd.DataFrame({"y": y, "s": s, "day": d})
        top = frame.sort_values("s", ascending=False, kind="stable").groupby("day").head(k)
        return float(top.groupby("day")["y"].mean().mean())
    card = pd.Series(card, dtype=object)
    unknown = (card.isna() | (card.astype(str).str.strip() == "")).to_numpy()
    codes, _ = pd.factorize(card.where(~unknown, None))
    entity = np.where(unknown, -1 - np.arange(len(card)), codes)
    frame = pd.DataFrame({"y": truth, "s": score, "day": day, "card": entity})
    cards = frame.groupby(["day", "card"], sort=False).agg(y=("y", "max"), s=("s", "max"))
    cards = cards.reset_index()
    return per_day(truth, score, day), per_day(cards["y"], cards["s"], cards["day"])


@pytest.mark.parametrize("seed", range(5))
def test_per_day_rankings_match_their_pandas_definitions_ties_included(seed):
    # Scores on a coarse grid, so many ties straddle the k-th place; blank, missing and
    # repeated cards; a day with fewer rows than k.
    rng = np.random.default_rng(seed)
    n, k = 3_000, 25
    truth = (rng.random(n) < 0.2).astype(int)
    score = rng.integers(0, 30, n) / 30
    day = rng.choice(["2025-01-01", "2025-01-02", "2025-01-03"], n, p=[0.5, 0.49, 0.01])
    card = rng.choice(np.array([*(f"c{i}" for i in range(400)), None, "", "  "],
                               dtype=object), n)
    by_row, by_card = _pandas_card_precision(truth, score, day, card, k)
    assert decisions.precision_at_k_per_day(truth, score, day, k) == pytest.approx(by_row)
    assert decisions.card_precision_at_k_per_day(truth, score, day, card, k) == \
        pytest.approx(by_card)
    # The review band's capacity: the same rows reviewed as pandas' rank(method="first").
    bands, costs = Bands(0.3, 0.9), Costs(review=5, review_capacity_per_day=k)
    frame = pd.DataFrame({"s": score, "day": day})
    in_band = bands.decide(score) == "review"
    rank = frame["s"].where(in_band).groupby(frame["day"]).rank(method="first",
                                                                ascending=False)
    reviewed = int((in_band & (rank <= k).to_numpy()).sum())
    report = decisions.realized_costs(truth, score, np.full(n, 10.0), day, bands, costs)
    assert report.review_overflow == int(in_band.sum()) - reviewed


def test_card_precision_takes_arrow_backed_ids():
    truth, score, day = np.array([1, 1, 0, 1]), np.array([0.9, 0.8, 0.7, 0.6]), np.ones(4)
    card = pd.Series(["a", "a", "b", None], dtype="string[pyarrow]")
    assert decisions.card_precision_at_k_per_day(truth, score, day, card, k=2) == \
        decisions.card_precision_at_k_per_day(truth, score, day, card.to_numpy(object), k=2)
    assert decisions.card_precision_at_k_per_day(truth, score, day, card, k=2) == 0.5


def test_policy_round_trips_through_tags_and_old_versions_have_none():
    policy = decisions.DecisionPolicy(Bands(0.1, 0.6), Costs(review=3),
                                      decisions.Calibration(a=-1.1, b=0.2),
                                      [{"score": 0.5, "false_positive_rate": 0.01,
                                        "recall": 0.5}])
    assert decisions.DecisionPolicy.from_tags(policy.to_tags(), "v1") == policy
    assert decisions.DecisionPolicy.from_tags({"threshold": "0.3"}, "v1") is None
    with pytest.raises(decisions.DecisionError, match="v9: unreadable decision tags"):
        decisions.DecisionPolicy.from_tags({decisions.TAG_BANDS: "{oops"}, "v9")


def test_a_weighted_sample_is_priced_as_the_rows_it_stands_for():
    """A row of weight 2 is two transactions: the same report as the frame with every row
    twice (review capacity even, so no pair is split at the capacity's edge); unit weights
    change nothing."""
    rng = np.random.default_rng(7)
    n = 60
    p, score = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    amount, day = rng.uniform(5, 500, n), rng.integers(0, 3, n)
    bands, costs = Bands(0.3, 0.7), Costs(review=5, blocked_legit=20, review_capacity_per_day=6)
    twice = decisions.expected_costs(np.repeat(p, 2), np.repeat(score, 2),
                                     np.repeat(amount, 2), np.repeat(day, 2), bands, costs)
    weighted = decisions.expected_costs(p, score, amount, day, bands, costs,
                                        sample_weight=np.full(n, 2.0))
    assert twice.review_overflow > 0, "the capacity must bind for the test to mean anything"
    assert weighted.as_metrics() == pytest.approx(twice.as_metrics())
    assert decisions.expected_costs(p, score, amount, day, bands, costs, np.ones(n)) == \
        decisions.expected_costs(p, score, amount, day, bands, costs)
