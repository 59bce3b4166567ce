"""Run `bentoml serve` as a real subprocess on a free loopback port, and stop it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from fraud_assets import settings

SERVING_DIR = settings.REPO_ROOT / "serving"
BIN = Path(sys.executable).parent
QUIET = {"BENTOML_DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true",
         "FEAST_USAGE": "False", "DO_NOT_TRACK": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class BentoServer:
    """`target` is a service import path (with `working_dir`) or a Bento tag; `env` is
    added to this process's environment."""

    target: str
    env: dict[str, str]
    log_path: Path
    working_dir: Path | None = None
    ready_path: str = "/readyz"  # /healthz for a server that starts without a model
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> BentoServer:
        argv = [str(BIN / "bentoml"), "serve", self.target, "--host", "127.0.0.1",
                "--port", str(self.port)]
        if self.working_dir is not None:  # from source, not a built Bento
            argv += ["--working-dir", str(self.working_dir)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, env=os.environ | QUIET | self.env,
                                            stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}{self.ready_path}", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"bentoml serve not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (BentoML's graceful shutdown runs the service's shutdown hook)."""
        if self.process is None or self.process.poll() is not None:
            return
        children = psutil.Process(self.process.pid).children(recursive=True)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for child in children:  # workers live in their own process groups
            if child.is_running():
                child.kill()


def server_env(home: Path, poll_seconds: float) -> dict[str, str]:
    """A server whose state and registry are those of `home`."""
    return {"FRAUD_HOME": str(home),
            "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
            "BENTOML_HOME": str(home.parent / f"{home.name}-bentoml"),
            "FRAUD_CHAMPION_POLL_SECONDS": str(poll_seconds)}


def running_server(home: Path, poll_seconds: float,
                   ready_path: str = "/readyz") -> Iterator[BentoServer]:
    """For a module-scoped fixture: one server from source for all tests of a module."""
    server = BentoServer("service:FraudService", server_env(home, poll_seconds),
                         home / "serve.log", working_dir=SERVING_DIR,
                         ready_path=ready_path).start()
    try:
        yield server
    finally:
        server.stop()
