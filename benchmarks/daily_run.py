"""`daily_job` on one day of an existing platform state: each run's seconds, per step.

The daemon launches every run in a fresh process (Dagster's default run launcher), so the
first run here pays what such a run pays: imports, GE's context, the champion's load from
MLflow, the recent days' statistics. Later runs in the same process show the steady cost
(the pipeline runs its days that way, `pipeline.run_in_child`). Step seconds come from the
run's own Dagster events (STEP_START to STEP_SUCCESS or STEP_FAILURE), as the UI shows them.

Re-running a day re-materializes its partition: the state is changed the way a rerun from
the UI changes it (the same values, new materializations).

Usage: FRAUD_HOME=DIR .venv/bin/python -m benchmarks.daily_run --day 2025-01-30 [--runs 2]
  (DIR: e.g. `benchmarks.scale`'s `pipeline-1000000x30`; a day with a champion in place
  measures `model_performance` too)
To compare two versions of the code, run it from each version's checkout (e.g. a `git
worktree`) with the same interpreter, in alternating rounds: `python -m` puts the working
directory first on `sys.path`, so PYTHONPATH pointing at another checkout is not enough.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance

from fraud_assets import names, settings
from fraud_assets.orchestration.instance import ensure_dagster_home
from fraud_assets.orchestration.pipeline import QUIET, load_defs, release_memory

STEP_END = (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)


def step_seconds(instance: DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds per step key of a finished run, from its STEP_START and end events."""
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.event_type in STEP_END and event.step_key in started:
            seconds[event.step_key] = record.timestamp - started[event.step_key]
    return seconds


def run_days(day: str, runs: int) -> list[dict]:
    """`runs` daily_job runs of `day` in this process: seconds, success, step seconds."""
    ensure_dagster_home()
    instance = DagsterInstance.get()
    job = load_defs().resolve_job_def(names.DAILY_JOB)
    out = []
    for i in range(runs):
        start = time.perf_counter()
        result = job.execute_in_process(partition_key=day, instance=instance,
                                        raise_on_error=False, run_config=QUIET)
        seconds = time.perf_counter() - start
        out.append({"run": i + 1, "seconds": round(seconds, 2), "success": result.success,
                    "run_id": result.run_id,
                    "steps": {k: round(v, 2) for k, v in
                              step_seconds(instance, result.run_id).items()}})
        print(f"run {i + 1}: {seconds:.2f} s, success={result.success}", flush=True)
        release_memory()
    return out


def table(runs: list[dict]) -> str:
    """Markdown: one row per step (slowest in the last run first), one column per run."""
    steps = sorted({k for r in runs for k in r["steps"]},
                   key=lambda k: -runs[-1]["steps"].get(k, 0.0))
    head = "| step | " + " | ".join(f"run {r['run']} s" for r in runs) + " |"
    rule = "|---|" + "---|" * len(runs)
    body = [f"| {k} | " + " | ".join(f"{r['steps'].get(k, float('nan')):.2f}" for r in runs)
            + " |" for k in steps]
    total = ("| **daily_job (wall)** | " + " | ".join(f"**{r['seconds']:.2f}**" for r in runs)
             + " |")
    return "\n".join([head, rule, *body, total])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--day", required=True, help="a landed day of the state (ISO date)")
    parser.add_argument("--runs", type=int, default=2,
                        help="runs in this one process (the first is a fresh process's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    settings.disable_telemetry()
    print(f"memory settings: {settings.memory_settings()}", flush=True)
    runs = run_days(args.day, args.runs)
    print(table(runs))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    print(f"peak RSS of this process: {peak:.2f} GB")
    if args.json:
        args.json.write_text(json.dumps({"day": args.day, "runs": runs,
                                         "peak_rss_gb": round(peak, 2)}, indent=2))


if __name__ == "__main__":
    main()
