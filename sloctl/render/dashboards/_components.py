"""A dashboard per collector component (probe ``kind``): up, success, failures by reason,
latency by phase, saturation, and PgBouncer's pools; panels declared as tables of
:class:`~._kit.Series`."""

from __future__ import annotations

from dataclasses import dataclass

from sloctl import contract

from ._kit import (
    COMPONENT_TAG,
    TAG,
    TARGET_VAR,
    Grid,
    Kit,
    PanelBuilder,
    Series,
    Stat,
    alarm_from,
    dash_b,
    rate,
)
from ._uids import component_uid


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


def component(kit: Kit, c: Component) -> dash_b.Dashboard:
    grid = Grid()
    sel = f'{{kind="{c.kind}", target=~"${TARGET_VAR}"}}'
    up = contract.PROBE_UP.name
    board = kit.dashboard(
        f"Components / {c.title}", component_uid(c.kind), [TAG, COMPONENT_TAG]
    ).with_variable(
        kit.query_variable(TARGET_VAR, "Target", f'label_values({up}{{kind="{c.kind}"}}, target)')
    )
    up_desc = "Targets whose last probe run succeeded."
    stats = (
        Stat("Targets up", "none", f"sum({up}{sel})", "up", h=8, description=up_desc),
        Stat(
            "Targets down", "none", f"count({up}{sel} == 0) or vector(0)", "down", h=8, steps=alarm_from(1.0)
        ),
    )
    panels: list[PanelBuilder] = [kit.stat(grid, stat) for stat in stats]
    panels.extend(kit.series(grid, row) for row in _component_series(c, sel))
    if c.pgbouncer_pools:
        panels.extend(kit.series(grid, row) for row in _pgbouncer_series())
    grid.newline()
    for panel in panels:
        board = board.with_panel(panel)
    return board


def _component_series(c: Component, sel: str) -> list[Series]:
    """The time-series panels of a component's dashboard, below its two stats."""
    # Long as a table is long: one row per panel, no logic beyond which rows a kind has.
    total_sel = sel.replace("}", ', phase="total"}')
    bucket = contract.PROBE_DURATION.series("bucket")
    rows = [
        Series(
            "Probe success ratio",
            "percentunit",
            (
                (
                    f"1 - sum by (target) ({rate(contract.PROBE_FAILURES.name, sel)})"
                    f" / sum by (target) ({rate(contract.PROBE_ATTEMPTS.name, sel)})",
                    "{{target}}",
                ),
            ),
        ),
        Series(
            "Probe failures by reason",
            "ops",
            (
                (
                    f"sum by (target, reason) ({rate(contract.PROBE_FAILURES.name, sel)})",
                    "{{target}} {{reason}}",
                ),
            ),
        ),
        Series(
            "Latency p95 by phase",
            "s",
            (
                (
                    f"histogram_quantile(0.95, sum by (le, target, phase) ({rate(bucket, sel)}))",
                    "{{target}} {{phase}}",
                ),
            ),
            w=12,
        ),
        Series(
            "Total latency p99, cold and warm connections",
            "s",
            (
                (
                    f"histogram_quantile(0.99, sum by (le, target, connection) ({rate(bucket, total_sel)}))",
                    "{{target}} {{connection}}",
                ),
            ),
            w=12,
        ),
        Series(
            "Time since last probe run",
            "s",
            ((f"time() - max by (target) ({contract.PROBE_LAST_RUN.name}{sel})", "{{target}}"),),
        ),
    ]
    used, limit = contract.PROBE_CONNECTIONS_USED.name, contract.PROBE_CONNECTIONS_MAX.name
    if c.connections:
        rows.append(
            Series(
                "Server connections used",
                "percentunit",
                ((f"max by (target) ({used}{sel}) / max by (target) ({limit}{sel})", "{{target}}"),),
            )
        )
    if c.memory:
        rows.append(
            Series(
                "Memory used",
                "bytes",
                (
                    (f"max by (target) ({contract.PROBE_MEMORY_USED.name}{sel})", "{{target}} used"),
                    (f"max by (target) ({contract.PROBE_MEMORY_MAX.name}{sel})", "{{target}} limit"),
                ),
            )
        )
    if c.role:
        rows += [
            Series(
                "Role (1 = current role)",
                "none",
                ((f"max by (target, role) ({contract.PROBE_ROLE.name}{sel})", "{{target}} {{role}}"),),
            ),
            Series(
                "TLS certificate expires in",
                "s",
                ((f"min by (target) ({contract.PROBE_CERT_EXPIRY.name}{sel}) - time()", "{{target}}"),),
            ),
        ]
    return rows


def _pgbouncer_series() -> list[Series]:
    """PgBouncer's pools (SHOW POOLS, SHOW STATS) and the direct-against-pooled latency."""
    sel = f'{{target=~"${TARGET_VAR}"}}'
    by = "target, database"
    legend = "{{target}} {{database}}"
    queries, query_seconds = contract.PGBOUNCER_QUERIES.name, contract.PGBOUNCER_QUERY_SECONDS.name
    direct_vs_pooled = '{kind=~"postgres|pgbouncer", phase="query"}'
    bucket = contract.PROBE_DURATION.series("bucket")
    return [
        Series(
            "Client connections",
            "short",
            (
                (f"sum by ({by}) ({contract.PGBOUNCER_CLIENT_ACTIVE.name}{sel})", legend + " active"),
                (f"sum by ({by}) ({contract.PGBOUNCER_CLIENT_WAITING.name}{sel})", legend + " waiting"),
            ),
        ),
        Series(
            "Server connections",
            "short",
            (
                (f"sum by ({by}) ({contract.PGBOUNCER_SERVER_ACTIVE.name}{sel})", legend + " active"),
                (f"sum by ({by}) ({contract.PGBOUNCER_SERVER_IDLE.name}{sel})", legend + " idle"),
            ),
        ),
        Series(
            "Longest client wait", "s", ((f"max by ({by}) ({contract.PGBOUNCER_MAXWAIT.name}{sel})", legend),)
        ),
        Series("Queries", "ops", ((f"sum by ({by}) ({rate(queries, sel)})", legend),)),
        Series(
            "Average query time",
            "s",
            ((f"sum by ({by}) ({rate(query_seconds, sel)}) / sum by ({by}) ({rate(queries, sel)})", legend),),
        ),
        Series(
            "Query latency p95: direct PostgreSQL against PgBouncer",
            "s",
            (
                (
                    f"histogram_quantile(0.95, sum by (le, kind) ({rate(bucket, direct_vs_pooled)}))",
                    "{{kind}}",
                ),
            ),
        ),
    ]
