"""What `threadline up` starts and how it wires the processes together (no process started)."""

from __future__ import annotations

from threadline.ai_responder.config import AiResponderConfig
from threadline.analytics.config import AnalyticsConfig
from threadline.cli.devstate import DevState, Ports, Secrets
from threadline.cli.up import PROCESSES, environment, summary, transcription_model
from threadline.gateway.config import GatewayConfig

STATE = DevState(
    secrets=Secrets("app", "verify", "access", "dev-token"),
    ports=Ports(
        ingest=18080,
        session_grpc=15051,
        analytics_grpc=15052,
        sandbox=18090,
        gateway=18081,
        knowledge_grpc=15053,
        ops={name: 19101 + index for index, (name, _, _, _) in enumerate(PROCESSES)},
    ),
    nats_url="nats://127.0.0.1:14222",
    database_url="postgresql://dev@127.0.0.1:15432/threadline",
)


def test_the_gateway_runs_as_a_process_of_its_own() -> None:
    modules = {name: module for name, module, _, _ in PROCESSES}

    assert modules["gateway"] == "threadline.gateway"
    assert modules["analytics"] == "threadline.analytics"


def test_the_gateway_is_told_where_it_listens_and_where_session_and_analytics_are() -> None:
    config = GatewayConfig.from_env(environment(STATE))

    assert (config.port, config.ops_port) == (18081, STATE.ports.ops["gateway"])
    assert config.session_grpc_address == "127.0.0.1:15051"
    assert config.analytics_grpc_address == "127.0.0.1:15052"


def test_analytics_no_longer_serves_http() -> None:
    env = environment(STATE)

    assert not hasattr(AnalyticsConfig.from_env(env), "gateway_port")
    assert AnalyticsConfig.from_env(env).grpc_port == 15052


def test_the_summary_shows_where_the_gateway_is() -> None:
    assert "HTTP gateway (JSON)           http://127.0.0.1:18081/api/v1" in summary(STATE)


def test_make_run_hears_voice_notes_locally_unless_told_otherwise() -> None:
    # The workspace installs the local-transcription extra (Whisper tiny.en in a package).
    setting = "THREADLINE_AI_TRANSCRIPTION_MODEL"
    assert transcription_model({}) == "local:bundled"
    assert transcription_model({setting: "openai:whisper-1"}) == "openai:whisper-1"
    env = {**environment(STATE), setting: "local:bundled"}
    assert "voice notes heard by          local:bundled" in summary(STATE, env)


def test_the_ai_responder_serves_knowledge_bases_from_the_platforms_database() -> None:
    config = AiResponderConfig.from_env(environment(STATE))

    assert config.database_url == STATE.database_url
    assert config.grpc_port == STATE.ports.knowledge_grpc
    assert config.api_tokens == STATE.secrets.api_tokens_setting()
    assert f"knowledge bases gRPC          127.0.0.1:{STATE.ports.knowledge_grpc}" in summary(STATE)


def test_the_summary_shows_the_embedded_nats_monitoring_only_when_there_is_one() -> None:
    shown = summary(STATE, nats_monitoring_url="http://127.0.0.1:18222")

    assert "NATS monitoring               http://127.0.0.1:18222/varz, /jsz" in shown
    assert "NATS monitoring" not in summary(STATE)
