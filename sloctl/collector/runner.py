"""The scheduler: one asyncio task per (target, connection mode), each on its own fixed grid.

Why a grid and not ``sleep(interval)`` after each run: a slow run must not shift later runs,
and runs of one lane never overlap. Every run is bounded by the target's ``timeout`` (shorter
than its interval, checked at load time), and every probe is async, so a frozen server costs
its own lane one deadline and nothing else: other lanes and ``/metrics`` keep their pace.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from sloctl.collector.config import CollectorConfig, ConnectionMode, Kind, Target, TlsContexts
from sloctl.collector.metrics import CollectorMetrics
from sloctl.collector.probes.base import DatabaseAccess, PhaseRecorder, Probe, ProbeReport
from sloctl.collector.reasons import classify, detail, timeout_reason
from sloctl.contract import Phase, Reason
from sloctl.masking import Masker

__all__ = ["RunResult", "Runner", "build_probe"]


@dataclass(frozen=True)
class RunResult:
    """One run, as kept for ``/debug/targets`` (error text already masked)."""

    target: str
    connection: str
    started: float  # Unix time
    #: the lane's slot this run was due at (Unix time): ``started`` minus how late the loop
    #: got to it, which is the machine's share (a starved or blocked loop), not the target's
    scheduled: float
    ok: bool
    reason: str | None
    error: str | None
    durations: dict[str, float]
    trace_id: str


@dataclass
class _TargetState:
    target: Target
    up: bool = False
    history: collections.deque[RunResult] = field(default_factory=collections.deque)
    runs: int = 0
    console_error: str | None = None  # PgBouncer's admin console, as last reported


def build_probe(
    target: Target,
    mode: ConnectionMode,
    secrets: dict[tuple[str, str], str],
    config: CollectorConfig,
    tls: TlsContexts,
) -> Probe:
    """Import drivers lazily: a config with only Redis targets never imports pymongo. ``tls``:
    the config's TLS contexts, shared by the probes of one TLS configuration."""
    access = DatabaseAccess(target, mode, secrets.get((target.name, "password")), config.egress())
    if target.kind is Kind.POSTGRES:
        from sloctl.collector.probes.postgres import PostgresProbe

        return PostgresProbe(access)
    if target.kind is Kind.PGBOUNCER:
        from sloctl.collector.probes.postgres import PgBouncerProbe

        return PgBouncerProbe(access, secrets.get((target.name, "admin")))
    if target.kind is Kind.REDIS:
        from sloctl.collector.probes.redis import RedisProbe

        return RedisProbe(access, tls.context(target) if target.tls.enabled else None)
    if target.kind is Kind.MONGODB:
        from sloctl.collector.probes.mongodb import MongoProbe

        return MongoProbe(access)
    from sloctl.collector.probes.http import HttpProbe

    # every http probe verifies with its context, an http:// one too (httpx wants one)
    return HttpProbe(target, mode, config.egress(), tls.context(target))


@dataclass(frozen=True)
class _Outcome:
    """What one traced run found, before it is counted."""

    reason: Reason | None
    error: str | None
    report: ProbeReport | None
    durations: dict[Phase, float]
    trace_id: str


