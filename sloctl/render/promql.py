"""The one place PromQL is built: selectors with correctly escaped label values, SLI queries at
a window. Rules, dashboards, game-day probes, backtests and ``sloctl status`` build their
queries here.

>>> selector(c.API_REQUESTS, route="/v1/projects", code='5"x')
'platform_http_requests_total{route="/v1/projects", code="5\\\\"x"}'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from sloctl import contract as c
from sloctl import naming
from sloctl.durations import format_duration
from sloctl.model import SLI, SLO, WINDOW_PLACEHOLDER, EventsSLI, LatencySLI, ProbeSLI, RatioSLI, RawSLI

#: what a character becomes inside a double-quoted PromQL string: the escapes Go's
#: strconv.Unquote (Prometheus) and the Rust promql-parser both read back
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(value: str) -> str:
    """``value`` as a PromQL string literal: backslash, quote and control characters escaped,
    everything else (any Unicode) kept as it is."""
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def matchers(labels: Mapping[str, str] | None = None, op: str = "=", /, **more: str) -> str:
    """``{a="x", b="y"}`` with every value quoted by :func:`quote` (``op`` for all of them)."""
    pairs = {**(labels or {}), **more}
    return "{" + ", ".join(f"{name}{op}{quote(str(value))}" for name, value in pairs.items()) + "}"


def selector(metric: c.Metric | str, labels: Mapping[str, str] | None = None, /, **more: str) -> str:
    """A vector selector: ``metric{label="value", …}`` (no braces when there is no label)."""
    name = metric.name if isinstance(metric, c.Metric) else metric
    pairs = {**(labels or {}), **more}
    return name + (matchers(pairs) if pairs else "")


def with_window(query: str, window: str) -> str:
    """``query`` with its ``{{.window}}`` written as ``window``, a PromQL duration or a template
    (the model keeps the placeholder in that one spelling, ``sloctl.model.canonical_window``)."""
    return query.replace(WINDOW_PLACEHOLDER, window)


def at_window(query: str, window: int) -> str:
    return with_window(query, format_duration(window)).strip()


def _merge(selector: str, extra: str) -> str:
    inner = selector.strip().strip("{}").strip().rstrip(",")
    return "{" + ", ".join(p for p in (inner, extra) if p) + "}"


def le_text(threshold: float) -> str:
    """The bucket bound ``threshold`` as exporters write it (``0.25``, ``1``)."""
    return f"{threshold:g}" if "e" not in f"{threshold:g}" else repr(threshold)


def le_matcher(threshold: float) -> str:
    """Matches the bucket at ``threshold`` in both spellings: Prometheus 2 keeps the exporter's
    text (``1``), Prometheus 3 normalises it to a float (``1.0``)."""
    text = le_text(threshold)
    spellings = {text, repr(float(threshold))}
    if "." not in text:
        spellings.add(f"{text}.0")
    alts = "|".join(sorted(s.replace(".", "\\\\.") for s in spellings))
    return f'le=~"{alts}"'


def histogram_series(sli: LatencySLI, suffix: str, le: str = "") -> str:
    """The selector of a latency SLI's ``_count`` or ``_bucket`` series, with ``le`` (a
    matcher) beside the SLI's own matchers."""
    return f"{sli.histogram}_{suffix}{_merge(sli.selector, le)}"


def latency_rates(sli: LatencySLI, window: int | None = None) -> tuple[str, str]:
    """A latency SLI's events per second, and those at or under its threshold (its bucket at the
    threshold: no series at all where no bucket has that bound), over ``window`` (``None``: with
    ``{{.window}}`` left in). Neither is ever NaN, on any engine."""
    w = WINDOW_PLACEHOLDER
    total = f"sum(rate({histogram_series(sli, 'count')}[{w}]))"
    at_threshold = f"sum(rate({histogram_series(sli, 'bucket', le_matcher(sli.threshold_seconds))}[{w}]))"
    if window is None:
        return total, at_threshold
    return at_window(total, window), at_window(at_threshold, window)


