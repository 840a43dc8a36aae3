"""Every service is built the same way (issue 9): the same rooms in the same places, and the
dependencies between them point inward — the domain knows nothing of the application or the
adapters, the application nothing of the adapters (it names ports, the adapters implement them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("ingest", "session", "ai_responder", "outbound", "analytics", "gateway")
# The gateway is an edge adapter in front of the gRPC APIs: it has no rules of its own.
EDGE = frozenset({"gateway"})


def package(service: str) -> Path:
    return ROOT / "services" / service / "src" / "threadline" / service


def imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_skeleton(service: str) -> None:
    root = package(service)
    for name in ("__main__.py", "config.py", "bootstrap.py"):
        assert (root / name).is_file(), f"{service} has no {name}"
    rooms = ["adapters/inbound", "adapters/outbound"]
    if service not in EDGE:
        rooms += ["domain", "application"]
    for room in rooms:
        assert (root / room).is_dir(), f"{service} has no {room}/"
    main = (root / "__main__.py").read_text()
    assert "service_main(" in main, f"{service}'s __main__ does not use service_main"
    bootstrap = ast.parse((root / "bootstrap.py").read_text())
    functions = {n.name: n for n in bootstrap.body if isinstance(n, ast.AsyncFunctionDef)}
    assert "bootstrap" in functions, f"{service} has no async bootstrap()"
    arguments = functions["bootstrap"].args
    assert [a.arg for a in arguments.args] == ["config", "stack"], service
    returns = ast.unparse(functions["bootstrap"].returns or ast.Constant(None))
    assert returns.startswith("Running"), f"{service}'s bootstrap returns {returns}"


@pytest.mark.parametrize("service", SERVICES)
def test_dependencies_point_inward(service: str) -> None:
    root = package(service)
    me = f"threadline.{service}"
    forbidden = {
        "domain": (f"{me}.application", f"{me}.adapters", f"{me}.bootstrap"),
        "application": (f"{me}.adapters", f"{me}.bootstrap"),
    }
    wrong: list[str] = []
    for room, prefixes in forbidden.items():
        for path in sorted((root / room).rglob("*.py")) if (root / room).is_dir() else []:
            for module in imported_modules(path):
                if module.startswith(prefixes):
                    wrong.append(f"{path.relative_to(root)} imports {module}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("service", SERVICES)
def test_only_the_composition_root_connects_to_nats(service: str) -> None:
    """One NATS connect for all: `connect_nats`, called from bootstrap."""
    wrong = [
        str(path.relative_to(package(service)))
        for path in package(service).rglob("*.py")
        if "nats.connect(" in path.read_text() or "NatsClient()" in path.read_text()
    ]
    assert not wrong, wrong
