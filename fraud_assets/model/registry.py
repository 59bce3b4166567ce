"""MLflow tracking and the model registry: the one registry client of the platform.

Every training run becomes an MLflow run (params, metrics, plots, signature) and a new
version of the registered model. Which version serves is said by aliases, never stages:
`champion` serves, `challenger` is the newest candidate, `previous-champion` is where a
rollback goes.

Free of Dagster: the code location wraps it in a resource (`defs/model/resources.py`),
serving, the CLI and monitoring use it as is.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.tracking._model_registry import utils as _registry_utils
from mlflow.tracking._tracking_service import utils as _tracking_utils
from sklearn.pipeline import Pipeline

from fraud_assets import settings
from fraud_assets.features.names import FEATURES
from fraud_assets.model import signature, training

CHALLENGER_ALIAS = "challenger"
PREVIOUS_CHAMPION_ALIAS = "previous-champion"
EXPERIMENT_NAME = "fraud-detection"
MODEL_ARTIFACT = "model"
# The decision policy (bands, costs, calibration, score -> FPR table) as a run artifact;
# the same as version tags `decisions.POLICY_TAGS`.
DECISIONS_ARTIFACT = "decisions.json"
# Version tags the gate and serving read back.
TAG_THRESHOLD = "threshold"
TAG_TRAINING_START = "training_start"
TAG_TRAINING_END = "training_end"
TAG_FEATURES = "features"
TAG_DAGSTER_RUN = "dagster_run_id"
TAG_TRAINING_FINGERPRINT = "training_fingerprint"  # training.fingerprint of rows + params
TAG_MODEL_FAMILY = "model_family"  # training.TrainParams.model_family (also a run param)
# numpy.dtype: SimpleImputer keeps the fitted numpy dtype (a dtype carries no code). The
# card features' shape (`training.card_shape`, and the names of its columns): our own
# functions, referenced by name, not code carried in the file.
SKOPS_TRUSTED_TYPES = ["numpy.dtype", "fraud_assets.model.training.card_shape",
                       "fraud_assets.model.training._card_shape_names"]
# The tree family's fitted trees. skops does not trust them by default because their node
# indices are not bounds-checked when predicting: a forged file could crash the server.
# These files are written by our own training into our own registry (whoever can write
# there can already choose which model serves), so the type is trusted for that family.
SKOPS_TREE_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]
_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
_FLUENT_LOCK = threading.RLock()


class RegistryError(ValueError):
    """A registry request that cannot be honoured (unknown version, missing tag...)."""


@dataclass(frozen=True)
class LoggedVersion:
    """Where a training run landed in MLflow."""

    run_id: str
    experiment_id: str
    version: str
    model_uri: str  # models:/<name>/<version>
    artifact_uri: str  # the run's artifact folder (local path or object store)


def pip_requirements() -> list[str]:
    """Pinned from the running interpreter: inferring them costs ~20 s per logged model."""
    return [f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}",
            f"pandas=={pd.__version__}", f"skops=={_version_of('skops')}"]


def _version_of(package: str) -> str:
    from importlib.metadata import version

    return version(package)


@dataclass(frozen=True)
class MlflowRegistry:
    """MLflow tracking + registry for the fraud model. Empty fields resolve from settings."""

    tracking_uri: str = ""  # default: settings.mlflow_tracking_uri() (SQLite in FRAUD_HOME)
    artifact_location: str = ""  # default: settings.mlflow_artifacts_dir(), for new experiments
    experiment_name: str = EXPERIMENT_NAME
    model_name: str = settings.REGISTERED_MODEL_NAME
    ui_url: str = ""  # base URL of an MLflow UI for links, e.g. http://127.0.0.1:5000

    # -- connection ---------------------------------------------------------------------
    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or settings.mlflow_tracking_uri()

    def store_exists(self) -> bool:
        """False for a SQLite store whose file is missing: asking it would create an empty
        one (and run its migrations), which a read must never do. True otherwise."""
        uri = self.resolved_tracking_uri()
        return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).exists()

    def client(self) -> MlflowClient:
        uri = self.resolved_tracking_uri()
        _ensure_sqlite_folder(uri)
        return MlflowClient(tracking_uri=uri, registry_uri=uri)

    @contextlib.contextmanager
    def _fluent(self) -> Iterator[None]:
        """Point MLflow's fluent API at this store for the block, then restore it exactly.

        `mlflow.sklearn.log_model` and `load_model` of `models:/` URIs only read
        process-global state. Setting it also writes MLFLOW_TRACKING_URI/REGISTRY_URI into
        the environment; restoring both keeps other code (and other tests) unaffected.
        """
        uri = self.resolved_tracking_uri()
        _ensure_sqlite_folder(uri)
        with _FLUENT_LOCK:
            env = {key: os.environ.get(key) for key in _URI_ENV}
            tracking, registry = _tracking_utils._tracking_uri, _registry_utils._registry_uri
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            try:
                yield
            finally:
                mlflow.set_tracking_uri(tracking)
                mlflow.set_registry_uri(registry)
                for key, value in env.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value

    def experiment_id(self) -> str:
        """The experiment's id, created with the configured artifact folder on first use."""
        client = self.client()
        found = client.get_experiment_by_name(self.experiment_name)
        if found is not None:
            return found.experiment_id
        return client.create_experiment(self.experiment_name,
                                        artifact_location=self._artifact_location())

    def _artifact_location(self) -> str | None:
        """Where a new experiment keeps artifacts: a URI as given, a path as a file URI.

        Unset: the state folder for a local store; a tracking server's own default else.
        """
        if "://" in self.artifact_location:
            return self.artifact_location
        if not self.artifact_location and _http_base(self.resolved_tracking_uri()):
            return None
        location = Path(self.artifact_location or settings.mlflow_artifacts_dir()).resolve()
        location.mkdir(parents=True, exist_ok=True)
        return location.as_uri()

    # -- logging a training run ---------------------------------------------------------
    def log_training(self, trained: training.TrainedModel, metrics: Mapping[str, float],
                     plots: Mapping[str, Path], dagster_run_id: str,
                     sample: pd.DataFrame, fingerprint: str = "") -> LoggedVersion:
        """Log the run, register a new version, tag it and point `challenger` at it.

        `sample`: rows of training data; a few complete ones become the input example.
        `fingerprint`: `training.fingerprint` of the training, kept as a version tag.
        """
        experiment_id = self.experiment_id()
        with self._fluent():
            with mlflow.start_run(experiment_id=experiment_id, run_name="fraud-model",
                                  tags={TAG_DAGSTER_RUN: dagster_run_id}) as run:
                mlflow.log_params(_run_params(trained))
                mlflow.log_metrics({**dict(metrics), **{
                    f"validation_{k}": v for k, v in trained.decision_metrics.items()}})
                mlflow.log_dict({"model_inputs": list(training.MODEL_INPUTS),
                                 "features": list(FEATURES)}, "features.json")
                if trained.policy is not None:
                    mlflow.log_dict(trained.policy.info(), DECISIONS_ARTIFACT)
                for path in plots.values():
                    mlflow.log_artifact(str(path), artifact_path="plots")
                info = mlflow.sklearn.log_model(
                    trained.pipeline, name=MODEL_ARTIFACT,
                    signature=signature.model_signature(),
                    input_example=signature.input_example(sample),
                    pip_requirements=pip_requirements(),
                    # pyfunc callers get probabilities, not hard labels at 0.5.
                    pyfunc_predict_fn="predict_proba",
                    # Types skops does not trust by default (see SKOPS_TRUSTED_TYPES).
                    skops_trusted_types=SKOPS_TRUSTED_TYPES + (
                        SKOPS_TREE_TYPES if trained.params.model_family
                        == training.HIST_GRADIENT_BOOSTING else []))
            tags = {**_version_tags(trained, dagster_run_id),
                    TAG_TRAINING_FINGERPRINT: fingerprint}
            version = mlflow.register_model(info.model_uri, self.model_name, tags=tags)
        self.client().set_registered_model_alias(self.model_name, CHALLENGER_ALIAS,
                                                 version.version)
        return LoggedVersion(run_id=run.info.run_id, experiment_id=experiment_id,
                             version=str(version.version),
                             model_uri=f"models:/{self.model_name}/{version.version}",
                             artifact_uri=run.info.artifact_uri)

    def reuse_unfinished(self, fingerprint: str, finished: Callable[[str], bool],
                         dagster_run_id: str) -> LoggedVersion | None:
        """The version an interrupted attempt of the same training registered, handed to
        `dagster_run_id` (its tag) and made the `challenger` again; None if there is none.

        `finished(run_id)`: True if that Dagster run succeeded. Versions of runs that
        finished are never reused: each successful training keeps its own version.
        """
        if not fingerprint:
            return None
        found = self.client().search_model_versions(
            f"name='{self.model_name}' and tags.{TAG_TRAINING_FINGERPRINT} = '{fingerprint}'")
        for version in sorted(found, key=lambda v: int(v.version)):
            if finished(version.tags.get(TAG_DAGSTER_RUN, "")):
                continue
            run = self.client().get_run(version.run_id).info
            self.tag_version(version.version, {TAG_DAGSTER_RUN: dagster_run_id})
            self.client().set_registered_model_alias(self.model_name, CHALLENGER_ALIAS,
                                                     version.version)
            return LoggedVersion(run_id=run.run_id, experiment_id=run.experiment_id,
                                 version=str(version.version),
                                 model_uri=f"models:/{self.model_name}/{version.version}",
                                 artifact_uri=run.artifact_uri)
        return None

    def end_unfinished_runs(self, dagster_run_id: str) -> list[str]:
        """Mark the MLflow runs a dead Dagster run left RUNNING as KILLED; their ids."""
        if not self.store_exists():
            return []
        client = self.client()
        experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
        if experiment is None:
            return []
        runs = client.search_runs(
            [experiment.experiment_id],
            f"tags.{TAG_DAGSTER_RUN} = '{dagster_run_id}' and attributes.status = 'RUNNING'")
        for run in runs:
            client.set_terminated(run.info.run_id, status="KILLED")
        return [run.info.run_id for run in runs]

    # -- reading the registry -----------------------------------------------------------
    def version(self, version: str) -> ModelVersion:
        """A registered version; an unknown one is a RegistryError naming the known ones."""
        if not str(version).isdigit():
            raise RegistryError(f"{version!r} is not a model version; versions are numbers "
                                f"(known versions: {', '.join(self.versions()) or 'none'})")
        try:
            return self.client().get_model_version(self.model_name, str(version))
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                raise
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"model {self.model_name!r} has no version {version!r} "
                                f"(known versions: {known})") from None

    def version_exists(self, version: str) -> bool:
        """True while `version` is registered (False once deleted in MLflow)."""
        try:
            self.version(version)
        except RegistryError:
            return False
        return True

    def versions(self) -> list[str]:
        """All registered versions, oldest first."""
        found = self.client().search_model_versions(f"name='{self.model_name}'")
        return sorted((str(v.version) for v in found), key=int)

    def alias_version(self, alias: str) -> str | None:
        """The version an alias points at, or None if the alias (or the model) is unset."""
        try:
            found = self.client().get_model_version_by_alias(self.model_name, alias)
        except MlflowException as exc:
            # An unset alias is INVALID_PARAMETER_VALUE, an unknown model RESOURCE_DOES_NOT_EXIST.
            if exc.error_code in (ErrorCode.Name(RESOURCE_DOES_NOT_EXIST),
                                  ErrorCode.Name(INVALID_PARAMETER_VALUE)):
                return None
            raise
        return str(found.version)

    def set_alias(self, alias: str, version: str | None) -> None:
        """Point an alias at a version; None removes the alias."""
        client = self.client()
        if version is None:
            if self.alias_version(alias) is not None:
                client.delete_registered_model_alias(self.model_name, alias)
            return
        client.set_registered_model_alias(self.model_name, alias, str(version))

    def threshold(self, version: str) -> float:
        """The decision threshold stored with a version at training time."""
        tags = self.version(version).tags
        if TAG_THRESHOLD not in tags:
            raise RegistryError(f"version {version} of {self.model_name!r} has no "
                                f"{TAG_THRESHOLD!r} tag, so it cannot be scored at its threshold")
        return float(tags[TAG_THRESHOLD])

    def load_model(self, version: str) -> Pipeline:
        """The fitted sklearn pipeline of a version, loaded through the registry."""
        self.version(version)  # a clear error for an unknown version before MLflow's own
        with self._fluent():
            return mlflow.sklearn.load_model(f"models:/{self.model_name}/{version}")

    def record_run_facts(self, logged: LoggedVersion, params: Mapping[str, object],
                         metrics: Mapping[str, float]) -> None:
        """Add params and metrics to the training run of `logged` after it was logged, and
        the params as version tags (e.g. the label cut-off of its window, issue 16)."""
        client = self.client()
        for key, value in params.items():
            client.log_param(logged.run_id, key, str(value))
        for key, value in metrics.items():
            client.log_metric(logged.run_id, key, float(value))
        self.tag_version(logged.version, params)

    def tag_version(self, version: str, tags: Mapping[str, object]) -> None:
        client = self.client()
        for key, value in tags.items():
            client.set_model_version_tag(self.model_name, str(version), key, str(value))

    def model_tag(self, key: str) -> str | None:
        try:
            return self.client().get_registered_model(self.model_name).tags.get(key)
        except MlflowException as exc:
            if exc.error_code == ErrorCode.Name(RESOURCE_DOES_NOT_EXIST):
                return None
            raise

    def set_model_tag(self, key: str, value: str) -> None:
        self.client().set_registered_model_tag(self.model_name, key, value)

    # -- links --------------------------------------------------------------------------
    def run_link(self, experiment_id: str, run_id: str) -> str:
        """A URL to the run in the MLflow UI when one is known, else a runs:/ URI."""
        base = self.ui_url or _http_base(self.resolved_tracking_uri())
        if base:
            return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
        return f"runs:/{run_id}"

    def version_link(self, version: str) -> str:
        base = self.ui_url or _http_base(self.resolved_tracking_uri())
        if base:
            return f"{base.rstrip('/')}/#/models/{self.model_name}/versions/{version}"
        return f"models:/{self.model_name}/{version}"


