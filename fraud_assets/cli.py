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
    label_delay: Annotated[bool, typer.Option(
        help="Land transactions without is_fraud and send every verdict later through the "
             "label feed (landing/labels, a file per day of arrival).")] = False,
    label_median_days: Annotated[float, typer.Option(
        help="Median label delay in days (log-normal).", min=0.001)] = 3.0,
    label_sigma: Annotated[float, typer.Option(
        help="Spread of the label delay (sigma of its log): larger, a longer tail.",
        min=0.0)] = 1.2,
    label_max_days: Annotated[float, typer.Option(help="Longest label delay, days.",
                                                  min=0.001)] = 90.0,
    labels_until: Annotated[str | None, typer.Option(
        help="Write only labels arriving on or before this day, YYYY-MM-DD (default: all).")
                            ] = None,
    cards: Annotated[bool, typer.Option(
        "--cards/--no-cards",
        help="Add which card made each transaction (card_id) and when: legitimate cards at "
             "their own rates, fraud in bursts minutes apart on compromised cards "
             "(docs/CARDS.md). --no-cards writes the handbook's rows without card_id, as "
             "before.")] = True,
) -> None:
    """Write one landing CSV per day in the handbook's schema (and, with --label-delay, the
    label feed's files: most verdicts within days, a tail over weeks)."""
    if scenario not in simulator.SCENARIOS:
        raise typer.BadParameter(f"unknown scenario {scenario!r}; choose from "
                                 f"{', '.join(simulator.SCENARIOS)}", param_hint="--scenario")
    if scenario in simulator.CARD_SCENARIOS and not cards:
        raise typer.BadParameter(f"scenario {scenario!r} is about cards: drop --no-cards",
                                 param_hint="--scenario")
    first = _parse_day(start, "--start")
    switch = _parse_day(scenario_from, "--from") if scenario_from else first
    kinds = tuple(k.strip() for k in bad_kinds.split(",") if k.strip())
    unknown = set(kinds) - set(simulator.BAD_ROW_KINDS)
    if unknown:
        raise typer.BadParameter(f"unknown defect(s) {sorted(unknown)}", param_hint="--bad-kinds")
    folder = settings.landing_dir() if out is None else Path(out)
    delay = simulator.LabelDelay(
        label_median_days, label_sigma, label_max_days,
        _parse_day(labels_until, "--labels-until") if labels_until else None,
    ) if label_delay else None
    for i in range(days):
        day = first + dt.timedelta(days=i)
        plan = simulator.DayPlan(day=day, rows=rows, fraud_ratio=fraud_ratio, seed=seed,
                                 scenario=scenario if day >= switch else "normal",
                                 bad_rate=bad_rate, bad_kinds=kinds, label_delay=delay,
                                 cards=simulator.CARDS if cards else None)
        path = simulator.write_day(folder, plan)
        typer.echo(f"wrote {path} ({rows} rows, scenario {plan.scenario})")


@app.command()
def pipeline(
    days: Annotated[int, typer.Option(help="Days to simulate if not landed yet.", min=1)] = 30,
    start: Annotated[str, typer.Option(help="First simulated day, YYYY-MM-DD.")] = "2025-01-01",
    rows: Annotated[int, typer.Option(help="Transactions per simulated day.", min=1)] = 10_000,
    cards: Annotated[bool, typer.Option(
        "--cards/--no-cards",
        help="Simulated days carry card ids (docs/CARDS.md); --no-cards: the handbook's "
             "rows only. Days already landed are never rewritten.")] = True,
) -> None:
    """Land simulated days and materialize every asset, headless.

    Exit code: 0 a champion serves, 1 a run failed, 2 every run succeeded but the gate kept
    no champion (e.g. the first model was below the floors)."""
    from fraud_assets.orchestration.pipeline import PipelineError, run_pipeline

    _ensure_servers()
    try:
        report = run_pipeline(_parse_day(start, "--start"), days, rows, echo=typer.echo,
                              cards=cards)
    except PipelineError as exc:
        raise typer.BadParameter(str(exc), param_hint="--start") from None
    typer.echo(f"processed {len(report.days_processed)} day(s) in {report.seconds:.1f}s; "
               f"state in {settings.fraud_home()}")
    if not report.success:
        typer.echo(f"failed: {', '.join(report.failed_runs)} (see the runs in the Dagster UI)",
                   err=True)
        raise typer.Exit(1)
    if report.no_champion:
        # Every run succeeded, but there is nothing to serve: exit 2, not 0 and not 1.
        typer.echo(f"no champion: {report.no_champion}", err=True)
        raise typer.Exit(2)


