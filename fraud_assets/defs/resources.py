"""Resources shared by the assets: where the platform's state lives."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from fraud_assets import settings


class FraudHome(ConfigurableResource):
    """The state folder (FRAUD_HOME). Empty means: resolve from the environment."""

    path: str = ""

    @property
    def root(self) -> Path:
        return Path(self.path).resolve() if self.path else settings.fraud_home()

    @property
    def landing(self) -> Path:
        return settings.landing_dir(self.root)

    @property
    def lake(self) -> Path:
        return settings.lake_dir(self.root)

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"
