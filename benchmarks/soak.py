"""Soak: a steady request rate on a real `bentoml serve` of the fraud API for minutes,
with a champion hot swap in the middle, loopback only.

What it does:
1. builds state in a temporary folder (a champion, version 1, in a SQLite MLflow registry
   and a materialized Feast online store: `serving_load.prepare_state`) and starts the
   API on 127.0.0.1 (`serving_load.fraud_server`, the platform's own launcher), polling
   the champion alias every `--poll` seconds;
2. sends `--rate` /predict requests a second for `--warmup` seconds (not measured), then
   for `--minutes`, open loop: request i leaves at start + i/rate whatever the answers
   do, and its latency counts from that moment (no coordinated omission);
3. at half time, moves the `champion` alias to version 2 (trained and registered before
   the load starts), as a passed gate does; the server's poll swaps the model by itself;
4. reports per minute: requests, errors, p50/p99/max latency, versions that answered; the
   RSS of the server's process tree (every process under `bentoml serve`) at the start
   and at the end of the measured run; when the swap happened; and, after the server is
   stopped (which flushes the log), that every 200 answer is in the prediction log
   exactly once (`prediction_log.logged_answers`, by the request id each answer carries).

Goals (issue 11): 0 errors, RSS flat within 10%, every 200 in the log exactly once. The
exit code is 0 when all are met. The load generator runs on the same (shared) machine:
its latencies include client-side scheduling delays, so p99 is an upper bound.

Usage: .venv/bin/python -m benchmarks.soak [--minutes 10] [--rate 200] [--port 6300]
       [--report soak.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import psutil

from benchmarks.serving_load import (
    JSON,
    TIMEOUT_S,
    fraud_server,
    prepare_state,
    request_bodies,
    running,
)
from fraud_assets.monitoring.prediction_log import logged_answers
from fraud_assets.orchestration.processes import Server

RSS_EVERY_S = 10.0
MAX_IN_FLIGHT = 256  # beyond this the server is far behind: counted as errors, not queued


@dataclass
class Sample:
    """One request: when it was due (seconds since the measured start; negative during
    the warm-up), its latency from then, status (0: no answer), answering version."""

    due: float
    latency: float
    status: int
    version: str | None
    request_id: str


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds, bytes)
    failures: Counter[str] = field(default_factory=Counter)
    events: dict[str, float] = field(default_factory=dict)  # name -> seconds since start
    load: list[tuple[float, float, float]] = field(default_factory=list)  # machine, 1/5/15 min


def tree_rss(pid: int) -> int:
    """Resident memory (bytes) of a process and all its descendants."""
    root = psutil.Process(pid)
    total = 0
    for process in (root, *root.children(recursive=True)):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def register_challenger(home: Path) -> str:
    """Train and register version 2 without promoting it (before the load starts: on 2
    shared cores a training run next to the server measures the training, not the swap)."""
    from tests.serving.support import add_version
    from tests.support import registry_at

    return add_version(registry_at(home), seed=2, promote=False)


async def _one(session: aiohttp.ClientSession, url: str, body: bytes, request_id: str,
               due: float, origin: float, soak: Soak) -> None:
    loop = asyncio.get_running_loop()
    status, version = 0, None
    try:
        async with session.post(url, data=body,
                                headers={**JSON, "X-Request-ID": request_id}) as response:
            payload = await response.read()
            status = response.status
        if status == 200:
            answer = json.loads(payload)
            version = answer.get("model_version")
            if answer.get("request_id") != request_id:
                soak.failures["200 with another request id"] += 1
                status = -1
        else:
            soak.failures[f"HTTP {status}: {payload[:120]!r}"] += 1
    except (aiohttp.ClientError, TimeoutError) as exc:
        soak.failures[f"{type(exc).__name__}: {exc}"[:160]] += 1
    soak.samples.append(Sample(due - origin, loop.time() - due, status, version, request_id))


async def open_loop(url: str, bodies: list[bytes], rate: float, seconds: float,
                    origin: float, prefix: str, soak: Soak) -> None:
    """Send `rate` requests a second for `seconds`, each at its due time (open loop)."""
    loop = asyncio.get_running_loop()
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    pending: set[asyncio.Task] = set()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = loop.time()
        for i in range(int(rate * seconds)):
            due = started + i / rate
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if len(pending) >= MAX_IN_FLIGHT:
                soak.failures["client: too many requests in flight"] += 1
                soak.samples.append(Sample(due - origin, 0.0, 0, None, f"{prefix}-{i}"))
                continue
            task = asyncio.create_task(_one(session, url, bodies[i % len(bodies)],
                                            f"{prefix}-{i}", due, origin, soak))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.gather(*pending)


async def sample_rss(pid: int, origin: float, stop: asyncio.Event, soak: Soak) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        soak.rss.append((loop.time() - origin, await asyncio.to_thread(tree_rss, pid)))
        try:
            await asyncio.wait_for(stop.wait(), RSS_EVERY_S)
        except TimeoutError:
            pass


async def hot_swap(home: Path, version: str, at: float, origin: float, soak: Soak) -> None:
    """At `at` seconds, move the champion alias to `version` (what a passed gate does);
    the server's poll picks it up and swaps the model under load."""
    from fraud_assets.model import deploy
    from tests.support import registry_at

    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(0.0, origin + at - loop.time()))
    soak.events[f"moving the champion alias to version {version}"] = loop.time() - origin
    await asyncio.to_thread(deploy.promote, registry_at(home), version,
                            "soak: hot swap under load")
    soak.events["champion alias moved"] = loop.time() - origin


