"""Training, evaluation, the MLflow registry, the champion gate and rollback."""
