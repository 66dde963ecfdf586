"""``python -m sloctl.shelf [--list] [--if-go] [NAME ...]``: build the tool shelf (scripts/tools.sh)."""

from __future__ import annotations

import argparse
import sys

from sloctl.shelf import TOOLS, shelf_dir, tool_dir
from sloctl.shelf.build import BuildError, GoMissing, build, built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/tools.sh",
        description=(
            "Build sloctl's tool shelf: pinned Prometheus 3, Alertmanager, Sloth, VictoriaMetrics and an "
            "OpenTelemetry Collector, from Go modules, once per machine, into $SLOCTL_TOOLS "
            f"(default ~/.cache/sloctl/tools; now {shelf_dir()})."
        ),
    )
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"tools to build (default: all of {', '.join(t.name for t in TOOLS)})",
    )
    parser.add_argument(
        "--list",
        action="store_true",
        help="print each tool, its pinned version and whether it is built, then exit",
    )
    parser.add_argument(
        "--if-go",
        action="store_true",
        help=(
            "when Go or the module proxy is missing, say so and exit 0 "
            "(the engine tests then skip, naming what is missing)"
        ),
    )
    args = parser.parse_args(argv)
    if args.list:
        for t in TOOLS:
            record = built(t)
            state = f"built in {record.get('seconds')}s" if record else "not built"
            print(f"{t.name:<16} {t.release:<10} {t.module}@{t.version:<10} {state:<18} {tool_dir(t)}")
        return 0
    try:
        build(args.names)
    except GoMissing as exc:
        print(f"tool shelf: {exc}", file=sys.stderr)
        if args.if_go:
            print(
                "tool shelf: continuing without it; tests that need these engines will be skipped",
                file=sys.stderr,
            )
            return 0
        return 3
    except BuildError as exc:
        print(f"tool shelf: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
