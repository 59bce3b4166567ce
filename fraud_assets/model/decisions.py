"""Money-based decisions: costs, calibrated probabilities, and the review / block bands.

A fraud team does not act on one best-F1 threshold: it blocks the clearest cases, sends
a band below them to manual review (a limited number per day) and approves the rest. Each
outcome has a price (`Costs`):

* an approved fraud loses `fraud_loss_share * amount + fraud_loss_fixed` (the amount by
  default);
* a reviewed transaction costs `review` (analyst time); review is assumed to catch the
  fraud it sees and to let the legitimate customer through;
* a blocked legitimate transaction costs `blocked_legit` (friction, lost margin); a blocked
  fraud costs nothing.

Bands are thresholds on the model's own score (the served `fraud_probability`): `block`
when score >= `Bands.block`, `review` when score >= `Bands.review`, else `approve`. They
are chosen on the validation slice (`choose_bands`) to minimise the *expected* cost, each
row's expected fraud given by the score calibrated on that slice (`fit_calibration`,
scikit-learn's `CalibratedClassifierCV` around the frozen fitted model, Platt's sigmoid).
On a labelled holdout `realized_costs` prices what the bands would have done, day by day,
with the review capacity enforced (the overflow of a day is approved).

Free of Dagster; the stored form (`DecisionPolicy.to_tags`) is what the registry keeps
with a version and what serving and the gate read back.
"""

from __future__ import annotations

import collections
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import brier_score_loss

from fraud_assets.lake import ARROW_TEXT

APPROVE, REVIEW, BLOCK = "approve", "review", "block"
DECISIONS = (APPROVE, REVIEW, BLOCK)
# The block threshold of "never block": above every probability, and still finite JSON.
NEVER = math.nextafter(1.0, 2.0)
# Version tags (JSON values) the registry writes and `DecisionPolicy.from_tags` reads.
TAG_BANDS = "decision_bands"
TAG_COSTS = "decision_costs"
TAG_CALIBRATION = "calibration"
TAG_FPR_TABLE = "score_fpr_table"
POLICY_TAGS = (TAG_BANDS, TAG_COSTS, TAG_CALIBRATION, TAG_FPR_TABLE)
# Scores of the score -> false-positive-rate table, besides the two bands.
FPR_TABLE_SCORES = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


class DecisionError(ValueError):
    """Costs, bands or stored decision tags that cannot be used (the message names them)."""


@dataclass(frozen=True)
class Costs:
    """What each outcome costs, in the transactions' currency, and the review capacity.

    Defaults: a missed fraud costs its amount, an analyst review 10, a blocked legitimate
    customer 25, and 100 reviews a day (the handbook's k)."""

    review: float = 10.0
    blocked_legit: float = 25.0
    review_capacity_per_day: int = 100
    fraud_loss_share: float = 1.0  # of the amount
    fraud_loss_fixed: float = 0.0  # per missed fraud, on top

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise DecisionError(f"cost {name!r} must be a finite number >= 0, "
                                    f"got {value!r}")

    def fraud_loss(self, amount: np.ndarray) -> np.ndarray:
        """Loss per approved fraud (same shape as `amount`)."""
        return self.fraud_loss_share * np.asarray(amount, dtype="float64") + self.fraud_loss_fixed


DEFAULT_COSTS = Costs()


@dataclass(frozen=True)
class Bands:
    """Score thresholds: block at score >= `block`, review at score >= `review`."""

    review: float
    block: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.review <= self.block <= NEVER):
            raise DecisionError(f"decision bands need 0 <= review <= block <= 1, got "
                                f"review={self.review!r}, block={self.block!r}")

    @classmethod
    def from_threshold(cls, threshold: float) -> Bands:
        """The bands of a version stored without any: no review band, block = is_fraud."""
        return cls(review=float(threshold), block=float(threshold))

    def decide(self, score: np.ndarray) -> np.ndarray:
        """'approve' / 'review' / 'block' per score (an object array of the score's shape)."""
        score = np.asarray(score, dtype="float64")
        return np.where(score >= self.block, BLOCK,
                        np.where(score >= self.review, REVIEW, APPROVE)).astype(object)

    def as_dict(self) -> dict[str, float]:
        return {"review": self.review, "block": self.block}


