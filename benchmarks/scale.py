"""Scale benchmark (issue 14): the daily job, the training set and training at 100k, 1M and
3M rows a day; the 30 x 1M pipeline; the cost of a new day as the history grows.

Every measured step runs in its own child process on a fresh state folder (real Dagster
instance, real Feast, real MLflow), and the parent samples the child's resident memory
(with its children) every 0.2 s: "peak RSS" is that process tree's peak. Step seconds are
the Dagster job's own (`execute_in_process`), without the child's start and code location
load; the pipeline row is the whole command's wall time.

Tables printed:
1. per size (rows a day): daily_job seconds per day (mean over the days after the first,
   which has no history), training_set build seconds, fraud_model training seconds, peak
   RSS of each step.
2. the full pipeline `fraud-platform pipeline --rows R --days D`: wall time and peak RSS
   (a memory timeline next to its log, to line up with the log's times).
3. the retraining window alone (no Dagster, no CSV landing): validated days written to the
   lake, features through the per-day sums, the training set, training, holdout scoring.
4. the cost of a new day after 10, 30 and 60 days of history (flat is the goal): all days
   in one process, as the pipeline runs them; the mean of the 5 days ending at each point.
5. the retraining job alone on the pipeline's state (or `--retrain-home`): with a champion
   in place, the gate scores two models; peak of the tree and of the largest process.

Usage:
  .venv/bin/python -m benchmarks.scale [--sizes 100000 1000000 3000000] [--days 4]
      [--pipeline-rows 1000000 --pipeline-days 30] [--history 10 30 60 --history-rows 100000]
      [--skip sizes pipeline history window] [--retrain-home DIR] [--work DIR]
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


def _rss(proc: psutil.Process) -> list[int]:
    """Resident bytes of `proc` and each of its descendants."""
    out = []
    for p in [proc, *proc.children(recursive=True)]:
        try:
            out.append(p.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


# The largest single process's peak of the last `measured` call (the tree's is returned):
# "peak RSS under 6 GB anywhere" is about one process; a tree adds a child's own imports.
LAST_PROCESS_PEAK = [0]


def measured(args: list[str], home: Path, log: Path,
             timeline: Path | None = None) -> tuple[float, int, int]:
    """(wall seconds, peak RSS bytes of the process tree, exit code) of a child process.
    With `timeline`, every sample is also written there (seconds, tree GB, largest
    process GB), to line up with the log's timestamps."""
    env = {**os.environ, "FRAUD_HOME": str(home)}
    t = time.perf_counter()
    samples = timeline.open("w") if timeline else None
    with log.open("a") as out:
        child = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
        proc, peak, LAST_PROCESS_PEAK[0] = psutil.Process(child.pid), 0, 0
        while child.poll() is None:
            sizes = _rss(proc) or [0]
            peak = max(peak, sum(sizes))
            LAST_PROCESS_PEAK[0] = max(LAST_PROCESS_PEAK[0], max(sizes))
            if samples:
                samples.write(f"{time.strftime('%H:%M:%S')}\t{sum(sizes) / 1e9:.2f}\t"
                              f"{max(sizes) / 1e9:.2f}\n")
            time.sleep(0.2)
    if samples:
        samples.close()
    return time.perf_counter() - t, peak, child.returncode


def step(name: str, home: Path, log: Path, *extra: str,
         timeline: Path | None = None) -> tuple[float, int]:
    """(seconds of the step's own work, without the child's start and code location load,
    peak RSS of the child) of one step; `timeline`: see `measured`."""
    timing = home.parent / f".{home.name}.seconds"
    timing.unlink(missing_ok=True)
    os.environ[_TIMING_ENV] = str(timing)
    seconds, peak, code = measured([PYTHON, "-m", "benchmarks.scale", "_step", name, *extra],
                                   home, log, timeline)
    if code != 0:
        raise SystemExit(f"step {name} failed (exit {code}); see {log}")
    return (float(timing.read_text()) if timing.exists() else seconds), peak


_TIMING_ENV = "FRAUD_SCALE_TIMING_FILE"


