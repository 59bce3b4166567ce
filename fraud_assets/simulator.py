"""Synthetic card transactions with the handbook's class-conditional distributions.

One CSV per day lands in the landing folder. Every column and allowed value comes from
`contract`; the distributions below are the handbook generator's.

With cards (`DayPlan.cards`, on by default: `CardModel`; `fraud simulate --no-cards` turns it
off) each row also says which card made it (`card_id`) and, for fraud, when: legitimate
cards each at its own Poisson rate (Gamma-distributed over the pool, fixed per card across
days), fraud in bursts on compromised cards, charges minutes apart within their hour. The
handbook's field values are drawn first from the same stream and stay exactly as without
cards; the card layer has its own stream. The model is stated completely in
docs/CARDS.md, so that the fraud probability given a card's history (the ceiling) can be
computed: `python -m benchmarks.card_ceiling`.

With a `LabelDelay` (off by default, so the demo is unchanged) the transactions land without
`is_fraud` and every verdict comes later through the label feed (`landing/labels`, one file
per day of arrival), after a log-normal delay: most within days, a tail over weeks.
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

# Card scenarios (issue 15) need the card layer (`DayPlan.cards`); see `CardModel`.
CARD_SCENARIOS = ("card_testing", "burst_across_merchants")
SCENARIOS = ("normal", "fraud_spike", "amount_x2", "late_night", *CARD_SCENARIOS)
BAD_ROW_KINDS = ("null", "negative_amount", "hour_25", "day_9", "unknown_category",
                 "amount_text")


@dataclass(frozen=True)
class LabelDelay:
    """How long verdicts take: log-normal delay after the transaction (days).

    The defaults (median 3 days, sigma 1.2) put ~76% of labels within a week, ~10% after
    two weeks and ~3% after a month, capped at `max_days`: chargeback timing is of this
    shape (most disputes within days, some after the statement cycle). Labels arriving
    after `until` (a day) are not written: they have not arrived yet.
    """

    median_days: float = 3.0
    sigma: float = 1.2
    max_days: float = 90.0
    until: dt.date | None = None

    def __post_init__(self) -> None:
        if self.median_days <= 0 or self.sigma < 0 or self.max_days <= 0:
            raise ValueError(f"label delay: median_days and max_days must be > 0 and sigma "
                             f">= 0, got {self.median_days}, {self.max_days}, {self.sigma}")

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """`n` delays in seconds (int64)."""
        days = np.minimum(rng.lognormal(np.log(self.median_days), self.sigma, n),
                          self.max_days)
        return np.maximum(np.round(days * 86_400), 1).astype("int64")


@dataclass(frozen=True)
class CardModel:
    """Which card made each transaction, and when (issue 15); the generative model is in
    docs/CARDS.md and `benchmarks/card_ceiling.py` computes its ceiling.

    The handbook's rows are drawn first, exactly as without cards (same random stream, so
    amount, hour, day_of_week, merchant_category and is_fraud are the very same values);
    the card layer draws from a stream of its own and adds `card_id`, and for fraud rows
    the second within their (unchanged) hour:

    * a pool of `round(rows / legit_rate)` cards, card k with its own legitimate rate
      lambda_k ~ Gamma(shape `rate_shape`, mean `legit_rate`) transactions per day, fixed
      for k across days (a hash of seed and k, not the day's stream);
    * each legitimate row goes to card k with probability lambda_k / sum(lambda) at its
      handbook time (uniform over the day): independent Poisson processes of rates
      lambda_k, conditioned on the day's total;
    * fraud rows come in bursts on compromised cards, per fraud hour: bursts are drawn
      until the hour's fraud rows are placed; each burst is on a card drawn uniformly
      (distinct within the hour), its first event at a uniform second of the hour, each
      next one `1 + floor(Exp(burst_gap_seconds))` seconds later with probability
      `burst_continue`, the burst ending at its first stop or at the hour's end (the last
      burst of the hour is cut to the rows left).
    """

    legit_rate: float = 2.0  # mean legitimate transactions per card per day
    rate_shape: float = 2.0  # Gamma shape of the per-card rates (smaller: more spread)
    burst_continue: float = 0.75  # P(another fraud event) after each: mean burst size 4
    burst_gap_seconds: float = 180.0  # mean gap between a burst's events

    def __post_init__(self) -> None:
        if self.legit_rate <= 0 or self.rate_shape <= 0 or self.burst_gap_seconds <= 0:
            raise ValueError("card model: legit_rate, rate_shape and burst_gap_seconds must "
                             f"be > 0, got {self.legit_rate}, {self.rate_shape}, "
                             f"{self.burst_gap_seconds}")
        if not 0 <= self.burst_continue < 1:
            raise ValueError(f"card model: burst_continue must be in [0, 1), got "
                             f"{self.burst_continue}")

    def pool_size(self, rows: int) -> int:
        """Cards in the pool of a day of `rows` transactions."""
        return max(1, round(rows / self.legit_rate))


CARDS = CardModel()
# The card scenarios' models: card testing runs longer bursts (tests, then the cash-out);
# a burst across merchants is quick, each charge at another merchant category.
CARD_TESTING = CardModel(burst_continue=0.85)
ACROSS_MERCHANTS = CardModel(burst_gap_seconds=60.0)
TEST_AMOUNT = (0.5, 0.6)  # lognormal of a card test's amount: about $1.6, rarely over $5
CASH_OUT = 0.4  # card testing: P(the next charge cashes out) after each test; mean 2.5 tests


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
    label_delay: LabelDelay | None = None  # None: labels land with the transactions
    cards: CardModel | None = CARDS  # None: no card_id (the handbook's rows, as they were)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; choose from "
                             f"{', '.join(SCENARIOS)}")
        if self.scenario in CARD_SCENARIOS and self.cards is None:
            raise ValueError(f"scenario {self.scenario!r} is about cards: it needs the card "
                             "layer (drop --no-cards)")


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
    columns = {}
    if plan.cards is not None:
        cards = _card_layer(plan, hour, label)
        seconds = np.where(label == 1, cards.fraud_seconds, seconds)
        amount, category = cards.scenario_fields(plan.scenario, amount, category)
        columns[contract.CARD_ID.name] = card_ids(cards.card)
    start = pd.Timestamp(plan.day, tz="UTC")
    ts = start + pd.to_timedelta(hour * 3600 + seconds, unit="s")
    frame = pd.DataFrame({
        **columns,
        contract.EVENT_TIMESTAMP.name: ts,
        contract.AMOUNT.name: amount,
        contract.HOUR.name: hour,
        contract.DAY_OF_WEEK.name: plan.day.weekday(),
        contract.MERCHANT_CATEGORY.name: category,
        contract.IS_FRAUD.name: label,
    }).sort_values(contract.EVENT_TIMESTAMP.name, kind="stable").reset_index(drop=True)
    frame.insert(0, contract.TRANSACTION_ID.name,
                 [f"{plan.day:%Y%m%d}-{i:06d}" for i in range(plan.rows)])
    frame = frame[[c for c in contract.FIELDS_BY_NAME if c in frame.columns]]
    if plan.bad_rate > 0:
        frame = inject_bad_rows(frame, plan.bad_rate, plan.bad_kinds, rng)
    return frame


def card_ids(cards: np.ndarray) -> np.ndarray:
    """Pool indices as card ids (`card-0000042`)."""
    return np.char.add("card-", np.char.zfill(cards.astype(str), 7)).astype(object)


def _uniform_hash(seed: int, keys: np.ndarray, salt: int) -> np.ndarray:
    """A uniform in (0, 1) per key, fixed for (seed, key, salt) whatever the day or pool
    size (splitmix64): a card's rate must not depend on the day it is drawn on."""
    with np.errstate(over="ignore"):
        z = (keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
             + np.uint64((seed * 1_000_003 + salt) % 2**64))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53


