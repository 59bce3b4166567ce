"""Training, evaluation, the MLflow registry, the champion gate and rollback."""

import os

# MLflow reports usage unless told not to; the platform never phones home. Set before any
# submodule imports mlflow (it starts its telemetry client at import time).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
