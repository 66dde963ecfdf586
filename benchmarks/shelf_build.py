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
from sloctl.shelf.build import build_command, go_env, prepare


def build_seconds(t: Tool, tags: tuple[str, ...], scratch: Path) -> tuple[float, int]:
    """The shelf's own steps for ``t`` in a new scratch module with an empty Go build cache, then
    its ``go build`` with ``tags``, timed: (seconds, bytes of the binaries)."""
    work = Path(tempfile.mkdtemp(dir=scratch))
    os.environ["GOCACHE"] = str(work / "gocache")  # go_env() passes it on to every go command
    packages = prepare(t, work, work / "build.log", lambda _line: None)
    out = work / "bin"
    out.mkdir()
    start = time.monotonic()
    subprocess.run(
        build_command(t, packages, out, tags),
        cwd=work,
        env=go_env(),
        check=True,
        capture_output=True,
        timeout=3600,
    )
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
