"""The one time axis of the platform: a partition per calendar day (UTC)."""

from dagster import DailyPartitionsDefinition

FIRST_DAY = "2024-01-01"
daily_partitions = DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC")
