"""The one time axis of the platform: a partition per calendar day (UTC).

It starts where the data starts ($FRAUD_FIRST_DAY, default the demo's first day), so the
UI does not list hundreds of days that never landed as missing.
"""

from dagster import DailyPartitionsDefinition

from fraud_assets import settings

daily_partitions = DailyPartitionsDefinition(start_date=settings.first_day(), timezone="UTC")
