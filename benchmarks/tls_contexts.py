"""CPU to check a collector config's TLS files and to build its probes, for many HTTPS targets
that share one TLS configuration.

Each case is a config of ``--targets`` http targets (https:// loopback URLs; nothing is
contacted) with two lanes each (cold, warm), all with the same ``tls``:

* ``system``: no ``caFile``, so the system's CA bundle;
* ``bundle``: ``caFile`` a copy of the system's bundle (a large corporate bundle, say);
* ``private``: ``caFile`` a one-certificate private CA, made here by ``openssl``.

Measured in this process (CPU seconds, user + system), the median of ``--rounds``:
``sloctl collector check``'s work (:func:`sloctl.collector.config.check_config`) and
the building of every probe (:meth:`sloctl.collector.runner.Runner.start`, stopped before any
run). The lanes' own first runs are not included.

Usage::

    .venv/bin/python benchmarks/tls_contexts.py [--targets 200] [--rounds 5]

Prints a Markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import ssl
import statistics
import subprocess
import tempfile
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from sloctl.collector import Collector
from sloctl.collector.config import check_config


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _private_ca(workdir: Path) -> Path:
    cert = workdir / "private-ca.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=sloctl benchmark CA",
            "-keyout", str(workdir / "private-ca.key"), "-out", str(cert),
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert


def _config(workdir: Path, name: str, targets: int, ca_file: Path | None) -> Path:
    tls = f", tls: {{caFile: '{ca_file}'}}" if ca_file else ""
    lines = [
        "apiVersion: sloctl/v1",
        "kind: CollectorConfig",
        "listen: 127.0.0.1:0",
        "defaults: {interval: 10s, timeout: 5s, connections: [cold, warm]}",
        "targets:",
        *(
            f"  - {{name: api-{i:03d}, kind: http, url: 'https://127.0.0.1:{1024 + i}/'{tls}}}"
            for i in range(targets)
        ),
    ]
    path = workdir / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def _build_probes(path: Path) -> float:
    """CPU seconds of building every probe of ``path``'s config (its runner's start)."""
    collector = Collector(
        check_config(path, {}), {}, registry=CollectorRegistry(), tracer_provider=TracerProvider()
    )
    before = _cpu()
    collector.runner.start()
    spent = _cpu() - before
    await collector.runner.stop()
    return spent


def _check(path: Path) -> float:
    before = _cpu()
    check_config(path, {})
    return _cpu() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bundle = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    with tempfile.TemporaryDirectory(prefix="sloctl-bench-tls-") as tmp:
        workdir = Path(tmp)
        shutil.copy(bundle, workdir / "bundle.pem")
        cases = {
            "system": None,
            "bundle": workdir / "bundle.pem",
            "private": _private_ca(workdir),
        }
        print(f"{args.targets} https targets × 2 lanes, median of {args.rounds} rounds (CPU ms)\n")
        print("| CA | `collector check` | building the probes |")
        print("|---|---|---|")
        for name, ca_file in cases.items():
            path = _config(workdir, name, args.targets, ca_file)
            check = statistics.median(_check(path) for _ in range(args.rounds))
            build = statistics.median(asyncio.run(_build_probes(path)) for _ in range(args.rounds))
            print(f"| {name} | {check * 1000:.0f} | {build * 1000:.0f} |")


if __name__ == "__main__":
    main()
