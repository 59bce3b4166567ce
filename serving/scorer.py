"""Vectorised scoring and the micro-batcher that gives single requests the batch path.

Every item goes through `answer`: the contract's value checks, then one feature lookup
and one `predict_proba` for all valid rows, whatever their number. Concurrent /predict
calls are coalesced by `MicroBatcher`: while one batch is being answered the next
requests queue, and the next batch takes all of them. There is no timer, so a lone
request waits for nothing, and no queue limit to overflow into 503s: the number of
waiting rows is bounded by the number of open requests.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import datetime as dt
import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sklearn

from fraud_assets import contract
from fraud_assets.features.freshness import GroupFreshness
from fraud_assets.features.names import CARD_FEATURES, CARD_JOIN_KEY
from fraud_assets.model.explain import (
    ExplainError,
    Inputs,
    Reason,
    explainer_for,
    input_arrays,
)
from fraud_assets.model.loaded import LoadedModel
from fraud_assets.model.training import model_input
from fraud_assets.monitoring import prediction_log as plog
from serving.card_lookup import CardLookup
from serving.feature_lookup import FeatureLookup
from serving.http_contract import Checked, check_items


class NoModel(RuntimeError):
    """No champion has been loaded yet (the pipeline has not produced one)."""


@dataclass(frozen=True)
class ModelScores:
    """One model's answer for every row of a call."""

    model: LoadedModel
    probability: np.ndarray
    is_fraud: np.ndarray
    reasons: list[list[Reason]] | None  # per row, the top contributions (explain)

    @functools.cached_property
    def decision(self) -> np.ndarray:
        """Per row: approve / review / block, at the model's bands."""
        return self.model.bands.decide(self.probability)


@dataclass(frozen=True)
class Scored:
    """One scoring call: inputs and features as used, each model's scores, who answered.

    `champion` scored every row; `challenger` (shadow) too when one is loaded and differs;
    `canary` marks the rows the challenger answers. `probability`, `is_fraud`, `reasons`
    and `versions()` are the answering model's, row by row."""

    frame: pd.DataFrame  # what the model saw: training.model_input's frame
    champion_scores: ModelScores
    challenger_scores: ModelScores | None
    canary: np.ndarray  # bool per row: answered by the challenger
    feature_source: np.ndarray  # per row: feast, feast_prior, imputed or stale
    scored_at: dt.datetime
    # Per feature group (its Feast view's name): age and staleness of each row's values.
    freshness: dict[str, GroupFreshness] = dataclasses.field(default_factory=dict)
    # Per row: the event time used (UTC epoch seconds) and its source (request / arrival).
    event_seconds: np.ndarray | None = None
    event_source: np.ndarray | None = None
    # Per row: what the model got for the card (serving.card_lookup: known, unknown...).
    card_status: np.ndarray | None = None

    def event_time_of(self, row: int) -> dict[str, Any]:
        """Row `row`'s `event_timestamp` (ISO 8601, UTC) and `event_timestamp_source`."""
        if self.event_seconds is None or self.event_source is None:
            return {}
        when = dt.datetime.fromtimestamp(float(self.event_seconds[row]), dt.UTC)
        return {"event_timestamp": when.isoformat().replace("+00:00", "Z"),
                "event_timestamp_source": str(self.event_source[row])}

    def freshness_of(self, row: int) -> dict[str, Any]:
        """Row `row`'s `feature_groups` (age, stale, limit per group) and `stale` (any)."""
        groups = {name: group.row(row) for name, group in self.freshness.items()}
        card = {} if self.card_status is None else {"card_features": str(self.card_status[row])}
        return {"feature_groups": groups,
                "stale": any(bool(g["stale"]) for g in groups.values()), **card}

    @property
    def champion(self) -> LoadedModel:
        return self.champion_scores.model

    def _pick(self, field: str) -> np.ndarray:
        mine = getattr(self.champion_scores, field)
        if self.challenger_scores is None or not self.canary.any():
            return mine
        return np.where(self.canary, getattr(self.challenger_scores, field), mine)

    @property
    def probability(self) -> np.ndarray:
        return self._pick("probability")

    @property
    def is_fraud(self) -> np.ndarray:
        return self._pick("is_fraud")

    @property
    def decision(self) -> np.ndarray:
        """approve / review / block per row, at the answering model's bands."""
        return self._pick("decision")

    @property
    def reasons(self) -> list[list[Reason]] | None:
        mine = self.champion_scores.reasons
        if mine is None or self.challenger_scores is None or not self.canary.any():
            return mine
        theirs = self.challenger_scores.reasons or [[] for _ in mine]
        return [t if c else m for m, t, c in zip(mine, theirs, self.canary, strict=True)]

    def answering(self, row: int) -> LoadedModel:
        """The model that answered row `row`."""
        if self.challenger_scores is not None and self.canary[row]:
            return self.challenger_scores.model
        return self.champion


