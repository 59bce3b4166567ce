"""The promotion gate: the challenger replaces the champion only if it is at least as good.

Both versions are loaded back from the registry (what would serve, not an in-memory
copy) and scored on the same holdout, each at its own stored threshold and decision bands.
Three criteria are measured and recorded for both:

* `cost_saved`: what the version's review/block bands save on the holdout against
  approving everything (`decisions.realized_costs`: missed fraud at its loss, reviews,
  blocked legitimate customers; review capacity enforced per day), both priced with the
  same costs (the challenger's, stored at training);
* `card_precision_at_k`: the handbook's card precision@k, k = the review capacity per
  day (`decisions.card_precision_at_k_per_day`: each card once a day at its highest
  score; a holdout row without a card id counts as a card of its own), and
  `transaction_precision_at_k`, the same per transaction;
* `pr_auc` (fraud is rare, so ROC-AUC flatters).

The primary criterion (`Criterion`, cost by default) decides; an exact tie goes to the
higher F1, and the challenger wins a full tie. A version registered before decision bands
existed is priced at its threshold (block when is_fraud, no review band), as it serves.
With no champion yet, the first model must clear fixed floors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from fraud_assets import contract
from fraud_assets.model import decisions, deploy, evaluation, training
from fraud_assets.model.registry import CHALLENGER_ALIAS, MlflowRegistry, RegistryError
from fraud_assets.settings import CHAMPION_ALIAS

PROMOTED, REJECTED, UNCHANGED, HELD = "promoted", "rejected", "unchanged", "held"
# The gate's criteria (higher is better for each); the first is the default.
COST_SAVED, PRECISION_AT_K, PR_AUC = "cost_saved", "transaction_precision_at_k", "pr_auc"
CARD_PRECISION_AT_K = "card_precision_at_k"
CRITERIA = (COST_SAVED, CARD_PRECISION_AT_K, PRECISION_AT_K, PR_AUC)
# Recorded as gate_<role>_<name> tags on the challenger version.
RECORDED = ("roc_auc", "pr_auc", "f1", COST_SAVED, CARD_PRECISION_AT_K, PRECISION_AT_K,
            "reviews_per_day")


@dataclass(frozen=True)
class Floors:
    """Minimum holdout quality for the first champion (below the data's ceiling of
    ROC-AUC 0.978 / PR-AUC 0.630 / F1 0.580, above what a broken model reaches)."""

    roc_auc: float = 0.90
    pr_auc: float = 0.45
    f1: float = 0.40


@dataclass(frozen=True)
class ShadowRule:
    """Live evidence a challenger needs before it replaces a champion (off by default):
    at least `min_days` days of shadow scoring with labels, and a mean F1 loss against the
    champion on that same traffic of at most `max_f1_loss`."""

    min_days: int = 0
    max_f1_loss: float = 0.02


@dataclass(frozen=True)
class ShadowEvidence:
    """What the `shadow_report` days say about one challenger."""

    days: int  # labelled days of shadow scoring
    f1_loss: float | None  # mean of champion F1 - challenger F1 over those days

    def as_text(self) -> str:
        loss = "n/a" if self.f1_loss is None else f"{self.f1_loss:+.4f}"
        return f"{self.days} labelled shadow day(s), mean F1 loss {loss}"


def shadow_verdict(rule: ShadowRule, evidence: ShadowEvidence | None) -> str | None:
    """None when the live evidence allows the move, else why not (HELD or REJECTED)."""
    if rule.min_days <= 0:
        return None
    evidence = evidence or ShadowEvidence(0, None)
    if evidence.days < rule.min_days or evidence.f1_loss is None:
        return (f"{HELD}: waiting for shadow evidence ({evidence.days} of {rule.min_days} "
                "labelled day(s))")
    if evidence.f1_loss > rule.max_f1_loss:
        return (f"{REJECTED}: on live traffic the challenger's F1 is {evidence.f1_loss:.4f} "
                f"below the champion's (allowed {rule.max_f1_loss:.4f}, "
                f"{evidence.days} days)")
    return None


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict, with both scores, as recorded in MLflow and Dagster."""

    decision: str  # promoted | rejected | unchanged | held (waiting for shadow evidence)
    reason: str
    challenger: str
    champion_before: str | None
    champion_after: str | None
    challenger_scores: dict[str, float]
    champion_scores: dict[str, float] | None
    shadow: ShadowEvidence | None = None
    criterion: str = COST_SAVED

    @property
    def promoted(self) -> bool:
        return self.decision == PROMOTED


