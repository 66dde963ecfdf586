"""The sloctl safety control for Chaos Toolkit: rollbacks on every exit path and stop
conditions that abort a run.

Declare it in an experiment's ``controls``::

    {"name": "sloctl-safety",
     "provider": {"type": "python", "module": "sloctl.chaos.control",
                  "arguments": {"stop_conditions": [
                      {"kind": "budget", "prometheus_url": "${prometheus_url}",
                       "service": "platform-api", "slo": "availability",
                       "error_query": "sum(rate(errors[{{.window}}]))",
                       "total_query": "sum(rate(requests[{{.window}}]))", "max_percent": 2},
                      {"kind": "alert", "prometheus_url": "${prometheus_url}",
                       "alertname": "PlatformApiRedisAvailabilityBudgetBurn"}]}}}

Rollbacks: every action of :mod:`sloctl.chaos.actions` registers its undo in the fault ledger
before it applies the fault, and this control undoes whatever is still registered after the
experiment — whichever way it ended (success, deviation, abort, failure, SIGINT, SIGTERM) — and
once more at interpreter exit. SIGINT is ignored while undoing, so a second Ctrl-C cannot
leave a fault half-removed.

Stop conditions are polled every ``interval`` seconds (0.25 by default) in a thread. When one
trips, the control sends SIGUSR1 to the main thread: Chaos Toolkit turns it into a graceful
exit that interrupts any pause or activity, and the ledger undoes the faults, so a run stops
well within 2 s. :data:`STATUS` records why. While a run is being stopped, Chaos Toolkit's
pauses end at once (:class:`_PausesEndOnStop`): it would otherwise wait out an activity's
``pauses.after`` before unwinding from a Ctrl-C or an abort that landed during the activity.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import math
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sloctl.durations import HOUR

from .ledger import LEDGER

__all__ = [
    "STATUS",
    "after_experiment_control",
    "before_experiment_control",
    "cleanup_control",
    "configure_control",
    "evaluate_stop_condition",
]

logger = logging.getLogger("sloctl.chaos")


@dataclass
class ControlStatus:
    """What the control saw during the last run (read by the game-day runner)."""

    stop_reason: str | None = None
    stopped_at: float | None = None
    #: the signal that interrupted the run ("SIGINT", "SIGTERM"), None when none came
    signalled: str | None = None
    #: faults whose undo raised, ``"<fault>: <error>"`` (:meth:`FaultLedger.failures`)
    undo_failures: list[str] = field(default_factory=list)
    undone_at: float | None = None
    checks: int = 0
    #: stop conditions whose evaluation raised: what it watches → (times, the last error); the
    #: run was not protected by them meanwhile, which the result says (quiet runs print no log)
    unevaluated: dict[str, tuple[int, str]] = field(default_factory=dict)

    def reset(self) -> None:
        self.stop_reason = None
        self.stopped_at = None
        self.signalled = None
        self.undo_failures = []
        self.undone_at = None
        self.checks = 0
        self.unevaluated = {}

    def not_evaluated(self, condition: Mapping[str, Any], error: Exception) -> None:
        """Count one failed evaluation of ``condition``."""
        what = watched(condition)
        times, _ = self.unevaluated.get(what, (0, ""))
        self.unevaluated[what] = (times + 1, f"{type(error).__name__}: {error}")


def watched(condition: Mapping[str, Any]) -> str:
    """What a stop condition watches, in a few words.

    >>> watched({"kind": "alert", "alertname": "ApiDown"}), watched({"kind": "metric", "name": "x"})
    ('alert ApiDown', 'metric x')
    """
    kind = condition.get("kind")
    if kind == "budget":
        return f"budget of {condition.get('service')}/{condition.get('slo')}"
    if kind == "alert":
        return f"alert {condition.get('alertname')}"
    return f"{kind} {condition.get('name')}"


STATUS = ControlStatus()
_watcher: threading.Thread | None = None
_stop_watching = threading.Event()
_main_thread_id: int | None = None
#: set when the run is being stopped (Ctrl-C, SIGTERM, a stop condition): pauses end then
_stopping = threading.Event()


class _PausesEndOnStop:
    """Chaos Toolkit's ``time`` while a run with this control is on: the same module, but a
    ``sleep`` that ends as soon as the run is being stopped.

    Chaos Toolkit pauses after an activity with ``time.sleep`` in a ``finally`` clause, also
    when the activity was interrupted (chaoslib's ``execute_activity``): a Ctrl-C or a stop
    condition's abort that lands while an action with ``pauses.after`` still runs would wait
    out the whole pause before the run unwinds and its faults are undone."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        _stopping.wait(max(0.0, float(seconds)))


def _pauses_end_on_stop(on: bool) -> None:
    import chaoslib.activity

    chaoslib.activity.time = _PausesEndOnStop() if on else time


def evaluate_stop_condition(condition: dict[str, Any], *, now: float | None = None) -> str | None:
    """The reason to stop, or None. Kinds: ``budget`` (percent of the period's budget spent
    since the start, by ``error_query`` over ``total_query``, above ``max_percent``), ``alert`` (``alertname``
    firing: a page alert of an SLO the game day must not hurt),
    ``metric`` (a sample of a ``/metrics`` endpoint above ``max``). ``now`` (epoch seconds,
    default the clock) ends the run a budget condition measures."""
    from . import probes

    kind = condition.get("kind")
    if kind == "budget":
        consumed = probes.budget_consumed_since(
            condition["prometheus_url"],
            condition["service"],
            condition["slo"],
            condition["error_query"],
            condition["total_query"],
            since=float(condition["_since"]),
            now=now,
        )
        limit = float(condition["max_percent"])
        if not math.isnan(consumed) and consumed > limit:
            return f"budget of {condition['service']}/{condition['slo']}: {consumed:.3f} % > {limit} %"
        return None
    if kind == "alert":
        alertname = str(condition["alertname"])
        if probes.alert_firing(
            condition["prometheus_url"], alertname, str(condition.get("severity", "page"))
        ):
            return f"alert {alertname} fires"
        return None
    if kind == "metric":
        samples = probes._scrape(str(condition["metrics_url"]), None)
        want = set(dict(condition.get("labels", {})).items())
        total = sum(
            value for (name, labels), value in samples.items() if name == condition["name"] and want <= labels
        )
        if total > float(condition["max"]):
            return f"{condition['name']} = {total:g} > {condition['max']}"
        return None
    raise ValueError(f"unknown stop condition kind {kind!r}")


def _watch(conditions: list[dict[str, Any]], interval: float, max_seconds: float) -> None:
    deadline = time.monotonic() + max_seconds
    while not _stop_watching.is_set() and time.monotonic() < deadline:
        for condition in conditions:
            try:
                reason = evaluate_stop_condition(condition)
            except Exception as exc:  # an unreachable Prometheus must not stop a game day
                logger.warning("stop condition on %s could not be evaluated: %s", watched(condition), exc)
                STATUS.not_evaluated(condition, exc)
                reason = None
            STATUS.checks += 1
            if reason is not None:
                from .load import STOP

                STATUS.stop_reason = reason
                STATUS.stopped_at = time.time()
                STOP.set()
                _stopping.set()
                # Undo the faults here and now, not after Chaos Toolkit has unwound: the
                # final sweep replays these undos in case an action was half-way through.
                STATUS.undo_failures = LEDGER.failures(LEDGER.undo_all())
                STATUS.undone_at = time.time()
                logger.warning("stop condition tripped: %s; aborting", reason)
                # Only while Chaos Toolkit's handler is installed: SIGUSR1's default kills.
                handler = signal.getsignal(signal.SIGUSR1)
                if _main_thread_id is not None and callable(handler):
                    with contextlib.suppress(Exception):
                        signal.pthread_kill(_main_thread_id, signal.SIGUSR1)
                return
        _stop_watching.wait(interval)


def _undo_faults() -> None:
    in_main = threading.current_thread() is threading.main_thread()
    previous: Any = None
    if in_main:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        failed = LEDGER.sweep()
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)
    STATUS.undo_failures = LEDGER.failures(failed)
    if STATUS.undone_at is None:
        STATUS.undone_at = time.time()


