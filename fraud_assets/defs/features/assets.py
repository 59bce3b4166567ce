"""Feature store assets: the daily merchant aggregates, the online store, the training set.

`merchant_features` (daily) writes the Feast offline source for its day;
`online_features` applies the Feast repository and loads the latest rows into the
online store; `training_set` joins a window of validated days to the features, point
in time, through Feast.
"""


import datetime as dt

import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AutomationCondition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    Output,
    TimeWindowPartitionMapping,
    asset,
)
from pydantic import Field

from fraud_assets import contract, names, settings
from fraud_assets.defs.features.resources import FeastStore
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome, table_metadata
from fraud_assets.features import (
    aggregates,
    card_days,
    card_parity,
    daily_sums,
    engine,
    offline,
    online,
    training,
)
from fraud_assets.features.names import (
    CARD_FEATURE_VIEW,
    CARD_FEATURES,
    DEFAULT_WINDOW_DAYS,
    ENTITY,
    FEATURE_SERVICE,
    FEATURES,
)
from fraud_assets.features.store import MerchantFeatureStore
from fraud_assets.lake import stored_partitions

VALIDATED_NAME = names.TRANSACTIONS_VALIDATED
# The metadata key Dagster's freshness checks read as an asset's last update (public key
# documented with `build_last_update_freshness_checks`).
LAST_UPDATED_TIMESTAMP = "dagster/last_updated_timestamp"
# training_set metadata keys that fraud_model copies to its MLflow run.
LABEL_CUTOFF, LABEL_MATURITY = "label_cutoff", "label_maturity_train"
VALIDATED = AssetKey(VALIDATED_NAME)
WINDOW_DAYS = DEFAULT_WINDOW_DAYS
TIMESTAMP = contract.EVENT_TIMESTAMP.name

# Day D reads validated days D-window .. D-1. Declared for lineage only (not loaded as an
# input), so days before the first partition or never landed do not block the run.
PRIOR_DAYS = TimeWindowPartitionMapping(start_offset=-WINDOW_DAYS, end_offset=-1)


# A corrected validated day D changes the features of every day whose window holds it
# (D+1 .. D+window): the daemon re-materializes those that already exist (a day not
# materialized yet is the daily job's, so a new day requests nothing here), once every
# upstream run is done. `online_features` then follows the refreshed days.
REFRESH_WINDOW = (AutomationCondition.any_deps_updated().since_last_handled()
                  & ~AutomationCondition.missing()
                  & ~AutomationCondition.in_progress()
                  & ~AutomationCondition.any_deps_in_progress())


@asset(name=names.MERCHANT_FEATURES, partitions_def=daily_partitions,
       group_name=names.FEATURES, kinds={"feast", "parquet"},
       deps=[AssetDep(VALIDATED, partition_mapping=PRIOR_DAYS)],
       automation_condition=REFRESH_WINDOW)
def merchant_features(context: AssetExecutionContext, fraud_home: FraudHome,
                      feast_store: FeastStore) -> MaterializeResult:
    """Per merchant category, aggregates valid for the day from the days strictly before it.

    Missing earlier days are skipped (the window holds what landed); a day with no
    earlier validated day has no rows, and re-running a day replaces its rows.
    """
    day = dt.date.fromisoformat(context.partition_key)
    wanted = aggregates.window_days(day, WINDOW_DAYS)
    landed = set(stored_partitions(VALIDATED_NAME, fraud_home.lake))
    present = [d for d in wanted if d in landed]
    try:
        # Each validated day is reduced once to per-category sums (cached, redone when the
        # day is corrected): the window is then a few rows per day, whatever its length.
        sums = daily_sums.window_sums(present, fraud_home.lake, engine.open_engine)
    except engine.EngineError as exc:
        raise Failure(description=str(exc)) from None
    rows = aggregates.window_stats(sums, day, WINDOW_DAYS)
    path = offline.write_day(feast_store.feast_dir, day, rows)
    _log_history(context, wanted, present)
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(path or offline.day_file(feast_store.feast_dir, day))),
        **table_metadata(rows),
        "event_timestamp": str(aggregates.day_start(day)),
        "window_days": WINDOW_DAYS,
        "history_days": len(present),
        "history_transactions": int(sums["txn_count"].sum()),
        "preview": MetadataValue.md(rows.to_markdown(index=False) if len(rows)
                                    else "no earlier validated day: no feature rows"),
    })


def _log_history(context: AssetExecutionContext, wanted: list[str], present: list[str]) -> None:
    if not present:
        context.log.warning("no validated day in the window before this day: no feature rows "
                            "(its transactions get the previous day's rows if within the ttl)")
        return
    gaps = [d for d in wanted if present[0] < d and d not in present]
    if gaps:
        context.log.warning(f"validated day(s) missing inside the window, skipped: {gaps}")


