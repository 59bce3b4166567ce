"""kill -9 in the middle of a daily run and of a retraining run, on a real instance.

A reference home runs `fraud-platform pipeline` uninterrupted. A second home, fed the same
landing files, has its pipeline process killed (SIGKILL, no chance to clean up) once while
a day is being processed and once after the retraining run registered its model version;
each time every parquet file already stored must still read (writes are atomic), and
rerunning the same command must finish with the same lake and the same registry as the
reference. Slow (three pipelines with Bento builds): `make test-reliability`.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from fraud_assets import settings
from fraud_assets.features.card_days import SUMS_ASSET, WINDOW_ASSET
from fraud_assets.features.daily_sums import SOURCE_MTIME
from fraud_assets.features.names import CARD_JOIN_KEY
from fraud_assets.model.registry import (
    PREVIOUS_CHAMPION_ALIAS,
    TAG_THRESHOLD,
    TAG_TRAINING_FINGERPRINT,
)
from tests.support import registry_at

pytestmark = pytest.mark.reliability

CLI = str(Path(sys.executable).parent / "fraud-platform")
DAYS, ROWS = 4, 3000
KILLED_DAY = "2025-01-03"  # the third of four days
# Per-card caches made by Arrow's hash aggregation: one row per card, in an order that
# depends on the route (a window rolled forward from D-1 or summed afresh after the kill),
# never read by position. They must hold the same rows, compared in card order.
PER_CARD_TABLES = (f"lake/{SUMS_ASSET}/", f"lake/{WINDOW_ASSET}/")


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, "FRAUD_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}


def command(days: int) -> list[str]:
    return [CLI, "pipeline", "--days", str(days), "--rows", str(ROWS)]


def pipeline(home: Path, days: int = DAYS) -> subprocess.CompletedProcess:
    return subprocess.run(command(days), env=env_for(home), capture_output=True, text=True,
                          timeout=900)


def killed_when(home: Path, condition: Callable[[], bool], days: int = DAYS,
                timeout: float = 600) -> str:
    """Start the pipeline, SIGKILL its whole process group as soon as `condition` holds."""
    proc = subprocess.Popen(command(days),
                            env=env_for(home), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not condition():
            assert proc.poll() is None, "the pipeline ended before the kill point"
            assert time.monotonic() < deadline, "the kill point never came"
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return out


def parquet_files(home: Path) -> dict[str, Path]:
    roots = (settings.lake_dir(home), settings.feast_dir(home))
    return {str(p.relative_to(home)): p for root in roots for p in root.rglob("*.parquet")}


def assert_every_stored_file_reads(home: Path) -> None:
    for path in parquet_files(home).values():
        pq.read_table(path)  # a half-written file would fail here: writes are atomic


def version_count(home: Path) -> int:
    database = settings.mlflow_dir(home) / "mlflow.db"
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("select count(*) from model_versions").fetchone()[0]
    except sqlite3.OperationalError:  # locked, or the schema not created yet
        return 0


def registry_state(home: Path) -> dict:
    registry = registry_at(home)
    champion = registry.alias_version(settings.CHAMPION_ALIAS)
    tags = registry.version(champion).tags if champion else {}
    return {"versions": registry.versions(), "champion": champion,
            "previous": registry.alias_version(PREVIOUS_CHAMPION_ALIAS),
            "threshold": tags.get(TAG_THRESHOLD),
            "fingerprint": tags.get(TAG_TRAINING_FINGERPRINT)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("uninterrupted")
    done = pipeline(home)
    assert done.returncode == 0, done.stdout + done.stderr
    return home


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("crashed")


def test_kill_during_a_daily_run_then_rerun(crashed: Path, reference: Path) -> None:
    lake = settings.lake_dir(crashed)
    out = killed_when(crashed, lambda: any(lake.glob(f"*/{KILLED_DAY}.parquet")))
    assert "retraining_job" not in out
    assert_every_stored_file_reads(crashed)
    rerun = pipeline(crashed)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "lost its process" in rerun.stdout and "marked failed" in rerun.stdout
    assert f"daily_job {KILLED_DAY}: ok" in rerun.stdout


def test_kill_after_the_model_is_registered_then_rerun(crashed: Path, reference: Path) -> None:
    # A fifth (simulated, identical) day in both homes makes the next pipeline retrain;
    # kill it right after it registered its version (before the gate and the Bento).
    again = pipeline(reference, DAYS + 1)
    assert again.returncode == 0, again.stdout + again.stderr
    before = version_count(crashed)
    killed_when(crashed, lambda: version_count(crashed) > before, DAYS + 1)
    assert_every_stored_file_reads(crashed)
    rerun = pipeline(crashed, DAYS + 1)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "retraining_job: ok" in rerun.stdout


def test_the_crashed_home_ends_like_the_uninterrupted_one(crashed: Path,
                                                         reference: Path) -> None:
    assert registry_state(crashed) == registry_state(reference)
    ours, theirs = parquet_files(crashed), parquet_files(reference)
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        # A cache's key holds its source file's mtime: different in each home by nature.
        mine, reference_frame = (pd.read_parquet(p).drop(columns=[SOURCE_MTIME],
                                                         errors="ignore")
                                 for p in (ours[name], theirs[name]))
        if name.startswith(PER_CARD_TABLES):
            mine, reference_frame = (f.sort_values(CARD_JOIN_KEY, ignore_index=True)
                                     for f in (mine, reference_frame))
        pd.testing.assert_frame_equal(mine, reference_frame, obj=name)
    leftovers = [p for p in crashed.rglob("*.tmp")]
    assert leftovers == []