def check_criterion(criterion: str) -> str:
    """`criterion` if it is one of CRITERIA, else a GateError naming them."""
    if criterion not in CRITERIA:
        raise GateError(f"gate criterion must be one of {', '.join(CRITERIA)}; "
                        f"got {criterion!r}")
    return criterion


class GateError(ValueError):
    """A gate setting that cannot be used (the message names it)."""


def decide(challenger: dict[str, float], champion: dict[str, float] | None,
           floors: Floors, criterion: str = COST_SAVED) -> tuple[bool, str]:
    """(promote?, why) from the two models' holdout scores; `criterion` (one of CRITERIA,
    higher is better) decides, F1 breaks an exact tie, the challenger wins a full tie."""
    if champion is None:
        failed = [f"{name} {challenger[name]:.4f} < floor {floor:.4f}"
                  for name, floor in asdict(floors).items() if challenger[name] < floor]
        if failed:
            return False, "first model is below the floors: " + "; ".join(failed)
        return True, "first model; clears the floors " + ", ".join(
            f"{name} >= {floor:.4f}" for name, floor in asdict(floors).items())
    label = {COST_SAVED: "cost saved", CARD_PRECISION_AT_K: "card precision@k",
             PRECISION_AT_K: "transaction precision@k",
             PR_AUC: "PR-AUC"}[check_criterion(criterion)]
    new, old = challenger[criterion], champion[criterion]
    if new > old:
        return True, f"{label} {new:.4f} > champion's {old:.4f}"
    if new < old:
        return False, f"{label} {new:.4f} < champion's {old:.4f}"
    new_f1, old_f1 = challenger["f1"], champion["f1"]
    if new_f1 >= old_f1:
        return True, f"{label} tied at {new:.4f}; F1 {new_f1:.4f} >= champion's {old_f1:.4f}"
    return False, f"{label} tied at {new:.4f}; F1 {new_f1:.4f} < champion's {old_f1:.4f}"


def stored_policy(registry: MlflowRegistry, version: str) -> decisions.DecisionPolicy | None:
    """The decision policy stored with a version (None: registered before bands)."""
    return decisions.DecisionPolicy.from_tags(
        registry.version(version).tags, f"version {version} of {registry.model_name!r}")


def holdout_columns() -> tuple[str, ...]:
    """The columns of a holdout `holdout_scores` reads (the model's inputs, the label, the
    time for per-day capacity, the id to find card ids by, the split): a caller may read
    only these. `card_id`, when the caller adds it, makes card precision@k per card."""
    return (*training.MODEL_INPUTS, contract.LABEL, contract.EVENT_TIMESTAMP.name,
            contract.TRANSACTION_ID.name, training.SPLIT)


