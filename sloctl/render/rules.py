"""Prometheus recording and alerting rules for SLOs (design and error bound: docs/rules.md).

Pure: ``render_groups`` turns SLOs into rule groups (plain data); ``render_rule_file`` into the
text of a rule file. One group per SLO holds its recordings and its alerts, because alerts that
read recordings from another group were flaky under promtool in our trials.

Long windows are events-weighted and cheap: the SLO's numerator and denominator are recorded
once at 5m (``sloctl:sli_errors:rate5m``, ``sloctl:sli_events:rate5m``), and every longer window
is ``sum_over_time(errors) / sum_over_time(events)`` over those recordings — Σerrors / Σevents,
never an average of short ratios and never a range query over the raw series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sloctl import naming
from sloctl.durations import format_duration
from sloctl.model import SLO, RawSLI
from sloctl.render import promql
from sloctl.render.yamlout import dump_yaml

__all__ = ["RuleOptions", "alert_windows", "render_groups", "render_rule_file"]

# Division guard: with no traffic the ratio is 0 (no budget burnt), never NaN.
_EPSILON = "1e-12"


@dataclass(frozen=True)
class RuleOptions:
    interval: int | None = None
    """Evaluation interval of the groups in seconds; None uses Prometheus' global one."""
    extra_labels: tuple[tuple[str, str], ...] = ()


Rule = dict[str, object]
Group = dict[str, object]


def alert_windows(slo: SLO) -> list[int]:
    """Every window the rules of ``slo`` record, shortest first, the period last."""
    windows = {naming.BASE_WINDOW, slo.period}
    for w in slo.windows.windows:
        windows.update((w.short_window, w.long_window))
    return sorted(windows)


def _labels(slo: SLO, options: RuleOptions, **extra: str) -> dict[str, str]:
    out = dict(slo.labels)
    out.update(options.extra_labels)
    out.update({naming.LABEL_ID: slo.id, naming.LABEL_SERVICE: slo.service, naming.LABEL_SLO: slo.name})
    out.update(extra)
    return dict(sorted(out.items()))


def _sli_rules(slo: SLO, options: RuleOptions) -> list[Rule]:
    sel = promql.slo_selector(slo)
    base = naming.BASE_WINDOW
    rules: list[Rule] = []
    if isinstance(slo.sli, RawSLI):
        # No event counts: the ratio is recorded at 5m and longer windows are time-weighted
        # averages of it (docs/rules.md explains the cost of exactness here).
        rules.append(
            {
                "record": naming.error_ratio(base),
                "expr": f"({promql.raw_ratio(slo.sli, base)}) or on() vector(0)",
                "labels": _labels(slo, options, **{naming.LABEL_WINDOW: format_duration(base)}),
            }
        )
        for w in alert_windows(slo):
            if w == base:
                continue
            rules.append(
                {
                    "record": naming.error_ratio(w),
                    "expr": f"avg_over_time({naming.error_ratio(base)}{sel}[{format_duration(w)}])",
                    "labels": _labels(slo, options, **{naming.LABEL_WINDOW: format_duration(w)}),
                }
            )
        return rules
    errors = promql.error_rate(slo.sli, base)
    total = promql.total_rate(slo.sli, base)
    # `or on() vector(0)`: an error series that never appeared (no 5xx yet) must read as zero
    # errors, not as "no data" that would blank every ratio built on it.
    rules.append(
        {
            "record": naming.errors_rate(),
            "expr": f"({errors}) or on() vector(0)",
            "labels": _labels(slo, options),
        }
    )
    rules.append(
        {
            "record": naming.events_rate(),
            "expr": f"({total}) or on() vector(0)",
            "labels": _labels(slo, options),
        }
    )
    rules.append(
        {
            "record": naming.error_ratio(base),
            "expr": f"{naming.errors_rate()}{sel}\n/\nclamp_min({naming.events_rate()}{sel}, {_EPSILON})",
            "labels": _labels(slo, options, **{naming.LABEL_WINDOW: format_duration(base)}),
        }
    )
    for w in alert_windows(slo):
        if w == base:
            continue
        wd = format_duration(w)
        rules.append(
            {
                "record": naming.error_ratio(w),
                "expr": (
                    f"sum_over_time({naming.errors_rate()}{sel}[{wd}])\n/\n"
                    f"clamp_min(sum_over_time({naming.events_rate()}{sel}[{wd}]), {_EPSILON})"
                ),
                "labels": _labels(slo, options, **{naming.LABEL_WINDOW: wd}),
            }
        )
    return rules


