"""The rule flavours for engines other than Prometheus: Mimir/Cortex ruler namespaces (checked
against the ruler's documented file format; Mimir itself is AGPL and not run here) and vmalert's
chained groups (checked by vmalert and by the property that no rule reads its own group)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sloctl.cli.main import main
from sloctl.render.flavours import VMALERT_MIN_SPACING, vmalert_groups
from sloctl.shelf import find
from tests.paths import ROOT

SLOS = ROOT / "slos"
PROMTOOL = shutil.which("promtool")
VMALERT = find("vmalert")

_DURATION = r"^([0-9]+(ms|s|m|h|d|w|y))+$"
_LABELS = {"type": "object", "propertyNames": {"pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
           "additionalProperties": {"type": "string"}}  # fmt: skip
_RULE_COMMON = {"expr": {"type": "string", "minLength": 1}, "labels": _LABELS}


def _closed(required: list[str], properties: dict[str, object]) -> dict[str, object]:
    """A JSON object with these ``properties``, the ``required`` ones present, and no other key."""
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


# The ruler namespace file `mimirtool rules load|sync|lint` reads (the cortextool format before
# it): an optional `namespace` (default: the file name) and Prometheus rule groups, each optionally
# federated with `source_tenants`. mimirtool decodes it with unknown fields refused, then
# validates every group with Prometheus' own rule-file checks (promtool's, run below).
MIMIR_RULER_NAMESPACE = _closed(
    ["groups"],
    {
        "namespace": {"type": "string", "minLength": 1},
        "groups": {
            "type": "array",
            "items": _closed(
                ["name", "rules"],
                {
                    "name": {"type": "string", "minLength": 1},
                    "interval": {"type": "string", "pattern": _DURATION},
                    "query_offset": {"type": "string", "pattern": _DURATION},
                    "limit": {"type": "integer", "minimum": 0},
                    "labels": _LABELS,
                    "source_tenants": {"type": "array", "items": {"type": "string"}},
                    "rules": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "oneOf": [
                                _closed(
                                    ["record", "expr"],
                                    {
                                        "record": {"type": "string", "pattern": "^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
                                        **_RULE_COMMON,
                                    },
                                ),
                                _closed(
                                    ["alert", "expr"],
                                    {
                                        "alert": {"type": "string", "minLength": 1},
                                        "for": {"type": "string", "pattern": _DURATION},
                                        "keep_firing_for": {"type": "string", "pattern": _DURATION},
                                        "annotations": {
                                            "type": "object",
                                            "additionalProperties": {"type": "string"},
                                        },
                                        **_RULE_COMMON,
                                    },
                                ),
                            ]
                        },
                    },
                },
            ),
        },
    },
)


def _generate(tmp_path: Path, *flags: str) -> list[Path]:
    args = ["generate", str(SLOS), "-o", str(tmp_path), "--no-dashboards", "--no-tests", "--no-alertmanager"]
    assert main([*args, *flags]) == 0
    files = sorted((tmp_path / "rules").glob("*.yml"))
    assert len(files) >= 3
    return files


def test_mimir_flavour_files_are_valid_ruler_namespaces_with_unique_groups(tmp_path: Path) -> None:
    for path in _generate(tmp_path, "--flavour", "mimir"):
        doc = yaml.safe_load(path.read_text())
        jsonschema.validate(doc, MIMIR_RULER_NAMESPACE)
        names = [g["name"] for g in doc["groups"]]
        assert len(names) == len(set(names)), path  # the ruler refuses a repeated group name
        assert doc["namespace"] == f"sloctl-{path.name.removesuffix('.mimir.yml')}"


@pytest.mark.promtool
@pytest.mark.skipif(PROMTOOL is None, reason="no promtool (apt-get install prometheus)")
@pytest.mark.parametrize("flavour", ["operator", "mimir", "vmalert"])
def test_sloctl_test_checks_the_rule_groups_each_flavours_files_carry(
    tmp_path: Path, flavour: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sloctl test rules/`` after ``generate --flavour X``: promtool reads only Prometheus' own
    format, so each file's groups are checked as it carries them (a PrometheusRule's spec, a
    ruler namespace's groups, vmalert's groups without eval_offset and params). Before, every
    flavour's files failed the lint ("field spec not found", "field namespace not found")."""
    files = _generate(tmp_path, "--flavour", flavour)
    assert main(["test", str(tmp_path / "rules")]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert f"promtool check rules --lint-fatal: {len(files)}/{len(files)} file(s) passed" in out
    # A broken expression inside one of them fails, reported under that file's own name.
    broken = files[0]
    broken.write_text(broken.read_text().replace("sum(rate(", "sum(rate_of(", 1))
    assert main(["test", str(tmp_path / "rules")]) == 1
    out = capsys.readouterr().out
    assert f"FAIL check {broken} " in out and f"the Prometheus rule groups that {broken.name} carries" in out
    assert 'unknown function with name "rate_of"' in out, out


def test_the_ruler_schema_refuses_what_mimir_would_refuse(tmp_path: Path) -> None:
    (path, *_rest) = _generate(tmp_path, "--flavour", "mimir")
    doc = yaml.safe_load(path.read_text())
    # vmalert's group fields are unknown to the ruler …
    with pytest.raises(jsonschema.ValidationError, match="eval_offset"):
        jsonschema.validate(
            {**doc, "groups": [{**doc["groups"][0], "eval_offset": "15s"}]}, MIMIR_RULER_NAMESPACE
        )
    # … and so is a rule with both a record and an alert name.
    bad_rule = {**doc["groups"][0]["rules"][0], "alert": "Both"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**doc, "groups": [{**doc["groups"][0], "rules": [bad_rule]}]}, MIMIR_RULER_NAMESPACE
        )


