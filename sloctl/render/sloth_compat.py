"""``--compat sloth``: rules the same as Sloth v0.16 generates for the same SLOs.

Teams migrating from Sloth keep their Sloth dashboards and alert routes working while they move
to the native rules (``sloctl.render.rules``): the groups, record names, labels, expressions,
alerts and annotations below are Sloth's, including its known weaknesses (the period ratio is an
average of 5-minute ratios, no ``for:``, NaN on quiet services). Golden files from Sloth's own
repository prove the match (tests/rules/test_sloth_compat.py).

Pure: SLOs in, file text out. Inputs read from Sloth's Kubernetes CRD (``sloth.slok.dev/v1``)
become ``PrometheusRule`` documents, everything else plain Prometheus rule files; each source
document gives one YAML document, as ``sloth generate`` writes for a multi-document input.

Where the model holds things Sloth cannot express, the closest Sloth rendering is used:

- latency and probe SLIs (native only) are rendered as the equivalent events SLI would be,
  ``(errors)\\n/\\n(total)``, with the error and total rates of ``sloctl.render.promql``;
- OpenSLO ratio SLIs become Sloth's ``1 - (good / total)`` raw query, and OpenSLO inputs get no
  alerts, as in Sloth (its OpenSLO mapping disables both severities);
- per-tier switches: a severity alerts when it is enabled and at least one of its tiers is
  (Sloth has one rule per severity covering both tiers); ``for`` is dropped (Sloth has none);
- burn factors are computed in Sloth's float order (``pct * period_h / 100 / long_h``), which
  differs from ``BurnWindow.burn_factor`` in the last digit for some periods.

>>> from sloctl.spec import load_paths
>>> slos = load_paths(["in-base.yaml"], sloth_period=28 * 86400, compat="sloth").slos  # doctest: +SKIP
>>> text = render_sloth(slos, version="v0.16.0", extra_labels={"team": "sre"})  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from itertools import groupby

from sloctl.durations import HOUR, format_duration
from sloctl.gofmt import go_float, go_float_f
from sloctl.model import (
    SLO,
    BurnWindow,
    CompositeSLI,
    EventsSLI,
    LatencySLI,
    ProbeSLI,
    RatioSLI,
    RawSLI,
    Severity,
)
from sloctl.render import promql
from sloctl.render.sloth_plugins import Context, RuleGroup, run_chain
from sloctl.render.yamlout import dump_yaml

__all__ = [
    "SLOTH_K8S_VERSION",
    "render_sloth",
    "sloth_documents",
    "sloth_error_budget",
]

SLOTH_K8S_VERSION = "sloth.slok.dev/v1"

# Sloth's label names (internal/prometheus/conventions.go).
_ID = "sloth_id"
_SERVICE = "sloth_service"
_SLO = "sloth_slo"
_WINDOW = "sloth_window"
_SEVERITY = "sloth_severity"
_MODE = "sloth_mode"
_SPEC = "sloth_spec"
_VERSION = "sloth_version"
_OBJECTIVE = "sloth_objective"


Rule = dict[str, object]
Group = dict[str, object]
Document = dict[str, object]


def _hours(seconds: int) -> float:
    """Go's ``time.Duration.Hours()``: whole hours plus the remainder in nanoseconds / 3.6e12."""
    hours, rest = divmod(seconds, HOUR)
    return float(hours) + float(rest * 1_000_000_000) / (60 * 60 * 1e9)


def _burn_factor(window: BurnWindow, period: int) -> float:
    # Sloth's getBurnRateFactor, in its order of float operations, so the digits match.
    return window.budget_percent * _hours(period) / 100 / _hours(window.long_window)


def _mode(spec_version: str) -> str:
    if spec_version == SLOTH_K8S_VERSION:
        return "cli-gen-k8s"
    if spec_version.startswith("openslo/"):
        return "cli-gen-openslo"
    return "cli-gen-prom"


def _id_labels(slo: SLO) -> dict[str, str]:
    return {_ID: slo.id, _SERVICE: slo.service, _SLO: slo.name}