def _run_params(trained: training.TrainedModel) -> dict[str, object]:
    return {
        **trained.params.family_params(),  # model_family and its own hyperparameters
        "threshold": trained.threshold,
        "training_start": trained.training_start.isoformat(),
        "training_end": trained.training_end.isoformat(),
        "training_rows": trained.rows,
        "training_fraud_rows": trained.fraud_rows,
        "features": ",".join(FEATURES),
        "model_inputs": ",".join(training.MODEL_INPUTS),
        **trained.sampling,
        **_policy_params(trained),
    }


def _policy_params(trained: training.TrainedModel) -> dict[str, object]:
    """The costs and bands as run params (shown in the MLflow UI's run page)."""
    if trained.policy is None:
        return {}
    policy = trained.policy
    return {**{f"cost_{k}": v for k, v in asdict(policy.costs).items()},
            "decision_review_threshold": policy.bands.review,
            "decision_block_threshold": policy.bands.block,
            "calibration_method": policy.calibration.method,
            "calibration_a": policy.calibration.a, "calibration_b": policy.calibration.b}


def _version_tags(trained: training.TrainedModel, dagster_run_id: str) -> dict[str, str]:
    return {
        TAG_THRESHOLD: repr(trained.threshold),  # repr keeps every digit of the float
        TAG_TRAINING_START: trained.training_start.isoformat(),
        TAG_TRAINING_END: trained.training_end.isoformat(),
        TAG_FEATURES: ",".join(FEATURES),
        TAG_MODEL_FAMILY: trained.params.model_family,
        TAG_DAGSTER_RUN: dagster_run_id,
        **(trained.policy.to_tags() if trained.policy is not None else {}),
    }


def _http_base(uri: str) -> str:
    return uri if uri.startswith(("http://", "https://")) else ""


def _ensure_sqlite_folder(uri: str) -> None:
    # SQLAlchemy creates the database file but not its folder.
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
