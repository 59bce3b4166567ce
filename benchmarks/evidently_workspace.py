"""Opening the Evidently workspace as its snapshots accumulate (one to three a day).

Evidently's `Workspace()` reads and parses every snapshot it holds when it is made (its
dataset manager's index), so `monitoring.dashboards` opens the folder through
`dashboards.SnapshotWorkspace`, which reads none. This prints, for workspaces of N daily
drift snapshots (a real report of simulated days, saved once per day through
`dashboards.save_snapshot`): the seconds of a new `Workspace()` (what each fresh run
process paid once before) and of `dashboards.open_project` (a new `SnapshotWorkspace`,
the project found and its panels checked: what a save pays now, in any process).

Usage: .venv/bin/python -m benchmarks.evidently_workspace [--snapshots 30 90 365]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from evidently.ui.workspace import Workspace

from fraud_assets import settings, simulator
from fraud_assets.monitoring import dashboards, drift

START = dt.date(2025, 1, 1)


def drift_snapshot(rows: int = 20_000):
    """A drift report of one simulated day against another, as the daily asset makes."""
    days = [simulator.generate_day(simulator.DayPlan(day=START + dt.timedelta(days=i),
                                                     rows=rows, seed=0)) for i in (0, 1)]
    return drift.compare(days[0], days[1]).snapshot


def seconds(work: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Median, min and max wall seconds of `repeat` calls of `work`."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        work()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshots", type=int, nargs="+", default=[30, 90, 365],
                        help="workspace sizes to measure (daily snapshots), ascending")
    parser.add_argument("--repeat", type=int, default=5, help="timed opens per size")
    args = parser.parse_args()
    settings.disable_telemetry()
    snapshot = drift_snapshot()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        folder = dashboards.workspace_dir(home)
        saved = 0
        print("| snapshots | new Workspace() s (median, min-max) | open_project s "
              "(SnapshotWorkspace) |\n|---|---|---|")
        for n in sorted(args.snapshots):
            for i in range(saved, n):
                day = (START + dt.timedelta(days=i)).isoformat()
                dashboards.save_snapshot(snapshot, "drift/transactions", day, ["drift"], home)
            saved = max(saved, n)
            new = seconds(lambda: Workspace(str(folder)), args.repeat)
            kept = seconds(lambda: dashboards.open_project(home), args.repeat)
            print(f"| {n} | {new[0]:.2f} ({new[1]:.2f}-{new[2]:.2f}) | "
                  f"{kept[0]:.3f} ({kept[1]:.3f}-{kept[2]:.3f}) |", flush=True)


if __name__ == "__main__":
    main()