@dataclass(frozen=True)
class Calibration:
    """Platt's sigmoid on the model's log-odds: p = 1 / (1 + exp(a * logit(score) + b)).

    Why two numbers and not the fitted `CalibratedClassifierCV`: the calibrator is fitted
    on the validation model (`fit_calibration`) and applied to the scores of the refitted
    pipeline, in serving, monitoring and the Bento; two version tags carry it everywhere
    without another pickled artifact. `tests/model/test_decisions.py` checks it equals
    `CalibratedClassifierCV.predict_proba`."""

    a: float
    b: float
    method: str = "sigmoid"

    def apply(self, score: np.ndarray) -> np.ndarray:
        """Calibrated P(fraud) from the model's scores (probabilities in [0, 1])."""
        p = np.clip(np.asarray(score, dtype="float64"), 1e-15, 1 - 1e-15)
        return 1.0 / (1.0 + np.exp(self.a * np.log(p / (1 - p)) + self.b))


def fit_calibration(model: Any, inputs: pd.DataFrame, truth: np.ndarray,
                    sample_weight: np.ndarray | None = None) -> Calibration:
    """Calibrate a fitted binary classifier on a slice it was not fitted on.

    `model` has `decision_function` equal to the log-odds of `predict_proba` (a logistic
    regression pipeline); `inputs` its input frame, `truth` 0/1 labels, `sample_weight`
    the rows' weights or None. The model is frozen (`sklearn.frozen.FrozenEstimator`),
    so only the sigmoid is fitted."""
    if not hasattr(model, "decision_function"):
        raise DecisionError("calibration needs a model with decision_function (log-odds)")
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="sigmoid")
    calibrated.fit(inputs, truth, sample_weight=sample_weight)
    sigmoid = calibrated.calibrated_classifiers_[0].calibrators[0]
    return Calibration(a=float(sigmoid.a_), b=float(sigmoid.b_))


def brier(truth: np.ndarray, proba: np.ndarray,
          sample_weight: np.ndarray | None = None) -> float:
    """Brier score (mean squared error of the probabilities; lower is better)."""
    return float(brier_score_loss(truth, proba, sample_weight=sample_weight))


# -- choosing the bands ---------------------------------------------------------------------
@dataclass(frozen=True)
class BandChoice:
    """The chosen bands and what they are expected to cost on the slice they came from."""

    bands: Bands
    expected_cost: float  # over the slice, in currency
    expected_cost_approve_all: float  # the same slice with no model (every fraud approved)
    reviews_per_day: float
    blocks_per_day: float


def choose_bands(score: np.ndarray, proba: np.ndarray, amount: np.ndarray, days: float,
                 costs: Costs, sample_weight: np.ndarray | None = None) -> BandChoice:
    """The review and block thresholds of least expected cost with at most
    `costs.review_capacity_per_day * days` reviews.

    `score`: the model's scores (the bands are thresholds on them); `proba`: calibrated
    P(fraud) per row; `amount` per row; `days`: how many days of traffic the rows stand
    for; `sample_weight`: rows each standing for that many transactions (None: 1).

    Why not `TunedThresholdClassifierCV`: it tunes one threshold of a binary classifier
    for a scorer; here the decision has three outcomes (two thresholds) and a capacity
    constraint, which a scorer cannot express. The search is exact instead: rows sorted by
    score, a cut only between distinct scores; for each block cut the best review cut
    within capacity is a sliding-window minimum over prefix sums, O(n log n) in all (the
    brute force over all pairs is the test's reference; 1M rows took 2.4 s here)."""
    score = np.asarray(score, dtype="float64")
    n = len(score)
    if n == 0:
        raise DecisionError("no rows to choose decision bands on")
    if days <= 0:
        raise DecisionError(f"days must be > 0, got {days}")
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype="float64")
    p = np.asarray(proba, dtype="float64")
    order = np.argsort(-score, kind="stable")
    s = score[order]
    approve = (w * p * costs.fraud_loss(amount))[order]
    block = (w * (1 - p) * costs.blocked_legit)[order]
    review = w[order] * costs.review
    # Group boundaries: cut k keeps the top k rows, allowed where the score changes.
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(s) != 0) + 1, [n]])
    prefix = {name: np.concatenate([[0.0], np.cumsum(v)])[cuts]
              for name, v in (("a", approve), ("b", block), ("r", review), ("w", w[order]))}
    capacity = costs.review_capacity_per_day * days
    # cost(j, i) = B[j] - R[j] + (R[i] - A[i]) + A_total, block top j, review j..i.
    head = prefix["b"] - prefix["r"]
    tail = prefix["r"] - prefix["a"]
    best = _best_review_cuts(tail, prefix["w"], capacity)
    total = head + tail[best] + prefix["a"][-1]
    j = int(np.argmin(total))
    i = int(best[j])
    bands = Bands(review=_threshold(s, cuts, i), block=_threshold(s, cuts, j))
    return BandChoice(bands, float(total[j]), float(prefix["a"][-1]),
                      float((prefix["w"][i] - prefix["w"][j]) / days),
                      float(prefix["w"][j] / days))


