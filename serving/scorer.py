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
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fraud_assets import contract
from fraud_assets.model.explain import ExplainError, Reason, explainer_for
from fraud_assets.model.loaded import LoadedModel
from fraud_assets.model.training import model_input
from fraud_assets.monitoring import prediction_log as plog
from serving.feature_lookup import FeatureLookup
from serving.http_contract import Checked, check_items


class NoModel(RuntimeError):
    """No champion has been loaded yet (the pipeline has not produced one)."""


@dataclass(frozen=True)
class Scored:
    """One scoring call: inputs and features as used, probabilities, and who answered."""

    frame: pd.DataFrame  # what the model saw: training.model_input's frame
    probability: np.ndarray
    is_fraud: np.ndarray
    champion: LoadedModel
    feature_source: np.ndarray  # per row: feast, feast_prior or imputed
    scored_at: dt.datetime
    reasons: list[list[Reason]] | None = None  # per row, the top contributions (explain)


def score(champion: LoadedModel | None, requests: pd.DataFrame,
          lookup: FeatureLookup, explain: bool = False) -> Scored:
    """Score valid request rows with one feature lookup and one model call; the model's
    input is built by `training.model_input`, the builder training itself uses.
    `explain`: add each row's reason codes (`model.explain`, one more matrix product)."""
    if champion is None:
        raise NoModel("no champion model is loaded yet")
    features, source = lookup.lookup(requests[contract.MERCHANT_CATEGORY.name])
    frame = model_input(pd.concat([requests.reset_index(drop=True), features], axis=1))
    reasons = None
    try:
        explainer = explainer_for(champion.model) if explain else None
    except ExplainError:  # a model family without exact reasons: answered without them
        explainer = None
    if explainer is not None:
        probability, reasons = explainer.score_and_explain(frame)
    else:
        probability = champion.model.predict_proba(frame)[:, 1].astype("float64")
    return Scored(frame=frame, probability=probability,
                  is_fraud=probability >= champion.threshold, champion=champion,
                  feature_source=source, scored_at=dt.datetime.now(dt.UTC), reasons=reasons)


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


def answer(items: list[Any], champion: LoadedModel | None, lookup: FeatureLookup,
           explain: bool = True) -> Answered:
    """Check every item against the contract, then score the valid ones in one call."""
    checked = check_items(items)
    scored = score(champion, checked.frame, lookup, explain) if checked.rows else None
    return Answered(checked=checked, scored=scored)


def log_batch(answered: Answered, request_ids: list[str], items: list[int],
              endpoint: str) -> plog.Batch:
    """The prediction-log rows of a scored call (lists aligned with its scored rows); the
    log's writer thread turns them into lines."""
    scored = answered.scored
    assert scored is not None
    champion = scored.champion
    return plog.Batch(scored.scored_at, {
        plog.REQUEST_ID: request_ids, plog.ITEM: items, plog.ENDPOINT: endpoint,
        plog.TRANSACTION_ID: answered.checked.transaction_ids, **dict(scored.frame.items()),
        plog.FEATURE_SOURCE: scored.feature_source, plog.SCORE: scored.probability,
        plog.IS_FRAUD: scored.is_fraud, plog.THRESHOLD: champion.threshold,
        plog.MODEL_NAME: champion.name, plog.MODEL_VERSION: champion.version})


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
                 predictions: plog.PredictionLog) -> None:
        self._current = current
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
        answered = answer(items, self._current(), self.lookup)
        rows = answered.checked.rows
        self._log(answered, [ids[i] for i in rows], [0] * len(rows), "predict")
        return answered

    def _batch(self, items: list[Any], request_id: str, explain: bool) -> Answered:
        answered = answer(items, self._current(), self.lookup, explain)
        rows = answered.checked.rows
        self._log(answered, [request_id] * len(rows), list(rows), "predict_batch")
        return answered

    def _log(self, answered: Answered, ids: list[str], items: list[int], endpoint: str) -> None:
        if answered.scored is not None:
            self.predictions.append(log_batch(answered, ids, items, endpoint))
