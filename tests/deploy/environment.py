"""Which THREADLINE_* / OTEL_* variables each service's settings read, found by reading the code.

An AST scan of each service's `config.py` (and the few modules its `from_env` hands the
environment to): a string literal is a variable read when it is the name passed to an
environment lookup — a call whose argument before it is the mapping `env` (`env_str(env, NAME,
default)`, `_port(env, NAME, default)`), or `env.get(NAME, default)` / `os.environ.get(...)`. The
argument after the name is the default; a read through servicekit's `env_str` / `env_int`
without one is required (they raise when the variable is missing; other helpers default). A
name held in a module constant (`_DISPLAY_NUMBERS = "THREADLINE_..."`) and a default held in
one or in a class field (`cls.nats_url`) are resolved; other defaults are left unknown.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PREFIXES = ("THREADLINE_", "OTEL_")
REQUIRING = ("env_str", "env_int")  # servicekit.config's lookups that raise without a default


@dataclass(frozen=True)
class Read:
    """One variable a module reads."""

    name: str
    required: bool
    default: object  # the default's value when it is a literal, else None
    module: str


@dataclass(frozen=True)
class Source:
    """A module to scan; `optional_only`: it is consulted only when another setting selects it
    (the S3 media store's settings), so nothing it reads is required of every deployment."""

    path: str
    optional_only: bool = False


MEDIA = Source("libs/media/src/threadline/media/config.py", optional_only=True)
# The topology: the number of the session's partitions (read by every service that publishes
# the session's facts, and the session) and the streams' replicas.
TOPOLOGY = Source("libs/messaging/src/threadline/messaging/topology.py")

# The compose service (and Kubernetes Deployment) name -> the modules its settings come from.
SOURCES: dict[str, tuple[Source, ...]] = {
    "ingest": (Source("services/ingest/src/threadline/ingest/config.py"), TOPOLOGY),
    "session": (Source("services/session/src/threadline/session/config.py"), MEDIA, TOPOLOGY),
    "ai_responder": (
        Source("services/ai_responder/src/threadline/ai_responder/config.py"),
        MEDIA,
        TOPOLOGY,
    ),
    "outbound": (Source("services/outbound/src/threadline/outbound/config.py"), MEDIA, TOPOLOGY),
    "analytics": (Source("services/analytics/src/threadline/analytics/config.py"),),
    "gateway": (
        Source("services/gateway/src/threadline/gateway/config.py"),
        Source("services/gateway/src/threadline/gateway/webhooks/delivery.py"),
        MEDIA,
    ),
    "sandbox": (Source("libs/sandbox/src/threadline/sandbox/config.py"),),
}
THREADLINE_SERVICES = ("ingest", "session", "ai_responder", "outbound", "analytics", "gateway")


def reads_of(service: str) -> dict[str, Read]:
    """Every variable `service` reads, by name (a required read wins over an optional one)."""
    found: dict[str, Read] = {}
    for source in SOURCES[service]:
        for read in scan(REPO / source.path):
            if source.optional_only:
                read = Read(read.name, False, read.default, read.module)
            if read.name not in found or read.required:
                found[read.name] = read
    return found


def scan(path: Path) -> list[Read]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    constants = _module_constants(tree)
    fields = _class_fields(tree)
    reads: list[Read] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for position, default in _lookups(node):
            name = _value(node.args[position], constants, fields)
            if not (isinstance(name, str) and name.startswith(PREFIXES)):
                continue
            if name.endswith("_"):  # a prefix (`THREADLINE_MEDIA_`), not a variable
                continue
            required = default is None and _called(node) in REQUIRING
            value = None if default is None else _value(default, constants, fields)
            reads.append(Read(name, required, value, str(path.relative_to(REPO))))
    return reads


def _lookups(call: ast.Call) -> list[tuple[int, ast.expr | None]]:
    """(index of the name argument, the default argument or None) of each lookup in `call`."""
    args = call.args
    if _is_get(call):
        return [(0, args[1] if len(args) > 1 else None)] if args else []
    lookups = []
    for index, arg in enumerate(args[:-1]):
        if isinstance(arg, ast.Name) and arg.id == "env":
            lookups.append((index + 1, args[index + 2] if len(args) > index + 2 else None))
    return lookups


def _called(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _is_get(call: ast.Call) -> bool:
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "get"):
        return False
    target = func.value
    if isinstance(target, ast.Name):
        return target.id == "env"
    return isinstance(target, ast.Attribute) and target.attr == "environ"


def _value(node: ast.expr, constants: dict[str, object], fields: dict[str, object]) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "cls"
    ):
        return fields.get(node.attr)
    return None


def _module_constants(tree: ast.Module) -> dict[str, object]:
    constants: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
        elif (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(node.value, ast.Constant)
        ):
            constants[node.target.id] = node.value.value
    return constants


def _class_fields(tree: ast.Module) -> dict[str, object]:
    fields: dict[str, object] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if (
                isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and isinstance(item.value, ast.Constant)
            ):
                fields[item.target.id] = item.value.value
    return fields


def documented(name: str, reasons: dict[str, str]) -> bool:
    """Whether `name` is under x-defaults, itself or by a family (`THREADLINE_MEDIA_S3_*`)."""
    return name in reasons or any(
        family.endswith("*") and name.startswith(family[:-1]) for family in reasons
    )


def is_loopback(value: object) -> bool:
    return isinstance(value, str) and ("127.0.0.1" in value or "localhost" in value)
