"""Build the fraud API Bento around the current champion, with no network.

    python serving/bento_build.py [--version N]    # prints a JSON summary on stdout

1. The champion (or version N) is imported from MLflow into the BentoML model store as
   `fraud-detection-model:v<N>` (skipped if already there), so the Bento carries the
   model and a container needs no MLflow server.
2. A build context is staged in a temporary folder: this folder's code, the
   `fraud_assets` package (the contract and names the service imports) and the Feast
   repository. Staging keeps BENTOML_HOME and the state folder out of the build context.
3. `requirements.txt` pins the serving dependencies and everything they need at the
   versions of the project's own `uv.lock`; packages are not locked against an index.
4. The Bento is built with `--arg model_tag=...`, which the service reads to declare the
   model (so it is packaged) and to serve it by default.

BENTOML_HOME defaults to `FRAUD_HOME/bentoml` so that all state stays in one folder; it
must be set before bentoml is imported, hence a script run in its own process.
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository root, for fraud_assets

from fraud_assets import settings  # noqa: E402

BENTO_MODEL_NAME = settings.REGISTERED_MODEL_NAME
# What the service imports at run time; their dependencies come along from uv.lock.
# dagster: fraud_assets.features.online imports the Feast store module, which also holds
# the Dagster resource.
SERVING_ROOTS = ("bentoml", "fastapi", "mlflow", "scikit-learn", "pandas", "numpy",
                 "skops", "feast", "pyarrow", "threadpoolctl", "dagster")
STAGED_PACKAGES = ("fraud_assets",)
STAGED_FOLDERS = ("feature_repo",)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "data")


def bentoml_home() -> Path:
    return Path(os.environ.get("BENTOML_HOME") or settings.fraud_home() / "bentoml")


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


def champion_version(explicit: str | None) -> Any:
    """The registry's version to package; exits with a clear message if there is none."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = settings.mlflow_tracking_uri()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = settings.REGISTERED_MODEL_NAME
    try:
        if explicit:
            return client.get_model_version(name, explicit)
        return client.get_model_version_by_alias(name, settings.CHAMPION_ALIAS)
    except MlflowException as exc:
        wanted = f"version {explicit}" if explicit else f"alias {settings.CHAMPION_ALIAS!r}"
        sys.exit(f"no {wanted} of model {name!r} in {uri}: run the champion asset first "
                 f"({exc.message})")


def import_champion(version: Any) -> str:
    """Put the MLflow version into the BentoML model store; returns its tag."""
    import bentoml
    import mlflow
    from bentoml.exceptions import NotFound

    tag = f"{BENTO_MODEL_NAME}:v{version.version}"
    try:
        bentoml.models.get(tag)
        return tag  # already imported: versions are immutable
    except NotFound:
        pass
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri())
    mlflow.set_registry_uri(settings.mlflow_tracking_uri())
    tags = dict(version.tags or {})
    metadata = {"registered_model_name": settings.REGISTERED_MODEL_NAME,
                "version": str(version.version), "alias": settings.CHAMPION_ALIAS,
                "run_id": version.run_id or "",
                **{k: tags.get(k, "") for k in ("threshold", "training_start",
                                                "training_end", "features")}}
    bentoml.mlflow.import_model(
        tag, f"models:/{settings.REGISTERED_MODEL_NAME}/{version.version}",
        labels={"source": "mlflow", "mlflow_version": str(version.version)},
        metadata=metadata)
    return tag


def stage(target: Path) -> Path:
    """A clean build context: serving code, fraud_assets, the Feast repo, requirements."""
    for path in HERE.iterdir():
        if path.suffix == ".py" or path.name == "bentofile.yaml":
            shutil.copy2(path, target / path.name)
    root = settings.REPO_ROOT
    for name in (*STAGED_PACKAGES, *STAGED_FOLDERS):
        if (root / name).is_dir():
            shutil.copytree(root / name, target / name, ignore=_IGNORE)
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
    os.environ.setdefault("BENTOML_HOME", str(bentoml_home()))
    for key, value in (("BENTOML_DO_NOT_TRACK", "true"), ("MLFLOW_DISABLE_TELEMETRY", "true"),
                       ("FEAST_USAGE", "False")):
        os.environ.setdefault(key, value)
    version = champion_version(args.version)
    model_tag = import_champion(version)
    bento = build(model_tag)
    print(json.dumps({"bento_tag": str(bento.tag), "model_tag": model_tag,
                      "model_version": str(version.version), "path": bento.path,
                      "bentoml_home": os.environ["BENTOML_HOME"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
