"""The model assets: `fraud_model` trains and registers a challenger, `champion` gates it.

Neither output is a DataFrame: the model lives in MLflow, so both return a
MaterializeResult with links and numbers, and `champion` reads the challenger back from
the registry (alias `challenger`) and the holdout from `training_set`.
"""

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

import pandas as pd
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Config,
    DagsterInstance,
    DagsterRunStatus,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from fraud_assets import contract, names
from fraud_assets.defs.model.resources import MlflowRegistryResource
from fraud_assets.features.names import FEATURES
from fraud_assets.model import evaluation, gate, training
from fraud_assets.model.registry import (
    CHALLENGER_ALIAS,
    LoggedVersion,
    MlflowRegistry,
    RegistryError,
)
from fraud_assets.monitoring import alerts

TRAINING_SET = names.TRAINING_SET


class FraudModelConfig(Config):
    """Training knobs (logged as MLflow params)."""

    validation_fraction: float = training.TrainParams.validation_fraction
    C: float = training.TrainParams.C
    # An Enum in Dagster's config schema: the launchpad offers the families by name.
    model_family: Literal["logistic_regression", "hist_gradient_boosting"] = Field(
        default=training.LOGISTIC_REGRESSION,
        description="The classifier: logistic_regression (exact reason codes) or "
                    "hist_gradient_boosting (reason codes by SHAP's TreeExplainer).")


class ChampionConfig(Config):
    """Floors the first champion must clear on the holdout."""

    floor_roc_auc: float = gate.Floors.roc_auc
    floor_pr_auc: float = gate.Floors.pr_auc
    floor_f1: float = gate.Floors.f1
    min_shadow_days: int = Field(
        default=gate.ShadowRule.min_days, ge=0,
        description="Labelled shadow_report days a challenger needs before it replaces a "
                    "champion (0: the holdout alone decides).")
    max_shadow_f1_loss: float = Field(
        default=gate.ShadowRule.max_f1_loss, ge=0.0,
        description="Largest mean F1 loss against the champion on live traffic allowed.")


@asset(name=names.FRAUD_MODEL, group_name=names.MODEL,
       ins={TRAINING_SET: AssetIn(key=TRAINING_SET)}, kinds={"scikitlearn", "mlflow"})
def fraud_model(context: AssetExecutionContext, config: FraudModelConfig,
                training_set: pd.DataFrame, mlflow_registry: MlflowRegistryResource
                ) -> MaterializeResult:
    """Train on the train split, log the run to MLflow, register a version tagged challenger."""
    registry = mlflow_registry.get_client()
    params = training.TrainParams(validation_fraction=config.validation_fraction, C=config.C,
                                  model_family=config.model_family)
    try:
        train_rows, holdout = training.split_training_set(training_set)
        trained = training.train(train_rows, params)
        labels = holdout[contract.LABEL].to_numpy()
        proba = training.fraud_probability(trained.pipeline, holdout)
        holdout_scores = evaluation.score(labels, proba, trained.threshold)
    except (training.ModelInputError, evaluation.EvaluationError) as exc:
        # Nothing was logged or registered, so `champion` stays where it was.
        raise Failure(description=f"no model was trained or registered: {exc}") from None
    metrics = {**{f"validation_{k}": v for k, v in trained.validation.items()},
               **{f"holdout_{k}": v for k, v in holdout_scores.items()}}
    fingerprint = training.fingerprint(train_rows, params)
    with tempfile.TemporaryDirectory() as tmp:
        plots = evaluation.save_plots(labels, proba, trained.threshold, Path(tmp))
        # A retry after a crash between registering and finishing reuses that version.
        logged = (registry.reuse_unfinished(
                      fingerprint, lambda run_id: _succeeded(context, run_id), context.run_id)
                  or registry.log_training(trained, metrics, plots, context.run_id,
                                           sample=train_rows, fingerprint=fingerprint))
    context.log.info(f"registered version {logged.version} of {registry.model_name} "
                     f"(holdout PR-AUC {holdout_scores['pr_auc']:.4f})")
    return MaterializeResult(metadata=_model_metadata(registry, logged, trained,
                                                      len(holdout), metrics, list(plots)))


@asset(name=names.CHAMPION, group_name=names.MODEL, deps=[fraud_model],
       ins={TRAINING_SET: AssetIn(key=TRAINING_SET)}, kinds={"mlflow"})
