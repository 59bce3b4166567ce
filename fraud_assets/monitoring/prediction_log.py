"""Read one day of the serving prediction log: FRAUD_HOME/predictions/<day>/*.jsonl.

Each line is a JSON object with at least the request fields and `fraud_probability`.
A structural problem (a line that is not a JSON object, a missing field) is an error
naming the file and line; a value that breaks the contract leaves that row out of the
comparison and is counted, so one bad request never hides a day's traffic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets import contract, settings
from fraud_assets.monitoring.columns import SCORE

# Only the request and the score are read. The log's `is_fraud` is the model's decision at
# its threshold, not a label: comparing it with the reference's true labels would "drift"
# by construction.
FIELDS: tuple[str, ...] = (*(f.name for f in contract.REQUEST_FIELDS), SCORE)


class PredictionLogError(ValueError):
    """The log cannot be read as a prediction log; the message names the file and line."""


@dataclass(frozen=True)
class PredictionDay:
    frame: pd.DataFrame  # FIELDS, typed; at most max_rows rows
    files: tuple[Path, ...]
    lines: int  # every logged prediction of the day, before sampling
    invalid: int  # rows left out because a value breaks the contract
    first_invalid_reason: str = ""


def day_folder(day: str, home: Path | None = None) -> Path:
    return settings.predictions_dir(home) / day


def _record(path: Path, number: int, line: str) -> dict:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PredictionLogError(f"{path} line {number}: not valid JSON ({exc.msg})") from None
    if not isinstance(obj, dict):
        raise PredictionLogError(f"{path} line {number}: expected a JSON object")
    missing = [f for f in FIELDS if f not in obj]
    if missing:
        raise PredictionLogError(f"{path} line {number}: missing field(s) {', '.join(missing)}")
    return {f: obj[f] for f in FIELDS}


def _reservoir(files: list[Path], max_rows: int, seed: int) -> tuple[list[dict], int]:
    """A uniform sample of at most `max_rows` lines in one pass (Algorithm R): a day of
    traffic can be far larger than what the drift report needs or memory allows."""
    rng = np.random.default_rng(seed)
    kept: list[dict] = []
    seen = 0
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                record = _record(path, number, line)
                seen += 1
                if len(kept) < max_rows:
                    kept.append(record)
                else:
                    slot = int(rng.integers(0, seen))
                    if slot < max_rows:
                        kept[slot] = record
    return kept, seen


def _typed(records: list[dict]) -> tuple[pd.DataFrame, int, str]:
    raw = pd.DataFrame.from_records(records, columns=list(FIELDS))
    typed = contract.coerce(raw)
    bad = contract.violations(typed).any(axis=1)
    why = contract.reasons(typed, raw)
    score = pd.to_numeric(raw[SCORE], errors="coerce")
    bad_score = ~score.between(0.0, 1.0)  # NaN is not between, so missing counts too
    first = why[bad].iloc[0] if bad.any() else (
        f"{SCORE} must be a number in [0, 1]" if bad_score.any() else "")
    keep = ~(bad | bad_score)
    typed[SCORE] = score
    out = typed[keep].reset_index(drop=True)
    for f in contract.REQUEST_FIELDS:
        if f.kind == "int":
            out[f.name] = out[f.name].astype("int64")
    return out, int((~keep).sum()), first


def read_day(day: str, home: Path | None = None, max_rows: int = 50_000, seed: int = 0,
             ) -> PredictionDay:
    """The day's logged predictions, sampled to `max_rows`; an empty frame if none."""
    folder = day_folder(day, home)
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    records, lines = _reservoir(files, max_rows, seed)
    if not records:
        return PredictionDay(pd.DataFrame(columns=list(FIELDS)), tuple(files), 0, 0)
    frame, invalid, first = _typed(records)
    return PredictionDay(frame, tuple(files), lines, invalid, first)