# Day D's card features read validated days D-30 .. D (lineage only, like PRIOR_DAYS).
CARD_HISTORY = TimeWindowPartitionMapping(start_offset=-card_days.HISTORY_DAYS, end_offset=0)


@asset(name=names.CARD_FEATURES, partitions_def=daily_partitions,
       group_name=names.FEATURES, kinds={"feast", "parquet"},
       deps=[AssetDep(VALIDATED, partition_mapping=CARD_HISTORY)],
       automation_condition=REFRESH_WINDOW)
def card_features(context: AssetExecutionContext, fraud_home: FraudHome,
                  feast_store: FeastStore) -> MaterializeResult:
    """Per transaction of the day with a card: the card's velocity features, point in time.

    Computed from the card's validated events strictly before the transaction (earlier in
    the day and the 30 days before); the Feast offline source of the `card_velocity` view.
    A day without card ids has no rows; re-running a day replaces its rows.
    """
    day = dt.date.fromisoformat(context.partition_key)
    try:
        result = card_days.card_day(fraud_home.lake, day)
    except (FileNotFoundError, ValueError) as exc:
        raise Failure(description=str(exc)) from None
    path = offline.write_card_day(feast_store.feast_dir, day, result.rows)
    # The parity check's events of the day, while its rows are in memory.
    card_parity.keep_day_events(fraud_home.lake, context.partition_key, result.events,
                                result.version)
    if not len(result.rows):
        context.log.warning(f"no transaction of {day} carries a card id: no card feature rows "
                            "(their card features are unknown)")
    _log_history(context, card_days.history_days(day), result.history_days)
    return MaterializeResult(metadata={
        "path": MetadataValue.path(str(path or offline.day_file(feast_store.feast_dir, day,
                                                                 CARD_FEATURE_VIEW))),
        **table_metadata(result.rows),
        "transactions": result.transactions,
        "cards": result.cards,
        "share_with_card": result.share_with_card,
        "history_days": len(result.history_days),
        "history_rows": result.history_rows,
        "features": ", ".join(CARD_FEATURES),
        "preview": MetadataValue.md(_card_preview(result.rows)),
    })


# Rows the card preview's statistics are computed on: `describe` sorts every column for
# its quartiles, 0.6 s for a 1M-row day; every k-th row keeps the day's spread.
PREVIEW_ROWS = 100_000