def _threshold(sorted_scores: np.ndarray, cuts: np.ndarray, k: int) -> float:
    """The threshold that keeps the top `cuts[k]` rows: the lowest score kept (NEVER: none)."""
    return NEVER if cuts[k] == 0 else float(sorted_scores[cuts[k] - 1])


def _best_review_cuts(tail: np.ndarray, weight: np.ndarray, capacity: float) -> np.ndarray:
    """For each block cut j, the review cut i >= j minimising tail[i] with
    weight[i] - weight[j] <= capacity (a monotone-deque sliding-window minimum)."""
    g = len(tail)
    best = np.empty(g, dtype=np.int64)
    window: collections.deque[int] = collections.deque()
    right = 0
    for j in range(g):
        while right < g and weight[right] - weight[j] <= capacity * (1 + 1e-12):
            while window and tail[window[-1]] >= tail[right]:
                window.pop()
            window.append(right)
            right += 1
        while window[0] < j:
            window.popleft()
        best[j] = window[0]
    return best


# -- pricing bands on labelled rows ---------------------------------------------------------
@dataclass(frozen=True)
class CostReport:
    """What bands did on labelled rows, capacity enforced per day (currency, counts).

    Priced on expected labels (`expected_costs`) the counts of frauds are expectations
    (floats); on known labels (`realized_costs`) they are whole numbers."""

    cost: float
    cost_approve_all: float  # every fraud approved: the cost without a model
    reviews_per_day: float  # mean over days, after capacity
    review_overflow: int  # review-band rows approved because the day's capacity was used
    blocks: int
    blocked_legit: float
    fraud_missed: float

    @property
    def cost_saved(self) -> float:
        return self.cost_approve_all - self.cost

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}{k}": float(v) for k, v in
                {**asdict(self), "cost_saved": self.cost_saved}.items()}


def realized_costs(truth: np.ndarray, score: np.ndarray, amount: np.ndarray,
                   day: np.ndarray, bands: Bands, costs: Costs) -> CostReport:
    """Price `bands` on labelled rows: per day, the review band's highest scores up to
    the capacity are reviewed, the rest of the band is approved.

    `truth` 0/1, `score`, `amount` and `day` (any per-day key, e.g. the UTC date) per row."""
    report = expected_costs(np.asarray(truth, dtype=int), score, amount, day, bands, costs)
    return replace(report, blocked_legit=int(round(report.blocked_legit)),
                   fraud_missed=int(round(report.fraud_missed)))


def expected_costs(expected: np.ndarray, score: np.ndarray, amount: np.ndarray,
                   day: np.ndarray, bands: Bands, costs: Costs,
                   sample_weight: np.ndarray | None = None) -> CostReport:
    """`realized_costs` on expected labels: `expected` (n,) is each row's P(fraud) in
    [0, 1] (a known label where there is one), so a missed fraud costs p x its loss and a
    blocked row p x nothing + (1 - p) x the friction cost. The decisions (bands, review
    capacity by score rank) do not depend on labels, so this is the expected cost of the
    same decisions; with 0/1 labels it is the realized cost. `sample_weight` (n,): rows of
    a sample, each standing for that many transactions (None: 1 each); every sum and count
    is weighted and a day's review capacity is filled by weight, highest score first (unit
    weights give exactly the unweighted report). Raises DecisionError for an expectation
    outside [0, 1] or missing."""
    e = np.asarray(expected, dtype="float64")
    if not np.all((e >= 0) & (e <= 1)):  # NaN fails too
        raise DecisionError("expected labels must be probabilities in [0, 1] (no NaN)")
    s = np.asarray(score, float)
    w = np.ones(len(s)) if sample_weight is None else np.asarray(sample_weight, float)
    days = day_codes(day)
    decision = bands.decide(s)
    in_band = decision == REVIEW
    # Filled within the day's review band, highest score first; beyond capacity: approved.
    reviewed = in_band & (weight_ranked_in_day(s, days, w, among=in_band)
                          <= costs.review_capacity_per_day)
    blocked = decision == BLOCK
    approved = ~(reviewed | blocked)
    loss = costs.fraud_loss(amount) * w
    cost = ((loss * e)[approved].sum() + costs.review * w[reviewed].sum()
            + costs.blocked_legit * (w * (1 - e))[blocked].sum())
    days = max(int(np.unique(days[days >= 0]).size), 1)
    return CostReport(cost=float(cost), cost_approve_all=float((loss * e).sum()),
                      reviews_per_day=float(w[reviewed].sum() / days),
                      review_overflow=int(round(w[in_band & ~reviewed].sum())),
                      blocks=int(round(w[blocked].sum())),
                      blocked_legit=float((w * (1 - e))[blocked].sum()),
                      fraud_missed=float((w * e)[approved].sum()))


