"""Great Expectations asset checks on the landed day.

`contract_structure` is blocking: a file without the contract's columns or types stops
everything downstream. `contract_values`, `fraud_rate_sane` and `categories_present` only
warn: bad rows are quarantined by `transactions_validated`, and the day goes on. Every
description is computed from the result it describes and says what to do.
"""


from collections.abc import Sequence

import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from fraud_assets import contract, names
from fraud_assets.defs.ingest.assets import landing_path, raw_partition
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome
from fraud_assets.validation import judged, plausibility, runner, suites


def _judged(raw: pd.DataFrame, day: str, fraud_home: FraudHome) -> judged.JudgedDay:
    """The day judged once per stored raw partition (the checks and the split share it)."""
    return judged.judge(raw, day, raw_partition(fraud_home, day))


def _rules_table(result: runner.SuiteResult) -> str:
    rows = [{"rule": r.rule, "passed": "yes" if r.success else "NO",
             "unexpected": r.unexpected_count, "examples": ", ".join(map(repr, r.examples)),
             "observed": "" if r.observed is None else r.observed}
            for r in result.rules]
    return pd.DataFrame(rows).to_markdown(index=False)


def suite_metadata(result: runner.SuiteResult, file: str) -> dict:
    failed = result.failed
    return {
        "file": MetadataValue.path(file),
        "rows": result.rows,
        "expectations": len(result.rules),
        "failed_expectations": len(failed),
        "failed_rules": ", ".join(r.rule for r in failed) or "none",
        "unexpected_counts": {r.rule: r.unexpected_count for r in failed},
        # The values as landed (text), not as parsed: an unparseable number stays visible.
        "examples": {r.rule: r.examples for r in failed if r.examples},
        "results": MetadataValue.md(_rules_table(result)),
    }


@asset_check(asset=names.TRANSACTIONS_RAW, name=names.CONTRACT_STRUCTURE,
             partitions_def=daily_partitions, blocking=True,
             description="The file has the contract's columns, at least one row, and each "
                         "column is mostly of its type (Great Expectations).")
def contract_structure(context: AssetCheckExecutionContext, transactions_raw: pd.DataFrame,
                       fraud_home: FraudHome) -> AssetCheckResult:
    file = str(landing_path(fraud_home, context.partition_key))
    judged = _judged(transactions_raw, context.partition_key, fraud_home)
    result = runner.run_suite(suites.structure_suite(), judged.ge, transactions_raw)
    return structure_verdict(result, file, contract.COLUMNS, "transaction")


def structure_verdict(result: runner.SuiteResult, file: str, columns: Sequence[str],
                      kind: str) -> AssetCheckResult:
    """The blocking structure check's result for a landed `file` of `kind` (transaction or
    label) whose contract has `columns`: missing columns named first, else the rules that
    failed, each with what to do."""
    missing = [r.column for r in result.failed if r.expectation == "expect_column_to_exist"]
    if missing:
        description = (f"{file}: missing required column(s) {', '.join(missing)}; re-land the "
                       f"file with the columns {', '.join(columns)}")
    elif result.failed:
        description = (f"{file}: " + "; ".join(r.rule + " (it is not)" for r in result.failed)
                       + "; fix the export and re-land the file")
    else:
        description = f"{file}: structure matches the {kind} contract"
    return AssetCheckResult(passed=result.success, severity=AssetCheckSeverity.ERROR,
                            description=description, metadata=suite_metadata(result, file))


@asset_check(asset=names.TRANSACTIONS_RAW, name=names.CONTRACT_VALUES,
             partitions_def=daily_partitions, blocking=False,
             description="Row-level rules of the transaction contract for the file's day "
                         "(Great Expectations): values, ids unique, timestamps on the day, "
                         "hour and day_of_week those of the timestamp. Rows that break "
                         "them are quarantined, the day goes on.")
def contract_values(context: AssetCheckExecutionContext, transactions_raw: pd.DataFrame,
                    fraud_home: FraudHome) -> AssetCheckResult:
    file = str(landing_path(fraud_home, context.partition_key))
    day = context.partition_key
    judged = _judged(transactions_raw, day, fraud_home)
    typed, why = judged.typed, judged.why
    result = runner.run_suite(suites.values_suite(day, columns=transactions_raw.columns),
                              judged.ge, transactions_raw)
    bad_rows = int((why != "").sum())
    meta = suite_metadata(result, file) | {"bad_rows": bad_rows,
                                      "bad_share": bad_rows / max(len(typed), 1)}
    passed = result.success and bad_rows == 0
    if bad_rows:
        top = why[why != ""].str.split("; ").explode().str.replace(r" \(got .*", "", regex=True)
        top = top.str.replace(r"line \d+", "line N", regex=True).value_counts().head(3)
        description = (f"{bad_rows:,} of {len(typed):,} rows break a rule and go to "
                       f"transactions_quarantine (most often: "
                       + "; ".join(f"{r} x{c:,}" for r, c in top.items())
                       + "); fix them upstream and re-land the file to keep them")
    elif not result.success:
        description = "failed rules: " + ", ".join(r.rule for r in result.failed)
    else:
        description = f"all {len(typed):,} rows meet the contract"
    return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.WARN, metadata=meta,
                            description=description)


def _column(frame: pd.DataFrame, name: str) -> pd.Series | None:
    return frame[name] if name in frame.columns else None


@asset_check(asset=names.TRANSACTIONS_RAW, name=names.FRAUD_RATE_SANE,
             partitions_def=daily_partitions, blocking=False,
             description="The day's fraud rate is within bounds and plausible against the "
                         "recent validated days (two-sided binomial test; zero frauds on a "
                         "large day = labels possibly missing).")
def fraud_rate_sane(context: AssetCheckExecutionContext, transactions_raw: pd.DataFrame,
                    fraud_home: FraudHome) -> AssetCheckResult:
    judged = _judged(transactions_raw, context.partition_key, fraud_home)
    typed = judged.typed
    recent = plausibility.history(fraud_home.lake, context.partition_key)
    verdict = plausibility.fraud_rate(_column(typed, contract.LABEL), recent)
    meta = dict(verdict.metadata)
    if contract.LABEL in typed.columns:
        bounds = runner.run_suite(suites.fraud_rate_suite(), judged.ge)
        meta["ge_bounds_passed"] = bounds.success
    return AssetCheckResult(passed=verdict.passed, severity=AssetCheckSeverity.WARN,
                            metadata=meta, description=verdict.description)


@asset_check(asset=names.TRANSACTIONS_RAW, name=names.CATEGORIES_PRESENT,
             partitions_def=daily_partitions, blocking=False,
             description="Every merchant category seen on each of the recent validated days "
                         "is present in the day (warning).")
def categories_present(context: AssetCheckExecutionContext, transactions_raw: pd.DataFrame,
                       fraud_home: FraudHome) -> AssetCheckResult:
    recent = plausibility.history(fraud_home.lake, context.partition_key)
    verdict = plausibility.absent_categories(
        _column(transactions_raw, contract.MERCHANT_CATEGORY.name), recent)
    return AssetCheckResult(passed=verdict.passed, severity=AssetCheckSeverity.WARN,
                            metadata=verdict.metadata, description=verdict.description)
