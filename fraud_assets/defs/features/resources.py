"""The Feast store as a Dagster resource (the store itself is `features.store`)."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource, Definitions

from fraud_assets import settings
from fraud_assets.defs.resources import FraudHome
from fraud_assets.features.store import FEATURE_REPO, MerchantFeatureStore


class FeastStore(ConfigurableResource):
    """The platform's Feast store, in the state folder of `fraud_home`.

    `open()` builds the store on demand (about a second), so an asset that may not need
    it (e.g. a drift report without served scores to compare) does not pay for it.
    """

    fraud_home: FraudHome
    repo_dir: str = ""  # the Feast repository folder; empty means feature_repo/ of the checkout

    @property
    def feast_dir(self) -> Path:
        return settings.feast_dir(self.fraud_home.root)

    def open(self) -> MerchantFeatureStore:
        repo_dir = Path(self.repo_dir) if self.repo_dir else FEATURE_REPO
        return MerchantFeatureStore(self.fraud_home.root, repo_dir)


defs = Definitions(resources={"feast_store": FeastStore(fraud_home=FraudHome())})
