"""Train the fraud model: one scikit-learn Pipeline that holds all preprocessing.

The logged model takes the raw request fields (`contract.REQUEST_FIELDS`) plus the
merchant features (`features.names.FEATURES`) and returns probabilities, so serving
never re-implements an encoding.

Why a logistic regression on these transforms: in the simulator the exact log-likelihood
ratio of fraud vs legit is quadratic in log(amount) (two log-normals), a step in the hour
(fraud only happens at night) and one term per merchant category. One-hot hours and
categories plus log(amount) and its square span exactly that family, so the model can
reach the data's ceiling from 30 days of data and stays cheap to train and to serve.
It is the default family (`TrainParams.model_family`); `hist_gradient_boosting` trains
sklearn's HistGradientBoostingClassifier instead (for data whose shape a linear model
misses), on one column per model input so its reason codes (SHAP, `model.explain`) name
the request fields and features themselves.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    PolynomialFeatures,
    StandardScaler,
)

from fraud_assets import contract
from fraud_assets.features.names import CARD_FEATURES, FEATURES, HOLDOUT, SPLIT, TRAIN, WEIGHT
from fraud_assets.model import decisions, evaluation

REQUEST_COLUMNS: tuple[str, ...] = tuple(f.name for f in contract.REQUEST_FIELDS)
# What the logged model takes, in this order: the request body plus the merchant features
# plus the card features (issue 15; NaN = unknown: no card, or no earlier event).
MODEL_INPUTS: tuple[str, ...] = REQUEST_COLUMNS + FEATURES + CARD_FEATURES
# The dtype of each input column as the pipeline is fit on it.
_KIND_DTYPES: dict[str, str | type] = {"float": "float64", "int": "int64"}
MODEL_INPUT_DTYPES: dict[str, str | type] = {
    **{f.name: _KIND_DTYPES.get(f.kind, object) for f in contract.REQUEST_FIELDS},
    **{name: "float64" for name in FEATURES + CARD_FEATURES}}
TIME = contract.EVENT_TIMESTAMP.name
LABEL = contract.LABEL
# Fixed category lists from the contract: the encoding never depends on which values a
# training window happened to contain, and an unknown value fails loudly at scoring time.
HOURS = list(range(int(contract.HOUR.low), int(contract.HOUR.high) + 1))
DAYS = list(range(int(contract.DAY_OF_WEEK.low), int(contract.DAY_OF_WEEK.high) + 1))
CATEGORIES = list(contract.MERCHANT_CATEGORIES)


class ModelInputError(ValueError):
    """Rows the model cannot take (a missing column or value, an impossible amount)."""


class TrainingDataError(ModelInputError):
    """The training window cannot produce a model (empty, one class, no holdout)."""


# The model families `train` can fit (TrainParams.model_family, logged as `model_family`).
LOGISTIC_REGRESSION, HIST_GRADIENT_BOOSTING = "logistic_regression", "hist_gradient_boosting"
MODEL_FAMILIES: tuple[str, ...] = (LOGISTIC_REGRESSION, HIST_GRADIENT_BOOSTING)


@dataclass(frozen=True)
class TrainParams:
    """Hyperparameters; logged as MLflow params (`family_params`). ValueError naming the
    field for a model family that does not exist."""

    validation_fraction: float = 0.2  # the latest share of training rows, for the threshold
    C: float = 1.0  # inverse L2 strength; the data are large, so it barely matters
    max_iter: int = 2000  # the logistic regression's solver iterations
    model_family: str = LOGISTIC_REGRESSION
    max_trees: int = 100  # hist_gradient_boosting: boosting iterations
    learning_rate: float = 0.1  # hist_gradient_boosting

    def __post_init__(self) -> None:
        if self.model_family not in MODEL_FAMILIES:
            raise ValueError(f"model_family must be one of {', '.join(MODEL_FAMILIES)}; "
                             f"got {self.model_family!r}")

    def family_params(self) -> dict[str, object]:
        """The hyperparameters the chosen family uses, with `model_family` itself."""
        own = ({"C": self.C, "max_iter": self.max_iter}
               if self.model_family == LOGISTIC_REGRESSION
               else {"max_trees": self.max_trees, "learning_rate": self.learning_rate})
        return {"model_family": self.model_family, **own,
                "validation_fraction": self.validation_fraction}


@dataclass(frozen=True)
class TrainedModel:
    """A fitted pipeline and what MLflow should remember about it."""

    pipeline: Pipeline
    threshold: float
    params: TrainParams
    validation: dict[str, float]  # metrics of the fit-slice model on the validation slice
    training_start: pd.Timestamp
    training_end: pd.Timestamp
    rows: int
    fraud_rows: int
    # How the training rows were sampled (logged as MLflow params `sampling_*`).
    sampling: dict[str, object] = field(default_factory=dict)
    # Calibration, costs and review/block bands (None: a model trained without them).
    policy: decisions.DecisionPolicy | None = None
    # What the decisions did on the validation slice: Brier before/after calibration,
    # expected cost and review load at the bands (logged as MLflow metrics).
    decision_metrics: dict[str, float] = field(default_factory=dict)


def build_pipeline(params: TrainParams = TrainParams()) -> Pipeline:
    """Preprocessing + classifier of `params.model_family`, unfitted. Input: a frame with
    MODEL_INPUTS."""
    if params.model_family == HIST_GRADIENT_BOOSTING:
        return _tree_pipeline(params)
    amount = Pipeline([
        ("log", FunctionTransformer(np.log, feature_names_out="one-to-one")),
        ("square", PolynomialFeatures(degree=2, include_bias=False)),
        ("scale", StandardScaler()),
    ])
    merchant = Pipeline([
        # The first days of a window have no history yet, so their aggregates are missing.
        ("impute", SimpleImputer(strategy="median")),
        ("scale", StandardScaler()),
    ])
    columns = ColumnTransformer([
        ("amount", amount, [contract.AMOUNT.name]),
        ("time", OneHotEncoder(categories=[HOURS, DAYS], handle_unknown="error"),
         [contract.HOUR.name, contract.DAY_OF_WEEK.name]),
        ("category", OneHotEncoder(categories=[CATEGORIES], handle_unknown="error"),
         [contract.MERCHANT_CATEGORY.name]),
        ("merchant", merchant, list(FEATURES)),
        *[(name, _card_feature(), [name]) for name in CARD_FEATURES],
    ], remainder="drop")
    classifier = LogisticRegression(C=params.C, max_iter=params.max_iter)
    return Pipeline([("columns", columns), ("classifier", classifier)])


def _card_feature() -> Pipeline:
    """One card feature for the linear model: the median where unknown plus a 0/1 "unknown"
    column (no card, no earlier event: scored as unknown, never as 0), the known value
    as a piecewise-linear curve of log1p(value) (`card_shape`), scaled. One transformer per
    feature, so each output column belongs to one input (reason codes, `model.explain`,
    which replays these steps in numpy). A feature unknown on every training row (card-less
    data) is kept as a constant (0 and "unknown"), which the model gives no weight:
    card-less data trains the model it trained before."""
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", add_indicator=True,
                                 keep_empty_features=True)),
        ("shape", FunctionTransformer(card_shape, feature_names_out=_card_shape_names)),
        ("scale", StandardScaler()),
    ])


# Hinge knots of `card_shape`, in log1p units: counts and sums of ~6 to ~20,000, seconds of
# ~6 s to ~6 h. Five knots scored as well as thirteen (1, 2, .., 13: PR-AUC 0.9684 vs 0.9670
# card_testing, 0.8787 vs 0.8792 burst_across_merchants; 200,000 test rows) at fewer
# columns for the serving replay.
CARD_SHAPE_KNOTS = np.array([2.0, 4.0, 6.0, 8.0, 10.0])


def card_shape(x: np.ndarray) -> np.ndarray:
    """(rows, 1 + k) -> (rows, 1 + len(CARD_SHAPE_KNOTS) + k): log1p of the first column
    (a card feature, >= 0, imputed), its hinges max(0, log1p - knot), then the other
    columns (the imputer's "unknown" indicator, when there is one) unchanged.

    Why a curve, not log1p alone: the card signal is not linear in any one transform of a
    feature: the generator's log-odds of a burst fall linearly in the SECONDS since the
    card's previous charge (minutes apart) and flatten beyond the burst's reach, and a
    card test's small sums mean the opposite of a legitimate card's small sums. On
    1,000,000 test rows (`python -m benchmarks.model_quality`; docs/CARDS.md), PR-AUC with
    log1p alone vs this curve, and the card ceiling: normal 0.8777 -> 0.8825 (0.9017),
    card_testing 0.9579 -> 0.9687 (0.9828), burst_across_merchants 0.8643 -> 0.8741
    (0.8926): every gap from 0.024-0.028 to 0.014-0.019.
    A fixed basis, not a fitted spline: `model.explain` replays fixed numpy functions
    (exact reason codes, fast serving); a SplineTransformer would send scoring back
    through sklearn."""
    x = np.asarray(x, dtype="float64")
    u = np.log1p(x[:, :1])
    return np.hstack([u, np.maximum(u - CARD_SHAPE_KNOTS[None, :], 0.0), x[:, 1:]])


def _card_shape_names(transformer: FunctionTransformer, names: np.ndarray) -> np.ndarray:
    names = [str(n) for n in names]
    value, rest = names[0], names[1:]
    return np.asarray([f"log1p_{value}", *(f"log1p_{value}_over_{k:g}" for k in
                                            CARD_SHAPE_KNOTS), *rest], dtype=object)


UNKNOWN_CARD_VALUE = -1.0  # the tree family's code for an unknown card feature


def _tree_pipeline(params: TrainParams) -> Pipeline:
    """One numeric column per model input, named as the input (so SHAP's per-column values
    are per input): the category as its index in the contract's list, everything else as
    given; missing merchant features stay NaN, which the trees route natively (unknown card
    features: UNKNOWN_CARD_VALUE). The
    category is not declared categorical to the booster: SHAP's TreeExplainer does not
    add up on native categorical splits (0.51, measured: 10 log-odds off)."""
    columns = ColumnTransformer([
        ("amount", "passthrough", [contract.AMOUNT.name]),
        ("time", "passthrough", [contract.HOUR.name, contract.DAY_OF_WEEK.name]),
        ("category", OrdinalEncoder(categories=[CATEGORIES], handle_unknown="error"),
         [contract.MERCHANT_CATEGORY.name]),
        ("merchant", "passthrough", list(FEATURES)),
        # Unknown card features as -1, below every known value (all are >= 0): a value of
        # its own the trees split on, like a NaN branch. Not NaN itself: the booster's
        # weighted binning fails on a column with no known value (card-less data).
        ("card", SimpleImputer(strategy="constant", fill_value=UNKNOWN_CARD_VALUE,
                               keep_empty_features=True), list(CARD_FEATURES)),
    ], remainder="drop", verbose_feature_names_out=False)
    # Fixed random_state: early stopping (above 10,000 rows) samples its validation rows,
    # and training must stay deterministic (`fingerprint`).
    classifier = HistGradientBoostingClassifier(max_iter=params.max_trees,
                                                learning_rate=params.learning_rate,
                                                random_state=0)
    return Pipeline([("columns", columns), ("classifier", classifier)])


def model_input(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns, checked, with ints as int64 and the rest as floats.

    The one builder of the logged pipeline's input: training, evaluation, monitoring and
    serving all call it. Merchant features become float64 (a count may arrive as an int,
    a missing one as NaN, which the pipeline imputes); a missing request field is an
    error, never a guess. Card features a frame does not carry at all (a card-less
    request, data from before cards) are unknown: NaN columns, which the pipeline scores
    as unknown. Built from plain arrays: serving calls it for every scored batch, a single
    row included, and a frame-wide `astype` cost ~1 ms per call.
    """
    frame = _with_card_features(frame)
    missing = [c for c in MODEL_INPUTS if c not in frame.columns]
    if missing:
        raise ModelInputError(f"model input lacks column(s) {missing}; "
                              f"expected {list(MODEL_INPUTS)}")
    columns = {name: frame[name].to_numpy() for name in MODEL_INPUTS}
    empty = [c for c in REQUEST_COLUMNS if pd.isna(columns[c]).any()]
    if empty:
        raise ModelInputError(f"model input has missing values in {empty}")
    amount = columns[contract.AMOUNT.name].astype("float64")
    if (amount <= 0).any():
        # log(amount) is a model feature; the contract only admits amount > 0.
        raise ModelInputError(f"{contract.AMOUNT.rule()}; got {amount.min()}")
    return pd.DataFrame({name: values.astype(MODEL_INPUT_DTYPES[name], copy=False)
                         for name, values in columns.items()})


def _with_card_features(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every CARD_FEATURES column, absent ones as NaN (unknown)."""
    absent = [name for name in CARD_FEATURES if name not in frame.columns]
    if not absent:
        return frame
    nan = np.full(len(frame), np.nan)
    return frame.assign(**{name: nan for name in absent})


def check_training_window(frame: pd.DataFrame) -> None:
    """Fail before any fitting if the window cannot give a model."""
    if len(frame) == 0:
        raise TrainingDataError("the training window is empty: no training rows to fit on")
    # Card features may be absent (data from before cards): `model_input` makes them NaN.
    needed = [*(c for c in MODEL_INPUTS if c not in CARD_FEATURES), TIME, LABEL]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise TrainingDataError(f"the training window lacks column(s) {missing}")
    labels = frame[LABEL]
    if labels.isna().any() or not labels.isin([0, 1]).all():
        raise TrainingDataError(f"the label {LABEL!r} must be 0 or 1 on every training row")
    if labels.nunique() < 2:
        raise TrainingDataError(
            f"the training window has a single class (all {len(frame):,} rows from "
            f"{frame[TIME].min()} to {frame[TIME].max()} have {LABEL}={int(labels.iloc[0])}); "
            "both fraud and legit transactions are needed to train")


def split_validation(frame: pd.DataFrame, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, validation): the validation slice is the latest `fraction` of the rows in time,
    or, when that is less than a day, the latest whole day.

    Fraud depends on the hour, so a slice shorter than a day holds only an evening: with
    1M-row days and one training day, the threshold picked on hours 19-23 scored F1 0.11 on
    the holdout at PR-AUC 0.63. So windows of fewer than 1/fraction days validate on their
    last whole day, and a one-day window on every 1/fraction-th row in time order (every
    hour). Windows of 1/fraction days or more keep the latest rows (model_quality.py)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {fraction}")
    ordered = frame.sort_values(TIME, kind="stable").reset_index(drop=True)
    days = ordered[TIME].dt.tz_convert("UTC").dt.floor("D")
    present = days.unique()
    late = np.zeros(len(ordered), dtype=bool)
    if len(present) * fraction >= 1:
        late[int(round(len(ordered) * (1.0 - fraction))):] = True
    elif len(present) >= 2:
        late = (days == present[-1]).to_numpy()
    else:
        step = max(2, round(1 / fraction))
        late[step - 1::step] = True
    fit, validation = ordered[~late], ordered[late]
    for name, part in (("fit", fit), ("validation", validation)):
        if part[LABEL].nunique() < 2:
            raise TrainingDataError(
                f"the {name} slice of the training window ({len(part):,} rows) has a single "
                "class; use a longer window or more fraud rows")
    return fit, validation


def weights(frame: pd.DataFrame) -> np.ndarray | None:
    """The rows' sample weights (column WEIGHT, from `training_set`'s sampling), or None
    when the frame has none or all are 1 (unsampled: fits exactly as without weights)."""
    if WEIGHT not in frame.columns:
        return None
    values = frame[WEIGHT].to_numpy(dtype="float64")
    if not np.isfinite(values).all() or (values <= 0).any():
        raise TrainingDataError(f"column {WEIGHT!r} must be a positive number on every row")
    return None if (values == 1.0).all() else values


def sampling_summary(frame: pd.DataFrame) -> dict[str, object]:
    """What the weights say about the sampling: legit share kept and its weight."""
    w = frame[WEIGHT] if WEIGHT in frame.columns else pd.Series(1.0, index=frame.index)
    legit = w[frame[LABEL] == 0]
    weight = float(legit.max()) if len(legit) else 1.0
    return {"sampling_scheme": "all fraud rows + uniform legit sample, weight 1/rate"
            if weight > 1 else "none (every row)",
            "sampling_legit_rate": 1.0 / weight, "sampling_legit_weight": weight,
            "sampling_legit_rows": int(len(legit)),
            "sampling_legit_rows_represented": int(round(float(legit.sum())))}


def train(frame: pd.DataFrame, params: TrainParams = TrainParams(),
          costs: decisions.Costs = decisions.DEFAULT_COSTS) -> TrainedModel:
    """Fit on the training rows; the threshold is the best F1 on the latest slice of them.

    The threshold comes from a model fitted without the validation slice; the returned
    pipeline is then refitted on the whole window (same hyperparameters), which moves the
    probabilities only slightly, so the threshold stays close to its best. Rows carrying
    WEIGHT (a sample of the legitimate rows, `features.training`) are fitted and scored
    with those weights, so probabilities and the threshold stay those of the full data.
    The review/block bands (`decide_on_validation`, priced by `costs`) come from the same
    validation model and slice, and carry over to the refitted pipeline like the threshold.
    """
    check_training_window(frame)
    fit, validation = split_validation(frame, params.validation_fraction)
    probe = _fit(build_pipeline(params), fit)
    proba = fraud_probability(probe, validation)
    truth, w = validation[LABEL].to_numpy(), weights(validation)
    threshold = evaluation.best_f1_threshold(truth, proba, w)
    scores = evaluation.score(truth, proba, threshold, w)
    policy, decision_metrics = decide_on_validation(probe, validation, proba,
                                                    validation_days(frame, validation), costs)
    final = _fit(build_pipeline(params), frame)
    return TrainedModel(
        pipeline=final, threshold=threshold, params=params, validation=scores,
        training_start=frame[TIME].min(), training_end=frame[TIME].max(),
        rows=len(frame), fraud_rows=int(frame[LABEL].sum()),
        sampling=sampling_summary(frame), policy=policy,
        decision_metrics=decision_metrics,
    )


def validation_days(window: pd.DataFrame, validation: pd.DataFrame) -> float:
    """How many days of traffic the validation slice stands for: its (weighted) share of
    the window's rows times the window's days (a slice of every 5th row of one day is
    0.2 days), so a review capacity per day scales to the slice."""
    def volume(part: pd.DataFrame) -> float:
        w = weights(part)
        return float(len(part) if w is None else w.sum())

    days = window[TIME].dt.tz_convert("UTC").dt.floor("D").nunique()
    return volume(validation) / volume(window) * days


def decide_on_validation(model: Pipeline, validation: pd.DataFrame, proba: np.ndarray,
                         days: float, costs: decisions.Costs
                         ) -> tuple[decisions.DecisionPolicy, dict[str, float]]:
    """Calibrate `model` on the validation slice, choose the bands of least expected cost
    there, and say how they fare: (policy, metrics). `proba`: the model's scores of the
    slice; `days`: the traffic days it stands for."""
    truth, w = validation[LABEL].to_numpy(), weights(validation)
    calibration = decisions.fit_calibration(model, model_input(validation), truth, w)
    calibrated = calibration.apply(proba)
    amount = validation[contract.AMOUNT.name].to_numpy()
    choice = decisions.choose_bands(proba, calibrated, amount, days, costs, w)
    policy = decisions.DecisionPolicy(
        bands=choice.bands, costs=costs, calibration=calibration,
        fpr_table=decisions.fpr_table(truth, proba, choice.bands, w))
    metrics = {"brier_raw": decisions.brier(truth, proba, w),
               "brier_calibrated": decisions.brier(truth, calibrated, w),
               "expected_cost": choice.expected_cost,
               "expected_cost_approve_all": choice.expected_cost_approve_all,
               "expected_reviews_per_day": choice.reviews_per_day,
               "expected_blocks_per_day": choice.blocks_per_day,
               "days": days}
    return policy, metrics


def fit_pipeline(frame: pd.DataFrame, params: TrainParams = TrainParams()) -> Pipeline:
    """A new pipeline fitted on `frame` (with its WEIGHT column, if any), as `train` fits."""
    return _fit(build_pipeline(params), frame)


def _fit(pipeline: Pipeline, frame: pd.DataFrame) -> Pipeline:
    w = weights(frame)
    extra = {} if w is None else {"classifier__sample_weight": w}
    return pipeline.fit(model_input(frame), frame[LABEL].to_numpy(), **extra)


# Rows scored per call: the one-hot design matrix of a chunk is ~0.4 KB a row, so a
# holdout of millions of rows is scored in bounded memory.
SCORE_CHUNK_ROWS = 500_000


def fraud_probability(model: Pipeline, frame: pd.DataFrame,
                      chunk_rows: int = SCORE_CHUNK_ROWS) -> np.ndarray:
    """P(fraud) per row of a frame holding MODEL_INPUTS (extra columns are ignored),
    scored `chunk_rows` at a time."""
    if len(frame) <= chunk_rows:
        return model.predict_proba(model_input(frame))[:, 1]
    return np.concatenate([model.predict_proba(model_input(frame.iloc[i:i + chunk_rows]))[:, 1]
                           for i in range(0, len(frame), chunk_rows)])


def _split_rows(training_set: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and holdout rows, as slices (no copy) when the holdout is the frame's tail.

    It is, for the `training_set` asset (sorted by event time, the holdout its last days):
    copying both parts of a 30 x 1M window's training set (7.5M rows) held a second copy
    of it in memory (`benchmarks.scale` fraud_model step). Other frames get copies.
    """
    is_holdout = training_set[SPLIT].to_numpy() == HOLDOUT
    first = int(np.argmax(is_holdout)) if is_holdout.any() else len(is_holdout)
    if is_holdout[first:].all():
        train_rows = training_set.iloc[:first]
        holdout = training_set.iloc[first:]
        train_rows.index = pd.RangeIndex(first)
        holdout.index = pd.RangeIndex(len(holdout))
        return train_rows, holdout
    return (training_set[~is_holdout].reset_index(drop=True),
            training_set[is_holdout].reset_index(drop=True))


def split_training_set(training_set: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train rows, holdout rows) of the `training_set` asset, checked."""
    if SPLIT not in training_set.columns:
        raise TrainingDataError(f"training_set has no {SPLIT!r} column "
                                f"(expected values {TRAIN!r} / {HOLDOUT!r})")
    unknown = sorted(set(training_set[SPLIT].dropna().unique()) - {TRAIN, HOLDOUT})
    if unknown or training_set[SPLIT].isna().any():
        raise TrainingDataError(f"training_set column {SPLIT!r} must be {TRAIN!r} or "
                                f"{HOLDOUT!r} on every row; found {unknown or 'missing values'}")
    train_rows, holdout = _split_rows(training_set)
    if len(holdout) == 0:
        raise TrainingDataError("training_set has no holdout rows: the gate needs a holdout "
                                "to compare challenger and champion")
    return train_rows, holdout


def fingerprint(train_rows: pd.DataFrame, params: TrainParams,
                costs: decisions.Costs | None = None) -> str:
    """SHA-256 (hex) of the training rows' values, the hyperparameters and the costs the
    decision bands were chosen with.

    Training is deterministic (fixed solver, no random state involved), so two trainings
    with one fingerprint give the same model: a retried run reuses the version an
    interrupted attempt already registered instead of registering a duplicate.
    """
    digest = hashlib.sha256(pd.util.hash_pandas_object(train_rows, index=False).to_numpy()
                            .tobytes())
    digest.update(repr(sorted(asdict(params).items())).encode())
    if costs is not None:
        digest.update(repr(sorted(asdict(costs).items())).encode())
    return digest.hexdigest()
