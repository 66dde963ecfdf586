"""The package's promises: a light core import, a typed public API, the console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
    """Also: what the ``sloctl`` script imports before :func:`sloctl.cli.main.main` runs is the
    package's version and the entry module, nothing else of sloctl's: until main runs, a Ctrl-C
    is the interpreter's traceback (tests/cli/test_interrupt_at_start.py); the library's imports,
    0.16 s for ``sloctl.spec``, come inside it."""
    code = (
        "import sys\n"
        "from sloctl.cli.main import main\n"
        "print(sorted(m for m in sys.modules if m.startswith('sloctl')))\n"
        "rc = main(['validate', 'slos'])\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(rc, heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    lines = proc.stdout.strip().splitlines()
    assert (lines[0], lines[-1]) == ("['sloctl', 'sloctl.cli', 'sloctl.cli.main']", "0 []"), proc.stdout


def test_the_package_is_typed_and_exports_its_api() -> None:
    import sloctl
    from sloctl import LoadResult, load_paths, load_text
    from sloctl.spec import LoadResult as SpecLoadResult

    assert (ROOT / "sloctl" / "py.typed").exists()
    assert set(sloctl.__all__) >= {"load_paths", "load_text", "__version__"}
    # read from sloctl.spec when first asked for (the package's import stays light)
    assert LoadResult is SpecLoadResult and callable(load_paths) and callable(load_text)
    assert {"load_paths", "LoadResult"} <= set(dir(sloctl))
    with pytest.raises(AttributeError, match="no attribute 'load_everything'"):
        _ = sloctl.load_everything  # type: ignore[attr-defined]


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
