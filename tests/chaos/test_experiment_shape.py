"""A game-day experiment's shape is declared once (``sloctl.chaos.experiments.EXPERIMENT``, a
:class:`~sloctl.spec.shape.Shape`): the check that refuses a key of another kind and its JSON
Schema come from it, and give the same verdict on the shipped experiments, on keys Chaos
Toolkit leaves open, and on every key of another kind the CLI refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sloctl.chaos.experiments import EXPERIMENT, shape_problems
from sloctl.spec.shape import JSON_WORDS
from tests.chaos.experiments import EXPERIMENT as STORM
from tests.chaos.experiments import WRONG_KINDS
from tests.paths import ROOT

#: the experiment's JSON Schema, as the check words and reads JSON (a null is a value)
VALIDATOR = jsonschema.Draft202012Validator(EXPERIMENT.json_schema(JSON_WORDS))


def _verdicts(experiment: dict[str, Any]) -> tuple[bool, bool]:
    return not shape_problems(experiment), VALIDATOR.is_valid(experiment)


@pytest.mark.parametrize("path", sorted((ROOT / "chaos").glob("*.json")), ids=lambda p: p.name)
def test_the_shipped_experiments_pass_the_check_and_its_json_schema(path: Path) -> None:
    assert _verdicts(json.loads(path.read_text())) == (True, True)


def _storm(change: dict[str, Any]) -> dict[str, Any]:
    return {**json.loads(STORM.read_text()), **change}


#: keys Chaos Toolkit lets an experiment hold beside its own: each must pass both
OPEN_KEYS = [
    {"x-owner": "sre"},
    {"extensions": [{"name": "chaosk8s", "anything": [1, {"a": None}]}]},
    {"method": [{"type": "action", "name": "a", "provider": {"type": "python", "module": "m", "func": "f"}}]},
    {
        "method": [
            {"type": "action", "name": "p", "provider": {"type": "process", "path": "ls", "arguments": "-l"}}
        ]
    },
    {
        "method": [
            {
                "type": "probe",
                "name": "h",
                "provider": {"type": "http", "url": "http://127.0.0.1:9", "arguments": [1]},
            }
        ]
    },
    {"tags": [1, "a", None]},
]


@pytest.mark.parametrize("change", OPEN_KEYS, ids=[json.dumps(c)[:60] for c in OPEN_KEYS])
def test_keys_chaos_toolkit_leaves_open_pass_both(change: dict[str, Any]) -> None:
    assert _verdicts(_storm(change)) == (True, True)


@pytest.mark.parametrize(("keys", "value", "said"), WRONG_KINDS, ids=[w[2] for w in WRONG_KINDS])
def test_a_key_of_another_kind_fails_both_and_the_check_names_its_path(
    keys: tuple[str | int, ...], value: object, said: str
) -> None:
    experiment = _storm({})
    parent: Any = experiment
    for key in keys[:-1]:
        parent = parent[key]
    parent[keys[-1]] = value
    assert shape_problems(experiment) == [said]
    assert not VALIDATOR.is_valid(experiment)