def _filter(slo: SLO) -> str:
    return _label_filter(_id_labels(slo))


def _label_filter(labels: Mapping[str, str]) -> str:
    """Prometheus' ``model.LabelSet.String()``, which Sloth writes filters with."""

    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"')

    return "{" + ", ".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items())) + "}"


def _merge(*maps: Mapping[str, str]) -> dict[str, str]:
    """Sloth's ``mergeLabels``: later maps win; keys sorted, as Go's YAML encoder writes maps."""
    out: dict[str, str] = {}
    for m in maps:
        out.update(m)
    return dict(sorted(out.items()))


def _metric(window: int) -> str:
    return f"slo:sli_error:ratio_rate{format_duration(window)}"


def _sli_expr(slo: SLO, window: int) -> str:
    sli = slo.sli
    w = format_duration(window)
    if isinstance(sli, RawSLI):
        return f"({promql.with_window(sli.error_ratio_query, w)})"
    if isinstance(sli, RatioSLI):
        # Sloth's OpenSLO mapping turns good/total into this raw error-ratio query.
        raw = (
            f"\n  1 - (\n    (\n      {sli.good_query}\n    )\n    /\n    (\n      {sli.total_query}\n"
            "    )\n  )\n"
        )
        return f"({promql.with_window(raw, w)})"
    if isinstance(sli, EventsSLI):
        return f"({promql.with_window(sli.error_query, w)})\n/\n({promql.with_window(sli.total_query, w)})\n"
    if isinstance(sli, (LatencySLI, ProbeSLI)):
        # No Sloth equivalent: rendered as the events SLI with the same error and total rates.
        rates = promql.event_rates(sli, window)
        assert rates is not None
        return f"({rates.errors})\n/\n({rates.total})\n"
    raise TypeError(f"unsupported SLI {sli!r}")  # pragma: no cover


def _windows(slo: SLO) -> list[int]:
    """The SLI windows Sloth records: every alert window, shortest first, then the period."""
    windows = sorted({s for w in slo.windows.windows for s in (w.short_window, w.long_window)})
    if slo.period not in windows:
        windows.append(slo.period)
    return windows


def _sli_rules(slo: SLO, labels: Mapping[str, str], disable_optimized: bool = False) -> list[Rule]:
    quick_short = slo.windows.window("page", "quick").short_window
    rules: list[Rule] = []
    for window in _windows(slo):
        wd = format_duration(window)
        if window == slo.period and window != quick_short and not disable_optimized:
            # Sloth's "optimized" period rule: the average of the short-window ratios.
            metric, flt = _metric(quick_short), _filter(slo)
            expr = (
                f"sum_over_time({metric}{flt}[{wd}])\n/ ignoring ({_WINDOW})\n"
                f"count_over_time({metric}{flt}[{wd}])\n"
            )
        else:
            expr = _sli_expr(slo, window)
        rules.append(
            {
                "record": _metric(window),
                "expr": expr,
                "labels": _merge(_id_labels(slo), {_WINDOW: wd}, labels),
            }
        )
    return rules


def _meta_rules(slo: SLO, labels: Mapping[str, str], version: str) -> list[Rule]:
    flt = _filter(slo)
    base = _merge(_id_labels(slo), labels)
    ratio = go_float(slo.objective / 100)

    def burn(window: int) -> str:
        return (
            f"{_metric(window)}{flt}\n/ on({_ID}, {_SLO}, {_SERVICE}) group_left\n"
            f"slo:error_budget:ratio{flt}\n"
        )

    info = _merge(
        base,
        {
            _VERSION: version,
            _MODE: _mode(slo.spec_version),
            _SPEC: slo.spec_version,
            _OBJECTIVE: go_float_f(slo.objective),
        },
    )
    return [
        {"record": "slo:objective:ratio", "expr": f"vector({ratio})", "labels": dict(base)},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{ratio})", "labels": dict(base)},
        {
            "record": "slo:time_period:days",
            "expr": f"vector({go_float(_hours(slo.period) / 24)})",
            "labels": dict(base),
        },
        {
            "record": "slo:current_burn_rate:ratio",
            "expr": burn(slo.windows.window("page", "quick").short_window),
            "labels": dict(base),
        },
        {"record": "slo:period_burn_rate:ratio", "expr": burn(slo.period), "labels": dict(base)},
        {
            "record": "slo:period_error_budget_remaining:ratio",
            "expr": f"1 - slo:period_burn_rate:ratio{flt}",
            "labels": dict(base),
        },
        {"record": "sloth_slo_info", "expr": "vector(1)", "labels": info},
    ]