def weight_ranked_in_day(score: np.ndarray, days: np.ndarray, weight: np.ndarray,
                         among: np.ndarray | None = None) -> np.ndarray:
    """(n,) float: the weight of the day's rows ranked at or above each row, its own
    included (`rank_in_day`'s order, highest score first); with unit weights the rank
    itself. Rows outside `among` or of no day get +inf."""
    rank = rank_in_day(score, days, among=among)
    rows = np.flatnonzero(rank < np.iinfo("int64").max)
    out = np.full(len(score), np.inf)
    if not len(rows):
        return out
    order = rows[np.lexsort((rank[rows], days[rows]))]
    ordered_days, ordered_weight = days[order], weight[order]
    cumulative = np.cumsum(ordered_weight)
    starts = np.flatnonzero(np.r_[True, ordered_days[1:] != ordered_days[:-1]])
    before = cumulative[starts] - ordered_weight[starts]  # the days before each day's first
    out[order] = cumulative - np.repeat(before, np.diff(np.r_[starts, len(order)]))
    return out


def precision_at_k_per_day(truth: np.ndarray, score: np.ndarray, day: np.ndarray,
                           k: int) -> float:
    """Transaction-level precision@k, the mean over days of the fraud share among each
    day's `k` highest scores (the handbook's card precision@k, per transaction here: the
    contract has no card id). A day with fewer than k rows counts the rows it has."""
    if k <= 0:
        raise DecisionError(f"k must be >= 1, got {k}")
    return _top_k_share(np.asarray(truth, dtype="float64"), np.asarray(score, float),
                        day_codes(day), k)


def _top_k_share(y: np.ndarray, s: np.ndarray, days: np.ndarray, k: int,
                 tiebreak: np.ndarray | None = None) -> float:
    """Mean over days (codes >= 0) of y's mean among the day's k highest s."""
    top = rank_in_day(s, days, tiebreak=tiebreak) <= k
    top &= days >= 0
    rows = np.bincount(days[top])
    if not rows.any():
        return float("nan")
    frauds = np.bincount(days[top], weights=y[top], minlength=len(rows))
    present = rows > 0
    return float(np.mean(frauds[present] / rows[present]))


def card_precision_at_k_per_day(truth: np.ndarray, score: np.ndarray, day: np.ndarray,
                                card: np.ndarray, k: int) -> float:
    """The handbook's card precision@k (Le Borgne et al., "Fraud-Detection-Handbook",
    ch. 4): per day, each card's highest score and whether any of its transactions that
    day was fraud; the fraud share among the day's `k` highest-scoring cards; the mean over
    days. A row without a card id (`card` missing or blank) is a card of its own, so on
    card-less data this is `precision_at_k_per_day`. Not applied: the handbook's removal
    of cards already found compromised on earlier days (our holdout has no investigation
    history). `card` (n,) ids or None/NaN/''."""
    text = pd.Series(card).astype(ARROW_TEXT)  # Arrow-backed ids are taken as they are
    unknown = (text.isna() | (text.str.strip() == "").fillna(False)).to_numpy(dtype=bool)
    codes, uniques = pd.factorize(text)
    # Integer entities: a card's code, or a code of its own for a card-less row.
    entity = np.where(unknown, len(uniques) + np.arange(len(text)), codes).astype("int64")
    days = day_codes(day)
    # One group per (day, card), numbered in order of first appearance (pandas'
    # groupby(sort=False), the order ties at the k-th card were broken in before).
    key = days.astype("int64") * (len(uniques) + len(text)) + entity
    _, first, group = np.unique(key, return_index=True, return_inverse=True)
    y = np.zeros(len(first))
    np.maximum.at(y, group, np.asarray(truth, dtype="float64"))
    s = np.full(len(first), -np.inf)
    np.maximum.at(s, group, np.asarray(score, float))
    return _top_k_share(y, s, days[first], k, tiebreak=first)


