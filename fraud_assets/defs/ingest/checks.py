"""Great Expectations asset checks on the landed day.

`contract_structure` is blocking: a file without the contract's columns or types stops
everything downstream. `contract_values` and `fraud_rate_sane` only warn: bad rows are
quarantined by `transactions_validated`, and the day goes on.
"""


import pandas as pd
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    asset_check,
)

from fraud_assets import contract, names
from fraud_assets.defs.ingest.assets import landing_path
from fraud_assets.defs.partitions import daily_partitions
from fraud_assets.defs.resources import FraudHome
from fraud_assets.validation import runner, suites


def _rules_table(result: runner.SuiteResult) -> str:
    rows = [{"rule": r.rule, "passed": "yes" if r.success else "NO",
             "unexpected": r.unexpected_count, "examples": ", ".join(map(str, r.examples)),
             "observed": "" if r.observed is None else r.observed}
            for r in result.rules]
    return pd.DataFrame(rows).to_markdown(index=False)


def _metadata(result: runner.SuiteResult, file: str) -> dict:
    failed = result.failed
    return {
        "file": MetadataValue.path(file),
        "rows": result.rows,
        "expectations": len(result.rules),
        "failed_expectations": len(failed),
        "failed_rules": ", ".join(r.rule for r in failed) or "none",
        "unexpected_counts": {r.rule: r.unexpected_count for r in failed},
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
    result = runner.run_suite(suites.structure_suite(),
                              runner.for_ge(contract.coerce(transactions_raw)))
    missing = [r.column for r in result.failed if r.expectation == "expect_column_to_exist"]
    if missing:
        description = f"{file}: missing required column(s) {', '.join(missing)}"
    elif result.failed:
        description = f"{file}: " + "; ".join(r.rule + " (it is not)" for r in result.failed)
    else:
        description = f"{file}: structure matches the transaction contract"
    return AssetCheckResult(passed=result.success, severity=AssetCheckSeverity.ERROR,
                            description=description, metadata=_metadata(result, file))


@asset_check(asset=names.TRANSACTIONS_RAW, name=names.CONTRACT_VALUES,
             partitions_def=daily_partitions, blocking=False,
             description="Row-level rules of the transaction contract (Great Expectations); "
                         "rows that break them are quarantined, the day goes on.")
def contract_values(context: AssetCheckExecutionContext, transactions_raw: pd.DataFrame,
                    fraud_home: FraudHome) -> AssetCheckResult:
    file = str(landing_path(fraud_home, context.partition_key))
    typed = contract.coerce(transactions_raw)
    result = runner.run_suite(suites.values_suite(), runner.for_ge(typed))
    bad_rows = int(contract.violations(typed).any(axis=1).sum())
    meta = _metadata(result, file) | {"bad_rows": bad_rows,
                                      "bad_share": bad_rows / max(len(typed), 1)}
    return AssetCheckResult(
        passed=result.success, severity=AssetCheckSeverity.WARN, metadata=meta,
        description=f"{bad_rows:,} of {len(typed):,} rows break a rule and go to quarantine"
        if bad_rows else "every row meets the contract")


@asset_check(asset=names.TRANSACTIONS_RAW, name=names.FRAUD_RATE_SANE,
             partitions_def=daily_partitions, blocking=False,
             description="The day's fraud rate is within sane bounds.")
def fraud_rate_sane(context: AssetCheckExecutionContext,
                    transactions_raw: pd.DataFrame) -> AssetCheckResult:
    typed = contract.coerce(transactions_raw)
    result = runner.run_suite(suites.fraud_rate_suite(), runner.for_ge(typed))
    rate = result.rules[0].observed
    return AssetCheckResult(passed=result.success, severity=AssetCheckSeverity.WARN,
                            metadata={"fraud_rate": rate, "bounds": list(suites.FRAUD_RATE_BOUNDS)},
                            description=f"fraud rate {rate}")
