"""Start the platform's UIs and API on loopback, wait until they answer, stop them together."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fraud_assets import settings
from fraud_assets.instance import ensure_dagster_home

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent


@dataclass
class Server:
    name: str
    argv: list[str]
    url: str
    ready_path: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = settings.REPO_ROOT
    after_ready: Callable[[Server], None] | None = None
    process: subprocess.Popen | None = None


def quiet_env() -> dict[str, str]:
    """Telemetry off in every tool we start."""
    return {"DAGSTER_DISABLE_TELEMETRY": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
            "BENTOML_DO_NOT_TRACK": "true", "FEAST_USAGE": "False", "DO_NOT_TRACK": "1"}


def dagster_server(port: int = 3000) -> Server:
    return Server("Dagster UI", [str(BIN / "dagster"), "dev", "-w", "workspace.yaml",
                                 "-h", HOST, "-p", str(port)],
                  f"http://{HOST}:{port}", "/server_info",
                  env={"DAGSTER_HOME": str(ensure_dagster_home())}, after_ready=_dismiss_nux)


def mlflow_server(port: int = 5000) -> Server:
    # One worker and no job consumer: the defaults spawn many processes and orphan some.
    return Server("MLflow UI", [str(BIN / "mlflow"), "server",
                                "--backend-store-uri", settings.mlflow_tracking_uri(),
                                "--default-artifact-root", str(settings.mlflow_artifacts_dir()),
                                "--host", HOST, "--port", str(port), "--workers", "1"],
                  f"http://{HOST}:{port}", "/health",
                  env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})


def api_server(port: int = 8000) -> Server:
    """`bentoml serve` of serving/ from source: the registry's champion over HTTP."""
    return Server("Fraud API", [str(BIN / "bentoml"), "serve", "service:FraudService",
                                "--host", HOST, "--port", str(port)],
                  f"http://{HOST}:{port}", "/readyz", cwd=settings.REPO_ROOT / "serving",
                  env={"MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri(),
                       "BENTOML_HOME": str(settings.fraud_home() / "bentoml")})


def _dismiss_nux(server: Server) -> None:
    """The first visit shows a sign-up modal; mark it seen so the UI opens on the graph."""
    body = json.dumps({"query": "mutation { setNuxSeen }"}).encode()
    request = urllib.request.Request(f"{server.url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=5).read()
    except OSError:
        pass  # cosmetic only


def start(server: Server, log_dir: Path) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{server.name.split()[0].lower()}.log", "ab")  # noqa: SIM115
    # Own process group: the servers ignore signals otherwise, and we stop the whole group.
    server.process = subprocess.Popen(
        server.argv, cwd=server.cwd, env=os.environ | quiet_env() | server.env,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=_default_signals)


def _default_signals() -> None:
    # A parent started in the background has SIGINT ignored; children must not inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def wait_ready(server: Server, timeout: float = 180) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process and server.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(server.url + server.ready_path, timeout=2) as r:
                if r.status == 200:
                    if server.after_ready:
                        server.after_ready(server)
                    return True
        except OSError:
            time.sleep(1)
    return False


def stop(servers: list[Server], grace: float = 15) -> None:
    """SIGINT (what each server expects from Ctrl-C), then SIGTERM, then SIGKILL the group."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        running = [s for s in servers if s.process and s.process.poll() is None]
        for s in running:
            try:
                os.killpg(s.process.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        for s in running:
            try:
                s.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
    for s in servers:
        _kill_leftovers(s)


def _kill_leftovers(server: Server) -> None:
    """Children that outlive their leader (e.g. a code server) are still in its group."""
    if server.process:
        try:
            os.killpg(server.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_until_interrupted(servers: list[Server], echo: Callable[[str], None] = print) -> int:
    """Start all, print their URLs, block until Ctrl-C (or one dies), then stop all."""
    log_dir = settings.fraud_home() / "logs"
    # Ctrl-C, or a TERM from a supervisor, both end in the same clean stop (even when the
    # shell that started us set SIGINT to ignored, as shells do for background jobs).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        for s in servers:
            start(s, log_dir)
        for s in servers:
            if not wait_ready(s):
                echo(f"{s.name} did not start; see {log_dir}")
                return 1
            echo(f"{s.name:<12} {s.url}")
        echo("Ctrl-C stops everything.")
        while all(s.process and s.process.poll() is None for s in servers):
            time.sleep(1)
        echo(f"a server stopped unexpectedly; see {log_dir}")
        return 1
    except KeyboardInterrupt:
        echo("stopping...")
        return 0
    finally:
        stop(servers)
