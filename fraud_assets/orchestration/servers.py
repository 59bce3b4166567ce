"""The platform's servers on loopback: the Dagster UI, the MLflow UI, the Evidently UI and
the fraud API.

`run_until_interrupted` starts them, prints their URLs when they answer and stops them
together on Ctrl-C or SIGTERM (the launcher itself is `orchestration.processes`).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from fraud_assets import settings
from fraud_assets.orchestration.instance import ensure_dagster_home
from fraud_assets.orchestration.processes import (
    HOST,
    Server,
    ServerError,
    ignore_interrupts,
    interrupt_on_signals,
    stop_all,
)

BIN = Path(sys.executable).parent
# The fraud API's BentoML service, importable from the repository root.
SERVICE = "serving.service:FraudService"


def _log(name: str) -> Path:
    return settings.state_dir("logs") / f"{name}.log"


def _url(host: str, port: int) -> str:
    # A server bound to every interface still answers its own checks on loopback.
    return f"http://{HOST if host in ('0.0.0.0', '::') else host}:{port}"


def dagster_servers(port: int = 3000, host: str = HOST) -> list[Server]:
    """The Dagster webserver (the UI) and the daemon (sensors, automation, run queue) on the
    workspace and the platform's instance: what `dagster dev` runs, as two processes that
    each stop within seconds on SIGTERM (`dagster dev` took 4-6 s, more under load)."""
    env = {"DAGSTER_HOME": str(ensure_dagster_home())}
    workspace = ["-w", "workspace.yaml"]
    return [Server("Dagster UI", [str(BIN / "dagster-webserver"), *workspace, "-h", host,
                                  "-p", str(port)],
                   _url(host, port), "/server_info", _log("dagster"), env=env,
                   after_ready=_dismiss_nux),
            Server("Dagster daemon", [str(BIN / "dagster-daemon"), "run", *workspace],
                   "", None, _log("dagster-daemon"), env=env)]


def dg_dev_server(port: int = 3000, host: str = HOST) -> Server:
    """`dg dev` (the dg project's own command) on the platform's instance; under the server
    profile it gets the storage URL through the environment like every other process."""
    env = {"DAGSTER_HOME": str(ensure_dagster_home())}
    return Server("Dagster UI (dg dev)", [str(BIN / "dg"), "dev", "--host", host,
                                          "--port", str(port)],
                  _url(host, port), "/server_info", _log("dg-dev"), env=env,
                  after_ready=_dismiss_nux)


def mlflow_server(port: int = 5000, host: str = HOST) -> Server:
    # One worker and no job consumer: the defaults spawn many processes and orphan some.
    return Server("MLflow UI", [str(BIN / "mlflow"), "server",
                                "--backend-store-uri", settings.mlflow_tracking_uri(),
                                "--default-artifact-root", str(settings.mlflow_artifacts_dir()),
                                "--host", host, "--port", str(port), "--workers", "1"],
                  _url(host, port), "/health", _log("mlflow"),
                  env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})


def evidently_server(port: int = 8001, host: str = HOST, home: Path | None = None) -> Server:
    """`evidently ui` on the platform's Evidently workspace (FRAUD_HOME/evidently), its
    project and panels created first so the dashboards are there before the first day.

    Telemetry is off through DO_NOT_TRACK (settings.TELEMETRY_OFF), which the UI's telemetry
    component reads; the UI answers /api/version once it serves (about 30 s under load)."""
    from fraud_assets.monitoring import dashboards  # imports Evidently: only when asked for

    dashboards.open_project(home)
    return Server("Evidently UI", [str(BIN / "evidently"), "ui", "--host", host, "--port",
                                   str(port), "--workspace", str(dashboards.workspace_dir(home))],
                  _url(host, port), "/api/version", _log("evidently"))


def api_server(port: int = 8000, bento: str | None = None, env: dict[str, str] | None = None,
               log_path: Path | None = None, host: str = HOST) -> Server:
    """`bentoml serve` of the fraud API: from source (the registry's champion), or the
    built Bento `bento` (e.g. `fraud_detection:latest`, the champion packaged inside)."""
    target = bento or SERVICE
    return Server("Fraud API", [str(BIN / "bentoml"), "serve", target, "--host", host,
                                "--port", str(port)],
                  _url(host, port), "/readyz", log_path or _log("api"),
                  env={"MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri(),
                       "BENTOML_HOME": str(settings.bentoml_home())} | (env or {}))


def _dismiss_nux(server: Server) -> None:
    """The first visit shows a sign-up modal; mark it seen so the UI opens on the graph."""
    body = json.dumps({"query": "mutation { setNuxSeen }"}).encode()
    request = urllib.request.Request(f"{server.url}/graphql", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=5).read()
    except OSError:
        pass  # cosmetic only


def run_until_interrupted(servers: Sequence[Server], echo: Callable[[str], None] = print) -> int:
    """Start all, print their URLs, block until Ctrl-C (or one dies), then stop all."""
    # Ctrl-C, or a TERM from a supervisor, both end in the same clean stop.
    interrupt_on_signals()
    try:
        for s in servers:
            s.start()
        for s in servers:
            try:
                s.wait_ready()
            except ServerError as exc:
                echo(f"{exc}\n(full log: {s.log_path})")
                return 1
            echo(f"{s.name:<15} {s.url or 'running'}")
        echo("Ctrl-C stops everything.")
        while all(s.running() for s in servers):
            time.sleep(1)
        dead = [s for s in servers if not s.running()]
        echo(f"{dead[0].name} stopped unexpectedly; see {dead[0].log_path}")
        return 1
    except KeyboardInterrupt:
        echo("stopping...")
        return 0
    finally:
        ignore_interrupts()  # nor is a stop after a failure cut short by a Ctrl-C
        stop_all(servers, echo=echo)
