"""Where drift reports are kept: FRAUD_HOME/reports/<kind>/<day>.{html,json,summary.json}."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fraud_assets import settings
from fraud_assets.monitoring.drift import DriftResult

KINDS = ("transactions", "predictions")


@dataclass(frozen=True)
class ReportFiles:
    html: Path | None  # None when there was nothing to compare
    json: Path | None
    summary: Path


def report_paths(kind: str, day: str, home: Path | None = None) -> ReportFiles:
    if kind not in KINDS:
        raise ValueError(f"unknown report kind {kind!r}; choose from {', '.join(KINDS)}")
    folder = settings.reports_dir(home) / kind
    return ReportFiles(folder / f"{day}.html", folder / f"{day}.json",
                       folder / f"{day}.summary.json")


def _write_atomically(path: Path, write) -> None:
    # The UI links the HTML file: a reader must never see half of it.
    tmp = path.with_name(path.name + ".tmp")
    write(str(tmp))
    tmp.replace(path)


def save(result: DriftResult, kind: str, day: str, home: Path | None = None) -> ReportFiles:
    """Write the Evidently HTML and JSON (when a report ran) and our summary next to them."""
    paths = report_paths(kind, day, home)
    paths.summary.parent.mkdir(parents=True, exist_ok=True)
    if result.snapshot is not None:
        _write_atomically(paths.html, result.snapshot.save_html)
        _write_atomically(paths.json, result.snapshot.save_json)
    else:
        for stale in (paths.html, paths.json):  # an old report would contradict the summary
            stale.unlink(missing_ok=True)
        paths = ReportFiles(None, None, paths.summary)
    text = json.dumps(result.summary.to_dict() | {"kind": kind, "day": day}, indent=2)
    _write_atomically(paths.summary, lambda p: Path(p).write_text(text))
    return paths
