"""Landed transactions: the raw day as landed, and its split into validated / quarantine."""


import datetime as dt
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

from fraud_assets import contract, lake, landing, names
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome, release_shared_reads
from fraud_assets.validation import judged

QUARANTINE_REASON = "quarantine_reason"
# Metadata key of transactions_raw: the content hash of the file it read (the landing
# sensor compares it with the file in the folder).
FINGERPRINT = "fingerprint"


def landing_path(home: FraudHome, partition_key: str) -> Path:
    """The landing file behind a daily partition (one naming rule: `landing.landing_file`)."""
    return landing.landing_file(home.landing, dt.date.fromisoformat(partition_key))


def raw_partition(home: FraudHome, partition_key: str) -> Path:
    """The stored (lake) copy of a day's transactions_raw."""
    return lake.partition_path(home.lake, names.TRANSACTIONS_RAW, partition_key)


@asset(name=names.TRANSACTIONS_RAW, partitions_def=daily_partitions, io_manager_key="lake",
       group_name=names.INGEST, kinds={"pandas", "csv"})
def transactions_raw(context: AssetExecutionContext, fraud_home: FraudHome) -> Output:
    """The day's landing file, read as is: every value kept as the text that landed."""
    path = landing_path(fraud_home, context.partition_key)
    frame, metadata = read_landed(path)
    context.log.info(f"read {len(frame):,} rows from {path}")
    return Output(frame, metadata={
        **metadata, "preview": MetadataValue.md(frame.head(5).to_markdown(index=False))})


def read_landed(path: Path) -> tuple[pd.DataFrame, dict[str, object]]:
    """A landed file (transactions or labels) as text (`landing.read_raw`) and the metadata
    every raw asset records: the file and its content hash (the sensors compare it).
    Raises Failure naming the file and the problem when it cannot be read."""
    try:
        frame = landing.read_raw(path)
    except landing.LandingFileError as exc:
        raise Failure(description=str(exc), metadata={"file": MetadataValue.path(str(path))}
                      ) from None
    return frame, {"file": MetadataValue.path(str(path)), FINGERPRINT: landing.fingerprint(path)}


@multi_asset(
    partitions_def=daily_partitions,
    group_name=names.INGEST,
    outs={
        names.TRANSACTIONS_VALIDATED: AssetOut(io_manager_key="lake", kinds={"pandas", "parquet"},
                                           description="Rows that meet the contract, typed."),
        names.TRANSACTIONS_QUARANTINE: AssetOut(
            io_manager_key="lake", kinds={"pandas", "parquet"},
            description="Rows that break the contract, as landed, with the reason for each."),
    },
)
def transactions_validated(context: AssetExecutionContext, transactions_raw: pd.DataFrame,
                           fraud_home: FraudHome):
    """Split the raw day: every raw row ends up in exactly one of the two outputs.

    The rules are those of a landed file of this partition day (`contract.landed_reasons`):
    field rules, timestamps on the day, hour/day_of_week of the timestamp, and duplicates
    (an exact copy keeps one row; rows sharing an id with other values are all refused).
    """
    day = judged.judge(transactions_raw, context.partition_key,
                       raw_partition(fraud_home, context.partition_key))
    typed, why = day.typed, day.why
    bad = why != ""
    good = _typed_good_rows(typed[~bad])
    quarantined = transactions_raw[bad].assign(**{QUARANTINE_REASON: why[bad]})
    if len(good) + len(quarantined) != len(transactions_raw):
        raise Failure(f"row accounting broke: {len(transactions_raw)} raw rows became "
                      f"{len(good)} validated + {len(quarantined)} quarantined")
    by_reason = quarantined[QUARANTINE_REASON].value_counts()
    context.log.info(f"{len(good):,} rows validated, {len(quarantined):,} quarantined")
    yield Output(good, output_name=names.TRANSACTIONS_VALIDATED, metadata={
        "fraud_rate": _fraud_rate(good[contract.LABEL]),
        "labelled_at_landing": float(good[contract.LABEL].notna().mean()) if len(good) else 0.0,
        "raw_rows": len(transactions_raw),
    })
    yield Output(quarantined.reset_index(drop=True), output_name=names.TRANSACTIONS_QUARANTINE,
                 metadata={
                     "share_of_raw": len(quarantined) / len(transactions_raw),
                     "reasons": MetadataValue.md(
                         by_reason.rename("rows").to_frame().to_markdown()
                         if len(by_reason) else "no rows quarantined"),
                 })
    # The raw day's readers (its checks, then this split) are done: the run's later steps
    # (card features, drift) should not carry its frames (`benchmarks.scale`, 3M rows).
    judged.forget()
    release_shared_reads()


def _fraud_rate(labels: pd.Series) -> float:
    """Fraud rate of the rows labelled at landing (0.0 when none is)."""
    known = labels.dropna()
    return float(known.mean()) if len(known) else 0.0


def _typed_good_rows(typed: pd.DataFrame) -> pd.DataFrame:
    """Valid rows have no missing values but in nullable fields, so their dtypes become
    plain numpy ones; a nullable int with empty values (`is_fraud` not known at landing)
    stays pandas' nullable Int64 (stored as a parquet int64 with nulls)."""
    out = typed.reset_index(drop=True).copy()
    for f in contract.FIELDS:
        if f.kind == "int":
            has_na = f.nullable and bool(out[f.name].isna().any())
            out[f.name] = out[f.name].astype("Int64" if has_na else "int64")
    return out