def card_rates(model: CardModel, seed: int, cards: np.ndarray) -> np.ndarray:
    """Legitimate transactions per day of each card in `cards` (pool indices): Gamma(shape
    `rate_shape`, mean `legit_rate`), by the inverse CDF of a per-card hash."""
    from scipy.special import gammaincinv  # scipy comes with scikit-learn

    u = _uniform_hash(seed, cards, salt=15)
    return gammaincinv(model.rate_shape, u) * (model.legit_rate / model.rate_shape)


@dataclass(frozen=True)
class Cards:
    """The card layer of a day: per row its card (pool index), per fraud row its second in
    the hour (legit rows: unused), per row its burst (-1: legit) and place in it (0: the
    burst's first charge)."""

    card: np.ndarray
    fraud_seconds: np.ndarray
    burst: np.ndarray
    position: np.ndarray
    rng: np.random.Generator

    def scenario_fields(self, scenario: str, amount: np.ndarray, category: np.ndarray,
                        ) -> tuple[np.ndarray, np.ndarray]:
        """The card scenarios' fraud fields. `card_testing`: each burst opens with card
        tests of ~$1-5 (`TEST_AMOUNT`); after each test the fraudster cashes out with
        probability `CASH_OUT`, and from then on the burst's charges keep their own (large)
        amounts: a run of T ~ Geometric(CASH_OUT) tests, then the cash-out.
        `burst_across_merchants`: a burst's charges cycle through the merchant categories
        from a random one, each at another category than the last."""
        fraud = self.burst >= 0
        if scenario == "card_testing":
            tests = self.rng.geometric(CASH_OUT, int(self.burst.max()) + 1)
            test = fraud & (self.position < tests[np.maximum(self.burst, 0)])
            small = np.round(self.rng.lognormal(*TEST_AMOUNT, int(test.sum())), 2)
            amount = amount.copy()
            amount[test] = np.clip(small, 0.01, None)
        elif scenario == "burst_across_merchants":
            cats = np.array(contract.MERCHANT_CATEGORIES)
            first = self.rng.integers(0, len(cats), int(self.burst.max()) + 1)
            category = category.copy()
            category[fraud] = cats[(first[self.burst[fraud]] + self.position[fraud])
                                   % len(cats)]
        return amount, category


