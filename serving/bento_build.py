"""Build the fraud API Bento around the current champion, with no network.

    python -m serving.bento_build [--version N]    # from the repository root

The last line on stdout is a JSON object: bento_tag, model_tag, model_version, path,
bentoml_home (read by the `fraud_bento` asset).

1. The champion (or version N) is imported from MLflow into the BentoML model store as
   `fraud-detection-model:v<N>` (skipped if already there), so the Bento carries the
   model and a container needs no MLflow server.
2. A build context is staged in a temporary folder: the `serving` package, the
   `fraud_assets` package (the domain code the service reuses) and the Feast repository,
   with bentofile.yaml at its root (`service: serving.service:FraudService`). Staging keeps
   BENTOML_HOME and the state folder out of the build context.
3. `requirements.txt` pins the serving dependencies and everything they need at the
   versions of the project's own `uv.lock` (no Dagster: the service does not import it);
   packages are not locked against an index.
4. The Bento is built with `--arg model_tag=...`, which the service reads to declare the
   model (so it is packaged) and to serve it by default.

BENTOML_HOME defaults to `FRAUD_HOME/bentoml` (settings.bentoml_home) so that all state
stays in one folder; it must be set before bentoml is imported, hence its own process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fraud_assets import settings
from fraud_assets.model.loaded import bento_metadata
from fraud_assets.model.registry import MlflowRegistry, RegistryError

PACKAGE = Path(__file__).resolve().parent  # serving/
BENTO_MODEL_NAME = settings.REGISTERED_MODEL_NAME
# What the service imports at run time; their dependencies come along from uv.lock.
# redis, hiredis and psycopg2-binary are the server profile's (an image runs under either
# profile): Feast's Redis online store (feast[redis]) and its SQL registry on PostgreSQL.
SERVING_ROOTS = ("bentoml", "fastapi", "mlflow", "scikit-learn", "pandas", "numpy",
                 "skops", "feast", "pyarrow", "threadpoolctl",
                 "redis", "hiredis", "psycopg2-binary",
                 "shap")  # reason codes of a tree-family champion (model/explain.py)
STAGED_PACKAGES = ("serving", "fraud_assets")
STAGED_FOLDERS = ("feature_repo",)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "data")


def lock_requirements(lock_file: Path, roots: Iterable[str] = SERVING_ROOTS) -> list[str]:
    """`name==version[ ; marker]` for the roots and their closure in a uv.lock."""
    packages = {p["name"]: p for p in tomllib.loads(lock_file.read_text())["package"]}
    markers: dict[str, set[str] | None] = {}  # None: needed on every platform
    todo = [(name, None, ()) for name in roots]
    while todo:
        name, marker, extras = todo.pop()
        if name not in packages:
            raise KeyError(f"{name} is not in {lock_file}: add it to the project first")
        seen_before = name in markers
        known = markers.get(name, set())
        if marker is None or known is None:
            markers[name] = None
        else:
            markers[name] = known | {marker}
        if seen_before and not extras:
            continue
        package = packages[name]
        deps = list(package.get("dependencies", []))
        for extra in extras:
            deps += package.get("optional-dependencies", {}).get(extra, [])
        todo += [(d["name"], d.get("marker"), tuple(d.get("extra", ()))) for d in deps]
    lines = []
    for name in sorted(markers):
        line = f"{name}=={packages[name]['version']}"
        if markers[name]:
            line += " ; " + " or ".join(f"({m})" for m in sorted(markers[name]))
        lines.append(line)
    return lines


def champion_version(registry: MlflowRegistry, explicit: str | None) -> str:
    """The registry's version to package; exits with a clear message if there is none."""
    uri = registry.resolved_tracking_uri()
    wanted = f"version {explicit}" if explicit else f"alias {settings.CHAMPION_ALIAS!r}"
    missing = (f"no {wanted} of model {registry.model_name!r} in {uri}: run the champion "
               "asset first")
    if not registry.store_exists():
        sys.exit(missing)
    try:
        version = (registry.version(explicit).version if explicit
                   else registry.alias_version(settings.CHAMPION_ALIAS))
    except RegistryError as exc:
        sys.exit(f"{missing} ({exc})")
    if version is None:
        sys.exit(missing)
    return str(version)


def import_champion(registry: MlflowRegistry, version: str) -> str:
    """Put the MLflow version into the BentoML model store; returns its tag."""
    import bentoml
    import mlflow
    from bentoml.exceptions import NotFound

    tag = f"{BENTO_MODEL_NAME}:v{version}"
    try:
        bentoml.models.get(tag)
        return tag  # already imported: versions are immutable
    except NotFound:
        pass
    metadata = bento_metadata(registry, version)
    # models:/ URIs resolve through MLflow's process-wide URIs; this process only builds.
    mlflow.set_tracking_uri(registry.resolved_tracking_uri())
    mlflow.set_registry_uri(registry.resolved_tracking_uri())
    bentoml.mlflow.import_model(
        tag, f"models:/{registry.model_name}/{version}",
        labels={"source": "mlflow", "mlflow_version": version}, metadata=metadata)
    return tag


def bentofile() -> str:
    """serving/bentofile.yaml, plus the platform's telemetry opt-outs (settings.TELEMETRY_OFF)
    as Bento envs: a served Bento starts BentoML before it imports fraud_assets."""
    import yaml

    spec = yaml.safe_load((PACKAGE / "bentofile.yaml").read_text())
    envs = [e for e in spec.get("envs") or [] if e["name"] not in settings.TELEMETRY_OFF]
    spec["envs"] = envs + [{"name": k, "value": v} for k, v in settings.TELEMETRY_OFF.items()]
    return yaml.safe_dump(spec, sort_keys=False)


def stage(target: Path) -> Path:
    """A clean build context: the serving and fraud_assets packages, the Feast repo,
    bentofile.yaml at the root, requirements.txt."""
    root = settings.REPO_ROOT
    for name in (*STAGED_PACKAGES, *STAGED_FOLDERS):
        if (root / name).is_dir():
            shutil.copytree(root / name, target / name, ignore=_IGNORE)
    (target / "bentofile.yaml").write_text(bentofile())
    lines = lock_requirements(root / "uv.lock")
    (target / "requirements.txt").write_text(
        "# Pinned from uv.lock by serving/bento_build.py\n" + "\n".join(lines) + "\n")
    return target


def build(model_tag: str) -> Any:
    import bentoml

    with tempfile.TemporaryDirectory(prefix="fraud-bento-") as tmp:
        context = stage(Path(tmp))
        return bentoml.bentos.build_bentofile(
            str(context / "bentofile.yaml"), build_ctx=str(context),
            args={"model_tag": model_tag})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="registered model version (default: champion)")
    args = parser.parse_args(argv)
    os.environ.setdefault("BENTOML_HOME", str(settings.bentoml_home()))
    registry = MlflowRegistry()
    version = champion_version(registry, args.version)
    model_tag = import_champion(registry, version)
    bento = build(model_tag)
    print(json.dumps({"bento_tag": str(bento.tag), "model_tag": model_tag,
                      "model_version": version, "path": bento.path,
                      "bentoml_home": os.environ["BENTOML_HOME"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
