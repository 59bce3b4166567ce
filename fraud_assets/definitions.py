"""The code location: every asset, check, job, sensor and resource, in one Definitions."""

from dagster import Definitions, in_process_executor

from fraud_assets.defs.assets import bento, features, ingest, monitoring, performance
from fraud_assets.defs.assets import model as model_assets
from fraud_assets.defs.checks import ingest as ingest_checks
from fraud_assets.defs.jobs import daily_job, online_features_job, retraining_job
from fraud_assets.defs.resources import FraudHome
from fraud_assets.defs.sensors.automation import feature_automation
from fraud_assets.defs.sensors.drift import drift_retraining
from fraud_assets.defs.sensors.landing import landing_sensor
from fraud_assets.features.store import FeastStore
from fraud_assets.lake import LakeIOManager
from fraud_assets.model.registry import MlflowRegistry

defs = Definitions(
    assets=[
        ingest.transactions_raw, ingest.transactions_validated,
        features.merchant_features, features.online_features, features.training_set,
        model_assets.fraud_model, model_assets.champion,
        monitoring.drift_report, monitoring.prediction_drift_report,
        performance.model_performance,
        bento.fraud_bento,
    ],
    asset_checks=[ingest_checks.contract_structure, ingest_checks.contract_values,
                  ingest_checks.fraud_rate_sane],
    jobs=[daily_job, online_features_job, retraining_job],
    sensors=[landing_sensor, drift_retraining, feature_automation],
    resources={
        "fraud_home": FraudHome(),
        "lake": LakeIOManager(),
        "feast_store": FeastStore(fraud_home=FraudHome()),
        "mlflow_registry": MlflowRegistry(ui_url="http://127.0.0.1:5000"),
    },
    # On one machine a subprocess per step costs far more than the steps themselves.
    executor=in_process_executor,
)
