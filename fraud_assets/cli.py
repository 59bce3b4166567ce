"""`fraud-platform`: the command line of the platform."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from fraud_assets import settings, simulator

app = typer.Typer(help="Local-first MLOps platform for card-fraud detection.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def main() -> None:
    """Simulate data, run the pipeline, and manage models from the command line."""


@app.command()
def simulate(
    days: Annotated[int, typer.Option(help="Number of days to write.", min=1)] = 30,
    start: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = "2025-01-01",
    rows: Annotated[int, typer.Option(help="Transactions per day.", min=1)] = 10_000,
    fraud_ratio: Annotated[float, typer.Option(help="Share of fraud on a normal day.",
                                               min=0.0, max=1.0)] = 0.02,
    seed: Annotated[int, typer.Option(help="Base seed; each day derives its own.")] = 42,
    scenario: Annotated[str, typer.Option(
        help=f"Drift scenario: {', '.join(simulator.SCENARIOS)}.")] = "normal",
    scenario_from: Annotated[str | None, typer.Option(
        "--from", help="First day the scenario applies (default: the first day).")] = None,
    bad_rate: Annotated[float, typer.Option(help="Share of rows to spoil.", min=0.0,
                                            max=1.0)] = 0.0,
    bad_kinds: Annotated[str, typer.Option(
        help="Comma-separated defects: " + ", ".join(simulator.BAD_ROW_KINDS))] = ",".join(
        simulator.BAD_ROW_KINDS),
    out: Annotated[str | None, typer.Option(help="Landing folder (default: FRAUD_HOME/landing).")
                   ] = None,
) -> None:
    """Write one landing CSV per day in the handbook's schema."""
    if scenario not in simulator.SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {scenario!r}; choose from "
                                 f"{', '.join(simulator.SCENARIOS)}", param_hint="--scenario")
    first = _parse_day(start, "--start")
    switch = _parse_day(scenario_from, "--from") if scenario_from else first
    kinds = tuple(k.strip() for k in bad_kinds.split(",") if k.strip())
    unknown = set(kinds) - set(simulator.BAD_ROW_KINDS)
    if unknown:
        raise typer.BadParameter(f"unknown defect(s) {sorted(unknown)}", param_hint="--bad-kinds")
    folder = settings.landing_dir() if out is None else Path(out)
    for i in range(days):
        day = first + dt.timedelta(days=i)
        plan = simulator.DayPlan(day=day, rows=rows, fraud_ratio=fraud_ratio, seed=seed,
                                 scenario=scenario if day >= switch else "normal",
                                 bad_rate=bad_rate, bad_kinds=kinds)
        path = simulator.write_day(folder, plan)
        typer.echo(f"wrote {path} ({rows} rows, scenario {plan.scenario})")


def _parse_day(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2025-01-31",
                                 param_hint=option) from None


if __name__ == "__main__":
    app()
