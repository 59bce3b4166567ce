"""The online store follows newly landed days: the automation condition on online_features,
evaluated in-process on a real instance as the daemon would."""

from dagster import AssetKey, DagsterInstance, evaluate_automation_conditions

from fraud_assets.orchestration.pipeline import load_defs
from tests.support import land, run_day

ONLINE = AssetKey("online_features")


def test_online_features_are_requested_once_per_new_day_of_features(fraud_home):
    with DagsterInstance.ephemeral() as instance:
        cursor = None

        def requested() -> int:
            nonlocal cursor
            result = evaluate_automation_conditions(defs=load_defs(), instance=instance,
                                                    cursor=cursor)
            cursor = result.cursor
            return result.get_num_requested(ONLINE)

        assert requested() == 0, "nothing landed yet"
        for day in ("2025-01-01", "2025-01-02"):
            land(fraud_home, day, rows=300)
            assert run_day(instance, day).success
        assert requested() == 1
        assert requested() == 0, "the same update is not handled twice"

        land(fraud_home, "2025-01-03", rows=300)
        assert run_day(instance, "2025-01-03").success
        assert requested() == 1


def test_the_daemon_evaluates_the_condition_without_a_toggle():
    from dagster import DefaultSensorStatus

    sensor = load_defs().resolve_sensor_def("feature_automation")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert ONLINE in sensor.asset_selection.resolve(load_defs().resolve_asset_graph())
