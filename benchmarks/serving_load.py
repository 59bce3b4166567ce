"""Serving throughput and latency, side by side on this machine, loopback only.

Three servers, started one at a time so they never compete for the cores:

* `fraud`: `bentoml serve serving.service:FraudService` (champion from MLflow, Feast
  online lookup, prediction log: the real work per request);
* `ceiling`: benchmarks/ceiling_service.py, a constant JSON answer in the same stack;
* `baseline`: benchmarks/handbook_baseline_server.py, the handbook's FastAPI server.

Each gets a bounded closed loop (every client sends its next request when the previous
answer arrives) at concurrency 1, 8 and 32 for `--seconds` each, after a short warm-up.
The fraud server also answers `--batch-runs` 10,000-item /predict_batch calls after one
warm-up call; their server time (the `Server-Timing: app;dur=` header) is reported as
median and min. State (a champion in a SQLite MLflow registry and a materialized Feast
store) is built in a temporary folder unless `--fraud-home` points at a platform state
folder. `--url` measures a server that is already running (any version of the service:
this is how the before/after comparison below was taken) instead of starting one.
Run it from the repository root as a module (it imports tests.serving.support).

Target (issue 5): fraud >= 10x baseline requests/s at 32 clients, p99 < 100 ms, 0 errors.

`--cards` (issue 15) measures the fraud server only, with and without card ids side by side:
per level, `--rounds` alternating runs of the same bodies without `card_id` (`fraud`) and
with the simulator's `card_id` (`fraud+card`: the per-card state read, computed and written
on every call), then the medians and the with/without ratio of req/s and the p99 difference.
Target: req/s at 32 clients within 15% of the card-less path.

Measured on branch cards-speed (2 cores shared with 3-4 other sessions, load average 4-5,
so absolute req/s swing by +-30% between runs; the server's CPU per request is the steadier
number): `--cards --levels 32 --rounds 5 --seconds 6 --batch-runs 0`, three runs:

| run | without cards: req/s, p99, CPU | with cards: req/s, p99, CPU | ratio (per round) |
| --- | ------------------------------ | --------------------------- | ----------------- |
| 1   | 451.7, 105.8 ms, -             | 340.2, 155.7 ms, -          | 0.753 (0.749)     |
| 2   | 429.9, 131.4 ms, 1.633 ms      | 365.2, 158.9 ms, 1.920 ms   | 0.850 (0.848)     |
| 3   | 368.4, 123.3 ms, 1.701 ms      | 282.3, 144.2 ms, 2.144 ms   | 0.766 (0.817)     |

(CPU: the server's CPU milliseconds per answered request.)
Card ids add 0.29-0.44 ms of server CPU per request; req/s with cards is 75-85% of the
card-less path (target 85%: met in one run of three). Before/after, main (b0cca3b, SQLite
journal in rollback mode) and cards-speed served at the same time from their own trees on
their own state folders, 3 alternating rounds at 32 clients (`side_by_side(url, 6, (32,),
1)` against each `bentoml serve`): with cards main 220.5 / 230.0 / 235.6 req/s (ratio to
its card-less run 0.44 / 0.43 / 0.58), cards-speed 318.3 / 287.9 / 333.9 req/s (ratio 0.75
/ 0.69 / 0.84).

After the card state moved to the online store's own read/write with protos built from the
arrays (features/card_state.py), same command, quiet machine, two runs: without cards
478.2 / 401.4 req/s, with cards 466.9 / 394.8 req/s: ratio 0.976 / 0.984 (median per round
0.896 / 0.965), p99 -3.0 / -5.1 ms with cards (no measurable added p99), server CPU +0.055
/ +0.023 ms per request.

Usage: .venv/bin/python -m benchmarks.serving_load [--seconds 8] [--fraud-home PATH]
       .venv/bin/python -m benchmarks.serving_load --profile server --only fraud --levels 32
       .venv/bin/python -m benchmarks.serving_load --url http://127.0.0.1:PORT --levels 32
       .venv/bin/python -m benchmarks.serving_load --url URL1 --url URL2 --levels 32  # replicas
       .venv/bin/python -m benchmarks.serving_load --cards --levels 32 --rounds 3 --batch-runs 0

Issue 9 (serving as a package, pydantic request models, one model-input builder, one
prediction-log module), BEFORE = commit 91cea21 and AFTER = this branch, both served with
`bentoml serve` from their own tree on the same state folder (one champion, materialized
Feast store), measured at the same time, alternating calls/runs (2 cores; another
session kept about one core busy throughout, hence the spread):

| measure                                  | before                | after                 |
| ---------------------------------------- | --------------------- | --------------------- |
| 10,000-item /predict_batch, server time, | median 188 ms, min 109| median 170 ms, min 97 |
|   16 alternating pairs of calls          |                       |                       |
|   the same, 20 pairs, 10 minutes later   | median 121 ms, min 80 | median 123 ms, min 84 |
| /predict at 32 clients, req/s (18 runs)  | median 340 / 359      | median 308 / 356      |
|   after/before per alternating pair      |                       | median 0.94           |
| /predict at 32 clients, p50 / p99        | 86-89 / 150-159 ms    | 87-98 / 150-169 ms    |

Commands: `bentoml serve service:FraudService --port 8701` in the before tree's
serving/, `bentoml serve serving.service:FraudService --port 8702` in this tree, then
`python -m benchmarks.serving_load --url http://127.0.0.1:PORT --levels 32 --seconds 10
--batch-runs 10` per server, and the same `batch_timing` / `closed_loop` functions called
alternately on both servers (pairs of 6 s runs at 32 clients, pairs of batch calls).

Re-measured on a quiet machine at the end of the session (nothing else running; the two
servers on one state folder, the same champion), three ABAB rounds of the command above,
then 20 alternating pairs of 10,000-item batch calls:

| measure                                  | before                | after                 |
| ---------------------------------------- | --------------------- | --------------------- |
| /predict at 32 clients, req/s            | 334.0, 326.5, 321.1   | 310.6, 310.7, 345.8   |
|   p99                                    | 154-162 ms            | 134-158 ms            |
| 10,000-item batch, server time, 20 pairs | median 156 ms (min 104)| median 165 ms (min 111)|
|   wall time                              | median 173 ms         | median 182 ms         |

Medians: -5% req/s at 32 clients and +6% batch server time, both inside the 10% allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import psutil

from fraud_assets import contract, settings, simulator
from fraud_assets.orchestration.processes import HOST, Server, free_port
from fraud_assets.orchestration.servers import BIN, api_server

LEVELS = (1, 8, 32)
WARMUP_S = 1.5
TIMEOUT_S = 30.0
BATCH_ITEMS = 10_000
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


def request_bodies(n: int = 2_000, cards: bool = False) -> list[bytes]:
    """Realistic, valid transactions from the simulator, pre-encoded; `cards`: with their
    `card_id` (no `event_timestamp`: the arrival time is the event time)."""
    frame = simulator.generate_day(simulator.DayPlan(day=dt.date(2025, 2, 3), rows=n, seed=7))
    fields = [f.name for f in contract.REQUEST_FIELDS] + (["card_id"] if cards else [])
    return [json.dumps(row).encode() for row in frame[fields].to_dict(orient="records")]


async def closed_loop(url: str | Sequence[str], bodies: list[bytes], clients: int,
                      seconds: float) -> tuple[list[float], int, float]:
    """(latencies of answered requests, errors, elapsed) for `clients` closed-loop clients;
    with several URLs (replicas), client k sends to URL k modulo their number."""
    urls = [url] if isinstance(url, str) else list(url)
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
            target = urls[k % len(urls)]
            while loop.time() < deadline:
                body = bodies[k % len(bodies)]
                k += clients
                sent = time.perf_counter()
                try:
                    async with session.post(target, data=body, headers=JSON) as response:
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


def measure(name: str, url: str | Sequence[str], bodies: list[bytes], seconds: float,
            levels: tuple[int, ...] = LEVELS) -> list[Result]:
    results = []
    for clients in levels:
        asyncio.run(closed_loop(url, bodies, clients, WARMUP_S))
        latencies, errors, elapsed = asyncio.run(closed_loop(url, bodies, clients, seconds))
        ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
        result = Result(name, clients, len(latencies), errors, elapsed,
                        float(np.percentile(ms, 50)), float(np.percentile(ms, 99)))
        print(f"{name:9s} c={clients:<3d} {result.rps:8.1f} req/s  p50 {result.p50_ms:8.1f} ms"
              f"  p99 {result.p99_ms:8.1f} ms  errors {errors}", flush=True)
        results.append(result)
    return results


def server_cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of process `pid` and its descendants (BentoML's workers);
    NaN without a pid (a server given by --url)."""
    if pid is None:
        return float("nan")
    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])


