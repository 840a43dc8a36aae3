"""`threadline assistants apply FILE.yaml` and `threadline assistants list`.

`apply` creates or updates the assistant the file describes (like `kubectl apply`) through
the session's `SessionCommands.ConfigureAssistant`, and prints `created|updated|unchanged
<name> v<version>`; `list` prints the assistants the token's numbers are served by, as a table.
The file, at least:

    name: salon
    model: openai:gpt-4.1-mini
    system_prompt: |
      You are the assistant of Lina's Hair Salon. Be brief and friendly.
    language: en
    reply_delay_seconds: 2
    business_numbers: ["109000000000001"]

and optionally `max_context_tokens`, `tools` (a list of names), `knowledge_bases` (names of the
knowledge bases it answers from, citing them) and `http_tools`: the
business's HTTP tools, each with name, description, parameters (a JSON schema), method, url
(`{param}` placeholders), headers (secrets as `${ENV_VAR}`, read by the AI responder at call
time), timeout_seconds and mutating (see the README; the session checks them). A tool's
`url` may name variables as `${NAME}`, filled here from the environment of whoever applies the
file (examples/salon/assistant.yaml's booking endpoint); headers' are left to the AI responder.
`collect` lists the customer data the assistant collects with its `collect_customer_data` tool:
each field a `key`, a `type` (name, email, phone, date, time, number, choice, text), an
optional `label`, `options` for a choice and `required` (the session checks them).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import grpc
import yaml

from threadline.cli.columns import columns
from threadline.cli.endpoints import SessionEndpoint
from threadline.cli.refusals import refused
from threadline.contracts.session.v1 import session_pb2 as pb
from threadline.contracts.session.v1 import session_pb2_grpc as pb_grpc
from threadline.servicekit.config import ConfigError

REQUIRED = ("name", "model", "system_prompt")
TEXT = ("name", "model", "system_prompt", "language")
LISTS = ("tools", "business_numbers", "knowledge_bases")
KNOWN = (*TEXT, *LISTS, "reply_delay_seconds", "max_context_tokens", "http_tools", "collect")
TIMEOUT = 10.0
PROMPT_WIDTH = 40
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


class AssistantFileError(ValueError):
    """A file that does not describe an assistant; the message names the key."""


def read_assistant_file(
    path: Path, env: Mapping[str, str] | None = None
) -> pb.ConfigureAssistantRequest:
    """The request an assistant file describes (shapes checked here, rules by the session);
    `env` fills the `${NAME}`s of its tools' URLs."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise AssistantFileError(f"{path}: cannot be read as YAML: {error}") from None
    if not isinstance(loaded, Mapping):
        raise AssistantFileError(f"{path}: must be a mapping of name, model, system_prompt, ...")
    return assistant_request(loaded, str(path), env)


def assistant_request(
    given: Mapping[Any, Any], where: str, env: Mapping[str, str] | None = None
) -> pb.ConfigureAssistantRequest:
    unknown = sorted(str(key) for key in given if key not in KNOWN)
    if unknown:
        raise AssistantFileError(f"{where}: unknown key(s) {unknown}; known: {list(KNOWN)}")
    missing = [key for key in REQUIRED if given.get(key) in (None, "")]
    if missing:
        raise AssistantFileError(f"{where}: {', '.join(missing)} is required")
    assistant = pb.Assistant()
    for key in TEXT:
        value = given.get(key, "")
        if not isinstance(value, str):
            raise AssistantFileError(f"{where}: {key} must be text")
        setattr(assistant, key, value)
    for key in LISTS:
        values = given.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str | int) for v in values):
            raise AssistantFileError(f"{where}: {key} must be a list of text")
        getattr(assistant, key).extend(str(v) for v in values)
    delay = given.get("reply_delay_seconds")
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise AssistantFileError(f"{where}: reply_delay_seconds must be a number")
        assistant.reply_delay_seconds = float(delay)
    tokens = given.get("max_context_tokens")
    if tokens is not None:
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise AssistantFileError(f"{where}: max_context_tokens must be a whole number")
        assistant.max_context_tokens = min(tokens, 2**32 - 1)
    http_tools = given.get("http_tools")
    if http_tools is not None:
        if not isinstance(http_tools, list) or not all(isinstance(t, Mapping) for t in http_tools):
            raise AssistantFileError(f"{where}: http_tools must be a list of mappings")
        http_tools = [
            _filled(tool, env or {}, f"{where}: http_tools[{i}].url")
            for i, tool in enumerate(http_tools)
        ]
        try:
            assistant.http_tools_json = json.dumps(http_tools) if http_tools else ""
        except (TypeError, ValueError) as error:
            raise AssistantFileError(f"{where}: http_tools cannot be JSON: {error}") from None
    collect = given.get("collect")
    if collect is not None:
        if not isinstance(collect, list) or not all(isinstance(f, Mapping) for f in collect):
            raise AssistantFileError(f"{where}: collect must be a list of mappings")
        try:
            assistant.collect_fields_json = json.dumps(collect) if collect else ""
        except (TypeError, ValueError) as error:
            raise AssistantFileError(f"{where}: collect cannot be JSON: {error}") from None
    return pb.ConfigureAssistantRequest(assistant=assistant, reply_delay_set=delay is not None)


