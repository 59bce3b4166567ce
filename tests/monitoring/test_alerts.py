"""Alerts posted to a real local HTTP receiver: the body, a broken receiver, failed runs."""

from __future__ import annotations

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    Failure,
    build_run_status_sensor_context,
    job,
    op,
)

from fraud_assets.defs.monitoring.alerts import run_failure_alert
from fraud_assets.monitoring import alerts
from fraud_assets.orchestration.processes import free_port

ALERT = alerts.Alert(alerts.DRIFT_ALARM, "Drift alarm on 2025-02-01", "drift: amount",
                     {"day": "2025-02-01", "drift share": "0.50"}, "http://127.0.0.1:3000/x")


def test_an_alert_is_slack_compatible_json(alert_receiver):
    assert alerts.post(ALERT)
    [body] = alert_receiver.received
    assert body["text"].startswith("*Drift alarm on 2025-02-01*\ndrift: amount")
    assert "• drift share: 0.50" in body["text"]
    assert "<http://127.0.0.1:3000/x|open>" in body["text"]
    assert body["blocks"][0]["text"] == {"type": "mrkdwn", "text": body["text"]}
    assert body["fraud_alert"]["kind"] == "drift_alarm"
    assert body["fraud_alert"]["facts"]["day"] == "2025-02-01"


def test_a_broken_or_absent_receiver_never_raises(alert_receiver, monkeypatch, caplog):
    alert_receiver.status = 500
    assert alerts.post(ALERT) is False
    assert "HTTP 500" in caplog.text
    assert alerts.post(ALERT, url=f"http://127.0.0.1:{free_port()}/nobody") is False
    assert "not delivered" in caplog.text
    monkeypatch.delenv(alerts.WEBHOOK_ENV)
    assert alerts.post(ALERT) is False  # alerts off: nothing sent
    assert len(alert_receiver.received) == 1


@op
def flaky() -> None:
    raise Failure(description="the landing file for 2025-02-01 is unreadable")


@job
def broken_job() -> None:
    flaky()


def failure_context(instance: DagsterInstance):
    result = broken_job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    [event] = [e for e in result.all_events if e.event_type == DagsterEventType.RUN_FAILURE]
    return build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_event=event, dagster_instance=instance,
        dagster_run=instance.get_run_by_id(result.run_id)).for_run_failure()


def test_a_failed_run_is_posted_with_its_step_and_reason(alert_receiver):
    with DagsterInstance.ephemeral() as instance:
        assert run_failure_alert(failure_context(instance)) is None
    [body] = alert_receiver.received
    alert = body["fraud_alert"]
    assert alert["kind"] == "run_failed" and alert["title"] == "Run failed: broken_job"
    assert "flaky: the landing file for 2025-02-01 is unreadable" in alert["text"]
    assert alert["link"].endswith(f"/runs/{alert['facts']['run']}")


def test_without_a_webhook_the_failure_sensor_skips_saying_so(monkeypatch):
    monkeypatch.delenv(alerts.WEBHOOK_ENV, raising=False)
    with DagsterInstance.ephemeral() as instance:
        skipped = run_failure_alert(failure_context(instance))
    assert alerts.WEBHOOK_ENV in skipped.skip_message


@pytest.mark.parametrize("kind", [alerts.GATE_DECISION, alerts.PERFORMANCE_BREACH])
def test_every_kind_has_a_name_the_receiver_can_route_on(kind):
    assert alerts.Alert(kind, "t", "x").payload()["fraud_alert"]["kind"] == kind
