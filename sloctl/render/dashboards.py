"""Grafana dashboards compiled from the SLO model: an overview, one dashboard per service and one
per collector component (docs/dashboards.md).

This is the only module that imports ``grafana_foundation_sdk`` (the ``dashboards`` extra).
Output is classic dashboard JSON, byte-deterministic: sorted keys, panel ids numbered in order,
2-space indent and a trailing newline, uids from ``naming.dashboard_uid``.

>>> files = render_dashboards([])
>>> sorted(files)[:2]
['sloctl-component-http.json', 'sloctl-component-mongodb.json']
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The SDK warns at import that classic dashboards are deprecated in favour of v2; classic JSON is
# what file provisioning of every Grafana in use reads, so we build it on purpose.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from grafana_foundation_sdk.builders import common as common_b
    from grafana_foundation_sdk.builders import dashboard as dash_b
    from grafana_foundation_sdk.builders import prometheus as prom_b
    from grafana_foundation_sdk.builders import stat as stat_b
    from grafana_foundation_sdk.builders import statetimeline as timeline_b
    from grafana_foundation_sdk.builders import table as table_b
    from grafana_foundation_sdk.builders import timeseries as ts_b
    from grafana_foundation_sdk.cog import builder as cogbuilder
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common as common_m
    from grafana_foundation_sdk.models import dashboard as dash_m
    from grafana_foundation_sdk.models import prometheus as prom_m

from sloctl import naming
from sloctl.durations import format_duration
from sloctl.model import SLO, CompositeSLI, ProbeSLI
from sloctl.render.rules import alert_windows

__all__ = [
    "COMPONENTS",
    "Component",
    "component_uid",
    "overview_uid",
    "render_dashboards",
    "render_provider",
    "service_uid",
]

TAG = "sloctl"
SERVICE_TAG = "sloctl-service"
COMPONENT_TAG = "sloctl-component"
_SLO_BY = f"{naming.LABEL_ID}, {naming.LABEL_SERVICE}, {naming.LABEL_SLO}"
# Dashboard variables besides the data source (filters on the overview and component dashboards).
SERVICE_VAR = "service"
TARGET_VAR = "target"


@dataclass(frozen=True)
class Component:
    """A dashboard over the collector's metrics for one probe ``kind`` (docs/metrics.md)."""

    kind: str
    title: str
    connections: bool = False
    memory: bool = False
    role: bool = False
    pgbouncer_pools: bool = False


COMPONENTS: tuple[Component, ...] = (
    Component("postgres", "PostgreSQL", connections=True, role=True),
    Component("pgbouncer", "PgBouncer pools", pgbouncer_pools=True),
    Component("redis", "Redis", connections=True, memory=True, role=True),
    Component("mongodb", "MongoDB", connections=True, role=True),
    Component("http", "API probes"),
)


def overview_uid() -> str:
    return naming.dashboard_uid("sloctl", "overview")


def service_uid(service: str) -> str:
    return naming.dashboard_uid("sloctl", "service", service)


def component_uid(kind: str) -> str:
    return naming.dashboard_uid("sloctl", "component", kind)


def render_dashboards(
    slos: Sequence[SLO],
    *,
    datasource_uid_var: str = "datasource",
    datasource_uid: str | None = None,
    components: Sequence[str] | None = None,
) -> dict[str, str]:
    """Every dashboard as ``{file name: JSON text}``; a file is named after its dashboard's uid,
    relative to ``dashboards/``. ``datasource_uid_var`` names the data source template variable
    that every panel and query reads, ``datasource_uid`` its default (Grafana's default data
    source without one). ``components`` picks the collector component dashboards; None writes
    all of them when an SLO reads the collector's probes, and none otherwise.

    >>> sorted(render_dashboards([]))[-1]
    'sloctl-overview.json'
    """
    kit = _Kit(datasource_uid_var, datasource_uid)
    if components is None:
        components = [c.kind for c in COMPONENTS] if any(isinstance(s.sli, ProbeSLI) for s in slos) else []
    unknown = sorted(set(components) - {c.kind for c in COMPONENTS})
    if unknown:
        known = ", ".join(c.kind for c in COMPONENTS)
        raise ValueError(f"unknown component dashboard(s) {', '.join(unknown)}; known: {known}")
    by_service: dict[str, list[SLO]] = {}
    for slo in slos:
        by_service.setdefault(slo.service, []).append(slo)
    uids: dict[str, str] = {}
    for service in by_service:
        uid = service_uid(service)
        if uid in uids:
            raise ValueError(
                f"services {uids[uid]!r} and {service!r} map to the same dashboard uid {uid!r}; rename one"
            )
        uids[uid] = service
    files: dict[str, str] = {f"{overview_uid()}.json": _encode(_overview(kit))}
    for service, service_slos in by_service.items():
        files[f"{service_uid(service)}.json"] = _encode(_service(kit, service, service_slos))
    for component in COMPONENTS:
        if component.kind in components:
            files[f"{component_uid(component.kind)}.json"] = _encode(_component(kit, component))
    return dict(sorted(files.items()))


