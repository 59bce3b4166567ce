"""The ceiling: a constant JSON answer in the same stack as the fraud service.

Same BentoML service settings, fixes and mounted FastAPI app, but no parsing, no
model, no features, no log: the requests/s of this endpoint is the most the stack can
give on this machine. Started by serving_load.py from the repository root as
`bentoml serve benchmarks.ceiling_service:Ceiling`.
"""

from __future__ import annotations

import gc

import bentoml
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from serving import bentoml_patches

bentoml_patches.cancel_request_timers()  # the same stack: the fraud service has it too
app = FastAPI()
CONSTANT = {"is_fraud": False, "fraud_probability": 0.01, "model_version": "0",
            "threshold": 0.5}


@bentoml.service(name="ceiling", workers=1, traffic={"timeout": 30},
                 logging={"access": {"enabled": False}})
@bentoml.asgi_app(app, path="/")
class Ceiling:
    def __init__(self) -> None:
        gc.collect()
        gc.freeze()  # as the fraud service does after loading

    @app.post("/predict")
    async def predict(self) -> JSONResponse:
        return JSONResponse(CONSTANT)