def _alerts_enabled(slo: SLO, severity: Severity) -> bool:
    if slo.spec_version.startswith("openslo/"):
        return False  # Sloth's OpenSLO mapping disables page and ticket alerts.
    if not slo.alerting.severity(severity).enabled:
        return False
    tiers = [t for t in slo.alerting.tiers if t.severity == severity]
    return not tiers or any(t.enabled for t in tiers)


def sloth_error_budget(slo: SLO) -> float:
    """The error budget as Sloth computes it, ``(100 − objective) / 100`` in binary floating
    point (0.0009999999999999432 for 99.9), for output identical to Sloth's; sloctl's own rules
    use the exact ``SLO.error_budget`` (0.001)."""
    return (100 - slo.objective) / 100


def _alert_rules(slo: SLO) -> list[Rule]:
    flt = _filter(slo)
    budget = go_float(sloth_error_budget(slo))
    rules: list[Rule] = []
    for severity in ("page", "ticket"):
        sev: Severity = "page" if severity == "page" else "ticket"
        if not _alerts_enabled(slo, sev):
            continue
        quick, slow = slo.windows.window(sev, "quick"), slo.windows.window(sev, "slow")
        qf, sf = go_float(_burn_factor(quick, slo.period)), go_float(_burn_factor(slow, slo.period))

        def cond(window: int, factor: str) -> str:
            return f"    max({_metric(window)}{flt} > ({factor} * {budget})) without ({_WINDOW})"

        expr = (
            f"(\n{cond(quick.short_window, qf)}\n    and\n{cond(quick.long_window, qf)}\n)\n"
            f"or\n(\n{cond(slow.short_window, sf)}\n    and\n{cond(slow.long_window, sf)}\n)\n"
        )
        setting = slo.alerting.severity(sev)
        annotations = {
            "title": f"({sev}) {{{{$labels.{_SERVICE}}}}} {{{{$labels.{_SLO}}}}} SLO error budget burn rate "
            "is too fast.",
            "summary": f"{{{{$labels.{_SERVICE}}}}} {{{{$labels.{_SLO}}}}} SLO error budget burn rate is "
            "over expected.",
        }
        if slo.alerting.runbook_url:
            annotations["runbook_url"] = slo.alerting.runbook_url
        rules.append(
            {
                "alert": slo.alerting.name,
                "expr": expr,
                "labels": _merge({_SEVERITY: sev}, dict(slo.alerting.labels), dict(setting.labels)),
                "annotations": _merge(annotations, dict(slo.alerting.annotations), dict(setting.annotations)),
            }
        )
    return rules


def _groups(
    slos: Sequence[SLO],
    version: str,
    disable_alerts: bool,
    disable_recordings: bool,
    extra_labels: Mapping[str, str],
) -> list[Group]:
    groups: list[Group] = []
    for slo in slos:
        # Sloth's --extra-labels are merged into the SLO's labels, overriding them.
        labels = _merge(dict(slo.labels), extra_labels)
        ctx = Context(
            slo=slo,
            labels=labels,
            sli_rules=partial(_sli_rules, slo, labels),
            meta_rules=partial(_meta_rules, slo, labels, version),
            alert_rules=partial(_alert_rules, slo),
            filter=_label_filter,
            id_labels=_id_labels(slo),
        )
        result = run_chain(ctx)
        parts: list[tuple[str, RuleGroup]] = []
        if not disable_recordings:
            parts += [("sli-recordings", result.sli), ("meta-recordings", result.meta)]
        if not disable_alerts:
            parts.append(("alerts", result.alerts))
        for kind, group in parts:
            if not group.rules:
                continue
            out: Group = {"name": f"sloth-slo-{kind}-{slo.id}"}
            if group.interval:
                out["interval"] = format_duration(group.interval)
            out["rules"] = group.rules
            groups.append(out)
    return groups


