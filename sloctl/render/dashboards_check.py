"""Checks for generated Grafana dashboards: JSON-schema validation and a lint.

The schemas are grafana-foundation-sdk's (``../shared/schemas/grafana`` beside the repository,
or any directory passed in): the dashboard as a whole, each panel's ``options`` and
``fieldConfig.defaults.custom`` by panel type, and each Prometheus query target. The lint finds
what the schemas cannot: duplicate panel ids, overlapping ``gridPos``, undefined ``$variables``,
panels not on the data source variable, and missing or unknown units.

>>> [f.message for f in lint_dashboard({"title": "t", "templating": {"list": []}, "panels": []})]
['no data source variable']
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "Finding",
    "PanelQuery",
    "check_dashboard",
    "check_files",
    "default_schema_dir",
    "expand_macros",
    "iter_panels",
    "iter_queries",
    "lint_dashboard",
    "validate_dashboard",
]

JSON = Any  # parsed JSON: the check walks untyped documents on purpose

# Grafana's own template variables ($__rate_interval, ${__data.fields.x}, …) start with "__".
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z0-9_.]+)(?::[A-Za-z0-9_]+)?\}|([A-Za-z0-9_]+))")
_CUSTOM_UNIT = ("suffix:", "prefix:", "si:", "count:", "currency:", "time:", "bool_")


@dataclass(frozen=True)
class Finding:
    """One problem in one dashboard; ``panel`` is the panel id, or None for the dashboard."""

    dashboard: str
    panel: int | None
    kind: Literal["schema", "lint"]
    path: str
    message: str

    def __str__(self) -> str:
        where = f"panel {self.panel}" if self.panel is not None else "dashboard"
        return f"{self.dashboard}: {where}: {self.path}: {self.message} [{self.kind}]"


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: int
    title: str
    ref_id: str
    expr: str


def default_schema_dir(start: Path | None = None) -> Path:
    """``../shared/schemas/grafana`` relative to the repository root: the first directory at or
    above ``start`` (default: the working directory) holding a ``pyproject.toml``."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "pyproject.toml").is_file():
            return d.parent / "shared" / "schemas" / "grafana"
    raise FileNotFoundError(f"no pyproject.toml at or above {here}; pass the schema directory")


def iter_panels(board: Mapping[str, JSON]) -> Iterator[Mapping[str, JSON]]:
    """Every panel, rows included, with the panels of collapsed rows after their row."""
    for panel in board.get("panels") or []:
        yield panel
        yield from panel.get("panels") or []


def iter_queries(board: Mapping[str, JSON]) -> Iterator[PanelQuery]:
    title = str(board.get("title", ""))
    for panel in iter_panels(board):
        for target in panel.get("targets") or []:
            if "expr" in target:
                yield PanelQuery(
                    title,
                    int(panel.get("id", 0)),
                    str(panel.get("title", "")),
                    str(target.get("refId", "")),
                    str(target["expr"]),
                )


def expand_macros(expr: str, variables: Mapping[str, str] | None = None) -> str:
    """``expr`` with Grafana's macros and the given variables replaced, ready for a PromQL parser.

    >>> expand_macros('rate(x{t=~"$target"}[$__rate_interval])', {"target": ".*"})
    'rate(x{t=~".*"}[5m])'
    """
    values = {
        "__rate_interval": "5m",
        "__interval": "1m",
        "__range": "1h",
        "__range_s": "3600",
        "__interval_ms": "60000",
        "__range_ms": "3600000",
    }
    values.update(variables or {})

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return values.get(name, m.group(0))

    return _VARIABLE.sub(sub, expr)


def check_files(files: Mapping[str, str], *, schema_dir: Path | None = None) -> list[Finding]:
    """Schema and lint findings for rendered dashboards (``{file name: JSON text}``)."""
    findings: list[Finding] = []
    for name, text in sorted(files.items()):
        if not name.endswith(".json"):
            continue
        findings.extend(check_dashboard(json.loads(text), schema_dir=schema_dir, name=name))
    return findings


