"""How well the champion did on a day whose labels have arrived.

A landed day carries its labels, so once it is validated the champion can be measured on
it the way the gate measures a holdout: precision, recall, F1 and PR-AUC at the version's
own stored threshold. Recorded per daily partition, these numbers are the model's
performance over time; the drift sensor reads F1 against a floor.

A day with too few frauds is recorded but not judged: with a handful of positives, F1 swings
by tenths from one fraud more or less, which would alarm on noise.

Labels that arrive late (the label feed, issue 16): a day is "measured" once the share of
its scored rows with a known label (its label maturity) reaches `min_label_maturity`, on
those rows; before that it is "estimated" and not judged (the drift sensor's alarm reads
measured values only). The estimate is computed every day, so both series can be compared:

    e_i = y_i where the label is known, else p_i (the champion's probability)
    expected TP = sum of e_i over flagged rows (p_i >= threshold)
    estimated precision = expected TP / flagged rows
    estimated recall    = expected TP / sum of e_i over all rows
    estimated cost      = the version's decision bands priced on e_i (`decisions.
                          expected_costs`: a missed fraud costs e_i x its loss, a block
                          (1 - e_i) x the friction cost, reviews as decided under capacity)

With no label known this is confidence-based performance estimation (CBPE, as in NannyML:
the expected confusion matrix of calibrated probabilities); every known label replaces its
row's expectation by the fact. Why this estimator: it needs nothing but the scores, it is
unbiased when the probabilities are calibrated, and it moves smoothly into the measured
value as labels arrive. Which probabilities: the model's own (fitted with the sampling
weights), not the version's stored Platt calibration: on a simulated month
(`benchmarks/late_labels.py`, 30 days x 5,000 rows) the precision estimated at landing was
off by 0.028 on average (bias +0.009) from the raw probabilities and by 0.050 (bias +0.045)
from the Platt-calibrated ones, whose sigmoid over-states P(fraud) in the flagged tail.
NannyML itself was not taken: one formula does not justify
its dependency tree next to our pinned pandas/scikit-learn.

A large day is measured on a sample (`sample_day`), the scheme training uses: every row
whose label is a known fraud, and a uniform sample of the others (known legitimate or not
yet known) of about `sample_rows`, chosen by a hash of the transaction id (the same rows on
every rerun), each standing for 1 / rate rows. Every number is then weighted: recall and
the frauds counted are exact, precision, PR-AUC, the costs and the estimates are
Horvitz-Thompson estimates of the whole day's. The Evidently snapshot gets the uniform
part only (frauds at the same rate), so its precision is not inflated by the kept frauds.
Why: scoring is a point-in-time join and a model per row, 8.7 s of a 1M-row day's 13.5 s.
`python -m benchmarks.performance_sample` on a 1M-row day (20,000 frauds): 14.8 s whole,
6.4 s for 220,412 rows scored; precision 0.9179 against 0.9213, PR-AUC 0.8942 against
0.8948, recall equal, cost +0.55%.

The estimated cost is the least reliable of the three: it sums p_i x amount over the
approved rows, the low-score tail where a linear model's probabilities are least exact.
On the same month it was off by 19.7% of the measured cost on average, bias +18.8% (raw
probabilities; Platt's: 20.0%, +19.3%): it over-states the day's cost while its labels are
out, and is replaced by the measured value once they arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fraud_assets import contract
from fraud_assets import labels as label_feed
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.model import decisions, evaluation
from fraud_assets.model.loaded import LoadedModel
from fraud_assets.monitoring.columns import SCORE
from fraud_assets.monitoring.scoring import score_rows

# Measured on three small champions (10-12 days of 1,000-2,000 rows): normal days at
# 1,000-2,000 rows scored F1 0.35..0.62; a day whose labels no longer follow the learned
# pattern (concept drift, which no data drift report can see) below 0.1; late-night days
# 0.2 with one champion and 0.5 with another. Data drift is the first signal, this floor
# the backstop. The floor is a business choice: configure it on the asset and the sensor.
DEFAULT_F1_FLOOR = 0.30
# 2% fraud at 2,000 rows is 40 frauds; below 10 the day's F1 is mostly noise.
DEFAULT_MIN_FRAUDS = 10
METRICS: tuple[str, ...] = ("precision", "recall", "f1", "pr_auc", "roc_auc")

# Metadata keys of the `model_performance` asset, read back by the drift sensor.
F1_KEY = "f1"
JUDGED_KEY = "judged"
BASIS_KEY = "performance_basis"  # MEASURED or ESTIMATED
MATURITY_KEY = "label_maturity"
MEASURED, ESTIMATED = "measured", "estimated"
ESTIMATED_METRICS: tuple[str, ...] = ("precision", "recall", "f1")  # as estimated_<name>
# The day's decisions priced with the version's stored costs (its bands, its capacity):
# measured on known labels, estimated (as estimated_<name>) on expected ones.
COST_METRICS: tuple[str, ...] = ("cost", "cost_saved", "reviews_per_day", "blocks")
# A day is measured once this share of its scored rows has a known label.
DEFAULT_MIN_LABEL_MATURITY = 0.95
# Rows other than known frauds scored per day, about (`sample_day`); a day with fewer is
# scored whole, as every demo day is.
DEFAULT_SAMPLE_ROWS = 200_000
STATUS_KEY = "performance_status"
REASON_KEY = "performance_reason"


@dataclass(frozen=True)
class DayPerformance:
    day: str
    champion: LoadedModel
    metrics: dict[str, float]  # METRICS (+ fraud_rate, rows); empty when not judged
    rows_scored: int
    rows_without_features: int
    frauds: int
    judged: bool
    note: str  # why it was not judged, or ""
    # The scored rows' labels and scores (n,), for the dashboards' Evidently snapshot.
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)
    scores: np.ndarray | None = field(default=None, repr=False, compare=False)
    basis: str = MEASURED  # ESTIMATED while the day's labels have not matured
    label_maturity: float = 1.0  # share of scored rows with a known label
    estimated: dict[str, float] = field(default_factory=dict)  # ESTIMATED_METRICS
    rows_sampled: int = 0  # rows actually scored (rows_scored is what they stand for)
    sample_rate: float = 1.0  # share of the rows other than known frauds scored

    @property
    def in_training_window(self) -> bool:
        return self.champion.trained_on(self.day)

    def below(self, f1_floor: float) -> bool:
        return self.judged and self.metrics["f1"] < f1_floor

    def status(self, f1_floor: float) -> str:
        if not self.judged:
            return "not_judged"
        return "below_floor" if self.below(f1_floor) else "ok"

    def reason(self, f1_floor: float) -> str:
        """One readable line, as check description, metadata and retraining reason."""
        head = f"champion v{self.champion.version} on {self.day}"
        if self.basis == ESTIMATED:
            return f"{head}: estimated: {self.note}"
        if not self.judged:
            return f"{head}: not judged: {self.note}"
        m = self.metrics
        verdict = "below" if self.below(f1_floor) else "at or above"
        return (f"{head}: F1 {m['f1']:.3f} {verdict} the floor {f1_floor:g} (precision "
                f"{m['precision']:.3f}, recall {m['recall']:.3f}, PR-AUC {m['pr_auc']:.3f} at "
                f"threshold {self.champion.threshold:.4f}, {self.frauds} frauds in "
                f"{self.rows_scored:,} rows{self._sampled()})")

    def _sampled(self) -> str:
        if self.sample_rate >= 1:
            return ""
        return (f"; scored {self.rows_sampled:,}: the frauds and {self.sample_rate:.1%} of "
                "the others, weighted")


def measure_day(day: str, validated: pd.DataFrame, champion: LoadedModel,
                store: MerchantFeatureStore,
                min_frauds: int = DEFAULT_MIN_FRAUDS, feed: pd.DataFrame | None = None,
                min_label_maturity: float = DEFAULT_MIN_LABEL_MATURITY,
                sample_rows: int = DEFAULT_SAMPLE_ROWS) -> DayPerformance:
    """Score the day's validated rows with the champion and measure it on their labels.

    `feed`: accepted labels of the label feed for the day's transactions (`labels.
    read_accepted`); with the labels the rows landed with, every label known now. Below
    `min_label_maturity` known, the day is estimated (module docstring), not judged. Over
    `sample_rows` rows other than known frauds, a weighted sample is scored (`sample_day`)."""
    if validated.empty:  # every row quarantined: a fact about the day, not an error
        return DayPerformance(day, champion, {}, 0, 0, 0, judged=False,
                              note="the day has no validated rows")
    validated = validated.reset_index(drop=True)
    known_all = label_feed.as_of(validated, pd.Series(day, index=validated.index),
                                 feed if feed is not None else label_feed.read_accepted_empty(),
                                 None)
    sample = sample_day(validated[contract.TRANSACTION_ID.name], known_all, sample_rows)
    scored = score_rows(validated.iloc[sample.rows], champion, store)
    frame = scored.frame
    # Scoring drops rows without features and reorders by time: weights follow the ids.
    at = pd.Index(validated[contract.TRANSACTION_ID.name].iloc[sample.rows]).get_indexer(
        frame[contract.TRANSACTION_ID.name])
    weight, uniform = sample.weight[at], sample.uniform[at]
    known = known_all.iloc[sample.rows].iloc[at].reset_index(drop=True)
    scores = frame[SCORE].to_numpy()
    maturity = label_feed.maturity(known, weight)
    estimated = estimate(known, scores, champion.threshold, weight=weight)
    amount = frame[contract.AMOUNT.name].to_numpy()
    estimated |= day_costs(champion, _expected(known, scores), scores, amount, day, weight)
    has = known.notna().to_numpy()
    labels = known[has].astype(int).to_numpy()
    frauds = int(labels.sum())
    rows = int(round(weight.sum()))
    basis = MEASURED if len(frame) and maturity >= min_label_maturity else ESTIMATED
    note = (_why_not_judged(len(frame), frauds, min_frauds) if basis == MEASURED else
            f"labels not matured: {maturity:.0%} of {rows:,} rows known (< "
            f"{min_label_maturity:.0%}): precision {estimated['precision']:.3f} and recall "
            f"{estimated['recall']:.3f}, decision cost {estimated['cost']:,.2f} estimated "
            "from the scores")
    metrics = {} if note else (
        evaluation.score(labels, scores[has], champion.threshold, sample_weight=weight[has])
        | day_costs(champion, labels, scores[has], amount[has], day, weight[has]))
    return DayPerformance(day, champion, metrics, rows,
                          int(round(sample.weight.sum() - weight.sum())), frauds,
                          judged=not note, note=note, labels=labels[uniform[has]],
                          scores=scores[has][uniform[has]], basis=basis,
                          label_maturity=maturity, estimated=estimated,
                          rows_sampled=len(frame), sample_rate=sample.rate)


@dataclass(frozen=True)
class DaySample:
    """Which of a day's rows are scored and what each stands for."""

    rows: np.ndarray  # (k,) positions of the scored rows in the day, ascending
    weight: np.ndarray  # (k,) transactions each stands for: 1 for a known fraud, 1 / rate
    uniform: np.ndarray  # (k,) bool: in the uniform part (hash below the cut, frauds too)
    rate: float  # share of the rows other than known frauds kept (1.0: every row)


def sample_day(transaction_ids: pd.Series, known: pd.Series, sample_rows: int) -> DaySample:
    """Every row whose known label is fraud, and the others whose transaction id hashes
    below a cut kept for about `sample_rows` of them (pandas' fixed-key SipHash of the id
    as a share of 2**64: the same rows on every run and machine). `transaction_ids` and
    `known` (n,) share their positions; `known` Int64, NA for not known."""
    fraud = (known == 1).fillna(False).to_numpy(dtype=bool)
    others = int((~fraud).sum())
    rate = 1.0 if others <= sample_rows else sample_rows / others
    if rate >= 1.0:
        rows = np.arange(len(known))
        return DaySample(rows, np.ones(len(rows)), np.ones(len(rows), dtype=bool), 1.0)
    # Not categorized first: for a million distinct ids 0.22 s against 0.97 s, same hashes.
    hashed = pd.util.hash_array(transaction_ids.to_numpy(dtype=object), categorize=False)
    below = hashed < np.uint64(min(rate * 2.0**64, 2.0**64 - 1))
    rows = np.flatnonzero(fraud | below)
    weight = np.where(fraud[rows], 1.0, 1.0 / rate)
    return DaySample(rows, weight, below[rows], rate)


def estimate(known: pd.Series, scores: np.ndarray, threshold: float,
             proba: np.ndarray | None = None,
             weight: np.ndarray | None = None) -> dict[str, float]:
    """Estimated precision, recall and F1 at `threshold` (ESTIMATED_METRICS): each row's
    expected label is its known label, else its probability (module docstring). `known`
    (n,) Int64 with NA for unknown, `scores` (n,) the model's scores (flagged at
    `threshold`), `proba` (n,) calibrated P(fraud) (default: the scores), `weight` (n,)
    the rows each stands for (default 1). NaN where undefined (no row flagged, no
    expected fraud)."""
    w = np.ones(len(scores)) if weight is None else np.asarray(weight, dtype="float64")
    expected = _expected(known, scores if proba is None else proba) * w
    flagged = scores >= threshold
    tp = float(expected[flagged].sum())
    precision = tp / w[flagged].sum() if flagged.any() else float("nan")
    total = float(expected.sum())
    recall = tp / total if total > 0 else float("nan")
    f1 = (2 * precision * recall / (precision + recall)
          if precision + recall > 0 else float("nan"))
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def _expected(known: pd.Series, proba: np.ndarray) -> np.ndarray:
    """Each row's expected label (n,): its known label, else its probability."""
    expected = known.astype("Float64").fillna(pd.Series(proba, index=known.index))
    return expected.to_numpy(dtype="float64")


def day_costs(champion: LoadedModel, expected: np.ndarray, scores: np.ndarray,
              amount: np.ndarray, day: str, weight: np.ndarray | None = None,
              ) -> dict[str, float]:
    """COST_METRICS of one day's rows at the champion's own bands and stored costs (the
    defaults for a version stored before costs existed). `expected` (n,): 0/1 labels for
    the measured cost, expected labels for the estimated one; `amount` (n,) currency;
    `weight` (n,) the rows each stands for (default 1)."""
    costs = champion.policy.costs if champion.policy else decisions.DEFAULT_COSTS
    report = decisions.expected_costs(expected, scores, amount, np.full(len(scores), day),
                                      champion.bands, costs, sample_weight=weight)
    return {name: value for name, value in report.as_metrics().items() if name in COST_METRICS}


def _why_not_judged(rows: int, frauds: int, min_frauds: int) -> str:
    if rows == 0:
        return "no row of the day has merchant features to score with"
    if frauds < min_frauds:
        return f"only {frauds} fraud(s) in {rows:,} rows (< {min_frauds}): too few to judge"
    if frauds == rows:
        return "every row is fraud: precision and PR-AUC say nothing"
    return ""
