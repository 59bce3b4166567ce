"""Reason codes: the inputs that moved a transaction's score most, in log-odds.

For the platform's model (a ColumnTransformer feeding a logistic regression) the
explanation is exact, not estimated: the score's log-odds is the intercept plus, for each
transformed column, coefficient x transformed value. Summing those products over the
columns an input produced (amount's log and log-squared, hour's one-hot column, ...) gives
each request field's and merchant feature's contribution, and the contributions plus the
intercept add up to the log-odds the model computed. One matrix product per batch: no
sampling explainer (SHAP's KernelExplainer would need thousands of model calls per row
for the same numbers). A model family without coefficients raises ExplainError; serving
then answers without reasons and says why.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from fraud_assets.model.training import MODEL_INPUTS

TOP_REASONS = 3


class ExplainError(ValueError):
    """The model cannot be explained exactly (not a ColumnTransformer + linear model)."""


# A reason as answers carry it: {"feature", "value" (None if imputed), "contribution"
# (log-odds, 4 decimals), "direction", "text"}, e.g. "hour=3: +1.81 log-odds".
Reason = dict[str, Any]
TOWARDS_FRAUD, TOWARDS_LEGIT = "towards_fraud", "towards_legit"
IMPUTED = "missing (imputed)"


def _output_owners(columns: ColumnTransformer) -> list[str]:
    """For each column the transformer outputs, the input column it came from."""
    owners: list[str] = []
    for _, transformer, inputs in columns.transformers_:
        if transformer == "drop" or not len(inputs):
            continue
        inputs = list(inputs)
        produced = len(transformer.get_feature_names_out(inputs))
        if len(inputs) == 1:
            owners += inputs * produced
        elif isinstance(transformer, OneHotEncoder):
            for name, categories in zip(inputs, transformer.categories_, strict=True):
                owners += [name] * len(categories)
        elif produced == len(inputs):
            owners += inputs
        else:
            raise ExplainError(f"cannot tell which of {inputs} each of the {produced} "
                               "columns of a transformer came from")
    return owners


class LinearExplainer:
    """Exact per-input log-odds contributions of a fitted ColumnTransformer + linear model."""

    def __init__(self, model: Pipeline) -> None:
        columns, classifier = (model.steps[0][1], model.steps[-1][1]) \
            if isinstance(model, Pipeline) else (None, model)
        if not isinstance(columns, ColumnTransformer) or not isinstance(
                classifier, LogisticRegression):
            raise ExplainError(f"reason codes need a ColumnTransformer + LogisticRegression "
                               f"pipeline, not {type(model).__name__}")
        owners = _output_owners(columns)
        if len(owners) != classifier.coef_.shape[1]:
            raise ExplainError("the transformer's columns do not match the coefficients")
        self.columns, self.classifier = columns, classifier
        self.intercept = float(classifier.intercept_[0])
        # (transformed columns x inputs): the coefficient where a column belongs to an input.
        self.weights = np.zeros((len(owners), len(MODEL_INPUTS)))
        for row, owner in enumerate(owners):
            self.weights[row, MODEL_INPUTS.index(owner)] = classifier.coef_[0, row]

    def contributions(self, frame: pd.DataFrame) -> np.ndarray:
        """(rows x MODEL_INPUTS) log-odds contributions of a `training.model_input` frame;
        each row sums to the model's log-odds minus the intercept."""
        return np.asarray(self.columns.transform(frame) @ self.weights)

    def score_and_explain(self, frame: pd.DataFrame, k: int = TOP_REASONS
                          ) -> tuple[np.ndarray, list[list[Reason]]]:
        """P(fraud) per row (equal to the pipeline's predict_proba) and its top-k reasons,
        from one transform of the frame: explaining costs a matrix product, not a rerun."""
        transformed = self.columns.transform(frame)
        probability = self.classifier.predict_proba(transformed)[:, 1].astype("float64")
        return probability, self._top(frame, np.asarray(transformed @ self.weights), k)

    def top(self, frame: pd.DataFrame, k: int = TOP_REASONS) -> list[list[Reason]]:
        """Per row, the k inputs with the largest |contribution|, largest first."""
        return self._top(frame, self.contributions(frame), k)

    @staticmethod
    def _top(frame: pd.DataFrame, contributions: np.ndarray, k: int) -> list[list[Reason]]:
        # Picked and converted with numpy, then one dict per kept cell in one loop: objects
        # built one by one from the full matrix cost ~0.5 s per 10,000 rows
        # (benchmarks/reason_codes.py).
        order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :k]
        picked = np.take_along_axis(contributions, order, axis=1)
        values = np.take_along_axis(frame[list(MODEL_INPUTS)].to_numpy(dtype=object), order,
                                    axis=1)
        values[pd.isna(values)] = None
        shown = np.where(values == None, IMPUTED, values).tolist()  # noqa: E711 (elementwise)
        names = np.asarray(MODEL_INPUTS, dtype=object)[order].tolist()
        rounded = picked.round(4).tolist()
        return [[{"feature": n, "value": v, "contribution": r,
                  "direction": TOWARDS_FRAUD if c > 0 else TOWARDS_LEGIT,
                  "text": f"{n}={w}: {c:+.2f} log-odds"}
                 for n, v, w, c, r in zip(*row, strict=True)]
                for row in zip(names, values.tolist(), shown, picked.tolist(), rounded,
                               strict=True)]


_EXPLAINERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def explainer_for(model: Pipeline) -> LinearExplainer:
    """The model's explainer, built once per fitted model object (ExplainError if none)."""
    found = _EXPLAINERS.get(model)
    if found is None:
        found = _EXPLAINERS[model] = LinearExplainer(model)
    return found
