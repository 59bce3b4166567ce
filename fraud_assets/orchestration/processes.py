"""The one process launcher: start a server on loopback, wait until it answers, stop it.

Used by `fraud-platform up` / `serve` (the Dagster UI, the MLflow UI, the fraud API) and
by the tests and benchmarks that need a real `bentoml serve`. Each server runs in its own
process group (servers started from a script ignore SIGINT/SIGTERM otherwise, see
shared/STACK.md), and `stop` escalates SIGINT -> SIGTERM -> SIGKILL on the whole group,
then kills descendants that moved to groups of their own (BentoML's workers do).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from fraud_assets import settings

HOST = "127.0.0.1"
# SIGTERM is what a supervisor (or `podman stop`) sends, and every server here stops on it
# within seconds; SIGKILL only for what is still there after the grace period.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGKILL)


class ServerError(RuntimeError):
    """A server exited or did not answer in time; the message ends with its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A command that serves HTTP on `url` and answers 200 on `ready_path` once ready
    (`ready_path` None: a background process, ready once it is still running after a
    moment, e.g. the Dagster daemon).

    `env` is added to this process's environment (telemetry is already off there, see
    settings.disable_telemetry); `log_path` receives stdout and stderr.
    """

    name: str
    argv: list[str]
    url: str
    ready_path: str | None
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = settings.REPO_ROOT
    after_ready: Callable[[Server], None] | None = None
    process: subprocess.Popen | None = None
    _descendants: list[psutil.Process] = field(default_factory=list, repr=False)

    def start(self) -> Server:
        """Start the process in its own session; returns self (not waiting for readiness)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, cwd=self.cwd, env=os.environ | self.env, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_default_signals)
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Block until `ready_path` answers 200; ServerError if it exits or times out."""
        deadline = time.monotonic() + timeout
        if self.ready_path is None:
            time.sleep(1.0)
            if self.running():
                self._remember_descendants()
                return
        while time.monotonic() < deadline:
            if not self.running():
                code = self.process.returncode if self.process else None
                raise ServerError(f"{self.name} exited (code {code}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as answer:
                    if answer.status == 200:
                        self._remember_descendants()
                        if self.after_ready:
                            self.after_ready(self)
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise ServerError(f"{self.name} did not answer {self.ready_path} within {timeout:.0f} s:"
                          f"\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _remember_descendants(self) -> None:
        # Workers may start their own sessions: remember them while the leader lives.
        try:
            self._descendants = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            self._descendants = []

    def stop(self, grace: float = 8.0) -> None:
        """Stop the server and everything it started (see `stop_all`)."""
        stop_all([self], grace)


def interrupt_on_signals() -> None:
    """From now on the first Ctrl-C or SIGTERM raises KeyboardInterrupt (even when the
    shell that started us set SIGINT to ignored, as shells do for background jobs), and
    every later one is ignored: it must not cut short the stop the first one began.
    Why: `make demo` stopped by a supervisor's TERM to its process group got it twice
    (make sends its own TERM to its child), and the second one, landing in the stop,
    ended `fraud-platform up` with exit 130 and its "stopping..." line cut. The stop
    ends in SIGKILL by itself (`stop_all`), so ignoring later signals cannot hang it."""
    signal.signal(signal.SIGINT, _interrupt_once)
    signal.signal(signal.SIGTERM, _interrupt_once)


def ignore_interrupts() -> None:
    """Ctrl-C and SIGTERM ignored from now on: a stop under way (which ends in SIGKILL by
    itself) runs to its end. For the rest of a command's life only: nothing restores them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _interrupt_once(signum: int, frame: object) -> None:
    ignore_interrupts()
    raise KeyboardInterrupt


def _default_signals() -> None:
    # A parent started in the background has SIGINT ignored; children must not inherit that.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stop_all(servers: Sequence[Server], grace: float = 8.0,
             echo: Callable[[str], None] | None = None) -> None:
    """SIGTERM the groups, then SIGKILL whatever is left after `grace` seconds (for all
    servers together, so a container stops within its engine's 10 s); descendants that
    outlive their leader (a code server, a BentoML worker) are killed last. `echo` hears
    how long each server took, or that it had to be killed."""
    started = time.monotonic()
    for sig in STOP_SIGNALS:
        running = [s for s in servers if s.running()]
        for s in running:
            _signal_group(s, sig)
        deadline = time.monotonic() + grace
        for s in running:
            try:
                s.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                continue
            if echo:
                how = "stopped" if sig != signal.SIGKILL else "killed after the grace period,"
                echo(f"{s.name} {how} in {time.monotonic() - started:.1f}s")
    for s in servers:
        if s.process is not None:
            _signal_group(s, signal.SIGKILL)
        for child in s._descendants:
            try:
                child.kill()
            except psutil.Error:
                pass


def _signal_group(server: Server, sig: signal.Signals) -> None:
    try:
        os.killpg(server.process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# -- tools and detached servers (the server profile's PostgreSQL, Redis, MLflow server) ----
def as_user(argv: Sequence[str], user: str | None) -> list[str]:
    """`argv` run as `user` through runuser (only root may switch), or as is."""
    return ["runuser", "-u", user, "--", *argv] if user else list(argv)


def run_tool(argv: Sequence[str], user: str | None = None, timeout: float = 120.0,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command to completion (output captured, never raises on its exit code); as
    `user` when given (runuser). TimeoutExpired after `timeout` seconds."""
    return subprocess.run(as_user(argv, user), capture_output=True, text=True, timeout=timeout,
                          env=os.environ | (env or {}), preexec_fn=_default_signals)


@dataclass
class Detached:
    """A server that outlives the command that started it (`fraud-platform servers start`
    returns while it runs): its pid is kept in `pid_file`, its output in `log_path`, and
    any later command stops it by that pid (SIGTERM to its process group, then SIGKILL)."""

    name: str
    argv: list[str]
    pid_file: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def start(self) -> int:
        """Start in a session of its own; returns the pid (not waiting for readiness)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            process = subprocess.Popen(
                self.argv, cwd=settings.REPO_ROOT, env=os.environ | self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_default_signals)
        self.pid_file.write_text(str(process.pid))
        return process.pid

    def pid(self) -> int | None:
        """The pid if the process is alive, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            return pid if proc.status() != psutil.STATUS_ZOMBIE else None
        except psutil.Error:
            return None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace: float = 10.0) -> bool:
        """SIGTERM its process group, SIGKILL what is left after `grace` s; False if it was
        not running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        try:
            group = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        except psutil.Error:
            group = []
        for sig in STOP_SIGNALS:
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            _, alive = psutil.wait_procs(group, timeout=grace)
            if not alive:
                break
        for proc in group:  # descendants that moved to groups of their own
            try:
                proc.kill()
            except psutil.Error:
                pass
        self.pid_file.unlink(missing_ok=True)
        return True
