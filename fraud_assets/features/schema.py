"""The dtypes of the merchant features: one definition for the store, training and serving."""

from __future__ import annotations

import pandas as pd

from fraud_assets.features.names import FEATURES

# Declared once: Feast would otherwise hand back whatever the source held.
FEATURE_DTYPES: dict[str, str] = {
    "merchant_avg_amount": "float64",
    "merchant_txn_per_day": "float64",
    "merchant_fraud_rate": "float64",
}
if tuple(FEATURE_DTYPES) != FEATURES:  # names.py and this table must list the same features
    raise ImportError(f"features/schema.py FEATURE_DTYPES {list(FEATURE_DTYPES)} does not "
                      f"match features/names.py FEATURES {list(FEATURES)}")


def cast_features(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with every feature column in its declared dtype (fails on missing values)."""
    missing = [name for name in FEATURES if name not in frame.columns]
    if missing:
        raise KeyError(f"merchant feature column(s) {missing} missing; have {list(frame.columns)}")
    return frame.astype(FEATURE_DTYPES)
