"""The project file, ``sloctl.yaml``: deployment settings without Python.

Every setting is declared once, in ``SETTINGS`` (its key, type, flag and help); the reader, the
JSON Schema (``sloctl schema --kind Project``, docs/sloctl-project.schema.json) and the flags of
``sloctl generate`` and ``sloctl validate`` come from that table. A flag given on the command line
wins over the file. The file is found beside the SLOs (``sloctl.yaml`` in the first directory
given) or named with ``--config``.

>>> [s.key for s in SETTINGS][:3]
['include', 'exclude', 'output']
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sloctl import naming
from sloctl.contract import ProbeKind
from sloctl.errors import Location, SpecError, unreadable
from sloctl.render.alertmanager import routing_key_file_problem
from sloctl.render.flavours import FLAVOURS
from sloctl.spec.build import LABEL_NAME, url_problem
from sloctl.spec.promcheck import label_problem
from sloctl.spec.reader import Reader
from sloctl.spec.yamlsrc import YNode, parse_documents

__all__ = [
    "FILE_NAME",
    "SETTINGS",
    "Project",
    "Setting",
    "find_project",
    "load_project",
    "problem",
    "schema_text",
]

FILE_NAME = "sloctl.yaml"
KIND = "Project"

Kind = Literal["string", "list", "map", "table"]
"""``table``: a mapping of names to mappings of the setting's ``columns`` (per-team receivers),
in the project file only (no flag)."""
Check = Literal["", "url", "labels", "components", "absolute", "label_name"]
"""What a setting's value must be beyond its kind: an http(s) URL, valid rule labels, known
component dashboards, an absolute path (of a file Alertmanager reads), a label name an alert
can be routed on. The same check runs on the file's value and on its flag's."""


@dataclass(frozen=True)
class Setting:
    key: str
    """Dotted path in the file (``grafana.url``); the flag is ``--`` and the path in kebab case."""
    kind: Kind
    help: str
    choices: tuple[str, ...] = ()
    existing_flag: str = ""
    """A flag the command already had for this setting (``--output``); else one is derived."""
    check: Check = ""
    columns: tuple[Setting, ...] = ()
    """The keys of each entry of a ``table`` (their ``key`` is the leaf alone)."""

    @property
    def flag(self) -> str:
        if self.existing_flag:
            return self.existing_flag
        return "--" + "-".join(re.sub(r"(?<!^)(?=[A-Z])", "-", part).lower() for part in self.key.split("."))

    @property
    def dest(self) -> str:
        return "project_" + self.key.replace(".", "_")


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "include",
        "list",
        "globs of SLO files to read under the SLO directories (default: every *.yaml, *.yml)",
    ),
    Setting("exclude", "list", "globs of files to skip under the SLO directories (e.g. 'ci/**')"),
    Setting(
        "output",
        "string",
        "output root of sloctl generate (rules/, dashboards/, alertmanager/)",
        (),
        "--output",
    ),
    Setting("flavour", "string", "rule file format", tuple(sorted(FLAVOURS)), "--flavour"),
    Setting("extraLabels", "map", "labels added to every generated rule", (), "--extra-label", "labels"),
    Setting(
        "grafana.url", "string", "Grafana base URL, for the dashboard links of notifications", check="url"
    ),
    Setting("grafana.datasourceUid", "string", "uid of the Prometheus data source the dashboards select"),
    Setting("grafana.folder", "string", "dashboard folder of the provisioning file"),
    Setting("grafana.path", "string", "where the dashboard JSON files are mounted in the Grafana server"),
    Setting(
        "dashboards.components",
        "list",
        "collector component dashboards to write (postgres, pgbouncer, redis, mongodb, http)",
        check="components",
    ),
    Setting("alertmanager.pageReceiver", "string", "Alertmanager receiver name for pages"),
    Setting("alertmanager.ticketReceiver", "string", "Alertmanager receiver name for tickets"),
    Setting(
        "alertmanager.pagerdutyRoutingKeyFile",
        "string",
        "file holding the PagerDuty routing key (an absolute path on the Alertmanager host)",
        check="absolute",
    ),
    Setting("alertmanager.ticketWebhookUrl", "string", "webhook URL tickets are sent to", check="url"),
    Setting(
        "alertmanager.teamLabel",
        "string",
        "alert label naming the team that owns an SLO: its alerts go to the team's receivers "
        "(alertmanager.teams, in the project file only) (default: team)",
        check="label_name",
    ),
    Setting(
        "alertmanager.teams",
        "table",
        "receivers of each team, by the team label's value: its own PagerDuty service and ticket "
        "webhook, before the default receivers (docs/alertmanager.md)",
        columns=(
            Setting(
                "pagerdutyRoutingKeyFile",
                "string",
                "file holding the team's PagerDuty routing key (absolute; default: pages to the "
                "default receiver)",
                check="absolute",
            ),
            Setting(
                "ticketWebhookUrl",
                "string",
                "webhook URL of the team's tickets (default: tickets to the default receiver)",
                check="url",
            ),
        ),
    ),
)


@dataclass(frozen=True)
class Project:
    """Settings from a project file (and flags), by setting key; ``source`` names the file."""

    values: Mapping[str, object] = field(default_factory=dict)
    source: str = ""

    def get(self, key: str) -> object:
        return self.values.get(key)

    def string(self, key: str, default: str) -> str:
        value = self.values.get(key)
        return value if isinstance(value, str) and value else default


def problem(setting: Setting, value: object) -> str | None:
    """What is wrong with ``value`` for ``setting`` (from the file or its flag), or None."""
    if setting.check == "url" and isinstance(value, str):
        return url_problem(value)
    if setting.check == "absolute" and isinstance(value, str):
        return routing_key_file_problem(value)
    if setting.check == "label_name" and isinstance(value, str):
        if value == naming.LABEL_SEVERITY:
            return f"label {value!r} is sloctl's page or ticket: name the label of the team"
        return label_problem(value, "", templated=False)
    if setting.check == "labels" and isinstance(value, Mapping):
        for key, text in value.items():
            wrong = label_problem(str(key), str(text), templated=True)
            if wrong:
                return f"{key}: {wrong}"
    if setting.check == "components" and isinstance(value, list):
        known = [k.value for k in ProbeKind]  # one component dashboard per collector kind
        unknown = [v for v in value if v not in known]
        if unknown:
            return f"unknown component dashboard {unknown[0]!r}; known: {', '.join(known)}"
    return None


def _schema_of(s: Setting) -> dict[str, object]:
    if s.kind == "list":
        items: dict[str, object] = {"type": "string"}
        if s.check == "components":
            items["enum"] = [k.value for k in ProbeKind]
        return {"type": "array", "items": items, "description": s.help}
    if s.kind == "map":
        return {"type": "object", "additionalProperties": {"type": "string"}, "description": s.help}
    if s.kind == "table":
        entry = {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {c.key: _schema_of(c) for c in s.columns},
        }
        return {
            "type": "object",
            "propertyNames": {"minLength": 1},
            "additionalProperties": entry,
            "description": s.help,
        }
    out: dict[str, object] = {"type": "string", "description": s.help}
    if s.choices:
        out["enum"] = list(s.choices)
    if s.check == "url":
        out.update(format="uri", pattern="^https?://")
    if s.check == "absolute":
        out["pattern"] = "^/"
    if s.check == "label_name":
        out["pattern"] = LABEL_NAME.pattern
    return out


def schema() -> dict[str, object]:
    """The JSON Schema of ``sloctl.yaml``, from ``SETTINGS``."""
    tree: dict[str, object] = {}
    for s in SETTINGS:
        *parents, leaf = s.key.split(".")
        node = tree
        for p in parents:
            node = node.setdefault(p, {"type": "object", "additionalProperties": False, "properties": {}})  # type: ignore[assignment]
            node = node["properties"]  # type: ignore[assignment]
        node[leaf] = _schema_of(s)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "sloctl project file (sloctl.yaml)",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind"],
        "properties": {"apiVersion": {"const": naming.API_VERSION}, "kind": {"const": KIND}, **tree},
    }


def schema_text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


def _read(doc: YNode, reader: Reader) -> dict[str, object]:
    tops = sorted({s.key.split(".")[0] for s in SETTINGS})
    top = reader.mapping(doc, "", ["apiVersion", "kind", *tops], ["apiVersion", "kind"])
    api = reader.string(top.get("apiVersion"), "apiVersion")
    kind = reader.string(top.get("kind"), "kind")
    if (api, kind) != (naming.API_VERSION, KIND) and "apiVersion" in top and "kind" in top:
        reader.error(doc.loc, "kind", f"expected apiVersion {naming.API_VERSION} and kind {KIND}")
    values: dict[str, object] = {}
    groups: dict[str, dict[str, YNode]] = {}
    for group in {s.key.split(".")[0] for s in SETTINGS if "." in s.key}:
        leaves = [s.key.split(".", 1)[1] for s in SETTINGS if s.key.startswith(group + ".")]
        groups[group] = reader.mapping(top.get(group), group, leaves)
    for s in SETTINGS:
        node = groups[s.key.split(".")[0]].get(s.key.split(".", 1)[1]) if "." in s.key else top.get(s.key)
        if node is None:
            continue
        values[s.key] = (
            _read_table(node, s, reader) if s.kind == "table" else _read_value(node, s, s.key, reader)
        )
    return values


def _read_value(node: YNode, s: Setting, path: str, reader: Reader) -> object:
    value: object
    if s.kind == "list":
        value = [reader.string(n, path, non_empty=True) for n in reader.sequence(node, path)]
    elif s.kind == "map":
        value = reader.string_map(node, path)
    else:
        value = reader.string(node, path, non_empty=True)
        if s.choices and value not in s.choices:
            reader.error(node.loc, path, f"{value!r} is not one of {', '.join(s.choices)}")
    wrong = problem(s, value)
    if wrong:
        reader.error(node.loc, path, wrong)
    return value


def _read_table(node: YNode, s: Setting, reader: Reader) -> dict[str, dict[str, object]]:
    """A ``table`` setting: name → {column: value}, each entry with at least one column."""
    table: dict[str, dict[str, object]] = {}
    if not isinstance(node.value, dict):
        reader.error(node.loc, s.key, "expected a mapping of names to their settings")
        return table
    for name, entry in node.value.items():
        path = f"{s.key}.{name}"
        if not name:
            reader.error(node.key_locs.get(name, node.loc), path, "an empty name; name the entry")
            continue
        cells = reader.mapping(entry, path, [c.key for c in s.columns])
        if isinstance(entry.value, dict) and not entry.value:
            reader.error(entry.loc, path, f"empty; give {' or '.join(c.key for c in s.columns)}")
        table[name] = {
            c.key: _read_value(cells[c.key], c, f"{path}.{c.key}", reader)
            for c in s.columns
            if c.key in cells
        }
    return table


def load_project(path: Path) -> tuple[Project, list[SpecError]]:
    """Read ``path``; relative paths in it (output, include, exclude) stay relative to it."""
    name = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Project(), [unreadable(name, exc)]
    docs, errors = parse_documents(data, name)
    reader = Reader(name)
    if len(docs) != 1 and not errors:  # a file that is not YAML is said once, as that
        reader.error(Location(name, 1, 1), "", "a project file holds one YAML document")
    values = _read(docs[0], reader) if docs else {}
    return Project(values, name), [*errors, *reader.errors]


def find_project(paths: list[str], config: str | None) -> Path | None:
    """``--config``, else ``sloctl.yaml`` in the first directory among ``paths``."""
    if config:
        return Path(config)
    for p in paths:
        candidate = Path(p) / FILE_NAME
        if Path(p).is_dir() and candidate.is_file():
            return candidate
    return None
