"""``sloctl convert``: write the SLOs read from any supported format as another format.

Every field the target format cannot express is a line on standard error of the form
``cannot convert: <service>-<slo>: <field>: <why>``. With any such line the command writes
nothing and exits 1; ``--lossy`` writes the rest, starts each of those lines with ``lost:``
instead, and exits 0. ``-o -`` (the default) prints the documents; ``-o DIR`` writes
``DIR/<format>.yaml`` atomically (and for Sloth each windows catalog as
``DIR/sloth-windows/<period>.yaml``, where Sloth's ``--slo-period-windows-path`` reads it; for
Pyrra one file per SLO, ``DIR/pyrra/<namespace>-<name>.yaml``, as Pyrra reads one a file).

Exit codes: 0 converted, 1 errors in the files or fields the format cannot express (without
``--lossy``), 2 usage.
"""

from __future__ import annotations

import argparse
import sys

from sloctl.cli._common import (
    add_command,
    add_input_arguments,
    add_output_dir_argument,
    load_slos_of,
    output_dir,
)
from sloctl.convert import FORMATS, convert, files, render_text
from sloctl.files import write_text


def _convert(args: argparse.Namespace) -> int:
    result = load_slos_of(args)  # what the reader ignored is said: it is not in the output either
    out = convert(result.slos, args.to)
    for loss in out.losses:
        print(f"{'lost' if args.lossy else 'cannot convert'}: {loss}", file=sys.stderr)
    if out.losses and not args.lossy:
        print(
            f"sloctl convert: {len(out.losses)} field(s) {args.to} cannot express; nothing written "
            "(--lossy writes the rest)",
            file=sys.stderr,
        )
        return 1
    if str(args.output) == "-":
        sys.stdout.write(render_text(out))
        return 0
    # Made only now: a refused conversion leaves nothing behind, not even the folder.
    folder = output_dir(args.output, "-o")
    paths = [write_text(folder / name, text) for name, text in files(out, args.to).items()]
    print(f"wrote {', '.join(map(str, paths))} ({len(out.documents)} document(s))")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = add_command(sub, "convert", _convert, __doc__)
    add_input_arguments(p)
    p.add_argument("--to", required=True, choices=sorted(FORMATS), help="the output format")
    add_output_dir_argument(p, "output directory, or - for stdout (default)", default="-")
    p.add_argument(
        "--lossy", action="store_true", help="write what the format can express and only report the rest"
    )
