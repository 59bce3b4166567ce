"""The reference a day is compared with: the champion's training window, read from the lake.

The window comes from the champion version's `training_start` / `training_end` tags. Each
day of it is read on its own and sampled to its share of `max_rows`, so memory stays
bounded however long the window is. Without a champion (a fresh platform), the days
before the partition stand in, and the reference says so.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from fraud_assets import lake, settings
from fraud_assets.model.registry import TAG_TRAINING_END, TAG_TRAINING_START, MlflowRegistry

VALIDATED = "transactions_validated"
Source = Literal["champion", "previous_days", "none"]


@dataclass(frozen=True)
class ChampionWindow:
    version: str
    start: dt.date
    end: dt.date

    @property
    def days(self) -> list[str]:
        count = (self.end - self.start).days + 1
        return [(self.start + dt.timedelta(days=i)).isoformat() for i in range(count)]


@dataclass(frozen=True)
class Reference:
    frame: pd.DataFrame
    source: Source
    description: str  # shown as metadata: where the reference came from
    days: tuple[str, ...]  # the days actually found in the lake
    rows_available: int
    champion_version: str | None = None


def _tag_day(version: str, tags: dict[str, str], key: str) -> dt.date:
    if key not in tags:
        raise ValueError(f"champion version {version} of {settings.REGISTERED_MODEL_NAME!r} "
                         f"has no {key!r} tag: its training window is unknown")
    try:
        return pd.Timestamp(tags[key]).date()
    except ValueError:
        raise ValueError(f"champion version {version}: tag {key}={tags[key]!r} is not a "
                         f"date or timestamp") from None


def _store_missing(uri: str) -> bool:
    # Asking an absent SQLite store would create an empty one (and run its migrations):
    # a read must not have that side effect, and there is no champion in it anyway.
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


def champion_window(registry: MlflowRegistry) -> ChampionWindow | None:
    """The champion's training window, or None when no version carries the alias."""
    if _store_missing(registry.resolved_tracking_uri()):
        return None
    version = registry.alias_version(settings.CHAMPION_ALIAS)
    if version is None:
        return None
    tags = dict(registry.version(version).tags)
    start = _tag_day(version, tags, TAG_TRAINING_START)
    end = _tag_day(version, tags, TAG_TRAINING_END)
    if end < start:
        raise ValueError(f"champion version {version}: {TAG_TRAINING_END} {end} is before "
                         f"{TAG_TRAINING_START} {start}")
    return ChampionWindow(version, start, end)


def previous_days(day: str, count: int) -> list[str]:
    """The `count` calendar days strictly before `day`, oldest first."""
    first = dt.date.fromisoformat(day)
    return [(first - dt.timedelta(days=i)).isoformat() for i in range(count, 0, -1)]


def load_days(days: list[str], max_rows: int, seed: int, lake_root: Path | None = None,
              ) -> tuple[pd.DataFrame, tuple[str, ...], int]:
    """Validated rows of the days that exist, at most ~`max_rows` in all, spread evenly.

    Returns the sample, the days found and how many rows they held before sampling.
    Each day's sample is kept (`_day_sample`), so a daily run reads the whole day only for
    days it never sampled: the cost per day does not grow with the window.
    """
    root = lake_root or settings.lake_dir()
    quota = max(1, math.ceil(max_rows / max(len(days), 1)))
    parts, found, available = [], [], 0
    for day in days:
        path = lake.partition_path(root, VALIDATED, day)
        if not path.exists():
            continue
        part, rows = _day_sample(path, day, quota, seed, root)
        if rows == 0:
            continue
        found.append(day)
        available += rows
        parts.append(part)
    sample = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return sample, tuple(found), available


def _day_sample(path: Path, day: str, quota: int, seed: int,
                lake_root: Path) -> tuple[pd.DataFrame, int]:
    """(sample of at most `quota` rows of the day's file, the day's row count), cached under
    FRAUD_HOME/engine/reference_samples by the file's size and mtime (a corrected day is
    sampled again)."""
    stat = path.stat()
    folder = settings.engine_dir(lake_root.parent) / "reference_samples"
    cached = folder / f"{day}_{stat.st_size}_{stat.st_mtime_ns}_{quota}_{seed}.parquet"
    if cached.exists():
        part = pd.read_parquet(cached)
        return part.drop(columns=[_ROWS]).reset_index(drop=True), _rows_of(part)
    frame = pd.read_parquet(path)
    part = frame.sample(n=min(quota, len(frame)), random_state=seed) if len(frame) else frame
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(f"{day}_*.parquet"):
        old.unlink(missing_ok=True)
    tmp = cached.with_name(f".{cached.name}.tmp")
    part.assign(**{_ROWS: len(frame)}).to_parquet(tmp, index=False)
    tmp.replace(cached)
    return part, len(frame)


_ROWS = "_day_rows"  # the day's row count, kept on each cached sample row


def _rows_of(part: pd.DataFrame) -> int:
    return int(part[_ROWS].iloc[0]) if len(part) else 0


def resolve(day: str, window: ChampionWindow | None, fallback_days: int, max_rows: int,
            seed: int, lake_root: Path | None = None) -> Reference:
    """The champion's window when it has data in the lake, else the days before `day`."""
    why_fallback = "no champion model yet"
    if window is not None:
        frame, found, available = load_days(window.days, max_rows, seed, lake_root)
        if found:
            return Reference(frame, "champion",
                             f"champion v{window.version} training window {window.start} .. "
                             f"{window.end} ({len(found)} days in the lake)",
                             found, available, window.version)
        why_fallback = (f"champion v{window.version} training window {window.start} .. "
                        f"{window.end} has no {VALIDATED} days in the lake")
    frame, found, available = load_days(previous_days(day, fallback_days), max_rows, seed,
                                        lake_root)
    if not found:
        return Reference(frame, "none", f"{why_fallback}, and none of the {fallback_days} "
                         f"days before {day} are in the lake: nothing to compare with",
                         found, 0, window.version if window else None)
    return Reference(frame, "previous_days",
                     f"{why_fallback}: using the {len(found)} days before {day} found in the "
                     f"lake ({found[0]} .. {found[-1]})", found, available,
                     window.version if window else None)
