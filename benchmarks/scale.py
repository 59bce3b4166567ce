"""Scale benchmark (issue 14): the daily job, the training set and training at 100k, 1M and
3M rows a day; the 30 x 1M pipeline; the cost of a new day as the history grows.

Every measured step runs in its own child process on a fresh state folder (real Dagster
instance, real Feast, real MLflow), and the parent samples the child's resident memory
(with its children) every 0.2 s: "peak RSS" is that process tree's peak.

Tables printed:
1. per size (rows a day): daily_job seconds per day (mean over the days after the first,
   which has no history), training_set build seconds, fraud_model training seconds, peak
   RSS of each step.
2. the full pipeline `fraud-platform pipeline --rows R --days D`: wall time and peak RSS.
3. the cost of a new day after 10, 30 and 60 days of history (flat is the goal).

Usage:
  .venv/bin/python -m benchmarks.scale [--sizes 100000 1000000 3000000] [--days 4]
      [--pipeline-rows 1000000 --pipeline-days 30] [--history 10 30 60 --history-rows 100000]
      [--skip sizes pipeline history] [--work DIR]
The machine is shared (2 cores): note the load average printed with the numbers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

PYTHON = sys.executable
FIRST = dt.date(2025, 1, 1)
GOALS = "goals: daily_job < 10 s per 1M rows; retraining (30 x 1M) < 300 s; peak RSS < 6 GB"


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def measured(args: list[str], home: Path, log: Path) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes of the process tree, exit code) of a child process."""
    env = {**os.environ, "FRAUD_HOME": str(home)}
    t = time.perf_counter()
    with log.open("a") as out:
        child = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        proc, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            peak = max(peak, _tree_rss(proc))
            time.sleep(0.2)
    return time.perf_counter() - t, peak, child.returncode


def step(name: str, home: Path, log: Path, *extra: str) -> tuple[float, int]:
    seconds, peak, code = measured([PYTHON, "-m", "benchmarks.scale", "_step", name, *extra],
                                   home, log)
    if code != 0:
        raise SystemExit(f"step {name} failed (exit {code}); see {log}")
    return seconds, peak


# -- steps run in the child -------------------------------------------------------------
def _child_step(name: str, extra: list[str]) -> None:
    from dagster import AssetKey, DagsterInstance

    from fraud_assets import names
    from fraud_assets.orchestration.instance import ensure_dagster_home
    from fraud_assets.orchestration.pipeline import QUIET, land_days, load_defs

    ensure_dagster_home()
    if name == "land":
        days, rows = int(extra[0]), int(extra[1])
        land_days(FIRST, days, rows)
        return
    defs, instance = load_defs(), DagsterInstance.get()
    if name == "daily":
        job = defs.resolve_job_def(names.DAILY_JOB)
        result = job.execute_in_process(partition_key=extra[0], instance=instance,
                                        run_config=QUIET, raise_on_error=False)
    elif name == "online":
        result = defs.resolve_job_def(names.ONLINE_FEATURES_JOB).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False)
    else:
        asset = {"training_set": names.TRAINING_SET, "train": names.FRAUD_MODEL}[name]
        result = defs.resolve_job_def(names.RETRAINING_JOB).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False,
            asset_selection=[AssetKey(asset)])
    if not result.success:
        raise SystemExit(f"{name} failed")


# -- the parent's measurements ----------------------------------------------------------
def size_row(rows: int, days: int, work: Path) -> dict:
    home = work / f"size-{rows}"
    shutil.rmtree(home, ignore_errors=True)
    log = work / f"size-{rows}.log"
    land_s, _ = step("land", home, log, str(days), str(rows))
    daily = []
    daily_peak = 0
    for i in range(days):
        seconds, peak = step("daily", home, log, (FIRST + dt.timedelta(days=i)).isoformat())
        daily.append(seconds)
        daily_peak = max(daily_peak, peak)
    step("online", home, log)
    build_s, build_peak = step("training_set", home, log)
    train_s, train_peak = step("train", home, log)
    later = daily[1:] or daily
    return {"rows": rows, "days": days, "land_s": land_s,
            "daily_s": sum(later) / len(later), "daily_peak": daily_peak,
            "build_s": build_s, "build_peak": build_peak,
            "train_s": train_s, "train_peak": train_peak}


