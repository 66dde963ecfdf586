"""A Pyrra SLO with ``grouping`` records one series (and alert) per group; its dashboard panels
must keep the groups apart, not fold them into one value with ``max(…)`` (which showed the best
group's budget beside the worst group's SLI).

The oracle is the parsed PromQL of every panel query: which labels its result keeps, followed
through aggregations, vector matching and ``label_replace``. The series that have no group are
read from the generated rules themselves (the records of a constant ``vector(…)``)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import promql_parser as pp
import pytest
import yaml

from sloctl import naming
from sloctl.backtest.engine import backfill_openmetrics
from sloctl.model import SLO
from sloctl.render.dashboards import overview_uid, render_dashboards, service_uid
from sloctl.render.dashboards_check import check_files, expand_macros, iter_panels, iter_queries
from sloctl.render.rules import render_rule_file
from sloctl.servers._process import wait_until
from sloctl.servers.prometheus import start_prometheus
from sloctl.spec import load_text
from sloctl.status import collect
from tests.dashboards.factories import representative_slos
from tests.fixtures.dashboards import SCHEMAS, VARIABLES, Prom
from tests.fixtures.histories import two_routes


def _pyrra(name: str, indicator: str, grouping: list[str]) -> str:
    return f"""\
apiVersion: pyrra.dev/v1alpha1
kind: ServiceLevelObjective
metadata: {{name: {name}, namespace: shop}}
spec:
  target: "99.5"
  window: 4w
  indicator:
    {indicator}
      grouping: {json.dumps(grouping)}
