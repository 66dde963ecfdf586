"""The package's promises: a light core import, a typed public API, the console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT

HEAVY = (
    "grafana_foundation_sdk",
    "psycopg",
    "redis",
    "pymongo",
    "locust",
    "chaoslib",
    "opentelemetry",
    "prometheus_client",
    "starlette",
    "httpx",
    "jsonschema",
)


def test_importing_the_library_and_validating_pulls_in_no_heavy_optional_dependency() -> None:
    code = (
        "import sys, sloctl\n"
        "from sloctl.cli.main import main\n"
        "rc = main(['validate', 'slos'])\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(rc, heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "0 []"


def test_the_package_is_typed_and_exports_its_api() -> None:
    import sloctl

    assert (ROOT / "sloctl" / "py.typed").exists()
    assert set(sloctl.__all__) >= {"load_paths", "load_text", "__version__"}


def test_the_console_script_is_installed() -> None:
    exe = ROOT / ".venv" / "bin" / "sloctl"
    proc = subprocess.run(
        [str(exe) if exe.exists() else "sloctl", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0 and "generate" in proc.stdout


def test_chaos_discover_finds_the_extension(tmp_path: Path) -> None:
    chaos = ROOT / ".venv" / "bin" / "chaos"
    proc = subprocess.run(
        [str(chaos) if chaos.exists() else "chaos", "discover", "sloctl", "--no-system-info", "--no-install"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    discovery = json.loads((tmp_path / "discovery.json").read_text())
    names = {a["name"] for a in discovery["activities"]}
    assert {"pgbouncer_stop", "pgbouncer_start", "mongodb_fail_command"} <= names
