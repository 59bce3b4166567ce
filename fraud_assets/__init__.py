"""Fraud platform: the Dagster code location and the domain code it calls."""

import warnings

# Evidently imports litestar, whose own deprecations would greet every command and run.
warnings.filterwarnings("ignore", module=r"litestar(\.|$)")
