"""The overview dashboard: every SLO's budget, burn pace and firing alerts."""

from __future__ import annotations

from sloctl import naming

from ._kit import (
    BUDGET_STEPS,
    SERVICE_TAG,
    SERVICE_VAR,
    SLO_BY,
    TAG,
    Grid,
    Kit,
    Series,
    Stat,
    alarm_from,
    by_names,
    common_b,
    common_m,
    dash_b,
    dash_m,
    table_b,
)
from ._uids import overview_uid


def overview(kit: Kit, *, grouping: tuple[str, ...] = ()) -> dash_b.Dashboard:
    """``grouping``: the labels some SLOs are kept per group by (Pyrra's ``grouping``, one budget
    per group). Their rows, counts and trends then read their worst group, and say so (an SLO
    without groups is its own worst group: its figures are the same), and the firing alerts
    name their group."""
    # Long but flat: the panels are two tables (the counts across the top, the trend rows) and
    # the two tables of their own functions, placed in order.
    grid = Grid()
    grouped = bool(grouping)
    worst = " (worst group)" if grouped else ""

    def per_slo(expr: str) -> str:
        # An SLO counts once however many of its groups match.
        return f"count by ({naming.LABEL_ID}) ({expr})" if grouped else expr

    svc = f'{naming.LABEL_SERVICE}=~"${SERVICE_VAR}"'
    board = kit.dashboard("SLOs / Overview", overview_uid(), [TAG]).with_variable(
        kit.query_variable(SERVICE_VAR, "Service", f"label_values({naming.SLO_INFO}, {naming.LABEL_SERVICE})")
    )
    # the counts across the top
    firing = f'alertstate="firing", {naming.LABEL_SEVERITY}="{{}}", {naming.LABEL_ID}!="", {svc}'
    stats = [
        Stat("SLOs", "none", f"count({naming.SLO_INFO}{{{svc}}})", "SLOs", w=6),
        Stat(
            "SLOs out of error budget",
            "none",
            f"count({per_slo(f'{naming.BUDGET_REMAINING}{{{svc}}} < 0')}) or vector(0)",
            "out of budget",
            w=6,
            steps=alarm_from(1.0),
        ),
        Stat(
            "SLOs without data",
            "none",
            f"count({per_slo(f'{naming.NO_DATA}{{{svc}}} == 1')}) or vector(0)",
            "no data",
            w=6,
            steps=alarm_from(1.0),
            description="SLIs whose series are absent or flat zero: their budgets cannot be judged.",
        ),
        *(
            Stat(
                f"Firing {severity} alerts",
                "none",
                f"count(ALERTS{{{firing.format(severity)}}}) or vector(0)",
                severity,
                w=6,
                steps=alarm_from(1.0, colour),
            )
            for severity, colour in (("page", "red"), ("ticket", "orange"))
        ),
    ]
    for stat in stats:
        board = board.with_panel(kit.stat(grid, stat))
    board = board.with_panel(_overview_table(kit, grid, svc, worst))
    board = board.with_panel(_firing_table(kit, grid, svc, grouping))
    by_slo = "{{" + naming.LABEL_SERVICE + "}} / {{" + naming.LABEL_SLO + "}}"
    for row in (
        Series(
            f"Remaining error budget{worst}, 10 lowest",
            "percentunit",
            ((f"bottomk(10, {_budget(worst)} by ({SLO_BY}) ({naming.BUDGET_REMAINING}{{{svc}}}))", by_slo),),
            w=12,
        ),
        Series(
            f"Current burn rate (5m{', worst group' if worst else ''}), 10 highest",
            "suffix:×",
            ((f"topk(10, max by ({SLO_BY}) ({naming.CURRENT_BURN_RATE}{{{svc}}}))", by_slo),),
            w=12,
        ),
    ):
        board = board.with_panel(kit.series(grid, row))
    return board


def _budget(worst: str) -> str:
    """The aggregation of a budget across an SLO's series: its least when groups are read."""
    return "min" if worst else "max"


def _overview_table(kit: Kit, grid: Grid, svc: str, worst: str) -> table_b.Panel:
    # Longer than most: one panel's whole definition, a single builder chain (queries, merge and
    # organize transformations, sort, data link, the budget column's colours); split, it would
    # scatter one table's options over helpers that nothing else uses.
    # Grafana's schema only allows object values in overrides, so every column shares the
    # table's unit: burn rates read as "share of the period's budget this pace would spend".
    # (ref, title, aggregation, metric): burn rates read the fastest series, budgets the least.
    budget = f"Budget remaining{worst}"
    columns = [
        ("A", "Objective", "max", naming.OBJECTIVE),
        ("B", budget, _budget(worst), naming.BUDGET_REMAINING),
        ("C", f"Budget spent so far{worst}", "max", naming.PERIOD_BURN_RATE),
        ("D", f"Burn pace (5m{', worst group' if worst else ''})", "max", naming.CURRENT_BURN_RATE),
    ]
    rename = {f"Value #{ref}": title for ref, title, _, _ in columns}
    rename.update({naming.LABEL_SERVICE: "Service", naming.LABEL_SLO: "SLO"})
    return (
        kit.place(
            table_b.Panel(),
            grid,
            24,
            12,
            "SLOs, least remaining error budget first",
            "percentunit",
            "Burn pace: the share of the whole period's error budget that the last 5 minutes' error "
            "ratio would spend (100 % = exactly on budget). Click a row to open its service dashboard.",
        )
        .decimals(2)
        .targets(
            [
                kit.target(f"{agg} by ({SLO_BY}) ({metric}{{{svc}}})", title, ref, instant=True, table=True)
                for ref, title, agg, metric in columns
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
                        **{f"Value #{ref}": i + 2 for i, (ref, _, _, _) in enumerate(columns)},
                    },
                    "renameByName": rename,
                },
            )
        )
        .sort_by([common_b.TableSortByFieldState().display_name(budget).desc(False)])
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
            by_names([budget]),
            [
                dash_m.DynamicConfigValue(
                    id_val="thresholds",
                    value={"mode": "absolute", "steps": [t.to_json() for t in BUDGET_STEPS]},
                ),
                dash_m.DynamicConfigValue(
                    id_val="custom.cellOptions", value={"type": "color-background", "mode": "basic"}
                ),
            ],
        )
    )


def _firing_table(kit: Kit, grid: Grid, svc: str, grouping: tuple[str, ...]) -> table_b.Panel:
    by = ", ".join([SLO_BY, "alertname", naming.LABEL_SEVERITY, naming.LABEL_TIER, *grouping])
    return (
        kit.place(table_b.Panel(), grid, 24, 8, "Firing SLO alerts", "none", "Empty when no SLO alert fires.")
        .with_target(
            kit.target(
                f'max by ({by}) (ALERTS{{alertstate="firing", {naming.LABEL_ID}!="", {svc}}})',
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
