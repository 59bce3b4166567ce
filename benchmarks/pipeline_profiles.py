"""Wall time of the whole pipeline (`fraud-platform pipeline`: land, every daily run, online
features, retraining) under each profile, and under the server profile with several
pipelines at once on the same PostgreSQL and Redis.

Each pipeline gets a fresh state folder (a temporary FRAUD_HOME). Under `--profile server`
they use the servers of the platform's FRAUD_HOME (`make servers`; started if needed), each
pipeline with databases of its own (`bench<i>_dagster`, ... fresh each time), a Redis
database of its own and an MLflow tracking server of its own on a free port (its backend is
its own database); the `--concurrent` pipelines start together. Under SQLite two Dagster
instances would not share a database at all, which is the point of the comparison.

Usage: .venv/bin/python -m benchmarks.pipeline_profiles --profile local [--days 30 --rows 10000]
       .venv/bin/python -m benchmarks.pipeline_profiles --profile server --concurrent 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fraud_assets import settings

CLI = str(Path(sys.executable).parent / "fraud-platform")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=settings.PROFILES, default=settings.LOCAL)
    parser.add_argument("--concurrent", type=int, default=1, help="pipelines at once")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    if args.profile == settings.LOCAL and args.concurrent != 1:
        parser.error("--concurrent needs --profile server (one run at a time on SQLite)")
    base = dict(os.environ)
    envs = []
    mlflow_servers = []
    for i in range(args.concurrent):
        env = {}
        if args.profile == settings.SERVER:
            from benchmarks.profiles import use_server_profile

            mlflow_servers.append(use_server_profile(f"bench{i}_", 14 - i, mlflow=True).mlflow())
            env = {k: v for k, v in os.environ.items() if base.get(k) != v}
            os.environ.clear()
            os.environ.update(base)
        envs.append(env)
    try:
        with tempfile.TemporaryDirectory(prefix="pipeline_bench_") as tmp:
            started = []
            for i, env in enumerate(envs):
                home = Path(tmp) / f"home{i}"
                log = open(Path(tmp) / f"pipeline{i}.log", "w")  # noqa: SIM115
                command = [CLI, "pipeline", "--days", str(args.days), "--rows", str(args.rows)]
                started.append((time.perf_counter(), log, subprocess.Popen(
                    command, env=base | env | {"FRAUD_HOME": str(home)}, stdout=log,
                    stderr=subprocess.STDOUT)))
            for i, (t0, log, process) in enumerate(started):
                code = process.wait()
                seconds = time.perf_counter() - t0
                log.close()
                tail = (Path(tmp) / f"pipeline{i}.log").read_text().splitlines()[-2:]
                print(f"profile {args.profile}, pipeline {i + 1}/{args.concurrent}: "
                      f"{args.days} days x {args.rows:,} rows in {seconds:.1f}s (exit {code}); "
                      f"{' | '.join(tail)}")
    finally:
        for server in mlflow_servers:
            server.stop()


if __name__ == "__main__":
    main()
