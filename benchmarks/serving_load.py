"""Serving throughput and latency, side by side on this machine, loopback only.

Three servers, started one at a time so they never compete for the cores:

* `fraud`: serving/service.py under `bentoml serve` (champion from MLflow, Feast online
  lookup, prediction log: the real work per request);
* `ceiling`: benchmarks/ceiling_service.py, a constant JSON answer in the same stack;
* `baseline`: benchmarks/handbook_baseline_server.py, the handbook's FastAPI server.

Each gets a bounded closed loop (every client sends its next request when the previous
answer arrives) at concurrency 1, 8 and 32 for `--seconds` each, after a short warm-up.
State (a champion in a SQLite MLflow registry and a materialized Feast store) is built
in a temporary folder unless `--fraud-home` points at a platform state folder.

Target (issue 5): fraud >= 10x baseline requests/s at 32 clients, p99 < 100 ms, 0 errors.

Usage: .venv/bin/python benchmarks/serving_load.py [--seconds 8] [--fraud-home PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.serving: the state builder and server runner

from fraud_assets import contract, simulator  # noqa: E402
from tests.serving.server import QUIET, BentoServer, free_port  # noqa: E402

LEVELS = (1, 8, 32)
WARMUP_S = 1.5
TIMEOUT_S = 30.0
JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Result:
    server: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def request_bodies(n: int = 2_000) -> list[bytes]:
    """Realistic, valid transactions from the simulator, pre-encoded."""
    import datetime as dt

    frame = simulator.generate_day(simulator.DayPlan(day=dt.date(2025, 2, 3), rows=n, seed=7))
    fields = [f.name for f in contract.REQUEST_FIELDS]
    return [json.dumps(row).encode() for row in frame[fields].to_dict(orient="records")]


async def closed_loop(url: str, bodies: list[bytes], clients: int, seconds: float,
                      ) -> tuple[list[float], int, float]:
    """(latencies of answered requests, errors, elapsed) for `clients` closed-loop clients."""
    latencies: list[float] = []
    errors = 0
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + seconds

        async def client(k: int) -> None:
            nonlocal errors
            while loop.time() < deadline:
                body = bodies[k % len(bodies)]
                k += clients
                sent = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=JSON) as response:
                        await response.read()
                        ok = response.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1

        await asyncio.gather(*(client(i) for i in range(clients)))
        return latencies, errors, loop.time() - started


def measure(name: str, url: str, bodies: list[bytes], seconds: float) -> list[Result]:
    results = []
    for clients in LEVELS:
        asyncio.run(closed_loop(url, bodies, clients, WARMUP_S))
        latencies, errors, elapsed = asyncio.run(closed_loop(url, bodies, clients, seconds))
        ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
        result = Result(name, clients, len(latencies), errors, elapsed,
                        float(np.percentile(ms, 50)), float(np.percentile(ms, 99)))
        print(f"{name:9s} c={clients:<3d} {result.rps:8.1f} req/s  p50 {result.p50_ms:8.1f} ms"
              f"  p99 {result.p99_ms:8.1f} ms  errors {errors}", flush=True)
        results.append(result)
    return results


def prepare_state(home: Path) -> None:
    from tests.serving.state import add_version, build_feature_store, registry_at

    add_version(registry_at(home), seed=1)
    build_feature_store(home)


def run_fraud(home: Path, work: Path, bodies: list[bytes], seconds: float) -> list[Result]:
    # MLflow: $MLFLOW_TRACKING_URI if set, else the SQLite registry under `home`.
    env = {"FRAUD_HOME": str(home), "BENTOML_HOME": str(work / "bentoml"),
           "FRAUD_CHAMPION_POLL_SECONDS": "30"}
    server = BentoServer("service:FraudService", env, work / "fraud.log",
                         working_dir=REPO / "serving").start()
    try:
        batch_timing(server.url, bodies)
        return measure("fraud", f"{server.url}/predict", bodies, seconds)
    finally:
        server.stop()


def batch_timing(url: str, bodies: list[bytes], items: int = 10_000, runs: int = 3) -> None:
    """Server time (its Server-Timing header) and wall time of one 10,000-item batch."""
    import httpx

    transactions = [json.loads(bodies[i % len(bodies)]) for i in range(items)]
    payload = json.dumps({"transactions": transactions})
    with httpx.Client(timeout=TIMEOUT_S) as client:
        for run in range(runs + 1):  # the first run warms up
            sent = time.perf_counter()
            r = client.post(f"{url}/predict_batch", content=payload, headers=JSON)
            wall = (time.perf_counter() - sent) * 1000
            server_ms = float(r.headers["server-timing"].split("dur=")[1])
            if run:
                print(f"batch     {items:,} items: status {r.status_code}, server "
                      f"{server_ms:.0f} ms, wall {wall:.0f} ms", flush=True)


def run_ceiling(home: Path, work: Path, bodies: list[bytes], seconds: float) -> list[Result]:
    server = BentoServer("ceiling_service:Ceiling", {"BENTOML_HOME": str(work / "bentoml")},
                         work / "ceiling.log", working_dir=REPO / "benchmarks").start()
    try:
        return measure("ceiling", f"{server.url}/predict", bodies, seconds)
    finally:
        server.stop()


def run_baseline(home: Path, work: Path, bodies: list[bytes], seconds: float) -> list[Result]:
    port = free_port()
    with open(work / "baseline.log", "ab") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "benchmarks" / "handbook_baseline_server.py"),
             "--port", str(port)], env=os.environ | QUIET, stdout=log,
            stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", process)
        return measure("baseline", f"http://127.0.0.1:{port}/predict", bodies, seconds)
    finally:
        process.terminate()
        process.wait(30)


def wait_http(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def verdict(results: list[Result]) -> bool:
    at = {(r.server, r.concurrency): r for r in results}
    fraud, base, ceiling = at[("fraud", 32)], at[("baseline", 32)], at[("ceiling", 32)]
    ratio = fraud.rps / base.rps if base.rps else float("inf")
    errors = sum(r.errors for r in results if r.server == "fraud")
    passed = ratio >= 10 and fraud.p99_ms < 100 and errors == 0
    print(f"\nat 32 clients: fraud {fraud.rps:.1f} req/s = {ratio:.1f}x baseline "
          f"({base.rps:.1f} req/s), {fraud.rps / ceiling.rps:.0%} of the ceiling "
          f"({ceiling.rps:.1f} req/s); fraud p99 {fraud.p99_ms:.1f} ms; fraud errors {errors}")
    print(f"target (>= 10x baseline, p99 < 100 ms, zero errors): "
          f"{'MET' if passed else 'NOT MET'}")
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per concurrency level")
    parser.add_argument("--fraud-home", help="an existing platform state folder to serve")
    parser.add_argument("--only", choices=("fraud", "ceiling", "baseline"), action="append")
    args = parser.parse_args()
    os.environ.update(QUIET)
    bodies = request_bodies()
    runners = {"fraud": run_fraud, "ceiling": run_ceiling, "baseline": run_baseline}
    selected = args.only or list(runners)
    with tempfile.TemporaryDirectory(prefix="serving-load-") as tmp:
        work = Path(tmp)
        if args.fraud_home:
            home = Path(args.fraud_home).resolve()
        else:
            home = work / "home"
            home.mkdir()
            os.environ.pop("MLFLOW_TRACKING_URI", None)  # the throwaway registry, not yours
            prepare_state(home)
        results = [r for name in selected
                   for r in runners[name](home, work, bodies, args.seconds)]
    return 0 if len(selected) < 3 or verdict(results) else 1


if __name__ == "__main__":
    sys.exit(main())