# -- vmalert ---------------------------------------------------------------------------------------


def _reads(expr: str, name: str) -> bool:
    return re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])", expr) is not None


def test_vmalert_flavour_splits_each_slo_into_staggered_levels_that_never_read_their_own_group(
    tmp_path: Path,
) -> None:
    for path in _generate(tmp_path, "--flavour", "vmalert"):
        assert path.name.endswith(".vmalert.yml")
        groups = yaml.safe_load(path.read_text())["groups"]
        plain = yaml.safe_load((ROOT / "rules" / path.name.replace(".vmalert", "")).read_text())["groups"]
        by_slo: dict[str, list[dict[str, Any]]] = {}
        for g in groups:
            by_slo.setdefault(g["name"].rsplit("-level", 1)[0], []).append(g)
        assert sorted(by_slo) == sorted(g["name"] for g in plain)
        for original in plain:
            levels = by_slo[original["name"]]
            # Same rules, each once, in the same order within a level.
            flat = [r for g in levels for r in g["rules"]]
            assert sorted(map(str, flat)) == sorted(map(str, original["rules"]))
            # 1m spread evenly over the SLO's levels (four for a plain SLO, five for a composite)
            assert len(levels) >= 4
            spacing = 60 // len(levels)
            assert [g["eval_offset"] for g in levels] == [f"{k * spacing}s" for k in range(len(levels))]
            assert all(g["interval"] == "1m" for g in levels)
            assert "params" not in levels[0] and all(
                g["params"] == {"latency_offset": ["1ms"]} for g in levels[1:]
            )
            # Every rule reads only recordings of earlier levels: none of its own group's.
            records = {str(r["record"]) for r in original["rules"] if "record" in r}
            earlier: set[str] = set()
            for g in levels:
                for r in g["rules"]:
                    read = {n for n in records if n != r.get("record") and _reads(str(r["expr"]), n)}
                    assert read <= earlier, (g["name"], r.get("record") or r.get("alert"), read - earlier)
                earlier |= {str(r["record"]) for r in g["rules"] if "record" in r}
            # Alerts never in the first level: each reads recordings of earlier ones (checked above);
            # the burn alerts after the windows, a policy alert after the period's budget.
            alerts = [k for k, g in enumerate(levels) if any("alert" in r for r in g["rules"])]
            assert alerts and alerts[0] > 0


@pytest.mark.skipif(VMALERT is None, reason="VictoriaMetrics is not on the tool shelf")
def test_vmalert_loads_the_vmalert_flavour(tmp_path: Path) -> None:
    files = _generate(tmp_path, "--flavour", "vmalert")
    assert VMALERT is not None
    done = subprocess.run(
        [str(VMALERT), "-dryRun", *(f"-rule={f}" for f in files)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_vmalert_flavour_refuses_an_interval_too_short_for_its_levels_and_says_which_to_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["generate", str(SLOS), "-o", str(tmp_path), "--flavour", "vmalert", "--interval", "20s"]
    assert main(args) == 2  # a flag to change: a usage error
    err = capsys.readouterr().err
    # the composite's chain of five levels is the longest: 5 × 10 s
    assert "--flavour vmalert" in err and "every 20s" in err and "at least 50s" in err
    assert "Traceback" not in err
    assert not (tmp_path / "rules").exists()  # nothing half-written
    groups: list[dict[str, object]] = [
        {
            "name": "g",
            "interval": "40s",
            "rules": [{"record": "a:b", "expr": "x"}, {"alert": "A", "expr": "a:b"}],
        }
    ]
    assert [g["eval_offset"] for g in vmalert_groups(groups)] == ["0s", "20s"]
    with pytest.raises(ValueError, match="at least 20s"):
        vmalert_groups([{**groups[0], "interval": "10s"}], min_spacing=VMALERT_MIN_SPACING)
