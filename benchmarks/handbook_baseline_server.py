"""The handbook's validated FastAPI server, kept as the serving baseline.

A random forest with `n_jobs=-1` behind uvicorn with one worker: every single-row call
fans out to a thread pool over all cores, which is what makes it slow under concurrency.
Same request contract (pydantic types -> 422, value rules -> 400); no feature store and
no prediction log, so it does less work per request than the platform's service.

    python -m benchmarks.handbook_baseline_server --port 8001    # loopback only
"""

from __future__ import annotations

import argparse
import datetime as dt

import pandas as pd
import uvicorn
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sklearn.ensemble import RandomForestClassifier

from fraud_assets import contract, simulator

CATEGORIES = list(contract.MERCHANT_CATEGORIES)


class Transaction(BaseModel):
    amount: float
    hour: int
    day_of_week: int
    merchant_category: str


def encode(frame: pd.DataFrame) -> pd.DataFrame:
    onehot = pd.get_dummies(pd.Categorical(frame["merchant_category"], categories=CATEGORIES),
                            prefix="cat", dtype=float)
    return pd.concat([frame[["amount", "hour", "day_of_week"]].reset_index(drop=True),
                      onehot], axis=1)


def train(days: int = 5, rows: int = 5_000) -> RandomForestClassifier:
    frame = pd.concat([simulator.generate_day(simulator.DayPlan(
        day=dt.date(2025, 1, 1) + dt.timedelta(days=i), rows=rows)) for i in range(days)])
    model = RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=42)
    return model.fit(encode(frame), frame[contract.LABEL])


def validate(txn: Transaction) -> list[str]:
    errors = []
    if not 0 < txn.amount <= contract.AMOUNT_MAX:
        errors.append(f"amount must be > 0 and <= {contract.AMOUNT_MAX:g}")
    if not 0 <= txn.hour <= 23:
        errors.append("hour must be between 0 and 23")
    if not 0 <= txn.day_of_week <= 6:
        errors.append("day_of_week must be between 0 and 6")
    if txn.merchant_category not in CATEGORIES:
        errors.append(f"merchant_category must be one of {CATEGORIES}")
    return errors


app = FastAPI(title="Handbook fraud API (baseline)")
MODEL = train()


@app.post("/predict")
def predict(txn: Transaction) -> dict:
    errors = validate(txn)
    if errors:
        raise HTTPException(status_code=400, detail={
            "message": "Validation failed", "errors": errors, "input": txn.model_dump()})
    proba = float(MODEL.predict_proba(encode(pd.DataFrame([txn.model_dump()])))[0, 1])
    return {"is_fraud": proba >= 0.5, "fraud_probability": proba}


@app.get("/health")
def health() -> dict:
    return {"status": "healthy"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, workers=1)
