"""What shadow scoring costs: /predict at 32 clients with a challenger in shadow and without.

One fraud API (`bentoml serve`, loopback) on a temporary state folder with a champion
(version 1), a second version and a materialized Feast store. Shadow is switched by the
registry alone, as in production: the `challenger` alias on version 2 (shadow on: both
models score every request) or removed (off); the server re-reads aliases every 0.5 s.
The two settings alternate `--rounds` times (ABAB...) so a busy machine hurts both alike;
each round is `--seconds` of closed-loop load after a warm-up. Prints each round and the
medians. Goal (issue 17): shadow within 15% of the rps without it.

    python -m benchmarks.shadow_load [--rounds 3] [--seconds 10] [--clients 32] [--port P]

Measured with `--rounds 3 --seconds 8` (ABAB medians at 32 clients), three runs each,
2 cores shared with other sessions (load 4-8 throughout), before = main (3c4ee9b, then
3299ed0), after = the scorer scoring the linear model in numpy (model/explain.py):

| run | before: req/s off / on, p99 off / on | after: req/s off / on, p99 off / on |
| --- | ------------------------------------ | ----------------------------------- |
| 1   | 339.9 / 262.2 (-22.9%), 191 / 258 ms | 214.0 / 204.8 (-4.3%), 310 / 284 ms |
| 2   | 283.6 / 240.6 (-15.2%), 260 / 276 ms | 369.6 / 353.0 (-4.5%), 182 / 181 ms |
| 3   | 337.7 / 258.8 (-23.4%), 172 / 250 ms | 386.9 / 362.8 (-6.2%), 256 / 190 ms |
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.serving_load import fraud_server, measure, prepare_state, request_bodies, running
from fraud_assets.model.registry import CHALLENGER_ALIAS
from tests.serving.support import add_version
from tests.support import registry_at


def set_shadow(home: Path, url: str, on: bool) -> None:
    """Point `challenger` at version 2 (on) or remove it (off); wait until the API says so."""
    registry_at(home).set_alias(CHALLENGER_ALIAS, "2" if on else None)
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/health", timeout=10).json()["challenger"]["shadow"] != on:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the API did not turn shadow {'on' if on else 'off'}")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="ABAB rounds")
    parser.add_argument("--seconds", type=float, default=10.0, help="load per measurement")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--port", type=int, default=None,
                        help="port of the API on 127.0.0.1 (default: a free one)")
    args = parser.parse_args()
    bodies = request_bodies()
    with tempfile.TemporaryDirectory() as tmp:
        home, work = Path(tmp) / "home", Path(tmp) / "work"
        prepare_state(home)
        add_version(registry_at(home), seed=2, promote=False)  # version 2, the challenger
        server = running(fraud_server(home, work, port=args.port, poll_seconds=0.5))
        runs: dict[bool, list] = {True: [], False: []}
        try:
            for _ in range(args.rounds):
                for on in (False, True):
                    set_shadow(home, server.url, on)
                    [result] = measure("shadow" if on else "no-shadow",
                                       f"{server.url}/predict", bodies, args.seconds,
                                       (args.clients,))
                    runs[on].append(result)
        finally:
            server.stop()
    off = statistics.median(r.rps for r in runs[False])
    on = statistics.median(r.rps for r in runs[True])
    print(f"median req/s at {args.clients} clients: without shadow {off:.1f}, with shadow "
          f"{on:.1f} ({(on / off - 1) * 100:+.1f}%); p99 medians "
          f"{statistics.median(r.p99_ms for r in runs[False]):.0f} / "
          f"{statistics.median(r.p99_ms for r in runs[True]):.0f} ms")


if __name__ == "__main__":
    main()
