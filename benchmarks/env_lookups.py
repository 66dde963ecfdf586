"""Every configuration key of a shipped game-day experiment given as an environment lookup in a
``--config`` file, in each variant a user may write (set, unset, with a default, each
``env_var_type``, a misspelt field, a bad name), each dry-run as ``sloctl gameday run --config
FILE --dry-run`` in this process: tracebacks, exit codes, and whether a message quoted the
variable's value (docs/benchmarks.md, "Environment lookups").

    PYTHONPATH=$PWD .venv/bin/python benchmarks/env_lookups.py
    PYTHONPATH=/tmp/old .venv/bin/python benchmarks/env_lookups.py   # the code before

``--time``: the check of a ``--config`` file (``gameday run --dry-run``), every target written
literally against every target looked up, side by side in one run (best of ``ROUNDS``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = ROOT / "chaos" / "connection-loss.json"
#: every target a shipped experiment needs, on loopback's closed port 9 (a dry run contacts nothing)
TARGETS: dict[str, Any] = {
    "api_url": "http://127.0.0.1:9",
    "metrics_url": "http://127.0.0.1:9/metrics",
    "pgbouncer_dsn": "host=127.0.0.1 port=9 dbname=platform user=app password=Pw0rd-x",
    "pgbouncer_admin_dsn": "host=127.0.0.1 port=9 dbname=pgbouncer user=admin",
    "postgres_admin_dsn": "host=127.0.0.1 port=9 dbname=postgres user=postgres",
    "redis_url": "redis://:Pw0rd-x@127.0.0.1:9/0",
    "mongodb_uri": "mongodb://127.0.0.1:9/platform",
    "api_keys_file": "api/client-keys.json",
    "redis_proxy_control_port": 9,
    "postgres_proxy_control_port": 9,
    "mongodb_proxy_control_port": 9,
}
#: what the variable holds in the "set" variants: a value a message must never quote
SECRET = "Zq9-not-for-logs"
#: name → (lookup fields beyond type and key, whether the variable is set, its text)
VARIANTS: dict[str, tuple[dict[str, Any], bool, str]] = {
    "set": ({}, True, SECRET),
    "unset": ({}, False, ""),
    "unset, default": ({"default": "x"}, False, ""),
    "int": ({"env_var_type": "int"}, True, SECRET),
    "float": ({"env_var_type": "float"}, True, "7.5"),
    "bool": ({"env_var_type": "bool"}, True, SECRET),
    "json": ({"env_var_type": "json"}, True, SECRET),
    "misspelt field": ({"defualt": 1}, True, SECRET),
    "unknown type": ({"env_var_type": "bytes"}, True, SECRET),
    "bad name": ({"key": "1 X"}, True, SECRET),
    "null key": ({"key": None}, True, SECRET),
}
ROUNDS = 20


def run_case(config: dict[str, Any], folder: Path) -> dict[str, Any]:
    from sloctl.cli.main import main

    path = folder / "targets.json"
    path.write_text(json.dumps(config))
    err, out = io.StringIO(), io.StringIO()
    code: object = "traceback"
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(["gameday", "run", str(EXPERIMENT), "--config", str(path), "--dry-run"])
        except Exception:
            traceback.print_exc(file=err)
    words = err.getvalue() + out.getvalue()
    return {"code": code, "traceback": "Traceback" in words, "quoted": SECRET in words}


def sweep() -> None:
    keys = list(json.loads(EXPERIMENT.read_text())["configuration"])
    codes: Counter[object] = Counter()
    tracebacks = quoted = 0
    with tempfile.TemporaryDirectory() as folder:
        for key in keys:
            for extra, is_set, text in VARIANTS.values():
                lookup = {"type": "env", "key": "SLOCTL_BENCH_VAR", **extra}
                os.environ.pop("SLOCTL_BENCH_VAR", None)
                if is_set:
                    os.environ["SLOCTL_BENCH_VAR"] = text
                case = run_case({**TARGETS, key: lookup}, Path(folder))
                codes[case["code"]] += 1
                tracebacks += case["traceback"]
                quoted += case["quoted"]
    os.environ.pop("SLOCTL_BENCH_VAR", None)
    print(f"{len(keys)} keys x {len(VARIANTS)} variants = {sum(codes.values())} dry runs")
    counts = dict(sorted(codes.items(), key=str))
    print(f"exit codes: {counts}; tracebacks: {tracebacks}; value quoted: {quoted}")


def timed() -> None:
    looked_up = {key: {"type": "env", "key": f"BENCH_{key.upper()}"} for key in TARGETS}
    looked_up.update(
        {k: {**v, "env_var_type": "int"} for k, v in looked_up.items() if isinstance(TARGETS[k], int)}
    )
    for key, value in TARGETS.items():
        os.environ[f"BENCH_{key.upper()}"] = str(value)
    best = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, config in (("written", TARGETS), ("looked up", looked_up)):
            assert run_case(config, Path(folder))["code"] == 0, name
        for name, config in [("written", TARGETS), ("looked up", looked_up)] * ROUNDS:
            start = time.perf_counter()
            run_case(config, Path(folder))
            best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
    print(f"dry run, best of {ROUNDS}: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in best.items()))
    print(f"looked up / written: {best['looked up'] / best['written']:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", action="store_true", help="time the check instead of the sweep")
    (timed if parser.parse_args().time else sweep)()