def render_provider(
    *, path: str = "/var/lib/grafana/dashboards/sloctl", folder: str = "SLOs", name: str = "sloctl"
) -> str:
    """Grafana dashboard provider (provisioning) YAML for ``dashboards/provider.yaml``.

    ``path`` is where the generated JSON files are mounted in the Grafana server.

    >>> print(render_provider().splitlines()[0])
    # Code generated by sloctl; DO NOT EDIT.
    """
    return (
        "# Code generated by sloctl; DO NOT EDIT.\n"
        "# Grafana dashboard provider: copy to /etc/grafana/provisioning/dashboards/ and mount the\n"
        "# generated *.json files at `options.path`.\n"
        "apiVersion: 1\n"
        "providers:\n"
        f"  - name: {json.dumps(name)}\n"
        "    orgId: 1\n"
        f"    folder: {json.dumps(folder)}\n"
        "    type: file\n"
        "    disableDeletion: false\n"
        "    allowUiUpdates: false\n"
        "    updateIntervalSeconds: 30\n"
        "    options:\n"
        f"      path: {json.dumps(path)}\n"
        "      foldersFromFilesStructure: false\n"
    )


# --------------------------------------------------------------------------------------------
# building blocks


def _q(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _slo_sel(slo: SLO, **extra: str) -> str:
    pairs = [f"{naming.LABEL_ID}={_q(slo.id)}"] + [f"{k}={_q(v)}" for k, v in extra.items()]
    return "{" + ", ".join(pairs) + "}"


class _Grid:
    """Places panels left to right in rows of 24 columns; ids count up from 1."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1

    def place(self, w: int, h: int) -> tuple[int, dash_m.GridPos]:
        if self.x + w > 24:
            self.newline()
        pos = dash_m.GridPos(h=h, w=w, x=self.x, y=self.y)
        self.x += w
        self.row_h = max(self.row_h, h)
        return self._id(), pos

    def newline(self) -> None:
        if self.x:
            self.y += self.row_h
        self.x = 0
        self.row_h = 0

    def row(self) -> tuple[int, dash_m.GridPos]:
        self.newline()
        pos = dash_m.GridPos(h=1, w=24, x=0, y=self.y)
        self.y += 1
        return self._id(), pos

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


class _Kit:
    def __init__(self, datasource_var: str, datasource_uid: str | None = None) -> None:
        self.var = datasource_var
        self.default_uid = datasource_uid
        self.ds = common_m.DataSourceRef(type_val="prometheus", uid="${" + datasource_var + "}")

    def target(
        self, expr: str, legend: str, ref: str, *, instant: bool = False, table: bool = False
    ) -> prom_b.Dataquery:
        q = prom_b.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(self.ds)
        q = q.instant() if instant else q.range()
        if table:
            q = q.format(prom_m.PromQueryFormat.TABLE)
        return q

    def datasource_variable(self) -> dash_b.DatasourceVariable:
        variable = dash_b.DatasourceVariable(self.var).label("Data source").type("prometheus")
        if self.default_uid:
            variable = variable.current(
                dash_m.VariableOption(selected=True, text=self.default_uid, value=self.default_uid)
            )
        return variable

    def query_variable(self, name: str, label: str, query: str) -> dash_b.QueryVariable:
        return (
            dash_b.QueryVariable(name)
            .label(label)
            .datasource(self.ds)
            .query(query)
            .definition(query)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
            .current(dash_m.VariableOption(selected=True, text="All", value="$__all"))
        )

    def dashboard(self, title: str, uid: str, tags: list[str]) -> dash_b.Dashboard:
        return (
            dash_b.Dashboard(title)
            .uid(uid)
            .tags(tags)
            .readonly()
            .time("now-6h", "now")
            .refresh("1m")
            .timezone("browser")
            .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
            .with_variable(self.datasource_variable())
            .link(
                dash_b.DashboardLink("SLO dashboards")
                .type(dash_m.DashboardLinkType.DASHBOARDS)
                .tags([TAG])
                .as_dropdown(True)
                .include_vars(True)
                .keep_time(True)
            )
        )

    def timeseries(
        self,
        grid: _Grid,
        title: str,
        unit: str,
        targets: Iterable[prom_b.Dataquery],
        *,
        w: int = 8,
        h: int = 8,
        description: str = "",
    ) -> ts_b.Panel:
        pid, pos = grid.place(w, h)
        panel = (
            ts_b.Panel()
            .id(pid)
            .grid_pos(pos)
            .title(title)
            .description(description)
            .datasource(self.ds)
            .unit(unit)
            .line_width(1)
            .fill_opacity(10)
            .legend(
                common_b.VizLegendOptions()
                .display_mode(common_m.LegendDisplayMode.LIST)
                .placement(common_m.LegendPlacement.BOTTOM)
                .show_legend(True)
                .calcs([])
            )
            .tooltip(
                common_b.VizTooltipOptions()
                .mode(common_m.TooltipDisplayMode.MULTI)
                .sort(common_m.SortOrder.DESCENDING)
            )
        )
        return panel.targets(list(targets))

    def stat(
        self,
        grid: _Grid,
        title: str,
        unit: str,
        target: prom_b.Dataquery,
        *,
        w: int = 4,
        h: int = 4,
        steps: list[dash_m.Threshold] | None = None,
        decimals: float | None = None,
        description: str = "",
        no_value: str | None = None,
        mappings: list[dash_m.ValueMapping] | None = None,
    ) -> stat_b.Panel:
        pid, pos = grid.place(w, h)
        panel = (
            stat_b.Panel()
            .id(pid)
            .grid_pos(pos)
            .title(title)
            .description(description)
            .datasource(self.ds)
            .unit(unit)
            .with_target(target)
            .graph_mode(common_m.BigValueGraphMode.AREA)
            .color_mode(common_m.BigValueColorMode.VALUE)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .thresholds(
                dash_b.ThresholdsConfig()
                .mode(dash_m.ThresholdsMode.ABSOLUTE)
                .steps(steps or [dash_m.Threshold(value=None, color="green")])
            )
        )
        if decimals is not None:
            panel = panel.decimals(decimals)
        if no_value is not None:
            panel = panel.no_value(no_value)
        if mappings is not None:
            panel = panel.mappings(mappings)
        return panel


def _encode(board: dash_b.Dashboard) -> str:
    return json.dumps(board.build(), cls=JSONEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _rate(metric: str, selector: str) -> str:
    # $__rate_interval: Grafana's range that always spans at least four scrapes.
    return f"rate({metric}{selector}[$__rate_interval])"


_BUDGET_STEPS = [
    dash_m.Threshold(value=None, color="red"),
    dash_m.Threshold(value=0.0, color="orange"),
    dash_m.Threshold(value=0.25, color="green"),
]


# --------------------------------------------------------------------------------------------
# overview


def _overview(kit: _Kit) -> dash_b.Dashboard:
    grid = _Grid()
    svc = f'{naming.LABEL_SERVICE}=~"${SERVICE_VAR}"'
    board = kit.dashboard("SLOs / Overview", overview_uid(), [TAG]).with_variable(
        kit.query_variable(SERVICE_VAR, "Service", f"label_values({naming.SLO_INFO}, {naming.LABEL_SERVICE})")
    )
    board = board.with_panel(
        kit.stat(
            grid,
            "SLOs",
            "none",
            kit.target(f"count({naming.SLO_INFO}{{{svc}}})", "SLOs", "A", instant=True),
            w=6,
        )
    )
    board = board.with_panel(
        kit.stat(
            grid,
            "SLOs out of error budget",
            "none",
            kit.target(
                f"count({naming.BUDGET_REMAINING}{{{svc}}} < 0) or vector(0)",
                "out of budget",
                "A",
                instant=True,
            ),
            w=6,
            steps=[dash_m.Threshold(value=None, color="green"), dash_m.Threshold(value=1.0, color="red")],
        )
    )
    board = board.with_panel(
        kit.stat(
            grid,
            "SLOs without data",
            "none",
            kit.target(f"count({naming.NO_DATA}{{{svc}}} == 1) or vector(0)", "no data", "A", instant=True),
            w=6,
            steps=[dash_m.Threshold(value=None, color="green"), dash_m.Threshold(value=1.0, color="red")],
            description="SLIs whose series are absent or flat zero: their budgets cannot be judged.",
        )
    )
    for severity in ("page", "ticket"):
        board = board.with_panel(
            kit.stat(
                grid,
                f"Firing {severity} alerts",
                "none",
                kit.target(
                    f'count(ALERTS{{alertstate="firing", {naming.LABEL_SEVERITY}="{severity}", '
                    f'{naming.LABEL_ID}!="", {svc}}}) or vector(0)',
                    severity,
                    "A",
                    instant=True,
                ),
                w=6,
                steps=[
                    dash_m.Threshold(value=None, color="green"),
                    dash_m.Threshold(value=1.0, color="red" if severity == "page" else "orange"),
                ],
            )
        )
    board = board.with_panel(_overview_table(kit, grid, svc))
    board = board.with_panel(_firing_table(kit, grid, svc))
    board = board.with_panel(
        kit.timeseries(
            grid,
            "Remaining error budget, 10 lowest",
            "percentunit",
            [
                kit.target(
                    f"bottomk(10, max by ({_SLO_BY}) ({naming.BUDGET_REMAINING}{{{svc}}}))",
                    "{{" + naming.LABEL_SERVICE + "}} / {{" + naming.LABEL_SLO + "}}",
                    "A",
                )
            ],
            w=12,
        )
    )
    board = board.with_panel(
        kit.timeseries(
            grid,
            "Current burn rate (5m), 10 highest",
            "suffix:×",
            [
                kit.target(
                    f"topk(10, max by ({_SLO_BY}) ({naming.CURRENT_BURN_RATE}{{{svc}}}))",
                    "{{" + naming.LABEL_SERVICE + "}} / {{" + naming.LABEL_SLO + "}}",
                    "A",
                )
            ],
            w=12,
        )
    )
    return board


def _overview_table(kit: _Kit, grid: _Grid, svc: str) -> table_b.Panel:
    # Grafana's schema only allows object values in overrides, so every column shares the
    # table's unit: burn rates read as "share of the period's budget this pace would spend".
    columns = [
        ("A", "Objective", naming.OBJECTIVE),
        ("B", "Budget remaining", naming.BUDGET_REMAINING),
        ("C", "Budget spent so far", naming.PERIOD_BURN_RATE),
        ("D", "Burn pace (5m)", naming.CURRENT_BURN_RATE),
    ]
    pid, pos = grid.place(24, 12)
    rename = {f"Value #{ref}": title for ref, title, _ in columns}
    rename.update({naming.LABEL_SERVICE: "Service", naming.LABEL_SLO: "SLO"})
    return (
        table_b.Panel()
        .id(pid)
        .grid_pos(pos)
        .title("SLOs, least remaining error budget first")
        .description(
            "Burn pace: the share of the whole period's error budget that the last 5 minutes' error "
            "ratio would spend (100 % = exactly on budget). Click a row to open its service dashboard."
        )
        .datasource(kit.ds)
        .unit("percentunit")
        .decimals(2)
        .targets(
            [
                kit.target(f"max by ({_SLO_BY}) ({metric}{{{svc}}})", title, ref, instant=True, table=True)
                for ref, title, metric in columns
            ]
        )
        .with_transformation(dash_m.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dash_m.DataTransformerConfig(
                id_val="organize",
                options={
                    "excludeByName": {"Time": True, naming.LABEL_ID: True},
                    "indexByName": {
                        naming.LABEL_SERVICE: 0,
                        naming.LABEL_SLO: 1,
                        **{f"Value #{ref}": i + 2 for i, (ref, _, _) in enumerate(columns)},
                    },
                    "renameByName": rename,
                },
            )
        )
        .sort_by([common_b.TableSortByFieldState().display_name("Budget remaining").desc(False)])
        .cell_height(common_m.TableCellHeight.SM)
        .show_header(True)
        .data_links(
            [
                # Service dashboards are tagged and titled by service; a search link stays right
                # even where a long service name made the uid end in a hash.
                dash_b.DashboardLink("Service dashboard").url(
                    f"/dashboards?tag={SERVICE_TAG}&query=${{__data.fields.Service}}"
                )
            ]
        )
        .with_override(
            _by_names(["Budget remaining"]),
            [
                dash_m.DynamicConfigValue(
                    id_val="thresholds",
                    value={"mode": "absolute", "steps": [t.to_json() for t in _BUDGET_STEPS]},
                ),
                dash_m.DynamicConfigValue(
                    id_val="custom.cellOptions", value={"type": "color-background", "mode": "basic"}
                ),
            ],
        )
    )


def _firing_table(kit: _Kit, grid: _Grid, svc: str) -> table_b.Panel:
    pid, pos = grid.place(24, 8)
    return (
        table_b.Panel()
        .id(pid)
        .grid_pos(pos)
        .title("Firing SLO alerts")
        .description("Empty when no SLO alert fires.")
        .datasource(kit.ds)
        .unit("none")
        .with_target(
            kit.target(
                f"max by ({_SLO_BY}, alertname, {naming.LABEL_SEVERITY}, {naming.LABEL_TIER}) "
                f'(ALERTS{{alertstate="firing", {naming.LABEL_ID}!="", {svc}}})',
                "",
                "A",
                instant=True,
                table=True,
            )
        )
        .with_transformation(
            dash_m.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {"Time": True, "Value": True, naming.LABEL_ID: True}},
            )
        )
        .cell_height(common_m.TableCellHeight.SM)
        .show_header(True)
    )


def _by_names(names: list[str]) -> dash_m.MatcherConfig:
    # The object form of the byNames matcher: the schema rejects the plain string options of
    # byName and byFrameRefID.
    return dash_m.MatcherConfig(
        id_val="byNames", options={"mode": "include", "names": names, "prefix": "", "readOnly": True}
    )


# --------------------------------------------------------------------------------------------
# per service


def _service(kit: _Kit, service: str, slos: Sequence[SLO]) -> dash_b.Dashboard:
    grid = _Grid()
    board = kit.dashboard(f"SLOs / {service}", service_uid(service), [TAG, SERVICE_TAG]).link(
        dash_b.DashboardLink("Overview")
        .type(dash_m.DashboardLinkType.LINK)
        .url(f"/d/{overview_uid()}")
        .include_vars(False)
        .keep_time(True)
    )
    for slo in slos:
        rid, rpos = grid.row()
        board = board.with_row(
            dash_b.Row(f"{slo.name}: {_promise(slo)}").id(rid).grid_pos(rpos).collapsed(False)
        )
        for panel in _slo_panels(kit, grid, slo):
            board = board.with_panel(panel)
    return board


def _promise(slo: SLO) -> str:
    """The row title's promise: the objective, what it counts, over which period."""
    over = f"each calendar {slo.calendar.unit}" if slo.calendar else format_duration(slo.period)
    if isinstance(slo.sli, CompositeSLI):
        parts = ", ".join(f"{c.slo} ×{c.weight:g}" for c in slo.sli.components)
        return f"{slo.objective:g}% over {over}, composite of {parts}"
    if slo.timeslices:
        return f"{slo.objective:g}% of {format_duration(slo.timeslices.slice_seconds)} slices over {over}"
    return f"{slo.objective:g}% over {over}"


_STATE_MAPPINGS: list[dash_m.ValueMapping] = [
    dash_m.ValueMap(
        options={
            "0": dash_m.ValueMappingResult(text="ok", color="green", index=0),
            "1": dash_m.ValueMappingResult(text="no data", color="red", index=1),
        }
    )
]


def _slo_panels(kit: _Kit, grid: _Grid, slo: SLO) -> list[cogbuilder.Builder[dash_m.Panel]]:
    sel = _slo_sel(slo)
    unit = slo.calendar.unit if slo.calendar else None
    period = f"this {unit}" if unit else format_duration(slo.period)
    period_ratio = naming.period_error_ratio(unit, slo.period)
    budget_by = f"on ({naming.LABEL_ID}) group_left max by ({naming.LABEL_ID}) ({naming.ERROR_BUDGET}{sel})"
    panels: list[cogbuilder.Builder[dash_m.Panel]] = []
    desc = slo.description or f"{slo.service} / {slo.name}"
    panels.append(
        kit.stat(
            grid,
            "Error budget remaining",
            "percentunit",
            kit.target(f"max({naming.BUDGET_REMAINING}{sel})", "remaining", "A", instant=True),
            w=4,
            h=8,
            steps=_BUDGET_STEPS,
            decimals=1,
            description=f"Share of the {period} error budget left; negative when overspent; "
            "unknown when the period saw no event.",
            no_value="unknown",
        )
    )
    if slo.alerting.no_data.enabled:
        panels.append(
            kit.stat(
                grid,
                "State",
                "none",
                kit.target(f"max({naming.NO_DATA}{sel})", "state", "A", instant=True),
                w=4,
                h=8,
                description=(
                    f"no data: the SLI saw no event for {format_duration(slo.alerting.no_data.for_seconds)} "
                    "(its series absent or flat zero)."
                ),
                mappings=_STATE_MAPPINGS,
                steps=[dash_m.Threshold(value=None, color="green"), dash_m.Threshold(value=1.0, color="red")],
            )
        )
    panels.append(
        kit.stat(
            grid,
            f"SLI over {period}",
            "percentunit",
            kit.target(f"1 - max({period_ratio}{sel})", "SLI", "A", instant=True),
            w=4,
            h=8,
            steps=[
                dash_m.Threshold(value=None, color="red"),
                dash_m.Threshold(value=slo.objective / 100, color="green"),
            ],
            decimals=3,
            description=desc,
        )
    )
    panels.append(
        kit.timeseries(
            grid,
            "SLI against objective",
            "percentunit",
            [
                kit.target(f"1 - max({naming.error_ratio(naming.BASE_WINDOW)}{sel})", "SLI (5m)", "A"),
                kit.target(f"1 - max({period_ratio}{sel})", f"SLI ({period})", "B"),
                kit.target(f"max({naming.OBJECTIVE}{sel})", "objective", "C"),
            ],
        ).with_override(_by_names(["objective"]), [_dashed()])
    )
    panels.append(
        kit.timeseries(
            grid,
            f"Error budget remaining over {period}",
            "percentunit",
            [kit.target(f"max({naming.BUDGET_REMAINING}{sel})", "remaining", "A")],
        )
    )
    burn_targets = [
        kit.target(
            f"max by ({naming.LABEL_ID}) ({naming.error_ratio(w)}{sel}) / {budget_by}",
            format_duration(w),
            f"W{i}",
        )
        for i, w in enumerate(alert_windows(slo))
    ]
    burn = kit.timeseries(
        grid,
        "Burn rate by window",
        "suffix:×",
        burn_targets,
        description="Error ratio over each window divided by the error budget; dashed: alert thresholds.",
    )
    if slo.alerting.enabled_tiers:
        burn = burn.with_target(
            kit.target(
                f"max by ({naming.LABEL_TIER}) ({naming.BURN_RATE_THRESHOLD}{sel})",
                "threshold {{" + naming.LABEL_TIER + "}}",
                "T",
            )
        ).with_override(_by_names([f"threshold {t.name}" for t in slo.alerting.enabled_tiers]), [_dashed()])
    panels.append(burn)
    if isinstance(slo.sli, CompositeSLI):
        # What each component brings: its error ratio over the quick page's window, times its
        # weight share.
        total = slo.sli.total_weight
        window = slo.windows.window("page", "quick").long_window
        ratio = naming.error_ratio(window)
        panels.append(
            kit.timeseries(
                grid,
                f"Components: weighted {format_duration(window)} error ratio",
                "percentunit",
                [
                    kit.target(
                        f'{c.weight / total:.6g} * max({ratio}{{{naming.LABEL_ID}="{slo.service}-{c.slo}"}})',
                        f"{c.slo} ×{c.weight:g}",
                        f"C{i}",
                    )
                    for i, c in enumerate(slo.sli.components)
                ],
                description="The composite's error ratio is the sum of these.",
            )
        )
        panels.append(
            kit.timeseries(
                grid,
                "Events (all components)",
                "eps",
                [kit.target(f"max({naming.events_rate()}{sel})", "events", "A")],
            )
        )
    elif slo.sli.kind != "raw":
        panels.append(
            kit.timeseries(
                grid,
                "Events and errors",
                "eps",
                [
                    kit.target(f"max({naming.events_rate()}{sel})", "events", "A"),
                    kit.target(f"max({naming.errors_rate()}{sel})", "errors", "B"),
                ],
            )
        )
    if slo.timeslices is not None:
        panels.append(
            kit.timeseries(
                grid,
                "Bad slices",
                "none",
                [kit.target(f"max({naming.TIMESLICE_BAD}{sel})", "bad slice", "A")],
                description=(
                    f"1 while the last {format_duration(slo.timeslices.slice_seconds)} slice is bad "
                    f"(fewer than {slo.timeslices.target:g}% of its events good), 0 while good, "
                    "empty without events."
                ),
            )
        )
    if slo.alerting.enabled_tiers:
        panels.append(_alert_state(kit, grid, slo))
    grid.newline()
    return panels


def _dashed() -> dash_m.DynamicConfigValue:
    return dash_m.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]})


