"""The code location: every asset, check, job, sensor and resource, in one Definitions."""

from dagster import Definitions, in_process_executor

from fraud_assets.defs.assets import ingest
from fraud_assets.defs.checks import ingest as ingest_checks
from fraud_assets.defs.jobs import daily_job
from fraud_assets.defs.resources import FraudHome
from fraud_assets.defs.sensors.landing import landing_sensor
from fraud_assets.lake import LakeIOManager

defs = Definitions(
    assets=[ingest.transactions_raw, ingest.transactions_validated],
    asset_checks=[ingest_checks.contract_structure, ingest_checks.contract_values,
                  ingest_checks.fraud_rate_sane],
    jobs=[daily_job],
    sensors=[landing_sensor],
    resources={
        "fraud_home": FraudHome(),
        "lake": LakeIOManager(),
    },
    # On one machine a subprocess per step costs far more than the steps themselves.
    executor=in_process_executor,
)
