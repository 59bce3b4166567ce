"""Freshness of online features: how old the values an answer used are, against a limit
set per feature view in the feature repository.

Feast returns whatever the online store holds, however old (its `ttl` only bounds the
offline point-in-time join), so the platform judges freshness itself: each feature group
(a Feast feature view) has a limit, the view's `names.FRESHNESS_TAG` tag in seconds, else
its `ttl`. A value older than the limit at the time of the event it scores is *stale*, and
the model gets it as unknown (NaN, the imputed path), never as a fresh number.

The age is measured at the event's time: the request's `event_timestamp` when it sent one,
else its arrival. A replayed day is therefore judged as it would have been live, and live
traffic by the wall clock. A negative age means the value is newer than the event (a replay
against today's store): it is reported as it is and not stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from feast import FeatureView

from fraud_assets.features.names import FRESHNESS_TAG


class FreshnessConfigError(ValueError):
    """A feature view's freshness limit is missing or not a positive number of seconds."""


def freshness_limit(view: FeatureView) -> float:
    """The view's freshness limit in seconds: its `FRESHNESS_TAG` tag, else its ttl.

    Raises FreshnessConfigError naming the view when the tag is not a positive number or
    the view has neither tag nor ttl (a view without a limit cannot be judged)."""
    raw = (view.tags or {}).get(FRESHNESS_TAG)
    if raw is None:
        ttl = view.ttl or dt.timedelta(0)
        if ttl.total_seconds() <= 0:
            raise FreshnessConfigError(
                f"feature view {view.name!r} has neither a {FRESHNESS_TAG!r} tag nor a ttl: "
                "set one in fraud_assets/features/repo.py")
        return ttl.total_seconds()
    try:
        limit = float(raw)
    except ValueError:
        limit = float("nan")
    if not np.isfinite(limit) or limit <= 0:
        raise FreshnessConfigError(f"feature view {view.name!r}: tag {FRESHNESS_TAG}={raw!r} "
                                   "is not a positive number of seconds")
    return limit


@dataclass(frozen=True)
class GroupFreshness:
    """One feature group's freshness for each row of a call.

    `age_seconds`: float per row, NaN where the group had no value (nothing to age);
    `stale`: bool per row, True where the age exceeds `limit_seconds`."""

    group: str
    limit_seconds: float
    age_seconds: np.ndarray
    stale: np.ndarray

    def row(self, i: int) -> dict[str, float | bool | None]:
        """Row `i` as the answer reports it (`feature_age_seconds` null when unknown)."""
        age = float(self.age_seconds[i])
        limit = self.limit_seconds if np.isfinite(self.limit_seconds) else None
        return {"feature_age_seconds": round(age, 3) if np.isfinite(age) else None,
                "stale": bool(self.stale[i]), "freshness_limit_seconds": limit}


def assess(group: str, feature_seconds: np.ndarray, at_seconds: np.ndarray,
           limit_seconds: float) -> GroupFreshness:
    """Freshness of a group per row: `feature_seconds` the event time (UTC epoch seconds,
    NaN = no value) of the value each row used, `at_seconds` the time of the row's event
    (UTC epoch seconds), `limit_seconds` the view's limit (inf when it cannot be read:
    nothing is judged stale then, and the answer says the limit is unknown)."""
    age = np.asarray(at_seconds, dtype="float64") - np.asarray(feature_seconds, dtype="float64")
    with np.errstate(invalid="ignore"):
        stale = np.isfinite(age) & (age > limit_seconds)
    return GroupFreshness(group, float(limit_seconds), age, stale)