def side_by_side(url: str | Sequence[str], seconds: float, levels: tuple[int, ...],
                 rounds: int, pid: int | None = None) -> list[Result]:
    """Per level, `rounds` alternating runs without and with card ids (the same bodies),
    then the medians and the with/without comparison; with the server's `pid`, also its CPU
    milliseconds per answered request (what other sessions' load on the cores disturbs
    least)."""
    bodies = {"fraud": request_bodies(), "fraud+card": request_bodies(cards=True)}
    results = []
    for clients in levels:
        runs: dict[str, list[Result]] = {name: [] for name in bodies}
        cpu: dict[str, list[float]] = {name: [] for name in bodies}
        for _ in range(rounds):
            for name, sent in bodies.items():
                asyncio.run(closed_loop(url, sent, clients, WARMUP_S))
                before = server_cpu_seconds(pid)
                latencies, errors, elapsed = asyncio.run(closed_loop(url, sent, clients, seconds))
                ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
                result = Result(name, clients, len(latencies), errors, elapsed,
                                float(np.percentile(ms, 50)), float(np.percentile(ms, 99)))
                cpu[name].append((server_cpu_seconds(pid) - before) * 1000
                                 / max(result.requests, 1))
                print(f"{name:10s} c={clients:<3d} {result.rps:8.1f} req/s  p50 "
                      f"{result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  errors {errors}  "
                      f"server CPU {cpu[name][-1]:.3f} ms/request", flush=True)
                runs[name].append(result)
        rps = {name: statistics.median(r.rps for r in got) for name, got in runs.items()}
        p99 = {name: statistics.median(r.p99_ms for r in got) for name, got in runs.items()}
        p50 = {name: statistics.median(r.p50_ms for r in got) for name, got in runs.items()}
        ms_cpu = {name: statistics.median(got) for name, got in cpu.items()}
        # Each round's pair ran back to back: their ratio is the least disturbed by others.
        pairs = statistics.median(w.rps / wo.rps for wo, w in zip(*runs.values(), strict=True))
        print(f"c={clients}: medians of {rounds} rounds: without cards {rps['fraud']:.1f} req/s "
              f"(p50 {p50['fraud']:.1f} ms, p99 {p99['fraud']:.1f} ms, server CPU "
              f"{ms_cpu['fraud']:.3f} ms/request), with cards {rps['fraud+card']:.1f} req/s "
              f"(p50 {p50['fraud+card']:.1f} ms, p99 {p99['fraud+card']:.1f} ms, server CPU "
              f"{ms_cpu['fraud+card']:.3f} ms/request): req/s ratio "
              f"{rps['fraud+card'] / rps['fraud']:.3f} (median per round {pairs:.3f}), p99 "
              f"{p99['fraud+card'] - p99['fraud']:+.1f} ms, server CPU "
              f"{ms_cpu['fraud+card'] - ms_cpu['fraud']:+.3f} ms/request", flush=True)
        results += [r for got in runs.values() for r in got]
    return results


