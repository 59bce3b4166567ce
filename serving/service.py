"""BentoML service for the champion fraud model, keeping the handbook's HTTP contract.

Routes (a FastAPI app mounted on the BentoML service, because BentoML's own validation
answers 400 for everything and cannot give the handbook's 422s):

* `POST /predict` (a `TransactionRequest`), `POST /predict_batch` (a `BatchRequest`, up
  to 10,000 items), `GET /health`, `GET /model-info`; their schemas are on /docs.
  BentoML's /healthz, /livez, /readyz and /metrics stay as they are.

Only the service class and its routes live here; request bodies are `serving.schemas`,
body guards and value checks `serving.http_contract`, scoring `serving.scorer`, the
champion `serving.champion`, answers `serving.api_responses`.

Run from the repository root with `bentoml serve serving.service:FraudService`.

Environment (all optional):
* `FRAUD_MODEL_SOURCE`: `registry` (MLflow alias, polled) or `bento` (the model packaged
  in a built Bento). Default: `bento` when the Bento carries a model, else `registry`.
* `FRAUD_CHAMPION_POLL_SECONDS`: how often the alias is re-read (default 30; 0 = never).
* `FRAUD_SERVE_WORKERS`: worker processes (default 1: batching beats processes here).
* `FRAUD_ACCESS_LOG`: `true` to turn BentoML's access log back on (off: ~7 MB/10k calls).
* `FRAUD_HOME`, `MLFLOW_TRACKING_URI`: where state and the registry live (settings.py).
"""

from __future__ import annotations

import gc
import logging
import os
import time

import bentoml
from fastapi import FastAPI, HTTPException, Request
from threadpoolctl import threadpool_limits

from fraud_assets import settings
from fraud_assets.model.loaded import BENTO, REGISTRY
from fraud_assets.model.registry import CHALLENGER_ALIAS, MlflowRegistry
from fraud_assets.monitoring.prediction_log import PredictionLog
from serving import api_responses, bentoml_patches, metrics
from serving.card_lookup import CardLookup
from serving.champion import Canary, ChampionHolder
from serving.feature_lookup import FeatureLookup
from serving.http_contract import GuardedRoute, check_batch_size
from serving.schemas import BatchRequest, TransactionRequest
from serving.scorer import Answerer, NoModel, Shadow, example_requests, score

log = logging.getLogger("fraud_service")
bentoml_patches.cancel_request_timers()  # before BentoML builds the app's middleware

# Readiness waits for readable features (set true in the Bento image, see bentofile.yaml).
REQUIRE_FEATURES = os.environ.get("FRAUD_REQUIRE_FEATURES", "false").lower() in (
    "1", "true", "yes")
# An MLflow tracking server that is down must show in /health within seconds, not after
# MLflow's default 7 retries with backoff (minutes); the loaded model serves meanwhile.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
POLL_SECONDS = float(os.environ.get("FRAUD_CHAMPION_POLL_SECONDS", "30"))
WORKERS = int(os.environ.get("FRAUD_SERVE_WORKERS", "1"))
ACCESS_LOG = os.environ.get("FRAUD_ACCESS_LOG", "false").lower() in ("1", "true", "yes")
# Set by the fraud_bento asset at build time (`bentoml build --arg model_tag=...`) and
# restored by BentoML whenever the built Bento is served.
PACKAGED_TAG: str | None = getattr(bentoml.use_arguments(), "model_tag", None)

app = FastAPI(title="Fraud detection API", version="1.0",
              description="Scores card transactions with the champion model.",
              exception_handlers=api_responses.EXCEPTION_HANDLERS,
              # A body without Content-Type is read as JSON, as it always was.
              strict_content_type=False)
