"""Checks for the Alertmanager fragment with Debian's ``amtool`` (prometheus-alertmanager).

>>> import shutil
>>> from sloctl.render.alertmanager import alertmanager_fragment, standalone_config
>>> shutil.which("amtool") is None or check_config(standalone_config(alertmanager_fragment([]))) == []
True
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["check_config", "route_receivers"]


def check_config(config_text: str, *, amtool: str = "amtool") -> list[str]:
    """``amtool check-config`` on a complete configuration; returns its complaints (empty if valid)."""
    with tempfile.TemporaryDirectory(prefix="sloctl-am-") as tmp:
        path = Path(tmp) / "alertmanager.yml"
        path.write_text(config_text)
        done = subprocess.run(
            [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60, check=False
        )
    if done.returncode == 0:
        return []
    return [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


def route_receivers(config_text: str, labels: Mapping[str, str], *, amtool: str = "amtool") -> list[str]:
    """The receivers an alert with ``labels`` reaches (``amtool config routes test``)."""
    with tempfile.TemporaryDirectory(prefix="sloctl-am-") as tmp:
        path = Path(tmp) / "alertmanager.yml"
        path.write_text(config_text)
        done = subprocess.run(
            [
                amtool,
                "config",
                "routes",
                "test",
                f"--config.file={path}",
                *(f"{k}={v}" for k, v in labels.items()),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    return done.stdout.split()
