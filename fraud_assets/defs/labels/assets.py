"""The label feed in Dagster: a label file per day of arrival, read as landed, then split.

`labels_raw` (daily, by day of arrival) is the file as landed; the label contract's Great
Expectations checks run on it (`checks.py`). `labels` / `labels_quarantine` / `labels_held`
split it (`fraud_assets.labels.judge`): every row ends in exactly one of them. The
`label_sensor` (`sensors.py`) runs new files, re-runs a day whose held labels may now match
newly landed transactions, and re-measures the `model_performance` days labels arrived for.
"""

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetOut,
    Failure,
    MetadataValue,
    Output,
    asset,
    multi_asset,
)

from fraud_assets import labels as label_feed
from fraud_assets import landing, names
from fraud_assets.defs.ingest.assets import read_landed
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome
from fraud_assets.features import engine

# Metadata keys of `labels`, read back by the label sensor.
HELD_KEY = "held_labels"
TRANSACTION_DAYS_KEY = "transaction_days"


def label_path(home: FraudHome, partition_key: str) -> Path:
    """The label file behind an arrival-day partition (`landing.label_file`)."""
    return landing.label_file(home.labels_landing, dt.date.fromisoformat(partition_key))


@asset(name=names.LABELS_RAW, partitions_def=daily_partitions, io_manager_key="lake",
       group_name=names.LABELS_GROUP, kinds={"pandas", "csv"})
def labels_raw(context: AssetExecutionContext, fraud_home: FraudHome) -> Output:
    """The label file of the day of arrival, read as is (every value the text that landed)."""
    path = label_path(fraud_home, context.partition_key)
    frame, metadata = read_landed(path)
    context.log.info(f"read {len(frame):,} labels from {path}")
    return Output(frame, metadata=metadata)


@multi_asset(
    partitions_def=daily_partitions,
    group_name=names.LABELS_GROUP,
    outs={
        names.LABELS: AssetOut(
            io_manager_key="lake", kinds={"pandas", "parquet"},
            description="Accepted verdicts: transaction_id, is_fraud, label_timestamp and the "
                        "partition day of the transaction."),
        names.LABELS_QUARANTINE: AssetOut(
            io_manager_key="lake", kinds={"pandas", "parquet"},
            description="Labels that break the label contract, as landed, with the reason."),
        names.LABELS_HELD: AssetOut(
            io_manager_key="lake", kinds={"pandas", "parquet"},
            description="Labels whose transaction has not landed (or is unknown): kept "
                        "aside, judged again when more transactions land."),
    },
)
def labels(context: AssetExecutionContext, labels_raw: pd.DataFrame, fraud_home: FraudHome):
    """Split the day's label file: accepted, quarantined (with reasons) or held."""
    try:
        judged = label_feed.judge(labels_raw, context.partition_key, fraud_home.lake,
                                  engine.open_engine)
    except engine.EngineError as exc:
        raise Failure(description=str(exc)) from None
    n = len(judged.accepted) + len(judged.quarantined) + len(judged.held)
    if n != len(labels_raw):
        raise Failure(f"row accounting broke: {len(labels_raw)} labels became "
                      f"{len(judged.accepted)} accepted + {len(judged.quarantined)} "
                      f"quarantined + {len(judged.held)} held")
    days = judged.transaction_days
    context.log.info(f"{len(judged.accepted):,} labels accepted for {len(days)} transaction "
                     f"day(s), {len(judged.quarantined):,} quarantined, {len(judged.held):,} "
                     "held (transaction not landed)")
    yield Output(judged.accepted, output_name=names.LABELS, metadata={
        "frauds": int(judged.accepted[label_feed.LABEL].sum()),
        HELD_KEY: len(judged.held),
        "quarantined_labels": len(judged.quarantined),
        TRANSACTION_DAYS_KEY: json.dumps(days),
        "first_transaction_day": days[0] if days else "none",
    })
    reasons = judged.quarantined[label_feed.REASON].str.replace(r"'[^']*'", "'…'", regex=True)
    yield Output(judged.quarantined, output_name=names.LABELS_QUARANTINE, metadata={
        "share_of_raw": len(judged.quarantined) / max(len(labels_raw), 1),
        "reasons": MetadataValue.md(reasons.value_counts().rename("rows").to_frame()
                                    .to_markdown() if len(reasons) else "no label quarantined"),
    })
    yield Output(judged.held, output_name=names.LABELS_HELD, metadata={
        "unknown_transaction_ids": len(judged.held),
        "examples": ", ".join(judged.held[label_feed.TRANSACTION_ID].astype(str).head(5))
                    or "none",
    })
