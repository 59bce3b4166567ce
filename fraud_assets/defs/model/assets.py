"""The model assets: `fraud_model` trains and registers a challenger, `champion` gates it.

Neither output is a DataFrame: the model lives in MLflow, so both return a
MaterializeResult with links and numbers, and `champion` reads the challenger back from
the registry (alias `challenger`) and the holdout from `training_set`.
"""

import json
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

import numpy as np
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
from fraud_assets.defs.resources import (
    READ_ARROW_TEXT,
    READ_COLUMNS,
    READ_DICTIONARY,
    READ_FILTERS,
    FraudHome,
)
from fraud_assets.features import card_days
from fraud_assets.features.names import FEATURES, HOLDOUT, SPLIT
from fraud_assets.model import decisions, evaluation, gate, training
from fraud_assets.model.registry import (
    CHALLENGER_ALIAS,
    LoggedVersion,
    MlflowRegistry,
    RegistryError,
)
from fraud_assets.monitoring import alerts

TRAINING_SET = names.TRAINING_SET


_COSTS = decisions.DEFAULT_COSTS


class CostsConfig(Config):
    """What each decision outcome costs (`model.decisions.Costs`, the one home of the
    defaults); the bands of a trained version are chosen with these and stored with it."""

    review: float = Field(default=_COSTS.review, ge=0.0,
                          description="Cost of one manual review (analyst time).")
    blocked_legit: float = Field(default=_COSTS.blocked_legit, ge=0.0,
                                 description="Cost of blocking a legitimate transaction.")
    review_capacity_per_day: int = Field(default=_COSTS.review_capacity_per_day, ge=0,
                                         description="Reviews the team can do per day.")
    fraud_loss_share: float = Field(
        default=_COSTS.fraud_loss_share, ge=0.0,
        description="A missed fraud loses this share of its amount (1: the amount) ...")
    fraud_loss_fixed: float = Field(default=_COSTS.fraud_loss_fixed, ge=0.0,
                                    description="... plus this fixed cost.")

    def to_costs(self) -> decisions.Costs:
        return decisions.Costs(**self.model_dump())


class FraudModelConfig(Config):
    """Training knobs (logged as MLflow params) and the costs the bands are chosen by."""

    costs: CostsConfig = Field(default_factory=CostsConfig)
    validation_fraction: float = training.TrainParams.validation_fraction
    C: float = training.TrainParams.C
    # An Enum in Dagster's config schema: the launchpad offers the families by name.
    model_family: Literal["logistic_regression", "hist_gradient_boosting"] = Field(
        default=training.LOGISTIC_REGRESSION,
        description="The classifier: logistic_regression (exact reason codes) or "
                    "hist_gradient_boosting (reason codes by SHAP's TreeExplainer).")


class ChampionConfig(Config):
    """Floors the first champion must clear on the holdout, and what decides."""

    # A Literal: Dagster's config schema refuses any other value at launch.
    criterion: Literal["cost_saved", "card_precision_at_k", "transaction_precision_at_k",
                       "pr_auc"] = Field(
        default=gate.COST_SAVED,
        description=f"Primary gate criterion, one of {', '.join(gate.CRITERIA)} (all are "
                    "recorded); the costs are those stored with the challenger.")

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
       # `split` and the category as categoricals, the ids Arrow-backed: at 30 x 1M rows
       # (7.5M) the process held 3.7 GB after reading with Python strings, 1.5 GB so.
       ins={TRAINING_SET: AssetIn(key=TRAINING_SET, metadata={
           READ_DICTIONARY: [contract.MERCHANT_CATEGORY.name, SPLIT],
           READ_ARROW_TEXT: True})},
       kinds={"scikitlearn", "mlflow"})