class EventRates(NamedTuple):
    """An SLI's errors and events per second, both over the same window."""

    errors: str
    total: str


def event_rates(sli: SLI, window: int | None = None) -> EventRates | None:
    """The errors and events per second of ``sli`` over ``window`` (``None``: with
    ``{{.window}}`` left in, as game days and the converters want them); None for raw SLIs,
    which have no event counts."""
    w = WINDOW_PLACEHOLDER
    if isinstance(sli, EventsSLI):
        rates = EventRates(sli.error_query.strip(), sli.total_query.strip())
    elif isinstance(sli, RatioSLI):
        total = sli.total_query.strip()
        rates = EventRates(f"({total}) - ({sli.good_query.strip()})", total)
    elif isinstance(sli, LatencySLI):
        total, at_threshold = latency_rates(sli)
        # No bucket at the threshold (one that is not a bucket bound) while the count has
        # events: the errors are unknown, NaN, never "no series", which the rules read as zero
        # errors, a perfect SLO. NaN carries through every window and budget built on them on
        # Prometheus; MetricsQL drops it, and the errors have no sample there instead (the
        # rules take both alike: sloctl.render.rules._errors_or_zero).
        good = f"({at_threshold} or {total} * NaN)"
        rates = EventRates(f"{total} - {good}", total)
    elif isinstance(sli, ProbeSLI):
        sel = _merge(sli.selector, "")
        rates = EventRates(
            f"sum(rate({c.PROBE_FAILURES.name}{sel}[{w}]))", f"sum(rate({c.PROBE_ATTEMPTS.name}{sel}[{w}]))"
        )
    else:
        return None
    if window is None:
        return rates
    return EventRates(at_window(rates.errors, window), at_window(rates.total, window))


def takes_window(sli: SLI) -> bool:
    """Whether every query of ``sli`` reads ``{{.window}}``, so that it can be run over any window.
    One without (a precomputed ratio such as ``job:availability:ratio``, or a rate over a fixed
    range) gives the same value at every window: its windows are built from its 5m recordings."""
    if isinstance(sli, EventsSLI):
        queries: tuple[str, ...] = (sli.error_query, sli.total_query)
    elif isinstance(sli, RatioSLI):
        queries = (sli.good_query, sli.total_query)
    elif isinstance(sli, RawSLI):
        queries = (sli.error_ratio_query,)
    else:
        return True  # latency, probe and composite queries are sloctl's own, over the window
    return all(WINDOW_PLACEHOLDER in q for q in queries)


def tiled_sum(series: str, window: int, tile: int) -> str:
    """``series``, a rate recorded over ``tile``, summed at ``tile`` steps back across ``window``:
    the tiles cover the window edge to edge, so the sum is the window's rate × ``window / tile``
    with every event counted once. Where one tile finds no recording (a rule file younger than
    the window, a missed evaluation) the sum has no value, and the caller falls back on what the
    recordings hold (``rules._occurrence_rules``)."""
    older = [f"{series} offset {format_duration(k * tile)}" for k in range(1, window // tile)]
    return "(\n  " + "\n  + ".join([series, *older]) + "\n)"


def labelled_union(label: str, exprs: Mapping[str, str]) -> str:
    """One series per ``label`` value, each expression's single series labelled with its key: one
    rule where there would be one per value (vmalert sends every rule as its own query)."""
    labelled = (f'label_replace({e}, {quote(label)}, {quote(v)}, "", "")' for v, e in exprs.items())
    return "\nor\n".join(labelled)


def raw_ratio(sli: RawSLI, window: int) -> str:
    return at_window(sli.error_ratio_query, window)


def slo_selector(slo: SLO) -> str:
    """Selects the series of one SLO among the generated recordings."""
    return matchers({naming.LABEL_ID: slo.id, naming.LABEL_SERVICE: slo.service, naming.LABEL_SLO: slo.name})


def fmt_number(value: float) -> str:
    """Shortest round-trip spelling of a float, as Go's strconv prints it for these values."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
