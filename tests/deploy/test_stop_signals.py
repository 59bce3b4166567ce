"""Stopping `fraud-platform up` (and the API replicas) by signal: a supervisor's TERM to a
process group reaches the command twice under make (make sends its own TERM to its child);
the second must not cut short the stop the first began. Real processes: the launcher in a
subprocess, serving a real `http.server`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

from fraud_assets.orchestration.processes import free_port

LAUNCHER = """
import sys
from pathlib import Path
from fraud_assets.orchestration import servers
from fraud_assets.orchestration.processes import Server
port, log = sys.argv[1], Path(sys.argv[2])
http = Server("http", [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", port],
              f"http://127.0.0.1:{port}", "/", log)
sys.exit(servers.run_until_interrupted([http]))
"""


def test_a_second_term_during_the_stop_is_ignored_and_everything_stops(tmp_path):
    port = free_port()
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(port),
                                 str(tmp_path / "http.log")], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    for line in launcher.stdout:
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            break
    children = psutil.Process(launcher.pid).children(recursive=True)
    assert children, "".join(lines)
    os.kill(launcher.pid, signal.SIGTERM)
    time.sleep(0.005)  # the second lands while the first one's stop runs
    os.kill(launcher.pid, signal.SIGTERM)
    out, _ = launcher.communicate(timeout=60)
    assert launcher.returncode == 0, "".join(lines) + out
    assert "stopping..." in out and "http stopped" in out
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
