"""PromQL building blocks shared by the rule renderers: SLI queries at a window, selectors."""

from __future__ import annotations

from sloctl import naming
from sloctl.durations import format_duration
from sloctl.model import SLI, SLO, WINDOW_PLACEHOLDER, EventsSLI, LatencySLI, ProbeSLI, RatioSLI, RawSLI


def at_window(query: str, window: int) -> str:
    return query.replace(WINDOW_PLACEHOLDER, format_duration(window)).strip()


def _merge(selector: str, extra: str) -> str:
    inner = selector.strip().strip("{}").strip().rstrip(",")
    return "{" + ", ".join(p for p in (inner, extra) if p) + "}"


def le_matcher(threshold: float) -> str:
    """Matches the bucket at ``threshold`` in both spellings: Prometheus 2 keeps the exporter's
    text (``1``), Prometheus 3 normalises it to a float (``1.0``)."""
    text = f"{threshold:g}" if "e" not in f"{threshold:g}" else repr(threshold)
    spellings = {text, repr(float(threshold))}
    if "." not in text:
        spellings.add(f"{text}.0")
    alts = "|".join(sorted(s.replace(".", "\\\\.") for s in spellings))
    return f'le=~"{alts}"'


def error_rate_template(sli: SLI) -> str | None:
    """Errors per second with ``{{.window}}`` left in; None for raw SLIs, which have no event
    counts. Game days render it at the length of a run."""
    w = WINDOW_PLACEHOLDER
    if isinstance(sli, EventsSLI):
        return sli.error_query.strip()
    if isinstance(sli, RatioSLI):
        return f"({sli.total_query.strip()}) - ({sli.good_query.strip()})"
    if isinstance(sli, LatencySLI):
        total = f"sum(rate({sli.histogram}_count{_merge(sli.selector, '')}[{w}]))"
        good = (
            f"sum(rate({sli.histogram}_bucket{_merge(sli.selector, le_matcher(sli.threshold_seconds))}[{w}]))"
        )
        return f"{total} - {good}"
    if isinstance(sli, ProbeSLI):
        return f"sum(rate({naming.PROBE_FAILURES}{_merge(sli.selector, '')}[{w}]))"
    return None


def error_rate(sli: SLI, window: int) -> str | None:
    """Errors per second over ``window``; None for raw SLIs, which have no event counts."""
    template = error_rate_template(sli)
    return None if template is None else at_window(template, window)


def total_rate_template(sli: SLI) -> str | None:
    """Events per second with ``{{.window}}`` left in; None for raw SLIs."""
    w = WINDOW_PLACEHOLDER
    if isinstance(sli, (EventsSLI, RatioSLI)):
        return sli.total_query.strip()
    if isinstance(sli, LatencySLI):
        return f"sum(rate({sli.histogram}_count{_merge(sli.selector, '')}[{w}]))"
    if isinstance(sli, ProbeSLI):
        return f"sum(rate({naming.PROBE_ATTEMPTS}{_merge(sli.selector, '')}[{w}]))"
    return None


def total_rate(sli: SLI, window: int) -> str | None:
    template = total_rate_template(sli)
    return None if template is None else at_window(template, window)


def raw_ratio(sli: RawSLI, window: int) -> str:
    return at_window(sli.error_ratio_query, window)


def slo_selector(slo: SLO) -> str:
    """Selects the series of one SLO among the generated recordings."""
    return (
        f'{{{naming.LABEL_ID}="{slo.id}", {naming.LABEL_SERVICE}="{slo.service}", '
        f'{naming.LABEL_SLO}="{slo.name}"}}'
    )


def fmt_number(value: float) -> str:
    """Shortest round-trip spelling of a float, as Go's strconv prints it for these values."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
