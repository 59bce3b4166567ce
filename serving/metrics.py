"""What a fraud team watches on /metrics, beside BentoML's request metrics: answers by
model version, answering alias and decision, the score distribution, and where merchant
features came from. Prometheus metrics through `bentoml.metrics` (BentoML's drop-in for
prometheus_client, set up for its multiprocess mode), exported on BentoML's /metrics."""

from __future__ import annotations

import bentoml
import numpy as np

# Where the fraud probability falls: fine near 0 (most traffic), coarse above.
SCORE_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)

ANSWERS = bentoml.metrics.Counter(
    name="fraud_answers", documentation="Scored transactions by model version, answering "
    "alias (champion or challenger) and decision (flagged = is_fraud)",
    labelnames=["model_version", "answered_by", "decision"])
SCORES = bentoml.metrics.Histogram(
    name="fraud_score", documentation="Fraud probability of each answer, by model version",
    labelnames=["model_version"], buckets=SCORE_BUCKETS)
FEATURE_LOOKUPS = bentoml.metrics.Counter(
    name="fraud_feature_lookups", documentation="Merchant feature lookups by source "
    "(feast, feast_prior, imputed, stale: older than the view's freshness limit)",
    labelnames=["source"])


def record(versions: np.ndarray, answered_by: np.ndarray, flagged: np.ndarray,
           scores: np.ndarray, sources: np.ndarray) -> None:
    """Count one scored call's rows (arrays aligned per row). Counters take one increment
    per distinct label set; the histogram takes each score (prometheus has no bulk observe).
    """
    decisions = np.where(flagged, "flagged", "approved")
    keys, counts = np.unique(np.stack([versions.astype(str), answered_by.astype(str),
                                       decisions]), axis=1, return_counts=True)
    for (version, by, decision), count in zip(keys.T.tolist(), counts.tolist(), strict=True):
        ANSWERS.labels(model_version=version, answered_by=by, decision=decision).inc(count)
    for version in np.unique(versions.astype(str)).tolist():
        histogram = SCORES.labels(model_version=version)
        for value in scores[versions.astype(str) == version].tolist():
            histogram.observe(value)
    sources, counts = np.unique(sources.astype(str), return_counts=True)
    for source, count in zip(sources.tolist(), counts.tolist(), strict=True):
        FEATURE_LOOKUPS.labels(source=source).inc(count)
