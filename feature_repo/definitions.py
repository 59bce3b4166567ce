"""Feast objects of the fraud platform, for the `feast` CLI.

The objects themselves are built by `fraud_assets.features.repo`, the code the Dagster
assets and serving use too, so the CLI and the platform can never disagree on them.
Their offline source lives under $FRAUD_HOME/feast, like the paths in feature_store.yaml.
"""

import os

from fraud_assets import settings
from fraud_assets.features import offline
from fraud_assets.features.names import CARD_FEATURE_VIEW, FEATURE_VIEW
from fraud_assets.features.repo import build_repo

if not os.environ.get("FRAUD_HOME"):
    raise SystemExit(
        "feature_repo/feature_store.yaml reads ${FRAUD_HOME}, which is not set; run e.g. "
        'FRAUD_HOME="$(cd .. && pwd)/.fraud" feast apply')

# Feast creates the registry's folder but not its parents; apply must work on a fresh home.
for _view in (FEATURE_VIEW, CARD_FEATURE_VIEW):
    offline.source_dir(settings.feast_dir(), _view).mkdir(parents=True, exist_ok=True)
_repo = build_repo(settings.feast_dir())
merchant = _repo.entity
merchant_stats_source = _repo.source
merchant_stats = _repo.view
fraud_model_features = _repo.service
card = _repo.card_entity
card_velocity_source = _repo.card_source
card_velocity = _repo.card_view
