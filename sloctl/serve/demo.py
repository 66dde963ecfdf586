"""``sloctl serve --demo``: a throwaway Prometheus on loopback, filled from the backtest's
scenarios for the given SLOs, so that every page of the UI has data in one command.

Each SLO gets one of the backtest scenarios meant for its kind (in turn: a full outage, a 14x
burn, a slow burn, a night spike, …), ending now, its series written as the backtest writes them
and its generated rules backfilled over the whole span up to now
(:func:`sloctl.backtest.engine.replay`); the server then evaluates the same rules live, so
alerts fire and pend as they would (``ALERTS`` is written live: Prometheus refuses a live sample
older than its newest block, which is why nothing is backfilled past now). The traffic goes on
as it was at the scenario's end: :data:`AHEAD` more of the scenario, then at its last rate, served
by :class:`LiveFeeds` for the server to scrape, so that the live rules keep seeing it. The SLOs
keep their service, name and labels; only their SLI reads the scenario's counters (a composite,
its components').
"""

from __future__ import annotations

import bisect
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from sloctl.backtest.engine import LIVE_INTERVAL_SECONDS, RuleSet, replay
from sloctl.backtest.run import Item, prepare
from sloctl.backtest.scenarios import SCENARIOS, Scenario, applies
from sloctl.backtest.series import Feed, Sample, openmetrics, samples
from sloctl.durations import HOUR
from sloctl.model import SLO, CompositeSLI
from sloctl.prometheus import Prometheus
from sloctl.render.rules import render_rule_file
from sloctl.servers import ServerStartError, remove_at_exit
from sloctl.servers._process import wait_until
from sloctl.shelf import PrometheusEngine

from .server import STOP_POLL_SECONDS, QuietHTTPServer

__all__ = ["AHEAD", "DemoError", "LiveFeeds", "demo", "demo_items"]