atexit.register(LEDGER.undo_all)


def configure_control(
    stop_conditions: list[dict[str, Any]] | None = None,
    interval: float = 0.25,
    max_seconds: float = float(HOUR),
    configuration: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
) -> None:
    global _watcher, _main_thread_id
    from chaoslib import substitute

    from .load import STOP

    STATUS.reset()
    LEDGER.start_run()
    STOP.clear()  # set when the previous run in this process ended: a new run starts un-stopped
    conditions: list[dict[str, Any]] = substitute(list(stop_conditions or []), configuration, secrets)
    # Conditions that read Prometheus are skipped when no Prometheus is configured.
    conditions = [c for c in conditions if c.get("kind") == "metric" or c.get("prometheus_url")]
    started = time.time()
    for condition in conditions:
        condition["_since"] = started
    _main_thread_id = threading.main_thread().ident
    _stop_watching.clear()
    _stopping.clear()
    _pauses_end_on_stop(True)
    _chain_signals()
    if conditions:
        _watcher = threading.Thread(
            target=_watch, args=(conditions, float(interval), float(max_seconds)), daemon=True
        )
        _watcher.start()


_previous_handlers: dict[int, Any] = {}


def _on_signal(num: int, _frame: Any) -> None:
    """SIGINT or SIGTERM during a run: first stop the background load (Chaos Toolkit waits
    for background activities before it plays rollbacks) and end any pause, then raise
    KeyboardInterrupt, SIGTERM as SIGINT. Chaos Toolkit's own SIGTERM handler raises its
    InterruptExecution, an Exception that an activity's Python provider turns into a failed
    activity: the method carried on and the run "completed", a verdict on the system for an
    interrupt. A KeyboardInterrupt goes through every activity to Chaos Toolkit's run, which
    marks the run interrupted and plays the rollbacks."""
    from .load import STOP

    STATUS.signalled = STATUS.signalled or signal.Signals(num).name
    STOP.set()
    _stop_watching.set()
    _stopping.set()
    raise KeyboardInterrupt