def _filled(tool: Mapping[Any, Any], env: Mapping[str, str], where: str) -> Mapping[Any, Any]:
    """`tool` with the `${NAME}`s of its url replaced by the environment's values."""
    url = tool.get("url")
    if not isinstance(url, str):
        return tool
    missing = sorted({name for name in VARIABLE.findall(url) if not env.get(name)})
    if missing:
        raise AssistantFileError(f"{where} names {', '.join(missing)}, which is not set")
    return {**tool, "url": VARIABLE.sub(lambda found: env[found.group(1)], url)}


def _commands(channel: grpc.Channel) -> pb_grpc.SessionCommandsStub:
    return pb_grpc.SessionCommandsStub(channel)


def apply_assistant(
    endpoint: SessionEndpoint,
    path: Path,
    *,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Create or update the assistant of `path`; 0 when the session took it."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        request = read_assistant_file(path, env)
    except AssistantFileError as error:
        err.write(f"threadline assistants apply: {error}\n")
        return 2
    return configure_assistant(endpoint, request, out=out, err=err)


def configure_assistant(
    endpoint: SessionEndpoint,
    request: pb.ConfigureAssistantRequest,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Send `request` to the session; prints created|updated|unchanged NAME vN, 0 when taken."""
    out, err = out or sys.stdout, err or sys.stderr
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = _commands(channel).ConfigureAssistant(
                request, metadata=metadata, timeout=TIMEOUT
            )
        except grpc.RpcError as error:
            return refused("assistants apply", error, err)
    verb = "created" if response.created else "updated" if response.changed else "unchanged"
    out.write(f"{verb} {response.assistant.name} v{response.assistant.version}\n")
    return 0


def list_assistants(
    endpoint: SessionEndpoint, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    metadata = (("authorization", f"Bearer {endpoint.token}"),)
    with grpc.insecure_channel(endpoint.address) as channel:
        try:
            response = _commands(channel).ListAssistants(
                pb.ListAssistantsRequest(), metadata=metadata, timeout=TIMEOUT
            )
        except grpc.RpcError as error:
            return refused("assistants list", error, err)
    out.write(table(response.assistants))
    return 0


def table(assistants: Any) -> str:
    """One row an assistant: name, version, model, language, delay, numbers, prompt's start."""
    header = ("NAME", "VERSION", "MODEL", "LANGUAGE", "DELAY", "NUMBERS", "PROMPT")
    rows = [header]
    for a in assistants:
        prompt = " ".join(a.system_prompt.split())
        if len(prompt) > PROMPT_WIDTH:
            prompt = prompt[: PROMPT_WIDTH - 1] + "…"
        rows.append(
            (
                a.name,
                f"v{a.version}",
                a.model,
                a.language,
                f"{a.reply_delay_seconds:g}s",
                ",".join(a.business_numbers) or "-",
                prompt,
            )
        )
    if len(rows) == 1:
        return "no assistants\n"
    return columns(rows)


def run(command: str, file: str | None, env: Mapping[str, str]) -> int:
    """`threadline assistants <command>`; a setting found nowhere is a ConfigError."""
    endpoint = SessionEndpoint.resolve(env)
    if command == "apply":
        if file is None:
            raise ConfigError("threadline assistants apply needs a FILE.yaml")
        return apply_assistant(endpoint, Path(file), env=env)
    return list_assistants(endpoint)
