"""What a shelf tool's build tags save on a fresh machine (docs/compat.md, "Build times").

    .venv/bin/python benchmarks/shelf_build.py [--tool prometheus] [--rounds 1]

Builds the tool's binaries from its pinned module with an empty Go build cache each time (the
module cache is kept: downloads are not what the tags change), once with the tags the shelf
uses and once without, alternating, and prints each ``go build``'s seconds and the binaries'
sizes. Nothing is written to the shelf. Run it on a machine with nothing else running: both
builds use every core.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sloctl.shelf import Tool, tool


def _env(cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "GOCACHE": str(cache),
    }


def _go(args: list[str], cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(["go", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=3600)


def build_seconds(t: Tool, tags: tuple[str, ...], scratch: Path) -> tuple[float, int]:
    """``go build`` of ``t``'s packages in a new module with an empty build cache: (seconds, bytes)."""
    work = Path(tempfile.mkdtemp(dir=scratch))
    env = _env(work / "gocache")
    packages = [t.module if p == "." else f"{t.module}/{p}" for p in t.packages]
    (work / "go.mod").write_text(f"module bench/{t.name}\n\ngo 1.26\n")
    imports = "".join(f'\t_ "{p}"\n' for p in packages)
    (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n")
    _go(["get", f"{t.module}@{t.version}", *t.requires], work, env)
    _go(["mod", "tidy"], work, env)
    out = work / "bin"
    start = time.monotonic()
    flags = ["-trimpath", "-ldflags=-s -w", *([f"-tags={','.join(tags)}"] if tags else [])]
    _go(["build", *flags, "-o", f"{out}/", *packages], work, env)
    seconds = time.monotonic() - start
    return seconds, sum(f.stat().st_size for f in out.iterdir())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tool", default="prometheus", help="a shelf tool with build tags (default prometheus)")
    p.add_argument("--rounds", type=int, default=1, help="pairs of builds, alternating (default 1)")
    args = p.parse_args(argv)
    t = tool(args.tool)
    if not t.tags:
        p.error(f"--tool: {t.name} is built without tags; nothing to compare")
    with tempfile.TemporaryDirectory(prefix="shelf-bench-") as scratch:
        for n in range(args.rounds):
            for tags in (t.tags, ()):
                seconds, size = build_seconds(t, tags, Path(scratch))
                label = ",".join(tags) or "no tags"
                print(f"round {n + 1} {t.name} {label}: go build {seconds:.0f} s, {size / 1e6:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
