"""Synthetic card transactions with the handbook's class-conditional distributions.

One CSV per day lands in the landing folder. Every column and allowed value comes from
`contract`; the distributions below are the handbook generator's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets import contract, landing

LEGIT_CATEGORY_WEIGHTS = (0.30, 0.25, 0.25, 0.15, 0.05)
FRAUD_CATEGORY_WEIGHTS = (0.05, 0.05, 0.10, 0.60, 0.20)
LEGIT_AMOUNT = (3.5, 1.2)  # lognormal mean, sigma of log(amount)
FRAUD_AMOUNT = (5.5, 1.5)
FRAUD_HOURS = (0, 1, 2, 3, 4, 5, 23)
LATE_NIGHT_HOURS = (22, 23, 0, 1, 2, 3, 4, 5)
DEFAULT_FRAUD_RATIO = 0.02

SCENARIOS = ("normal", "fraud_spike", "amount_x2", "late_night")
BAD_ROW_KINDS = ("null", "negative_amount", "hour_25", "day_9", "unknown_category",
                 "amount_text")


@dataclass(frozen=True)
class DayPlan:
    """What to generate for one day."""

    day: dt.date
    rows: int = 10_000
    fraud_ratio: float = DEFAULT_FRAUD_RATIO
    scenario: str = "normal"
    bad_rate: float = 0.0
    bad_kinds: tuple[str, ...] = BAD_ROW_KINDS
    seed: int = 42


def _rng(seed: int, day: dt.date) -> np.random.Generator:
    # Seeded per day, so regenerating one day never changes another.
    return np.random.default_rng([seed, day.toordinal()])


def generate_day(plan: DayPlan) -> pd.DataFrame:
    """The day's transactions in contract column order, sorted by event time."""
    rng = _rng(plan.seed, plan.day)
    fraud_ratio = 0.10 if plan.scenario == "fraud_spike" else plan.fraud_ratio
    n_fraud = int(round(plan.rows * fraud_ratio))
    n_legit = plan.rows - n_fraud
    cats = np.array(contract.MERCHANT_CATEGORIES)
    amount = np.concatenate([rng.lognormal(*LEGIT_AMOUNT, n_legit),
                             rng.lognormal(*FRAUD_AMOUNT, n_fraud)])
    hour = np.concatenate([rng.integers(0, 24, n_legit), rng.choice(FRAUD_HOURS, n_fraud)])
    category = np.concatenate([rng.choice(cats, n_legit, p=LEGIT_CATEGORY_WEIGHTS),
                               rng.choice(cats, n_fraud, p=FRAUD_CATEGORY_WEIGHTS)])
    label = np.concatenate([np.zeros(n_legit, int), np.ones(n_fraud, int)])
    if plan.scenario == "amount_x2":
        amount = amount * 2
    elif plan.scenario == "late_night":
        hour = rng.choice(LATE_NIGHT_HOURS, plan.rows)
    # Cents, and inside the contract's range (the fraud tail passes 50,000 ~1 in 5,000).
    amount = np.clip(np.round(amount, 2), 0.01, contract.AMOUNT_MAX)
    seconds = rng.integers(0, 3600, plan.rows)
    start = pd.Timestamp(plan.day, tz="UTC")
    ts = start + pd.to_timedelta(hour * 3600 + seconds, unit="s")
    frame = pd.DataFrame({
        contract.EVENT_TIMESTAMP.name: ts,
        contract.AMOUNT.name: amount,
        contract.HOUR.name: hour,
        contract.DAY_OF_WEEK.name: plan.day.weekday(),
        contract.MERCHANT_CATEGORY.name: category,
        contract.IS_FRAUD.name: label,
    }).sort_values(contract.EVENT_TIMESTAMP.name, kind="stable").reset_index(drop=True)
    frame.insert(0, contract.TRANSACTION_ID.name,
                 [f"{plan.day:%Y%m%d}-{i:06d}" for i in range(plan.rows)])
    frame = frame[list(contract.COLUMNS)]
    if plan.bad_rate > 0:
        frame = inject_bad_rows(frame, plan.bad_rate, plan.bad_kinds, rng)
    return frame


def inject_bad_rows(frame: pd.DataFrame, rate: float, kinds: Iterable[str],
                    rng: np.random.Generator) -> pd.DataFrame:
    """Spoil a fraction of rows, one kind of defect each, as upstream systems do."""
    kinds = tuple(kinds)
    unknown = set(kinds) - set(BAD_ROW_KINDS)
    if unknown:
        raise ValueError(f"unknown bad-row kind(s) {sorted(unknown)}; "
                         f"choose from {', '.join(BAD_ROW_KINDS)}")
    out = frame.astype(object)
    picked = rng.choice(len(frame), int(round(len(frame) * rate)), replace=False)
    nullable = [c for c in contract.COLUMNS if c != contract.TRANSACTION_ID.name]
    for i, kind in zip(picked, rng.choice(kinds, len(picked)), strict=True):
        if kind == "null":
            out.at[i, nullable[rng.integers(len(nullable))]] = None
        elif kind == "negative_amount":
            out.at[i, contract.AMOUNT.name] = -abs(float(frame.at[i, contract.AMOUNT.name]))
        elif kind == "hour_25":
            out.at[i, contract.HOUR.name] = 25
        elif kind == "day_9":
            out.at[i, contract.DAY_OF_WEEK.name] = 9
        elif kind == "unknown_category":
            out.at[i, contract.MERCHANT_CATEGORY.name] = "casino"
        elif kind == "amount_text":
            out.at[i, contract.AMOUNT.name] = "twelve dollars"
    return out


def _iso_utc(values: pd.Series) -> pd.Series:
    """UTC timestamps as ISO 8601 text with a `Z` (`2025-01-01T03:00:31Z`); values that are
    not timestamps (spoiled rows) stay as they are.

    A timestamp column is formatted by numpy in one call: formatting each value with
    `Timestamp.strftime` took ~10x longer (39 s vs 4 s for 1M rows, loaded machine).
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        seconds = values.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[s]")
        return pd.Series(np.datetime_as_string(seconds, unit="s"), index=values.index,
                         dtype=object) + "Z"
    return values.map(
        lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(t, pd.Timestamp) else t)


def write_day(folder: Path, plan: DayPlan) -> Path:
    """Write the day's landing file atomically (a reader never sees half a file)."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = generate_day(plan)
    ts = contract.EVENT_TIMESTAMP.name
    frame[ts] = _iso_utc(frame[ts])
    target = landing.landing_file(folder, plan.day)
    tmp = target.with_suffix(".csv.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(target)
    return target
