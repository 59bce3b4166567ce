"""Reason codes: the inputs that moved a transaction's score most, in log-odds.

For the platform's model (a ColumnTransformer feeding a logistic regression) the
explanation is exact, not estimated: the score's log-odds is the intercept plus, for each
transformed column, coefficient x transformed value. Summing those products over the
columns an input produced (amount's log and log-squared, hour's one-hot column, ...) gives
each request field's and merchant feature's contribution, and the contributions plus the
intercept add up to the log-odds the model computed. One matrix product per batch: no
sampling explainer (SHAP's KernelExplainer would need thousands of model calls per row
for the same numbers).

For the tree family (`training.HIST_GRADIENT_BOOSTING`: a ColumnTransformer giving one
column per input, then a HistGradientBoostingClassifier) reasons are SHAP values of the
booster's raw output (`TreeExplainer`, path-dependent, exact for trees): contributions in
log-odds that add up, with the explainer's expected value, to the model's log-odds, in
the same `Reason` shape. `explainer_for` picks the explainer by family; any other model
raises ExplainError, and serving then answers without reasons.

Scoring the linear model in numpy (`_LinearTerms`), not through the pipeline. The fitted
transformers (log, polynomial, scaler, imputer, one-hot) are replayed from their fitted
attributes as a few array operations per input, and the score is the logistic of the
summed contributions. Why: at the micro-batch sizes the API sees under load (1-32 rows),
sklearn's per-call machinery (ColumnTransformer dispatch, input validation, pandas
indexing, sparse one-hot output) is nearly all of the time, and with a challenger in
shadow it was paid twice per batch. One model on a 16-row batch
(`python -m benchmarks.shadow_scoring --parts`, a busy machine, load 6 on 2 cores):
`Pipeline.predict_proba` 41 ms, 40.8 ms with sklearn's `assume_finite` and
`skip_parameter_validation` (so those switches do not help), the numpy replay 0.43 ms.
The API at 32 clients (`python -m benchmarks.shadow_load --rounds 3 --seconds 8`, ABAB
medians, load 4-8): shadow cost -22.9% / -15.2% of the req/s without it before, -4.3% /
-4.5% after. The replay is checked against the pipeline itself when the explainer is
built (every transformer on a frame spanning the contract's domain, NaN features
included); a pipeline it cannot replay exactly is scored and explained through sklearn as
before, never approximately.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from scipy import sparse
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    PolynomialFeatures,
    StandardScaler,
)

from fraud_assets import contract
from fraud_assets.features.names import CARD_FEATURES, FEATURES
from fraud_assets.model.training import MODEL_INPUTS, model_input

log = logging.getLogger(__name__)

TOP_REASONS = 3


class ExplainError(ValueError):
    """The model has no explainer here (not one of the families `explainer_for` knows)."""


# A reason as answers carry it: {"feature", "value" (None if imputed), "contribution"
# (log-odds, 4 decimals), "direction", "text"}, e.g. "hour=3: +1.81 log-odds".
Reason = dict[str, Any]
TOWARDS_FRAUD, TOWARDS_LEGIT = "towards_fraud", "towards_legit"
IMPUTED = "missing (imputed)"
# The model's input columns, by name: a `training.model_input` frame, or the same columns
# as numpy arrays (`input_arrays`), taken from the frame once and shared by every model
# scored on it (champion and challenger).
Inputs = pd.DataFrame | Mapping[str, np.ndarray]


def input_arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """MODEL_INPUTS of a `training.model_input` frame as numpy arrays (no copies)."""
    return {name: frame[name].to_numpy() for name in MODEL_INPUTS}


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


# -- the fitted transformers replayed in numpy (see the module docstring for why) ----------
_Step = Callable[[np.ndarray], np.ndarray]


def _numeric_steps(transformer: Any) -> list[_Step] | None:
    """The fitted numeric transformer (or Pipeline of them) as array functions, or None
    where one is not replayed here (the pipeline then scores through sklearn)."""
    if isinstance(transformer, Pipeline):
        steps: list[_Step] = []
        for _, step in transformer.steps:
            replayed = _numeric_steps(step)
            if replayed is None:
                return None
            steps += replayed
        return steps
    if transformer is None or transformer == "passthrough":
        return []
    if isinstance(transformer, FunctionTransformer):
        func, kwargs = transformer.func, dict(transformer.kw_args or {})
        return [] if func is None else [lambda x: func(x, **kwargs)]
    if isinstance(transformer, StandardScaler):
        mean, scale = transformer.mean_, transformer.scale_
        return [lambda x: (x if mean is None else x - mean) / (1.0 if scale is None else scale)]
    if isinstance(transformer, PolynomialFeatures):
        powers = transformer.powers_  # (outputs x inputs) exponents
        return [lambda x: np.prod(x[:, None, :] ** powers[None, :, :], axis=2)]
    if isinstance(transformer, SimpleImputer):
        fill = transformer.statistics_
        if not _is_nan(transformer.missing_values) or \
                np.isnan(np.asarray(fill, dtype="float64")).any():  # dropped empty columns
            return None
        fill = np.asarray(fill, dtype="float64")
        if not transformer.add_indicator:
            return [lambda x: np.where(np.isnan(x), fill, x)]
        # The imputed columns, then a 0/1 column per input that was missing at fit
        # (sklearn's MissingIndicator, features="missing-only").
        flagged = transformer.indicator_.features_
        return [lambda x: np.hstack([np.where(np.isnan(x), fill, x),
                                     np.isnan(x[:, flagged]).astype("float64")])]
    return None


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and np.isnan(value)


class _OneHot:
    """One input of a fitted OneHotEncoder: its coefficient per category, by lookup."""

    def __init__(self, name: str, categories: np.ndarray, coef: np.ndarray,
                 ignore_unknown: bool) -> None:
        order = np.argsort(categories, kind="stable")
        self.name, self.ignore_unknown = name, ignore_unknown
        self.categories, self.coef = categories[order], coef[order]

    def __call__(self, data: Inputs, out: np.ndarray) -> None:
        values = np.asarray(data[self.name])
        at = np.minimum(np.searchsorted(self.categories, values), len(self.categories) - 1)
        known = self.categories[at] == values
        if not known.all() and not self.ignore_unknown:
            raise ValueError(f"{self.name} has value(s) the model was not fitted on: "
                             f"{sorted(set(values[~known].tolist()))[:5]}")
        out[:, MODEL_INPUTS.index(self.name)] += np.where(known, self.coef[at], 0.0)


class _Numeric:
    """Numeric inputs through fitted steps, then their coefficients (owner by owner)."""

    def __init__(self, inputs: list[str], steps: list[_Step], weights: np.ndarray) -> None:
        self.inputs, self.steps, self.weights = inputs, steps, weights

    def __call__(self, data: Inputs, out: np.ndarray) -> None:
        x = np.column_stack([np.asarray(data[c], dtype="float64") for c in self.inputs])
        for step in self.steps:
            x = step(x)
        out += weighted_columns(x, self.weights)


class _LinearTerms:
    """Per-input log-odds contributions of a fitted ColumnTransformer + linear model,
    computed from the fitted attributes in numpy (see the module docstring)."""

    def __init__(self, terms: list[Callable[[Inputs, np.ndarray], None]]) -> None:
        self.terms = terms

    @classmethod
    def build(cls, columns: ColumnTransformer, coef: np.ndarray,
              weights: np.ndarray) -> _LinearTerms | None:
        """None when some transformer is not one this replays."""
        terms: list[Callable[[Inputs, np.ndarray], None]] = []
        offset = 0
        for _, transformer, inputs in columns.transformers_:
            if transformer == "drop" or not len(inputs):
                continue
            inputs = list(inputs)
            produced = len(transformer.get_feature_names_out(inputs))
            if isinstance(transformer, OneHotEncoder):
                if transformer.drop_idx_ is not None or transformer.handle_unknown not in (
                        "error", "ignore") or getattr(transformer, "_infrequent_enabled", False):
                    return None
                for name, categories in zip(inputs, transformer.categories_, strict=True):
                    terms.append(_OneHot(name, np.asarray(categories),
                                         coef[offset:offset + len(categories)],
                                         transformer.handle_unknown == "ignore"))
                    offset += len(categories)
                continue
            steps = _numeric_steps(transformer)
            if steps is None:
                return None
            terms.append(_Numeric(inputs, steps, weights[offset:offset + produced]))
            offset += produced
        return cls(terms) if offset == len(coef) else None

    def __call__(self, data: Inputs, rows: int) -> np.ndarray:
        out = np.zeros((rows, len(MODEL_INPUTS)))
        for term in self.terms:
            term(data, out)
        return out


def probe_frame(rows: int = 120) -> pd.DataFrame:
    """A `training.model_input` frame spanning the contract's domain: every category,
    hour and weekday, amounts from cents to the maximum, features large, small and
    missing (NaN every 7th row). What the numpy replay is checked on."""
    at = np.arange(rows)
    data: dict[str, Any] = {}
    for shift, field in enumerate(contract.REQUEST_FIELDS):
        if field.allowed is not None:
            data[field.name] = [field.allowed[(i + shift) % len(field.allowed)] for i in at]
        elif field.kind == "int":
            low, high = int(field.low or 0), int(field.high or 0)
            data[field.name] = low + (at * (shift + 1)) % (high - low + 1)
        else:
            low = field.low if field.low else 0.01
            data[field.name] = np.roll(np.geomspace(low, field.high or 1e4, rows), shift)
    for shift, name in enumerate(FEATURES + CARD_FEATURES):
        values = np.roll(np.geomspace(1e-4, 1e5, rows), 11 * (shift + 1))
        data[name] = np.where(at % 7 == shift % 7, np.nan, values)
    return model_input(pd.DataFrame(data))


class _Explainer:
    """What both explainers offer on top of their own `contributions` and `score`."""

    def contributions(self, data: Inputs) -> np.ndarray:
        raise NotImplementedError

    def score(self, data: Inputs, explain: bool = True, k: int = TOP_REASONS
              ) -> tuple[np.ndarray, list[list[Reason]] | None]:
        raise NotImplementedError

    def score_and_explain(self, data: Inputs, k: int = TOP_REASONS
                          ) -> tuple[np.ndarray, list[list[Reason]]]:
        """P(fraud) per row and its top-k reasons (`score` with reasons)."""
        probability, reasons = self.score(data, True, k)
        assert reasons is not None
        return probability, reasons

    def top(self, data: Inputs, k: int = TOP_REASONS) -> list[list[Reason]]:
        """Per row, the k inputs with the largest |contribution|, largest first."""
        return top_reasons(data, self.contributions(data), k)


class LinearExplainer(_Explainer):
    """Exact per-input log-odds contributions of a fitted ColumnTransformer + linear model."""

    def __init__(self, model: Pipeline) -> None:
        columns, classifier = _steps(model)
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
        self.terms = self._checked(_LinearTerms.build(columns, classifier.coef_[0],
                                                      self.weights))

    def _checked(self, terms: _LinearTerms | None) -> _LinearTerms | None:
        """The numpy replay if it gives the pipeline's own contributions on `probe_frame`,
        else None (scored through sklearn: slower, never approximate)."""
        if terms is None:
            log.info("reason codes: a transformer is not replayed in numpy; scoring "
                     "through the sklearn pipeline")
            return None
        probe = probe_frame()
        expected = self._sklearn_contributions(probe)
        try:
            got = terms(probe, len(probe))
        except Exception as exc:  # a replay that cannot even run is not used
            log.warning("reason codes: numpy replay failed on the probe (%s); scoring "
                        "through the sklearn pipeline", exc)
            return None
        if not np.allclose(got, expected, rtol=1e-9, atol=1e-9):
            log.warning("reason codes: numpy replay differs from the pipeline by up to %.3g "
                        "log-odds; scoring through the sklearn pipeline",
                        float(np.nanmax(np.abs(got - expected))))
            return None
        return terms

    def _sklearn_contributions(self, frame: pd.DataFrame) -> np.ndarray:
        transformed = self.columns.transform(frame)
        if sparse.issparse(transformed):
            transformed = transformed.toarray()
        return weighted_columns(np.asarray(transformed, dtype="float64"), self.weights)

    def contributions(self, data: Inputs) -> np.ndarray:
        """(rows x MODEL_INPUTS) log-odds contributions of a `training.model_input` frame
        (or its `input_arrays`); each row sums to the model's log-odds minus the intercept."""
        if self.terms is not None:
            return self.terms(data, len(data[MODEL_INPUTS[0]]))
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
        return self._sklearn_contributions(frame)

    def score(self, data: Inputs, explain: bool = True, k: int = TOP_REASONS
              ) -> tuple[np.ndarray, list[list[Reason]] | None]:
        """P(fraud) per row (the pipeline's predict_proba, to rounding) and, if `explain`,
        its top-k reasons, from one pass: explaining costs the ranking, not a rerun."""
        contributions = self.contributions(data)
        probability = expit(self.intercept + _row_sums(contributions))
        return probability, (top_reasons(data, contributions, k) if explain else None)