app.router.route_class = GuardedRoute  # size limits and strict JSON while reading bodies


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
        source = os.environ.get("FRAUD_MODEL_SOURCE") or (BENTO if PACKAGED_TAG else REGISTRY)
        lookup = FeatureLookup()
        registry = MlflowRegistry() if source == REGISTRY else None
        warm_up = lambda c: score(c, example_requests(), lookup, record=False)  # noqa: E731
        self.holder = ChampionHolder(registry, PACKAGED_TAG, POLL_SECONDS, warm_up=warm_up)
        # Shadow: the registry's challenger, scored beside the champion on every request
        # (a packaged Bento has no registry, so no challenger); the canary lets it answer.
        self.canary = Canary(registry)
        self.challenger = ChampionHolder(registry, None, POLL_SECONDS, warm_up=warm_up,
                                         alias=CHALLENGER_ALIAS, also=self.canary.refresh,
                                         keep_when_unset=False)
        self.answerer = Answerer(lambda: self.holder.current, lookup,
                                 PredictionLog(settings.predictions_dir()), self._shadow,
                                 on_scored=metrics.record, cards=CardLookup())
        self.holder.start()
        if registry is not None:
            self.canary.refresh()
            self.challenger.start()
        # Millions of long-lived objects (MLflow, Feast, the model) make every full
        # collection a ~0.5 s pause for all requests; frozen, the collector skips them.
        gc.collect()
        gc.freeze()

    def __is_ready__(self) -> bool:
        """A model is loaded, and with FRAUD_REQUIRE_FEATURES (the default inside the image)
        the online store can be read: an orchestrator routes no traffic to a replica that
        would answer with imputed merchant features."""
        if self.holder.current is None:
            return False
        return not REQUIRE_FEATURES or self.answerer.lookup.available()

    def _shadow(self) -> Shadow:
        return Shadow(self.challenger.current, self.canary.percent)

    def _shadow_status(self) -> dict[str, object]:
        champion, challenger = self.holder.current, self.challenger.current
        active = challenger is not None and (champion is None
                                             or challenger.version != champion.version)
        return {"challenger_version": challenger.version if challenger else None,
                "shadow": active, "canary": self.canary.status()}

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.holder.stop()
        self.challenger.stop()
        self.answerer.close()  # in-flight batches finish and get logged

    def _require_model(self) -> None:
        if self.holder.current is None:
            raise HTTPException(503, "no champion model is loaded yet: train and promote "
                                     "one first")

    # -- routes --------------------------------------------------------------------------
    @app.post("/predict")
    async def predict(self, transaction: TransactionRequest,  # type: ignore[valid-type]
                      request: Request) -> api_responses.ApiResponse:
        """Score one transaction; 422 for a missing field or a wrong JSON type, 400 for a
        value outside the contract (with every broken rule)."""
        rid = api_responses.request_id(request)
        payload = await request.json()  # the body as sent (parsed once, cached)
        self._require_model()
        try:
            answered, position = await self.answerer.single(payload, rid)
        except NoModel as exc:
            raise HTTPException(503, str(exc)) from None
        if position in answered.checked.errors:
            raise HTTPException(400, {"message": "Validation failed",
                                      "errors": answered.checked.errors[position],
                                      "input": payload})
        body = api_responses.prediction(answered, answered.position()[position])
        return api_responses.ok({**body, "request_id": rid}, request)

    @app.post("/predict_batch")
    async def predict_batch(self, batch: BatchRequest, request: Request,
                            explain: bool = True) -> api_responses.ApiResponse:
        """Score up to 10,000 transactions; answers in order, a bad item gets its errors.
        `?explain=false` leaves out each answer's `reasons` (bulk scoring)."""
        rid = api_responses.request_id(request)
        items = check_batch_size(batch.transactions)
        if items:
            self._require_model()
        try:
            answered = await self.answerer.batch(items, rid, explain)
        except NoModel as exc:
            raise HTTPException(503, str(exc)) from None
        results = api_responses.batch_results(answered, len(items))
        champion = answered.scored.answering(0) if answered.scored else self.holder.current
        return api_responses.ok({"results": results, "request_id": rid,
                                 "model_version": champion.version if champion else None},
                                request)

    @app.get("/health")
    async def health(self) -> api_responses.ApiResponse:
        """200 while a model is loaded (even if the registry is down: see `warnings`)."""
        champion = self.holder.current
        registry = self.holder.status()
        warnings = self.holder.problems()
        features = self.answerer.lookup.status()
        problem = self.answerer.lookup.problem()
        if problem:
            warnings.append(f"{problem}: merchant features are imputed")
        cards = self.answerer.cards.status() if self.answerer.cards else None
        if self.answerer.cards and self.answerer.cards.problem():
            warnings.append(f"{self.answerer.cards.problem()}: card features are unknown")
        # Degraded: answers still come, from the loaded model, but not as they should.
        status = "unhealthy" if not champion else ("degraded" if warnings else "healthy")
        body = {"status": status,
                "model_name": champion.name if champion else settings.REGISTERED_MODEL_NAME,
                "model_version": champion.version if champion else None,
                "model_source": champion.source if champion else None,
                "registry": registry, "features": features, "cards": cards,
                "prediction_log": self.answerer.predictions.status(),
                "micro_batching": self.answerer.batcher.status(),
                "challenger": self._shadow_status(), "warnings": warnings,
                "uptime_seconds": round(time.monotonic() - self.started, 1)}
        return api_responses.ApiResponse(body, status_code=200 if champion else 503)

    @app.get("/model-info")
    async def model_info(self) -> api_responses.ApiResponse:
        """Registered model name, version, alias, run id, threshold, training window, and
        the decision bands, costs, calibration and score -> false-positive-rate table."""
        champion = self.holder.current
        if champion is None:
            return api_responses.ApiResponse({"detail": "no champion model is loaded yet"},
                                             status_code=503)
        registered = self.holder.status().get("loaded_version_registered")
        return api_responses.ApiResponse({**champion.info(),
                                          "registered": registered is not False,
                                          "warnings": [*self.holder.problems(),
                                                       *champion.warnings()]})