def _chain_signals() -> None:
    """SIGINT and SIGTERM to :func:`_on_signal` while the run lasts (not a SIGINT ignored, as
    a shell's background job inherits it); :func:`_restore_signals` puts back what was there."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if previous == signal.SIG_IGN:
            continue
        _previous_handlers[signum] = previous
        signal.signal(signum, _on_signal)


def _restore_signals() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, previous in _previous_handlers.items():
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signum, previous)
    _previous_handlers.clear()


def before_experiment_control(context: Any, **kwargs: Any) -> None:
    """Nothing to do: :func:`configure_control` has started the watcher."""


def after_experiment_control(context: Any, state: Any = None, **kwargs: Any) -> None:
    from .load import STOP

    STOP.set()
    _stop_watching.set()
    _undo_faults()
    if isinstance(state, dict) and STATUS.stop_reason:
        state["status"] = "aborted"
        state.setdefault("x-sloctl", {})["stop_reason"] = STATUS.stop_reason


def cleanup_control() -> None:
    """Called by Chaos Toolkit in a ``finally``: the last chance in the run itself."""
    global _watcher
    _stop_watching.set()
    if LEDGER.pending():
        _undo_faults()
    _restore_signals()
    _pauses_end_on_stop(False)
    if _watcher is not None:
        _watcher.join(2)
        _watcher = None
