"""`threadline flows apply FILE.yaml` and `threadline flows list` against the real session
service (gRPC, NATS, PostgreSQL), found as `threadline assistants` finds it."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.flows import apply_flow
from threadline.cli.main import main
from threadline.servicekit.auth import hash_token
from threadline.session.bootstrap import bootstrap
from threadline.session.config import SessionConfig

ADMIN, READER = "flows-admin", "flows-reader"
NUMBER = "109000000000001"
SALON_FILE = Path(__file__).resolve().parents[3] / "examples" / "salon" / "booking-flow.yaml"
SALON = SALON_FILE.read_text(encoding="utf-8")
GREET = f"""\
id: greet
name: Greet
business_numbers: ["{NUMBER}"]
trigger: {{keywords: [hello]}}
steps:
  - id: ask
    ask: {{field: name, type: name, prompt: "Your name?"}}
  - id: done
    end: {{text: "Hello, {{name}}!"}}
"""


@pytest.fixture
async def session_address(
    database_url: str, nats_server_url: str, nats_namespace: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    config = SessionConfig(
        nats_url=nats_server_url,
        nats_namespace=nats_namespace,
        database_url=database_url,
        api_tokens=f"{hash_token(ADMIN)}:read,write,admin:*;{hash_token(READER)}:read:{NUMBER}",
        grpc_port=0,
        ops_port=0,
    )
    async with AsyncExitStack() as stack:
        service = await bootstrap(config, stack)
        address = f"127.0.0.1:{service.grpc_port}"
        monkeypatch.setenv("THREADLINE_SESSION_GRPC_ADDRESS", address)
        monkeypatch.setenv("THREADLINE_API_TOKEN", ADMIN)
        yield address


def written(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def threadline(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_apply_creates_then_leaves_unchanged_then_updates(
    session_address: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = written(tmp_path, SALON)

    created = await threadline("flows", "apply", str(path), capsys=capsys)
    unchanged = await threadline("flows", "apply", str(path), capsys=capsys)
    path.write_text(SALON.replace("after: 30m", "after: 45m"), encoding="utf-8")
    updated = await threadline("flows", "apply", str(path), capsys=capsys)

    assert created[:2] == (0, "created salon-booking v1\n")
    assert unchanged[:2] == (0, "unchanged salon-booking v1\n")
    assert updated[:2] == (0, "updated salon-booking v2\n")


async def test_list_prints_a_table_of_the_flows(
    session_address: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await threadline("flows", "apply", str(written(tmp_path, SALON)), capsys=capsys)
    await threadline("flows", "apply", str(written(tmp_path, GREET, "g.yaml")), capsys=capsys)

    code, out, _ = await threadline("flows", "list", capsys=capsys)
    monkeypatch.setenv("THREADLINE_API_TOKEN", READER)
    refused = await threadline("flows", "apply", str(tmp_path / "g.yaml"), capsys=capsys)

    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["ID", "VERSION", "DEFINITION", "TRIGGERS", "NUMBERS", "NAME"]
    assert lines[1].split() == ["greet", "v1", "1", "keyword,assistant", NUMBER, "Greet"]
    assert lines[2].split() == [
        *("salon-booking", "v1", "1", "keyword,button_payload,assistant", "all"),
        *("Book", "an", "appointment"),
    ]
    assert refused[0] == 1 and "PERMISSION_DENIED" in refused[2]


def test_a_bad_file_is_refused_naming_the_path_before_anything_is_sent(tmp_path: Path) -> None:
    endpoint = SessionEndpoint("127.0.0.1:1", "unused")  # nothing listens: never reached
    for text, expected in [
        (SALON.replace("next: booked", "next: bookd"), "steps[6].next: unknown step 'bookd'"),
        (SALON.replace("then: message", "then: explode"), "expiry.then: "),
        (SALON.replace("language: en", "language: en\ncolour: red"), "colour"),
        ("id: [unclosed\n", "not YAML or JSON"),
    ]:
        err = io.StringIO()
        path = written(tmp_path, text)

        code = apply_flow(endpoint, path, err=err)

        assert code == 2, err.getvalue()
        assert err.getvalue().startswith(f"threadline flows apply: {path}")
        assert expected in err.getvalue()
