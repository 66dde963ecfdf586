"""A dashboard per service: a row per SLO with its budget, SLI, burn rates and alert states."""

from __future__ import annotations

from collections.abc import Sequence

from sloctl import naming
from sloctl.durations import format_duration
from sloctl.model import SLO, CompositeSLI, alert_windows
from sloctl.render import promql

from ._kit import (
    BUDGET_STEPS,
    SERVICE_TAG,
    TAG,
    Grid,
    Kit,
    PanelBuilder,
    Stat,
    alarm_from,
    by_names,
    common_m,
    dash_b,
    dash_m,
    dashed,
    legend,
    timeline_b,
    tooltip,
)
from ._uids import overview_uid, service_uid


def _slo_sel(slo: SLO, **extra: str) -> str:
    return promql.matchers({naming.LABEL_ID: slo.id, **extra})


# A grouped SLO (Pyrra's ``grouping``) records one series per group: its panels keep the groups
# apart (one series, one stat, one legend entry each) instead of folding them into one value.
def _max(slo: SLO, expr: str, *by: str) -> str:
    """``expr`` aggregated to one series per group of ``slo`` (and per ``by`` label)."""
    labels = [*by, *slo.grouping]
    return f"max by ({', '.join(labels)}) ({expr})" if labels else f"max({expr})"


def _legend(slo: SLO, name: str) -> str:
    """A series' legend, followed by its group's labels for a grouped SLO."""
    return " ".join([name, *("{{" + g + "}}" for g in slo.grouping)])


def _stat_legend(slo: SLO, name: str) -> str:
    """A stat's legend: its group's labels for a grouped SLO (one stat per group)."""
    return " ".join("{{" + g + "}}" for g in slo.grouping) or name


def service(kit: Kit, service: str, slos: Sequence[SLO]) -> dash_b.Dashboard:
    grid = Grid()
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
    objective = promql.fmt_number(slo.objective)
    if isinstance(slo.sli, CompositeSLI):
        parts = ", ".join(f"{c.slo} ×{c.weight:g}" for c in slo.sli.components)
        return f"{objective}% over {over}, composite of {parts}"
    if slo.timeslices:
        return f"{objective}% of {format_duration(slo.timeslices.slice_seconds)} slices over {over}"
    return f"{objective}% over {over}"


_STATE_MAPPINGS: tuple[dash_m.ValueMapping, ...] = (
    dash_m.ValueMap(
        options={
            "0": dash_m.ValueMappingResult(text="ok", color="green", index=0),
            "1": dash_m.ValueMappingResult(text="no data", color="red", index=1),
        }
    ),
)


def _slo_panels(kit: Kit, grid: Grid, slo: SLO) -> list[PanelBuilder]:
    """A row of the service dashboard: headline stats, trends, events and the alert states."""
    panels = [*_headline(kit, grid, slo), *_trends(kit, grid, slo), *_events(kit, grid, slo)]
    if slo.alerting.enabled_tiers:
        panels.append(_alert_state(kit, grid, slo))
    grid.newline()
    return panels


def _period(slo: SLO) -> tuple[str, str]:
    """How the period reads in titles (``30d``, ``this month``) and its error-ratio recording."""
    unit = slo.calendar.unit if slo.calendar else None
    return (f"this {unit}" if unit else format_duration(slo.period)), naming.period_error_ratio(
        unit, slo.period
    )


def _headline(kit: Kit, grid: Grid, slo: SLO) -> list[PanelBuilder]:
    """Budget left, the no-data state and the SLI over the period, as stats."""
    sel = _slo_sel(slo)
    period, period_ratio = _period(slo)
    no_data = slo.alerting.no_data
    stats = [
        Stat(
            "Error budget remaining",
            "percentunit",
            _max(slo, f"{naming.BUDGET_REMAINING}{sel}"),
            _stat_legend(slo, "remaining"),
            h=8,
            steps=BUDGET_STEPS,
            decimals=1,
            description=f"Share of the {period} error budget left; negative when overspent; "
            "unknown when the period saw no event.",
            no_value="unknown",
        )
    ]
    if no_data.enabled:
        stats.append(
            Stat(
                "State",
                "none",
                _max(slo, f"{naming.NO_DATA}{sel}"),
                _stat_legend(slo, "state"),
                h=8,
                steps=alarm_from(1.0),
                description=f"no data: the SLI saw no event for {format_duration(no_data.for_seconds)} "
                "(its series absent or flat zero).",
                mappings=_STATE_MAPPINGS,
            )
        )
    stats.append(
        Stat(
            f"SLI over {period}",
            "percentunit",
            f"1 - {_max(slo, f'{period_ratio}{sel}')}",
            _stat_legend(slo, "SLI"),
            h=8,
            steps=(
                dash_m.Threshold(value=None, color="red"),
                dash_m.Threshold(value=slo.objective_ratio, color="green"),
            ),
            decimals=3,
            description=slo.description or f"{slo.service} / {slo.name}",
        )
    )
    return [kit.stat(grid, stat) for stat in stats]


