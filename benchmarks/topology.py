"""The production topology on one machine, measured: API image replicas under the server
profile (what `fraud-platform images run-api --replicas N` runs), loopback only.

For each replica count of `--replicas` (default 1,2), one after the other:
1. start the replicas with the platform's own `ApiReplicas`; time each one from its
   `run` to /readyz answering 200 (a champion loaded from the MLflow server over HTTP,
   Redis readable);
2. `--clients` closed-loop clients on /predict for `--seconds`, spread round-robin over the
   replicas (benchmarks.serving_load.measure): req/s, p50, p99, errors;
3. move the champion alias `--swaps` times between two versions and time, from the move,
   until the first and until the last replica answers /health with the new version (each
   replica re-reads the alias every `--poll-seconds`, so expect up to that plus a load);
4. stop them together (SIGTERM, SIGKILL after 10 s): seconds and exit codes.

State: version 1 (champion) and version 2 in an MLflow tracking server of the benchmark's
own, merchant features in Redis, on the servers of `make servers` with databases of its own
(benchmarks.profiles.use_server_profile; serving_load.prepare_state builds the champion
and the store). Needs podman and the API image (`make bento images`).

Usage: .venv/bin/python -m benchmarks.topology [--image localhost/fraud-api:latest]
           [--replicas 1,2] [--clients 32] [--seconds 15] [--swaps 3] [--port 8200]
           [--poll-seconds 5]

Measured (issue 13, `--replicas 1,2,1,2 --seconds 15 --swaps 2 --port 8410`, 2 cores shared
with other sessions, load average about 5):

| replicas | run -> ready      | /predict, 32 clients         | alias move -> first / all | stop  |
| -------- | ----------------- | ---------------------------- | ------------------------- | ----- |
| 1        | 22.3 s            | 267.7 req/s, p99 327 ms      | 3.5 / 3.5 s, 5.2 / 5.2 s  | 2.5 s |
| 2        | 61.3, 61.1 s      | 205.7 req/s, p99 367 ms      | 0.6 / 2.9 s, 3.1 / 5.5 s  | 5.2 s |
| 1        | 24.0 s            | 157.8 req/s, p99 381 ms      | 2.9 / 2.9 s, 5.3 / 5.3 s  | 3.1 s |
| 2        | 52.7, 52.1 s      | 199.7 req/s, p99 659 ms      | 2.1 / 2.9 s, 4.3 / 5.4 s  | 3.7 s |

No errors; every stop exit code 0. On 2 cores a second replica adds no throughput (one
replica and the load generator already use both); it adds a second answerer on the same
champion. An earlier run at load 6-8: 1 replica 245.6 req/s (p99 261 ms), 2 replicas 137.4
req/s (p99 1,076 ms).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.serving_load import measure, request_bodies
from fraud_assets.model import deploy
from fraud_assets.model.registry import MlflowRegistry
from fraud_assets.orchestration import containers


def prepare(home: Path) -> tuple[MlflowRegistry, str, str]:
    """The benchmark's registry with a champion and a second version, features in Redis."""
    from benchmarks.serving_load import prepare_state
    from tests.serving.support import add_version
    from tests.support import registry_at

    prepare_state(home)
    registry = registry_at(home)
    second = add_version(registry, seed=2, promote=False)
    return registry, str(registry.alias_version("champion")), second


def swap_latencies(registry: MlflowRegistry, urls: list[str], versions: tuple[str, str],
                   swaps: int, timeout: float = 180.0) -> list[tuple[float, float]]:
    """(seconds to the first replica, seconds to the last) for each alias move."""
    found = []
    for i in range(swaps):
        target = versions[(i + 1) % 2]
        moved = time.monotonic()
        deploy.promote(registry, target, reason="benchmarks.topology")
        first = None
        while True:
            served = [httpx.get(f"{u}/health", timeout=5).json()["model_version"] for u in urls]
            elapsed = time.monotonic() - moved
            if first is None and target in served:
                first = elapsed
            if all(v == target for v in served):
                break
            if elapsed > timeout:
                raise TimeoutError(f"replicas serve {served}, not {target}, after {elapsed:.0f}s")
            time.sleep(0.1)
        found.append((first, elapsed))
        print(f"  swap {i + 1} to version {target}: first replica {first:.1f}s, "
              f"all {elapsed:.1f}s", flush=True)
    return found


def run(count: int, args: argparse.Namespace, registry: MlflowRegistry,
        versions: tuple[str, str], bodies: list[bytes]) -> None:
    replicas = containers.ApiReplicas(containers.find_engine(), args.image, args.port, count,
                                      args.poll_seconds, volume="fraud-predictions-bench")
    print(f"\n{count} replica(s) on ports {replicas.ports}", flush=True)
    try:
        replicas.start()
        for name, seconds in replicas.wait_ready(timeout=600).items():
            print(f"  {name}: run -> ready {seconds:.1f}s", flush=True)
        measure(f"{count} repl.", [f"{u}/predict" for u in replicas.urls], bodies,
                args.seconds, (args.clients,))
        if args.swaps:
            latencies = swap_latencies(registry, replicas.urls, versions, args.swaps)
            print(f"  swap median: first replica {statistics.median(f for f, _ in latencies):.1f}s"
                  f", all {statistics.median(a for _, a in latencies):.1f}s "
                  f"(poll every {args.poll_seconds:g}s)")
            deploy.promote(registry, versions[0], reason="benchmarks.topology")  # back
    finally:
        began = time.monotonic()
        codes = replicas.stop()
        print(f"  stopped in {time.monotonic() - began:.1f}s, exit codes {codes}", flush=True)
        replicas.engine.run("volume", "rm", "-f", "fraud-predictions-bench", check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=f"{containers.API_IMAGE}:latest")
    parser.add_argument("--replicas", default="1,2",
                        type=lambda s: [int(x) for x in s.split(",")],
                        help="replica counts to measure, comma-separated (default 1,2)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0, help="load per replica count")
    parser.add_argument("--swaps", type=int, default=3, help="alias moves per replica count")
    parser.add_argument("--port", type=int, default=8200, help="replica i on PORT+i")
    parser.add_argument("--poll-seconds", type=float, default=5.0,
                        help="how often each replica re-reads the alias")
    args = parser.parse_args()
    from benchmarks.profiles import use_server_profile

    mlflow_server = use_server_profile(prefix="bench_topo_", redis_db=14, mlflow=True).mlflow()
    try:
        with tempfile.TemporaryDirectory(prefix="topology-") as tmp:
            registry, first, second = prepare(Path(tmp))
            bodies = request_bodies()
            for count in args.replicas:
                run(count, args, registry, (first, second), bodies)
    finally:
        mlflow_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
