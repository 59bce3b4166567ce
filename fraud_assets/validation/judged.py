"""A landed day judged once: its typed view, each row's reason and GE's frame, shared by the
asset checks and `transactions_validated` of the same run (issue 14: the raw day was
coerced four times per daily run, ~2 s each at 1M rows).

Keyed by the stored raw partition's path, size and mtime: a re-landed or re-read day is
judged again, and only the latest day is kept in memory.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fraud_assets import contract
from fraud_assets.validation import runner


@dataclass(frozen=True)
class JudgedDay:
    typed: pd.DataFrame  # contract.coerce of the raw day
    why: pd.Series  # contract.landed_reasons: '' for a valid row
    ge: pd.DataFrame  # runner.for_ge(typed)


_lock = threading.Lock()
_latest: tuple[tuple, JudgedDay] | None = None


def _key(source: Path | None, day: str, raw: pd.DataFrame) -> tuple:
    if source is None or not source.exists():
        return ("frame", id(raw), day)  # no stored file: only this very frame
    stat = source.stat()
    return (str(source), stat.st_size, stat.st_mtime_ns, day, len(raw))


def forget() -> None:
    """Drop the judged day kept for the run's other steps (at 3M rows several GB): called
    once the day is split, so the rest of the run does not carry it."""
    global _latest
    with _lock:
        _latest = None


def judge(raw: pd.DataFrame, day: dt.date | str, source: Path | None = None) -> JudgedDay:
    """The judged `raw` day of partition `day`; `source` is the stored raw partition it was
    read from (the cache key). Read-only: callers must not modify what they get."""
    global _latest
    day = str(day)
    key = _key(source, day, raw)
    with _lock:
        if _latest is not None and _latest[0] == key:
            return _latest[1]
    typed, why = contract.landed_reasons(raw, day)
    judged = JudgedDay(typed, why, runner.for_ge(typed))
    with _lock:
        _latest = (key, judged)
    return judged
