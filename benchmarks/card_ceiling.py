"""The card generator's ceiling: the best PR-AUC any model can reach on card data.

The simulator's card layer (`simulator.CardModel`, docs/CARDS.md) makes a row's label
depend on its own fields AND on its card's other transactions: fraud comes in bursts on a
compromised card, minutes apart. This script scores a fresh sample with the Bayes
posterior P(fraud | the row's fields, its card's earlier transactions) under that model
and prints its ROC-AUC and PR-AUC (average precision), next to the handbook's ceiling
(the row's own fields only, `benchmarks.model_quality.oracle_score`).

How the posterior is computed (docs/CARDS.md, "The ceiling"): bursts never leave their
UTC hour and each (card, hour) is compromised independently, so only the card's earlier
transactions in the same hour carry information about the row's label beyond its own
fields. Within a (card, day, hour) the events are labelled by a forward pass over them in
time order whose state is "the last fraud event so far" (none, or one of the events):

* a legitimate event contributes f_legit(fields) * r_c, r_c the card's legitimate rate per
  second (Poisson: a legitimate event at any second of the day equally likely);
* the first fraud event contributes f_fraud(fields) * pi_h / 3600 (the hour's share of
  compromised cards, the burst's start uniform over the hour's seconds);
* a next fraud event, d seconds after the last one, f_fraud(fields) * rho * P(gap = d),
  P(gap = d) = exp(-(d-1)/g) (1 - exp(-1/g)) for d >= 1 (gap = 1 + floor(Exp(g)));
* at the scored event (at second t of the hour) every state is closed: "no fraud yet" by
  (1 - pi_h) + pi_h * P(start > t), "last fraud at s < t" by (1 - rho) + rho exp(-(t-s)/g)
  (no next fraud event came by t), "the scored event is fraud" by 1.

P(fraud) of the scored event is the mass of the states where it is the last fraud event.
Exact for the model with two documented approximations, and an upper bound in one respect:
* the oracle is given each card's true legitimate rate (a model must estimate it from the
  card's history), and pi_h from the sample's realised bursts: more than a model knows,
  so the printed ceiling is an upper bound (more information never lowers the Bayes
  ROC curve, hence the PR curve at the same prevalence);
* the day's totals are fixed by the plan (legitimate rows are multinomial over the cards,
  not independent Poisson; the hour's last burst is cut to the fraud rows left): each
  changes the posterior by less than the sample's noise at these sizes;
* amounts are taken unclipped (as in the handbook's ceiling): ~1 row in 5,000 is clipped.

Scenarios: `normal` (the default card model); `burst_across_merchants` (each next fraud
event's category follows its burst's cycle, the first one uniform); `card_testing` (each
fraud state also carries the burst's phase: a burst opens with a test, a test is followed
by a test with probability 1 - CASH_OUT or the cash-out, a cash-out by cash-outs).

Numbers (10 days x 100,000 rows, seed 20260; docs/CARDS.md): PR-AUC ceiling 0.9083
(normal), 0.9838 (card_testing), 0.8999 (burst_across_merchants), against 0.6272 for the
handbook's fields alone on normal days.

Usage: .venv/bin/python -m benchmarks.card_ceiling [--days 10] [--rows 100000] [--seed N]
       [--scenario normal|burst_across_merchants]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from benchmarks.model_quality import oracle_score
from fraud_assets import contract, simulator
from fraud_assets.model import evaluation

TIME = contract.EVENT_TIMESTAMP.name
CARD = contract.CARD_ID.name
SCENARIOS = ("normal", "card_testing", "burst_across_merchants")
DAY_SECONDS = 86_400.0


def simulate(start: dt.date, days: int, rows: int, seed: int, scenario: str) -> pd.DataFrame:
    plans = (simulator.DayPlan(day=start + dt.timedelta(days=i), rows=rows, seed=seed,
                               scenario=scenario) for i in range(days))
    return pd.concat([simulator.generate_day(p) for p in plans], ignore_index=True)


def card_model(scenario: str) -> simulator.CardModel:
    """The card model the simulator uses for `scenario`."""
    return {"card_testing": simulator.CARD_TESTING,
            "burst_across_merchants": simulator.ACROSS_MERCHANTS}.get(scenario, simulator.CARDS)


def legit_rate_per_second(frame: pd.DataFrame, model: simulator.CardModel, seed: int,
                          rows: int) -> np.ndarray:
    """Per row, its card's legitimate intensity (events per second) on the row's day: the
    day's legitimate rows times the card's share of the pool's rates (the sampler's
    multinomial), over the day's seconds. Oracle knowledge: the card's true rate."""
    pool = np.arange(model.pool_size(rows))
    rates = simulator.card_rates(model, seed, pool)
    share = rates / rates.sum()
    index = frame[CARD].str.removeprefix("card-").astype(np.int64).to_numpy()
    day = frame[TIME].dt.floor("D")
    legit_per_day = (frame[contract.LABEL] == 0).groupby(day).transform("sum").to_numpy()
    return legit_per_day * share[index] / DAY_SECONDS


def compromised_share(frame: pd.DataFrame, model: simulator.CardModel, rows: int,
                      ) -> np.ndarray:
    """Per row, pi_h: the share of the pool's cards with a burst in the row's (day, hour),
    as realised in the sample (cards with fraud in that hour / pool size)."""
    fraud = frame[frame[contract.LABEL] == 1]
    key = fraud[TIME].dt.floor("h")
    bursts = fraud.groupby(key)[CARD].nunique() / model.pool_size(rows)
    return frame[TIME].dt.floor("h").map(bursts).fillna(0.0).to_numpy()


def category_terms(frame: pd.DataFrame, scenario: str) -> tuple[np.ndarray, np.ndarray]:
    """Per row, log f_fraud/f_legit of its category as a burst's first event, and its
    category's code (for `burst_across_merchants`' cycle)."""
    codes = pd.Categorical(frame[contract.MERCHANT_CATEGORY.name],
                           categories=contract.MERCHANT_CATEGORIES).codes.astype(np.int64)
    legit = np.log(np.array(simulator.LEGIT_CATEGORY_WEIGHTS))[codes]
    if scenario == "burst_across_merchants":
        first = np.log(1.0 / len(contract.MERCHANT_CATEGORIES)) - legit
    else:
        first = np.log(np.array(simulator.FRAUD_CATEGORY_WEIGHTS))[codes] - legit
    return first, codes


def posterior(frame: pd.DataFrame, model: simulator.CardModel, scenario: str, seed: int,
              rows: int) -> np.ndarray:
    """P(fraud | the row's fields, its card's earlier events in the hour), per row of
    `frame` (the module docstring's forward pass, vectorised over (card, hour) groups)."""
    frame = frame.reset_index(drop=True)
    cat_first, codes = category_terms(frame, scenario)
    legit_cat = np.log(np.array(simulator.LEGIT_CATEGORY_WEIGHTS))[codes]
    # log f_fraud/f_legit of the amount: the handbook's ratio without the category, and
    # without the hour, whose part is in the time densities (pi_h / 3600 against r_c).
    fraud_hour = frame[contract.HOUR.name].isin(simulator.FRAUD_HOURS).to_numpy()
    hour_ratio = np.where(fraud_hour, np.log(24 / len(simulator.FRAUD_HOURS)), 0.0)
    base = oracle_score(frame) - oracle_category(codes) - hour_ratio
    across = scenario == "burst_across_merchants"
    legit_rate = legit_rate_per_second(frame, model, seed, rows)
    pi = compromised_share(frame, model, rows)
    second = (frame[TIME].dt.minute * 60 + frame[TIME].dt.second).to_numpy()

    group = pd.factorize(pd.MultiIndex.from_arrays([frame[CARD], frame[TIME].dt.floor("h")]))[0]
    order = np.lexsort((second, group))
    gid = group[order]
    starts = np.r_[0, np.flatnonzero(np.diff(gid)) + 1]
    sizes = np.diff(np.r_[starts, len(order)])
    place = np.arange(len(order)) - np.repeat(starts, sizes)
    rows_of = np.repeat(np.arange(len(starts)), sizes)
    width = int(sizes.max())
    shape = (len(starts), width)

    def grid(values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full(shape, fill, dtype=np.float64)
        out[rows_of, place] = values[order]
        return out

    def ratio(log_values: np.ndarray) -> np.ndarray:
        return grid(np.exp(np.clip(log_values, -700, 700)))

    t = grid(second.astype(np.float64))
    lr_first = ratio(base + cat_first)  # a cash-out (any non-test fraud) opening a burst
    # A cash-out following the burst's last event: across merchants, its category must be
    # the cycle's next (probability 1, checked below); otherwise the same ratio.
    lr_next = ratio(base - legit_cat) if across else lr_first
    testing = scenario == "card_testing"
    # A card test: the test amount's density instead of the fraud amount's.
    lr_test = ratio(test_amount_ratio(frame) + cat_first) if testing else np.zeros(shape)
    q = simulator.CASH_OUT if testing else 1.0  # P(test -> cash-out) after each test
    code = grid(codes.astype(np.float64), fill=-9.0)
    legit = grid(legit_rate)
    p = grid(pi)[:, 0]
    rho, g = model.burst_continue, model.burst_gap_seconds
    n_cats = len(contract.MERCHANT_CATEGORIES)

    # States: 0 no fraud yet; 1 + 2j: event j is the last fraud event so far and a card
    # test; 2 + 2j: the same, a cash-out (every fraud event outside card_testing).
    alpha = np.zeros((len(starts), 1 + 2 * width))
    alpha[:, 0] = 1.0
    answer = np.zeros(shape)
    for i in range(width):
        k = np.flatnonzero(sizes > i)  # the groups with an event i (most have one or two)
        a, ti = alpha[k, : 1 + 2 * i], t[k, [i]][:, None]
        new = np.zeros((len(k), 3 + 2 * i))
        new[:, : 1 + 2 * i] = a * legit[k, i][:, None]  # event i legitimate
        opening = a[:, 0] * p[k] / 3600.0
        since = ti - t[k, :i]
        step = rho * np.where(since >= 1, np.exp(-(since - 1) / g) * (1 - np.exp(-1 / g)), 0.0)
        cash_next = lr_next[k, i][:, None] * step
        if across:
            cash_next = cash_next * ((code[k, :i] + 1) % n_cats == code[k, i][:, None])
        after_test, after_cash = a[:, 1::2], a[:, 2::2]
        if testing:  # a burst opens with a test; after a test: test (1 - q) or cash (q)
            new[:, 1 + 2 * i] = lr_test[k, i] * (
                opening + (after_test * step * (1 - q)).sum(axis=1))
            new[:, 2 + 2 * i] = (after_test * cash_next * q + after_cash * cash_next).sum(axis=1)
        else:
            new[:, 2 + 2 * i] = (opening * lr_first[k, i]
                                 + ((after_test + after_cash) * cash_next).sum(axis=1))
        # Close every state at event i's second: no fraud event came that was not seen.
        close = np.ones_like(new)
        close[:, 0] = (1 - p[k]) + p[k] * np.clip(3599 - ti[:, 0], 0, None) / 3600.0
        close[:, 1 : 1 + 2 * i] = np.repeat((1 - rho) + rho * np.exp(-since / g), 2, axis=1)
        closed = new * close
        total = closed.sum(axis=1)
        mine = closed[:, 1 + 2 * i] + closed[:, 2 + 2 * i]
        answer[k, i] = np.where(total > 0, mine / np.where(total > 0, total, 1), 0)
        scale = new.sum(axis=1, keepdims=True)  # keep magnitudes in range; ratios unchanged
        alpha[k, : 3 + 2 * i] = new / np.where(scale > 0, scale, 1.0)

    out = np.zeros(len(frame))
    out[order] = answer[rows_of, place]
    return out


def test_amount_ratio(frame: pd.DataFrame) -> np.ndarray:
    """log f_test/f_legit of each row's amount: a card test's lognormal against the
    legitimate one (in log-amount, where both are normal)."""
    x = np.log(frame[contract.AMOUNT.name].to_numpy())
    (mu_l, s_l), (mu_t, s_t) = simulator.LEGIT_AMOUNT, simulator.TEST_AMOUNT
    return np.log(s_l / s_t) - (x - mu_t) ** 2 / (2 * s_t**2) + (x - mu_l) ** 2 / (2 * s_l**2)


def oracle_category(codes: np.ndarray) -> np.ndarray:
    """log f_fraud/f_legit of each row's category (the handbook's weights)."""
    ratio = np.log(np.array(simulator.FRAUD_CATEGORY_WEIGHTS)
                   / np.array(simulator.LEGIT_CATEGORY_WEIGHTS))
    return ratio[codes]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per day")
    parser.add_argument("--seed", type=int, default=20_260)
    parser.add_argument("--scenario", choices=SCENARIOS, default="normal")
    args = parser.parse_args()

    t0 = time.perf_counter()
    frame = simulate(dt.date(2026, 3, 1), args.days, args.rows, args.seed, args.scenario)
    labels = frame[contract.LABEL].to_numpy()
    print(f"fresh sample: {len(frame):,} rows ({int(labels.sum()):,} fraud), scenario "
          f"{args.scenario}, seed {args.seed}, {args.days} days, simulated in "
          f"{time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    model = card_model(args.scenario)
    card = posterior(frame, model, args.scenario, args.seed, args.rows)
    print(f"posterior computed in {time.perf_counter() - t0:.1f}s")
    fields = oracle_score(frame)
    print(f"{'ceiling':<44} {'roc_auc':>8} {'pr_auc':>8}")
    for name, score in (("handbook: the row's own fields", fields),
                        ("cards: + the card's history (upper bound)", card)):
        result = evaluation.score(labels, score, 0.5)
        print(f"{name:<44} {result['roc_auc']:8.4f} {result['pr_auc']:8.4f}")


if __name__ == "__main__":
    main()
