"""The MLflow registry as a Dagster resource around the domain's `MlflowRegistry`.

Assets declare `mlflow_registry: MlflowRegistryResource` and call `get_client()`: the
plain registry client that serving and the CLI use too; the configurable fields live here.

Why not dagster-mlflow: its 0.29 release offers the legacy `mlflow_tracking` resource and
the `end_mlflow_on_run_finished` hook (see docs/ARCHITECTURE.md for the exact reasons).
"""

from __future__ import annotations

from dagster import ConfigurableResource, Definitions

from fraud_assets import settings
from fraud_assets.model.registry import EXPERIMENT_NAME, MlflowRegistry

MLFLOW_UI = "http://127.0.0.1:5000"


class MlflowRegistryResource(ConfigurableResource):
    """MLflow tracking + registry of the fraud model. Empty fields resolve from settings."""

    tracking_uri: str = ""  # default: settings.mlflow_tracking_uri() (SQLite in FRAUD_HOME)
    artifact_location: str = ""  # default: settings.mlflow_artifacts_dir(), new experiments
    experiment_name: str = EXPERIMENT_NAME
    model_name: str = settings.REGISTERED_MODEL_NAME
    ui_url: str = ""  # base URL of an MLflow UI for links in the asset metadata

    def get_client(self) -> MlflowRegistry:
        """The registry client for these settings (cheap: it connects on use)."""
        return MlflowRegistry(tracking_uri=self.tracking_uri,
                              artifact_location=self.artifact_location,
                              experiment_name=self.experiment_name,
                              model_name=self.model_name, ui_url=self.ui_url)


defs = Definitions(resources={"mlflow_registry": MlflowRegistryResource(ui_url=MLFLOW_UI)})
