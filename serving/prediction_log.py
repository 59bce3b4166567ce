"""The prediction log: every answered prediction, appended off the request path.

Layout: `FRAUD_HOME/predictions/<YYYY-MM-DD>/<host>-<pid>-<start>.jsonl` (UTC day of the
answer). One file per serving process, so several workers never interleave lines, and
readers take the whole day folder (`pandas.read_json(path, lines=True)` per file).

One JSON object per scored item, flat so monitoring can read the columns directly:
`timestamp`, `request_id`, `item` (position in a batch request, 0 for /predict),
`endpoint`, `transaction_id` (if the caller sent one), the request fields of the
contract, the merchant features as used (null when imputed), `feature_source`,
`fraud_probability`, `is_fraud`, `threshold`, `model_name`, `model_version`.

Requests only enqueue a reference to their (already computed) batch; a background thread
turns batches into lines, appends and flushes. `close()` drains the queue, so a normal
shutdown loses nothing.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import queue
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pandas as pd
from scorer import Scored

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One scoring call to log; lists are aligned with the rows of `scored`."""

    scored: Scored
    request_ids: list[str]
    items: list[int]
    transaction_ids: list[str | None]
    endpoint: str


def _frame(entry: Entry) -> pd.DataFrame:
    s = entry.scored
    frame = s.frame.copy()
    front = {"timestamp": s.scored_at.isoformat(timespec="microseconds"),
             "request_id": entry.request_ids, "item": entry.items,
             "endpoint": entry.endpoint, "transaction_id": entry.transaction_ids}
    for pos, (name, values) in enumerate(front.items()):
        frame.insert(pos, name, values)
    frame["feature_source"] = s.feature_source
    frame["fraud_probability"] = s.probability
    frame["is_fraud"] = s.is_fraud
    frame["threshold"] = s.champion.threshold
    frame["model_name"] = s.champion.name
    frame["model_version"] = s.champion.version
    return frame


def to_lines(entries: list[Entry]) -> str:
    """The JSON lines of some entries (runs on the writer thread)."""
    frames = [_frame(e) for e in entries]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    text = frame.to_json(orient="records", lines=True, double_precision=15)
    return text if text.endswith("\n") else text + "\n"


def _by_day(entries: list[Entry]) -> dict[str, list[Entry]]:
    days: dict[str, list[Entry]] = {}
    for entry in entries:
        days.setdefault(entry.scored.scored_at.strftime("%Y-%m-%d"), []).append(entry)
    return days


class PredictionLog:
    """Append-only, day-partitioned JSONL writer fed through a queue."""

    _STOP = object()

    def __init__(self, folder: Path) -> None:
        self.folder = folder
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

    def append(self, entry: Entry) -> None:
        """Enqueue; O(1) on the caller's thread."""
        if not self._closed:
            self._queue.put(entry)

    def path_for(self, when: dt.datetime) -> Path:
        return self.folder / when.strftime("%Y-%m-%d") / self._file_name

    def _run(self) -> None:
        while True:
            entries = [self._queue.get()]
            while not self._queue.empty():  # write everything waiting in one go
                entries.append(self._queue.get_nowait())
            stop = any(e is self._STOP for e in entries)
            self._write([e for e in entries if e is not self._STOP])
            if stop:
                break
        for handle in self._handles.values():
            handle.close()

    def _write(self, entries: list[Entry]) -> None:
        for day, group in _by_day(entries).items():
            rows = sum(len(e.request_ids) for e in group)
            try:
                handle = self._handle(day, group[0].scored.scored_at)
                handle.write(to_lines(group))  # one serialisation for all waiting entries
                handle.flush()
                self.written += rows
            except Exception as exc:  # a full disk must not kill the writer
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("could not write %d predictions", rows)

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
