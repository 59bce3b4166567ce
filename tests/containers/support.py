"""The container suites' helpers (their fixtures are in conftest.py): ports, readiness,
timed stops. Everything else comes from tests/support.py and tests/serving/support.py."""

from __future__ import annotations

import socket
import time

import httpx
import psutil

from fraud_assets.orchestration import containers
from fraud_assets.orchestration.processes import HOST, free_port

BEFORE: set[int] = set()  # ports listened on before any container of the suite ran
# podman's helpers that publish a port or carry a container's network on the host.
NETWORK_HELPERS = ("rootlessport", "rootlessport-child", "slirp4netns")


def listening_ports() -> set[int]:
    """TCP ports something listens on in the host's network namespace."""
    return {c.laddr.port for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN}


def container_side_ports(engine: containers.Engine, names: list[str]) -> set[int]:
    """Host ports listened on by the containers `names` (conmon and every process below it:
    what a container on the host network would open) or by podman's network helpers (the
    published ports): on a machine shared with other work, ports of unrelated processes
    are not the containers' doing."""
    pids: set[int] = set()
    for name in names:
        conmon = engine.run("inspect", "--format", "{{.State.ConmonPid}}", name).stdout.strip()
        if conmon.isdigit() and psutil.pid_exists(int(conmon)):
            process = psutil.Process(int(conmon))
            pids |= {process.pid, *(c.pid for c in process.children(recursive=True))}
    pids |= {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in NETWORK_HELPERS}
    return {c.laddr.port for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.pid in pids}


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive ports nothing listens on (replicas take PORT+i)."""
    while True:
        first = free_port()
        if all(_free(first + i) for i in range(1, count)):
            return first


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def wait_ok(url: str, timeout: float = 180) -> float:
    """Seconds until `url` answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def stop_timed(engine: containers.Engine, name: str) -> tuple[float, int]:
    """(seconds `stop -t 10` took, the container's exit code) -- 137 means it was killed."""
    started = time.monotonic()
    engine.run("stop", "-t", "10", name, check=False)
    took = time.monotonic() - started
    code = engine.run("inspect", name, "--format", "{{.State.ExitCode}}", check=False)
    return took, int(code.stdout.strip() or -1)
