"""The Azure role and the Kubernetes manifests an operator applies as they are shipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.hubs.consumers import RESTART_PERMISSIONS

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "deploy" / "azure-custom-role.json"
MANIFESTS = ROOT / "deploy" / "kubernetes.yaml"

LEAST_PRIVILEGE = {
    "microsoft.devices/iothubs/read",
    "microsoft.devices/iothubs/iothubstats/read",
    "microsoft.devices/iothubs/failover/action",
    "microsoft.devices/locations/operationresults/read",
    "microsoft.devices/operationresults/read",
    "microsoft.insights/eventtypes/values/read",  # the Activity Log: outside operations
    "microsoft.insights/metrics/read",  # verifying a move from the hub's metrics
    # restarting the consumers of a hub's Event Hub-compatible endpoint, when it opts in
    "microsoft.web/sites/restart/action",
    "microsoft.streamanalytics/streamingjobs/start/action",
    "microsoft.streamanalytics/streamingjobs/stop/action",
    "microsoft.authorization/permissions/read",  # doctor: which of these the bot holds
}
# Recent releases the manifests must be valid for (kubernetes-validate ships their schemas).
KUBERNETES_VERSIONS = ["1.32.0", "1.35.0"]


def role() -> dict[str, Any]:
    return json.loads(ROLE.read_text())


def documents() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(MANIFESTS.read_text()) if doc]


def one(kind: str) -> dict[str, Any]:
    matches = [doc for doc in documents() if doc["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    return matches[0]


def test_custom_role_has_the_shape_az_role_definition_create_reads() -> None:
    definition = role()
    assert set(definition) == {
        "Name", "IsCustom", "Description", "Actions", "NotActions", "DataActions",
        "NotDataActions", "AssignableScopes",
    }
    assert definition["IsCustom"] is True
    assert definition["Name"] and definition["Description"]
    assert definition["AssignableScopes"]
    assert all(scope.startswith("/subscriptions/") for scope in definition["AssignableScopes"])


def test_custom_role_grants_exactly_the_least_privilege_actions() -> None:
    definition = role()
    actions = [action.lower() for action in definition["Actions"]]
    assert len(actions) == len(set(actions)), "duplicate actions"
    assert set(actions) == LEAST_PRIVILEGE
    granted = [*definition["Actions"], *definition["DataActions"]]
    assert not any("*" in action for action in granted)
    assert definition["DataActions"] == []
    assert not any(a.endswith(("/write", "/delete", "listkeys/action")) for a in actions)


def test_custom_role_grants_what_restarting_consumers_asks_azure_for_and_no_more() -> None:
    actions = {action.lower() for action in role()["Actions"]}
    # Exactly what bot.hubs.azure_consumers sends: no reading a consumer's settings or keys.
    on_consumers = {a for a in actions
                    if a.startswith(("microsoft.web/", "microsoft.streamanalytics/"))}
    assert on_consumers == {p.lower() for p in RESTART_PERMISSIONS}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_against_kubernetes(version: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate")
    for document in documents():
        # Strict: an unknown or misspelt field is an error, not silently ignored.
        kubernetes_validate.validate(document, version, strict=True)


def test_manifests_are_namespace_less_and_complete() -> None:
    kinds = sorted(doc["kind"] for doc in documents())
    assert kinds == sorted(
        ["ServiceAccount", "Secret", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"])
    assert all("namespace" not in doc["metadata"] for doc in documents())


def deployment_pod() -> dict[str, Any]:
    return one("Deployment")["spec"]["template"]


def container() -> dict[str, Any]:
    containers = deployment_pod()["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_two_replicas_that_a_disruption_cannot_both_take_down() -> None:
    deployment = one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    budget = one("PodDisruptionBudget")["spec"]
    assert budget["minAvailable"] == 1
    assert budget["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert one("Service")["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


def test_probes_call_healthz_and_readyz_on_port_3000() -> None:
    # Alive is /healthz (a database outage must not restart pods); ready is /readyz.
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"),
                        ("readinessProbe", "/readyz")):
        http_get = container()[probe]["httpGet"]
        assert http_get["path"] == path
        assert http_get["port"] == 3000
    assert {"containerPort": 3000, "name": "http", "protocol": "TCP"} in container()["ports"]


def test_pod_runs_non_root_read_only_without_privileges() -> None:
    pod_security = deployment_pod()["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] == 10001  # the UID the Dockerfile creates
    security = container()["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    resources = container()["resources"]
    assert resources["requests"]["memory"] and resources["limits"]["memory"]


def test_secrets_come_from_the_secret_not_the_manifest() -> None:
    env = {item["name"]: item for item in container()["env"]}
    secret = one("Secret")
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL"):
        reference = env[name]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == secret["metadata"]["name"]
        assert reference["key"] in secret["stringData"]
        assert "value" not in env[name]
    assert secret["stringData"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert all("REPLACE" in value for key, value in secret["stringData"].items()
               if key != "SLACK_APP_TOKEN")


def test_uses_azure_workload_identity() -> None:
    account = one("ServiceAccount")
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    pod = deployment_pod()
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert pod["spec"]["serviceAccountName"] == account["metadata"]["name"]


MIGRATION_JOB = ROOT / "deploy" / "db-upgrade-job.yaml"


def migration_job() -> dict[str, Any]:
    jobs = [doc for doc in yaml.safe_load_all(MIGRATION_JOB.read_text()) if doc]
    assert [job["kind"] for job in jobs] == ["Job"]
    return jobs[0]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_migration_job_the_readme_asks_for_is_shipped_and_valid(version: str) -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="pip install kubernetes-validate")
    kubernetes_validate.validate(migration_job(), version, strict=True)


def test_the_migration_job_runs_db_upgrade_with_the_deployments_image_and_secret() -> None:
    pod = migration_job()["spec"]["template"]["spec"]
    (job,) = pod["containers"]
    assert job["args"] == ["db", "upgrade"]
    assert job["image"] == container()["image"]
    env = {item["name"]: item for item in job["env"]}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == (
        {item["name"]: item for item in container()["env"]}["DATABASE_URL"]["valueFrom"]
        ["secretKeyRef"])
    assert pod["securityContext"]["runAsUser"] == 10001 and pod["restartPolicy"] == "Never"
    assert job["securityContext"]["readOnlyRootFilesystem"] is True
    assert "db-upgrade-job.yaml" in (ROOT / "deploy" / "README.md").read_text()
