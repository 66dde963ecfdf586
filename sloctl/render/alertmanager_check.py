"""Checks for the Alertmanager fragment with ``amtool``: Debian's 0.25 or the tool shelf's 0.3x.

Alertmanager 0.27 and later parse matchers with a UTF-8 parser and fall back to the classic one
for input only the classic parser accepts, with a warning (docs/alertmanager.md). A config that
passes only by that fallback is not ready for ``--enable-feature=utf8-strict-mode``, so
``check_config`` counts those warnings as complaints; ``features`` passes
``--enable-feature=…`` to a 0.3x amtool (0.25 has no such flag).

>>> import shutil
>>> from sloctl.render.alertmanager import alertmanager_fragment, standalone_config
>>> shutil.which("amtool") is None or check_config(standalone_config(alertmanager_fragment([]))) == []
True
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from sloctl.render.alertmanager import quote_matcher_value, standalone_config

__all__ = ["check_config", "check_fragment", "route_receivers"]


def _flags(features: Sequence[str]) -> list[str]:
    return [f"--enable-feature={','.join(features)}"] if features else []


def _parser_warnings(output: str) -> list[str]:
    """Warnings of a 0.3x amtool about the input (not the notice that a feature is on)."""
    return [line for line in output.splitlines() if "level=WARN" in line and "featurecontrol.go" not in line]


def check_config(config_text: str, *, amtool: str = "amtool", features: Sequence[str] = ()) -> list[str]:
    """``amtool check-config`` on a complete configuration; returns its complaints (empty if
    valid), parser warnings included."""
    with tempfile.TemporaryDirectory(prefix="sloctl-am-") as tmp:
        path = Path(tmp) / "alertmanager.yml"
        path.write_text(config_text)
        done = subprocess.run(
            [amtool, *_flags(features), "check-config", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    output = done.stdout + done.stderr
    if done.returncode == 0:
        return _parser_warnings(output)
    return [line for line in output.splitlines() if line.strip()]


def check_fragment(fragment_text: str, *, amtool: str = "amtool") -> list[str]:
    """``amtool check-config`` on the fragment ``sloctl generate`` wrote
    (``alertmanager/sloctl.yml``), inside the smallest complete configuration
    (:func:`~sloctl.render.alertmanager.standalone_config`: a fragment alone is refused, its
    route holds matchers a root route may not); a 0.3x amtool in UTF-8 strict mode, so that a
    matcher only the classic parser reads is a complaint. Returns the complaints, empty if valid."""
    try:
        fragment = yaml.safe_load(fragment_text)
    except yaml.YAMLError as exc:
        return [f"not YAML: {exc}".replace("\n", " ")]
    if not isinstance(fragment, Mapping) or not {"route", "receivers", "inhibit_rules"} <= fragment.keys():
        return ["not an Alertmanager fragment of sloctl's (route, receivers, inhibit_rules)"]
    strict = () if _classic_only(amtool) else ("utf8-strict-mode",)
    said = check_config(standalone_config(fragment), amtool=amtool, features=strict)
    # the lines name the temporary complete configuration, which the user never sees
    return [re.sub(r"^Checking '[^']*'\s*", "", line) for line in said]


def _classic_only(amtool: str) -> bool:
    """Whether ``amtool`` predates the UTF-8 matchers (0.27) and their ``--enable-feature``."""
    done = subprocess.run([amtool, "--version"], capture_output=True, text=True, timeout=30, check=False)
    found = re.search(r"version (\d+)\.(\d+)", done.stdout + done.stderr)
    return found is None or (int(found.group(1)), int(found.group(2))) < (0, 27)


def route_receivers(
    config_text: str, labels: Mapping[str, str], *, amtool: str = "amtool", features: Sequence[str] = ()
) -> list[str]:
    """The receivers an alert with ``labels`` reaches (``amtool config routes test``)."""
    with tempfile.TemporaryDirectory(prefix="sloctl-am-") as tmp:
        path = Path(tmp) / "alertmanager.yml"
        path.write_text(config_text)
        done = subprocess.run(
            [
                amtool,
                *_flags(features),
                "config",
                "routes",
                "test",
                f"--config.file={path}",
                *(f"{k}={quote_matcher_value(v)}" for k, v in labels.items()),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    # A 0.3x amtool logs its feature notices to stdout too, as ``time=… level=… msg=…`` lines.
    return [word for line in done.stdout.splitlines() if "level=" not in line for word in line.split()]