class Runner:
    def __init__(
        self,
        config: CollectorConfig,
        metrics: CollectorMetrics,
        tracer_provider: trace.TracerProvider,
        logger: logging.Logger,
        masker: Masker,
        probe_factory: Callable[[Target, ConnectionMode], Probe],
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.tracer = tracer_provider.get_tracer("sloctl.collector")
        self.log = logger
        self.mask = masker
        self._factory = probe_factory
        self._wall = wall_clock
        self.states = {
            t.name: _TargetState(t, history=collections.deque(maxlen=config.debug_history))
            for t in config.targets
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._probes: list[Probe] = []
        # Scheduling facts, for tests of "a frozen target delays nobody":
        # (target, mode) → (scheduled, actual) start times on the loop's monotonic clock.
        self.run_starts: dict[tuple[str, str], collections.deque[tuple[float, float]]] = {}

    def start(self) -> None:
        lanes = [(t, m) for t in self.config.targets for m in t.connections]
        # Every probe is built before the origin is taken: an HTTP probe loads its CA bundle
        # when built (some 30 ms of CPU, several times that on a busy machine), and with the
        # origin taken first, twenty-two probes put every lane's first slot in the past: the
        # lanes then ran at once, all on their first (cold) connection, and timed out behind
        # each other on a loaded machine.
        probes = [self._factory(target, mode) for target, mode in lanes]
        self._probes.extend(probes)
        # One origin for every lane's offset: taken per lane as its task began, it moved with
        # whatever ran before that task (the first lanes' first runs), and lane 1 of 5 was
        # planned 0.29 of an interval after lane 0 on a loaded machine.
        origin = asyncio.get_running_loop().time()
        for i, ((target, mode), probe) in enumerate(zip(lanes, probes, strict=True)):
            # Lanes spread evenly over the interval, as Prometheus spreads its scrapes: 200
            # targets on one interval never connect (nor queue at a shared server) in the same
            # instant, and every target still reports within one interval.
            offset = target.interval * (i / len(lanes))
            self.run_starts[(target.name, mode.value)] = collections.deque(maxlen=256)
            self._tasks.append(
                asyncio.create_task(
                    self._lane(target, mode, probe, origin + offset), name=f"probe:{target.name}:{mode.value}"
                )
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for probe in self._probes:
            try:
                async with asyncio.timeout(2.0):
                    await probe.close()
            except Exception:
                pass
        self._probes.clear()

    async def _lane(self, target: Target, mode: ConnectionMode, probe: Probe, first_at: float) -> None:
        """Run the probe at ``first_at`` (the loop's clock), then every interval."""
        loop = asyncio.get_running_loop()
        next_at = first_at
        while True:
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            began = loop.time()
            self.run_starts[(target.name, mode.value)].append((next_at, began))
            await self.run_once(target, mode, probe, late=began - next_at)
            next_at += target.interval
            now = loop.time()
            if next_at <= now:  # never run back-to-back to "catch up": skip to the next slot
                missed = int((now - next_at) // target.interval) + 1
                next_at += missed * target.interval
                self._missed(target, mode, missed)

    def _missed(self, target: Target, mode: ConnectionMode, runs: int) -> None:
        """``runs`` slots of a lane skipped: counted and logged, a gap in the probes that
        ``sloctl_probe_up`` alone would not show."""
        self.metrics.missed.labels(target.name, target.kind.value).inc(runs)
        ecs = _ecs(target, mode, "probe-missed")
        self.log.warning(
            "%d run(s) of %s (%s) missed: the previous run ended after their slot (the collector's "
            "loop is starved of CPU or blocked)",
            runs,
            target.name,
            mode.value,
            extra={"ecs": ecs},
        )

    async def run_once(
        self, target: Target, mode: ConnectionMode, probe: Probe, *, late: float = 0.0
    ) -> RunResult:
        """One run of ``probe``, counted, logged and kept; ``late``: how long after its slot
        the lane got to start it."""
        labels = (target.name, target.kind.value)
        self.metrics.attempts.labels(*labels).inc()
        started_wall = self._wall()
        outcome = await self._traced_run(target, mode, probe)
        self.metrics.observe(target, mode.value, outcome.durations, outcome.trace_id)
        self.metrics.last_run.labels(*labels).set(self._wall())
        state = self.states[target.name]
        was_up = state.up
        state.up = outcome.reason is None
        state.runs += 1
        self.metrics.up.labels(*labels).set(1 if state.up else 0)
        if outcome.reason is not None:
            self.metrics.failures.labels(*labels, outcome.reason.value).inc()
            self.metrics.forget(target)
        elif outcome.report is not None:
            self.metrics.report(target, outcome.report)
            self._console(target, mode, state, outcome.report.console_error)
        result = RunResult(
            target=target.name,
            connection=mode.value,
            started=started_wall,
            scheduled=started_wall - late,
            ok=outcome.reason is None,
            reason=outcome.reason.value if outcome.reason else None,
            error=self.mask(outcome.error) if outcome.error else None,
            durations={p.value: round(s, 6) for p, s in outcome.durations.items()},
            trace_id=outcome.trace_id,
        )
        state.history.append(result)
        self._log(target, mode, result, was_up)
        return result

    async def _traced_run(self, target: Target, mode: ConnectionMode, probe: Probe) -> _Outcome:
        """One run of ``probe`` in its span, under the target's deadline: what failed and why."""
        t0 = time.perf_counter()
        rec = PhaseRecorder(self.tracer)
        reason: Reason | None = None
        error: str | None = None
        report = None
        with self.tracer.start_as_current_span(
            f"probe {target.kind.value}",
            kind=SpanKind.CLIENT,
            attributes={
                "sloctl.target": target.name,
                "sloctl.kind": target.kind.value,
                "sloctl.connection": mode.value,
                "server.address": target.host,
                "server.port": target.port,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            deadline = rec.deadline = asyncio.timeout(target.timeout)
            try:
                async with deadline:
                    report = await probe.run(rec)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The deadline cancels the run; a driver may answer the cancellation with an
                # error of its own (pymongo's pool: "connection is already closed") rather than
                # let it through as the deadline's TimeoutError. Either way the deadline ended it.
                if deadline.expired():
                    reason = rec.hint or timeout_reason(rec.current)
                    phase = rec.current or "connect"
                    error = rec.why or f"no answer within the {target.timeout:g}s deadline (phase {phase})"
                else:
                    reason, error = classify(exc, rec.current), detail(exc)
            durations = dict(rec.durations)
            durations[Phase.TOTAL] = time.perf_counter() - t0
            if reason is not None:
                span.set_status(Status(StatusCode.ERROR, reason.value))
                span.set_attribute("sloctl.reason", reason.value)
                span.set_attribute("error.type", reason.value)
            else:
                span.set_status(Status(StatusCode.OK))
        return _Outcome(reason, error, report, durations, trace_id)

    def _console(self, target: Target, mode: ConnectionMode, state: _TargetState, error: str | None) -> None:
        """PgBouncer's console failing (a wrong ``adminPassword``, an ``adminUser`` not in
        ``admin_users``) never fails a run; it was silent, and its series were simply missing.
        Logged when it starts failing (and what it said) and when it answers again."""
        if target.kind is not Kind.PGBOUNCER or error == state.console_error:
            return
        was, state.console_error = state.console_error, error
        ecs = _ecs(target, mode, "pgbouncer-console") | {"event.outcome": "failure" if error else "success"}
        if error is None:
            self.log.info("PgBouncer console of %s answers again", target.name, extra={"ecs": ecs})
        elif was is None:
            self.log.warning(
                "PgBouncer console of %s gives no pools and stats (its series are not exported): %s",
                target.name,
                error,
                extra={"ecs": ecs | {"error.message": error}},
            )

    def _log(self, target: Target, mode: ConnectionMode, result: RunResult, was_up: bool) -> None:
        # Log failures and state changes, not every success: 200 targets every 10 s would
        # otherwise write 20 lines a second that say nothing.
        if result.ok and was_up:
            return
        ecs = _ecs(target, mode, "probe") | {
            "event.type": "connection",
            "event.outcome": "success" if result.ok else "failure",
            "event.duration": int(result.durations.get("total", 0.0) * 1e9),
            "trace.id": result.trace_id,
        }
        if result.ok:
            self.log.info("target %s is up", target.name, extra={"ecs": ecs})
        else:
            ecs["event.reason"] = result.reason
            ecs["error.message"] = result.error
            ecs["error.type"] = result.reason
            self.log.warning("probe of %s failed: %s", target.name, result.reason, extra={"ecs": ecs})


def _ecs(target: Target, mode: ConnectionMode, action: str) -> dict[str, object]:
    """The ECS fields every log line of a lane carries."""
    return {
        "event.kind": "event",
        "event.category": "network",
        "event.action": action,
        "labels.target": target.name,
        "labels.kind": target.kind.value,
        "labels.connection": mode.value,
    }