def pipeline_row(rows: int, days: int, work: Path) -> dict:
    home = work / f"pipeline-{rows}x{days}"
    shutil.rmtree(home, ignore_errors=True)
    log = work / f"pipeline-{rows}x{days}.log"
    land_s, _ = step("land", home, log, str(days), str(rows))
    seconds, peak, code = measured(
        [str(Path(PYTHON).with_name("fraud-platform")), "pipeline", "--rows", str(rows),
         "--days", str(days)], home, log)
    return {"rows": rows, "days": days, "land_s": land_s, "wall_s": seconds, "peak": peak,
            "exit": code}


def history_rows(points: list[int], rows: int, work: Path) -> list[dict]:
    home = work / f"history-{rows}"
    shutil.rmtree(home, ignore_errors=True)
    log = work / f"history-{rows}.log"
    last = max(points)
    step("land", home, log, str(last), str(rows))
    out = []
    for i in range(last):
        seconds, peak = step("daily", home, log, (FIRST + dt.timedelta(days=i)).isoformat())
        if i + 1 in points:
            out.append({"history_days": i + 1, "daily_s": seconds, "peak": peak})
            print(f"  day {i + 1}: daily_job {seconds:.1f}s", flush=True)
    return out


def gb(value: int) -> str:
    return f"{value / 1e9:.2f} GB"


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "_step":
        _child_step(sys.argv[2], sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000, 3_000_000])
    parser.add_argument("--days", type=int, default=4, help="days landed per size")
    parser.add_argument("--pipeline-rows", type=int, default=1_000_000)
    parser.add_argument("--pipeline-days", type=int, default=30)
    parser.add_argument("--history", type=int, nargs="*", default=[10, 30, 60])
    parser.add_argument("--history-rows", type=int, default=100_000)
    parser.add_argument("--skip", nargs="*", default=[], choices=["sizes", "pipeline", "history"])
    parser.add_argument("--work", type=Path, default=None,
                        help="state folders go here (default: a temporary folder, removed)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fraud-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"state under {work}; {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (shared machine); {GOALS}",
          flush=True)
    results: dict = {}
    if "sizes" not in args.skip:
        results["sizes"] = []
        print(f"\n{'rows/day':>9} {'daily_job s/day':>15} {'peak':>8} {'training_set s':>14} "
              f"{'peak':>8} {'training s':>10} {'peak':>8}")
        for rows in args.sizes:
            r = size_row(rows, args.days, work)
            results["sizes"].append(r)
            print(f"{rows:>9,} {r['daily_s']:>15.1f} {gb(r['daily_peak']):>8} "
                  f"{r['build_s']:>14.1f} {gb(r['build_peak']):>8} {r['train_s']:>10.1f} "
                  f"{gb(r['train_peak']):>8}", flush=True)
    if "pipeline" not in args.skip:
        r = pipeline_row(args.pipeline_rows, args.pipeline_days, work)
        results["pipeline"] = r
        print(f"\npipeline --rows {r['rows']:,} --days {r['days']}: wall {r['wall_s']:.0f}s "
              f"(landing the files before it: {r['land_s']:.0f}s), peak RSS {gb(r['peak'])}, "
              f"exit {r['exit']}", flush=True)
    if "history" not in args.skip and args.history:
        print(f"\ncost of a new day ({args.history_rows:,} rows) as the history grows:")
        results["history"] = history_rows(args.history, args.history_rows, work)
        for r in results["history"]:
            print(f"  after {r['history_days']:>3} days: daily_job {r['daily_s']:.1f}s, "
                  f"peak {gb(r['peak'])}")
    print(f"\nload average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