def fraud_model(context: AssetExecutionContext, config: FraudModelConfig,
                training_set: pd.DataFrame, mlflow_registry: MlflowRegistryResource
                ) -> MaterializeResult:
    """Train on the train split, log the run to MLflow, register a version tagged challenger."""
    registry = mlflow_registry.get_client()
    params = training.TrainParams(validation_fraction=config.validation_fraction, C=config.C,
                                  model_family=config.model_family)
    try:
        costs = config.costs.to_costs()
        train_rows, holdout = training.split_training_set(training_set)
        trained = training.train(train_rows, params, costs)
        labels = holdout[contract.LABEL].to_numpy()
        proba = training.fraud_probability(trained.pipeline, holdout)
        holdout_scores = {**evaluation.score(labels, proba, trained.threshold),
                          **holdout_decisions(trained, holdout, proba)}
    except (training.ModelInputError, evaluation.EvaluationError,
            decisions.DecisionError) as exc:
        # Nothing was logged or registered, so `champion` stays where it was.
        raise Failure(description=f"no model was trained or registered: {exc}") from None
    metrics = {**{f"validation_{k}": v for k, v in trained.validation.items()},
               **{f"holdout_{k}": v for k, v in holdout_scores.items()}}
    fingerprint = training.fingerprint(train_rows, params, costs)
    with tempfile.TemporaryDirectory() as tmp:
        plots = evaluation.save_plots(labels, proba, trained.threshold, Path(tmp))
        if trained.policy is not None:
            plots[evaluation.RELIABILITY_PLOT] = evaluation.save_reliability_plot(
                labels, proba, trained.policy.calibration.apply(proba), Path(tmp))
        # A retry after a crash between registering and finishing reuses that version.
        logged = (registry.reuse_unfinished(
                      fingerprint, lambda run_id: _succeeded(context, run_id), context.run_id)
                  or registry.log_training(trained, metrics, plots, context.run_id,
                                           sample=train_rows, fingerprint=fingerprint))
    label_facts = record_label_window(context, registry, logged)
    context.log.info(f"registered version {logged.version} of {registry.model_name} "
                     f"(holdout PR-AUC {holdout_scores['pr_auc']:.4f})")
    return MaterializeResult(metadata=_model_metadata(registry, logged, trained,
                                                      len(holdout), metrics, list(plots))
                             | label_facts)


@asset(name=names.CHAMPION, group_name=names.MODEL, deps=[fraud_model],
       # The gate reads only the holdout rows and the columns it scores: at 30 x 1M rows
       # 6M of 7.5M rows, 9 of 12 columns, text as categoricals (`benchmarks.scale`).
       ins={TRAINING_SET: AssetIn(key=TRAINING_SET, metadata={
           READ_COLUMNS: list(gate.holdout_columns()),
           READ_FILTERS: [(SPLIT, "==", HOLDOUT)],
           READ_DICTIONARY: [contract.MERCHANT_CATEGORY.name, SPLIT],
           READ_ARROW_TEXT: True})},
       kinds={"mlflow"})
def champion(context: AssetExecutionContext, config: ChampionConfig, training_set: pd.DataFrame,
             mlflow_registry: MlflowRegistryResource, fraud_home: FraudHome,
             ) -> MaterializeResult:
    """Score challenger and champion on the same holdout; move `champion` only if earned."""
    registry = mlflow_registry.get_client()
    floors = gate.Floors(roc_auc=config.floor_roc_auc, pr_auc=config.floor_pr_auc,
                         f1=config.floor_f1)
    try:
        _, holdout = training.split_training_set(training_set)
        holdout = _with_card_ids(holdout, fraud_home.lake)
        rule = gate.ShadowRule(config.min_shadow_days, config.max_shadow_f1_loss)
        challenger = registry.alias_version(CHALLENGER_ALIAS)
        evidence = (shadow_evidence(context.instance, challenger)
                    if rule.min_days and challenger else None)
        decision = gate.run_gate(registry, holdout, floors, shadow_rule=rule,
                                 shadow=evidence, criterion=config.criterion)
    except (training.ModelInputError, RegistryError, evaluation.EvaluationError,
            decisions.DecisionError, gate.GateError) as exc:
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
        "criterion": decision.criterion,
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


def _with_card_ids(holdout: pd.DataFrame, lake_dir: Path) -> pd.DataFrame:
    """The holdout with each row's validated `card_id` (NA without one), for the gate's
    card precision@k; the training set itself carries no card id."""
    # Days from the distinct UTC midnights: formatting 6M timestamps as text first (30 x 1M
    # holdout) made 6M Python strings to keep six.
    midnights = holdout[contract.EVENT_TIMESTAMP.name].dt.tz_convert("UTC").dt.floor("D")
    days = sorted(day.strftime("%Y-%m-%d") for day in midnights.unique())
    ids = card_days.card_ids(lake_dir, holdout[contract.TRANSACTION_ID.name], days)
    # A shallow copy plus one column: `assign` copied the whole 6M-row holdout (30 x 1M).
    out = holdout.copy(deep=False)
    out[contract.CARD_ID.name] = ids
    return out