def check_dashboard(
    board: Mapping[str, JSON], *, schema_dir: Path | None = None, name: str = ""
) -> list[Finding]:
    """Schema findings, then lint findings, for one parsed dashboard."""
    return validate_dashboard(board, schema_dir=schema_dir, name=name) + lint_dashboard(
        board, name=name, schema_dir=schema_dir
    )


# --------------------------------------------------------------------------------------------
# schemas


@cache
def _validator(schema_dir: Path, file: str, definition: str | None) -> Any:
    import jsonschema  # a dev/check dependency, not needed to render

    schema = json.loads((schema_dir / f"{file}.jsonschema.json").read_text())
    if definition is not None:
        if definition not in schema.get("definitions", {}):
            return None
        schema = {
            "$schema": schema["$schema"],
            "definitions": schema["definitions"],
            "$ref": f"#/definitions/{definition}",
        }
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _errors(validator: Any, doc: JSON, dashboard: str, panel: int | None, prefix: str) -> list[Finding]:
    import jsonschema

    out = []
    for e in validator.iter_errors(doc):
        e = jsonschema.exceptions.best_match([e])  # the most specific error inside oneOf/anyOf
        path = "/".join(str(p) for p in (prefix, *e.absolute_path) if p != "")
        out.append(Finding(dashboard, panel, "schema", path or "/", e.message[:300]))
    return out


def validate_dashboard(
    board: Mapping[str, JSON], *, schema_dir: Path | None = None, name: str = ""
) -> list[Finding]:
    """Findings of the Grafana JSON schemas on ``board``, its panels and their queries."""
    d = (schema_dir or default_schema_dir()).resolve()
    name = name or str(board.get("title", ""))
    findings = _errors(_validator(d, "dashboard", None), board, name, None, "")
    query = _validator(d, "prometheus", None)
    for panel in iter_panels(board):
        ptype = str(panel.get("type", ""))
        pid = panel.get("id")
        if ptype == "row":
            continue
        ptype = ptype.replace("-", "")  # state-timeline is statetimeline.jsonschema.json
        if not (d / f"{ptype}.jsonschema.json").is_file():
            findings.append(Finding(name, pid, "schema", "type", f"no schema for panel type {ptype!r}"))
            continue
        options = _validator(d, ptype, "Options")
        if options is not None:
            findings += _errors(options, panel.get("options", {}), name, pid, "options")
        custom = _validator(d, ptype, "FieldConfig")
        field_custom = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("custom")
        if custom is not None and field_custom is not None:
            findings += _errors(custom, field_custom, name, pid, "fieldConfig/defaults/custom")
        for i, target in enumerate(panel.get("targets") or []):
            if (target.get("datasource") or panel.get("datasource") or {}).get("type") == "prometheus":
                findings += _errors(query, target, name, pid, f"targets/{i}")
    return findings


# --------------------------------------------------------------------------------------------
# lint


@cache
def _known_units(schema_dir: Path | None) -> frozenset[str]:
    if schema_dir is None or not (schema_dir / "units.jsonschema.json").is_file():
        return frozenset()
    schema = json.loads((schema_dir / "units.jsonschema.json").read_text())
    return frozenset(str(v["const"]) for v in schema.get("definitions", {}).values() if "const" in v)


