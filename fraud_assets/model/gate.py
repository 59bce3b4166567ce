"""The promotion gate: the challenger replaces the champion only if it is at least as good.

Both versions are loaded back from the registry (what would serve, not an in-memory
copy) and scored on the same holdout, each at its own stored threshold. PR-AUC decides
(fraud is rare, so ROC-AUC flatters); an exact PR-AUC tie goes to the higher F1, and the
challenger wins a full tie. With no champion yet, the first model must clear fixed floors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from fraud_assets import contract
from fraud_assets.model import deploy, evaluation, training
from fraud_assets.model.registry import CHALLENGER_ALIAS, MlflowRegistry, RegistryError
from fraud_assets.settings import CHAMPION_ALIAS

PROMOTED, REJECTED, UNCHANGED, HELD = "promoted", "rejected", "unchanged", "held"


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

    @property
    def promoted(self) -> bool:
        return self.decision == PROMOTED


def decide(challenger: dict[str, float], champion: dict[str, float] | None,
           floors: Floors) -> tuple[bool, str]:
    """(promote?, why) from the two models' holdout scores."""
    if champion is None:
        failed = [f"{name} {challenger[name]:.4f} < floor {floor:.4f}"
                  for name, floor in asdict(floors).items() if challenger[name] < floor]
        if failed:
            return False, "first model is below the floors: " + "; ".join(failed)
        return True, "first model; clears the floors " + ", ".join(
            f"{name} >= {floor:.4f}" for name, floor in asdict(floors).items())
    new, old = challenger["pr_auc"], champion["pr_auc"]
    if new > old:
        return True, f"PR-AUC {new:.4f} > champion's {old:.4f}"
    if new < old:
        return False, f"PR-AUC {new:.4f} < champion's {old:.4f}"
    new_f1, old_f1 = challenger["f1"], champion["f1"]
    if new_f1 >= old_f1:
        return True, f"PR-AUC tied at {new:.4f}; F1 {new_f1:.4f} >= champion's {old_f1:.4f}"
    return False, f"PR-AUC tied at {new:.4f}; F1 {new_f1:.4f} < champion's {old_f1:.4f}"


def holdout_scores(registry: MlflowRegistry, version: str,
                   holdout: pd.DataFrame) -> dict[str, float]:
    """A registered version's holdout metrics at its own stored threshold."""
    model = registry.load_model(version)
    proba = training.fraud_probability(model, holdout)
    return evaluation.score(holdout[contract.LABEL].to_numpy(), proba,
                            registry.threshold(version))


def run_gate(registry: MlflowRegistry, holdout: pd.DataFrame, floors: Floors = Floors(),
             challenger: str | None = None, shadow_rule: ShadowRule = ShadowRule(),
             shadow: ShadowEvidence | None = None) -> GateDecision:
    """Score challenger and champion on `holdout`, move `champion` if earned, record why.
    With a `shadow_rule`, replacing a champion also needs the live `shadow` evidence."""
    challenger = str(challenger) if challenger else registry.alias_version(CHALLENGER_ALIAS)
    if challenger is None:
        raise RegistryError(f"model {registry.model_name!r} has no {CHALLENGER_ALIAS!r} "
                            "version; train one first (materialize fraud_model)")
    champion = registry.alias_version(CHAMPION_ALIAS)
    challenger_scores = holdout_scores(registry, challenger, holdout)
    if champion == challenger:
        decision = GateDecision(UNCHANGED, f"version {challenger} is already the champion",
                                challenger, champion, champion, challenger_scores,
                                challenger_scores)
        _record(registry, decision)
        return decision
    champion_scores = holdout_scores(registry, champion, holdout) if champion else None
    promote, reason = decide(challenger_scores, champion_scores, floors)
    verdict = shadow_verdict(shadow_rule, shadow) if promote and champion else None
    outcome = PROMOTED if promote else REJECTED
    if verdict is not None:  # better on the holdout, not (yet) proven on live traffic
        outcome, why = verdict.split(": ", 1)
        promote, reason = False, f"{reason}, but {why}"
    after = deploy.promote(registry, challenger, reason).after if promote else champion
    decision = GateDecision(outcome, reason, challenger, champion, after, challenger_scores,
                            champion_scores, shadow)
    _record(registry, decision)
    return decision


def _record(registry: MlflowRegistry, decision: GateDecision) -> None:
    """The verdict and both scores, as tags on the challenger version."""
    tags: dict[str, object] = {
        "gate_decision": decision.decision,
        "gate_reason": decision.reason,
        "gate_champion_before": decision.champion_before or "none",
        "gate_shadow_evidence": decision.shadow.as_text() if decision.shadow else "none",
    }
    for role, scores in (("challenger", decision.challenger_scores),
                         ("champion", decision.champion_scores)):
        for name in ("roc_auc", "pr_auc", "f1"):
            tags[f"gate_{role}_{name}"] = f"{scores[name]:.6f}" if scores else "none"
    registry.tag_version(decision.challenger, tags)
