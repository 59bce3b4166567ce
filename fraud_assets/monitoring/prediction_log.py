"""The serving prediction log: its one schema, the writer the service uses, the reader
monitoring uses.

Layout: `FRAUD_HOME/predictions/<YYYY-MM-DD>/<host>-<pid>-<start>.jsonl` (UTC day of the
answer). One file per serving process, so several workers never interleave lines, and
readers take the whole day folder.

One JSON object per scored item, flat so monitoring can read the columns directly; the
columns, in order, are `COLUMNS`: `timestamp`, `request_id`, `item` (position in a batch
request, 0 for /predict), `endpoint`, `transaction_id` (if the caller sent one), the
request fields of the contract, the merchant features as used (null when imputed),
`feature_source`, `fraud_probability`, `is_fraud`, `decision` (approve / review /
block), `threshold`, `model_name`,
`model_version` (of the model that answered), then `answered_by` and both models' version,
score and decision (`champion_*`, `challenger_*`; the challenger's null without shadow).

Writing (`PredictionLog`): callers only enqueue a `Batch` (plain columns, already
computed); a background thread turns batches into lines, appends and flushes. `close()`
drains the queue, so a normal shutdown loses nothing.

Reading (`read_day`): each line must hold at least the request fields and
`fraud_probability` (`FIELDS`). A structural problem (a line that is not a JSON object, a
missing field) is an error naming the file and line; a value that breaks the contract
leaves that row out of the comparison and is counted, so one bad request never hides a
day's traffic.
"""

from __future__ import annotations

import atexit
import collections
import datetime as dt
import json
import logging
import os
import queue
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from fraud_assets import contract, settings
from fraud_assets.features.names import FEATURES
from fraud_assets.monitoring.columns import SCORE

log = logging.getLogger(__name__)

# -- the schema: one definition for the writer and the reader ------------------------------
TIMESTAMP = "timestamp"
REQUEST_ID = "request_id"
ITEM = "item"
ENDPOINT = "endpoint"
TRANSACTION_ID = contract.TRANSACTION_ID.name
FEATURE_SOURCE = "feature_source"
IS_FRAUD = "is_fraud"
# approve / review / block at the answering version's bands (`model.decisions`); not the
# shadow code's champion/challenger `*_is_fraud` decisions.
DECISION = "decision"
THRESHOLD = "threshold"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
# Shadow and canary: which alias answered, and both models' scores and decisions (the
# challenger's are null while no challenger differs from the champion).
ANSWERED_BY = "answered_by"  # "champion" or "challenger" (a canary row)
CHAMPION_VERSION, CHAMPION_SCORE, CHAMPION_IS_FRAUD = (
    "champion_version", "champion_score", "champion_is_fraud")
CHALLENGER_VERSION, CHALLENGER_SCORE, CHALLENGER_IS_FRAUD = (
    "challenger_version", "challenger_score", "challenger_is_fraud")
SHADOW_COLUMNS: tuple[str, ...] = (ANSWERED_BY, CHAMPION_VERSION, CHAMPION_SCORE,
                                   CHAMPION_IS_FRAUD, CHALLENGER_VERSION, CHALLENGER_SCORE,
                                   CHALLENGER_IS_FRAUD)
REQUEST_FIELDS: tuple[str, ...] = tuple(f.name for f in contract.REQUEST_FIELDS)
COLUMNS: tuple[str, ...] = (TIMESTAMP, REQUEST_ID, ITEM, ENDPOINT, TRANSACTION_ID,
                            *REQUEST_FIELDS, *FEATURES, FEATURE_SOURCE, SCORE, IS_FRAUD,
                            DECISION, THRESHOLD, MODEL_NAME, MODEL_VERSION, *SHADOW_COLUMNS)
# Only the request and the score are read. The log's `is_fraud` is the model's decision at
# its threshold, not a label: comparing it with the reference's true labels would "drift"
# by construction.
FIELDS: tuple[str, ...] = (*REQUEST_FIELDS, SCORE)


def day_folder(day: str, home: Path | None = None) -> Path:
    return settings.predictions_dir(home) / day


# -- writing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Batch:
    """Rows to log from one scoring call.

    `columns` maps every name of `COLUMNS` but `timestamp` to a sequence aligned with the
    rows, or to one value for all rows (a `DataFrame` of those columns works too);
    `scored_at` (UTC) is every row's timestamp and picks the day folder.
    """

    scored_at: dt.datetime
    columns: Mapping[str, Any]


def batch_frame(batch: Batch) -> pd.DataFrame:
    """The rows of a batch in `COLUMNS` order; KeyError naming missing columns."""
    columns = batch.columns
    missing = [c for c in COLUMNS if c != TIMESTAMP and c not in columns]
    if missing:
        raise KeyError(f"prediction log batch lacks column(s) {missing}")
    data = {c: columns[c] for c in COLUMNS if c != TIMESTAMP}
    data = {c: v.to_numpy() if isinstance(v, pd.Series) else v for c, v in data.items()}
    return pd.DataFrame({TIMESTAMP: batch.scored_at.isoformat(timespec="microseconds"),
                         **data}, columns=list(COLUMNS))


