"""The champion gate on a real MLflow store (SQLite under tmp_path)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fraud_assets import contract
from fraud_assets.model import decisions, deploy, gate, training
from fraud_assets.model.registry import (
    CHALLENGER_ALIAS,
    PREVIOUS_CHAMPION_ALIAS,
    RegistryError,
)
from fraud_assets.settings import CHAMPION_ALIAS
from tests.support import register

NO_FLOORS = gate.Floors(roc_auc=0.0, pr_auc=0.0, f1=0.0)


def test_first_model_becomes_champion_when_it_clears_the_floors(registry, split, good_model):
    logged = register(registry, good_model, split[0])
    assert registry.alias_version(CHALLENGER_ALIAS) == logged.version
    decision = gate.run_gate(registry, split[1])
    assert decision.decision == gate.PROMOTED and decision.champion_before is None
    assert registry.alias_version(CHAMPION_ALIAS) == logged.version
    assert registry.version(logged.version).tags["gate_decision"] == gate.PROMOTED


def test_first_model_below_the_floors_is_not_deployed(registry, split, bad_model):
    register(registry, bad_model, split[0])
    decision = gate.run_gate(registry, split[1])
    assert decision.decision == gate.REJECTED
    assert "below the floors" in decision.reason and "pr_auc" in decision.reason
    assert registry.alias_version(CHAMPION_ALIAS) is None


def test_better_challenger_is_promoted_and_old_champion_kept(registry, split, good_model,
                                                              bad_model):
    old = register(registry, bad_model, split[0]).version
    gate.run_gate(registry, split[1], NO_FLOORS)  # a weak champion, let in without floors
    new = register(registry, good_model, split[0]).version
    decision = gate.run_gate(registry, split[1])
    assert decision.decision == gate.PROMOTED
    assert decision.challenger_scores["pr_auc"] > decision.champion_scores["pr_auc"]
    assert registry.alias_version(CHAMPION_ALIAS) == new
    assert registry.alias_version(PREVIOUS_CHAMPION_ALIAS) == old
    tags = registry.version(new).tags
    assert tags["gate_champion_before"] == old and tags["previous_champion"] == old
    assert float(tags["gate_challenger_pr_auc"]) > float(tags["gate_champion_pr_auc"])


def test_worse_challenger_leaves_the_champion_where_it_was(registry, split, good_model,
                                                           bad_model):
    champion = register(registry, good_model, split[0]).version
    gate.run_gate(registry, split[1])
    worse = register(registry, bad_model, split[0]).version
    decision = gate.run_gate(registry, split[1])
    assert decision.decision == gate.REJECTED and decision.challenger == worse
    assert registry.alias_version(CHAMPION_ALIAS) == champion
    assert registry.alias_version(PREVIOUS_CHAMPION_ALIAS) is None
    assert registry.version(worse).tags["gate_decision"] == gate.REJECTED


def test_rerunning_the_gate_on_the_champion_changes_nothing(registry, split, good_model):
    version = register(registry, good_model, split[0]).version
    gate.run_gate(registry, split[1])
    decision = gate.run_gate(registry, split[1])
    assert decision.decision == gate.UNCHANGED
    assert registry.alias_version(CHAMPION_ALIAS) == version


def test_gate_without_a_challenger_says_what_to_do(registry, split):
    with pytest.raises(RegistryError, match="materialize fraud_model"):
        gate.run_gate(registry, split[1])


@pytest.mark.parametrize(("challenger", "champion", "promote"), [
    ({"pr_auc": 0.61, "f1": 0.50}, {"pr_auc": 0.60, "f1": 0.59}, True),
    ({"pr_auc": 0.59, "f1": 0.59}, {"pr_auc": 0.60, "f1": 0.50}, False),
    ({"pr_auc": 0.60, "f1": 0.56}, {"pr_auc": 0.60, "f1": 0.55}, True),  # tie -> F1
    ({"pr_auc": 0.60, "f1": 0.54}, {"pr_auc": 0.60, "f1": 0.55}, False),
    ({"pr_auc": 0.60, "f1": 0.55}, {"pr_auc": 0.60, "f1": 0.55}, True),  # full tie: newer
])
def test_pr_auc_decides_and_f1_breaks_ties(challenger, champion, promote):
    # PR-AUC is no longer the default criterion (cost saved is): asked for by name.
    assert gate.decide(challenger, champion, gate.Floors(), gate.PR_AUC)[0] is promote


@pytest.mark.parametrize(("criterion", "promote"), [
    (gate.COST_SAVED, True), (gate.PRECISION_AT_K, False), (gate.PR_AUC, False),
    (gate.CARD_PRECISION_AT_K, False)])
def test_the_primary_criterion_is_configurable_and_cost_by_default(criterion, promote):
    challenger = {"cost_saved": 5_000.0, "transaction_precision_at_k": 0.40, "pr_auc": 0.58,
                  "card_precision_at_k": 0.30, "f1": 0.5}
    champion = {"cost_saved": 4_000.0, "transaction_precision_at_k": 0.45, "pr_auc": 0.60,
                "card_precision_at_k": 0.35, "f1": 0.5}
    promoted, reason = gate.decide(challenger, champion, gate.Floors(), criterion)
    assert promoted is promote
    assert gate.decide(challenger, champion, gate.Floors())[0] is True  # the default: cost
    with pytest.raises(gate.GateError, match="one of cost_saved"):
        gate.decide(challenger, champion, gate.Floors(), "accuracy")


def test_the_gate_records_the_three_criteria_at_each_versions_bands(registry, split,
                                                                     good_model, bad_model):
    # The champion was registered before decision bands existed: priced at its threshold.
    old = dataclasses.replace(bad_model, policy=None, decision_metrics={})
    register(registry, old, split[0])
    gate.run_gate(registry, split[1], NO_FLOORS)
    new = register(registry, good_model, split[0]).version
    decision = gate.run_gate(registry, split[1])
    assert decision.decision == gate.PROMOTED and decision.criterion == gate.COST_SAVED
    assert "cost saved" in decision.reason
    mine, theirs = decision.challenger_scores, decision.champion_scores
    assert mine["cost_saved"] > theirs["cost_saved"]
    assert mine["review_threshold"] == good_model.policy.bands.review
    assert theirs["review_threshold"] == theirs["block_threshold"] == bad_model.threshold
    assert mine["reviews_per_day"] <= good_model.policy.costs.review_capacity_per_day
    tags = registry.version(new).tags
    assert tags["gate_criterion"] == "cost_saved"
    for role in ("challenger", "champion"):
        for name in ("cost_saved", "card_precision_at_k", "transaction_precision_at_k",
                     "pr_auc"):
            assert float(tags[f"gate_{role}_{name}"]) == pytest.approx(
                (mine if role == "challenger" else theirs)[name], abs=1e-6)


def test_card_precision_at_k_counts_each_holdout_card_once(registry, split, good_model):
    register(registry, good_model, split[0])
    holdout = split[1].copy()
    # Every row on one of 50 cards: fewer entities than rows, so the two measures differ.
    holdout[contract.CARD_ID.name] = [f"card-{i % 50}" for i in range(len(holdout))]
    scores = gate.holdout_scores(registry, "1", holdout)
    day = holdout[contract.EVENT_TIMESTAMP.name].dt.tz_convert("UTC").dt.floor("D").to_numpy()
    proba = training.fraud_probability(good_model.pipeline, holdout)
    k = decisions.DEFAULT_COSTS.review_capacity_per_day
    assert scores["card_precision_at_k"] == pytest.approx(decisions.card_precision_at_k_per_day(
        holdout[contract.LABEL].to_numpy(), proba, day,
        holdout[contract.CARD_ID.name].to_numpy(dtype=object), k))
    assert scores["card_precision_at_k"] != pytest.approx(scores["transaction_precision_at_k"])
    assert not np.isnan(scores["card_precision_at_k"])
    # Without card ids each row is a card of its own: the transaction precision@k.
    cardless = gate.holdout_scores(registry, "1", holdout.drop(columns=contract.CARD_ID.name))
    assert cardless["card_precision_at_k"] == cardless["transaction_precision_at_k"]


def test_promote_refuses_an_unknown_version(registry, split, good_model):
    register(registry, good_model, split[0])
    with pytest.raises(RegistryError, match="no version '7'.*known versions: 1"):
        deploy.promote(registry, "7", reason="test")


def test_with_a_shadow_rule_a_better_challenger_waits_for_live_evidence(registry, split,
                                                                        good_model, bad_model):
    register(registry, bad_model, split[0])
    gate.run_gate(registry, split[1], floors=gate.Floors(0, 0, 0))
    better = register(registry, good_model, split[0]).version
    rule = gate.ShadowRule(min_days=3, max_f1_loss=0.02)
    held = gate.run_gate(registry, split[1], shadow_rule=rule,
                         shadow=gate.ShadowEvidence(days=1, f1_loss=0.0))
    assert held.decision == gate.HELD and "1 of 3 labelled day(s)" in held.reason
    assert registry.alias_version(CHAMPION_ALIAS) == "1"
    assert registry.version(better).tags["gate_shadow_evidence"].startswith("1 labelled")
    worse_live = gate.run_gate(registry, split[1], shadow_rule=rule,
                               shadow=gate.ShadowEvidence(days=4, f1_loss=0.05))
    assert worse_live.decision == gate.REJECTED and "live traffic" in worse_live.reason
    assert registry.alias_version(CHAMPION_ALIAS) == "1"
    proven = gate.run_gate(registry, split[1], shadow_rule=rule,
                           shadow=gate.ShadowEvidence(days=4, f1_loss=-0.01))
    assert proven.decision == gate.PROMOTED and proven.champion_after == better


def test_without_a_rule_or_for_a_first_champion_no_evidence_is_needed():
    assert gate.shadow_verdict(gate.ShadowRule(), None) is None
    assert gate.shadow_verdict(gate.ShadowRule(min_days=2), None).startswith("held")