def _card_layer(plan: DayPlan, hour: np.ndarray, label: np.ndarray) -> Cards:
    """Cards and fraud timing for the day's handbook rows (`CardModel`), from a stream of
    its own: the handbook's draws are untouched."""
    model = plan.cards
    if plan.scenario == "card_testing":
        model = CARD_TESTING
    elif plan.scenario == "burst_across_merchants":
        model = ACROSS_MERCHANTS
    rng = np.random.default_rng([plan.seed, plan.day.toordinal(), 15])
    pool = np.arange(model.pool_size(plan.rows))
    rates = card_rates(model, plan.seed, pool)
    n = len(label)
    card = np.zeros(n, dtype=np.int64)
    legit = np.flatnonzero(label == 0)
    card[legit] = rng.choice(pool, len(legit), p=rates / rates.sum())
    seconds = np.zeros(n, dtype=np.int64)
    burst = np.full(n, -1, dtype=np.int64)
    position = np.zeros(n, dtype=np.int64)
    next_burst = 0
    for h in np.unique(hour[label == 1]):
        rows = np.flatnonzero((label == 1) & (hour == h))
        times, sizes = _bursts(len(rows), model, rng)
        owners = rng.choice(pool, len(sizes), replace=len(sizes) > len(pool))
        ids = np.repeat(np.arange(len(sizes)), sizes)
        seconds[rows] = times
        burst[rows] = next_burst + ids
        position[rows] = np.arange(len(rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        card[rows] = owners[ids]
        next_burst += len(sizes)
    return Cards(card, seconds, burst, position, rng)


def _bursts(n: int, model: CardModel, rng: np.random.Generator,
            ) -> tuple[np.ndarray, np.ndarray]:
    """`n` fraud events of one hour as bursts: their seconds in the hour (burst by burst,
    each in time order) and the bursts' sizes."""
    times: list[np.ndarray] = []
    sizes: list[int] = []
    placed = 0
    while placed < n:
        wanted = int(rng.geometric(1.0 - model.burst_continue))
        start = int(rng.integers(0, 3600))
        gaps = 1 + np.floor(rng.exponential(model.burst_gap_seconds, wanted - 1))
        at = start + np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64)
        at = at[at < 3600][: n - placed]  # the hour's end ends the burst
        times.append(at)
        sizes.append(len(at))
        placed += len(at)
    return np.concatenate(times), np.array(sizes, dtype=np.int64)


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
    # A defect only where the contract refuses an empty value (an empty is_fraud is a label
    # still to come, not a defect).
    nullable = [f.name for f in contract.FIELDS
                if f is not contract.TRANSACTION_ID and not f.nullable]
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


def _iso(values: pd.Series) -> pd.Series:
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


def _write_csv(frame: pd.DataFrame, target: Path) -> Path:
    """Atomically (a reader never sees half a file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(target)
    return target


def write_day(folder: Path, plan: DayPlan) -> Path:
    """Write the day's landing file; with `plan.label_delay`, its labels go to the label
    feed instead (`write_labels`) and `is_fraud` lands empty."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = generate_day(plan)
    ts = contract.EVENT_TIMESTAMP.name
    if plan.label_delay is not None:
        write_labels(landing.label_folder(folder), frame, plan)
        frame[contract.LABEL] = None
    frame[ts] = _iso(frame[ts])
    return _write_csv(frame, landing.landing_file(folder, plan.day))


def day_labels(frame: pd.DataFrame, plan: DayPlan) -> pd.DataFrame:
    """The verdicts of the day's transactions (`contract.LABEL_COLUMNS`) with their delayed
    `label_timestamp`, sorted by it (rows spoiled by `bad_rate` get none)."""
    delay = plan.label_delay or LabelDelay()
    ts = pd.to_datetime(frame[contract.EVENT_TIMESTAMP.name], errors="coerce", utc=True)
    label = pd.to_numeric(frame[contract.LABEL], errors="coerce")
    ok = ts.notna() & label.isin([0, 1])
    rng = np.random.default_rng([plan.seed, plan.day.toordinal(), 16])  # not the day's stream
    seconds = delay.sample(rng, int(ok.sum()))
    out = pd.DataFrame({
        contract.TRANSACTION_ID.name: frame.loc[ok, contract.TRANSACTION_ID.name].to_numpy(),
        contract.LABEL_VALUE.name: label[ok].astype(int).to_numpy(),
        contract.LABEL_TIMESTAMP.name: (ts[ok] + pd.to_timedelta(seconds, unit="s")
                                        ).reset_index(drop=True),
    })
    return out.sort_values(contract.LABEL_TIMESTAMP.name, kind="stable").reset_index(drop=True)


def write_labels(folder: Path, frame: pd.DataFrame, plan: DayPlan) -> list[Path]:
    """Add the day's verdicts to the label files of their days of arrival in `folder`
    (each file rewritten atomically; the day's earlier rows in it are replaced, so writing
    a day twice is the same as once). Labels arriving after `label_delay.until` are not
    written. Returns the files written."""
    labels = day_labels(frame, plan)
    until = (plan.label_delay or LabelDelay()).until
    stamp = labels[contract.LABEL_TIMESTAMP.name]
    arrival = pd.Series(contract.utc_days(stamp).astype(str), index=stamp.index)
    mine = set(labels[contract.TRANSACTION_ID.name])
    written = []
    for day, rows in labels.groupby(arrival, sort=True):
        if until is not None and day > until.isoformat():
            continue
        target = landing.label_file(folder, dt.date.fromisoformat(day))
        rows = rows.assign(**{contract.LABEL_TIMESTAMP.name: _iso(stamp[rows.index])})
        if target.exists():
            before = pd.read_csv(target, dtype=str, keep_default_na=False)
            before = before[~before[contract.TRANSACTION_ID.name].isin(mine)]
            rows = pd.concat([before, rows.astype(str)], ignore_index=True)
            rows = rows.sort_values(contract.LABEL_TIMESTAMP.name, kind="stable")
        written.append(_write_csv(rows, target))
    return written