def to_lines(batches: list[Batch]) -> str:
    """The JSON lines of some batches (runs on the writer thread)."""
    frames = [batch_frame(b) for b in batches]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    text = frame.to_json(orient="records", lines=True, double_precision=15)
    return text if text.endswith("\n") else text + "\n"


def _by_day(batches: list[Batch]) -> dict[str, list[Batch]]:
    days: dict[str, list[Batch]] = {}
    for batch in batches:
        days.setdefault(batch.scored_at.strftime("%Y-%m-%d"), []).append(batch)
    return days


class PredictionLog:
    """Append-only, day-partitioned JSONL writer fed through a queue."""

    _STOP = object()

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or settings.predictions_dir()
        started = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        self._file_name = f"{socket.gethostname()}-{os.getpid()}-{started}.jsonl"
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._handles: dict[str, IO[str]] = {}
        self.written = 0
        self.failures = 0
        self.last_error: str | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # belt and braces if the shutdown hook never runs

    def append(self, batch: Batch) -> None:
        """Enqueue; O(1) on the caller's thread."""
        if not self._closed:
            self._queue.put(batch)

    def path_for(self, when: dt.datetime) -> Path:
        return self.folder / when.strftime("%Y-%m-%d") / self._file_name

    def _run(self) -> None:
        while True:
            batches = [self._queue.get()]
            while not self._queue.empty():  # write everything waiting in one go
                batches.append(self._queue.get_nowait())
            stop = any(b is self._STOP for b in batches)
            self._write([b for b in batches if b is not self._STOP])
            if stop:
                break
        for handle in self._handles.values():
            handle.close()

    def _write(self, batches: list[Batch]) -> None:
        for day, group in _by_day(batches).items():
            try:
                text = to_lines(group)  # one serialisation for all waiting batches
                handle = self._handle(day, group[0].scored_at)
                handle.write(text)
                handle.flush()
                self.written += text.count("\n")
            except Exception as exc:  # a full disk must not kill the writer
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("could not write %d batches of predictions", len(group))

    def _handle(self, day: str, when: dt.datetime) -> IO[str]:
        if day not in self._handles:
            for old in self._handles.values():  # a new day: yesterday's file is done
                old.close()
            self._handles.clear()
            path = self.path_for(when)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._handles[day] = open(path, "a", encoding="utf-8")  # noqa: SIM115
        return self._handles[day]

    def close(self, timeout: float = 30.0) -> None:
        """Write everything queued so far, then stop the writer."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(self._STOP)
        self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "written": self.written,
                "pending": self._queue.qsize(), "write_failures": self.failures,
                "last_error": self.last_error}


# -- reading ---------------------------------------------------------------------------------
class PredictionLogError(ValueError):
    """The log cannot be read as a prediction log; the message names the file and line."""


@dataclass(frozen=True)
class PredictionDay:
    frame: pd.DataFrame  # FIELDS, typed; at most max_rows rows
    files: tuple[Path, ...]
    lines: int  # every logged prediction of the day, before sampling
    invalid: int  # rows left out because a value breaks the contract
    first_invalid_reason: str = ""


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


def _objects(paths: list[Path]) -> Iterator[tuple[Path, int, dict]]:
    """(file, line number, object) for every non-empty line; PredictionLogError naming
    the file and line for a line that is not a JSON object."""
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise PredictionLogError(
                        f"{path} line {number}: not valid JSON ({exc.msg})") from None
                if not isinstance(obj, dict):
                    raise PredictionLogError(f"{path} line {number}: expected a JSON object")
                yield path, number, obj


def logged_answers(home: Path | None = None) -> collections.Counter[tuple[str, int]]:
    """How often each answer is in the log, every day folder: (request_id, item) -> lines.

    An answer is one scored item: /predict logs item 0 of its request, /predict_batch one
    line per scored item. Anything above 1 is a duplicate. Raises PredictionLogError
    (naming the file and line) for a line without `request_id` or `item`."""
    counts: collections.Counter[tuple[str, int]] = collections.Counter()
    root = settings.predictions_dir(home)
    for path, number, obj in _objects(sorted(root.glob("*/*.jsonl")) if root.is_dir() else []):
        try:
            counts[(obj[REQUEST_ID], int(obj[ITEM]))] += 1
        except (ValueError, KeyError, TypeError) as exc:
            raise PredictionLogError(
                f"{path} line {number}: no readable {REQUEST_ID} and {ITEM} "
                f"({type(exc).__name__}: {exc})") from None
    return counts


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


def read_shadow(day: str, home: Path | None = None) -> pd.DataFrame:
    """The day's answers that were scored in shadow (a challenger beside the champion):
    `transaction_id`, `answered_by` and both models' version, score and decision, one row
    per line whose `challenger_version` is set. Lines written before shadow scoring existed
    (no such column) are skipped; a line that is not a JSON object is a PredictionLogError
    naming the file and line."""
    wanted = (TRANSACTION_ID, *SHADOW_COLUMNS)
    rows = [{c: obj.get(c) for c in wanted}
            for _, _, obj in _objects(sorted(day_folder(day, home).glob("*.jsonl")))
            if obj.get(CHALLENGER_VERSION) is not None]
    return pd.DataFrame.from_records(rows, columns=list(wanted))