def _card_preview(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "no transaction with a card id: no card feature rows"
    step = -(-len(rows) // PREVIEW_ROWS)  # ceil: at most PREVIEW_ROWS rows
    table = rows[list(CARD_FEATURES)].iloc[::step].describe().T.round(3).to_markdown()
    return table if step == 1 else (f"one row in {step} of the day's {len(rows):,} rows\n\n"
                                    + table)


# Refresh the online store whenever a day's features land (the daemon evaluates this), so
# serving follows newly landed days without a manual run. Not `eager()`: that waits for
# every upstream daily partition since the first one to exist.
FOLLOW_FEATURES = (AutomationCondition.any_deps_updated().since_last_handled()
                   & ~AutomationCondition.in_progress()
                   & ~AutomationCondition.any_deps_in_progress())


@asset(name=names.ONLINE_FEATURES, group_name=names.FEATURES, deps=[merchant_features],
       kinds={"feast", "sqlite"},
       automation_condition=FOLLOW_FEATURES)
def online_features(context: AssetExecutionContext, feast_store: FeastStore) -> MaterializeResult:
    """`feast apply` of the repository, then the latest row per merchant into the online store."""
    store = feast_store.open()
    store.apply()
    window = store.materialize()
    if window is None:
        raise Failure(description=f"{offline.source_dir(store.feast_dir)}: no merchant feature "
                                  "rows to materialize; materialize merchant_features first")
    latest = _online_preview(store)
    context.log.info(f"online store loaded from {window.days} feature day(s), "
                     f"{window.start:%Y-%m-%d} to {window.end:%Y-%m-%d}")
    newest = window.end - pd.Timedelta(days=1)  # the newest feature day's rows, at 00:00
    return MaterializeResult(metadata={
        # The data's time, not the run's: the freshness check (checks.py) ages this, so a
        # store re-loaded today with last year's days still shows as overdue.
        LAST_UPDATED_TIMESTAMP: MetadataValue.timestamp(newest.to_pydatetime()),
        "registry": MetadataValue.path(str(store.feast.config.registry.path)),
        "feature_service": FEATURE_SERVICE,
        "features": ", ".join(FEATURES),
        "days": window.days,
        "start": str(window.start),
        "end": str(window.end),
        "online_vectors": MetadataValue.md(latest.to_markdown(index=False)),
    })


def _online_preview(store: MerchantFeatureStore) -> pd.DataFrame:
    """What serving will get for each category now: a check that the load worked."""
    keys = pd.DataFrame({ENTITY: list(contract.MERCHANT_CATEGORIES)})
    return pd.concat([keys, online.online_features(keys, store)], axis=1)


class TrainingSetConfig(Config):
    days: int = Field(default=0, ge=0,
                      description="Use the last N validated days; 0 means every landed day.")
    holdout_days: int | None = Field(
        default=None, ge=1,
        description="The rows of the last N landed days with features are the holdout; "
                    "unset: a fifth of those days, at least one.")
    legit_sample_rows: int = Field(
        default=training.DEFAULT_LEGIT_SAMPLE_ROWS, ge=0,
        description="Training rows: every fraud row plus a uniform sample of about this many "
                    "legitimate ones, weighted 1/rate so probabilities stay calibrated "
                    "(0: every row). The holdout is never sampled.")
    gap_days: int = Field(
        default=0, ge=0,
        description="Calendar days left out between the training window and the holdout "
                    "(the handbook's delay period): their labels are the least mature at "
                    "the cut-off. 0 keeps every day (labels known at landing: nothing to "
                    "skip); with a delayed label feed try 7.")


@asset(name=names.TRAINING_SET, group_name=names.FEATURES, io_manager_key="lake",
       kinds={"feast", "pandas", "parquet"}, deps=[VALIDATED, merchant_features])
def training_set(context: AssetExecutionContext, config: TrainingSetConfig,
                 fraud_home: FraudHome, feast_store: FeastStore) -> Output[pd.DataFrame]:
    """Validated transactions + merchant features at each one's own time + train/holdout."""
    days = training.select_days(stored_partitions(VALIDATED_NAME, fraud_home.lake), config.days)
    try:
        result = training.build_window_training_set(
            days, fraud_home.lake, feast_store.feast_dir, engine.open_engine,
            settings.engine_dir(fraud_home.root) / "training_set",
            config.holdout_days, config.legit_sample_rows, config.gap_days)
    except (training.TrainingSetError, engine.EngineError) as exc:
        raise Failure(description=str(exc)) from None
    if result.rows_without_history:
        context.log.warning(f"{result.rows_without_history:,} transaction(s) without a "
                            "merchant feature row within the ttl were left out")
    sampling = result.sampling
    context.log.info(f"training rows: {sampling.scheme}; legitimate rows kept at rate "
                     f"{sampling.rate:.4f} (weight {sampling.weight:.3f}) of "
                     f"{sampling.legit_train_rows:,}, fraud rows {sampling.fraud_train_rows:,}")
    context.log.info(f"labels as of {result.labels.cutoff} (the holdout's start): training "
                     f"label maturity {result.labels.train_maturity:.3f}, holdout "
                     f"{result.labels.holdout_maturity:.3f}, gap {result.labels.gap_days} day(s)")
    return Output(result.frame, metadata={**_training_metadata(result, days),
                                          **_sampling_metadata(sampling),
                                          **label_metadata(result.labels)})


def label_metadata(window: training.LabelWindow) -> dict:
    """The window's label cut-off and maturity (`fraud_model` logs them to MLflow)."""
    return {LABEL_CUTOFF: str(window.cutoff),
            "label_gap_days": window.gap_days,
            "label_train_end": window.train_end,
            LABEL_MATURITY: window.train_maturity,
            "label_maturity_holdout": window.holdout_maturity,
            "label_train_rows_unlabelled": window.train_rows - window.train_labelled,
            "label_holdout_rows_unlabelled": window.holdout_rows - window.holdout_labelled}


def _sampling_metadata(sampling: training.Sampling) -> dict:
    return {"sampling_scheme": sampling.scheme,
            "sampling_legit_sample_rows": sampling.legit_sample_rows,
            "sampling_legit_train_rows": sampling.legit_train_rows,
            "sampling_fraud_train_rows": sampling.fraud_train_rows,
            "sampling_legit_rate": sampling.rate,
            "sampling_legit_weight": sampling.weight}


def _training_metadata(result: training.TrainingSet, days: list[str]) -> dict:
    frame = result.frame
    split = frame[training.SPLIT]
    return {
        "train_rows": int((split == training.TRAIN).sum()),
        "holdout_rows": int((split == training.HOLDOUT).sum()),
        "rows_without_history": result.rows_without_history,
        "fraud_rate": float(frame[contract.LABEL].mean()) if len(frame) else 0.0,
        "start": str(frame[TIMESTAMP].min()),
        "end": str(frame[TIMESTAMP].max()),
        "holdout_start": str(frame.loc[split == training.HOLDOUT, TIMESTAMP].min()),
        "holdout_days": int(frame.loc[split == training.HOLDOUT, TIMESTAMP]
                            .dt.floor("D").nunique()),
        "validated_days": len(days),
        "features": ", ".join(FEATURES),
        "feature_service": FEATURE_SERVICE,
    }