def holdout_scores(registry: MlflowRegistry, version: str, holdout: pd.DataFrame,
                   costs: decisions.Costs = decisions.DEFAULT_COSTS) -> dict[str, float]:
    """A registered version's holdout metrics at its own stored threshold and bands:
    `evaluation.score`'s, the `decisions.CostReport` of its bands priced with `costs`, and
    transaction precision@k (k = the review capacity per day)."""
    model = registry.load_model(version)
    proba = training.fraud_probability(model, holdout)
    threshold = registry.threshold(version)
    policy = stored_policy(registry, version)
    bands = policy.bands if policy else decisions.Bands.from_threshold(threshold)
    truth = holdout[contract.LABEL].to_numpy()
    day = contract.utc_days(holdout[contract.EVENT_TIMESTAMP.name])
    report = decisions.realized_costs(truth, proba, holdout[contract.AMOUNT.name].to_numpy(),
                                      day, bands, costs)
    k = costs.review_capacity_per_day
    # The ids as given (Arrow-backed from `card_days.card_ids`): no Python string per row.
    card = (holdout[contract.CARD_ID.name] if contract.CARD_ID.name in holdout.columns
            else np.full(len(holdout), None))
    return {**evaluation.score(truth, proba, threshold), **report.as_metrics(),
            PRECISION_AT_K: decisions.precision_at_k_per_day(truth, proba, day, k),
            CARD_PRECISION_AT_K: decisions.card_precision_at_k_per_day(
                truth, proba, day, card, k),
            "review_threshold": bands.review, "block_threshold": bands.block}


def run_gate(registry: MlflowRegistry, holdout: pd.DataFrame, floors: Floors = Floors(),
             challenger: str | None = None, shadow_rule: ShadowRule = ShadowRule(),
             shadow: ShadowEvidence | None = None, criterion: str = COST_SAVED,
             costs: decisions.Costs | None = None) -> GateDecision:
    """Score challenger and champion on `holdout`, move `champion` if earned, record why.
    With a `shadow_rule`, replacing a champion also needs the live `shadow` evidence.
    `criterion`: one of CRITERIA; `costs`: what both are priced with (None: the costs
    stored with the challenger, else the defaults)."""
    check_criterion(criterion)
    challenger = str(challenger) if challenger else registry.alias_version(CHALLENGER_ALIAS)
    if challenger is None:
        raise RegistryError(f"model {registry.model_name!r} has no {CHALLENGER_ALIAS!r} "
                            "version; train one first (materialize fraud_model)")
    champion = registry.alias_version(CHAMPION_ALIAS)
    if costs is None:
        policy = stored_policy(registry, challenger)
        costs = policy.costs if policy else decisions.DEFAULT_COSTS
    challenger_scores = holdout_scores(registry, challenger, holdout, costs)
    if champion == challenger:
        decision = GateDecision(UNCHANGED, f"version {challenger} is already the champion",
                                challenger, champion, champion, challenger_scores,
                                challenger_scores, criterion=criterion)
        _record(registry, decision)
        return decision
    champion_scores = holdout_scores(registry, champion, holdout, costs) if champion else None
    promote, reason = decide(challenger_scores, champion_scores, floors, criterion)
    verdict = shadow_verdict(shadow_rule, shadow) if promote and champion else None
    outcome = PROMOTED if promote else REJECTED
    if verdict is not None:  # better on the holdout, not (yet) proven on live traffic
        outcome, why = verdict.split(": ", 1)
        promote, reason = False, f"{reason}, but {why}"
    after = deploy.promote(registry, challenger, reason).after if promote else champion
    decision = GateDecision(outcome, reason, challenger, champion, after, challenger_scores,
                            champion_scores, shadow, criterion)
    _record(registry, decision)
    return decision


def _record(registry: MlflowRegistry, decision: GateDecision) -> None:
    """The verdict and both scores, as tags on the challenger version."""
    tags: dict[str, object] = {
        "gate_decision": decision.decision,
        "gate_reason": decision.reason,
        "gate_champion_before": decision.champion_before or "none",
        "gate_shadow_evidence": decision.shadow.as_text() if decision.shadow else "none",
        "gate_criterion": decision.criterion,
    }
    for role, scores in (("challenger", decision.challenger_scores),
                         ("champion", decision.champion_scores)):
        for name in RECORDED:
            tags[f"gate_{role}_{name}"] = f"{scores[name]:.6f}" if scores else "none"
    registry.tag_version(decision.challenger, tags)
