"""Names of the platform's assets, checks, jobs and sensors: the one place they are spelled.

Free of Dagster, so domain code can name the lake folder an asset writes (the lake keeps
one folder per asset, named after it) and the runners can name what they run, without
importing the code location. `defs/` builds its asset keys from these strings.
"""

from __future__ import annotations

# Assets, upstream first (the lake folder of an asset is its name).
TRANSACTIONS_RAW = "transactions_raw"
TRANSACTIONS_VALIDATED = "transactions_validated"
TRANSACTIONS_QUARANTINE = "transactions_quarantine"
MERCHANT_FEATURES = "merchant_features"
CARD_FEATURES = "card_features"  # per-transaction card velocity (Feast view card_velocity)
ONLINE_FEATURES = "online_features"
TRAINING_SET = "training_set"
FRAUD_MODEL = "fraud_model"
CHAMPION = "champion"
DRIFT_REPORT = "drift_report"
PREDICTION_DRIFT_REPORT = "prediction_drift_report"
MODEL_PERFORMANCE = "model_performance"
SHADOW_REPORT = "shadow_report"
FRAUD_BENTO = "fraud_bento"
# The label feed (issue 16), partitioned by day of arrival.
LABELS_RAW = "labels_raw"
LABELS = "labels"
LABELS_QUARANTINE = "labels_quarantine"
LABELS_HELD = "labels_held"

# Asset checks.
CONTRACT_STRUCTURE = "contract_structure"
CONTRACT_VALUES = "contract_values"
FRAUD_RATE_SANE = "fraud_rate_sane"
CATEGORIES_PRESENT = "categories_present"
NO_SIGNIFICANT_DRIFT = "no_significant_drift"
PERFORMANCE_ABOVE_FLOOR = "performance_above_floor"
LABEL_STRUCTURE = "label_structure"
LABEL_VALUES = "label_values"
# card_features (issue 15): the day replayed through serving's online card state.
CARD_PARITY = "card_online_parity"

# Asset groups: one per domain folder of defs/.
INGEST, FEATURES, MODEL, MONITORING, SERVING = (
    "ingest", "features", "model", "monitoring", "serving")
LABELS_GROUP = "labels"

# Jobs and sensors.
DAILY_JOB = "daily_job"
ONLINE_FEATURES_JOB = "online_features_job"
RETRAINING_JOB = "retraining_job"
LANDING_SENSOR = "landing_sensor"
DRIFT_RETRAINING_SENSOR = "drift_retraining"
FEATURE_AUTOMATION_SENSOR = "feature_automation"
RUN_FAILURE_ALERT_SENSOR = "run_failure_alert"
LABELS_JOB = "labels_job"
PERFORMANCE_JOB = "performance_job"
LABEL_SENSOR = "label_sensor"
# Runs Dagster's freshness check on online_features (defs/features/checks.py).
ONLINE_FRESHNESS_SENSOR = "online_store_freshness"

# What retraining materializes, upstream first.
RETRAINING_ASSETS: tuple[str, ...] = (TRAINING_SET, FRAUD_MODEL, CHAMPION, FRAUD_BENTO)
# The drift reports the retraining sensor watches.
DRIFT_REPORTS: tuple[str, ...] = (DRIFT_REPORT, PREDICTION_DRIFT_REPORT)

# Run tags the platform sets (its own namespace; Dagster's `dagster/*` tags are Dagster's).
LANDING_FILE_TAG = "fraud/landing_file"
LANDING_FINGERPRINT_TAG = "fraud/landing_fingerprint"
LANDING_MTIME_TAG = "fraud/landing_mtime_ns"
# The process a run executes in (host, pid, process start time), so a run whose process
# died (kill -9, OOM, a power cut) can be told from one still going.
RUN_HOST_TAG = "fraud/run_host"
RUN_PID_TAG = "fraud/run_pid"
RUN_PROCESS_START_TAG = "fraud/run_process_start"