def _sorted(value: object) -> object:
    if isinstance(value, dict):
        return {k: _sorted(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def _sorted_keys(doc: Document) -> Document:
    """Kubernetes objects go through JSON on their way to YAML, so every map is key-sorted."""
    return {k: _sorted(v) for k, v in sorted(doc.items())}


def _document_key(slo: SLO) -> tuple[str, str, str, str, str]:
    return (slo.source.file, slo.spec_version, slo.service, slo.document_name, slo.document_namespace)


def sloth_documents(
    slos: Sequence[SLO],
    *,
    version: str,
    disable_alerts: bool = False,
    disable_recordings: bool = False,
    extra_labels: Mapping[str, str] | None = None,
) -> list[Document]:
    """The YAML documents of :func:`render_sloth` as plain data, one per source document."""
    docs: list[Document] = []
    for (_, spec, _, name, namespace), group in groupby(slos, key=_document_key):
        members = list(group)
        groups = _groups(members, version, disable_alerts, disable_recordings, extra_labels or {})
        if not groups:
            # Sloth refuses to write an empty rule file: usually a typo or too many switches off.
            raise ValueError("no rules to write: every recording and alert is disabled")
        if spec == SLOTH_K8S_VERSION:
            # The source object's labels and annotations are copied, Sloth's two labels on top.
            metadata: dict[str, object] = {
                "labels": _merge(
                    dict(members[0].document_labels),
                    {"app.kubernetes.io/component": "SLO", "app.kubernetes.io/managed-by": "sloth"},
                ),
                "name": name,
            }
            if members[0].document_annotations:
                metadata["annotations"] = dict(members[0].document_annotations)
            if namespace:
                metadata["namespace"] = namespace
            doc: Document = {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "PrometheusRule",
                "metadata": metadata,
                "spec": {"groups": groups},
            }
            docs.append(_sorted_keys(doc))
        else:
            docs.append({"groups": groups})
    if not docs:
        raise ValueError("no SLOs to render")
    return docs


def render_sloth(
    slos: Sequence[SLO],
    *,
    version: str,
    disable_alerts: bool = False,
    disable_recordings: bool = False,
    extra_labels: Mapping[str, str] = {},
) -> str:
    """The text ``sloth generate`` (v0.16) writes for ``slos``, with ``version`` as Sloth's
    version string; the options are Sloth's ``--disable-alerts``, ``--disable-recordings`` and
    ``--extra-labels``. Several source documents give a multi-document file.

    >>> from sloctl.spec import load_paths
    >>> slos = load_paths(["in-base.yaml"], compat="sloth").slos                 # doctest: +SKIP
    >>> print(render_sloth(slos, version="v0.16.0")[:60])           # doctest: +SKIP
    <BLANKLINE>
    ---
    # Code generated by Sloth (v0.16.0): https://github.com/slok/sloth.
    """
    cannot = []  # every SLO Sloth cannot express, not only the first
    for slo in slos:
        what = (
            "a composite"
            if isinstance(slo.sli, CompositeSLI)
            else "a timeslice"
            if slo.timeslices
            else "a calendar"
            if slo.calendar
            else None
        )
        if what:
            cannot.append(f"{slo.source}: SLO {slo.id} is {what} SLO, which Sloth cannot express")
    if cannot:
        raise ValueError("\n".join(cannot))
    header = (
        f"\n---\n# Code generated by Sloth ({version}): https://github.com/slok/sloth.\n# DO NOT EDIT.\n\n"
    )
    docs = sloth_documents(
        slos,
        version=version,
        disable_alerts=disable_alerts,
        disable_recordings=disable_recordings,
        extra_labels=extra_labels,
    )
    return "".join(header + dump_yaml(doc) for doc in docs)
