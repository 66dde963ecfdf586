"""``sloctl serve --demo``: a throwaway Prometheus on loopback, filled from the backtest's
scenarios for the given SLOs, so that every page of the UI has data in one command.

Each SLO gets one of the backtest scenarios meant for its kind (in turn: a full outage, a 14x
burn, a slow burn, a night spike, …), ending now, its series written as the backtest writes them
and its generated rules backfilled over the whole span (:func:`sloctl.backtest.engine.replay`);
the server then evaluates the same rules live, so alerts fire and pend as they would. The
traffic goes on :data:`AHEAD` into the future as it was at the scenario's end, so that the live
rules keep seeing it. The SLOs keep their service, name and labels; only their SLI reads the
scenario's counters (a composite, its components').
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sloctl.backtest.engine import RuleSet, replay
from sloctl.backtest.run import Item, prepare
from sloctl.backtest.scenarios import SCENARIOS, Scenario, applies
from sloctl.backtest.series import Feed, openmetrics
from sloctl.durations import HOUR
from sloctl.model import SLO, CompositeSLI
from sloctl.render.rules import render_rule_file
from sloctl.servers import ServerStartError
from sloctl.shelf import PrometheusEngine

__all__ = ["AHEAD", "DemoError", "demo", "demo_items"]

AHEAD = 2 * HOUR
"""How far past "now" the scenarios' traffic goes (the live rules read it until then)."""
STEP = 300
"""Evaluation step of the backfilled recordings: a demo needs their shape, not every minute
(a tenth of the rule backfill of a 1m step)."""
SPAN = 6 * HOUR
"""The history every SLO gets by default: enough for every page, while the backfill of all of
slos/ stays about a minute on two busy cores (docs/serve.md)."""


class DemoError(RuntimeError):
    """The demo could not start: no SLO, or its Prometheus did not."""


def _fit(s: Scenario, index: int, slo: SLO, span: int) -> Scenario:
    """``s`` renamed for one SLO, cut or padded to ``span`` seconds of history whose end is the
    scenario's own end (incidents, quiet times, gaps and resets keep their distance to it), then
    :data:`AHEAD` more in which whatever was going on at the end goes on."""
    shift = span - s.duration
    last = span + AHEAD

    def moved(pairs: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        return tuple((a + shift, last if b >= s.duration else b + shift) for a, b in pairs if b + shift > 0)

    return replace(
        s,
        name=f"demo_{index}",
        description=f"{s.name} for {slo.id}: {s.description}",
        duration=last,
        incidents=tuple(
            replace(i, start=i.start + shift, end=last if i.end >= s.duration else i.end + shift)
            for i in s.incidents
            if i.end + shift > 0
        ),
        quiet=moved(s.quiet),
        gaps=moved(s.gaps),
        resets=tuple(r + shift for r in s.resets if r + shift > 0),
        warmup=0,
    )


def demo_items(slos: Sequence[SLO], span: int = SPAN) -> list[Item]:
    """One backtest item per SLO, named back to the SLO. A composite reads its components' own
    demo series (it has none of its own), so it is shown when all of them are."""
    out: list[Item] = []
    turn: dict[str, int] = {}
    ids = {s.id for s in slos}
    for index, slo in enumerate(slos):
        if isinstance(slo.sli, CompositeSLI):
            if all(f"{slo.service}-{c.slo}" in ids for c in slo.sli.components):
                out.append(
                    Item(Scenario(f"demo_{index}", "its components' scenarios", span + AHEAD), slo, ())
                )
            continue
        meant = [s for s in SCENARIOS if applies(s, slo)]
        if not meant:
            continue
        kind = "timeslices" if slo.timeslices is not None else "calendar" if slo.calendar else "occurrences"
        s = meant[turn.get(kind, 0) % len(meant)]
        turn[kind] = turn.get(kind, 0) + 1
        item = prepare(slo, _fit(s, index, slo, span), slos)
        out.append(
            replace(item, slo=replace(item.slo, service=slo.service, name=slo.name, labels=slo.labels))
        )
    return out


@contextmanager
def demo(
    slos: Sequence[SLO],
    *,
    workdir: Path | None = None,
    now: float | None = None,
    span: int = SPAN,
    engine: PrometheusEngine | None = None,
    progress: Callable[[str], None] = lambda _m: None,
) -> Iterator[str]:
    """A running, filled Prometheus for ``slos`` (``engine``'s, or the default one); yields its
    URL and stops it on exit. The scenarios end at ``now`` + :data:`AHEAD`."""
    items = demo_items(slos, span)
    if not items:
        raise DemoError("no SLO to show: give SLO files (default slos/) that the backtest has scenarios for")
    end = int((time.time() if now is None else now) // STEP * STEP) + AHEAD
    first = end - AHEAD - span
    feeds: list[Feed] = [f for i in items for f in i.feeds]
    twins = [s for i in items for s in i.slos]
    rules = render_rule_file(twins, ["sloctl serve --demo"], "demo")
    with tempfile.TemporaryDirectory(prefix="sloctl-demo-") as tmp:
        where = workdir or Path(tmp)
        progress(
            f"demo: backfilling {len(items)} SLOs' scenarios and their rules into {where} (a minute or two)"
        )
        try:
            with replay(
                RuleSet("demo", rules),
                openmetrics(feeds, start=first),
                where,
                start=first,
                end=end,
                step=STEP,
                live_rules=rules,
                engine=engine,
            ) as bt:
                yield bt.url
        except ServerStartError as exc:
            raise DemoError(f"the demo's Prometheus did not start: {exc}") from None
