"""Reading ``sli.plugin: {id, options}`` (Sloth's SLI plugins, and the same hook in native specs):
the registered plugin (``sloctl.plugins``) turns the options into an error-ratio query."""

from __future__ import annotations

from sloctl.errors import Location
from sloctl.gofmt import go_float_f
from sloctl.model import RawSLI
from sloctl.plugins import GROUP, PluginError, installed
from sloctl.spec import build
from sloctl.spec.reader import Reader
from sloctl.spec.yamlsrc import YNode

PluginMeta = tuple[str, str, float, dict[str, str]]
"""What a plugin is told of its SLO: (service, SLO name, objective, the SLO's labels)."""


def read_sli_plugin(node: YNode, path: str, reader: Reader, meta: PluginMeta) -> RawSLI | None:
    f = reader.mapping(node, path, ["id", "options"], ["id"])
    plugin_id = reader.string(f.get("id"), f"{path}.id", non_empty=True)
    options = reader.go_string_map(f.get("options"), f"{path}.options")
    if not plugin_id:
        return None
    loc: Location = (f.get("id") or node).loc
    found = installed()
    if plugin_id not in found:
        known = ", ".join(sorted(found)) or "none"
        reader.error(
            loc,
            f"{path}.id",
            f"SLI plugin {plugin_id!r} has no sloctl port (ported: {known}). Port it as a Python "
            f"function registered in the {GROUP!r} entry point group (docs/plugins.md), or write its "
            "query as an events or raw SLI",
        )
        return None
    service, slo, objective, labels = meta
    try:
        query = found[plugin_id]()(
            options, labels, {"service": service, "slo": slo, "objective": go_float_f(objective)}
        )
    except PluginError as exc:
        reader.error(loc, f"{path}.options", f"{plugin_id}: {exc}")
        return None
    build.check_promql(reader, query, loc, f"{path} ({plugin_id})", windowed=True)
    return RawSLI(query)
