"""The test twin of an SLO (same rules, synthetic counters) and its designed detection times."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from sloctl import naming
from sloctl.model import SLO, AlertTier, CompositeSLI, EventsSLI
from sloctl.render.rules import sharp_window

from ._params import COMPONENT_LABEL, ERRORS_METRIC, REQUESTS_METRIC, SLICE


def _untemplated(annotations: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((k, v) for k, v in annotations if "{{" not in v)


def twin(slo: SLO, component: str | None = None) -> SLO:
    """The SLO with its SLI replaced by the synthetic test counters (labelled ``component`` for
    a composite's members; a composite keeps its own SLI). The user's annotations that are Go
    templates are left out of the twin: Prometheus expands them and nothing here could predict
    their text; the alerting logic under test does not depend on them."""
    a = slo.alerting
    alerting = replace(
        a,
        annotations=_untemplated(a.annotations),
        page=replace(a.page, annotations=_untemplated(a.page.annotations)),
        ticket=replace(a.ticket, annotations=_untemplated(a.ticket.annotations)),
    )
    if isinstance(slo.sli, CompositeSLI):
        return replace(slo, alerting=alerting)
    sel = f'{{{COMPONENT_LABEL}="{component}"}}' if component else ""
    return replace(
        slo,
        alerting=alerting,
        sli=EventsSLI(
            f"sum(rate({ERRORS_METRIC}{sel}[{{{{.window}}}}]))",
            f"sum(rate({REQUESTS_METRIC}{sel}[{{{{.window}}}}]))",
        ),
    )


def twin_slos(slo: SLO, service_slos: Sequence[SLO] = ()) -> list[SLO]:
    """The twin of ``slo`` and, for a composite, the twins of its components first (from
    ``service_slos``), each reading its own counters."""
    if not isinstance(slo.sli, CompositeSLI):
        return [twin(slo)]
    by_name = {s.name: s for s in service_slos if s.service == slo.service}
    members = []
    for c in slo.sli.components:
        if c.slo not in by_name:
            raise ValueError(f"composite SLO {slo.id}: component {c.slo!r} is not among the SLOs")
        members.append(twin(by_name[c.slo], component=c.slo))
    return [*members, twin(slo)]


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def promql_names(expr: str) -> set[str]:
    """Every word of ``expr`` that could be a metric name (a superset: functions, labels too)."""
    return set(_NAME.findall(expr))


def _rule_name(rule: dict[str, object]) -> str:
    return str(rule.get("record") or rule["alert"])


def rules_read(groups: Sequence[dict[str, object]], names: Iterable[str]) -> frozenset[str]:
    """The rules (by record or alert name) that the series and alerts ``names`` are computed
    from: those rules and, transitively, every recording their expressions name. A rule reads a
    series by its metric name (the renderer writes no ``__name__`` matcher), so the rules left out
    compute nothing the named ones read: in a rule file of these rules alone, the named ones
    record the same samples at the same times as in the whole file."""
    rules = [r for g in groups for r in g["rules"]]  # type: ignore[attr-defined]
    by_name: dict[str, list[dict[str, object]]] = {}
    for r in rules:
        if "__name__" in str(r["expr"]):
            raise ValueError(f"rule {_rule_name(r)} selects series by __name__: cannot tell what it reads")
        by_name.setdefault(_rule_name(r), []).append(r)
    needed: set[str] = set()
    todo = [n for n in names if n in by_name]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        needed.add(name)
        todo.extend(n for r in by_name[name] for n in promql_names(str(r["expr"])) if n in by_name)
    return frozenset(needed)


def only_rules(groups: Sequence[dict[str, object]], names: frozenset[str]) -> list[dict[str, object]]:
    """``groups`` with only the rules ``names``, in their order (groups left empty dropped)."""
    out = []
    for g in groups:
        kept = [r for r in g["rules"] if _rule_name(r) in names]  # type: ignore[attr-defined]
        if kept:
            out.append({**g, "rules": kept})
    return out


def designed_detection(
    slo: SLO,
    tier: AlertTier,
    burn: float,
    eval_step: int = SLICE,
    *,
    scrape: int | None = None,
    period: int | None = None,
) -> int:
    """Designed time from the start of a constant burn (``burn`` × budget) to the alert firing,
    for a service whose windows were healthy before; ``scrape`` defaults to ``eval_step`` and
    ``period`` (the current period's length, for a calendar SLO) to ``slo.period``.

    - The sharp long window (``sharp_window``, the quick page's: its 5m tiles, or the raw series)
      crosses the factor after ``W × factor / burn``; the errors show in the next scrape and the
      crossing in the next evaluation.
    - A long window summed from the 5m recordings crosses after ``(W + i) × factor / burn``
      (a range selector holds the samples at both ends); the 5m rate ramps in over one base
      window, delaying that by half of it; then the next evaluation.
    - A timeslice SLO (every request slow or failing from the start) fires once its long
      window holds more than ``factor × budget`` of its slices bad: the ``n``-th bad slice ends
      at most ``n`` slices after the start (the slice the breach starts in is already bad), is
      scraped and seen at the next evaluation.

    ``for`` is added, rounded up to evaluations.
    """
    factor = tier.window.budget_percent / 100 * (period or slo.period) / tier.window.long_window
    pending = math.ceil(tier.for_seconds / eval_step) * eval_step
    long_w = tier.window.long_window
    if slo.timeslices is not None:
        size = slo.timeslices.slice_seconds
        n = math.floor(factor * slo.error_budget * (long_w // size)) + 1
        return n * size + (scrape or eval_step) + eval_step + pending
    if burn <= factor:
        raise ValueError("a burn at or below the factor never fires")
    if long_w == sharp_window(slo):
        crossing = long_w * factor / burn + (scrape or eval_step)
    else:
        crossing = (long_w + eval_step) * factor / burn + naming.BASE_WINDOW / 2
    return math.ceil(crossing + eval_step + pending)


def timeslice_slices_to_fire(slo: SLO, tier: AlertTier, period: int | None = None) -> int:
    """Bad slices in a row after which the tier's long window holds more than ``factor ×
    budget`` of bad slices (the window holds ``W / slice`` slices)."""
    assert slo.timeslices is not None
    factor = tier.window.budget_percent / 100 * (period or slo.period) / tier.window.long_window
    return math.floor(factor * slo.error_budget * (tier.window.long_window // SLICE)) + 1


def timeslice_tier_can_fire(slo: SLO, tier: AlertTier, period: int | None = None) -> bool:
    """Whether the tier's long window holds the bad slices it takes to fire
    (:func:`timeslice_slices_to_fire`): a factor above ``1 / budget`` needs more slices than
    the window has, a ratio above 1, and never fires."""
    assert slo.timeslices is not None
    return (
        timeslice_slices_to_fire(slo, tier, period) <= tier.window.long_window // slo.timeslices.slice_seconds
    )
