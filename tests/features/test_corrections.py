"""A corrected day propagates: the merchant features of every materialized day whose window
holds it are requested again (and the online store follows), evaluated in-process on a
real instance as the daemon would."""

from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions, materialize

from fraud_assets.defs.features.assets import merchant_features
from fraud_assets.features import offline
from fraud_assets.features.names import ALL_MERCHANTS
from fraud_assets.orchestration.pipeline import load_defs
from tests.support import land, resources, run_day

FEATURES = AssetKey("merchant_features")
ONLINE = AssetKey("online_features")
DAYS = ("2025-01-01", "2025-01-02", "2025-01-03")


def test_a_corrected_day_requests_the_features_of_the_days_that_read_it(fraud_home):
    with DagsterInstance.ephemeral() as instance:
        cursor = None

        def evaluate():
            nonlocal cursor
            result = evaluate_automation_conditions(defs=load_defs(), instance=instance,
                                                    cursor=cursor)
            cursor = result.cursor
            return result

        evaluate()
        for day in DAYS:
            land(fraud_home, day, rows=300)
            assert run_day(instance, day).success
        new_days = evaluate()
        assert new_days.get_requested_partitions(FEATURES) == set(), (
            "new days: each day's features were computed after its window; nothing to redo, "
            "and days not materialized yet are never requested")

        land(fraud_home, DAYS[0], rows=300, fraud_ratio=0.05)  # corrected labels
        assert run_day(instance, DAYS[0]).success
        corrected = evaluate()
        # The days whose 28-day window holds 2025-01-01, among those materialized.
        assert corrected.get_requested_partitions(FEATURES) == {DAYS[1], DAYS[2]}
        assert evaluate().get_requested_partitions(FEATURES) == set(), "handled once"

        def fraud_rate(day):
            rows = offline.read_rows(fraud_home / "feast")
            rows = rows[(rows["event_timestamp"].dt.date.astype(str) == day)
                        & (rows["merchant_category"] == ALL_MERCHANTS)]
            return float(rows["merchant_fraud_rate"].iloc[0])

        before = fraud_rate(DAYS[2])
        for day in sorted(corrected.get_requested_partitions(FEATURES)):  # as the daemon would
            assert materialize([merchant_features], partition_key=day, instance=instance,
                               resources=resources(fraud_home)).success
        assert fraud_rate(DAYS[2]) > before, "the corrected labels reach the features"
        assert evaluate().get_num_requested(ONLINE) == 1, "and the online store follows"
