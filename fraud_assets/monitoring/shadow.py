"""The challenger on live traffic: what shadow scoring says about it, day by day.

From the prediction log's shadow columns (both models scored every request): how often
the two decisions agree, each model's flag rate, how far apart their score distributions
are (two-sample Kolmogorov-Smirnov, scipy), and, when the day's labels have landed, both
models' precision, recall and F1 on exactly the transactions they both saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from scipy import stats
from sklearn.metrics import f1_score, precision_score, recall_score

from fraud_assets import contract
from fraud_assets.monitoring import prediction_log as plog

MIN_LABELLED = 20  # fewer labelled answers than this: no precision / recall reported


@dataclass(frozen=True)
class ShadowComparison:
    """Champion versus challenger on one day's live traffic."""

    rows: int  # answers scored by both models
    champion_versions: str  # comma-separated: the alias may move during a day
    challenger_versions: str
    agreement: float  # share of answers where both decisions are equal
    champion_flag_rate: float
    challenger_flag_rate: float
    mean_score_difference: float  # challenger minus champion
    ks_statistic: float  # distance between the two score distributions
    ks_pvalue: float
    canary_rows: int  # answers the challenger gave (canary)
    labelled: int = 0  # answers whose transaction has a label
    metrics: dict[str, float] = field(default_factory=dict)  # champion_f1, challenger_f1...


def _versions(values: pd.Series) -> str:
    return ",".join(sorted({str(v) for v in values.dropna()}, key=lambda v: (len(v), v)))


def compare(shadow: pd.DataFrame, labels: pd.DataFrame | None = None) -> ShadowComparison:
    """Compare the models on `plog.read_shadow`'s rows; `labels`: the day's validated
    transactions (`transaction_id`, `is_fraud`), joined by transaction id when given.
    ValueError when there is no row to compare."""
    if shadow.empty:
        raise ValueError("no answer was scored in shadow (no challenger distinct from the "
                         "champion while the service answered)")
    mine = shadow[plog.CHAMPION_SCORE].astype(float).to_numpy()
    theirs = shadow[plog.CHALLENGER_SCORE].astype(float).to_numpy()
    flagged_mine = shadow[plog.CHAMPION_IS_FRAUD].astype(bool).to_numpy()
    flagged_theirs = shadow[plog.CHALLENGER_IS_FRAUD].astype(bool).to_numpy()
    ks = stats.ks_2samp(mine, theirs)
    labelled, metrics = _labelled_metrics(shadow, labels)
    return ShadowComparison(
        rows=len(shadow), champion_versions=_versions(shadow[plog.CHAMPION_VERSION]),
        challenger_versions=_versions(shadow[plog.CHALLENGER_VERSION]),
        agreement=float((flagged_mine == flagged_theirs).mean()),
        champion_flag_rate=float(flagged_mine.mean()),
        challenger_flag_rate=float(flagged_theirs.mean()),
        mean_score_difference=float((theirs - mine).mean()),
        ks_statistic=float(ks.statistic), ks_pvalue=float(ks.pvalue),
        canary_rows=int((shadow[plog.ANSWERED_BY] == "challenger").sum()),
        labelled=labelled, metrics=metrics)


def _labelled_metrics(shadow: pd.DataFrame, labels: pd.DataFrame | None
                      ) -> tuple[int, dict[str, float]]:
    if labels is None or labels.empty or contract.TRANSACTION_ID.name not in labels:
        return 0, {}
    key = contract.TRANSACTION_ID.name
    known = labels[[key, contract.LABEL]].dropna().drop_duplicates(key)
    joined = shadow.dropna(subset=[key]).merge(known, on=key, how="inner")
    if len(joined) < MIN_LABELLED:
        return len(joined), {}
    truth = joined[contract.LABEL].astype(int).to_numpy()
    metrics: dict[str, float] = {}
    for who, flagged in (("champion", plog.CHAMPION_IS_FRAUD),
                         ("challenger", plog.CHALLENGER_IS_FRAUD)):
        decided = joined[flagged].astype(bool).to_numpy()
        metrics.update({
            f"{who}_precision": float(precision_score(truth, decided, zero_division=0)),
            f"{who}_recall": float(recall_score(truth, decided, zero_division=0)),
            f"{who}_f1": float(f1_score(truth, decided, zero_division=0))})
    return len(joined), metrics


def as_metadata(result: ShadowComparison) -> dict[str, float | int | str]:
    """Flat numbers for the asset's metadata (plotted per partition in the Dagster UI)."""
    flat = {**{k: v for k, v in result.__dict__.items() if k != "metrics"}, **result.metrics}
    return {k: round(v, 6) if isinstance(v, float) else v for k, v in flat.items()}