def champion(context: AssetExecutionContext, config: ChampionConfig, training_set: pd.DataFrame,
             mlflow_registry: MlflowRegistryResource) -> MaterializeResult:
    """Score challenger and champion on the same holdout; move `champion` only if earned."""
    registry = mlflow_registry.get_client()
    floors = gate.Floors(roc_auc=config.floor_roc_auc, pr_auc=config.floor_pr_auc,
                         f1=config.floor_f1)
    try:
        _, holdout = training.split_training_set(training_set)
        rule = gate.ShadowRule(config.min_shadow_days, config.max_shadow_f1_loss)
        challenger = registry.alias_version(CHALLENGER_ALIAS)
        evidence = (shadow_evidence(context.instance, challenger)
                    if rule.min_days and challenger else None)
        decision = gate.run_gate(registry, holdout, floors, shadow_rule=rule,
                                 shadow=evidence)
    except (training.ModelInputError, RegistryError, evaluation.EvaluationError) as exc:
        raise Failure(description=f"the gate could not decide: {exc}") from None
    context.log.info(f"gate: {decision.decision}, {decision.reason}")
    alerts.post(gate_alert(decision, registry))
    metadata: dict[str, object] = {
        "decision": decision.decision,
        "reason": decision.reason,
        "challenger_version": decision.challenger,
        "champion_before": decision.champion_before or "none",
        "champion_version": decision.champion_after or "none",
        "holdout_rows": len(holdout),
        **_rounded(decision.challenger_scores, prefix="challenger_"),
    }
    if decision.champion_scores is not None:
        metadata.update(_rounded(decision.champion_scores, prefix="champion_"))
    if decision.shadow is not None:
        metadata["shadow_days"] = decision.shadow.days
        metadata["shadow_f1_loss"] = (decision.shadow.f1_loss
                                      if decision.shadow.f1_loss is not None else "n/a")
    if decision.champion_after:
        metadata["champion_model"] = _link(registry.version_link(decision.champion_after))
    return MaterializeResult(metadata=metadata)


def shadow_evidence(instance: DagsterInstance, challenger: str) -> gate.ShadowEvidence:
    """The labelled `shadow_report` days of `challenger` (the latest report per day)."""
    records = instance.fetch_materializations(AssetKey(names.SHADOW_REPORT),
                                              limit=1000).records  # newest first
    losses: dict[str, float] = {}
    for record in records:
        meta = {k: getattr(v, "value", v)
                for k, v in record.asset_materialization.metadata.items()}
        day = record.partition_key or ""
        if (day in losses or meta.get("challenger_versions") != challenger
                or "challenger_f1" not in meta or "champion_f1" not in meta):
            continue
        losses[day] = float(meta["champion_f1"]) - float(meta["challenger_f1"])
    mean = sum(losses.values()) / len(losses) if losses else None
    return gate.ShadowEvidence(days=len(losses), f1_loss=mean)


def gate_alert(decision: gate.GateDecision, registry: MlflowRegistry) -> alerts.Alert:
    """The gate's decision as an alert: what moved (or not), why, both PR-AUCs."""
    facts = {"decision": decision.decision, "challenger": f"v{decision.challenger}",
             "champion before": f"v{decision.champion_before}" if decision.champion_before
             else "none",
             "champion now": f"v{decision.champion_after}" if decision.champion_after
             else "none",
             "challenger PR-AUC": f"{decision.challenger_scores.get('pr_auc', float('nan')):.4f}"}
    if decision.champion_scores:
        facts["champion PR-AUC"] = f"{decision.champion_scores.get('pr_auc', float('nan')):.4f}"
    link = registry.version_link(decision.champion_after or decision.challenger)
    return alerts.Alert(alerts.GATE_DECISION, f"Gate: challenger v{decision.challenger} "
                        f"{decision.decision}", decision.reason, facts, link)


def _succeeded(context: AssetExecutionContext, run_id: str) -> bool:
    """True if Dagster run `run_id` finished successfully (unknown ids: False)."""
    run = context.instance.get_run_by_id(run_id) if run_id else None
    return run is not None and run.status == DagsterRunStatus.SUCCESS


def _model_metadata(registry: MlflowRegistry, logged: LoggedVersion,
                    trained: training.TrainedModel, holdout_rows: int,
                    metrics: Mapping[str, float], plots: list[str]) -> dict[str, object]:
    return {
        "mlflow_run": _link(registry.run_link(logged.experiment_id, logged.run_id)),
        "mlflow_run_id": logged.run_id,
        "model_version": logged.version,
        "model_uri": logged.model_uri,
        "registry": _link(registry.version_link(logged.version)),
        "threshold": trained.threshold,
        "training_window": f"{trained.training_start.isoformat()} .. "
                           f"{trained.training_end.isoformat()}",
        "training_rows": trained.rows,
        "training_fraud_rows": trained.fraud_rows,
        "holdout_rows": holdout_rows,
        "features": ", ".join(FEATURES),
        **_rounded(metrics),
        **{f"plot_{name}": _artifact_path(logged.artifact_uri, f"plots/{name}.png")
           for name in plots},
    }


def _rounded(scores: Mapping[str, float], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{k}": round(float(v), 6) for k, v in scores.items()}


def _link(target: str) -> MetadataValue:
    return MetadataValue.url(target) if target.startswith("http") else MetadataValue.text(target)


def _artifact_path(artifact_uri: str, relative: str) -> MetadataValue:
    """A local file path for a file:// artifact store, else the artifact's URI."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme in ("", "file"):
        return MetadataValue.path(str(Path(unquote(parsed.path)) / relative))
    return MetadataValue.text(f"{artifact_uri.rstrip('/')}/{relative}")