AHEAD = 2 * HOUR
"""How far past "now" the scenarios' own traffic goes, served live (:class:`LiveFeeds`), the
series present at its end going on at their last rate after it."""
STEP = 300
"""Evaluation step of the backfilled recordings: a demo needs their shape, not every minute
(a tenth of the rule backfill of a 1m step)."""
POLL_SECONDS = 0.25
"""How often the start-up reads Prometheus' rule groups while it waits for their evaluation (an
interval of a minute): a quarter of a second late at most, where a second's poll was a second."""
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
    live_interval: int = LIVE_INTERVAL_SECONDS,
    start_timeout: float | None = None,
) -> Iterator[str]:
    """A running, filled Prometheus for ``slos`` (``engine``'s, or the default one); yields its
    URL and stops it on exit. The scenarios' history ends at ``now``; their traffic goes on live,
    its rules evaluated every ``live_interval`` seconds (a minute; the tests' demo, less).
    ``start_timeout``: the most seconds each start of its Prometheus may take to be ready
    (``--start-timeout``; None: its own)."""
    items = demo_items(slos, span)
    if not items:
        raise DemoError("no SLO to show: give SLO files (default slos/) that the backtest has scenarios for")
    # Backfilled up to now, no further: Prometheus takes no live sample (a rule's, ALERTS) older
    # than the end of its newest block, so blocks reaching into the future discarded them all.
    end = int((time.time() if now is None else now) // STEP * STEP)
    first = end - span
    feeds: list[Feed] = [f for i in items for f in i.feeds]
    twins = [s for i in items for s in i.slos]
    rules = render_rule_file(twins, ["sloctl serve --demo"], "demo")
    live = LiveFeeds(samples(feeds, start=first), after=end)
    with tempfile.TemporaryDirectory(prefix="sloctl-demo-") as tmp, _serving(live) as target:
        remove_at_exit(tmp)  # a SIGKILLed demo leaves no Prometheus data behind either
        where = workdir or Path(tmp)
        progress(
            f"demo: backfilling {len(items)} SLOs' scenarios and their rules into {where} (a minute or two)"
        )
        try:
            with replay(
                RuleSet("demo", rules),
                openmetrics(feeds, start=first, until=end),
                where,
                start=first,
                end=end,
                step=STEP,
                live_rules=rules,
                engine=engine,
                live_targets=(target,),
                live_interval=live_interval,
                start_timeout=start_timeout,
            ) as bt:
                progress("demo: waiting for the rules' first live evaluation (a minute at most)")
                _wait_live(bt.url, live)
                yield bt.url
        except ServerStartError as exc:
            raise DemoError(f"the demo's Prometheus did not start: {exc}") from exc


#: How long the demo waits for its live series and rules before it is shown: the scrape (15 s)
#: and the rules' evaluation (1m) intervals, twice over.
LIVE_WAIT_SECONDS = 150.0


def _wait_live(url: str, live: LiveFeeds) -> None:
    """Wait until ``live`` has been scraped and every rule group evaluated after that, so that
    the pages show the live state from the first (the backfill's last evaluations lie up to a
    step before now, past the 5m look-back of a query at now). :class:`DemoError` past
    :data:`LIVE_WAIT_SECONDS`.

    A group counts by the time of its last evaluation, not by a change seen after the wait
    noticed the scrape: a group that evaluated in between (within the poll's step, or on a
    busy machine before the wait began) was counted as evaluated before it, and the start-up
    waited a whole interval more for it (a minute in ``serve --demo``)."""
    with Prometheus.connect(url) as prom:
        if not live.scraped.wait(LIVE_WAIT_SECONDS):
            raise DemoError(f"the demo's Prometheus did not scrape its series within {LIVE_WAIT_SECONDS:g} s")
        since = live.first_scrape
        if not wait_until(
            lambda: all(_evaluated_at(g) > since for g in prom.rules()),
            timeout=LIVE_WAIT_SECONDS,
            interval=POLL_SECONDS,
        ):
            raise DemoError(f"the demo's rules were not evaluated within {LIVE_WAIT_SECONDS:g} s")


def _evaluated_at(group: dict[str, object]) -> float:
    """A rule group's last evaluation, in seconds since the epoch (``-inf`` before its first:
    Prometheus says ``0001-01-01T00:00:00Z``)."""
    text = str(group.get("lastEvaluation") or "")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return -math.inf


class LiveFeeds:
    """The scenarios' counters after the backfill (``after``), as Prometheus scrapes them: each
    series' latest sample by ``clock``, with its own timestamp; past the scenarios' end, the
    series present at the end go on at their last rate (a series in a gap stays away)."""

    def __init__(self, points: Iterable[Sample], after: int, clock: Callable[[], float] = time.time) -> None:
        series: dict[str, list[tuple[int, float]]] = {}
        for x in points:
            series.setdefault(f"{x.metric}{x.labels}", []).append((x.time, x.value))
        self._series = {k: sorted(v) for k, v in series.items()}
        self._times = {k: [t for t, _ in v] for k, v in self._series.items()}
        self._end = max((v[-1][0] for v in self._series.values()), default=0)
        self._after = after
        self._clock = clock
        self.first_scrape = math.inf
        """When the first scrape came, by ``clock``."""
        self.scraped = threading.Event()
        """Set at the first scrape: the start-up waits on it, not on a poll."""

    def exposition(self) -> str:
        """Prometheus' text format, timestamps in milliseconds."""
        now = self._clock()
        if not self.scraped.is_set():
            self.first_scrape = now
            self.scraped.set()
        lines = []
        for key, points in self._series.items():
            i = bisect.bisect_right(self._times[key], now) - 1
            if i < 0:
                continue
            t, value = float(points[i][0]), points[i][1]
            if i == len(points) - 1 and i > 0:
                before, last = points[i - 1], points[i]
                step = last[0] - before[0]
                if self._end - last[0] < step:  # present at the end: on at its last rate
                    value += max(0.0, last[1] - before[1]) / step * (now - t)
                    t = now
            if t > self._after:
                lines.append(f"{key} {value:.12g} {int(t * 1000)}\n")
        return "".join(lines)


@contextmanager
def _serving(live: LiveFeeds) -> Iterator[str]:
    """``live`` on a loopback port for the demo's Prometheus to scrape; yields ``HOST:PORT``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = live.exposition().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # one scrape a minute: nothing to say

    server = QuietHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, args=(STOP_POLL_SECONDS,), name="sloctl-demo-feeds", daemon=True
    )
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
