"""When drift becomes a retraining request: the decision, free of Dagster.

Two signals are read, in the order they were recorded: drift reports (the data moved) and
the model's performance on labelled days (F1 fell below a floor). The first alarming day
that is outside the cool-down and whose landed file passed its blocking checks starts a new
*episode*: one retraining request whose run key names the day and the episode number.
Both signals share the episodes and the cool-down, so a day that both drifts and loses F1
retrains once. Every other event gets a readable note saying why it did not trigger.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

TRIGGER_TAG = "fraud/trigger"
TRIGGER_VALUE = "drift_retraining"
SIGNAL_TAG = "fraud/signal"
# The request's key as a tag of ours: whoever runs the request (the daemon, or the drift
# story in-process) leaves it on the run, and the sensor never requests that key again.
RUN_KEY_TAG = "fraud/run_key"
REASON_MAX = 500  # keep run tags readable in the UI
DRIFT, PERFORMANCE = "drift", "performance"  # the kinds of event (the SIGNAL_TAG values)


@dataclass(frozen=True)
class DriftEvent:
    """One materialization the sensor reads from the event log: a drift report, or a day's
    model performance (kind PERFORMANCE, which uses `summary` instead of the drift fields).
    """

    storage_id: int
    asset: str
    day: str
    alarm: bool
    status: str
    drift_share: float
    drifted_columns: str
    reason: str
    kind: str = DRIFT
    summary: str = ""  # PERFORMANCE: what was measured, e.g. "F1 0.214 < floor 0.3"


@dataclass(frozen=True)
class TriggerState:
    """The sensor cursor: what was read, and the last episode it started."""

    after: dict[str, int] = field(default_factory=dict)  # last storage id read, per asset
    episode: int = 0
    last_trigger_at: float | None = None  # unix seconds
    last_trigger_day: str | None = None

    def to_cursor(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> TriggerState:
        if not cursor:
            return cls()
        try:
            return cls(**json.loads(cursor))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"drift_retraining cursor is not one this sensor wrote "
                             f"({exc}); reset the sensor's cursor in the UI") from None


@dataclass(frozen=True)
class Trigger:
    day: str
    asset: str
    episode: int
    reason: str
    kind: str = DRIFT

    @property
    def run_key(self) -> str:
        return f"drift-retraining:{self.day}:episode-{self.episode}"

    @property
    def tags(self) -> dict[str, str]:
        return {TRIGGER_TAG: TRIGGER_VALUE, "fraud/drift_day": self.day,
                "fraud/drift_report": self.asset, "fraud/drift_episode": str(self.episode),
                "fraud/drift_reason": self.reason[:REASON_MAX], SIGNAL_TAG: self.kind,
                RUN_KEY_TAG: self.run_key}


@dataclass(frozen=True)
class Decision:
    trigger: Trigger | None
    notes: tuple[str, ...]
    state: TriggerState


def _stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _what(event: DriftEvent, detailed: bool = False) -> str:
    """What the event saw, for the notes: drift (in which columns), or the measured F1."""
    if event.kind == PERFORMANCE:
        return event.summary
    return f"drift in {event.drifted_columns}" if detailed else "drift"


def _quiet(event: DriftEvent) -> str:
    if event.kind == PERFORMANCE:
        return event.summary
    return f"{event.status}, drift share {event.drift_share:.2f}"


def _why_not(event: DriftEvent, state: TriggerState, chosen: Trigger | None, now: float,
             cooldown_s: float, blocked: Callable[[str], str | None]) -> str | None:
    """None if this event may trigger, else the readable reason it may not."""
    head = f"{event.day} ({event.asset})"
    if not event.alarm:
        return f"{head}: {_quiet(event)}"
    if chosen is not None:
        return f"{head}: {_what(event)}, but retraining is already requested for {chosen.day}"
    if state.last_trigger_at is not None and now - state.last_trigger_at < cooldown_s:
        return (f"{head}: {_what(event, detailed=True)}, but in cool-down until "
                f"{_stamp(state.last_trigger_at + cooldown_s)} (episode {state.episode} "
                f"started for {state.last_trigger_day})")
    failed = blocked(event.day)
    if failed:
        return f"{head}: {_what(event)}, but not retraining on that day: {failed}"
    return None


def decide(events: Iterable[DriftEvent], state: TriggerState, now: float, cooldown_s: float,
           blocked: Callable[[str], str | None]) -> Decision:
    """Read `events` (any order) after `state`; at most one trigger per evaluation.

    `blocked(day)` returns why the day's data must not be trained on (failed blocking
    checks), or None.
    """
    after = dict(state.after)
    notes: list[str] = []
    chosen: Trigger | None = None
    for event in sorted(events, key=lambda e: e.storage_id):
        after[event.asset] = max(after.get(event.asset, 0), event.storage_id)
        why = _why_not(event, state, chosen, now, cooldown_s, blocked)
        if why is not None:
            notes.append(why)
            continue
        chosen = Trigger(event.day, event.asset, state.episode + 1, event.reason, event.kind)
        notes.append(f"{event.day} ({event.asset}): {event.reason} -> retraining, "
                     f"episode {chosen.episode}")
    new_state = replace(state, after=after)
    if chosen is not None:
        new_state = replace(new_state, episode=chosen.episode, last_trigger_at=now,
                            last_trigger_day=chosen.day)
    return Decision(chosen, tuple(notes), new_state)
