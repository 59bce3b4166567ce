"""Orchestration: the headless runners (pipeline, drift story), the embedded Dagster
instance and the process launcher behind `fraud-platform up`, `serve` and the tests.

Kept apart from the domain packages: these modules drive Dagster and start processes;
the domain packages (contract, validation, features, model, monitoring) only compute.
"""