@app.command()
def up(
    dagster_port: Annotated[int, typer.Option(help="Dagster UI port.")] = 3000,
    mlflow_port: Annotated[int, typer.Option(help="MLflow UI port.")] = 5000,
    api_port: Annotated[int, typer.Option(help="Fraud API port (BentoML).")] = 8000,
    api: Annotated[bool, typer.Option(help="Serve the champion (when there is one).")] = True,
    mlflow: Annotated[bool, typer.Option(help="Start the MLflow UI.")] = True,
    evidently: Annotated[bool, typer.Option(
        help="Start the Evidently UI (drift and performance dashboards over the days).")
    ] = True,
    evidently_port: Annotated[int, typer.Option(help="Evidently UI port.")] = 8001,
    host: Annotated[str, typer.Option(
        envvar="FRAUD_BIND_HOST",
        help="Address the servers bind (0.0.0.0 inside a container with a bridge "
             "network, so published ports reach them).")] = "127.0.0.1",
) -> None:
    """Start the Dagster UI (webserver + daemon), the MLflow UI, the Evidently UI and the
    fraud API."""
    from fraud_assets.model.registry import MlflowRegistry
    from fraud_assets.orchestration import servers

    _ensure_servers()
    chosen = servers.dagster_servers(dagster_port, host)
    if mlflow and settings.profile() == settings.SERVER:
        # The tracking server of `fraud-platform servers start` is the MLflow UI.
        typer.echo(f"{'MLflow UI':<15} {settings.server_endpoints().mlflow_url}")
    elif mlflow:
        chosen.append(servers.mlflow_server(mlflow_port, host))
    if evidently:
        from fraud_assets.monitoring.dashboards import DashboardError

        try:
            chosen.append(servers.evidently_server(evidently_port, host))
        except DashboardError as exc:  # the other UIs are still worth starting
            typer.echo(f"Evidently UI not started: {exc}", err=True)
    if api and MlflowRegistry().alias_version(settings.CHAMPION_ALIAS) is not None:
        chosen.append(servers.api_server(api_port, host=host))
    elif api:
        typer.echo("no champion model yet: the API starts once `make pipeline` produced one")
    raise typer.Exit(servers.run_until_interrupted(chosen, echo=typer.echo))


images = typer.Typer(help="Container images: build them and run them (Docker or podman).",
                     no_args_is_help=True)
app.add_typer(images, name="images")


@images.command("build")
def images_build(
    base: Annotated[bool, typer.Option(
        help="First build python:3.11-slim from Debian packages (no Docker Hub needed).")
    ] = False,
    only: Annotated[str | None, typer.Option(
        help="Build only `platform` or `api` (default: both).")] = None,
) -> None:
    """Build the platform image (Dockerfile) and the fraud API image (the champion's Bento)."""
    from fraud_assets.orchestration import containers

    which = (only,) if only else ("platform", "api")
    if set(which) - {"platform", "api"}:
        raise typer.BadParameter(f"{only!r}: choose platform or api", param_hint="--only")
    try:
        containers.build_all(echo=typer.echo, base=base, which=which)
    except containers.ContainerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


def _run_container(args: list[str], name: str) -> None:
    """Run in the foreground; Ctrl-C or SIGTERM stops (and --rm removes) the container."""
    import signal
    import subprocess

    from fraud_assets.orchestration import containers

    try:
        engine = containers.find_engine()
    except containers.ContainerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    process = subprocess.Popen([engine.path, *args], env=engine.env())

    def stop(signum: int, frame: object) -> None:
        engine.run("stop", "-t", "10", name, check=False)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    raise typer.Exit(process.wait())