def _model_scores(model: LoadedModel, frame: pd.DataFrame, inputs: Inputs,
                  explain_rows: bool) -> ModelScores:
    """One model's scores on the call's frame (`inputs`: its columns as arrays, taken once
    for all models). A model of a family `model.explain` knows is scored by its explainer:
    the linear model's own numbers replayed in numpy, the tree model's predict_proba
    (reasons by SHAP); reasons only if `explain_rows`. Any other model through its
    pipeline, without reasons."""
    try:
        explainer = explainer_for(model.model)
    except ExplainError:  # a model family without exact reasons
        explainer = None
    reasons = None
    if explainer is not None:
        probability, reasons = explainer.score(inputs, explain_rows)
    else:
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            probability = model.model.predict_proba(frame)[:, 1].astype("float64")
    return ModelScores(model, probability, probability >= model.threshold, reasons)


def canary_rows(keys: list[str], percent: float) -> np.ndarray:
    """True for the keys (`canary_keys`: card ids, else request ids) whose traffic the
    challenger answers: a stable hash below `percent` of 100, so a key always lands on the
    same side."""
    if percent <= 0:
        return np.zeros(len(keys), dtype=bool)
    return np.array([zlib.crc32(k.encode()) % 10_000 < percent * 100 for k in keys],
                    dtype=bool)


def canary_keys(request_keys: list[str], card_ids: pd.Series | None) -> list[str]:
    """Per row, what the canary split is sticky on: the card id when the row has one (a
    card's transactions all meet the same model, so a card is never judged by both), else
    the request's key. Prefixed so a card id never collides with a request id."""
    if card_ids is None:
        return [f"request:{k}" for k in request_keys]
    return [f"request:{k}" if pd.isna(c) else f"card:{c}"
            for k, c in zip(request_keys, card_ids.tolist(), strict=True)]


def score(champion: LoadedModel | None, requests: pd.DataFrame,
          lookup: FeatureLookup, explain: bool = False,
          challenger: LoadedModel | None = None, canary: np.ndarray | None = None,
          at_seconds: np.ndarray | None = None, record: bool = True,
          at_source: np.ndarray | None = None, at_ns: np.ndarray | None = None,
          cards: CardLookup | None = None, card_ids: pd.Series | None = None) -> Scored:
    """Score valid request rows with one feature lookup and one call per model; the model's
    input is built by `training.model_input`, the builder training itself uses.
    `explain`: add each row's reason codes (`model.explain`: a ranking of the
    contributions the score is summed from).
    `challenger`: scored in shadow on the same frame (not when it is the champion);
    `canary`: rows the challenger answers (bool per row);
    `at_seconds`: each row's event time (UTC epoch seconds; default now), at which the
    features' freshness is judged: stale groups reach the model as missing values;
    `record`: count stale answers for /health (False for a warm-up);
    `at_source`: per row, where `at_seconds` came from (request / arrival), for answers;
    `cards`, `card_ids` (None = no card), `at_ns` (the event times in integer ns): the
    per-card state, read and updated; without them card features are unknown (NaN)."""
    if champion is None:
        raise NoModel("no champion model is loaded yet")
    scored_at = dt.datetime.now(dt.UTC)
    if at_seconds is None:
        at_seconds = np.full(len(requests), scored_at.timestamp())
    merchant = lookup.read(requests[contract.MERCHANT_CATEGORY.name], at_seconds, record)
    features, source = merchant.rows, merchant.sources
    groups = {merchant.freshness.group: merchant.freshness}
    card_status = None
    if cards is not None and card_ids is not None and at_ns is not None:
        card = cards.read(card_ids.to_numpy(dtype=object), np.asarray(at_ns, "int64"),
                          requests[contract.AMOUNT.name].to_numpy(dtype="float64"),
                          requests[contract.MERCHANT_CATEGORY.name].to_numpy(dtype=object),
                          at_seconds)
        card_features, card_status = card.rows, card.status
        groups[card.freshness.group] = card.freshness
    else:
        card_features = pd.DataFrame(np.nan, index=range(len(requests)),
                                     columns=list(CARD_FEATURES))
    frame = model_input(pd.concat([requests.reset_index(drop=True), features, card_features],
                                  axis=1))
    if challenger is not None and challenger.version == champion.version:
        challenger = None
    canary = (np.zeros(len(frame), dtype=bool) if canary is None or challenger is None
              else canary)
    inputs = input_arrays(frame)  # once, for both models
    theirs = (_model_scores(challenger, frame, inputs, explain and bool(canary.any()))
              if challenger is not None else None)
    return Scored(frame=frame,
                  champion_scores=_model_scores(champion, frame, inputs, explain),
                  challenger_scores=theirs, canary=canary, feature_source=source,
                  scored_at=scored_at,
                  freshness=groups, card_status=card_status,
                  event_seconds=np.asarray(at_seconds, dtype="float64"),
                  event_source=at_source)


