"""How good a fraud model is: metrics at a threshold, the best-F1 threshold, and plots."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and in Dagster runs; set before pyplot loads

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.calibration import CalibrationDisplay  # noqa: E402
from sklearn.metrics import (  # noqa: E402
    ConfusionMatrixDisplay,
    PrecisionRecallDisplay,
    RocCurveDisplay,
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
)

PLOT_NAMES = ("pr_curve", "roc_curve", "confusion_matrix")
RELIABILITY_PLOT = "reliability"


class EvaluationError(ValueError):
    """The labels cannot measure a model (empty or a single class)."""


def _check_labels(y_true: np.ndarray, proba: np.ndarray) -> None:
    if len(y_true) == 0:
        raise EvaluationError("no rows to evaluate on")
    if len(y_true) != len(proba):
        raise EvaluationError(f"{len(y_true)} labels but {len(proba)} scores")
    if len(np.unique(y_true)) < 2:
        raise EvaluationError(f"all {len(y_true):,} evaluation rows have the same label; "
                              "ROC-AUC and PR-AUC need both fraud and legit rows")


def best_f1_threshold(y_true: np.ndarray, proba: np.ndarray,
                      sample_weight: np.ndarray | None = None) -> float:
    """The score threshold (predict fraud when proba >= it) that maximises F1.

    `sample_weight`: each row's weight (a sampled training slice: 1 / the share kept of its
    class), so the threshold is the best on the population the sample stands for."""
    _check_labels(y_true, proba)
    precision, recall, thresholds = precision_recall_curve(y_true, proba,
                                                           sample_weight=sample_weight)
    # The last PR point (recall 0) has no threshold; drop it.
    p, r = precision[:-1], recall[:-1]
    f1 = np.divide(2 * p * r, p + r, out=np.zeros_like(p), where=(p + r) > 0)
    return float(thresholds[int(np.argmax(f1))])


def score(y_true: np.ndarray, proba: np.ndarray, threshold: float,
          sample_weight: np.ndarray | None = None) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision) and the threshold metrics (weighted by
    `sample_weight` when given; `rows` is always the number of rows scored)."""
    _check_labels(y_true, proba)
    predicted = (proba >= threshold).astype(int)
    w = {"sample_weight": sample_weight}
    # One call for the three threshold metrics: each of f1/precision/recall_score checks
    # and counts the labels again (2.5 s a metric on a 6M-row holdout).
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, predicted, average="binary", zero_division=0, **w)
    return {
        "roc_auc": float(roc_auc_score(y_true, proba, **w)),
        "pr_auc": float(average_precision_score(y_true, proba, **w)),
        "f1": float(f1),
        "precision": float(precision),
        "recall": float(recall),
        "fraud_rate": float(np.average(y_true, weights=sample_weight)),
        "rows": float(len(y_true)),
    }


def save_plots(y_true: np.ndarray, proba: np.ndarray, threshold: float,
               folder: Path) -> dict[str, Path]:
    """PR curve, ROC curve and the confusion matrix at `threshold`, as PNG files."""
    _check_labels(y_true, proba)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.png" for name in PLOT_NAMES}
    _save(paths["pr_curve"], lambda ax: PrecisionRecallDisplay.from_predictions(
        y_true, proba, ax=ax, name="model", plot_chance_level=True))
    _save(paths["roc_curve"], lambda ax: RocCurveDisplay.from_predictions(
        y_true, proba, ax=ax, name="model", plot_chance_level=True))
    matrix = confusion_matrix(y_true, (proba >= threshold).astype(int), labels=[0, 1])
    _save(paths["confusion_matrix"], lambda ax: ConfusionMatrixDisplay(
        matrix, display_labels=["legit", "fraud"]).plot(ax=ax, values_format="d",
                                                        colorbar=False))
    return paths


def save_reliability_plot(y_true: np.ndarray, raw: np.ndarray, calibrated: np.ndarray,
                          folder: Path, n_bins: int = 10) -> Path:
    """The reliability diagram (scikit-learn's `CalibrationDisplay`, quantile bins: fraud
    is rare, so uniform bins leave the top ones nearly empty) of the raw and the
    calibrated probabilities, as `reliability.png` in `folder`."""
    _check_labels(y_true, raw)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{RELIABILITY_PLOT}.png"

    def draw(ax) -> None:
        for name, proba in (("raw", raw), ("calibrated", calibrated)):
            CalibrationDisplay.from_predictions(y_true, proba, n_bins=n_bins,
                                                strategy="quantile", ax=ax, name=name)

    _save(path, draw)
    return path


def _save(path: Path, draw) -> None:
    # One figure per plot, always closed: Dagster runs many in one process.
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    try:
        draw(ax)
        ax.set_title(path.stem.replace("_", " "))
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
