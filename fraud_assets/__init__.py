"""Fraud platform: the Dagster code location and the domain code it calls."""

import warnings

from fraud_assets import settings

settings.disable_telemetry()
settings.set_memory_defaults()
# Evidently imports litestar, whose own deprecations would greet every command and run.
warnings.filterwarnings("ignore", module=r"litestar(\.|$)")