def holdout_decisions(trained: training.TrainedModel, holdout: pd.DataFrame,
                      proba: np.ndarray) -> dict[str, float]:
    """The bands priced on the holdout (`decisions.realized_costs`, capacity per day),
    precision@k and the Brier score before/after calibration (empty without a policy)."""
    policy = trained.policy
    if policy is None:
        return {}
    labels = holdout[contract.LABEL].to_numpy()
    day = contract.utc_days(holdout[contract.EVENT_TIMESTAMP.name])
    report = decisions.realized_costs(labels, proba, holdout[contract.AMOUNT.name].to_numpy(),
                                      day, policy.bands, policy.costs)
    return {**report.as_metrics(),
            gate.PRECISION_AT_K: decisions.precision_at_k_per_day(
                labels, proba, day, policy.costs.review_capacity_per_day),
            "brier_raw": decisions.brier(labels, proba),
            "brier_calibrated": decisions.brier(labels, policy.calibration.apply(proba))}


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
    """The gate's decision as an alert: what moved (or not), why, both PR-AUCs and costs
    saved."""
    facts = {"decision": decision.decision, "challenger": f"v{decision.challenger}",
             "champion before": f"v{decision.champion_before}" if decision.champion_before
             else "none",
             "champion now": f"v{decision.champion_after}" if decision.champion_after
             else "none",
             "criterion": decision.criterion}
    for role, scores in (("challenger", decision.challenger_scores),
                         ("champion", decision.champion_scores)):
        for name, label in (("pr_auc", "PR-AUC"), (gate.COST_SAVED, "cost saved")):
            if scores and name in scores:
                facts[f"{role} {label}"] = f"{scores[name]:.4f}"
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
        **_policy_metadata(trained.policy),
        **_rounded(metrics),
        **{f"plot_{name}": _artifact_path(logged.artifact_uri, f"plots/{name}.png")
           for name in plots},
    }


def _policy_metadata(policy: decisions.DecisionPolicy | None) -> dict[str, object]:
    """Bands, costs, calibration and the score -> false-positive-rate table."""
    if policy is None:
        return {}
    table = "\n".join(["| score >= | false-positive rate | recall |", "| --- | --- | --- |",
                       *(f"| {r['score']:.4f} | {r['false_positive_rate']:.4f} | "
                         f"{r['recall']:.4f} |" for r in policy.fpr_table)])
    return {"decision_review_threshold": policy.bands.review,
            "decision_block_threshold": policy.bands.block,
            "decision_costs": MetadataValue.json(asdict(policy.costs)),
            "calibration": MetadataValue.text(json.dumps(asdict(policy.calibration))),
            "score_fpr_table": MetadataValue.md(table)}


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


def record_label_window(context: AssetExecutionContext, registry: MlflowRegistry,
                        logged: LoggedVersion) -> dict[str, object]:
    """Log the label cut-off and maturity of the training window (from the latest
    `training_set` materialization's metadata) to the MLflow run and the version's tags,
    and return them for the asset's metadata ({} if the window recorded none)."""
    from fraud_assets.defs.features.assets import LABEL_CUTOFF, LABEL_MATURITY

    records = context.instance.fetch_materializations(AssetKey(TRAINING_SET), limit=1).records
    if not records:
        return {}
    meta = {k: getattr(v, "value", v)
            for k, v in records[0].asset_materialization.metadata.items()}
    if LABEL_CUTOFF not in meta:
        return {}
    params = {LABEL_CUTOFF: meta[LABEL_CUTOFF], "label_gap_days": meta["label_gap_days"]}
    metrics = {LABEL_MATURITY: float(meta[LABEL_MATURITY]),
               "label_maturity_holdout": float(meta["label_maturity_holdout"])}
    registry.record_run_facts(logged, params, metrics)
    return {**params, **metrics}
