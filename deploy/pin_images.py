#!/usr/bin/env python3
"""Pin the deployment's container images by digest: `image: name:tag` -> `name:tag@sha256:...`.

Run by an operator with network access to the registries (the development machine has none):

    python3 deploy/pin_images.py            # pin every image not pinned yet, in place
    python3 deploy/pin_images.py --refresh  # re-resolve the pinned ones too (after a tag moved)
    python3 deploy/pin_images.py --check    # change nothing; exit 1 when an image is unpinned or
                                            # its digest is no longer the tag's

Files: docker-compose.yml (an image pinned here leaves its `x-to-pin` list) and every YAML file
under deploy/k8s. The digest is the tag's manifest list (index) digest, the one `docker pull
name:tag` records, so every platform of the image stays pullable. It is read with `docker buildx
imagetools inspect` when docker is installed, else from the registry's HTTP API (Docker Hub and
any registry allowing anonymous pulls, through its bearer-token challenge). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
IMAGE_LINE = re.compile(
    r"^(?P<lead>\s*(?:-\s+)?image:\s*)(?P<quote>[\"']?)(?P<ref>[^\s\"'#]+)(?P=quote)(?P<tail>.*)$"
)
NOT_PINNED_HERE = ("threadline:",)  # built from this repository, not pulled
ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TIMEOUT_SECONDS = 30

Resolver = Callable[[str], str]


def split(ref: str) -> tuple[str, str | None]:
    """`name:tag@sha256:...` -> (`name:tag`, `sha256:...`); the digest None when absent."""
    name, _, digest = ref.partition("@")
    return name, digest or None


def files() -> list[Path]:
    found = [COMPOSE] if COMPOSE.exists() else []
    if K8S.is_dir():
        found += sorted(p for p in K8S.rglob("*") if p.suffix in (".yaml", ".yml"))
    return found


def images_in(text: str) -> list[str]:
    refs = []
    for line in text.splitlines():
        match = IMAGE_LINE.match(line)
        if match and not match.group("ref").startswith(NOT_PINNED_HERE):
            refs.append(match.group("ref"))
    return refs


def pin_text(text: str, resolve: Resolver, *, refresh: bool = False) -> tuple[str, list[str]]:
    """`text` with its image lines pinned, and the `name:tag`s pinned by this call."""
    pinned: list[str] = []
    lines = []
    for line in text.splitlines(keepends=True):
        match = IMAGE_LINE.match(line.rstrip("\n"))
        if match and not match.group("ref").startswith(NOT_PINNED_HERE):
            name, digest = split(match.group("ref"))
            if digest is None or refresh:
                new = resolve(name)
                if not DIGEST.match(new):
                    raise ValueError(f"{name}: the registry answered {new!r}, not a digest")
                quote = match.group("quote")
                end = "\n" if line.endswith("\n") else ""
                line = f"{match.group('lead')}{quote}{name}@{new}{quote}{match.group('tail')}{end}"
                pinned.append(name)
        lines.append(line)
    return _drop_from_to_pin("".join(lines), pinned), pinned


def _drop_from_to_pin(text: str, pinned: Iterable[str]) -> str:
    """Remove the pinned images from compose's `x-to-pin:` list (an empty list stays `[]`)."""
    out: list[str] = []
    inside = False
    kept = 0
    gone = set(pinned)
    for line in text.splitlines(keepends=True):
        if line.rstrip() == "x-to-pin:":
            inside, kept = True, 0
            out.append(line)
            continue
        if inside:
            item = re.match(r"^\s+-\s+(\S+)\s*$", line)
            if item:
                if item.group(1) not in gone:
                    out.append(line)
                    kept += 1
                continue
            inside = False
            if kept == 0:
                out[-1] = out[-1].rstrip("\n").replace("x-to-pin:", "x-to-pin: []") + "\n"
        out.append(line)
    return "".join(out)


def resolve(name_and_tag: str) -> str:
    """The tag's current digest: docker buildx when installed, else the registry's API."""
    docker = shutil.which("docker")
    if docker is not None:
        done = subprocess.run(
            [
                docker,
                "buildx",
                "imagetools",
                "inspect",
                "--format",
                "{{json .Manifest}}",
                name_and_tag,
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS * 2,
            check=False,
        )
        if done.returncode == 0:
            digest = json.loads(done.stdout)["digest"]
            return str(digest)
    return registry_digest(name_and_tag)


def registry_digest(name_and_tag: str) -> str:
    registry, repository, tag = parse_reference(name_and_tag)
    url = f"https://{registry}/v2/{repository}/manifests/{tag}"
    request = urllib.request.Request(url, method="HEAD", headers={"Accept": ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return str(response.headers["Docker-Content-Digest"])
    except urllib.error.HTTPError as error:
        challenge = error.headers.get("WWW-Authenticate", "")
        if error.code != 401 or not challenge.lower().startswith("bearer "):
            raise
    token = _anonymous_token(challenge, repository)
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return str(response.headers["Docker-Content-Digest"])


def parse_reference(name_and_tag: str) -> tuple[str, str, str]:
    """(registry host, repository, tag), Docker Hub's `library/` and host filled in."""
    name, _, tag = name_and_tag.rpartition(":")
    if not name or "/" in tag:
        raise ValueError(f"{name_and_tag}: expected name:tag")
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = "registry-1.docker.io", name
        if "/" not in repository:
            repository = f"library/{repository}"
    return registry, repository, tag


def _anonymous_token(challenge: str, repository: str) -> str:
    params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    query = {"scope": params.get("scope", f"repository:{repository}:pull")}
    if "service" in params:
        query["service"] = params["service"]
    url = f"{params['realm']}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
        body = json.load(response)
    return str(body.get("token") or body["access_token"])


def check(paths: Iterable[Path], resolve: Resolver) -> list[str]:
    """What is wrong: unpinned images, and pinned digests that are no longer the tag's."""
    problems = []
    for path in paths:
        for ref in images_in(path.read_text(encoding="utf-8")):
            name, digest = split(ref)
            if digest is None:
                problems.append(f"{path.relative_to(ROOT)}: {ref} is not pinned")
            elif (current := resolve(name)) != digest:
                problems.append(f"{path.relative_to(ROOT)}: {name} is now {current}, not {digest}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; report problems")
    parser.add_argument("--refresh", action="store_true", help="re-resolve pinned images too")
    args = parser.parse_args(argv)
    paths = files()
    if args.check:
        problems = check(paths, resolve)
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        new, pinned = pin_text(text, resolve, refresh=args.refresh)
        if new != text:
            path.write_text(new, encoding="utf-8")
        for name in pinned:
            print(f"{path.relative_to(ROOT)}: pinned {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