def example_requests() -> pd.DataFrame:
    """One valid row derived from the contract, to warm a model up before it goes live."""
    row: dict[str, Any] = {}
    for f in contract.REQUEST_FIELDS:
        if f.allowed is not None:
            row[f.name] = f.allowed[0]
        elif f.kind == "int":
            row[f.name] = int(f.low or 0)
        else:
            row[f.name] = float(f.high or 1.0) / 2
    return check_items([row]).frame


@dataclass(frozen=True)
class Answered:
    """The outcome of one list of items: refusals by position, and the scored rest."""

    checked: Checked
    scored: Scored | None  # rows in the order of checked.rows

    def position(self) -> dict[int, int]:
        """Item position -> row in `scored`."""
        return {item: row for row, item in enumerate(self.checked.rows)}


@dataclass(frozen=True)
class Shadow:
    """The challenger to score beside the champion, and the share of traffic it answers."""

    challenger: LoadedModel | None = None
    canary_percent: float = 0.0


def answer(items: list[Any], champion: LoadedModel | None, lookup: FeatureLookup,
           explain: bool = True, shadow: Shadow = Shadow(),
           keys: list[str] | None = None, card_lookup: CardLookup | None = None) -> Answered:
    """Check every item against the contract, then score the valid ones in one call.
    `keys`: per item, its request's key (the request id), what the canary split is sticky
    on for rows without a card id (`canary_keys`);
    `card_lookup`: the per-card state (None: card features unknown, nothing stored)."""
    checked = check_items(items)
    if not checked.rows:
        return Answered(checked=checked, scored=None)
    card_ids = checked.optional.get(CARD_JOIN_KEY)
    canary = (canary_rows(canary_keys([keys[i] for i in checked.rows], card_ids),
                          shadow.canary_percent)
              if keys is not None and shadow.canary_percent > 0 else None)
    at_seconds, at_ns, at_source = checked.event_time()
    scored = score(champion, checked.frame, lookup, explain, shadow.challenger, canary,
                   at_seconds=at_seconds, at_source=at_source, at_ns=at_ns,
                   cards=card_lookup, card_ids=card_ids)
    return Answered(checked=checked, scored=scored)


def log_batch(answered: Answered, request_ids: list[str], items: list[int],
              endpoint: str) -> plog.Batch:
    """The prediction-log rows of a scored call (lists aligned with its scored rows); the
    log's writer thread turns them into lines."""
    scored = answered.scored
    assert scored is not None
    mine, theirs = scored.champion_scores, scored.challenger_scores
    champion = mine.model
    if theirs is None:
        answering: dict[str, Any] = {plog.THRESHOLD: champion.threshold,
                                     plog.MODEL_VERSION: champion.version,
                                     plog.ANSWERED_BY: "champion"}
        shadow: dict[str, Any] = {plog.CHALLENGER_VERSION: None,
                                  plog.CHALLENGER_SCORE: None, plog.CHALLENGER_IS_FRAUD: None}
    else:
        canary = scored.canary
        answering = {
            plog.THRESHOLD: np.where(canary, theirs.model.threshold, champion.threshold),
            plog.MODEL_VERSION: np.where(canary, theirs.model.version, champion.version),
            plog.ANSWERED_BY: np.where(canary, "challenger", "champion")}
        shadow = {plog.CHALLENGER_VERSION: theirs.model.version,
                  plog.CHALLENGER_SCORE: theirs.probability,
                  plog.CHALLENGER_IS_FRAUD: theirs.is_fraud}
    return plog.Batch(scored.scored_at, {
        plog.REQUEST_ID: request_ids, plog.ITEM: items, plog.ENDPOINT: endpoint,
        plog.TRANSACTION_ID: answered.checked.transaction_ids, **dict(scored.frame.items()),
        plog.FEATURE_SOURCE: scored.feature_source, plog.SCORE: scored.probability,
        plog.IS_FRAUD: scored.is_fraud, plog.DECISION: scored.decision,
        plog.MODEL_NAME: champion.name, **answering,
        plog.CHAMPION_VERSION: champion.version, plog.CHAMPION_SCORE: mine.probability,
        plog.CHAMPION_IS_FRAUD: mine.is_fraud, **shadow})


