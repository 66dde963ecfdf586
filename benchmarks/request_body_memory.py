"""Memory the platform API spends on a request body it refuses (docs/security.md).

    .venv/bin/python benchmarks/request_body_memory.py [--mib 200]

Starts the testbed, streams a PUT of ``--mib`` MiB to ``/v1/cache/big`` (the limit is 64 KiB)
and prints the answer and the API process' peak resident memory (VmHWM) before and after. Run
from another checkout (``python /path/to/checkout/benchmarks/request_body_memory.py``) to
measure that checkout's API: the script imports the code next to it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# The API runs as `python -m testbed` in a child process: it must import this checkout too.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

import httpx  # noqa: E402

from sloctl.testbed_runner import start_testbed  # noqa: E402


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="body size in MiB (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sloctl-bench-") as tmp:
        os.chmod(tmp, 0o711)  # PostgreSQL's user must reach its data directory
        with start_testbed(Path(tmp)) as tb:
            before = peak_rss_mib(tb.api.pid)
            chunk = b"x" * (1 << 20)
            with httpx.Client(base_url=tb.api.url, timeout=120) as client:
                try:
                    answer = str(
                        client.put("/v1/cache/big", content=(chunk for _ in range(args.mib))).status_code
                    )
                except httpx.TransportError as exc:
                    answer = f"connection closed ({type(exc).__name__})"
            after = peak_rss_mib(tb.api.pid)
    grown = after - before
    print(
        f"{args.mib} MiB PUT: answer {answer};"
        f" API peak RSS {before:.0f} -> {after:.0f} MiB (+{grown:.0f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
