"""Generate Python, gRPC and typing stubs from protos/ into libs/contracts.

protoc names modules after the proto paths (`threadline.events.v1`); they are rewritten to live
under `threadline.contracts` so they never collide with the service packages
(`threadline.session` is the session service). `--check` regenerates into a temporary folder and
fails when the committed code differs.
"""

from __future__ import annotations

import filecmp
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
TARGET = ROOT / "libs" / "contracts" / "src" / "threadline" / "contracts"
GROUPS = ("events", "session", "analytics", "knowledge")
IMPORT = re.compile(r"\b(from|import) threadline\.(events|session|analytics|knowledge)\.v1\b")


def generate(into: Path) -> None:
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    raw = into / "raw"
    raw.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTOS}",
            f"--python_out={raw}",
            f"--grpc_python_out={raw}",
            f"--mypy_out={raw}",
            f"--mypy_grpc_out={raw}",
            *sources,
        ],
        check=True,
    )
    out = into / "contracts"
    for group in GROUPS:
        src = raw / "threadline" / group
        if not src.exists():
            continue
        for path in src.rglob("*"):
            if path.is_file():
                dest = out / group / path.relative_to(src)
                dest.parent.mkdir(parents=True, exist_ok=True)
                text = IMPORT.sub(r"\1 threadline.contracts.\2.v1", path.read_text())
                dest.write_text(text)
        for pkg in [out / group, *(d for d in (out / group).rglob("*") if d.is_dir())]:
            (pkg / "__init__.py").write_text("")
            (pkg / "py.typed").write_text("") if pkg == out / group else None


def same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        print(f"stale: {a} vs {b}: {cmp.left_only} {cmp.right_only} {cmp.diff_files}")
        return False
    return all(same_tree(a / d, b / d) for d in cmp.common_dirs if d != "__pycache__")


def main() -> int:
    check = "--check" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "contracts"
        if check:
            ok = all(same_tree(fresh / g, TARGET / g) for g in GROUPS)
            print("generated code is fresh" if ok else "generated code is stale: run `make protos`")
            return 0 if ok else 1
        for group in GROUPS:
            shutil.rmtree(TARGET / group, ignore_errors=True)
            shutil.copytree(fresh / group, TARGET / group)
    print(f"generated {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