# -- steps run in the child -------------------------------------------------------------
def _child_step(name: str, extra: list[str]) -> None:
    from dagster import AssetKey, DagsterInstance

    from fraud_assets import names
    from fraud_assets.orchestration.instance import ensure_dagster_home
    from fraud_assets.orchestration.pipeline import QUIET, land_days, load_defs, run_job

    ensure_dagster_home()
    if name == "land":
        days, rows = int(extra[0]), int(extra[1])
        land_days(FIRST, days, rows)
        return
    if name == "window":
        _window_step(int(extra[0]), int(extra[1]))
        return
    defs, instance = load_defs(), DagsterInstance.get()
    if name == "days":  # consecutive days in this one process, as the pipeline runs them
        _days_step(defs, instance, extra[0], int(extra[1]))
        return
    started = time.perf_counter()
    if name == "daily":
        job = defs.resolve_job_def(names.DAILY_JOB)
        result = job.execute_in_process(partition_key=extra[0], instance=instance,
                                        run_config=QUIET, raise_on_error=False)
    elif name == "online":
        result = defs.resolve_job_def(names.ONLINE_FEATURES_JOB).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False)
    elif name == "retrain":  # the whole job (training set, model, gate, Bento) as the
        result = run_job(names.RETRAINING_JOB, instance)  # pipeline runs it
    else:
        asset = {"training_set": names.TRAINING_SET, "train": names.FRAUD_MODEL}[name]
        result = defs.resolve_job_def(names.RETRAINING_JOB).execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False,
            asset_selection=[AssetKey(asset)])
    if not result.success:
        raise SystemExit(f"{name} failed")
    Path(os.environ[_TIMING_ENV]).write_text(str(time.perf_counter() - started))


def _days_step(defs, instance, first: str, days: int) -> None:
    """daily_job for `days` days from `first` (ISO) in this process, as `fraud-platform
    pipeline` runs them (memory handed back between runs): each day's seconds, as JSON."""
    from fraud_assets import names
    from fraud_assets.orchestration.pipeline import QUIET, release_memory

    job, seconds = defs.resolve_job_def(names.DAILY_JOB), []
    for i in range(days):
        key = (dt.date.fromisoformat(first) + dt.timedelta(days=i)).isoformat()
        started = time.perf_counter()
        result = job.execute_in_process(partition_key=key, instance=instance,
                                        run_config=QUIET, raise_on_error=False)
        if not result.success:
            raise SystemExit(f"daily_job {key} failed")
        seconds.append(time.perf_counter() - started)
        print(f"day {i + 1} ({key}): daily_job {seconds[-1]:.1f}s", flush=True)
        del result
        release_memory()
    Path(os.environ[_TIMING_ENV]).write_text(json.dumps(seconds))


