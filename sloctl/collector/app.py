"""Wiring: config + secrets + registry + tracer → a running collector. The only edge that
reads the environment and files is :func:`run_from_path`; :class:`Collector` takes everything
injected, which is how the tests run several collectors side by side."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
from typing import IO

from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import CollectorRegistry

from sloctl.collector.config import CollectorConfig, TlsContexts, check_config, check_reach, resolve_secrets
from sloctl.collector.logs import make_logger, sdk_logs_to
from sloctl.collector.metrics import CollectorMetrics
from sloctl.collector.runner import Runner, build_probe
from sloctl.collector.server import HttpServer
from sloctl.collector.tracing import make_tracer_provider
from sloctl.masking import Masker

__all__ = ["Collector", "run_from_path"]

FLUSH_SECONDS = 3.0
"""How long a stop waits for the spans still queued to leave over OTLP. The SDK's own flush
ignores its timeout and its exporter waits 10 s per request: against an OTLP endpoint that
accepts and never answers, SIGTERM took 20 s and more to exit, past most stop timeouts."""


class Collector:
    """Probes every target on its schedule and serves ``/metrics``.

    >>> # async with Collector(config, secrets, registry=CollectorRegistry()) as c: ...
    """

    def __init__(
        self,
        config: CollectorConfig,
        secrets: dict[tuple[str, str], str],
        *,
        registry: CollectorRegistry | None = None,
        tracer_provider: TracerProvider | None = None,
        log_stream: IO[str] | None = None,
        logger_name: str = "sloctl.collector",
        tls_contexts: TlsContexts | None = None,
    ) -> None:
        """``tls_contexts``: the ones the config's check loaded (:func:`check_config`), else
        new ones; either way one per TLS configuration, for this collector's probes."""
        self.config = config
        self.registry = registry if registry is not None else CollectorRegistry()
        self.tracer_provider = tracer_provider or make_tracer_provider(config.service_name, config.otlp)
        # The SDK's exporter logs through Python logging: when this collector made the exporter,
        # its lines become this collector's JSON lines while it runs (see start and stop).
        self._sdk_endpoint = config.otlp.endpoint if tracer_provider is None and config.otlp else None
        self._sdk_logs = contextlib.ExitStack()
        self.masker = Masker(secrets.values())
        self.logger: logging.Logger = make_logger(
            log_stream or sys.stdout, self.masker, config.service_name, logger_name
        )
        self.metrics = CollectorMetrics(self.registry, config.targets)
        tls = TlsContexts() if tls_contexts is None else tls_contexts
        self.runner = Runner(
            config,
            self.metrics,
            self.tracer_provider,
            self.logger,
            self.masker,
            lambda t, m: build_probe(t, m, secrets, config, tls),
        )
        self.server = HttpServer(
            self.registry,
            self.debug_targets if config.debug_targets else None,
            config.listen_host,
            config.listen_port,
        )

    def debug_targets(self) -> dict[str, object]:
        return {
            "targets": [
                {
                    "name": s.target.name,
                    "kind": s.target.kind.value,
                    "address": f"{s.target.host}:{s.target.port}",
                    "interval_seconds": s.target.interval,
                    "timeout_seconds": s.target.timeout,
                    "up": s.up,
                    "runs": s.runs,
                    "last": [dataclasses.asdict(r) for r in reversed(s.history)],
                }
                for s in self.runner.states.values()
            ]
        }

    async def start(self) -> None:
        """Listen and start probing; :class:`~sloctl.errors.SpecErrors` when the listen address or the OTLP
        endpoint resolves off loopback and the config does not allow it."""
        check_reach(self.config)
        if self._sdk_endpoint is not None:
            self._sdk_logs.enter_context(sdk_logs_to(self.logger, self._sdk_endpoint))
        try:
            await self.server.start()
        except BaseException:
            self._sdk_logs.close()
            raise
        self.runner.start()
        listening = self.server.addresses
        self.logger.info(
            f"collector started, listening on {', '.join(listening)}",
            extra={
                "ecs": {
                    "event.kind": "event",
                    "event.action": "start",
                    "labels.targets": len(self.config.targets),
                    "labels.listen": listening,
                    "url.port": self.server.port,
                }
            },
        )

    async def stop(self, *, shutdown_tracing: bool = False) -> None:
        """Stop probing and listening, then export the spans still queued (and shut the tracer
        provider down if ``shutdown_tracing``)."""
        await self.runner.stop()
        await self.server.stop()
        await self.flush_traces(shutdown=shutdown_tracing)
        self._sdk_logs.close()

    async def flush_traces(self, *, shutdown: bool) -> None:
        """Export the spans still queued (and shut the tracer provider down if ``shutdown``),
        waiting :data:`FLUSH_SECONDS` at most: the export runs in a daemon thread, which an
        endpoint that never answers keeps, and which the process's exit does not wait for."""
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        provider = self.tracer_provider

        def flush() -> None:
            try:
                provider.shutdown() if shutdown else provider.force_flush()
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                    loop.call_soon_threadsafe(done.set)

        threading.Thread(target=flush, name="sloctl-otlp-flush", daemon=True).start()
        try:
            async with asyncio.timeout(FLUSH_SECONDS):
                await done.wait()
        except TimeoutError:
            endpoint = self.config.otlp.endpoint if self.config.otlp else "the span exporter"
            ecs = {"event.kind": "event", "event.action": "otlp-flush", "event.outcome": "failure"}
            self.logger.warning(
                f"traces not all exported: {endpoint} did not take them within {FLUSH_SECONDS:g}s; "
                "stopping anyway",
                extra={"ecs": ecs},
            )

    async def __aenter__(self) -> Collector:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def _serve(collector: Collector, stop: asyncio.Event, signals: list[signal.Signals]) -> None:
    """Run until ``stop`` is set (``signals``: the ones received), then stop and say so: the log
    said when the collector started and never that it stopped."""
    await collector.start()
    try:
        await stop.wait()
    finally:
        await collector.stop(shutdown_tracing=True)
    ecs: dict[str, object] = {"event.kind": "event", "event.action": "stop"}
    message = "collector stopped"
    if signals:
        ecs["labels.signal"] = signals[0].name
        message += f" on {signals[0].name}"
    collector.logger.info(message, extra={"ecs": ecs})


def run_from_path(path: str, environ: dict[str, str] | None = None) -> int:
    """``sloctl collector run``: load, resolve secrets, run until SIGINT, SIGTERM or SIGHUP (a
    hang-up stops it as SIGTERM does, spans flushed; there is no reload: restart it). A config
    with errors, or a listen or export address it may not use, raises :class:`~sloctl.errors.SpecErrors`."""
    env = os.environ if environ is None else environ
    # Every mistake at once, as `collector check` reports them (fields, secrets, CA files, where
    # it listens and exports), not one kind per attempt to start.
    # The check loads each TLS configuration once, and its probes use what it loaded.
    tls = TlsContexts()
    config = check_config(path, env, tls)
    collector = Collector(config, resolve_secrets(config, env), tls_contexts=tls)

    async def main() -> None:
        stop = asyncio.Event()
        received: list[signal.Signals] = []

        def on(sig: signal.Signals) -> None:
            received.append(sig)
            stop.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, on, sig)
        await _serve(collector, stop, received)

    try:
        asyncio.run(main())
    except OSError as exc:  # the listen address is taken, typically
        print(
            f"sloctl collector: cannot listen on {config.listen_host}:{config.listen_port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    return 0
