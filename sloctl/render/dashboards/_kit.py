"""The building blocks of every dashboard: a grid that places panels, a kit that builds panels
and queries on one data source variable, and panels declared as data (:class:`Series`,
:class:`Stat`).

This package is the only code that imports ``grafana_foundation_sdk`` (the ``dashboards`` extra).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

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

# The SDK's modules are re-exported: the other modules of the package import them from here, so
# that the SDK is imported once, under the warning filter above.
__all__ = [
    "BUDGET_STEPS",
    "COMPONENT_TAG",
    "SERVICE_TAG",
    "SERVICE_VAR",
    "SLO_BY",
    "TAG",
    "TARGET_VAR",
    "Grid",
    "Kit",
    "PanelBuilder",
    "Series",
    "Stat",
    "alarm_from",
    "by_names",
    "common_b",
    "common_m",
    "dash_b",
    "dash_m",
    "dashed",
    "encode",
    "legend",
    "rate",
    "table_b",
    "timeline_b",
    "tooltip",
]

TAG = "sloctl"
SERVICE_TAG = "sloctl-service"
COMPONENT_TAG = "sloctl-component"
SLO_BY = f"{naming.LABEL_ID}, {naming.LABEL_SERVICE}, {naming.LABEL_SLO}"
SERVICE_VAR = "service"
TARGET_VAR = "target"
#: a panel builder of any kind, as a dashboard takes it
PanelBuilder = cogbuilder.Builder[dash_m.Panel]


class _Placeable(Protocol):
    """What every panel builder of the SDK has: the fields :meth:`Kit.place` sets."""

    def id(self, id_val: int) -> Self: ...
    def grid_pos(self, grid_pos: dash_m.GridPos) -> Self: ...
    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: common_m.DataSourceRef) -> Self: ...
    def unit(self, unit: str) -> Self: ...


_Panel = TypeVar("_Panel", bound=_Placeable)


@dataclass(frozen=True)
class Series:
    """A time-series panel as data: a title, a unit and its ``(query, legend)`` pairs, whose
    reference ids are ``A``, ``B``, … in order."""

    title: str
    unit: str
    queries: tuple[tuple[str, str], ...]
    w: int = 8
    description: str = ""


@dataclass(frozen=True)
class Stat:
    """A stat panel as data: a title, a unit and one instant ``(query, legend)`` (reference id
    ``A``); its value is green unless ``steps`` say otherwise."""

    title: str
    unit: str
    query: str
    legend: str
    w: int = 4
    h: int = 4
    steps: tuple[dash_m.Threshold, ...] = ()
    decimals: float | None = None
    description: str = ""
    no_value: str | None = None
    mappings: tuple[dash_m.ValueMapping, ...] = ()


class Grid:
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


class Kit:
    def __init__(self, datasource_var: str, datasource_uid: str | None = None) -> None:
        self.var = datasource_var
        self.default_uid = datasource_uid
        self.ds = common_m.DataSourceRef(type_val="prometheus", uid="${" + datasource_var + "}")

    def place(
        self, panel: _Panel, grid: Grid, w: int, h: int, title: str, unit: str, description: str | None = None
    ) -> _Panel:
        """``panel`` at the next ``w`` x ``h`` place of ``grid``, titled, on this kit's data source;
        a ``description`` of None leaves the field out of the JSON."""
        pid, pos = grid.place(w, h)
        panel = panel.id(pid).grid_pos(pos).title(title)
        if description is not None:
            panel = panel.description(description)
        return panel.datasource(self.ds).unit(unit)

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
        grid: Grid,
        title: str,
        unit: str,
        targets: Iterable[prom_b.Dataquery],
        *,
        w: int = 8,
        h: int = 8,
        description: str = "",
    ) -> ts_b.Panel:
        panel = (
            self.place(ts_b.Panel(), grid, w, h, title, unit, description)
            .line_width(1)
            .fill_opacity(10)
            .legend(legend())
            .tooltip(tooltip(common_m.TooltipDisplayMode.MULTI, common_m.SortOrder.DESCENDING))
        )
        return panel.targets(list(targets))

    def stat(self, grid: Grid, s: Stat) -> stat_b.Panel:
        """The panel of one :class:`Stat` row."""
        panel = (
            self.place(stat_b.Panel(), grid, s.w, s.h, s.title, s.unit, s.description)
            .with_target(self.target(s.query, s.legend, "A", instant=True))
            .graph_mode(common_m.BigValueGraphMode.AREA)
            .color_mode(common_m.BigValueColorMode.VALUE)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .thresholds(
                dash_b.ThresholdsConfig()
                .mode(dash_m.ThresholdsMode.ABSOLUTE)
                .steps(list(s.steps) or [dash_m.Threshold(value=None, color="green")])
            )
        )
        if s.decimals is not None:
            panel = panel.decimals(s.decimals)
        if s.no_value is not None:
            panel = panel.no_value(s.no_value)
        if s.mappings:
            panel = panel.mappings(list(s.mappings))
        return panel

    def series(self, grid: Grid, s: Series) -> ts_b.Panel:
        """The panel of one :class:`Series` row."""
        targets = [self.target(q, legend, chr(ord("A") + i)) for i, (q, legend) in enumerate(s.queries)]
        return self.timeseries(grid, s.title, s.unit, targets, w=s.w, description=s.description)


def encode(board: dash_b.Dashboard) -> str:
    return json.dumps(board.build(), cls=JSONEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def rate(metric: str, selector: str) -> str:
    # $__rate_interval: Grafana's range that always spans at least four scrapes.
    return f"rate({metric}{selector}[$__rate_interval])"


def alarm_from(value: float, colour: str = "red") -> tuple[dash_m.Threshold, ...]:
    """Threshold steps: green below ``value``, ``colour`` from it up."""
    return (dash_m.Threshold(value=None, color="green"), dash_m.Threshold(value=value, color=colour))


BUDGET_STEPS = (
    dash_m.Threshold(value=None, color="red"),
    dash_m.Threshold(value=0.0, color="orange"),
    dash_m.Threshold(value=0.25, color="green"),
)


def by_names(names: list[str]) -> dash_m.MatcherConfig:
    # The object form of the byNames matcher: the schema rejects the plain string options of
    # byName and byFrameRefID.
    return dash_m.MatcherConfig(
        id_val="byNames", options={"mode": "include", "names": names, "prefix": "", "readOnly": True}
    )


def dashed() -> dash_m.DynamicConfigValue:
    return dash_m.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]})


def legend() -> common_b.VizLegendOptions:
    """The legend of every time-series and state panel: a list below the graph."""
    return (
        common_b.VizLegendOptions()
        .display_mode(common_m.LegendDisplayMode.LIST)
        .placement(common_m.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs([])
    )


def tooltip(mode: common_m.TooltipDisplayMode, sort: common_m.SortOrder) -> common_b.VizTooltipOptions:
    return common_b.VizTooltipOptions().mode(mode).sort(sort)
