"""What the egress guard in Locust's process costs per request (docs/benchmarks.md).

    .venv/bin/python benchmarks/locust_guard.py [--rounds 3] [--seconds 8] [--users 4] [--baseline TREE]

Runs plain Locust (``python -m locust --headless``, no sloctl hooks) against one loopback HTTP
server in this process, in alternating rounds of the same Locust file with and without
``sloctl.loadtest.netguard.ProcessGuard`` installed at its top, so that the machine's changing
load hits both alike. Two connection modes: ``keep-alive`` (FastHttpUser's pool: the guard runs
once per connection) and ``close`` (``Connection: close``: one lookup and one connect per
request, the guard's worst case). Prints requests/s per variant (median of the rounds) and the
guard's cost per request, ``1/rps(guard) - 1/rps(plain)``. ``--baseline TREE`` (a checkout of
another commit, ``git archive``) adds a third variant in each round, the guard of that tree, so
that a change to the guard is measured side by side with the guard before it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures.stub_http import OkHandler

ROOT = Path(__file__).resolve().parents[1]

LOCUST_FILE = """
{guard}
from locust import FastHttpUser, constant, task

HEADERS = {headers}


class Client(FastHttpUser):
    wait_time = constant(0)

    @task
    def ok(self) -> None:
        self.client.get("/", headers=HEADERS)
"""

GUARD = (
    "from sloctl.egress import Egress\n"
    "from sloctl.loadtest.netguard import ProcessGuard\n"
    "ProcessGuard(Egress.of(action='load-test', widen='--allow-host')).install()\n"
)
MODES = {"keep-alive": {}, "close": {"Connection": "close"}}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return None  # a client that closes first (Connection: close) is no news


def _rps(
    folder: Path, url: str, mode: str, variant: str, tree: Path | None, users: int, seconds: int
) -> float:
    """Requests/s of one plain Locust run (its final stats, ``--json``), with the guard of
    ``tree`` installed, or none."""
    source = LOCUST_FILE.format(guard=GUARD if tree else "", headers=MODES[mode])
    path = folder / f"{mode}-{variant.replace(' ', '-')}.py"
    path.write_text(source)
    cmd = [sys.executable, "-m", "locust", "-f", str(path), "--headless", "--host", url, "--json"]
    cmd += ["-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--only-summary", "--skip-log-setup"]
    env = {**os.environ, "PYTHONPATH": str(tree or ROOT)}
    done = subprocess.run(
        cmd, capture_output=True, text=True, cwd=tree or ROOT, env=env, timeout=seconds + 60, check=False
    )
    entries = json.loads(done.stdout or "[]")
    if not entries or any(e["num_failures"] for e in entries):
        raise SystemExit(f"{path.name}: no clean run; stderr:\n{done.stderr[-2000:]}")
    requests = sum(e["num_requests"] for e in entries)
    span = max(e["last_request_timestamp"] for e in entries) - min(e["start_time"] for e in entries)
    return requests / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--baseline", type=Path, help="a checkout whose guard is measured beside this one's")
    args = parser.parse_args()
    variants: dict[str, Path | None] = {"plain": None, "guard": ROOT}
    if args.baseline:
        variants["guard (baseline)"] = args.baseline.resolve()
    server = _Server(("127.0.0.1", 0), OkHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    runs: dict[tuple[str, str], list[float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="sloctl-guard-bench-") as tmp:
            for _ in range(args.rounds):
                for mode in MODES:
                    for variant, tree in variants.items():
                        rps = _rps(Path(tmp), url, mode, variant, tree, args.users, args.seconds)
                        runs.setdefault((mode, variant), []).append(rps)
    finally:
        server.shutdown()
        server.server_close()
    print("| connections | guard | plain req/s | guarded req/s | change | guard's cost per request |")
    print("|---|---|---:|---:|---:|---:|")
    for mode in MODES:
        plain = statistics.median(runs[(mode, "plain")])
        for variant in list(variants)[1:]:
            guarded = statistics.median(runs[(mode, variant)])
            cost_us = (1 / guarded - 1 / plain) * 1e6
            change = f"{guarded / plain - 1:+.1%}"
            print(f"| {mode} | {variant} | {plain:,.0f} | {guarded:,.0f} | {change} | {cost_us:+.0f} µs |")
    rounds = json.dumps({f"{m} {v}": [round(r) for r in rs] for (m, v), rs in runs.items()})
    print(f"rounds {args.rounds} × {args.seconds} s, {args.users} users; per round: {rounds}")


if __name__ == "__main__":
    main()