@images.command("base")
def images_base() -> None:
    """Build python:3.11-slim from Debian packages (for hosts without Docker Hub)."""
    from fraud_assets.orchestration import containers

    try:
        typer.echo(f"built {containers.build_base_image(containers.find_engine())}")
    except containers.ContainerError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@images.command("run-api", help=(
    "The fraud API image in the foreground until Ctrl-C or SIGTERM, which stop and remove "
    "every container.\n\n"
    "FRAUD_PROFILE=local: the local online store mounted read-only, the prediction log on "
    "FRAUD_HOME/predictions, the model packaged in the image.\n\n"
    "FRAUD_PROFILE=server (starts the servers if needed): nothing mounted from the host; "
    "features from Redis, the Feast registry from PostgreSQL and the champion from the MLflow "
    "server over HTTP, reached on the host's loopback through slirp4netns (10.0.2.2 inside); "
    "passwords as podman secrets; every replica swaps models when the champion alias moves; "
    "the prediction log in VOLUME."))
def images_run_api(
    port: Annotated[int, typer.Option(
        envvar="API_IMAGE_PORT", help="Port on 127.0.0.1 (replica i listens on PORT+i).")
    ] = 8200,
    image: Annotated[str, typer.Option(help="API image tag.")] = "localhost/fraud-api:latest",
    replicas: Annotated[int, typer.Option(
        min=1, max=16, help="Containers to run, each on its own port (more than one needs "
                            "FRAUD_PROFILE=server).")] = 1,
    poll_seconds: Annotated[float | None, typer.Option(
        min=0, help="How often each replica re-reads the champion alias (server profile; "
                    "default: the image's 30 s).")] = None,
    volume: Annotated[str, typer.Option(
        help="Named volume for the prediction log of every replica (server profile).")
    ] = "fraud-predictions",
) -> None:
    """Run the API image (replicas under the server profile); see the help above."""
    from fraud_assets.orchestration import containers

    _ensure_servers()
    try:
        running = containers.ApiReplicas(containers.find_engine(), image, port, replicas,
                                         poll_seconds, volume)
    except (containers.ContainerError, settings.ServerProfileError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(containers.run_replicas_until_interrupted(running, echo=typer.echo))


@images.command("run-platform")
def images_run_platform(
    dagster_port: Annotated[int, typer.Option(help="Dagster UI port.")] = 3000,
    mlflow_port: Annotated[int, typer.Option(help="MLflow UI port.")] = 5000,
    volume: Annotated[str, typer.Option(help="Named volume holding the platform state.")
                      ] = "fraud-state",
    image: Annotated[str, typer.Option(help="Platform image tag.")
                     ] = "localhost/fraud-platform:latest",
) -> None:
    """The platform image (Dagster UI, daemon, MLflow UI) on a state volume."""
    from fraud_assets.orchestration import containers

    name = "fraud-platform"
    _run_container(containers.platform_run_args(containers.find_engine(), dagster_port,
                                                mlflow_port, volume, name, image), name)


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Dagster UI port.")] = 3000,
) -> None:
    """Only the Dagster UI, through `dg dev`, on the platform's instance (either profile)."""
    from fraud_assets.orchestration import servers

    _ensure_servers()
    raise typer.Exit(servers.run_until_interrupted([servers.dg_dev_server(port)],
                                                   echo=typer.echo))


@app.command("dagster-home")
def dagster_home() -> None:
    """Print the platform's DAGSTER_HOME, creating it with its dagster.yaml if needed
    (e.g. `DAGSTER_HOME="$(fraud-platform dagster-home)" dg dev`)."""
    from fraud_assets.orchestration.instance import ensure_dagster_home

    typer.echo(str(ensure_dagster_home()))


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8000,
    bento: Annotated[str | None, typer.Option(
        help="Serve a built Bento (e.g. fraud_detection:latest) instead of the source; its "
             "packaged champion answers, no MLflow needed.")] = None,
) -> None:
    """The fraud API alone (`bentoml serve`), until Ctrl-C."""
    from fraud_assets.orchestration import servers

    _ensure_servers()
    raise typer.Exit(servers.run_until_interrupted([servers.api_server(port, bento)],
                                                   echo=typer.echo))