def day_codes(day: np.ndarray) -> np.ndarray:
    """(n,) int codes of a per-row day key (any hashable: dates, strings); -1 = missing,
    a row of no day (pandas' groupby drops those). Give `contract.utc_days` of timestamps:
    an object array of 6M pandas Timestamps took 5.6 s to code, their datetime64 days
    0.1 s."""
    codes, _ = pd.factorize(np.asarray(day))
    return codes


def rank_in_day(score: np.ndarray, days: np.ndarray, among: np.ndarray | None = None,
                tiebreak: np.ndarray | None = None) -> np.ndarray:
    """(n,) 1-based rank of each row's score within its day (`day_codes`), highest first,
    equal scores by `tiebreak` (default: row order), i.e. pandas'
    `groupby(day).rank(method="first", ascending=False)`; rows outside `among` (bool) or
    of no day get a rank above every other (never in a top k).

    numpy sorts, not a pandas groupby: over a 30 x 1M window's 6M-row holdout the gate's
    three per-day rankings per model (cost bands, precision@k, card precision@k) took
    31 s with pandas, ~3 s so (`benchmarks.scale` retraining)."""
    n = len(score)
    rows = np.flatnonzero(days >= 0 if among is None else (days >= 0) & among)
    sub_days = days[rows]
    order = np.lexsort((rows if tiebreak is None else tiebreak[rows], -score[rows], sub_days))
    sorted_days = sub_days[order]
    starts = np.flatnonzero(np.r_[True, sorted_days[1:] != sorted_days[:-1]])
    rank = np.full(n, np.iinfo("int64").max, dtype="int64")
    rank[rows[order]] = (np.arange(len(rows))
                         - np.repeat(starts, np.diff(np.r_[starts, len(rows)])) + 1)
    return rank


def fpr_table(truth: np.ndarray, score: np.ndarray, bands: Bands,
              sample_weight: np.ndarray | None = None) -> list[dict[str, float]]:
    """Score -> false-positive rate (share of legitimate rows at or above the score) and
    recall (share of fraud rows at or above it), for fixed scores and the two bands."""
    y = np.asarray(truth, dtype=int)
    s = np.asarray(score, dtype="float64")
    w = np.ones(len(s)) if sample_weight is None else np.asarray(sample_weight, float)
    legit, fraud = w * (y == 0), w * (y == 1)
    points = sorted({*FPR_TABLE_SCORES, bands.review, min(bands.block, 1.0)})
    return [{"score": round(float(t), 6),
             "false_positive_rate": round(float(legit[s >= t].sum() / max(legit.sum(), 1e-12)), 6),
             "recall": round(float(fraud[s >= t].sum() / max(fraud.sum(), 1e-12)), 6)}
            for t in points]


# -- the stored policy ----------------------------------------------------------------------
@dataclass(frozen=True)
class DecisionPolicy:
    """Everything a version stores about its decisions (`to_tags` / `from_tags`)."""

    bands: Bands
    costs: Costs
    calibration: Calibration
    fpr_table: list[dict[str, float]] = field(default_factory=list)

    def to_tags(self) -> dict[str, str]:
        return {TAG_BANDS: json.dumps(self.bands.as_dict()),
                TAG_COSTS: json.dumps(asdict(self.costs)),
                TAG_CALIBRATION: json.dumps(asdict(self.calibration)),
                TAG_FPR_TABLE: json.dumps(self.fpr_table)}

    @classmethod
    def from_tags(cls, tags: Mapping[str, Any], where: str) -> DecisionPolicy | None:
        """The policy stored in a version's tags; None for a version stored before bands
        existed (no `decision_bands` tag). `where` names the version in errors."""
        if not tags.get(TAG_BANDS):
            return None
        try:
            return cls(bands=Bands(**json.loads(tags[TAG_BANDS])),
                       costs=Costs(**json.loads(tags.get(TAG_COSTS) or "{}")),
                       calibration=Calibration(**json.loads(tags[TAG_CALIBRATION])),
                       fpr_table=list(json.loads(tags.get(TAG_FPR_TABLE) or "[]")))
        except (KeyError, TypeError, ValueError) as exc:
            raise DecisionError(f"{where}: unreadable decision tags "
                                f"({', '.join(POLICY_TAGS)}): {exc}") from None

    def info(self) -> dict[str, Any]:
        """The /model-info and metadata view."""
        return {"decision_bands": self.bands.as_dict(), "decision_costs": asdict(self.costs),
                "calibration": asdict(self.calibration), "score_fpr_table": self.fpr_table}
