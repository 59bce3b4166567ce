"""Container images of the platform, with whichever engine the host has.

Two images: the platform image (the top-level Dockerfile: code location, webserver, daemon,
MLflow UI) and the fraud API image (`bentoml containerize` of the champion's Bento). Docker
is used when its daemon answers, else podman; podman gets the settings hosts like ours need
through `deploy/containers/containers.conf` (CONTAINERS_CONF, the user's own files are
never edited). Without access to Docker Hub, `build_base_image` makes the base image
`python:3.11-slim` from Debian packages (deploy/containers/build-base-image.sh).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fraud_assets import settings

DEPLOY = settings.REPO_ROOT / "deploy" / "containers"
PODMAN_CONF = DEPLOY / "containers.conf"
BASE_IMAGE = "docker.io/library/python:3.11-slim"
PLATFORM_IMAGE = "localhost/fraud-platform"
API_IMAGE = "localhost/fraud-api"
BENTO = "fraud_detection"
# Where the Bento's service keeps its state inside the API image (bentofile.yaml envs).
API_HOME = "/home/bentoml/fraud"
PLATFORM_HOME = "/var/lib/fraud"


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

    def run(self, *args: str, check: bool = True, capture: bool = True
            ) -> subprocess.CompletedProcess:
        done = subprocess.run([self.path, *args], env=self.env(), text=True,
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
