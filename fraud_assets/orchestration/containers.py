"""Container images of the platform, with whichever engine the host has.

Two images: the platform image (the top-level Dockerfile: code location, webserver, daemon,
MLflow UI) and the fraud API image (`bentoml containerize` of the champion's Bento). Docker
is used when its daemon answers, else podman; podman gets the settings hosts like ours need
through `deploy/containers/containers.conf` (CONTAINERS_CONF, the user's own files are
never edited). Without access to Docker Hub, `build_base_image` makes the base image
`python:3.11-slim` from Debian packages (deploy/containers/build-base-image.sh).

The API image runs under either profile (`ApiReplicas`): local, one container with the local
online store mounted read-only; server, one or more replicas with nothing mounted but the
prediction-log volume, reading Redis, Feast's SQL registry on PostgreSQL and the MLflow
tracking server on the host's loopback through slirp4netns (see `server_profile_env`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from fraud_assets import settings
from fraud_assets.orchestration.processes import ignore_interrupts, interrupt_on_signals

DEPLOY = settings.REPO_ROOT / "deploy" / "containers"
PODMAN_CONF = DEPLOY / "containers.conf"
BASE_IMAGE = "docker.io/library/python:3.11-slim"
PLATFORM_IMAGE = "localhost/fraud-platform"
API_IMAGE = "localhost/fraud-api"
BENTO = "fraud_detection"
# Where the Bento's service keeps its state inside the API image (bentofile.yaml envs).
API_HOME = "/home/bentoml/fraud"
PLATFORM_HOME = "/var/lib/fraud"
# The server profile's servers listen on the host's 127.0.0.1 only. A container in its own
# network namespace reaches that loopback through podman's user-mode network, slirp4netns,
# started with allow_host_loopback=true: the host's 127.0.0.1 is then 10.0.2.2 inside (the
# container can reach every port on the host's loopback, and publishes only its own port).
SLIRP_HOST_LOOPBACK = "slirp4netns:allow_host_loopback=true"
HOST_LOOPBACK = "10.0.2.2"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
# One named volume for the prediction log of every replica: each serving process writes its
# own file (<host>-<pid>-<start>.jsonl, the host being the container), so replicas never
# interleave lines, and monitoring reads one day folder holding all of the day's traffic.
PREDICTIONS_VOLUME = "fraud-predictions"


class ContainerError(RuntimeError):
    """No engine, or a build/run that failed; the message says what to install or read."""


@dataclass(frozen=True)
class Engine:
    name: str  # docker | podman
    path: str

    def env(self) -> dict[str, str]:
        """The environment its commands run with (podman: the project's containers.conf)."""
        if self.name == "podman" and "CONTAINERS_CONF" not in os.environ:
            return os.environ | {"CONTAINERS_CONF": str(PODMAN_CONF)}
        return dict(os.environ)

    def run(self, *args: str, check: bool = True, capture: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess:
        """`<engine> args...`; `input` goes to its stdin (never on its command line)."""
        done = subprocess.run([self.path, *args], env=self.env(), text=True, input=input,
                              capture_output=capture)
        if check and done.returncode != 0:
            detail = (done.stderr or done.stdout or "").strip().splitlines()[-20:]
            raise ContainerError(f"{self.name} {' '.join(args[:2])} failed:\n" + "\n".join(detail))
        return done

    def network_args(self, *ports: int) -> tuple[list[str], str]:
        """(run flags, the address servers inside bind) for serving `ports` on loopback:
        the container has its own network namespace, the servers bind all of its
        interfaces, and only `ports` are published, on the host's 127.0.0.1."""
        return [a for p in ports for a in ("-p", f"127.0.0.1:{p}:{p}")], "0.0.0.0"

    @property
    def build_flags(self) -> list[str]:
        # podman here: host networking (see containers.conf); docker keeps its defaults.
        return ["--network", "host", "--format", "docker"] if self.name == "podman" else []

    def has_image(self, tag: str) -> bool:
        return self.run("image", "inspect", tag, check=False).returncode == 0

    def size_mb(self, tag: str) -> float:
        raw = self.run("image", "inspect", tag, "--format", "{{.Size}}").stdout.strip()
        return int(raw) / 1e6


def find_engine() -> Engine:
    """Docker when its daemon answers, else podman; ContainerError says what to install."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "info"], capture_output=True).returncode == 0:
        return Engine("docker", docker)
    podman = shutil.which("podman")
    if podman:
        return Engine("podman", podman)
    hint = " (the docker client is there, but no daemon answers)" if docker else ""
    raise ContainerError(
        f"no container engine{hint}: start a Docker daemon, or install podman "
        "(Debian: apt-get install podman runc)")


def build_base_image(engine: Engine) -> str:
    """`python:3.11-slim` from Debian packages, for hosts without Docker Hub; its tag."""
    done = subprocess.run(["bash", str(DEPLOY / "build-base-image.sh"), engine.name],
                          env=engine.env(), text=True, capture_output=True)
    if done.returncode != 0:
        raise ContainerError(f"base image build failed:\n{done.stderr.strip()}")
    return BASE_IMAGE


def _pull_flags(engine: Engine) -> list[str]:
    # A local base image (the Debian stand-in, or one pulled before) is used as it is.
    return ["--pull=never"] if engine.has_image(BASE_IMAGE) else []


def build_platform_image(engine: Engine, tag: str = f"{PLATFORM_IMAGE}:latest") -> str:
    """The top-level Dockerfile, built from the checkout; returns the tag."""
    engine.run("build", *engine.build_flags, *_pull_flags(engine), "-t", tag,
               "-f", str(settings.REPO_ROOT / "Dockerfile"), str(settings.REPO_ROOT),
               capture=False)
    return tag


def build_api_image(engine: Engine, bento: str = f"{BENTO}:latest",
                    tag: str = f"{API_IMAGE}:latest") -> str:
    """`bentoml containerize` of a built Bento (the champion packaged inside)."""
    bentoml = str(Path(sys.executable).parent / "bentoml")
    # (podman's default pull policy, "missing", uses a local base image as it is.)
    opts = ["--opt=network=host", "--opt=format=docker"] if engine.name == "podman" else []
    env = engine.env() | {"BENTOML_HOME": str(settings.bentoml_home())}
    done = subprocess.run([bentoml, "containerize", bento, "--backend", engine.name,
                           "-t", tag, *opts], env=env, text=True)
    if done.returncode != 0:
        raise ContainerError(f"bentoml containerize {bento} failed (exit {done.returncode}); "
                             f"build the Bento first with `make bento`")
    return tag


def api_run_args(engine: Engine, port: int, home: Path, name: str,
                 image: str = f"{API_IMAGE}:latest",
                 extra_env: dict[str, str] | None = None) -> list[str]:
    """`run` arguments for the API image: the local feature store mounted read-only, the
    prediction log on a mounted folder, the API on 127.0.0.1:`port`."""
    predictions = settings.predictions_dir(home)
    predictions.mkdir(parents=True, exist_ok=True)
    network, bind = engine.network_args(port)
    env = {"FRAUD_REQUIRE_FEATURES": "true"} | (extra_env or {})
    # The service runs as the image's unprivileged user: podman hands the log folder to it
    # (:U), docker runs the container as the host user who owns the folder.
    owner = [] if engine.name == "podman" else ["--user", f"{os.getuid()}:{os.getgid()}"]
    log_mount = f"{predictions}:{API_HOME}/predictions" + (":U" if not owner else "")
    args = ["run", "--rm", "--name", name, *network, *owner,
            "-v", f"{settings.feast_dir(home)}:{API_HOME}/feast:ro", "-v", log_mount]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    return [*args, image, "serve", "--host", bind, "--port", str(port)]


def platform_run_args(engine: Engine, dagster_port: int, mlflow_port: int, volume: str,
                      name: str, image: str = f"{PLATFORM_IMAGE}:latest") -> list[str]:
    """`run` arguments for the platform image on a named state volume."""
    network, bind = engine.network_args(dagster_port, mlflow_port)
    return ["run", "--rm", "--name", name, *network, "-e", f"FRAUD_BIND_HOST={bind}",
            "-v", f"{volume}:{PLATFORM_HOME}", image,
            "fraud-platform", "up", "--no-api", "--no-evidently",
            "--dagster-port", str(dagster_port),
            "--mlflow-port", str(mlflow_port)]


def _in_container(host: str) -> str:
    """`host` as a container reaches it: the host's loopback is HOST_LOOPBACK there."""
    return HOST_LOOPBACK if host in LOOPBACK_NAMES else host


def server_profile_env(poll_seconds: float | None = None) -> dict[str, str]:
    """The API container's environment under the server profile, passwords excepted (they
    go in as secrets, see `ApiReplicas`): the profile's settings (settings.SERVER_ENV) with
    the host's loopback translated for the container, the MLflow tracking server as the
    model source (so the replica follows the champion alias, re-read every `poll_seconds`,
    default the image's 30 s) and readiness only once Redis can be read.

    ContainerError when the registry is not an HTTP server (a SQLite file cannot be shared).
    """
    ends = settings.server_endpoints()
    uri = settings.mlflow_tracking_uri()
    tracking = urlsplit(uri)
    if tracking.scheme not in ("http", "https") or not tracking.hostname:
        raise ContainerError(
            f"under the server profile the API image reads the registry over HTTP, and "
            f"MLFLOW_TRACKING_URI={settings.mask_url(uri)!r} is not an http(s) server: unset "
            "it to use the profile's MLflow server (make servers)")
    netloc = _in_container(tracking.hostname) + (f":{tracking.port}" if tracking.port else "")
    env = {variable: str(getattr(ends, key)) for key, (variable, _) in settings.SERVER_ENV.items()}
    env |= {settings.SERVER_ENV["postgres_host"][0]: _in_container(ends.postgres_host),
            settings.SERVER_ENV["redis_host"][0]: _in_container(ends.redis_host),
            # model.loaded.REGISTRY, spelt out: importing it costs pandas and MLflow (27 s
            # measured under load) before the first container starts.
            settings.PROFILE_ENV: settings.SERVER, "FRAUD_MODEL_SOURCE": "registry",
            "FRAUD_REQUIRE_FEATURES": "true",
            "MLFLOW_TRACKING_URI": urlunsplit(tracking._replace(netloc=netloc))}
    if poll_seconds is not None:
        env["FRAUD_CHAMPION_POLL_SECONDS"] = f"{poll_seconds:g}"
    return env


def server_network_args(engine: Engine, env: dict[str, str]) -> list[str]:
    """The network flags of a container with `env` (server_profile_env): slirp4netns with
    the host's loopback reachable when a server is there, else the engine's default
    (its own network namespace either way). ContainerError on Docker in the first case."""
    if not any(HOST_LOOPBACK in value for value in env.values()):
        return []
    if engine.name != "podman":
        raise ContainerError(
            "the server profile's servers listen on 127.0.0.1, which a Docker container in "
            "its own network cannot reach: use podman (slirp4netns reaches the host's "
            "loopback), or run the servers where containers reach them and set "
            "FRAUD_PG_HOST, FRAUD_REDIS_HOST and MLFLOW_TRACKING_URI")
    return ["--network", SLIRP_HOST_LOOPBACK]


class ApiReplicas:
    """`count` containers of the API image on 127.0.0.1:`port`, `port`+1, ..., run detached
    and stopped together; named `fraud-api-<port>`.

    Under the server profile (FRAUD_PROFILE=server) nothing from the host is mounted: the
    features come from Redis, the Feast registry from PostgreSQL, the champion from the
    MLflow tracking server over HTTP (artifacts downloaded from it: --serve-artifacts), all
    through `server_profile_env`; the passwords go in as podman secrets (created from
    stdin, kept in podman's 0600 store, mounted as files under /run/secrets that
    FRAUD_*_PASSWORD_FILE name: absent from `inspect`, the environment and every command
    line; removed on `stop`); the prediction log goes to the named volume `volume`, shared by
    the replicas (PREDICTIONS_VOLUME says why). Under the local profile: one container,
    the local online store mounted read-only (`api_run_args`).
    """

    def __init__(self, engine: Engine, image: str = f"{API_IMAGE}:latest", port: int = 8200,
                 count: int = 1, poll_seconds: float | None = None,
                 volume: str = PREDICTIONS_VOLUME, home: Path | None = None) -> None:
        self.server = settings.profile() == settings.SERVER
        if count < 1:
            raise ContainerError(f"replicas: {count}; at least 1")
        if count > 1 and not self.server:
            raise ContainerError(
                f"{count} replicas need FRAUD_PROFILE=server: replicas share Redis and the "
                "MLflow server and follow the champion alias together (under the local "
                "profile a container serves the model packaged in its image)")
        if self.server and engine.name != "podman":
            raise ContainerError("the API image under the server profile takes its passwords "
                                 "as podman secrets: use podman (Debian: apt-get install "
                                 "podman runc)")
        self.engine, self.image, self.volume = engine, image, volume
        self.poll_seconds, self.home = poll_seconds, home
        self.ports = [port + i for i in range(count)]
        self.names = [f"fraud-api-{p}" for p in self.ports]
        self.urls = [f"http://127.0.0.1:{p}" for p in self.ports]
        # The engine's secret of each password, by key (postgres, redis).
        self.secrets = {key: f"fraud-api-{port}-{key}-password" for key in settings.SECRET_ENV}
        self.started: dict[str, float] = {}

    def run_args(self, port: int, name: str) -> list[str]:
        """`run` arguments (without -d) of the replica `name` on 127.0.0.1:`port`."""
        if not self.server:
            extra = ({} if self.poll_seconds is None
                     else {"FRAUD_CHAMPION_POLL_SECONDS": f"{self.poll_seconds:g}"})
            args = api_run_args(self.engine, port, self.home or settings.fraud_home(), name,
                                self.image, extra)
            args.remove("--rm")  # removed by stop(), once its exit code is read
            return args
        env = server_profile_env(self.poll_seconds)
        publish, bind = self.engine.network_args(port)
        args = ["run", "--name", name, *server_network_args(self.engine, env), *publish,
                "-v", f"{self.volume}:{API_HOME}/predictions:U"]
        for key, secret in self.secrets.items():
            # A file under /run/secrets: podman 4 shows env-type secrets in `inspect`.
            args += ["--secret", f"{secret},type=mount,target={secret}",
                     "-e", f"{settings.SECRET_FILE_ENV[key]}=/run/secrets/{secret}"]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        return [*args, self.image, "serve", "--host", bind, "--port", str(port)]

    def start(self) -> None:
        """Create the secrets (server profile) and run every replica detached; on a failure
        what was started is stopped again."""
        try:
            if self.server:
                self._create_secrets()
            for port, name in zip(self.ports, self.names, strict=True):
                args = self.run_args(port, name)
                self.started[name] = time.monotonic()
                self.engine.run(args[0], "-d", *args[1:])
        except BaseException:
            self.stop()
            raise

    def _create_secrets(self) -> None:
        values = settings.server_secrets()
        for key, name in self.secrets.items():
            self.engine.run("secret", "rm", name, check=False)  # a stale one from a crash
            self.engine.run("secret", "create", name, "-", input=values[key])

    def running(self) -> dict[str, bool]:
        """Replica name -> whether its container runs."""
        done = self.engine.run("inspect", "--format", "{{.Name}} {{.State.Running}}",
                               *self.names, check=False)
        states = dict(_name_value(line) for line in done.stdout.splitlines() if " " in line)
        return {name: states.get(name) == "true" for name in self.names}

    def log_tail(self, name: str, lines: int = 25) -> str:
        done = self.engine.run("logs", "--tail", str(lines), name, check=False)
        return (done.stdout + done.stderr).strip()

    def wait_ready(self, timeout: float = 180.0) -> dict[str, float]:
        """Seconds from each replica's `run` to its /readyz answering 200. ContainerError
        with the replica's log when one exits or is not ready within `timeout` s (under the
        server profile /readyz waits for a champion and readable Redis features)."""
        ready: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(ready) < len(self.names):
            for name, url in zip(self.names, self.urls, strict=True):
                if name not in ready and _answers(f"{url}/readyz"):
                    ready[name] = time.monotonic() - self.started[name]
            waiting = [n for n in self.names if n not in ready]
            dead = [n for n, up in self.running().items() if n in waiting and not up]
            late = waiting if time.monotonic() > deadline else []
            if dead or late:
                name = (dead or late)[0]
                why = "exited" if dead else f"was not ready within {timeout:.0f} s"
                raise ContainerError(f"{name} {why}; its log ends:\n{self.log_tail(name)}")
            if waiting:
                time.sleep(0.25)
        return ready

    def stop(self, timeout: int = 10) -> dict[str, int]:
        """Stop the replicas together (SIGTERM, SIGKILL after `timeout` s), remove them and
        the secrets; each stopped replica's exit code (137: it had to be killed)."""
        present = [n for n in self.names
                   if self.engine.run("container", "inspect", n, check=False).returncode == 0]
        codes: dict[str, int] = {}
        if present:
            self.engine.run("stop", "-t", str(timeout), *present, check=False)
            done = self.engine.run("inspect", "--format", "{{.Name}} {{.State.ExitCode}}",
                                   *present, check=False)
            codes = {n: int(c) for n, c in map(_name_value, done.stdout.splitlines())}
            self.engine.run("rm", "-f", *present, check=False)
        if self.server:
            for name in self.secrets.values():
                self.engine.run("secret", "rm", name, check=False)
        return codes


def _name_value(line: str) -> tuple[str, str]:
    """`name value` from an inspect format line (docker prefixes names with /)."""
    name, value = line.split(maxsplit=1)
    return name.lstrip("/"), value.strip()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def run_replicas_until_interrupted(replicas: ApiReplicas,
                                   echo: Callable[[str], None] = print) -> int:
    """Start the replicas, follow their logs, print each URL and its time to ready, block
    until Ctrl-C or SIGTERM (or a replica exits), then stop and remove them all.
    Exit status: 0 after a requested stop, 1 when a replica failed."""
    interrupt_on_signals()
    logs: subprocess.Popen | None = None
    try:
        replicas.start()
        logs = subprocess.Popen([replicas.engine.path, "logs", "-f", "--names", *replicas.names],
                                env=replicas.engine.env())
        for (name, seconds), url in zip(replicas.wait_ready().items(), replicas.urls,
                                        strict=True):
            echo(f"{name:<16} {url}  ready in {seconds:.1f}s")
        echo("Ctrl-C stops them.")
        while all((states := replicas.running()).values()):
            time.sleep(2)
        dead = [n for n, up in states.items() if not up]
        echo(f"{dead[0]} stopped unexpectedly; its log ends:\n{replicas.log_tail(dead[0])}")
        return 1
    except KeyboardInterrupt:
        echo("stopping...")
        return 0
    except ContainerError as exc:
        echo(str(exc))
        return 1
    finally:
        ignore_interrupts()  # a second Ctrl-C must not leave containers or secrets behind
        began = time.monotonic()
        codes = replicas.stop()
        if codes:
            echo(f"stopped and removed {', '.join(f'{n} (exit {c})' for n, c in codes.items())}"
                 f" in {time.monotonic() - began:.1f}s")
        if logs is not None:
            logs.terminate()
            logs.wait()


def build_all(echo: Callable[[str], None] = print, base: bool = False,
              which: Sequence[str] = ("platform", "api")) -> dict[str, str]:
    """Build the images (the base image first if asked or missing and unpullable)."""
    engine = find_engine()
    echo(f"engine: {engine.name} ({engine.path})")
    if base:
        echo(f"built {build_base_image(engine)}")
    built = {}
    if "platform" in which:
        built["platform"] = build_platform_image(engine)
    if "api" in which:
        built["api"] = build_api_image(engine)
    for role, tag in built.items():
        echo(f"{role:<9} {tag}  {engine.size_mb(tag):,.0f} MB")
    return built
