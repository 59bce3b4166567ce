"""BentoML service for the champion fraud model, keeping the handbook's HTTP contract.

Routes (a FastAPI app mounted on the BentoML service, because BentoML's own validation
answers 400 for everything and cannot give the handbook's 422s):

* `POST /predict`, `POST /predict_batch` (up to 10,000 items), `GET /health`,
  `GET /model-info`; BentoML's /healthz, /livez, /readyz and /metrics stay as they are.

Run from this folder with `bentoml serve` (see bentofile.yaml), or from the repository
root with `bentoml serve service:FraudService --working-dir serving`.

Environment (all optional):
* `FRAUD_MODEL_SOURCE`: `registry` (MLflow alias, polled) or `bento` (the model packaged
  in a built Bento). Default: `bento` when the Bento carries a model, else `registry`.
* `FRAUD_CHAMPION_POLL_SECONDS`: how often the alias is re-read (default 30; 0 = never).
* `FRAUD_SERVE_WORKERS`: worker processes (default 1: batching beats processes here).
* `FRAUD_ACCESS_LOG`: `true` to turn BentoML's access log back on (off: ~7 MB/10k calls).
* `FRAUD_HOME`, `MLFLOW_TRACKING_URI`: where state and the registry live (settings.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import os
import time
from typing import Any

import api_responses
import bentoml
import bentoml_patches
from champion import ChampionHolder, Registry
from fastapi import FastAPI, Request
from feature_lookup import FeatureLookup
from http_contract import (
    MAX_BATCH_BYTES,
    MAX_PREDICT_BYTES,
    RequestError,
    batch_items,
    parse_json,
    read_body,
    type_errors,
)
from prediction_log import Entry, PredictionLog
from scorer import Answered, MicroBatcher, NoModel, answer, example_requests, score
from threadpoolctl import threadpool_limits

from fraud_assets import settings

log = logging.getLogger("fraud_service")
bentoml_patches.cancel_request_timers()  # before BentoML builds the app's middleware

POLL_SECONDS = float(os.environ.get("FRAUD_CHAMPION_POLL_SECONDS", "30"))
WORKERS = int(os.environ.get("FRAUD_SERVE_WORKERS", "1"))
ACCESS_LOG = os.environ.get("FRAUD_ACCESS_LOG", "false").lower() in ("1", "true", "yes")
# Set by the fraud_bento asset at build time (`bentoml build --arg model_tag=...`) and
# restored by BentoML whenever the built Bento is served.
PACKAGED_TAG: str | None = getattr(bentoml.use_arguments(), "model_tag", None)

app = FastAPI(title="Fraud detection API", version="1.0",
              description="Scores card transactions with the champion model.")


@bentoml.service(
    name="fraud_detection",
    workers=WORKERS,
    traffic={"timeout": 30},
    logging={"access": {"enabled": ACCESS_LOG}},
)
@bentoml.asgi_app(app, path="/")
class FraudService:
    """Serves the champion; see the module docstring for routes and settings."""

    if PACKAGED_TAG:  # declaring it makes `bentoml build` put the model in the Bento
        packaged_model = bentoml.models.BentoModel(PACKAGED_TAG)

    def __init__(self) -> None:
        threadpool_limits(1)  # BLAS pools too: one row must not fan out to every core
        self.started = time.monotonic()
        self.lookup = FeatureLookup()
        self.predictions = PredictionLog(settings.predictions_dir())
        # One scoring thread: batches run one after another on a warm model, and the
        # event loop stays free to parse the next requests meanwhile.
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="score")
        source = os.environ.get("FRAUD_MODEL_SOURCE") or ("bento" if PACKAGED_TAG
                                                           else "registry")
        registry = Registry() if source == "registry" else None
        self.holder = ChampionHolder(registry, PACKAGED_TAG, POLL_SECONDS,
                                     warm_up=lambda c: score(c, example_requests(), self.lookup))
        self.holder.start()
        self.batcher = MicroBatcher(self._answer_singles, self.executor)
        # Millions of long-lived objects (MLflow, Feast, the model) make every full
        # collection a ~0.5 s pause for all requests; frozen, the collector skips them.
        gc.collect()
        gc.freeze()

    def __is_ready__(self) -> bool:
        return self.holder.current is not None

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.holder.stop()
        self.executor.shutdown(wait=True)  # in-flight batches finish and get logged
        self.predictions.close()

    # -- scoring (runs on the scoring thread) -------------------------------------------
    def _answer_singles(self, items: list[Any], ids: list[str]) -> Answered:
        answered = answer(items, self.holder.current, self.lookup)
        rows = answered.checked.rows
        self._log(answered, [ids[i] for i in rows], [0] * len(rows), "predict")
        return answered

    def _answer_batch(self, items: list[Any], rid: str) -> Answered:
        answered = answer(items, self.holder.current, self.lookup)
        rows = answered.checked.rows
        self._log(answered, [rid] * len(rows), list(rows), "predict_batch")
        return answered

    def _log(self, answered: Answered, ids: list[str], items: list[int], endpoint: str) -> None:
        if answered.scored is not None:
            self.predictions.append(Entry(answered.scored, ids, items,
                                          answered.checked.transaction_ids, endpoint))

    # -- routes --------------------------------------------------------------------------
    @app.post("/predict")
    async def predict(self, request: Request) -> api_responses.ApiResponse:
        """Score one transaction: `{"amount", "hour", "day_of_week", "merchant_category"}`."""
        started = time.perf_counter()
        rid = api_responses.request_id(request)
        try:
            payload = parse_json(await read_body(
                request.stream(), request.headers.get("content-length"), MAX_PREDICT_BYTES))
            errors = type_errors(payload)
            if errors:
                raise RequestError(422, errors)
            self._require_model()
            answered, position = await self.batcher.submit(payload, rid)
        except RequestError as exc:
            return api_responses.error(exc, rid)
        except NoModel as exc:
            return api_responses.error(RequestError(503, str(exc)), rid)
        if position in answered.checked.errors:
            return api_responses.error(RequestError(400, {
                "message": "Validation failed", "errors": answered.checked.errors[position],
                "input": payload}), rid)
        body = api_responses.prediction(answered, answered.position()[position])
        return api_responses.ok({**body, "request_id": rid}, rid, started)

    @app.post("/predict_batch")
    async def predict_batch(self, request: Request) -> api_responses.ApiResponse:
        """Score up to 10,000 transactions: `{"transactions": [...]}`, answers in order."""
        started = time.perf_counter()
        rid = api_responses.request_id(request)
        try:
            payload = parse_json(await read_body(
                request.stream(), request.headers.get("content-length"), MAX_BATCH_BYTES))
            items = batch_items(payload)
            if items:
                self._require_model()
            loop = asyncio.get_running_loop()
            answered = await loop.run_in_executor(self.executor, self._answer_batch, items, rid)
        except RequestError as exc:
            return api_responses.error(exc, rid)
        except NoModel as exc:
            return api_responses.error(RequestError(503, str(exc)), rid)
        results = api_responses.batch_results(answered, len(items))
        champion = answered.scored.champion if answered.scored else self.holder.current
        return api_responses.ok({"results": results, "request_id": rid,
                                 "model_version": champion.version if champion else None},
                                rid, started)

    @app.get("/health")
    async def health(self) -> api_responses.ApiResponse:
        """200 while a model is loaded (even if the registry is down: see `warnings`)."""
        champion = self.holder.current
        registry = self.holder.status()
        warnings = []
        if registry.get("reachable") is False:
            warnings.append(f"model registry unreachable ({registry['last_error']}); "
                            "serving the model already loaded")
        features = self.lookup.status()
        if features["source"] != "feast" or features["failing"]:
            warnings.append("online feature store not available: merchant features are "
                            f"imputed ({features['last_error'] or 'module not installed'})")
        body = {"status": "healthy" if champion else "unhealthy",
                "model_name": champion.name if champion else settings.REGISTERED_MODEL_NAME,
                "model_version": champion.version if champion else None,
                "model_source": champion.source if champion else None,
                "registry": registry, "features": features,
                "prediction_log": self.predictions.status(),
                "micro_batching": self.batcher.status(), "warnings": warnings,
                "uptime_seconds": round(time.monotonic() - self.started, 1)}
        return api_responses.ApiResponse(body, status_code=200 if champion else 503)

    @app.get("/model-info")
    async def model_info(self) -> api_responses.ApiResponse:
        """Registered model name, version, alias, run id, threshold, training window."""
        champion = self.holder.current
        if champion is None:
            return api_responses.ApiResponse({"detail": "no champion model is loaded yet"},
                                             status_code=503)
        return api_responses.ApiResponse(champion.info())

    def _require_model(self) -> None:
        if self.holder.current is None:
            raise NoModel("no champion model is loaded yet: train and promote one first")