def _meta_rules(slo: SLO, options: RuleOptions) -> list[Rule]:
    sel = promql.slo_selector(slo)
    budget = promql.fmt_number(slo.error_budget)
    period_ratio = f"max without ({naming.LABEL_WINDOW}) ({naming.error_ratio(slo.period)}{sel})"
    rules: list[Rule] = [
        {
            "record": naming.OBJECTIVE,
            "expr": f"vector({promql.fmt_number(slo.objective / 100)})",
            "labels": _labels(slo, options),
        },
        {"record": naming.ERROR_BUDGET, "expr": f"vector({budget})", "labels": _labels(slo, options)},
        {"record": naming.PERIOD_SECONDS, "expr": f"vector({slo.period})", "labels": _labels(slo, options)},
        {
            "record": naming.CURRENT_BURN_RATE,
            "expr": (
                f"max without ({naming.LABEL_WINDOW}) ({naming.error_ratio(naming.BASE_WINDOW)}{sel})"
                f" / {budget}"
            ),
            "labels": _labels(slo, options),
        },
        {
            "record": naming.PERIOD_BURN_RATE,
            "expr": f"{period_ratio} / {budget}",
            "labels": _labels(slo, options),
        },
        {
            "record": naming.BUDGET_REMAINING,
            "expr": f"1 - {naming.PERIOD_BURN_RATE}{sel}",
            "labels": _labels(slo, options),
        },
    ]
    for tier in slo.alerting.enabled_tiers:
        rules.append(
            {
                "record": naming.BURN_RATE_THRESHOLD,
                "expr": f"vector({promql.fmt_number(tier.window.burn_factor(slo.period))})",
                "labels": _labels(slo, options, **{naming.LABEL_TIER: tier.name}),
            }
        )
    rules.append(
        {
            "record": naming.SLO_INFO,
            "expr": "vector(1)",
            "labels": _labels(
                slo,
                options,
                sloctl_objective=promql.fmt_number(slo.objective),
                sloctl_period=format_duration(slo.period),
                sloctl_sli=slo.sli.kind,
                sloctl_spec=slo.spec_version,
            ),
        }
    )
    return rules


def _alert_rules(slo: SLO, options: RuleOptions) -> list[Rule]:
    sel = promql.slo_selector(slo)
    budget = promql.fmt_number(slo.error_budget)
    rules: list[Rule] = []
    for tier in slo.alerting.enabled_tiers:
        w = tier.window
        factor = promql.fmt_number(w.burn_factor(slo.period))
        long_w, short_w = format_duration(w.long_window), format_duration(w.short_window)

        def burn(window: int, factor: str = factor) -> str:
            return (
                f"max without ({naming.LABEL_WINDOW}) ({naming.error_ratio(window)}{sel}) / {budget}"
                f" > {factor}"
            )

        # The long window comes first so that the alert's value is its burn rate.
        expr = f"(\n  {burn(w.long_window)}\n)\nand\n(\n  {burn(w.short_window)}\n)"
        if slo.alerting.min_events > 0 and tier.severity == "page":
            # Low-traffic guard: a handful of errors on a quiet night must not page.
            expr += (
                f"\nand on ({naming.LABEL_ID})\n(\n  avg_over_time({naming.events_rate()}{sel}[{long_w}])"
                f" * {w.long_window} >= {promql.fmt_number(slo.alerting.min_events)}\n)"
            )
        sev = slo.alerting.severity(tier.severity)
        labels = dict(slo.alerting.labels)
        labels.update(sev.labels)
        labels.update({naming.LABEL_SEVERITY: tier.severity, naming.LABEL_TIER: tier.name})
        pct = promql.fmt_number(w.budget_percent)
        annotations = {
            "summary": (
                f"{{{{ $labels.{naming.LABEL_SERVICE} }}}} {{{{ $labels.{naming.LABEL_SLO} }}}}: "
                f"error budget burning {factor}x too fast ({tier.severity})"
            ),
            "description": (
                f"SLO {slo.name} of {slo.service} (objective {promql.fmt_number(slo.objective)}% over "
                f"{format_duration(slo.period)}) is burning its error budget at "
                f'{{{{ printf "%.2f" $value }}}}x over the last {long_w} '
                f"(and above {factor}x over {short_w}). "
                f"At this rate {pct}% of the budget is gone within {long_w}."
            ),
        }
        annotations.update(slo.alerting.annotations)
        annotations.update(sev.annotations)
        if slo.alerting.runbook_url:
            annotations["runbook_url"] = slo.alerting.runbook_url
        rule: Rule = {"alert": slo.alerting.name, "expr": expr}
        if tier.for_seconds:
            rule["for"] = format_duration(tier.for_seconds)
        rule["labels"] = dict(sorted(labels.items()))
        rule["annotations"] = dict(sorted(annotations.items()))
        rules.append(rule)
    return rules


def render_groups(slos: Sequence[SLO], options: RuleOptions = RuleOptions()) -> list[Group]:
    """One group per SLO: its SLI recordings, metadata recordings, then its alerts."""
    groups: list[Group] = []
    for slo in slos:
        group: Group = {"name": naming.rule_group(slo.service, slo.name)}
        if options.interval:
            group["interval"] = format_duration(options.interval)
        group["rules"] = [*_sli_rules(slo, options), *_meta_rules(slo, options), *_alert_rules(slo, options)]
        groups.append(group)
    return groups


def header(sources: Sequence[str], version: str) -> str:
    return (
        f"# Code generated by sloctl {version} from {', '.join(sources)}. DO NOT EDIT.\n"
        "# Regenerate with: sloctl generate\n"
    )


def render_rule_file(
    slos: Sequence[SLO], sources: Sequence[str], version: str, options: RuleOptions = RuleOptions()
) -> str:
    """The text of a Prometheus rule file for ``slos``."""
    return header(sources, version) + dump_yaml({"groups": render_groups(slos, options)})