"""


GROUPED = {
    "errors": (
        "ratio:\n      errors: {metric: 'http_requests_total{code=~\"5..\"}'}\n"
        "      total: {metric: http_requests_total}",
        ["route"],
    ),
    "latency": (
        "latency:\n      success: {metric: 'http_request_duration_seconds_bucket{le=\"0.3\"}'}\n"
        "      total: {metric: http_request_duration_seconds_count}",
        ["route", "method"],
    ),
}


def _slos() -> tuple[SLO, ...]:
    text = "---\n".join(_pyrra(name, ind, by) for name, (ind, by) in GROUPED.items())
    result = load_text(text, "grouped.yaml")
    assert result.ok, [str(e) for e in result.errors]
    return result.slos


def _groupless(slos: tuple[SLO, ...]) -> set[str]:
    """The recorded series without groups: those the rules record from a constant (one, or one
    per tier or policy step, labelled by ``label_replace``)."""
    groups = yaml.safe_load(render_rule_file(slos, ["tests"], "test"))["groups"]
    return {
        r["record"]
        for g in groups
        for r in g["rules"]
        if "record" in r and str(r["expr"]).startswith(("vector(", "label_replace(vector("))
    }


def _keeps(node: object, label: str, groupless: set[str]) -> bool | None:
    """Whether the result of ``node`` keeps ``label``: True, False, or None for a result that
    never had groups (only group-less series and literals under it)."""
    if isinstance(node, pp.VectorSelector):
        return None if node.name in groupless else True
    if isinstance(node, pp.NumberLiteral | pp.StringLiteral):
        return None
    if isinstance(node, pp.ParenExpr):
        return _keeps(node.expr, label, groupless)
    if isinstance(node, pp.Call):
        # label_replace and every function sloctl's panels use keep their first argument's labels.
        return _keeps(node.args[0], label, groupless)
    if isinstance(node, pp.AggregateExpr):
        inner = _keeps(node.expr, label, groupless)
        if inner is None:
            return None
        m = node.modifier
        if m is None:
            return False
        kept = label in m.labels if m.type == pp.AggModifierType.By else label not in m.labels
        return inner and kept
    assert isinstance(node, pp.BinaryExpr), type(node)
    lhs, rhs = _keeps(node.lhs, label, groupless), _keeps(node.rhs, label, groupless)
    if str(node.op) in ("or", "and", "unless"):
        sides = [s for s in (lhs, rhs) if s is not None]
        return all(sides) if sides else None
    card = node.modifier.card if node.modifier is not None else None
    if card == pp.VectorMatchCardinality.OneToMany:
        return rhs
    if isinstance(node.lhs, pp.NumberLiteral):
        return rhs
    return lhs if lhs is not None else rhs


def test_every_panel_of_a_grouped_pyrra_slo_keeps_its_grouping_labels_and_names_them() -> None:
    slos = _slos()
    assert {s.name: s.grouping for s in slos} == {"errors": ("route",), "latency": ("route", "method")}
    groupless = _groupless(slos)
    assert "sloctl:objective:ratio" in groupless and "sloctl:sli_error:ratio_rate5m" not in groupless
    board = json.loads(render_dashboards(slos)[f"{service_uid('shop')}.json"])
    legends = {
        (int(p["id"]), str(t["refId"])): str(t.get("legendFormat", ""))
        for p in iter_panels(board)
        for t in p.get("targets") or []
    }
    grouped = 0
    for q in iter_queries(board):
        slo = next(s for s in slos if f'"{s.id}"' in q.expr)
        tree = pp.parse(expand_macros(q.expr, VARIABLES))
        where = f"panel {q.panel} {q.title!r} {q.ref_id}: {q.expr}"
        kept = {label: _keeps(tree, label, groupless) for label in slo.grouping}
        # Every query either reads the SLO's groups and keeps each grouping label, or reads
        # only series that have no group (the objective, the thresholds).
        assert set(kept.values()) in ({True}, {None}), (kept, where)
        if True in kept.values():
            grouped += 1
            legend = legends[(q.panel, q.ref_id)]
            assert all("{{" + label + "}}" in legend for label in slo.grouping), (legend, where)
    # The budget, SLI, no-data state, burn rates by window, events, errors and alert states.
    assert grouped >= 2 * 10


def test_the_oracle_sees_an_aggregation_that_folds_the_groups() -> None:
    groupless = {"sloctl:objective:ratio"}
    folded = '1 - max(sloctl:sli_error:ratio_rate5m{sloctl_id="shop-errors"})'
    kept = "max by (sloctl_id, route) (x) / on (sloctl_id) group_left max by (sloctl_id) (y)"
    assert _keeps(pp.parse(folded), "route", groupless) is False
    assert _keeps(pp.parse(kept), "route", groupless) is True
    assert _keeps(pp.parse("max by (sloctl_id) (x) or max(y)"), "route", groupless) is False
    assert _keeps(pp.parse("max(sloctl:objective:ratio)"), "route", groupless) is None


def _aggregations(node: object) -> list[tuple[str, str]]:
    """``(operator, metric)`` of every aggregation directly over a metric in ``node``."""
    out: list[tuple[str, str]] = []

    def visit(n: object) -> None:
        if isinstance(n, pp.AggregateExpr):
            if isinstance(n.expr, pp.VectorSelector):
                out.append((str(n.op), str(n.expr.name)))
            visit(n.expr)
        elif isinstance(n, pp.BinaryExpr):
            visit(n.lhs)
            visit(n.rhs)
        elif isinstance(n, pp.ParenExpr):
            visit(n.expr)
        elif isinstance(n, pp.Call):
            for a in n.args:
                visit(a)

    visit(node)
    return out


def test_the_overview_reads_a_grouped_slos_worst_group_and_says_so() -> None:
    slos = _slos()
    groupless = _groupless(slos)
    board = json.loads(render_dashboards([*slos, *representative_slos()])[f"{overview_uid()}.json"])
    legends = {
        (int(p["id"]), str(t["refId"])): (str(p["title"]), str(t.get("legendFormat", "")))
        for p in iter_panels(board)
        for t in p.get("targets") or []
    }
    worst = {"min": naming.BUDGET_REMAINING, "max": naming.CURRENT_BURN_RATE}
    seen: set[str] = set()
    for q in iter_queries(board):
        tree = pp.parse(expand_macros(q.expr, VARIABLES))
        for op, metric in _aggregations(tree):
            if metric in worst.values():
                # The least budget and the fastest burn of the SLO's groups, labelled as such.
                assert op == {v: k for k, v in worst.items()}[metric], q.expr
                assert "worst group" in " ".join(legends[(q.panel, q.ref_id)]), q
                seen.add(metric)
            if metric == "ALERTS" and "by" in q.expr:
                assert _keeps(tree, "route", groupless) and _keeps(tree, "method", groupless), q.expr
        if "< 0" in q.expr or "== 1" in q.expr:
            # An SLO out of budget (or without data) counts once, however many groups are.
            assert f"count by ({naming.LABEL_ID})" in q.expr, q.expr
    assert seen == set(worst.values())


def test_dashboards_of_grouped_and_ungrouped_slos_pass_the_schemas_and_the_lint() -> None:
    files = render_dashboards([*_slos(), *representative_slos()])
    assert [str(f) for f in check_files(files, schema_dir=SCHEMAS)] == []


@pytest.mark.promtool
def test_a_grouped_slos_panels_return_one_series_per_group_and_status_its_worst_from_a_real_prometheus(
    tmp_path: Path,
) -> None:
    (slo, _) = _slos()
    assert slo.grouping == ("route",)
    end = int(time.time())
    backfill_openmetrics(two_routes(end - 3600, end), tmp_path, tmp_path / "data")
    (tmp_path / "rules.yml").write_text(render_rule_file([slo], ["tests"], "test"))
    with start_prometheus(
        tmp_path,
        config_text="global:\n  evaluation_interval: 1s\nrule_files:\n  - rules.yml\nscrape_configs: []\n",
    ) as server:
        prom = Prom(server.url, "default")
        # Both groups' budgets recorded, then two more evaluations for the rules that read them.
        assert wait_until(lambda: len(prom.query(naming.BUDGET_REMAINING)) == 2, timeout=60, interval=0.25)
        since = time.time() + 2
        assert wait_until(lambda: prom.groups_evaluated_after(since), timeout=60, interval=0.25)
        files = render_dashboards([slo])
        groupless = _groupless((slo,))
        budgets: dict[str, float] = {}
        for q in iter_queries(json.loads(files[f"{service_uid('shop')}.json"])):
            result = prom.query(expand_macros(q.expr, VARIABLES))
            assert result, q
            if _keeps(pp.parse(expand_macros(q.expr, VARIABLES)), "route", groupless):
                routes = [r["metric"]["route"] for r in result]  # type: ignore[index]
                assert sorted(set(routes)) == ["/a", "/b"], (routes, q)
                if q.title == "Error budget remaining":
                    budgets = {str(r["metric"]["route"]): float(r["value"][1]) for r in result}  # type: ignore[index]
        # The healthy group has budget left, the failing one has overspent it: max() showed /a's.
        assert set(budgets) == {"/a", "/b"}, budgets
        assert budgets["/b"] < 0 < budgets["/a"], budgets
        overview = json.loads(files[f"{overview_uid()}.json"])
        (worst,) = [q for q in iter_queries(overview) if q.expr.startswith("min by (")]
        (row,) = prom.query(expand_macros(worst.expr, VARIABLES))
        # The overview's worst group is /b (the series is re-evaluated every second, hence approx).
        assert float(row["value"][1]) == pytest.approx(budgets["/b"], rel=1e-6)  # type: ignore[index]
        # `sloctl status` (and so `gate` and `serve`) shows the same worst group: one row whose
        # budget is /b's (a `max by` showed /a's, and the gate let a frozen group through).
        (status_row,) = collect(server.url).rows
        assert status_row.budget_remaining == pytest.approx(budgets["/b"], rel=1e-4)
        assert status_row.budget_remaining < 0
