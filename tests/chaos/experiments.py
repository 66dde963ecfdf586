"""Hand-written experiments for the tests: the shipped slow-query storm with values of its own
that the CLI and the library must refuse before anything runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.paths import ROOT

__all__ = ["EXPERIMENT", "own_configuration", "sloctl_action"]

EXPERIMENT = ROOT / "chaos" / "slow-query-storm.json"


def own_configuration(
    tmp_path: Path, configuration: dict[str, Any], method: list[dict[str, Any]], name: str = "own"
) -> Path:
    """The slow-query-storm experiment with ``configuration`` added to its own block and
    ``method`` before its own, written to ``tmp_path/<name>.json``."""
    experiment = json.loads(EXPERIMENT.read_text())
    experiment["configuration"].update(configuration)
    experiment["method"] = [*method, *experiment["method"]]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(experiment))
    return path


def sloctl_action(name: str, func: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """An action of ``sloctl.chaos.actions`` named ``name``."""
    provider = {"type": "python", "module": "sloctl.chaos.actions", "func": func, "arguments": arguments}
    return {"type": "action", "name": name, "provider": provider}
