"""`run_failure_alert`: every failed run of this code location posted to the alert webhook,
through Dagster's own run-failure sensor (the daemon evaluates it, its cursor makes each
failure post once). Drift alarms and performance breaches are posted by `drift_retraining`,
gate decisions by the `champion` asset (`monitoring.alerts` builds the messages)."""

from __future__ import annotations

import os

from dagster import DefaultSensorStatus, RunFailureSensorContext, SkipReason, run_failure_sensor

from fraud_assets import names
from fraud_assets.monitoring import alerts

DAGSTER_URL_ENV = "FRAUD_DAGSTER_URL"  # where links in alerts point (the Dagster UI)


def run_link(run_id: str) -> str:
    base = os.environ.get(DAGSTER_URL_ENV, "http://127.0.0.1:3000").rstrip("/")
    return f"{base}/runs/{run_id}"


def failure_alert(context: RunFailureSensorContext) -> alerts.Alert:
    """The alert for a failed run: job, partition, each failed step and its reason."""
    run = context.dagster_run
    steps = []
    for event in context.get_step_failure_events():
        data = event.step_failure_data
        why = (data.user_failure_data.description if data.user_failure_data else None) or (
            data.error.message.strip().splitlines()[0] if data.error else "failed")
        steps.append(f"{event.step_key}: {why}")
    facts = {"job": run.job_name, "run": run.run_id}
    if run.tags.get("dagster/partition"):
        facts["partition"] = run.tags["dagster/partition"]
    text = "; ".join(steps) or context.failure_event.message or "the run failed"
    return alerts.Alert(alerts.RUN_FAILED, f"Run failed: {run.job_name}", text, facts,
                        run_link(run.run_id))


@run_failure_sensor(name=names.RUN_FAILURE_ALERT_SENSOR,
                    default_status=DefaultSensorStatus.RUNNING,
                    description=f"Posts every failed run to ${alerts.WEBHOOK_ENV} "
                                "(Slack-compatible JSON); does nothing while it is unset.")
def run_failure_alert(context: RunFailureSensorContext) -> SkipReason | None:
    if alerts.webhook_url() is None:
        return SkipReason(f"${alerts.WEBHOOK_ENV} is not set: alerts are off")
    if not alerts.post(failure_alert(context)):
        context.log.warning(f"the alert for run {context.dagster_run.run_id} was not "
                            "delivered (see the sensor's log)")
    return None
