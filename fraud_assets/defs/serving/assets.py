"""`fraud_bento`: the BentoML Bento of the fraud API, built around the current champion."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator

from dagster import (
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from fraud_assets import names, settings
from fraud_assets.defs.model.resources import MlflowRegistryResource
from fraud_assets.defs.resources import FraudHome

BUILD_MODULE = "serving.bento_build"
BUILD_TIMEOUT_S = 15 * 60


@asset(name=names.FRAUD_BENTO, deps=[names.CHAMPION], group_name=names.SERVING,
       kinds={"bentoml"}, output_required=False)
def fraud_bento(context: AssetExecutionContext, fraud_home: FraudHome,
                mlflow_registry: MlflowRegistryResource) -> Iterator[MaterializeResult]:
    """`bentoml build` of serving/ around the champion, which is imported into the BentoML
    model store first so the Bento (and its container) needs no MLflow server.

    The build runs in its own process: BENTOML_HOME (default FRAUD_HOME/bentoml) must be
    set before bentoml is imported, and the build should not weigh on the code location.
    """
    registry = mlflow_registry.get_client()
    if registry.alias_version(settings.CHAMPION_ALIAS) is None:
        # The gate refused the first model (or none was trained): a decision, not a failure.
        context.log.warning(f"no champion version of {registry.model_name!r}: Bento not built "
                            "(see the champion asset's decision); it is built when a "
                            "version is promoted")
        return
    env = os.environ | {"FRAUD_HOME": str(fraud_home.root),
                        "MLFLOW_TRACKING_URI": registry.resolved_tracking_uri()}
    done = subprocess.run([sys.executable, "-m", BUILD_MODULE], env=env, capture_output=True,
                          text=True, timeout=BUILD_TIMEOUT_S, cwd=settings.REPO_ROOT)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise Failure(description=f"bentoml build failed: {last}",
                      metadata={"stderr": MetadataValue.text(done.stderr[-5000:])})
    built = json.loads(done.stdout.strip().splitlines()[-1])
    context.log.info(f"built {built['bento_tag']} around {built['model_tag']}")
    home = f"BENTOML_HOME={built['bentoml_home']}"
    yield MaterializeResult(metadata={
        "bento_tag": built["bento_tag"],
        "model_version": built["model_version"],
        "bentoml_model": built["model_tag"],
        "path": MetadataValue.path(built["path"]),
        "serve": MetadataValue.md(
            f"`{home} bentoml serve {built['bento_tag']} --host 127.0.0.1 --port 8000`"),
        "containerize": MetadataValue.md(
            f"`{home} bentoml containerize {built['bento_tag']}` (needs Docker or Podman)"),
    })
