"""Names shared by the feature store, training and serving (defined once here)."""

from fraud_assets import contract

ENTITY = "merchant_category"
FEATURE_VIEW = "merchant_stats"
FEATURE_SERVICE = "fraud_model_features"
# Trailing-window aggregates per merchant category, from days strictly before the day used.
# None depends on how many days of the window are present (a volume is per day present).
FEATURES: tuple[str, ...] = (
    "merchant_avg_amount",
    "merchant_txn_per_day",
    "merchant_fraud_rate",
)
DEFAULT_WINDOW_DAYS = 28
# Entity value of the all-merchant row written every day next to the per-category rows:
# the prior that stands in when the store has no row for a category.
ALL_MERCHANTS = "__all__"
# Column `features.online.online_features` adds: True where the all-merchant prior was used.
FALLBACK_COLUMN = "merchant_features_fallback"
# The training_set's time-ordered split column and its values.
SPLIT = "split"
TRAIN, HOLDOUT = "train", "holdout"
# The training_set's sample weight: 1 / the share of its class kept by the sampling.
WEIGHT = "sample_weight"
# Freshness (issue 15): the tag on a feature view holding its freshness limit in seconds
# (the view's ttl when absent), and the column `online_features` adds with the event
# timestamp (UTC seconds) of the merchant row each answer used.
FRESHNESS_TAG = "fraud/freshness_limit_seconds"
FEATURE_TIMESTAMP_COLUMN = "merchant_features_event_timestamp"

# Per-card velocity features (issue 15): one row per transaction, computed point in time by
# `features.cards.card_window_features` from the card's events strictly before it.
CARD_ENTITY = "card"
CARD_JOIN_KEY = contract.CARD_ID.name  # the contract's optional card id
CARD_FEATURE_VIEW = "card_velocity"
CARD_FEATURES: tuple[str, ...] = (
    "card_txn_count_10m",
    "card_txn_count_1h",
    "card_txn_count_24h",
    "card_amount_sum_10m",
    "card_amount_sum_1h",
    "card_amount_sum_24h",
    "card_seconds_since_prev",
    "card_distinct_categories_24h",
    "card_amount_to_mean_30d",
)
# The service's per-card state (issue 15, online): per card, its events of the last 30 days
# as array fields of one Feast view, read and written by serving through Feast.
CARD_STATE_VIEW = "card_state"
CARD_STATE_TIMESTAMP = "state_updated_at"  # when a replica last wrote the card's row
CARD_STATE_FIELDS: tuple[str, ...] = ("event_times_ns", "amounts", "categories")