def _trends(kit: Kit, grid: Grid, slo: SLO) -> list[PanelBuilder]:
    """The SLI against its objective, the budget over the period, burn rates by window."""
    sel = _slo_sel(slo)
    period, period_ratio = _period(slo)
    budget_by = f"on ({naming.LABEL_ID}) group_left max by ({naming.LABEL_ID}) ({naming.ERROR_BUDGET}{sel})"
    panels: list[PanelBuilder] = []
    panels.append(
        kit.timeseries(
            grid,
            "SLI against objective",
            "percentunit",
            [
                kit.target(
                    f"1 - {_max(slo, f'{naming.error_ratio(slo.base_window)}{sel}')}",
                    _legend(slo, "SLI (5m)"),
                    "A",
                ),
                kit.target(f"1 - {_max(slo, f'{period_ratio}{sel}')}", _legend(slo, f"SLI ({period})"), "B"),
                kit.target(f"max({naming.OBJECTIVE}{sel})", "objective", "C"),
            ],
        ).with_override(by_names(["objective"]), [dashed()])
    )
    panels.append(
        kit.timeseries(
            grid,
            f"Error budget remaining over {period}",
            "percentunit",
            [kit.target(_max(slo, f"{naming.BUDGET_REMAINING}{sel}"), _legend(slo, "remaining"), "A")],
        )
    )
    burn_targets = [
        kit.target(
            f"{_max(slo, f'{naming.error_ratio(w)}{sel}', naming.LABEL_ID)} / {budget_by}",
            _legend(slo, format_duration(w)),
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
        ).with_override(by_names([f"threshold {t.name}" for t in slo.alerting.enabled_tiers]), [dashed()])
    panels.append(burn)
    return panels


def _events(kit: Kit, grid: Grid, slo: SLO) -> list[PanelBuilder]:
    """Events and errors (or a composite's weighted components) and bad slices."""
    # Long, a little over 60 lines: three panel declarations, each for one kind of SLI.
    sel = _slo_sel(slo)
    panels: list[PanelBuilder] = []
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
                [
                    kit.target(
                        _max(slo, f"{naming.events_rate(slo.base_window)}{sel}"), _legend(slo, "events"), "A"
                    )
                ],
            )
        )
    elif slo.sli.kind != "raw":
        panels.append(
            kit.timeseries(
                grid,
                "Events and errors",
                "eps",
                [
                    kit.target(
                        _max(slo, f"{naming.events_rate(slo.base_window)}{sel}"), _legend(slo, "events"), "A"
                    ),
                    kit.target(
                        _max(slo, f"{naming.errors_rate(slo.base_window)}{sel}"), _legend(slo, "errors"), "B"
                    ),
                ],
            )
        )
    if slo.timeslices is not None:
        panels.append(
            kit.timeseries(
                grid,
                "Bad slices",
                "none",
                [kit.target(_max(slo, f"{naming.TIMESLICE_BAD}{sel}"), _legend(slo, "bad slice"), "A")],
                description=(
                    f"1 while the last {format_duration(slo.timeslices.slice_seconds)} slice is bad "
                    f"(fewer than {slo.timeslices.target:g}% of its events good), 0 while good, "
                    "empty without events."
                ),
            )
        )
    return panels


def _alert_state(kit: Kit, grid: Grid, slo: SLO) -> timeline_b.Panel:
    sel_f = _slo_sel(slo, alertstate="firing")
    sel_p = _slo_sel(slo, alertstate="pending")
    tier = naming.LABEL_TIER
    # 2 firing, 1 pending, and 0 for every enabled tier (from the threshold series) otherwise.
    states = _max(slo, f"2 * ALERTS{sel_f} or ALERTS{sel_p}", tier)
    if slo.grouping:
        # The threshold series have no group: each group's 0 comes from its 5m error ratio, once
        # per enabled tier (PromQL cannot join the two many-to-many).
        groups = _max(slo, f"0 * {naming.error_ratio(slo.base_window)}{_slo_sel(slo)}")
        expr = " or ".join(
            [
                states,
                *(
                    f'label_replace({groups}, "{tier}", "{t.name}", "", "")'
                    for t in slo.alerting.enabled_tiers
                ),
            ]
        )
    else:
        expr = f"{states} or max by ({tier}) (0 * {naming.BURN_RATE_THRESHOLD}{_slo_sel(slo)})"
    return (
        kit.place(timeline_b.Panel(), grid, 8, 8, f"Alert state: {slo.alerting.name}", "none")
        .with_target(kit.target(expr, _legend(slo, "{{" + tier + "}}"), "A"))
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
        .legend(legend())
        .tooltip(tooltip(common_m.TooltipDisplayMode.SINGLE, common_m.SortOrder.NONE))
    )