@app.command()
def rollback(
    to: Annotated[str | None, typer.Option(
        "--to", help="Version to make champion (default: the previous champion).")] = None,
    tracking_uri: Annotated[str | None, typer.Option(
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or FRAUD_HOME's store).")
    ] = None,
) -> None:
    """Move the `champion` alias back to the previous champion, or to --to VERSION."""
    # Imported here: MLflow takes seconds to import and the other commands do not need it.
    from fraud_assets.model import deploy
    from fraud_assets.model.registry import MlflowRegistry, RegistryError

    registry = MlflowRegistry(tracking_uri=tracking_uri or "")
    try:
        move = deploy.rollback(registry, to)
    except RegistryError as exc:
        typer.echo(f"rollback refused: {exc}", err=True)
        raise typer.Exit(code=1) from None
    typer.echo(move.describe(registry.model_name))


canary_app = typer.Typer(
    help="The canary: let the challenger answer a share of live traffic, through the "
         "registry (every serving replica follows within its poll interval, no restart).",
    no_args_is_help=True)
app.add_typer(canary_app, name="canary")
TrackingUri = Annotated[str | None, typer.Option(
    help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or FRAUD_HOME's store).")]


def _canary_registry(tracking_uri: str | None):
    from fraud_assets.model.registry import MlflowRegistry

    return MlflowRegistry(tracking_uri=tracking_uri or "")


@canary_app.command("set")
def canary_set(
    percent: Annotated[float, typer.Argument(help="Share of traffic, 0-100 (0 stops it).")],
    tracking_uri: TrackingUri = None,
) -> None:
    """Let the challenger answer PERCENT of traffic (sticky per card id, else per request id)."""
    from fraud_assets.model import deploy
    from fraud_assets.model.registry import RegistryError

    try:
        typer.echo(deploy.set_canary(_canary_registry(tracking_uri), percent))
    except (RegistryError, ValueError) as exc:
        typer.echo(f"canary refused: {exc}", err=True)
        raise typer.Exit(code=1) from None


@canary_app.command("stop")
def canary_stop(tracking_uri: TrackingUri = None) -> None:
    """The champion answers all traffic again (the challenger stays in shadow)."""
    from fraud_assets.model import deploy

    typer.echo(deploy.set_canary(_canary_registry(tracking_uri), 0))


@canary_app.command("status")
def canary_status(tracking_uri: TrackingUri = None) -> None:
    """Champion, challenger and the canary share as the registry holds them."""
    from fraud_assets.model import deploy
    from fraud_assets.model.registry import CHALLENGER_ALIAS

    registry = _canary_registry(tracking_uri)
    percent = deploy.canary_percent(registry)
    shown = (f"{percent:g}% (registry)" if percent is not None
             else f"unset in the registry (each replica's ${deploy.CANARY_ENV}, default 0)")
    typer.echo(f"champion: {registry.alias_version(settings.CHAMPION_ALIAS) or 'none'}\n"
               f"challenger: {registry.alias_version(CHALLENGER_ALIAS) or 'none'}\n"
               f"canary: {shown}")


@app.command("drift-demo")
def drift_demo(
    scenarios: Annotated[str | None, typer.Option(
        help="Comma-separated scenarios, one story day each, in order "
             "(default: normal,amount_x2,late_night,fraud_spike).")] = None,
    days_per_scenario: Annotated[int, typer.Option(help="Days of each scenario.", min=1)] = 1,
    rows: Annotated[int | None, typer.Option(
        help="Rows per story day (default: as many as the last landed day).", min=1)] = None,
    skip_bento: Annotated[bool, typer.Option(
        help="Retrain without rebuilding the bento (saves ~15 s per run).")] = False,
    cooldown_hours: Annotated[float, typer.Option(
        help="The sensor's cool-down during the demo (deployed default: 24).", min=0.0)] = 0.0,
    seed: Annotated[int, typer.Option(help="Simulator seed of the story days.")] = 42,
    baseline_days: Annotated[int, typer.Option(
        help="Days the pipeline lands first if there is no champion yet.", min=1)] = 30,
    baseline_rows: Annotated[int, typer.Option(help="Rows per baseline day.", min=1)] = 10_000,
    start: Annotated[str, typer.Option(help="First baseline day, YYYY-MM-DD.")] = "2025-01-01",
) -> None:
    """Play the drift story headless: scenario days, drift, retraining, gate.

    Lands each scenario's days, reports drift, lets the sensor request retraining, gates
    the new version, and prints what happened.
    """
    from fraud_assets.orchestration.story import (
        DEMO_SCENARIOS,
        StoryConfig,
        StoryError,
        describe,
        run_story,
    )

    _ensure_servers()
    chosen = tuple(s.strip() for s in scenarios.split(",") if s.strip()) if scenarios \
        else DEMO_SCENARIOS
    config = StoryConfig(scenarios=chosen, days_per_scenario=days_per_scenario, rows=rows,
                         seed=seed, skip_bento=skip_bento, cooldown_hours=cooldown_hours,
                         baseline_start=_parse_day(start, "--start"),
                         baseline_days=baseline_days, baseline_rows=baseline_rows)
    try:
        report = run_story(config, echo=typer.echo)
    except StoryError as exc:
        typer.echo(f"drift-demo stopped: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("\n" + report.table() + "\n")
    typer.echo(describe(report, chosen))
    failed = [o.day for o in report.outcomes
              if not o.daily_ok or (o.retraining and not o.retraining.success)]
    if failed:
        typer.echo(f"runs failed on {', '.join(failed)} (see them in the Dagster UI)", err=True)
        raise typer.Exit(1)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
             add_help_option=False)
def feast(ctx: typer.Context) -> None:
    """Run the `feast` CLI on feature_repo/ with this platform's FRAUD_HOME filled in.

    Example: `fraud-platform feast feature-views list`.
    """
    import os
    import subprocess
    import sys

    command = [str(Path(sys.executable).parent / "feast")]
    env = os.environ | {"FRAUD_HOME": str(settings.fraud_home())}
    if settings.profile() == settings.SERVER:
        # The server variant of feature_store.yaml (SQL registry, Redis), written with the
        # passwords into the servers' folder, readable by this user only.
        import yaml

        from fraud_assets.features.store import config_dict

        _ensure_servers()
        path = settings.server_endpoints().home / "feature_store.yaml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(config_dict(settings.fraud_home()), out)
        command += ["--feature-store-yaml", str(path)]
    done = subprocess.run([*command, *ctx.args], cwd=settings.REPO_ROOT / "feature_repo",
                          env=env)
    raise typer.Exit(done.returncode)


servers_app = typer.Typer(
    help="The server profile's PostgreSQL, Redis and MLflow tracking server (127.0.0.1; data "
         "and generated passwords under FRAUD_HOME/servers). Ports: FRAUD_PG_PORT (5432), "
         "FRAUD_REDIS_PORT (6379), FRAUD_MLFLOW_PORT (5000).", no_args_is_help=True)
app.add_typer(servers_app, name="servers")


@servers_app.command("start")
def servers_start() -> None:
    """Start whatever is not running; roles, databases and passwords on first start."""
    from fraud_assets.orchestration.server_profile import ServerProfile

    try:
        profile = ServerProfile(echo=typer.echo)
        profile.start()
    except (settings.ServerProfileError, ValueError) as exc:
        typer.echo(f"servers: {exc}", err=True)
        raise typer.Exit(1) from None
    for name, state in profile.status().items():
        typer.echo(f"{name:<15} {state}")
    if settings.profile() != settings.SERVER:
        typer.echo("(FRAUD_PROFILE is local: set FRAUD_PROFILE=server to use them)")


@servers_app.command("stop")
def servers_stop() -> None:
    """Stop the MLflow server, Redis and PostgreSQL (data is kept)."""
    from fraud_assets.orchestration.server_profile import ServerProfile

    try:
        ServerProfile(echo=typer.echo).stop()
    except (settings.ServerProfileError, ValueError) as exc:
        typer.echo(f"servers: {exc}", err=True)
        raise typer.Exit(1) from None


@servers_app.command("status")
def servers_status() -> None:
    """Which of the three servers run (exit code 0 only if all do)."""
    from fraud_assets.orchestration.server_profile import ServerProfile

    profile = ServerProfile(echo=typer.echo)
    states = profile.status()
    for name, state in states.items():
        typer.echo(f"{name:<15} {state}")
    raise typer.Exit(0 if all(s.startswith("running") for s in states.values()) else 1)


def _ensure_servers() -> None:
    """Under FRAUD_PROFILE=server, start the profile's servers unless they run."""
    try:
        if settings.profile() != settings.SERVER:
            return
        from fraud_assets.orchestration.server_profile import ensure_running

        ensure_running(echo=typer.echo)
    except (settings.ServerProfileError, ValueError) as exc:
        typer.echo(f"server profile: {exc}", err=True)
        raise typer.Exit(1) from None


def _parse_day(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date like 2025-01-31",
                                 param_hint=option) from None


if __name__ == "__main__":
    app()
