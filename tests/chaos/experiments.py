"""Hand-written experiments for the tests: the shipped slow-query storm with values of its own
that the CLI and the library must refuse before anything runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.paths import ROOT

__all__ = ["EXPERIMENT", "WRONG_KINDS", "experiment_with_own_block", "sloctl_action"]

EXPERIMENT = ROOT / "chaos" / "slow-query-storm.json"


def experiment_with_own_block(
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


#: (the key path, the value of another kind given there, what the refusal says): each was a
#: TypeError or AttributeError traceback, in sloctl's checks or Chaos Toolkit's validation (the
#: budget's in a real run, once its Prometheus is read: a dry run passed it; an alert name that
#: is a list, in the dry run's report), but the last three, refused already and kept so: a null,
#: which the config files' walk reads as a key left unset, and a field of an http provider
WRONG_KINDS: list[tuple[tuple[str | int, ...], object, str]] = [
    (("method",), 5, "method: a number, not a list"),
    (("method",), "inject", "method: a string, not a list"),
    (("method",), {"a": 1}, "method: an object, not a list"),
    (("method", 0), 5, "method[0]: a number, not an object"),
    (("method", 0, "provider"), 5, "method[0].provider: a number, not an object"),
    (("method", 0, "provider", "arguments"), [1], "method[0].provider.arguments: a list, not an object"),
    (("method", 0, "pauses"), 5, "method[0].pauses: a number, not an object"),
    (("method", 0, "name"), 5, "method[0].name: a number, not a string"),
    (("method", 0, "provider", "module"), 5, "method[0].provider.module: a number, not a string"),
    (("controls", 0, "provider", "module"), 5, "controls[0].provider.module: a number, not a string"),
    (
        ("method", 0, "provider"),
        {"type": "process", "path": 5},
        "method[0].provider.path: a number, not a string",
    ),
    (("rollbacks",), 5, "rollbacks: a number, not a list"),
    (("configuration",), 5, "configuration: a number, not an object"),
    (("secrets",), {"api": 5}, "secrets.api: a number, not an object"),
    (("steady-state-hypothesis",), [], "steady-state-hypothesis: a list, not an object"),
    (("steady-state-hypothesis", "probes"), 5, "steady-state-hypothesis.probes: a number, not a list"),
    (("extensions",), [{"name": 5}], "extensions[0].name: a number, not a string"),
    (("controls",), [5], "controls[0]: a number, not an object"),
    (("tags",), 5, "tags: a number, not a list"),
    (("extensions", 0, "expected_alerts"), 5, "extensions[0].expected_alerts: a number, not a list"),
    (("extensions", 0, "budget"), 5, "extensions[0].budget: a number, not an object"),
    (("extensions", 0, "expected_alerts", 0), [], "extensions[0].expected_alerts[0]: a list, not a string"),
    (("method",), None, "method: null, not a list"),
    (("secrets",), {"api": None}, "secrets.api: null, not an object"),
    (("method", 0, "provider"), {"type": "http", "url": 5}, "method[0].provider.url: a number, not a string"),
]