@dataclass
class _Waiting:
    item: dict[str, Any]
    request_id: str
    future: asyncio.Future


class MicroBatcher:
    """Coalesces concurrent single-item requests into one `answer`-like call."""

    def __init__(self, process: Callable[[list[Any], list[str]], Answered],
                 executor: concurrent.futures.Executor, max_items: int = 512) -> None:
        self._process = process
        self._executor = executor
        self._max_items = max_items
        self._waiting: list[_Waiting] = []
        self._draining = False
        self.batches = 0
        self.items = 0
        self.largest = 0

    async def submit(self, item: dict[str, Any], request_id: str) -> tuple[Answered, int]:
        """Answer one item; returns the batch it went in and its position there."""
        loop = asyncio.get_running_loop()
        waiting = _Waiting(item, request_id, loop.create_future())
        self._waiting.append(waiting)
        if not self._draining:
            self._draining = True
            loop.create_task(self._drain())
        return await waiting.future

    def status(self) -> dict[str, Any]:
        mean = self.items / self.batches if self.batches else 0.0
        return {"batches": self.batches, "items": self.items, "mean_batch": round(mean, 2),
                "largest_batch": self.largest}

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch = self._waiting[: self._max_items]
                del self._waiting[: self._max_items]
                items = [w.item for w in batch]
                ids = [w.request_id for w in batch]
                self.batches += 1
                self.items += len(items)
                self.largest = max(self.largest, len(items))
                try:
                    answered = await loop.run_in_executor(self._executor, self._process,
                                                          items, ids)
                except Exception as exc:
                    _settle(batch, error=exc)
                    continue
                _settle(batch, answered=answered)
        finally:
            self._draining = False


def _settle(batch: list[_Waiting], answered: Answered | None = None,
            error: Exception | None = None) -> None:
    for i, waiting in enumerate(batch):
        if waiting.future.done():  # the client went away
            continue
        if error is not None:
            waiting.future.set_exception(error)
        else:
            waiting.future.set_result((answered, i))


class Answerer:
    """Answers items with the current champion on one scoring thread, and logs them.

    One scoring thread: batches run one after another on a warm model, and the event loop
    stays free to parse the next requests meanwhile. Single requests go through the
    `MicroBatcher`; a /predict_batch body is one call. Every scored row is appended to
    the prediction log (its writer thread does the serialising).
    """

    def __init__(self, current: Callable[[], LoadedModel | None], lookup: FeatureLookup,
                 predictions: plog.PredictionLog,
                 shadow: Callable[[], Shadow] = Shadow,
                 on_scored: Callable[..., None] | None = None,
                 cards: CardLookup | None = None) -> None:
        self._current = current
        self.cards = cards  # the per-card state (None: card features unknown)
        self._shadow = shadow
        self.on_scored = on_scored  # metrics: (versions, answered_by, flagged, scores, sources)
        self.lookup = lookup
        self.predictions = predictions
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="score")
        self.batcher = MicroBatcher(self._singles, self.executor)

    async def single(self, item: Any, request_id: str) -> tuple[Answered, int]:
        """Answer one item; returns the batch it went in and its position there."""
        return await self.batcher.submit(item, request_id)

    async def batch(self, items: list[Any], request_id: str, explain: bool = True) -> Answered:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._batch, items, request_id,
                                          explain)

    def close(self) -> None:
        """Finish in-flight calls (their rows get logged), then flush the log."""
        self.executor.shutdown(wait=True)
        self.predictions.close()

    def _singles(self, items: list[Any], ids: list[str]) -> Answered:
        answered = answer(items, self._current(), self.lookup, True, self._shadow(), ids,
                          self.cards)
        rows = answered.checked.rows
        self._log(answered, [ids[i] for i in rows], [0] * len(rows), "predict")
        return answered

    def _batch(self, items: list[Any], request_id: str, explain: bool) -> Answered:
        # A batch request is one key: its card-less items go to the same model.
        answered = answer(items, self._current(), self.lookup, explain, self._shadow(),
                          [request_id] * len(items), self.cards)
        rows = answered.checked.rows
        self._log(answered, [request_id] * len(rows), list(rows), "predict_batch")
        return answered

    def _log(self, answered: Answered, ids: list[str], items: list[int], endpoint: str) -> None:
        scored = answered.scored
        if scored is None:
            return
        batch = log_batch(answered, ids, items, endpoint)
        self.predictions.append(batch)
        if self.on_scored is not None:
            n = len(scored.frame)
            column = batch.columns
            self.on_scored(np.broadcast_to(column[plog.MODEL_VERSION], n),
                           np.broadcast_to(column[plog.ANSWERED_BY], n), scored.is_fraud,
                           scored.probability, np.asarray(scored.feature_source))
