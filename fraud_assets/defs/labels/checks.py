"""Great Expectations asset checks on a landed label file (the label contract).

`label_structure` is blocking (no columns, no rows or a column mostly of the wrong type: the
file cannot be trusted); `label_values` warns: bad rows go to `labels_quarantine` with
their reason and the rest of the file goes on. The same machinery as the transactions'
checks (`validation.suites` built for `contract.LABEL_FIELDS`).
"""

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    asset_check,
)

from fraud_assets import contract, names
from fraud_assets.defs.ingest.checks import structure_verdict, suite_metadata
from fraud_assets.defs.labels.assets import label_path
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome
from fraud_assets.validation import runner, suites

FIELDS = contract.LABEL_FIELDS


@asset_check(asset=names.LABELS_RAW, name=names.LABEL_STRUCTURE,
             partitions_def=daily_partitions, blocking=True,
             description="The label file has transaction_id, is_fraud and label_timestamp, at "
                         "least one row, each column mostly of its type (Great Expectations).")
def label_structure(context: AssetCheckExecutionContext, labels_raw: pd.DataFrame,
                    fraud_home: FraudHome) -> AssetCheckResult:
    file = str(label_path(fraud_home, context.partition_key))
    typed = contract.coerce(labels_raw, FIELDS)
    result = runner.run_suite(suites.structure_suite(FIELDS), runner.for_ge(typed), labels_raw)
    return structure_verdict(result, file, contract.LABEL_COLUMNS, "label")


@asset_check(asset=names.LABELS_RAW, name=names.LABEL_VALUES,
             partitions_def=daily_partitions, blocking=False,
             description="Row rules of the label contract: ids present and unique, is_fraud "
                         "0 or 1, label_timestamp valid and on the file's day of arrival. "
                         "Rows that break them are quarantined, the file goes on.")
def label_values(context: AssetCheckExecutionContext, labels_raw: pd.DataFrame,
                 fraud_home: FraudHome) -> AssetCheckResult:
    day = context.partition_key
    file = str(label_path(fraud_home, day))
    typed, why = contract.landed_reasons(labels_raw, day, FIELDS)
    result = runner.run_suite(suites.values_suite(day, FIELDS), runner.for_ge(typed),
                              labels_raw)
    bad = int((why != "").sum())
    meta = suite_metadata(result, file) | {"bad_rows": bad, "bad_share": bad / max(len(typed), 1)}
    if bad:
        top = why[why != ""].str.split("; ").explode().str.replace(r" \(got .*", "", regex=True)
        top = top.str.replace(r"line \d+", "line N", regex=True).value_counts().head(3)
        description = (f"{bad:,} of {len(typed):,} labels break a rule and go to "
                       "labels_quarantine (most often: "
                       + "; ".join(f"{r} x{c:,}" for r, c in top.items())
                       + "); fix them upstream and re-land the file to keep them")
    else:
        description = f"all {len(typed):,} labels meet the label contract"
    return AssetCheckResult(passed=result.success and bad == 0,
                            severity=AssetCheckSeverity.WARN, metadata=meta,
                            description=description)
