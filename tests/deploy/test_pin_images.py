"""deploy/pin_images.py rewrites image lines to `name:tag@digest` and empties `x-to-pin`, with a
resolver standing in for the registry (this machine reaches none)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy import compose
from tests.deploy.environment import REPO


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pin_images", REPO / "deploy/pin_images.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pin_images = _load()


def fake_digest(name_and_tag: str) -> str:
    return "sha256:" + hashlib.sha256(name_and_tag.encode()).hexdigest()


def test_pinning_the_compose_file_pins_every_listed_image_and_empties_the_list() -> None:
    text = compose.COMPOSE_FILE.read_text(encoding="utf-8")
    to_pin = compose.written()["x-to-pin"]
    new, pinned = pin_images.pin_text(text, fake_digest)
    assert sorted(set(pinned)) == sorted(to_pin)
    assert "x-to-pin: []\n" in new
    for name in to_pin:
        assert f"image: {name}@{fake_digest(name)}" in new
    assert "image: threadline:dev" in new  # built here, never pinned
    assert pin_images.images_in(new) and all("@sha256:" in r for r in pin_images.images_in(new))
    again, pinned_again = pin_images.pin_text(new, fake_digest)
    assert (again, pinned_again) == (new, [])


def test_refresh_re_resolves_pinned_images() -> None:
    line = "    image: prom/prometheus:v3.7.3@sha256:" + "0" * 64 + "\n"
    new, pinned = pin_images.pin_text(line, fake_digest, refresh=True)
    assert pinned == ["prom/prometheus:v3.7.3"]
    assert new == f"    image: prom/prometheus:v3.7.3@{fake_digest('prom/prometheus:v3.7.3')}\n"


def test_a_registry_answer_that_is_not_a_digest_stops_the_rewrite() -> None:
    with pytest.raises(ValueError, match="not a digest"):
        pin_images.pin_text("image: nats:2.15-alpine\n", lambda _: "<html>")


def test_check_reports_unpinned_and_moved_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = "sha256:" + "1" * 64
    content = f"image: nats:2.15-alpine\nimage: busybox:1.37@{stale}\n"
    (tmp_path / "x.yaml").write_text(content, encoding="utf-8")
    monkeypatch.setattr(pin_images, "ROOT", tmp_path)
    problems = pin_images.check([tmp_path / "x.yaml"], fake_digest)
    assert problems == [
        "x.yaml: nats:2.15-alpine is not pinned",
        f"x.yaml: busybox:1.37 is now {fake_digest('busybox:1.37')}, not {stale}",
    ]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("nats:2.15-alpine", ("registry-1.docker.io", "library/nats", "2.15-alpine")),
        ("prom/prometheus:v3.7.3", ("registry-1.docker.io", "prom/prometheus", "v3.7.3")),
        ("ghcr.io/org/app:1.0", ("ghcr.io", "org/app", "1.0")),
        ("localhost:5000/app:dev", ("localhost:5000", "app", "dev")),
    ],
)
def test_references_name_their_registry(reference: str, expected: tuple[str, str, str]) -> None:
    assert pin_images.parse_reference(reference) == expected