async def drive(server: Server, home: Path, challenger: str, args: argparse.Namespace,
                soak: Soak) -> None:
    assert server.process is not None
    bodies = request_bodies()
    url = f"{server.url}/predict"
    loop = asyncio.get_running_loop()
    print(f"warm-up: {args.warmup:g} s at {args.rate:g} req/s", flush=True)
    await open_loop(url, bodies, args.rate, args.warmup, loop.time() + args.warmup, "warm",
                    soak)
    seconds = args.minutes * 60
    print(f"soak: {seconds:g} s at {args.rate:g} req/s, hot swap at {seconds / 2:g} s",
          flush=True)
    origin = loop.time()
    soak.load = [os.getloadavg()]
    stop = asyncio.Event()
    rss = asyncio.create_task(sample_rss(server.process.pid, origin, stop, soak))
    swap = asyncio.create_task(hot_swap(home, challenger, seconds / 2, origin, soak))
    await open_loop(url, bodies, args.rate, seconds, origin, "soak", soak)
    soak.rss.append((loop.time() - origin, tree_rss(server.process.pid)))
    soak.load.append(os.getloadavg())
    stop.set()
    await rss
    await swap


# -- the report ----------------------------------------------------------------------------
def _ms(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q) * 1000) if len(values) else float("nan")