def batch_timing(url: str, bodies: list[bytes], items: int = BATCH_ITEMS,
                 runs: int = 10) -> list[float]:
    """Server times (ms, from Server-Timing) of `runs` /predict_batch calls of `items`
    items, after one warm-up call; prints median and min, and wall time."""
    transactions = [json.loads(bodies[i % len(bodies)]) for i in range(items)]
    payload = json.dumps({"transactions": transactions})
    server_ms: list[float] = []
    wall_ms: list[float] = []
    with httpx.Client(timeout=TIMEOUT_S) as client:
        for run in range(runs + 1):  # the first run warms up
            sent = time.perf_counter()
            r = client.post(f"{url}/predict_batch", content=payload, headers=JSON)
            wall = (time.perf_counter() - sent) * 1000
            if r.status_code != 200:
                raise RuntimeError(f"/predict_batch answered {r.status_code}: {r.text[:300]}")
            if run:
                server_ms.append(float(r.headers["server-timing"].split("dur=")[1]))
                wall_ms.append(wall)
    print(f"batch     {items:,} items x {runs}: server median {statistics.median(server_ms):.0f}"
          f" ms (min {min(server_ms):.0f}), wall median {statistics.median(wall_ms):.0f} ms",
          flush=True)
    return server_ms


def prepare_state(home: Path) -> None:
    """A champion (version 1) in the SQLite MLflow registry of `home`, and a materialized
    Feast online store: what a served API needs (tests.serving.support builds both)."""
    from tests.serving.support import add_version, build_feature_store
    from tests.support import registry_at

    add_version(registry_at(home), seed=1)
    build_feature_store(home)


def running(server: Server) -> Server:
    """Start `server` and wait until ready; stopped again if it never gets there."""
    server.start()
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def fraud_server(home: Path, work: Path, port: int | None = None, poll_seconds: float = 30,
                 registry_uri: str | None = None) -> Server:
    """`bentoml serve` of the fraud API on the state of `home` (not started): the registry
    `registry_uri`, else the SQLite one of `home`; BentoML's home and the log in `work`."""
    env = {"FRAUD_HOME": str(home), "BENTOML_HOME": str(work / "bentoml"),
           "MLFLOW_TRACKING_URI": registry_uri or settings.mlflow_tracking_uri(home),
           "FRAUD_CHAMPION_POLL_SECONDS": f"{poll_seconds:g}"}
    return api_server(port or free_port(), env=env, log_path=work / "fraud.log")


