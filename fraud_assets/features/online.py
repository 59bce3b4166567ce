"""Online merchant features for serving: one Feast online lookup per call, any batch size.

Fallback: a category the online store has no row for (never materialized, or a
category new to the store) gets what `features.aggregates` writes for a category
without transactions in its window: the average amount and fraud rate of the
all-merchant row (`names.ALL_MERCHANTS`) and a volume of 0 per day, so the model sees the same
"no evidence" vector it was trained on. `names.FALLBACK_COLUMN` is True on such rows
and a warning names the category. An online store without even the all-merchant row raises
`FeatureStoreError`: there is nothing honest to answer with.

Freshness: `names.FEATURE_TIMESTAMP_COLUMN` holds the event time (UTC epoch seconds) of the
row each answer used (the prior's where it stood in), for `features.freshness` to age.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from fraud_assets import settings
from fraud_assets.features.names import (
    ALL_MERCHANTS,
    ENTITY,
    FALLBACK_COLUMN,
    FEATURE_TIMESTAMP_COLUMN,
    FEATURE_VIEW,
    FEATURES,
)
from fraud_assets.features.schema import FEATURE_DTYPES
from fraud_assets.features.store import FeatureStoreError, MerchantFeatureStore

_log = logging.getLogger(__name__)
VOLUME = "merchant_txn_per_day"


def online_features(frame: pd.DataFrame,
                    store: MerchantFeatureStore | None = None) -> pd.DataFrame:
    """FEATURES (training-set dtypes), FALLBACK_COLUMN and FEATURE_TIMESTAMP_COLUMN (UTC
    epoch seconds of the row used, NaN if none) for each row of `frame`.

    `frame` needs a `merchant_category` column; the result has the same index.
    `store` defaults to the store of FRAUD_HOME, opened once per process.
    """
    if ENTITY not in frame.columns:
        raise KeyError(f"online_features: the frame has no {ENTITY!r} column "
                       f"(columns: {list(frame.columns)})")
    # Plain numpy from here on: at one transaction per call, pandas indexing would cost
    # several times the Feast read itself.
    codes, keys = pd.factorize(frame[ENTITY].astype(str))
    columns, fallback, stamps = _lookup(store or default_store(), [str(k) for k in keys])
    out = {name: values[codes] for name, values in columns.items()}
    out[FALLBACK_COLUMN] = fallback[codes]
    out[FEATURE_TIMESTAMP_COLUMN] = stamps[codes]
    return pd.DataFrame(out, index=frame.index)


def _lookup(store: MerchantFeatureStore,
            keys: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """One online read for `keys` and the prior: feature arrays, the fallback mask and the
    event time of each key's row (the prior's where it stands in)."""
    values = store.online([*keys, ALL_MERCHANTS], timestamps=True)
    prior = {name: values[name][-1] for name in FEATURES}
    if any(value is None for value in prior.values()):
        raise FeatureStoreError(
            f"the online store under {store.feast_dir} has no merchant features (not even "
            f"the {ALL_MERCHANTS!r} row); materialize the online_features asset")
    prior[VOLUME] = 0.0  # a category without a row has seen no transactions, as in aggregates
    fallback = np.array([any(values[name][i] is None for name in FEATURES)
                         for i in range(len(keys))], dtype=bool)
    if fallback.any():
        _log.warning("no online merchant features for %s; using the all-merchant prior",
                     sorted(k for k, missing in zip(keys, fallback, strict=True) if missing))
    columns = {name: np.array([prior[name] if missing else value for value, missing
                               in zip(values[name][:-1], fallback, strict=True)],
                              dtype=FEATURE_DTYPES[name])
               for name in FEATURES}
    # A row is written whole, so one feature's timestamp is the row's.
    stamps = np.asarray(values[f"{FEATURES[0]}__ts"], dtype="float64")
    stamps = np.where(fallback, stamps[-1], stamps[:-1])
    return columns, fallback, stamps


@functools.lru_cache(maxsize=4)
def _store_for(home: Path) -> MerchantFeatureStore:
    return MerchantFeatureStore(home)


def default_store() -> MerchantFeatureStore:
    """The store of the current FRAUD_HOME, built once (opening it costs about a second)."""
    return _store_for(settings.fraud_home())


def freshness_limit(store: MerchantFeatureStore | None = None) -> float:
    """The merchant view's freshness limit in seconds, as registered (`features.freshness`)."""
    return (store or default_store()).freshness_limit(FEATURE_VIEW)
