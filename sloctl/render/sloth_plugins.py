"""Sloth v0.16's built-in SLO plugins, for ``--compat sloth``: what each does to the rules.

Sloth builds an SLO's rules by running a chain of plugins over one result (three rule groups:
SLI recordings, metadata recordings, alerts, and extra groups): the plugins with a priority
below 0, then its default chain (``validate``, ``sli_rules``, ``metadata_rules``,
``alert_rules``) unless a chain says ``overridePrevious``, then the others, each set in stable
order of priority. This module is that pipeline over our rendering of the default plugins
(``sloctl.render.sloth_compat``), with the effect of every other built-in plugin reproduced as
Sloth's source defines it. An id outside ``SLO_PLUGINS`` is refused when the spec is read
(``sloctl.spec.sloth``).

The validators (``validate``, ``validate_victoria_metrics``) change no output: sloctl validates
when it reads the file (MetricsQL is accepted only with ``validate_victoria_metrics`` and only
for ``--compat sloth``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sloctl.durations import DurationError, format_duration, parse_duration
from sloctl.gofmt import go_float
from sloctl.model import SLO, EventsSLI, PluginRef
from sloctl.render.promql import with_window

Rule = dict[str, object]


@dataclass
class RuleGroup:
    rules: list[Rule] = field(default_factory=list)
    interval: int | None = None


@dataclass
class Result:
    """Sloth's ``SLORules``: what the chain builds for one SLO."""

    sli: RuleGroup = field(default_factory=RuleGroup)
    meta: RuleGroup = field(default_factory=RuleGroup)
    alerts: RuleGroup = field(default_factory=RuleGroup)


@dataclass(frozen=True)
class Context:
    """What a plugin sees besides the result: the SLO, its labels (extra labels merged) and the
    renderers of Sloth's default plugins."""

    slo: SLO
    labels: Mapping[str, str]
    sli_rules: Callable[[bool], list[Rule]]
    """Sloth's SLI recordings; the argument is ``disableOptimized``."""
    meta_rules: Callable[[], list[Rule]]
    alert_rules: Callable[[], list[Rule]]
    filter: Callable[[Mapping[str, str]], str]
    """A Prometheus label filter as Sloth writes one (``model.LabelSet.String()``)."""
    id_labels: Mapping[str, str]


Processor = Callable[[Context, Mapping[str, object], Result], None]


def _none(_ctx: Context, _config: Mapping[str, object], _result: Result) -> None:
    """Validators and ``debug``/``noop``: no change to the rules."""


def _sli_rules(ctx: Context, config: Mapping[str, object], result: Result) -> None:
    result.sli.rules = ctx.sli_rules(bool(config.get("disableOptimized", False)))


def _meta_rules(ctx: Context, _config: Mapping[str, object], result: Result) -> None:
    result.meta.rules = ctx.meta_rules()


def _alert_rules(ctx: Context, _config: Mapping[str, object], result: Result) -> None:
    result.alerts.rules = ctx.alert_rules()


