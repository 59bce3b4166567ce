"""deploy/k8s on paper: the API manifests validate against Kubernetes 1.32's schemas
(kubernetes-validate, strict: unknown fields fail), and both files agree with the
platform's own names. No cluster here: nothing is applied (and `kubectl --dry-run=client`
needs an API server for discovery, so it cannot run offline)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from fraud_assets import settings
from fraud_assets.orchestration import containers

K8S = settings.REPO_ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.32"
# Every FRAUD_* variable the manifests may set, and where the platform reads it.
KNOWN = {settings.PROFILE_ENV, "FRAUD_HOME", "FRAUD_MODEL_SOURCE", "FRAUD_REQUIRE_FEATURES",
         "FRAUD_CHAMPION_POLL_SECONDS", *settings.SECRET_ENV.values(),
         *(variable for variable, _ in settings.SERVER_ENV.values())}


def documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def env_names(env: list[dict]) -> set[str]:
    return {item["name"] for item in env}


def test_api_manifests_validate_strictly_against_kubernetes_schemas() -> None:
    docs = documents("fraud-api.yaml")
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    """The validator does fail: a misspelt field in the Deployment is refused."""
    deployment = documents("fraud-api.yaml")[0]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_api_is_ready_on_readyz_and_the_pieces_point_at_each_other() -> None:
    deployment, service, hpa = documents("fraud-api.yaml")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2 <= deployment["spec"]["replicas"]
    assert container["image"].split("/")[-1].split(":")[0] == \
        containers.API_IMAGE.split("/")[-1]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[settings.PROFILE_ENV] == settings.SERVER
    assert env["FRAUD_REQUIRE_FEATURES"] == "true" and env["FRAUD_MODEL_SOURCE"] == "registry"
    assert set(env) - {"MLFLOW_TRACKING_URI"} <= KNOWN


def test_dagster_values_run_the_platform_image_on_postgres_with_k8s_runs() -> None:
    values = yaml.safe_load((K8S / "dagster-values.yaml").read_text())
    pyproject = tomllib.loads((settings.REPO_ROOT / "pyproject.toml").read_text())
    (location,) = values["dagster-user-deployments"]["deployments"]
    assert location["image"]["repository"].split("/")[-1] == \
        containers.PLATFORM_IMAGE.split("/")[-1]
    assert location["dagsterApiGrpcArgs"] == ["--module-name",
                                              pyproject["tool"]["dagster"]["module_name"]]
    env = {e["name"]: e["value"] for e in location["env"]}
    assert env[settings.PROFILE_ENV] == settings.SERVER
    assert set(env) - {"MLFLOW_TRACKING_URI"} <= KNOWN
    assert env["FRAUD_HOME"] == containers.PLATFORM_HOME
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    postgres = values["postgresql"]
    assert postgres["enabled"] is False and postgres["postgresqlScheme"] == "postgresql+psycopg2"
    assert postgres["postgresqlDatabase"] == settings.ServerEndpoints(
        Path("."), 5432, 6379, 5000, "fraud_", 0).database("dagster")
    coordinator = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert coordinator["maxConcurrentRuns"] >= 2
    assert values["telemetry"]["enabled"] is False