def _alert_state(kit: _Kit, grid: _Grid, slo: SLO) -> timeline_b.Panel:
    sel_f = _slo_sel(slo, alertstate="firing")
    sel_p = _slo_sel(slo, alertstate="pending")
    tier = naming.LABEL_TIER
    # 2 firing, 1 pending, and 0 for every enabled tier (from the threshold series) otherwise.
    expr = (
        f"max by ({tier}) (2 * ALERTS{sel_f} or ALERTS{sel_p})"
        f" or max by ({tier}) (0 * {naming.BURN_RATE_THRESHOLD}{_slo_sel(slo)})"
    )
    pid, pos = grid.place(8, 8)
    return (
        timeline_b.Panel()
        .id(pid)
        .grid_pos(pos)
        .title(f"Alert state: {slo.alerting.name}")
        .datasource(kit.ds)
        .unit("none")
        .with_target(kit.target(expr, "{{" + tier + "}}", "A"))
        .mappings(
            [
                dash_m.ValueMap(
                    options={
                        "0": dash_m.ValueMappingResult(text="ok", color="green", index=0),
                        "1": dash_m.ValueMappingResult(text="pending", color="orange", index=1),
                        "2": dash_m.ValueMappingResult(text="firing", color="red", index=2),
                    }
                )
            ]
        )
        .show_value(common_m.VisibilityMode.NEVER)
        .legend(
            common_b.VizLegendOptions()
            .display_mode(common_m.LegendDisplayMode.LIST)
            .placement(common_m.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs([])
        )
        .tooltip(
            common_b.VizTooltipOptions()
            .mode(common_m.TooltipDisplayMode.SINGLE)
            .sort(common_m.SortOrder.NONE)
        )
    )


# --------------------------------------------------------------------------------------------
# collector components


def _component(kit: _Kit, c: Component) -> dash_b.Dashboard:
    grid = _Grid()
    sel = f'{{kind="{c.kind}", target=~"${TARGET_VAR}"}}'
    total_sel = f'{{kind="{c.kind}", target=~"${TARGET_VAR}", phase="total"}}'
    by_t = "target"
    board = kit.dashboard(
        f"Components / {c.title}", component_uid(c.kind), [TAG, COMPONENT_TAG]
    ).with_variable(
        kit.query_variable(
            TARGET_VAR, "Target", f'label_values({naming.PROBE_UP}{{kind="{c.kind}"}}, target)'
        )
    )
    panels: list[cogbuilder.Builder[dash_m.Panel]] = [
        kit.stat(
            grid,
            "Targets up",
            "none",
            kit.target(f"sum({naming.PROBE_UP}{sel})", "up", "A", instant=True),
            w=4,
            h=8,
            description="Targets whose last probe run succeeded.",
        ),
        kit.stat(
            grid,
            "Targets down",
            "none",
            kit.target(f"count({naming.PROBE_UP}{sel} == 0) or vector(0)", "down", "A", instant=True),
            w=4,
            h=8,
            steps=[dash_m.Threshold(value=None, color="green"), dash_m.Threshold(value=1.0, color="red")],
        ),
        kit.timeseries(
            grid,
            "Probe success ratio",
            "percentunit",
            [
                kit.target(
                    f"1 - sum by ({by_t}) ({_rate(naming.PROBE_FAILURES, sel)})"
                    f" / sum by ({by_t}) ({_rate(naming.PROBE_ATTEMPTS, sel)})",
                    "{{target}}",
                    "A",
                )
            ],
        ),
        kit.timeseries(
            grid,
            "Probe failures by reason",
            "ops",
            [
                kit.target(
                    f"sum by ({by_t}, reason) ({_rate(naming.PROBE_FAILURES, sel)})",
                    "{{target}} {{reason}}",
                    "A",
                )
            ],
        ),
        kit.timeseries(
            grid,
            "Latency p95 by phase",
            "s",
            [
                kit.target(
                    "histogram_quantile(0.95, sum by (le, target, phase) "
                    f"({_rate(naming.PROBE_DURATION + '_bucket', sel)}))",
                    "{{target}} {{phase}}",
                    "A",
                )
            ],
            w=12,
        ),
        kit.timeseries(
            grid,
            "Total latency p99, cold and warm connections",
            "s",
            [
                kit.target(
                    "histogram_quantile(0.99, sum by (le, target, connection) "
                    f"({_rate(naming.PROBE_DURATION + '_bucket', total_sel)}))",
                    "{{target}} {{connection}}",
                    "A",
                )
            ],
            w=12,
        ),
        kit.timeseries(
            grid,
            "Time since last probe run",
            "s",
            [kit.target(f"time() - max by ({by_t}) ({_LAST_RUN}{sel})", "{{target}}", "A")],
        ),
    ]
    if c.connections:
        panels.append(
            kit.timeseries(
                grid,
                "Server connections used",
                "percentunit",
                [
                    kit.target(
                        f"max by ({by_t}) ({_CONN_USED}{sel}) / max by ({by_t}) ({_CONN_MAX}{sel})",
                        "{{target}}",
                        "A",
                    )
                ],
            )
        )
    if c.memory:
        panels.append(
            kit.timeseries(
                grid,
                "Memory used",
                "bytes",
                [
                    kit.target(f"max by ({by_t}) ({_MEM_USED}{sel})", "{{target}} used", "A"),
                    kit.target(f"max by ({by_t}) ({_MEM_MAX}{sel})", "{{target}} limit", "B"),
                ],
            )
        )
    if c.role:
        panels.append(
            kit.timeseries(
                grid,
                "Role (1 = current role)",
                "none",
                [kit.target(f"max by ({by_t}, role) ({_ROLE}{sel})", "{{target}} {{role}}", "A")],
            )
        )
        panels.append(
            kit.timeseries(
                grid,
                "TLS certificate expires in",
                "s",
                [kit.target(f"min by ({by_t}) ({_CERT_EXPIRY}{sel}) - time()", "{{target}}", "A")],
            )
        )
    if c.pgbouncer_pools:
        panels.extend(_pgbouncer_panels(kit, grid))
    grid.newline()
    for panel in panels:
        board = board.with_panel(panel)
    return board


# Collector series not (yet) in sloctl.naming; names from docs/metrics.md.
_LAST_RUN = "sloctl_probe_last_run_timestamp_seconds"
_CONN_USED = "sloctl_probe_connections_used"
_CONN_MAX = "sloctl_probe_connections_max"
_MEM_USED = "sloctl_probe_memory_used_bytes"
_MEM_MAX = "sloctl_probe_memory_max_bytes"
_ROLE = "sloctl_probe_role"
_CERT_EXPIRY = "sloctl_probe_tls_cert_expiry_timestamp_seconds"
_PGB_CLIENT_ACTIVE = "sloctl_pgbouncer_pool_client_active"
_PGB_CLIENT_WAITING = "sloctl_pgbouncer_pool_client_waiting"
_PGB_SERVER_ACTIVE = "sloctl_pgbouncer_pool_server_active"
_PGB_SERVER_IDLE = "sloctl_pgbouncer_pool_server_idle"
_PGB_MAXWAIT = "sloctl_pgbouncer_pool_maxwait_seconds"
_PGB_QUERIES = "sloctl_pgbouncer_queries_total"
_PGB_QUERY_SECONDS = "sloctl_pgbouncer_query_seconds_total"
_DIRECT_VS_POOLED = '{kind=~"postgres|pgbouncer", phase="query"}'


def _pgbouncer_panels(kit: _Kit, grid: _Grid) -> list[cogbuilder.Builder[dash_m.Panel]]:
    sel = f'{{target=~"${TARGET_VAR}"}}'
    by = "target, database"
    legend = "{{target}} {{database}}"
    return [
        kit.timeseries(
            grid,
            "Client connections",
            "short",
            [
                kit.target(f"sum by ({by}) ({_PGB_CLIENT_ACTIVE}{sel})", legend + " active", "A"),
                kit.target(f"sum by ({by}) ({_PGB_CLIENT_WAITING}{sel})", legend + " waiting", "B"),
            ],
        ),
        kit.timeseries(
            grid,
            "Server connections",
            "short",
            [
                kit.target(f"sum by ({by}) ({_PGB_SERVER_ACTIVE}{sel})", legend + " active", "A"),
                kit.target(f"sum by ({by}) ({_PGB_SERVER_IDLE}{sel})", legend + " idle", "B"),
            ],
        ),
        kit.timeseries(
            grid,
            "Longest client wait",
            "s",
            [kit.target(f"max by ({by}) ({_PGB_MAXWAIT}{sel})", legend, "A")],
        ),
        kit.timeseries(
            grid,
            "Queries",
            "ops",
            [kit.target(f"sum by ({by}) ({_rate(_PGB_QUERIES, sel)})", legend, "A")],
        ),
        kit.timeseries(
            grid,
            "Average query time",
            "s",
            [
                kit.target(
                    f"sum by ({by}) ({_rate(_PGB_QUERY_SECONDS, sel)})"
                    f" / sum by ({by}) ({_rate(_PGB_QUERIES, sel)})",
                    legend,
                    "A",
                )
            ],
        ),
        kit.timeseries(
            grid,
            "Query latency p95: direct PostgreSQL against PgBouncer",
            "s",
            [
                kit.target(
                    "histogram_quantile(0.95, sum by (le, kind) "
                    f"({_rate(naming.PROBE_DURATION + '_bucket', _DIRECT_VS_POOLED)}))",
                    "{{kind}}",
                    "A",
                )
            ],
        ),
    ]
