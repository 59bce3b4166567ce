"""Names shared by the feature store, training and serving (defined once here)."""

ENTITY = "merchant_category"
FEATURE_VIEW = "merchant_stats"
FEATURE_SERVICE = "fraud_model_features"
# Trailing-window aggregates per merchant category, from days strictly before the day used.
FEATURES: tuple[str, ...] = (
    "merchant_avg_amount",
    "merchant_txn_count",
    "merchant_fraud_rate",
)
DEFAULT_WINDOW_DAYS = 28