def _strings(node: JSON) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def lint_dashboard(
    board: Mapping[str, JSON], *, name: str = "", schema_dir: Path | None = None
) -> list[Finding]:
    """Unique panel ids, no overlapping ``gridPos``, every ``$variable`` defined, every panel and
    query on the data source variable, and a (known) unit on every panel."""
    name = name or str(board.get("title", ""))
    found: list[Finding] = []

    def add(panel: int | None, path: str, message: str) -> None:
        found.append(Finding(name, panel, "lint", path, message))

    variables = [v for v in (board.get("templating") or {}).get("list") or []]
    defined = {str(v.get("name")) for v in variables}
    ds_vars = {str(v.get("name")) for v in variables if v.get("type") == "datasource"}
    if not ds_vars:
        add(None, "templating", "no data source variable")
    try:
        units_dir = schema_dir or default_schema_dir()
    except FileNotFoundError:
        units_dir = None
    known_units = _known_units(units_dir)

    for text in _strings(variables):
        for m in _VARIABLE.finditer(text):
            var = m.group(1) or m.group(2)
            if not var.startswith("__") and var.split(".")[0] not in defined:
                add(None, "templating", f"${var} is used but not defined")

    seen: dict[int, str] = {}
    boxes: list[tuple[int, int, int, int, int]] = []
    for panel in iter_panels(board):
        pid = panel.get("id")
        if not isinstance(pid, int):
            add(None, "id", f"panel {panel.get('title')!r} has no integer id")
            continue
        if pid in seen:
            add(pid, "id", f"id {pid} is also used by {seen[pid]!r}")
        seen[pid] = str(panel.get("title", ""))
        _lint_place(panel, pid, boxes, add)
        for text in _strings({k: v for k, v in panel.items() if k != "panels"}):
            for m in _VARIABLE.finditer(text):
                var = m.group(1) or m.group(2)
                if not var.startswith("__") and var not in defined:
                    add(pid, "", f"${var} is used but not defined")
        if panel.get("type") != "row":
            _lint_queries_and_units(panel, pid, ds_vars, known_units, add)
    return found


_Add = Callable[[int | None, str, str], None]


def _lint_place(
    panel: Mapping[str, JSON], pid: int, boxes: list[tuple[int, int, int, int, int]], add: _Add
) -> None:
    """The panel fits the 24-column grid and overlaps none placed before it."""
    pos = panel.get("gridPos") or {}
    if not all(isinstance(pos.get(k), int) for k in ("x", "y", "w", "h")):
        add(pid, "gridPos", "missing or incomplete gridPos")
        return
    x, y, w, h = pos["x"], pos["y"], pos["w"], pos["h"]
    if x < 0 or w <= 0 or h <= 0 or x + w > 24:
        add(pid, "gridPos", f"{pos} does not fit the 24-column grid")
    for ox, oy, ow, oh, other in boxes:
        if x < ox + ow and ox < x + w and y < oy + oh and oy < y + h:
            add(pid, "gridPos", f"overlaps panel {other}")
    boxes.append((x, y, w, h, pid))


def _lint_queries_and_units(
    panel: Mapping[str, JSON], pid: int, ds_vars: set[str], known_units: frozenset[str], add: _Add
) -> None:
    """Panel and queries on a data source variable, at least one query, a known unit."""
    ds = panel.get("datasource") or {}
    if not _on_variable(ds, ds_vars):
        add(pid, "datasource", f"panel data source {ds!r} is not a data source variable")
    for i, target in enumerate(panel.get("targets") or []):
        tds = target.get("datasource")
        if tds is not None and not _on_variable(tds, ds_vars):
            add(pid, f"targets/{i}/datasource", f"query data source {tds!r} is not a data source variable")
    if not panel.get("targets"):
        add(pid, "targets", "panel has no queries")
    unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
    if not unit:
        add(pid, "fieldConfig/defaults/unit", "no unit")
    elif known_units and unit not in known_units and not str(unit).startswith(_CUSTOM_UNIT):
        add(pid, "fieldConfig/defaults/unit", f"unknown unit {unit!r}")
    for o, override in enumerate((panel.get("fieldConfig") or {}).get("overrides") or []):
        for prop in override.get("properties") or []:
            if prop.get("id") == "unit" and known_units:
                u = str(prop.get("value", ""))
                if u not in known_units and not u.startswith(_CUSTOM_UNIT):
                    add(pid, f"fieldConfig/overrides/{o}", f"unknown unit {u!r}")


def _on_variable(ds: JSON, ds_vars: set[str]) -> bool:
    if not isinstance(ds, dict):
        return False
    uid = str(ds.get("uid", ""))
    m = re.fullmatch(r"\$\{?([A-Za-z0-9_]+)\}?", uid)
    return m is not None and m.group(1) in ds_vars
