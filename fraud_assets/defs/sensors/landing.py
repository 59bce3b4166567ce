"""Turn newly landed (or corrected) files into daily partition runs."""


import json

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from fraud_assets import landing, simulator
from fraud_assets.defs.jobs import daily_job
from fraud_assets.defs.resources import FraudHome


@sensor(job=daily_job, minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Requests a daily_job run for each landing file that is new or changed.")
def landing_sensor(context: SensorEvaluationContext, fraud_home: FraudHome):
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    valid_keys = set(daily_job.partitions_def.get_partition_keys(
        dynamic_partitions_store=context.instance))
    requests, ignored = [], []
    for path in sorted(fraud_home.landing.glob("transactions_*.csv")):
        day = simulator.day_of_file(path)
        if day is None or day.isoformat() not in valid_keys:
            ignored.append(path.name)
            continue
        fp = landing.fingerprint(path)
        if seen.get(day.isoformat()) == fp:
            continue
        seen[day.isoformat()] = fp
        # The run key carries the content hash: the same file never runs twice, a corrected
        # file for the same day does.
        requests.append(RunRequest(run_key=f"{day.isoformat()}:{fp}",
                                   partition_key=day.isoformat(),
                                   tags={"fraud/landing_file": str(path)}))
    if ignored:
        context.log.warning(f"ignored files with no valid day in their name: {ignored}")
    if not requests:
        return SkipReason(f"no new or changed files in {fraud_home.landing}")
    return SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))
