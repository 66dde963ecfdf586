"""What the two kind sweeps share (``experiment_kinds.py``, ``runs_index.py``): every key path
of a JSON document, the document with one of them set to a value of another kind, the values
tried, and their command line (``--out``, ``--compare OLD NEW``, ``--time``).

Run as scripts (``python benchmarks/NAME.py``), the sweeps import this module from their own
folder; neither imports ``sloctl`` before its work starts, so that the ``sloctl`` first on
``PYTHONPATH`` (a checkout of another commit, for the old figures) is the one measured.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: a value of each JSON kind, empty and not, negative and fractional numbers, both booleans
VALUES: tuple[object, ...] = (5, -1, 1.5, "x", "", True, False, None, [], [1], {}, {"a": 1})

Key = str | int


def key_paths(
    value: object, depth: int | None = None, prefix: tuple[Key, ...] = ()
) -> Iterator[tuple[Key, ...]]:
    """The path of every key and list item in ``value``, at most ``depth`` long (None: all)."""
    if depth is not None and len(prefix) >= depth:
        return
    items: list[tuple[Key, object]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, child in items:
        yield (*prefix, key)
        yield from key_paths(child, depth, (*prefix, key))


def replaced(document: Any, path: tuple[Key, ...], value: object) -> Any:
    """A copy of ``document`` with ``value`` at ``path``."""
    changed = copy.deepcopy(document)
    parent: Any = changed
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return changed


def main(
    description: str,
    *,
    sweep: Callable[[], dict[str, Any]],
    compare: Callable[[dict[str, Any], dict[str, Any]], None],
    summary: Callable[[dict[str, Any]], str],
    timed: Callable[[], str],
    out_help: str,
    time_help: str,
) -> None:
    """The sweeps' command line: ``--compare`` two saved sweeps, ``--time`` one timing, else the
    sweep, its ``summary`` printed and, with ``--out``, every case written."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, help=out_help)
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"))
    parser.add_argument("--time", action="store_true", help=time_help)
    args = parser.parse_args()
    if args.compare:
        old, new = (json.loads(p.read_text()) for p in args.compare)
        compare(old, new)
        return
    import sloctl

    if args.time:
        print(f"{sloctl.__file__}: {timed()}")
        return
    results = sweep()
    print(f"{sloctl.__file__}: {summary(results)}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
