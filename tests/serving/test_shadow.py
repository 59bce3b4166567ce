"""Shadow scoring and the canary split, in process: both models score every row, the
answer and the log say which one answered."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fraud_assets.model.loaded import LoadedModel
from fraud_assets.monitoring import prediction_log as plog
from serving import scorer
from serving.feature_lookup import FeatureLookup
from tests.serving.support import GOOD


class Constant:
    """A stand-in model answering P(fraud) = p for every row."""

    def __init__(self, p: float) -> None:
        self.p = p

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return np.column_stack([np.full(len(frame), 1 - self.p), np.full(len(frame), self.p)])


def loaded(version: str, p: float, threshold: float = 0.5) -> LoadedModel:
    return LoadedModel(model=Constant(p), name="m", version=version, alias=None, run_id=None,
                       threshold=threshold, training_start=None, training_end=None,
                       features=(), source="registry")


CHAMPION, CHALLENGER = loaded("1", 0.2), loaded("2", 0.9, threshold=0.8)
LOOKUP = FeatureLookup(use_store=False)


def test_the_canary_split_is_sticky_and_near_its_share():
    keys = [f"request-{i}" for i in range(20_000)]
    first = scorer.canary_rows(keys, 10)
    assert (first == scorer.canary_rows(keys, 10)).all()  # the same key, the same side
    assert 0.09 < first.mean() < 0.11
    assert not scorer.canary_rows(keys, 0).any() and scorer.canary_rows(keys, 100).all()
    assert (first <= scorer.canary_rows(keys, 20)).all()  # widening keeps who was in


def test_shadow_scores_both_and_the_champion_answers():
    answered = scorer.answer([GOOD, GOOD], CHAMPION, LOOKUP, shadow=scorer.Shadow(CHALLENGER),
                             keys=["a", "b"])
    scored = answered.scored
    assert scored.probability.tolist() == [0.2, 0.2]
    assert scored.challenger_scores.probability.tolist() == [0.9, 0.9]
    frame = plog.batch_frame(scorer.log_batch(answered, ["a", "b"], [0, 0], "predict"))
    assert frame[plog.ANSWERED_BY].tolist() == ["champion", "champion"]
    assert frame[plog.MODEL_VERSION].tolist() == ["1", "1"]
    assert frame[plog.CHALLENGER_VERSION].tolist() == ["2", "2"]
    assert frame[plog.CHALLENGER_SCORE].tolist() == [0.9, 0.9]
    assert frame[plog.CHALLENGER_IS_FRAUD].tolist() == [True, True]
    assert frame[plog.CHAMPION_IS_FRAUD].tolist() == [False, False]


def test_canary_rows_are_answered_by_the_challenger_at_its_threshold():
    keys = ["k0", "k1", "k2", "k3"]
    canary = scorer.canary_rows(scorer.canary_keys(keys, None), 50)
    assert canary.any() and not canary.all()
    answered = scorer.answer([GOOD] * 4, CHAMPION, LOOKUP,
                             shadow=scorer.Shadow(CHALLENGER, 50), keys=keys)
    scored = answered.scored
    assert scored.probability.tolist() == [0.9 if c else 0.2 for c in canary]
    assert [scored.answering(i).version for i in range(4)] == ["2" if c else "1"
                                                               for c in canary]
    frame = plog.batch_frame(scorer.log_batch(answered, keys, [0] * 4, "predict"))
    assert frame[plog.THRESHOLD].tolist() == [0.8 if c else 0.5 for c in canary]
    assert frame[plog.SCORE].tolist() == scored.probability.tolist()


def test_no_shadow_when_the_challenger_is_the_champion():
    answered = scorer.answer([GOOD], CHAMPION, LOOKUP, shadow=scorer.Shadow(CHAMPION, 100),
                             keys=["a"])
    assert answered.scored.challenger_scores is None
    frame = plog.batch_frame(scorer.log_batch(answered, ["a"], [0], "predict"))
    assert frame[plog.CHALLENGER_VERSION].isna().all()
    assert frame[plog.ANSWERED_BY].tolist() == ["champion"]


def test_the_canary_is_sticky_per_card_and_per_request_without_one():
    cards = [f"card-{i:04d}" for i in range(400)]
    # Each card twice, in different requests: both of its rows meet the same model.
    items = [{**GOOD, "card_id": c} for c in cards * 2] + [GOOD] * 400
    keys = [f"req-{i}" for i in range(len(items))]
    answered = scorer.answer(items, CHAMPION, LOOKUP, explain=False,
                             shadow=scorer.Shadow(CHALLENGER, 50), keys=keys)
    canary = answered.scored.canary
    first, second, cardless = canary[:400], canary[400:800], canary[800:]
    assert (first == second).all() and 0.35 < first.mean() < 0.65
    # By card: the split the hash gives the card ids, not the request ids.
    assert (first == scorer.canary_rows([f"card:{c}" for c in cards], 50)).all()
    assert (first != scorer.canary_rows(scorer.canary_keys(keys[:400], None), 50)).any()
    # Rows without a card split by their request id.
    assert (cardless == scorer.canary_rows(scorer.canary_keys(keys[800:], None), 50)).all()
    assert 0.35 < cardless.mean() < 0.65
