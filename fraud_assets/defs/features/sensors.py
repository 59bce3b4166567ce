"""Evaluates the assets' automation conditions: `merchant_features` and `card_features`
days whose window holds a corrected validated day are re-materialized, and
`online_features` follows new or refreshed days of features.

Dagster's implicit default sensor starts stopped; this one is on as soon as the daemon
runs, so the online store serving reads stays current without a toggle in the UI.
"""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

from fraud_assets import names

feature_automation = AutomationConditionSensorDefinition(
    names.FEATURE_AUTOMATION_SENSOR,
    target=AssetSelection.assets(names.MERCHANT_FEATURES, names.CARD_FEATURES,
                                  names.ONLINE_FEATURES),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Re-materializes the merchant and card features of the days whose window "
                "holds a corrected day, and refreshes the Feast online store after each new or "
                "refreshed day of merchant features.",
)
