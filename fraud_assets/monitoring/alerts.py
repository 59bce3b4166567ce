"""Alerts to a team's chat: drift alarms, performance-floor breaches, gate decisions and
failed runs, posted as Slack-compatible JSON to `$FRAUD_ALERT_WEBHOOK_URL`.

Slack's incoming webhooks (and Mattermost's, Rocket.Chat's, Teams' Slack-compatible
connectors) take `{"text": ..., "blocks": [...]}`; `fraud_alert` carries the same facts as
data for any other receiver (Slack ignores keys it does not know).

Posting never fails the caller: a chat being down must not fail a run or a sensor tick.
A failed post is logged (the receiver's status or the connection error) and reported as
False. Free of Dagster: the code location's sensors and the `champion` asset call `post`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field

import httpx

WEBHOOK_ENV = "FRAUD_ALERT_WEBHOOK_URL"
DRIFT_ALARM, PERFORMANCE_BREACH, GATE_DECISION, RUN_FAILED = (
    "drift_alarm", "performance_breach", "gate_decision", "run_failed")
TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One alert. `kind`: one of the four kinds above; `facts`: short name -> value pairs
    shown as a list (day, version, F1...); `link`: where to look (the run, the model)."""

    kind: str
    title: str
    text: str
    facts: dict[str, str] = field(default_factory=dict)
    link: str | None = None

    def payload(self) -> dict:
        """The Slack-compatible JSON body."""
        lines = [f"*{self.title}*", self.text]
        lines += [f"• {name}: {value}" for name, value in self.facts.items()]
        if self.link:
            lines.append(f"<{self.link}|open>")
        text = "\n".join(lines)
        return {"text": text,
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
                "fraud_alert": asdict(self)}


def webhook_url() -> str | None:
    """$FRAUD_ALERT_WEBHOOK_URL, or None when alerts are off (unset or empty)."""
    return os.environ.get(WEBHOOK_ENV) or None


def post(alert: Alert, url: str | None = None) -> bool:
    """POST the alert to `url` (default: the webhook setting). True when the receiver
    answered 2xx; False when alerts are off or the post failed (logged, never raised)."""
    url = url or webhook_url()
    if url is None:
        return False
    try:
        # Two retries on connection errors: a receiver restarting should not lose alerts.
        with httpx.Client(timeout=TIMEOUT_SECONDS,
                          transport=httpx.HTTPTransport(retries=2)) as client:
            answer = client.post(url, json=alert.payload())
    except httpx.HTTPError as exc:
        log.warning("alert %r not delivered to %s: %s", alert.title, url, exc)
        return False
    if not answer.is_success:
        log.warning("alert %r refused by %s: HTTP %s %s", alert.title, url,
                    answer.status_code, answer.text[:200])
    return answer.is_success