def _merge(*maps: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for m in maps:
        out.update(m)
    return dict(sorted(out.items()))


def _info_labels(ctx: Context, config: Mapping[str, object], result: Result) -> None:
    name = str(config.get("metricName") or "sloth_slo_info")
    extra = config.get("labels")
    assert isinstance(extra, dict)
    for i, rule in enumerate(result.meta.rules):
        if rule.get("record") == name:
            labels = rule.get("labels")
            result.meta.rules[i] = {
                **rule,
                "labels": _merge(labels if isinstance(labels, dict) else {}, extra),
            }
            break


def _seconds(value: object) -> int:
    return parse_duration(str(value)) if value else 0


def _rule_intervals(_ctx: Context, config: Mapping[str, object], result: Result) -> None:
    interval = config.get("interval")
    assert isinstance(interval, dict)
    default = _seconds(interval.get("default"))
    result.sli.interval = _seconds(interval.get("sliError")) or default
    result.meta.interval = _seconds(interval.get("metadata")) or default
    result.alerts.interval = _seconds(interval.get("alert")) or default


_CORRECTION = "slo:numerator_correction:ratio"


def _denominator_corrected(ctx: Context, config: Mapping[str, object], result: Result) -> None:
    slo = ctx.slo
    sli = slo.sli
    assert isinstance(sli, EventsSLI)
    windows = sorted({s for w in slo.windows.windows for s in (w.short_window, w.long_window)})
    flt = ctx.filter(ctx.id_labels)
    quick_short = format_duration(slo.windows.window("page", "quick").short_window)
    sli_rules: list[Rule] = []
    for window in [*windows, slo.period]:
        wd = format_duration(window)
        if window == slo.period and not config.get("disableOptimized"):
            metric = f"slo:sli_error:ratio_rate{quick_short}{flt}"
            expr = (
                f"sum_over_time({metric}[{wd}])\n/ ignoring (sloth_window)\ncount_over_time({metric}[{wd}])\n"
            )
        elif window == slo.period:
            expr = f"({with_window(sli.error_query, wd)})\n/\n({with_window(sli.total_query, wd)})\n"
        else:
            expr = (
                f"(\n{_CORRECTION}{wd}{flt}\n* on()\n{with_window(sli.error_query, wd)}\n)\n/\n"
                f"({with_window(sli.total_query, wd)})\n"
            )
        sli_rules.append(
            {
                "record": f"slo:sli_error:ratio_rate{wd}",
                "expr": expr,
                "labels": _merge(ctx.id_labels, {"sloth_window": wd}, ctx.labels),
            }
        )
    result.sli.rules = sli_rules
    period = format_duration(slo.period)
    for window in windows:
        wd = format_duration(window)
        result.meta.rules.append(
            {
                "record": f"{_CORRECTION}{wd}",
                "expr": f"({with_window(sli.total_query, wd)})/({with_window(sli.total_query, period)})",
                "labels": _merge(ctx.id_labels, ctx.labels),
            }
        )


def _budget_exhausted(ctx: Context, config: Mapping[str, object], result: Result) -> None:
    slo = ctx.slo
    selector = {**ctx.id_labels, **dict(slo.labels), **_strings(config.get("selector_labels"))}
    threshold = float(config.get("threshold") or 0)  # type: ignore[arg-type]
    rule: Rule = {
        "alert": str(config.get("alert_name") or "ErrorBudgetExhausted"),
        "expr": f"slo:period_error_budget_remaining:ratio{ctx.filter(selector)} <= {go_float(threshold)}",
        "for": format_duration(_seconds(config.get("for")) or 300),
    }
    labels = _strings(config.get("alert_labels"))
    annotations = _strings(config.get("annotations"))
    if labels:
        rule["labels"] = dict(sorted(labels.items()))
    if annotations:
        rule["annotations"] = dict(sorted(annotations.items()))
    result.alerts.rules.append(rule)


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _remove_labels(ctx: Context, config: Mapping[str, object], result: Result) -> None:
    keep = {"sloth_window", *ctx.id_labels, *_list(config.get("preserveLabels"))}
    skip = {"sloth_slo_info", *_list(config.get("skipMetrics"))}
    for group, kept in ((result.sli, keep), (result.meta, keep - {"sloth_window"})):
        for i, rule in enumerate(group.rules):
            labels = rule.get("labels")
            if rule.get("record") in skip or not isinstance(labels, dict):
                continue
            group.rules[i] = {**rule, "labels": {k: v for k, v in labels.items() if k in kept}}


def _list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


# -- configuration checks, when the spec is read ---------------------------------------------


def _need_labels(config: Mapping[str, object]) -> list[str]:
    labels = config.get("labels")
    if not isinstance(labels, dict) or not labels:
        return ["labels: at least one label is required"]
    return [f"labels.{k}: expected a string" for k, v in labels.items() if not isinstance(v, str)]


def _need_interval(config: Mapping[str, object]) -> list[str]:
    interval = config.get("interval")
    if not isinstance(interval, dict) or not interval.get("default"):
        return ["interval.default: at least the default interval is required"]
    problems = []
    for key in ("default", "sliError", "metadata", "alert"):
        if interval.get(key):
            try:
                parse_duration(str(interval[key]))
            except DurationError as exc:
                problems.append(f"interval.{key}: {exc}")
    return problems


@dataclass(frozen=True)
class Plugin:
    run: Processor
    check: Callable[[Mapping[str, object]], list[str]] = lambda _c: []
    events_only: bool = False


SLO_PLUGINS: dict[str, Plugin] = {
    "sloth.dev/core/debug/v1": Plugin(_none),
    "sloth.dev/core/noop/v1": Plugin(_none),
    "sloth.dev/core/validate/v1": Plugin(_none),
    "sloth.dev/core/sli_rules/v1": Plugin(_sli_rules),
    "sloth.dev/core/metadata_rules/v1": Plugin(_meta_rules),
    "sloth.dev/core/alert_rules/v1": Plugin(_alert_rules),
    "sloth.dev/contrib/validate_victoria_metrics/v1": Plugin(_none),
    "sloth.dev/contrib/info_labels/v1": Plugin(_info_labels, _need_labels),
    "sloth.dev/contrib/rule_intervals/v1": Plugin(_rule_intervals, _need_interval),
    "sloth.dev/contrib/denominator_corrected_rules/v1": Plugin(_denominator_corrected, events_only=True),
    "sloth.dev/contrib/error_budget_exhausted_alert/v1": Plugin(_budget_exhausted),
    "sloth.dev/contrib/remove_labels/v1": Plugin(_remove_labels),
}
"""Every SLO plugin Sloth v0.16 ships, by id."""

DEFAULT_CHAIN = (
    "sloth.dev/core/validate/v1",
    "sloth.dev/core/sli_rules/v1",
    "sloth.dev/core/metadata_rules/v1",
    "sloth.dev/core/alert_rules/v1",
)
VICTORIA_METRICS = "sloth.dev/contrib/validate_victoria_metrics/v1"
NEUTRAL = (*DEFAULT_CHAIN, "sloth.dev/core/debug/v1", "sloth.dev/core/noop/v1")
"""Plugins that leave Sloth's default output as it is."""


def chain(slo: SLO) -> list[PluginRef]:
    """The plugins Sloth runs for ``slo``, in order."""
    ordered = sorted(slo.plugins.chain, key=lambda p: p.priority)  # stable, as Go's SortStableFunc
    before = [p for p in ordered if p.priority < 0]
    after = [p for p in ordered if p.priority >= 0]
    defaults = [] if slo.plugins.override else [PluginRef(i) for i in DEFAULT_CHAIN]
    return [*before, *defaults, *after]


def run_chain(ctx: Context) -> Result:
    result = Result()
    for ref in chain(ctx.slo):
        config = json.loads(ref.config)
        SLO_PLUGINS[ref.id].run(ctx, config if isinstance(config, dict) else {}, result)
    return result
