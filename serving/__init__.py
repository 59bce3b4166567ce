"""The fraud API: a BentoML service (`serving.service:FraudService`) around the champion.

Serving reuses the domain code: the contract (`fraud_assets.contract`), the one registry
client and loaded-model type (`fraud_assets.model.registry`, `.loaded`), the one
model-input builder (`fraud_assets.model.training.model_input`), the online features and
the one prediction-log module (`fraud_assets.monitoring.prediction_log`). No Dagster.
"""

import os

# The one place serving tunes MLflow's HTTP client, before anything imports mlflow: a dead
# tracking server must not stall a registry poll for minutes of retries (the next poll
# retries anyway). A value set by the user wins.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