def _own_peak() -> int:
    """This process's peak resident memory so far, in bytes (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _window_step(days: int, rows: int) -> None:
    """The retraining window without Dagster or landing files: validated days written to the
    lake as the daily job would, merchant features through the per-day sums, then the
    training set (engine, sampled), training and chunked holdout scoring, each timed."""
    from fraud_assets import contract, lake, names, settings, simulator
    from fraud_assets.features import aggregates, daily_sums, engine, offline, training
    from fraud_assets.model import evaluation
    from fraud_assets.model import training as model_training

    root, feast_dir = settings.lake_dir(), settings.feast_dir()
    keys = [(FIRST + dt.timedelta(days=i)).isoformat() for i in range(days)]
    t = time.perf_counter()
    for key in keys:
        frame = simulator.generate_day(simulator.DayPlan(day=dt.date.fromisoformat(key),
                                                         rows=rows))
        frame[contract.MERCHANT_CATEGORY.name] = frame[contract.MERCHANT_CATEGORY.name].astype(
            "string")
        lake.write_frame(frame, lake.partition_path(root, names.TRANSACTIONS_VALIDATED, key))
    timings = {"write_validated_s": time.perf_counter() - t, "peak_after_write": _own_peak()}
    t = time.perf_counter()
    for i, key in enumerate(keys):
        day = dt.date.fromisoformat(key)
        sums = daily_sums.window_sums(keys[max(0, i - 28):i], root, engine.open_engine)
        offline.write_day(feast_dir, day, aggregates.window_stats(sums, day))
    timings["features_s"] = time.perf_counter() - t
    t = time.perf_counter()
    built = training.build_window_training_set(keys, root, feast_dir, engine.open_engine,
                                               settings.engine_dir() / "training_set")
    timings["training_set_s"] = time.perf_counter() - t
    timings["peak_after_training_set"] = _own_peak()
    frame = built.frame
    train_rows = frame[frame[training.SPLIT] == training.TRAIN]
    holdout = frame[frame[training.SPLIT] == training.HOLDOUT]
    t = time.perf_counter()
    trained = model_training.train(train_rows)
    proba = model_training.fraud_probability(trained.pipeline, holdout)
    scores = evaluation.score(holdout[contract.LABEL].to_numpy(), proba, trained.threshold)
    timings["training_s"] = time.perf_counter() - t
    timings["peak_after_training"] = _own_peak()
    timings.update(train_rows=len(train_rows), holdout_rows=len(holdout),
                   legit_rate=built.sampling.rate, **{f"holdout_{k}": v for k, v in scores.items()
                                                      if k in ("roc_auc", "pr_auc", "f1")})
    Path(os.environ[_TIMING_ENV]).write_text(json.dumps(timings))


def window_row(rows: int, days: int, work: Path) -> dict:
    home = work / f"window-{rows}x{days}"
    shutil.rmtree(home, ignore_errors=True)
    timing = work / f".window-{rows}x{days}.json"
    os.environ[_TIMING_ENV] = str(timing)
    seconds, peak, code = measured([PYTHON, "-m", "benchmarks.scale", "_step", "window",
                                    str(days), str(rows)], home, work / f"window-{rows}.log")
    if code != 0:
        raise SystemExit(f"window step failed (exit {code}); see {work}/window-{rows}.log")
    return {"rows": rows, "days": days, "wall_s": seconds, "peak": peak,
            **json.loads(timing.read_text())}


# -- the parent's measurements ----------------------------------------------------------
def size_row(rows: int, days: int, work: Path) -> dict:
    home = work / f"size-{rows}"
    shutil.rmtree(home, ignore_errors=True)
    log = work / f"size-{rows}.log"
    land_s, _ = step("land", home, log, str(days), str(rows))
    daily = []
    daily_peak = 0
    for i in range(days):
        key = (FIRST + dt.timedelta(days=i)).isoformat()
        # The memory timeline lines up with the log's step times: which step peaks.
        seconds, peak = step("daily", home, log, key,
                             timeline=work / f"size-{rows}-daily-{key}.tsv")
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
         "--days", str(days)], home, log, work / f"pipeline-{rows}x{days}.tsv")
    return {"rows": rows, "days": days, "land_s": land_s, "wall_s": seconds, "peak": peak,
            "process_peak": LAST_PROCESS_PEAK[0], "exit": code}


def retrain_row(home: Path, work: Path) -> dict:
    """The retraining job alone on an existing state (e.g. the pipeline row's): with a
    champion in place the gate scores two models on the holdout, the heaviest case."""
    log = work / f"retrain-{home.name}.log"
    timeline = work / f"retrain-{home.name}.tsv"
    timing = work / f".retrain-{home.name}.seconds"
    timing.unlink(missing_ok=True)
    os.environ[_TIMING_ENV] = str(timing)
    wall, peak, code = measured([PYTHON, "-m", "benchmarks.scale", "_step", "retrain"],
                                home, log, timeline)
    return {"home": str(home), "wall_s": wall, "peak": peak, "exit": code,
            "process_peak": LAST_PROCESS_PEAK[0],
            "job_s": float(timing.read_text()) if timing.exists() else float("nan")}


HISTORY_SPREAD = 5  # days averaged at each history point (one day alone is noisy)


def history_rows(points: list[int], rows: int, work: Path) -> list[dict]:
    """daily_job seconds at each point of `points` (days already stored): the mean over
    the HISTORY_SPREAD days ending there. All days run in one process, as the pipeline
    runs them (a process per day would cost ~45 s of start and code loading each)."""
    home = work / f"history-{rows}"
    shutil.rmtree(home, ignore_errors=True)
    log = work / f"history-{rows}.log"
    last = max(points)
    step("land", home, log, str(last), str(rows))
    timing = work / f".history-{rows}.json"
    timing.unlink(missing_ok=True)
    os.environ[_TIMING_ENV] = str(timing)
    _, peak, code = measured([PYTHON, "-m", "benchmarks.scale", "_step", "days",
                              FIRST.isoformat(), str(last)], home, log)
    if code != 0:
        raise SystemExit(f"history step failed (exit {code}); see {log}")
    seconds = json.loads(timing.read_text())
    out = []
    for point in points:
        spread = seconds[max(0, point - HISTORY_SPREAD):point]
        out.append({"history_days": point, "daily_s": sum(spread) / len(spread),
                    "days_averaged": len(spread), "peak": peak})
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
    parser.add_argument("--window-rows", type=int, default=1_000_000)
    parser.add_argument("--window-days", type=int, default=30)
    parser.add_argument("--retrain-home", type=Path, default=None,
                        help="an existing state (e.g. work/pipeline-1000000x30): run the "
                             "retraining job alone on it (after the pipeline row, if run)")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["sizes", "pipeline", "history", "window"])
    parser.add_argument("--work", type=Path, default=None,
                        help="state folders go here (default: a temporary folder, removed)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    from fraud_assets import settings  # late, as elsewhere here: the parent needs psutil only

    work = args.work or Path(tempfile.mkdtemp(prefix="fraud-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"state under {work}; {os.cpu_count()} cores, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (shared machine); {GOALS}; "
          f"{settings.memory_settings()}", flush=True)
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
              f"(landing the files before it: {r['land_s']:.0f}s), peak RSS {gb(r['peak'])} "
              f"process tree, {gb(r['process_peak'])} largest single process, exit "
              f"{r['exit']}", flush=True)
    retrain_home = args.retrain_home or (
        work / f"pipeline-{args.pipeline_rows}x{args.pipeline_days}"
        if "pipeline" not in args.skip else None)
    if retrain_home is not None:
        r = retrain_row(retrain_home, work)
        results["retrain"] = r
        print(f"\nretraining_job alone on {retrain_home.name}: job {r['job_s']:.0f}s (wall "
              f"{r['wall_s']:.0f}s with the process start), peak RSS {gb(r['peak'])} process "
              f"tree, {gb(r['process_peak'])} largest single process, exit {r['exit']}",
              flush=True)
    if "window" not in args.skip:
        r = window_row(args.window_rows, args.window_days, work)
        results["window"] = r
        print(f"\nretraining window {r['days']} x {r['rows']:,} rows (no Dagster, no CSV): "
              f"features {r['features_s']:.0f}s, training_set {r['training_set_s']:.0f}s "
              f"({r['train_rows']:,} train rows at legit rate {r['legit_rate']:.4f}, "
              f"{r['holdout_rows']:,} holdout rows), training + holdout scoring "
              f"{r['training_s']:.0f}s, holdout PR-AUC {r['holdout_pr_auc']:.4f} "
              f"F1 {r['holdout_f1']:.4f}; peak RSS {gb(r['peak'])} (writing the validated "
              f"days first: {r['write_validated_s']:.0f}s)", flush=True)
        print("  the step's own peak RSS after writing the days "
              f"{gb(r['peak_after_write'])}, after the training set "
              f"{gb(r['peak_after_training_set'])}, after training and scoring "
              f"{gb(r['peak_after_training'])}", flush=True)
    if "history" not in args.skip and args.history:
        print(f"\ncost of a new day ({args.history_rows:,} rows) as the history grows "
              f"(mean of the {HISTORY_SPREAD} days ending at each point; all days in one "
              "process, as the pipeline runs them):")
        results["history"] = history_rows(args.history, args.history_rows, work)
        for r in results["history"]:
            print(f"  after {r['history_days']:>3} days: daily_job {r['daily_s']:.1f}s")
        print(f"  peak RSS of the process over all days {gb(results['history'][0]['peak'])}")
    print(f"\nload average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
