"""The Feast command line on feature_repo/, with the state folder from FRAUD_HOME."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from fraud_assets.features import online
from fraud_assets.features.store import FEATURE_REPO, MerchantFeatureStore
from tests.support import compute_features, days, validated_day, write_validated

FEAST = str(Path(sys.executable).parent / "feast")


def _feast(*args: str, home: Path | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FRAUD_HOME"}
    if home is not None:
        env["FRAUD_HOME"] = str(home)
    return subprocess.run([FEAST, *args], cwd=FEATURE_REPO, env=env, capture_output=True,
                          text=True, timeout=300)


def test_apply_list_and_materialize_incremental_from_the_command_line(fraud_home):
    applied = _feast("apply", home=fraud_home)
    assert applied.returncode == 0, applied.stderr
    assert (fraud_home / "feast" / "registry.db").exists()
    listed = _feast("feature-views", "list", home=fraud_home)
    assert listed.returncode == 0, listed.stderr
    assert "merchant_stats" in listed.stdout

    # materialize-incremental starts at now - ttl on its first run: use recent days.
    today = dt.datetime.now(dt.UTC).date()
    recent = days(3, today - dt.timedelta(days=3))
    for day in recent:
        write_validated(fraud_home, validated_day(day, 300), day)
    store = MerchantFeatureStore(fraud_home)
    compute_features(fraud_home, store, [*recent[1:], today])
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    loaded = _feast("materialize-incremental", now, home=fraud_home)
    assert loaded.returncode == 0, loaded.stderr
    got = online.online_features(pd.DataFrame({"merchant_category": ["grocery"]}), store)
    assert not got["merchant_features_fallback"].any()
    assert got.loc[0, "merchant_txn_per_day"] > 0


def test_the_command_line_without_fraud_home_says_what_to_set(tmp_path):
    result = _feast("apply", home=None)
    assert result.returncode != 0
    assert "FRAUD_HOME" in result.stderr and "is not set" in result.stderr
    assert not (FEATURE_REPO / "${FRAUD_HOME}").exists()


def test_the_platform_cli_runs_feast_with_its_own_state_folder(fraud_home):
    """`fraud-platform feast ...` needs no FRAUD_HOME typed by hand (default: .fraud/)."""
    cli = str(Path(sys.executable).parent / "fraud-platform")
    done = subprocess.run([cli, "feast", "apply"], capture_output=True, text=True,
                          timeout=300, env=os.environ | {"FRAUD_HOME": str(fraud_home)})
    assert done.returncode == 0, done.stderr
    assert (fraud_home / "feast" / "registry.db").exists()