def run_fraud(home: Path, work: Path, bodies: list[bytes], seconds: float,
              args: argparse.Namespace) -> list[Result]:
    # The registry: $MLFLOW_TRACKING_URI if set (a server), else the SQLite one of `home`.
    uri = os.environ.get("MLFLOW_TRACKING_URI") if args.fraud_home else None
    server = running(fraud_server(home, work, registry_uri=uri))
    try:
        if args.batch_runs:
            batch_timing(server.url, bodies, runs=args.batch_runs)
        if args.cards:
            return side_by_side(f"{server.url}/predict", seconds, args.levels, args.rounds,
                                server.process.pid if server.process else None)
        return measure("fraud", f"{server.url}/predict", bodies, seconds, args.levels)
    finally:
        server.stop()


def run_ceiling(home: Path, work: Path, bodies: list[bytes], seconds: float,
                args: argparse.Namespace) -> list[Result]:
    port = free_port()
    return _measured(Server("ceiling", [str(BIN / "bentoml"), "serve",
                                        "benchmarks.ceiling_service:Ceiling", "--host", HOST,
                                        "--port", str(port)],
                            f"http://{HOST}:{port}", "/readyz", work / "ceiling.log",
                            env={"BENTOML_HOME": str(work / "bentoml")}), bodies, seconds, args)


def _measured(server: Server, bodies: list[bytes], seconds: float,
              args: argparse.Namespace) -> list[Result]:
    """Start `server`, measure its /predict, stop it."""
    running(server)
    try:
        return measure(server.name, f"{server.url}/predict", bodies, seconds, args.levels)
    finally:
        server.stop()


def run_baseline(home: Path, work: Path, bodies: list[bytes], seconds: float,
                 args: argparse.Namespace) -> list[Result]:
    port = free_port()
    return _measured(Server("baseline", [sys.executable, "-m",
                                         "benchmarks.handbook_baseline_server",
                                         "--port", str(port)],
                            f"http://{HOST}:{port}", "/health", work / "baseline.log"),
                     bodies, seconds, args)


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
    parser.add_argument("--url", action="append",
                        help="measure this running fraud API instead of starting one; repeat "
                             "it for replicas (clients spread round-robin over them)")
    parser.add_argument("--levels", type=lambda s: tuple(int(x) for x in s.split(",")),
                        default=LEVELS, help="client counts, comma-separated (default 1,8,32)")
    parser.add_argument("--batch-runs", type=int, default=10,
                        help="timed 10,000-item /predict_batch calls (0: none)")
    parser.add_argument("--profile", choices=settings.PROFILES, default=settings.LOCAL,
                        help="server: champion in an MLflow tracking server, features in "
                             "Redis (the servers of `make servers`, own databases)")
    parser.add_argument("--cards", action="store_true",
                        help="the fraud server only: with and without card ids, side by side")
    parser.add_argument("--rounds", type=int, default=3,
                        help="with --cards: alternating runs per level (default 3)")
    args = parser.parse_args()
    if args.cards:
        args.only = ["fraud"]
    mlflow_server = None
    if args.profile == settings.SERVER and not args.url:
        from benchmarks.profiles import use_server_profile

        mlflow_server = use_server_profile(mlflow=True).mlflow()
    try:
        return _run(args)
    finally:
        if mlflow_server is not None:
            mlflow_server.stop()


def _run(args: argparse.Namespace) -> int:
    bodies = request_bodies()
    if args.url:
        urls = [url.rstrip("/") for url in args.url]
        if args.batch_runs:
            batch_timing(urls[0], bodies, runs=args.batch_runs)
        if args.cards:
            side_by_side([f"{url}/predict" for url in urls], args.seconds, args.levels,
                         args.rounds)
            return 0
        measure("fraud", [f"{url}/predict" for url in urls], bodies, args.seconds, args.levels)
        return 0
    runners = {"fraud": run_fraud, "ceiling": run_ceiling, "baseline": run_baseline}
    selected = args.only or list(runners)
    with tempfile.TemporaryDirectory(prefix="serving-load-") as tmp:
        work = Path(tmp)
        if args.fraud_home:
            home = Path(args.fraud_home).resolve()
        else:
            home = work / "home"
            home.mkdir()
            prepare_state(home)
        results = [r for name in selected
                   for r in runners[name](home, work, bodies, args.seconds, args)]
    return 0 if len(selected) < 3 or 32 not in args.levels or verdict(results) else 1


if __name__ == "__main__":
    sys.exit(main())