def weighted_columns(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`x @ weights` ((rows x k) by (k x m)), added column by column: BLAS picks other
    kernels (and roundings) for other batch sizes, and a transaction must get the same
    score alone or in any batch (a 1-row and a 2-row product once differed by one ulp)."""
    out = np.zeros((x.shape[0], weights.shape[1]))
    for j in range(x.shape[1]):
        out += x[:, j:j + 1] * weights[j]
    return out


def _row_sums(contributions: np.ndarray) -> np.ndarray:
    """Each row's sum, added left to right: the same rounding whatever the batch size."""
    total = np.zeros(len(contributions))
    for j in range(contributions.shape[1]):
        total += contributions[:, j]
    return total


def top_reasons(data: Inputs, contributions: np.ndarray, k: int = TOP_REASONS
                ) -> list[list[Reason]]:
    """Per row, the k inputs with the largest |contribution| (rows x MODEL_INPUTS,
    log-odds), largest first, as answers carry them.

    Picked column-wise with numpy, then one flat loop over the kept cells in which a
    reason seen before in the batch (same input, value and contribution: for the linear
    model every hour=3 row has the same hour term) is the same dict, not a new one.
    Rows may therefore share reason dicts: read them, do not change them. Why: the
    objects were the cost, through the garbage collector. 10,000 rows (30,000 reasons)
    added 340 ms before and 31 ms after in a process whose long-lived objects are left to
    the collector (`python -m benchmarks.reason_codes --no-freeze`; the 606 ms measured
    first was this case on a quieter machine): each burst of new objects made it walk
    the ~315,000 objects of a loaded platform. With those frozen, as the service does
    (`gc.freeze()` at start), reasons add ~40 ms per 10,000 rows before and after.
    """
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(contributions, order, axis=1).ravel()
    inputs = np.empty((len(contributions), len(MODEL_INPUTS)), dtype=object)
    for column, name in enumerate(MODEL_INPUTS):
        inputs[:, column] = np.asarray(data[name])
    values = np.take_along_axis(inputs, order, axis=1).ravel()
    values[pd.isna(values)] = None
    seen: dict[tuple[int, Any, float], Reason] = {}
    flat: list[Reason] = []
    for at, value, contribution, rounded in zip(order.ravel().tolist(), values.tolist(),
                                                picked.tolist(), picked.round(4).tolist(),
                                                strict=True):
        key = (at, value, contribution)
        reason = seen.get(key)
        if reason is None:
            name = MODEL_INPUTS[at]
            shown = IMPUTED if value is None else value
            reason = seen[key] = {
                "feature": name, "value": value, "contribution": rounded,
                "direction": TOWARDS_FRAUD if contribution > 0 else TOWARDS_LEGIT,
                "text": f"{name}={shown}: {contribution:+.2f} log-odds"}
        flat.append(reason)
    return [flat[row:row + k] for row in range(0, len(flat), k)]


class TreeExplainer(_Explainer):
    """SHAP values (log-odds) per input of a fitted ColumnTransformer (one output column
    per model input, named as the input) + HistGradientBoostingClassifier.

    Cost (`python -m benchmarks.reason_codes --family hist_gradient_boosting`, 100 trees,
    load 5 on 2 cores): a 10,000-row batch took 263 ms without reasons and 2.7 s with
    them, ~245 us per row for TreeSHAP, against ~4 us per row for the linear model's
    exact reasons; `explain=false` skips it for bulk scoring."""

    def __init__(self, model: Pipeline) -> None:
        columns, classifier = _steps(model)
        if not isinstance(columns, ColumnTransformer) or not isinstance(
                classifier, HistGradientBoostingClassifier):
            raise ExplainError("reason codes need a ColumnTransformer + LogisticRegression "
                               "or HistGradientBoostingClassifier pipeline, not "
                               f"{type(model).__name__} of {type(classifier).__name__}")
        outputs = [str(n) for n in columns.get_feature_names_out()]
        # One column per input; a model from before the card features has fewer inputs.
        if len(set(outputs)) != len(outputs) or not set(outputs) <= set(MODEL_INPUTS):
            raise ExplainError(f"the tree model's columns {outputs} are not one per model "
                               f"input {list(MODEL_INPUTS)}")
        import shap  # heavy (numba): only where a tree model is served

        self.columns, self.classifier = columns, classifier
        self.positions = [MODEL_INPUTS.index(name) for name in outputs]
        self.shap = shap.TreeExplainer(classifier)  # raw output: log-odds
        self.intercept = float(np.ravel(self.shap.expected_value)[0])

    def _transform(self, data: Inputs) -> np.ndarray:
        frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(dict(data))
        return np.asarray(self.columns.transform(frame), dtype="float64")

    def _shap(self, transformed: np.ndarray) -> np.ndarray:
        values = np.asarray(self.shap.shap_values(transformed, check_additivity=False))
        out = np.zeros((len(transformed), len(MODEL_INPUTS)))
        out[:, self.positions] = values.reshape(len(transformed), -1)
        return out

    def contributions(self, data: Inputs) -> np.ndarray:
        """(rows x MODEL_INPUTS) SHAP values in log-odds; each row adds up, with
        `intercept` (the explainer's expected value), to the model's log-odds."""
        return self._shap(self._transform(data))

    def score(self, data: Inputs, explain: bool = True, k: int = TOP_REASONS
              ) -> tuple[np.ndarray, list[list[Reason]] | None]:
        """P(fraud) per row (the booster's own predict_proba) and, if `explain`, its top-k
        reasons by SHAP value, from one transform of the rows."""
        transformed = self._transform(data)
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            probability = self.classifier.predict_proba(transformed)[:, 1].astype("float64")
        if not explain:
            return probability, None
        return probability, top_reasons(data, self._shap(transformed), k)



def _steps(model: Any) -> tuple[Any, Any]:
    """(first step, last step) of a Pipeline; (None, model) for anything else."""
    return (model.steps[0][1], model.steps[-1][1]) if isinstance(model, Pipeline) \
        else (None, model)


Explainer = LinearExplainer | TreeExplainer


def _explainer(model: Any) -> Explainer:
    """The explainer of the model's family (ExplainError naming what was found)."""
    if isinstance(_steps(model)[1], HistGradientBoostingClassifier):
        return TreeExplainer(model)
    return LinearExplainer(model)


_EXPLAINERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def explainer_for(model: Pipeline) -> Explainer:
    """The model's explainer, built once per fitted model object (ExplainError if none;
    that answer is remembered too, so a model without an explainer is examined once)."""
    try:
        found = _EXPLAINERS.get(model)
    except TypeError:  # not weak-referenceable: not a fitted sklearn estimator
        found = None
    if found is None:
        try:
            found = _explainer(model)
        except ExplainError as exc:
            found = str(exc)
        try:
            _EXPLAINERS[model] = found
        except TypeError:
            pass
    if isinstance(found, str):
        raise ExplainError(found)  # a fresh exception: a re-raised one grows its traceback
    return found
