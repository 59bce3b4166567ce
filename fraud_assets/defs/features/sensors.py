"""Evaluates the assets' automation conditions (today: `online_features` follows new days).

Dagster's implicit default sensor starts stopped; this one is on as soon as the daemon
runs, so the online store serving reads stays current without a toggle in the UI.
"""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

from fraud_assets import names

feature_automation = AutomationConditionSensorDefinition(
    names.FEATURE_AUTOMATION_SENSOR,
    target=AssetSelection.assets(names.ONLINE_FEATURES),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Refreshes the Feast online store after each new day of merchant features.",
)
