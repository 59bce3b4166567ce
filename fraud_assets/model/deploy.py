"""Moving the `champion` alias (the deploy) and moving it back (the rollback).

Every move keeps `previous-champion` on the version that served before, and appends to a
`champion_history` tag on the registered model, so rolling back twice walks two steps
back instead of bouncing between the last two versions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fraud_assets.model.registry import (
    CHALLENGER_ALIAS,
    PREVIOUS_CHAMPION_ALIAS,
    MlflowRegistry,
    RegistryError,
)
from fraud_assets.settings import CHAMPION_ALIAS

HISTORY_TAG = "champion_history"
MAX_HISTORY = 100  # registry tag values are bounded in size


@dataclass(frozen=True)
class ChampionMove:
    """What a promotion or rollback did."""

    before: str | None  # champion before the move
    after: str | None  # champion after it
    previous: str | None  # where `previous-champion` points now
    reason: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self, model_name: str) -> str:
        if not self.changed:
            return f"{model_name}: champion stays at version {self.after} ({self.reason})"
        before = f"version {self.before}" if self.before else "no champion"
        previous = self.previous or "none"
        return (f"{model_name}: champion moved from {before} to version {self.after} "
                f"({self.reason}); previous-champion is now {previous}")


def history(registry: MlflowRegistry) -> list[str]:
    """Versions that became champion, oldest first."""
    raw = registry.model_tag(HISTORY_TAG) or ""
    return [v for v in raw.split(",") if v]


def promote(registry: MlflowRegistry, version: str, reason: str) -> ChampionMove:
    """Make `version` the champion; the current champion becomes `previous-champion`."""
    version = str(version)
    registry.version(version)  # an unknown version is refused with the known ones listed
    current = registry.alias_version(CHAMPION_ALIAS)
    if current == version:
        return ChampionMove(before=current, after=current,
                            previous=registry.alias_version(PREVIOUS_CHAMPION_ALIAS),
                            reason=f"version {version} is already the champion")
    past = _synced(history(registry), current) + [version]
    _apply(registry, champion=version, previous=current, past=past)
    registry.tag_version(version, {
        "champion_since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "champion_reason": reason,
        "previous_champion": current or "none",
    })
    return ChampionMove(before=current, after=version, previous=current, reason=reason)


def rollback(registry: MlflowRegistry, to: str | None = None) -> ChampionMove:
    """Move `champion` back to `previous-champion`, or to the named version `to`."""
    if to is not None:
        return promote(registry, str(to), reason=f"rollback to version {to}")
    current = registry.alias_version(CHAMPION_ALIAS)
    target = registry.alias_version(PREVIOUS_CHAMPION_ALIAS)
    if current is None and target is not None:
        # The champion's version was deleted (MLflow drops its aliases with it), or the
        # alias removed by hand: serving has nothing to load, previous-champion is the way back.
        return promote(registry, target, reason=f"rollback to previous-champion version "
                                                f"{target}: the champion alias was unset (its "
                                                "version deleted?)")
    if current is None:
        raise RegistryError(f"model {registry.model_name!r} has no champion to roll back from")
    if target is None:
        raise RegistryError(
            f"champion version {current} has no previous champion to roll back to; "
            f"name one with --to VERSION (known versions: {', '.join(registry.versions())})")
    past = _synced(history(registry), current)
    # Consistent history ends [..., target, current]; otherwise the aliases were moved by
    # hand, so the history restarts at the target.
    past = past[:-1] if len(past) >= 2 and past[-2] == target else [target]
    previous = past[-2] if len(past) >= 2 else None
    _apply(registry, champion=target, previous=previous, past=past)
    registry.tag_version(target, {"champion_reason": f"rollback from version {current}"})
    return ChampionMove(before=current, after=target, previous=previous,
                        reason=f"rollback from version {current}")


def _synced(past: list[str], current: str | None) -> list[str]:
    # If someone moved the alias outside the platform (e.g. in the MLflow UI), the
    # history's last entry is not the champion: record the champion as it really is.
    if current is not None and (not past or past[-1] != current):
        return [*past, current]
    return list(past)


def _apply(registry: MlflowRegistry, champion: str, previous: str | None,
           past: list[str]) -> None:
    # The champion alias moves first: it is the deploy; the rest is bookkeeping.
    registry.set_alias(CHAMPION_ALIAS, champion)
    registry.set_alias(PREVIOUS_CHAMPION_ALIAS, previous)
    registry.set_model_tag(HISTORY_TAG, ",".join(past[-MAX_HISTORY:]))


# -- the canary: the share of live traffic the `challenger` answers --------------------------
CANARY_TAG = "canary_percent"  # on the registered model: every replica reads the same value
CANARY_ENV = "FRAUD_CANARY_PERCENT"  # a replica's default while the tag is unset


def parse_canary_percent(raw: str, source: str) -> float:
    """A percentage in [0, 100]; ValueError naming `source` (a variable or an option)."""
    try:
        percent = float(raw)
    except ValueError:
        raise ValueError(f"{source}={raw!r} is not a number of percent") from None
    if not 0.0 <= percent <= 100.0:
        raise ValueError(f"{source}={raw!r} is outside 0..100 (percent of traffic)")
    return percent


def canary_percent(registry: MlflowRegistry) -> float | None:
    """The registry's canary setting, or None while it is unset (the env default applies)."""
    raw = registry.model_tag(CANARY_TAG)
    return None if raw in (None, "") else parse_canary_percent(raw, CANARY_TAG)


def set_canary(registry: MlflowRegistry, percent: float) -> str:
    """Let the challenger answer `percent` of traffic (0 stops the canary); what was done.
    Refused (RegistryError) while there is no challenger distinct from the champion."""
    percent = parse_canary_percent(str(percent), "percent")
    challenger = registry.alias_version(CHALLENGER_ALIAS)
    champion = registry.alias_version(CHAMPION_ALIAS)
    if percent > 0 and (challenger is None or challenger == champion):
        raise RegistryError(f"no challenger to send traffic to (challenger: {challenger}, "
                            f"champion: {champion}); train a new version first")
    registry.set_model_tag(CANARY_TAG, f"{percent:g}")
    if percent == 0:
        return "canary stopped: the champion answers all traffic (the challenger in shadow)"
    return (f"canary at {percent:g}%: challenger version {challenger} answers that share of "
            f"traffic, champion version {champion} the rest")