def per_minute(samples: list[Sample]) -> list[dict[str, Any]]:
    rows = []
    measured = [s for s in samples if s.due >= 0]
    for minute in range(int(max((s.due for s in measured), default=0) // 60) + 1):
        mine = [s for s in measured if minute * 60 <= s.due < (minute + 1) * 60]
        ok = np.array([s.latency for s in mine if s.status == 200])
        rows.append({"minute": minute + 1, "requests": len(mine),
                     "errors": sum(s.status != 200 for s in mine),
                     "p50_ms": _ms(ok, 50), "p99_ms": _ms(ok, 99),
                     "max_ms": float(ok.max() * 1000) if len(ok) else float("nan"),
                     "versions": dict(Counter(s.version for s in mine if s.version))})
    return rows


def log_check(samples: list[Sample], home: Path) -> dict[str, int]:
    """Every 200 answer (warm-up included) in the prediction log exactly once."""
    answered = {s.request_id for s in samples if s.status == 200}
    logged = logged_answers(home)
    ids = {rid: n for (rid, item), n in logged.items() if item == 0}
    return {"answered_200": len(answered),
            "missing_from_log": sum(1 for rid in answered if rid not in ids),
            "logged_more_than_once": sum(1 for rid in answered if ids.get(rid, 0) > 1),
            "logged_without_a_200": sum(1 for rid in ids if rid not in answered)}


def report(soak: Soak, checked: dict[str, int], args: argparse.Namespace) -> dict[str, Any]:
    minutes = per_minute(soak.samples)
    measured = [s for s in soak.samples if s.due >= 0]
    errors = sum(s.status != 200 for s in soak.samples)  # the warm-up counts too
    start_rss, end_rss = soak.rss[0][1], soak.rss[-1][1]
    growth = end_rss / start_rss - 1
    swapped = [s for s in measured if s.version and s.version != "1"]
    if swapped:
        soak.events["first answer from the new version"] = min(s.due for s in swapped)
    print(f"\n{'minute':>6} {'requests':>9} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8}  versions")
    for m in minutes:
        versions = ", ".join(f"v{v}: {n}" for v, n in sorted(m["versions"].items()))
        print(f"{m['minute']:>6} {m['requests']:>9} {m['errors']:>7} {m['p50_ms']:>8.1f} "
              f"{m['p99_ms']:>8.1f} {m['max_ms']:>8.1f}  {versions}")
    ok = np.array([s.latency for s in measured if s.status == 200])
    elapsed = max((s.due for s in measured), default=0.0) + 1 / args.rate
    print(f"\nall {len(measured)} measured requests ({len(measured) / elapsed:.1f} req/s sent): "
          f"p50 {_ms(ok, 50):.1f} ms, p99 {_ms(ok, 99):.1f} ms; errors {errors} (warm-up "
          f"included)")
    for why, n in soak.failures.most_common(10):
        print(f"  {n} x {why}")
    for name, at in sorted(soak.events.items(), key=lambda e: e[1]):
        print(f"{at:8.1f} s  {name}")
    print(f"RSS of the server's process tree: {start_rss / 2**20:.0f} MiB at the start, "
          f"{end_rss / 2**20:.0f} MiB at the end ({growth:+.1%}); max "
          f"{max(r for _, r in soak.rss) / 2**20:.0f} MiB")
    print(f"prediction log: {checked}")
    cores = os.cpu_count()
    print("machine load average (1, 5, 15 min) at the start and the end: "
          + " / ".join(", ".join(f"{x:.1f}" for x in load) for load in soak.load)
          + f" on {cores} cores (other work on the machine competes with the server)")
    goals = {"zero errors": errors == 0, "RSS flat within 10%": abs(growth) <= 0.10,
             "every 200 in the log exactly once": checked["missing_from_log"] == 0
             and checked["logged_more_than_once"] == 0,
             "hot swap answered by the new version": bool(swapped)}
    for goal, met in goals.items():
        print(f"{'MET    ' if met else 'NOT MET'} {goal}")
    return {"minutes": minutes, "errors": errors, "failures": dict(soak.failures),
            "events": soak.events, "rss_bytes": soak.rss, "rss_growth": growth,
            "prediction_log": checked, "goals": goals, "load_average": soak.load,
            "settings": {k: v for k, v in vars(args).items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="length of the measured run (default 10; e.g. 1 for a trial)")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before measuring")
    parser.add_argument("--poll", type=float, default=5.0,
                        help="seconds between the server's reads of the champion alias")
    parser.add_argument("--port", type=int, default=6300, help="port on 127.0.0.1")
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    args = parser.parse_args()
    soak = Soak()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        print("building state: a champion and a materialized Feast store...", flush=True)
        prepare_state(home)
        challenger = register_challenger(home)
        server = running(fraud_server(home, work, args.port, poll_seconds=args.poll))
        print(f"serving on {server.url}", flush=True)
        try:
            asyncio.run(drive(server, home, challenger, args, soak))
        finally:
            started = time.monotonic()
            server.stop()  # flushes the prediction log
            print(f"server stopped in {time.monotonic() - started:.1f} s", flush=True)
        result = report(soak, log_check(soak.samples, home), args)
    if args.report:
        args.report.write_text(json.dumps(result, indent=2, default=str))
    return 0 if all(result["goals"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
