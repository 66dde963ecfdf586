"""``sloctl gameday run``: one experiment through Chaos Toolkit, phases baseline → inject →
recover, then (with ``prometheus_url``) a wait until its pages have resolved, a verdict
(:mod:`sloctl.chaos.result`), and the journal plus JSON and HTML reports
(:mod:`sloctl.chaos.report`); :func:`run_gamedays` runs several in sequence on one target.

Before a run, ``sloctl gate`` judges the error budget of the SLO the game day spends
(:func:`budget_gate`): a team out of budget does not burn more of it on purpose. A rig gives
its Prometheus a healthy month of history (:mod:`sloctl.chaos.history`), so that this budget
means what it would on a real platform.

Rollbacks always run (``runtime.rollbacks.strategy = always``), and the sloctl control undoes
whatever fault is still registered on every exit path.

The journal and the reports hold no password: the configuration's connection strings are
masked, and so are their passwords wherever else they turn up (a driver's error message); the
files are written atomically and readable by their owner only (0600).

PagerDuty (``pagerduty=``): a change event at the start and at the end, an optional practice
incident, and, with ``maintenance_services``, a maintenance window on those services for the
length of the run (:func:`maintenance_minutes`), opened after the start change event and always
closed afterwards. It never covers ``protected_services``, the services that receive the alert
under test: such a window is refused before anything runs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloctl.masking import Masker, url_secrets

from .detection import (
    PLAN_MTTR_SECONDS,
    configured_seconds,
    detection_figures,
    resolution_figures,
    settle_seconds,
)
from .experiments import ALLOW_UNGUARDED, check_experiment_values, own_configuration
from .providers import http_activity_refusal, http_provider_guarded, unguarded_activity_refusal
from .report import write_reports
from .result import (
    GamedayResult,
    journal_start,
    named,
    not_run,
    sloctl_extension,
    summarise,
)
from .targets import target_refusal

if TYPE_CHECKING:
    from .pagerduty import GamedayPagerDuty

__all__ = [
    "Progress",
    "apply_configuration",
    "budget_gate",
    "maintenance_minutes",
    "not_run_after",
    "run_gameday",
    "run_gamedays",
]

#: where a game day says what it is doing (a line at a time), e.g. ``print`` to stderr
Progress = Callable[[str], None]


def apply_configuration(experiment: dict[str, Any], configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment with ``configuration`` values set literally over its own, and the
    environment lookups of sloctl's keys in its own block resolved
    (:func:`~sloctl.chaos.experiments.own_configuration`; one that cannot be resolved stays a
    lookup: :func:`~sloctl.chaos.experiments.check_experiment_values` refuses it first)."""
    own, _problems = own_configuration(experiment, configuration)
    return {**experiment, "configuration": {**own, **configuration}}


def budget_gate(configuration: Mapping[str, Any], ext: Mapping[str, Any]) -> str | None:
    """Why the game day must not start: ``sloctl gate`` says freeze for the SLO it spends — its
    error-budget policy does, or it has less than ``min_budget_remaining_percent`` of its
    period's budget left (a team out of budget does not burn more of it on purpose). An unknown
    budget (no traffic counted yet, as on a fresh rig) does not stop a game day: there is no
    spent budget to protect. Needs ``prometheus_url``; None when the gate is open."""
    url = str(configuration.get("prometheus_url") or "")
    minimum = float(configuration.get("min_budget_remaining_percent") or 0)
    budget = ext.get("budget") or {}
    if not url or not budget:
        return None
    from sloctl.gate import Undecided, evaluate

    from .probes import prometheus_token

    slo = f"{budget['service']}/{budget['slo']}"
    try:
        verdict = evaluate(
            url,
            slos=[slo],
            floor_percent=minimum if minimum > 0 else None,
            when_unknown="proceed",
            token=prometheus_token(),
        )
    except Undecided as exc:
        return f"refused: sloctl gate cannot decide for {slo}: {exc}"
    except Exception as exc:
        return f"refused: the error budget of {slo} could not be read: {exc}"
    if verdict.freeze:
        return f"refused: sloctl gate says freeze for {slo}: {verdict.reason}"
    return None


def _alert_stop_conditions(experiment: Mapping[str, Any]) -> list[str]:
    """The alerts the sloctl control's stop conditions watch (``kind: alert``)."""
    return [
        str(condition.get("alertname"))
        for control in experiment.get("controls", [])
        if isinstance(control, Mapping)
        and control.get("provider", {}).get("module") == "sloctl.chaos.control"
        for condition in control["provider"].get("arguments", {}).get("stop_conditions", [])
        if isinstance(condition, Mapping) and condition.get("kind") == "alert"
    ]


def alert_rules_refusal(experiment: Mapping[str, Any]) -> str | None:
    """Why the game day must not start: Prometheus has no alerting rule for an alert it names,
    a stop condition's (which could then never trip: the game day would run unprotected) or
    an expected page's (which could never be detected). Needs ``prometheus_url``; None when
    every one is a rule, and when Prometheus lists no alerting rule or cannot be asked (an
    engine that does not serve ``/api/v1/rules``: the budget gate, asked next, speaks for a
    Prometheus that does not answer)."""
    from .probes import alert_rules

    url = str(experiment["configuration"].get("prometheus_url") or "")
    if not url:
        return None
    wanted = {
        **{a: "an expected page" for a in sloctl_extension(experiment).get("expected_alerts", [])},
        **{a: "a stop condition's alert, which could never trip" for a in _alert_stop_conditions(experiment)},
    }
    try:
        known = alert_rules(url)
    except Exception:
        return None
    if not known:
        return None
    missing = [f"{name} ({why})" for name, why in wanted.items() if name not in known]
    if not missing:
        return None
    return (
        f"refused: Prometheus evaluates no alerting rule {', '.join(missing)}: load the rules"
        " `sloctl generate` writes from the SLO files the experiment came from"
    )


#: minutes added to a maintenance window beyond the run's expected length
MAINTENANCE_MARGIN_MINUTES = 5


def _seconds(configuration: Mapping[str, Any], key: str, default: float) -> float:
    """``configuration[key]`` in seconds, 0 at least (:func:`~sloctl.chaos.detection.
    configured_seconds`); ``default`` when it holds no finite number (left out, or an
    environment lookup that Chaos Toolkit resolves later)."""
    seconds = configured_seconds(configuration, key)
    return default if seconds is None else max(seconds, 0.0)


def maintenance_minutes(configuration: Mapping[str, Any]) -> int:
    """The length of a game day's maintenance window: ``gameday_seconds`` (the load and the
    fault) plus ``recover_timeout_seconds`` (waiting for the breakers to close), each 60 s when
    missing or not a number, plus, with a ``prometheus_url``, ``resolve_deadline_seconds`` (the
    wait for the pages to resolve, default :data:`~sloctl.chaos.detection.PLAN_MTTR_SECONDS`),
    rounded up to whole minutes, plus :data:`MAINTENANCE_MARGIN_MINUTES`; within 1..1440
    (PagerDuty's day). The window is closed as soon as the run is over: its length only matters
    if sloctl dies mid-run."""
    seconds = _seconds(configuration, "gameday_seconds", 60) + _seconds(
        configuration, "recover_timeout_seconds", 60
    )
    if configuration.get("prometheus_url"):
        seconds += _seconds(configuration, "resolve_deadline_seconds", PLAN_MTTR_SECONDS)
    return min(max(math.ceil(seconds / 60) + MAINTENANCE_MARGIN_MINUTES, 1), 24 * 60)


def _close_window(pagerduty: GamedayPagerDuty, window_id: str) -> str | None:
    """Close the maintenance window; what went wrong, never an exception."""
    try:
        pagerduty.close_maintenance_window(window_id)
    except Exception as exc:
        return f"PagerDuty: maintenance window {window_id} was not closed, close it by hand: {exc}"
    return None


#: the loggers of what runs inside a game day: Chaos Toolkit's, and sloctl's control and ledger
RUN_LOGGERS = ("chaostoolkit", "sloctl.chaos")


@contextlib.contextmanager
def _activities_to(progress: Progress | None, name: str) -> Iterator[None]:
    """The run's log lines (Chaos Toolkit's: each activity as it starts, its notices about
    rollbacks; the control's: a stop condition tripped or not evaluated, a fault not undone) to
    ``progress``; without one (``--quiet``), nowhere. Their loggers have no handler otherwise,
    and Python's last-resort handler printed their warnings to stderr, unprefixed: ``--quiet``
    runs said "Rollbacks were explicitly requested to be played". What went wrong is in the
    result, which says it."""

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if progress is not None:
                progress(f"{name}: {record.getMessage()}")

    handler = Forward(logging.INFO)
    loggers = [logging.getLogger(n) for n in RUN_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def _check_services(
    maintenance_services: Sequence[str], protected_services: Sequence[str], pagerduty: GamedayPagerDuty | None
) -> None:
    from .pagerduty import check_maintenance_services

    for option, ids in (
        ("maintenance_services", maintenance_services),
        ("protected_services", protected_services),
    ):
        if isinstance(ids, str):
            raise TypeError(f"{option} is a sequence of PagerDuty service ids, not the string {ids!r}")
    if maintenance_services:
        # Refused before anything runs: no report, no change event, no fault.
        check_maintenance_services(maintenance_services, protected_services)
        if pagerduty is not None:
            pagerduty.check_maintenance_window(maintenance_services, protected_services)


#: what keeps a game day's journal and report as they stand: before its wait for its pages to
#: resolve, so that nothing is lost if the wait is cut short (``write_reports`` to its folder)
Keep = Callable[[GamedayResult, dict[str, Any]], object]


@contextlib.contextmanager
def _signals_set(stop: threading.Event) -> Iterator[threading.Event]:
    """SIGINT and SIGTERM set ``stop`` instead of raising while inside (main thread only; a
    SIGINT ignored stays ignored), the previous handlers back after."""
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(signum) != signal.SIG_IGN:
            previous[signum] = signal.signal(signum, lambda _n, _f: stop.set())
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _experiment_run(
    experiment: dict[str, Any], progress: Progress | None, keep: Keep
) -> tuple[GamedayResult, dict[str, Any]]:
    """Chaos Toolkit's run, the faults undone whatever happens, and what Prometheus saw. With
    Prometheus, the run's report is kept (``keep``) before the wait for its pages to resolve,
    which Ctrl-C or SIGTERM ends; an interrupted run does not wait."""
    from chaoslib.experiment import run_experiment

    from . import control
    from .ledger import LEDGER

    ext = sloctl_extension(experiment)
    name = str(ext.get("gameday", ""))
    configuration = experiment["configuration"]
    # What the control saw belongs to this run only (an experiment without the sloctl
    # control must not inherit the stop reason of an earlier run in this process).
    control.STATUS.reset()
    try:
        with _activities_to(progress, name), http_provider_guarded():
            journal: dict[str, Any] = run_experiment(
                experiment, settings={"runtime": {"rollbacks": {"strategy": "always"}}}
            )
    finally:
        # Belt and braces: whatever Chaos Toolkit did, no fault outlives the run.
        left = LEDGER.failures(LEDGER.undo_all())
    status = control.STATUS
    failures = list(dict.fromkeys([*status.undo_failures, *left]))
    result = summarise(
        journal,
        experiment,
        status.stop_reason,
        signalled=status.signalled is not None,
        undo_failures=failures,
    )
    result.reasons += [
        f"stop condition on {what} could not be evaluated {times} time(s) (last: {error}):"
        " the run was not protected by it meanwhile"
        for what, (times, error) in status.unevaluated.items()
    ]
    start = journal_start(journal)
    # The run's own interrupt, not the wait's (which resolution_figures may add): it has no budget.
    run_interrupted = result.interrupted
    with _signals_set(threading.Event()) as stop:
        if configuration.get("prometheus_url"):
            _keep_before_the_wait(result, journal, experiment, keep, progress)
        until = resolution_figures(result, configuration, start, progress, stop=stop)
        detection_figures(result, configuration, ext, start, until, run_interrupted=run_interrupted)
    return result, journal


def _keep_before_the_wait(
    result: GamedayResult,
    journal: dict[str, Any],
    experiment: dict[str, Any],
    keep: Keep,
    progress: Progress | None,
) -> None:
    """The journal and the report as they stand, the pages so far included, before the wait
    for the pages to resolve; said on ``progress``."""
    configuration = experiment["configuration"]
    ext = sloctl_extension(experiment)
    start = journal_start(journal)
    now = copy.deepcopy(result)
    # the pages so far, listed without waiting (a deadline of 0)
    resolution_figures(now, {**configuration, "resolve_deadline_seconds": 0}, start)
    detection_figures(now, configuration, ext, start)
    deadline = _seconds(configuration, "resolve_deadline_seconds", PLAN_MTTR_SECONDS)
    waits = not result.interrupted and deadline > 0
    if waits:
        now.reasons.append("the pages had not resolved yet when this report was written")
        # the settle the wait holds out for; Prometheus down: the wait's own read says so
        with contextlib.suppress(Exception):
            now.resolve_settle_s = round(
                settle_seconds(str(configuration["prometheus_url"]), configuration), 3
            )
    keep(now, journal)
    if progress is None:
        return
    name = result.gameday
    where = now.files.get("json", "")
    if result.interrupted:
        progress(f"{name}: run interrupted ({result.verdict}); report in {where}; not waiting for its pages")
    elif waits:
        progress(
            f"{name}: run over ({result.verdict} so far); report in {where}; waiting for its pages to"
            f" resolve, at most {deadline:g} s after the fault (Ctrl-C ends the wait and keeps the report)"
        )


def _end_to_pagerduty(
    pagerduty: GamedayPagerDuty, name: str, result: GamedayResult, incident: str | None
) -> None:
    # The game day has run and its faults are undone: a PagerDuty failure now is reported,
    # it does not lose the report.
    try:
        if incident is not None:
            pagerduty.resolve_practice_incident(incident)
        figures = {
            "time_to_detect_s": result.time_to_detect_s,
            "breaker_open_s": result.breaker_open_s,
            "time_to_recover_s": result.time_to_recover_s,
            "time_to_resolve_s": result.time_to_resolve_s,
            "budget_consumed_percent": result.budget_consumed_percent,
        }
        pagerduty.end(name, result.verdict, figures)
    except Exception as exc:
        result.reasons.append(f"PagerDuty: the end of the game day was not sent: {exc}")


def _with_pagerduty(
    experiment: dict[str, Any],
    experiment_path: Path,
    keep: Keep,
    progress: Progress | None,
    pagerduty: GamedayPagerDuty | None,
    practice_incident: bool,
    maintenance_services: Sequence[str],
    protected_services: Sequence[str],
) -> tuple[GamedayResult, dict[str, Any]]:
    """The run between PagerDuty's start and end; a maintenance window closed whatever
    happened (a failure to close it never replaces the report nor the run's exception)."""
    if pagerduty is None:
        return _experiment_run(experiment, progress, keep)
    name = str(sloctl_extension(experiment).get("gameday", ""))
    pagerduty.start(name, {"experiment": str(experiment_path)})
    window = None
    if maintenance_services:
        minutes = maintenance_minutes(experiment["configuration"])
        window = pagerduty.open_maintenance_window(name, maintenance_services, protected_services, minutes)
    try:
        incident = pagerduty.trigger_practice_incident(name) if practice_incident else None
        result, journal = _experiment_run(experiment, progress, keep)
        _end_to_pagerduty(pagerduty, name, result, incident)
    except BaseException as exc:
        problem = _close_window(pagerduty, window) if window is not None else None
        if problem is not None:
            exc.add_note(problem)
        raise
    problem = _close_window(pagerduty, window) if window is not None else None
    if problem is not None:
        result.reasons.append(problem)
    return result, journal


def run_gameday(
    experiment_path: Path,
    *,
    configuration: Mapping[str, Any] | None = None,
    out_dir: Path | None = None,
    dry_run: bool = False,
    pagerduty: GamedayPagerDuty | None = None,
    practice_incident: bool = False,
    maintenance_services: Sequence[str] = (),
    protected_services: Sequence[str] = (),
    progress: Progress | None = None,
    prometheus_token: str | None = None,
) -> GamedayResult:
    """Run one experiment file; write ``journal.json``, ``report.json`` and ``report.html`` to
    ``out_dir`` (default: next to the experiment, in ``reports/<name>/``). ``progress`` hears
    each activity as it starts and the wait for the pages to resolve. ``prometheus_token``: the
    bearer token every read of ``prometheus_url`` sends (``--prometheus-token-file``).

    With ``pagerduty`` and ``maintenance_services`` (PagerDuty service ids), a maintenance window
    covers those services during the run and is closed afterwards, whatever happens; a failure
    to close it is one of the result's reasons. ``protected_services`` are the services that
    receive the alert under test: a window on one of them (or a window without any protected
    service) raises :class:`~sloctl.chaos.pagerduty.MaintenanceWindowError` before anything
    runs, dry runs included. Dry runs open nothing, and write their plan's report only to an
    ``out_dir`` given: the default one holds the last real run's report. A value of the
    experiment's own that an action would clamp raises ``ExperimentValueError`` before anything
    runs, dry runs included (:func:`~sloctl.chaos.experiments.check_experiment_values`)."""
    from .probes import prometheus_token_of_run

    with prometheus_token_of_run(prometheus_token):
        return _run_gameday(
            experiment_path,
            configuration=configuration,
            out_dir=out_dir,
            dry_run=dry_run,
            pagerduty=pagerduty,
            practice_incident=practice_incident,
            maintenance_services=maintenance_services,
            protected_services=protected_services,
            progress=progress,
        )


def _run_gameday(
    experiment_path: Path,
    *,
    configuration: Mapping[str, Any] | None,
    out_dir: Path | None,
    dry_run: bool,
    pagerduty: GamedayPagerDuty | None,
    practice_incident: bool,
    maintenance_services: Sequence[str],
    protected_services: Sequence[str],
    progress: Progress | None,
) -> GamedayResult:
    """:func:`run_gameday` inside its bearer token."""
    from chaoslib.experiment import ensure_experiment_is_valid

    _check_services(maintenance_services, protected_services, pagerduty)
    own = json.loads(Path(experiment_path).read_text())
    check_experiment_values({experiment_path: own}, configuration or {})
    experiment = named(apply_configuration(own, configuration or {}), Path(experiment_path))
    ensure_experiment_is_valid(experiment)
    # Passwords of the configuration's connection strings, masked wherever they turn up.
    masker = Masker(p for value in experiment["configuration"].values() for p in url_secrets(str(value)))
    ext = sloctl_extension(experiment)
    refusal = _refusal(experiment, configuration or {}, dry_run)
    if dry_run and out_dir is None:
        # A plan, refused or not, is written only where asked: the default folder holds the last
        # real run's report.
        return _not_run(experiment, ext, refusal)
    out_dir = out_dir or Path(experiment_path).parent / "reports" / Path(experiment_path).stem
    out_dir.mkdir(parents=True, exist_ok=True)
    if dry_run or refusal:
        return write_reports(_not_run(experiment, ext, refusal), None, out_dir, masker)
    if progress is not None:
        profile = experiment["configuration"].get("timing_profile") or "no stated"
        progress(f"{ext.get('gameday', '')}: starting ({profile} timing profile)")
    result, journal = _with_pagerduty(
        experiment,
        Path(experiment_path),
        lambda kept, journal: write_reports(kept, journal, out_dir, masker),
        progress,
        pagerduty,
        practice_incident and pagerduty is not None,
        maintenance_services,
        protected_services,
    )
    return write_reports(result, journal, out_dir, masker)


def _refusal(experiment: dict[str, Any], configuration: Mapping[str, Any], dry_run: bool) -> str | None:
    """Why the game day must not start, or None: a target or a provider the guard refuses
    (dry runs too), then, for a real run, an alert Prometheus has no rule for or the budget
    gate. ``configuration``: the caller's, whose opt-in to unguarded providers alone counts
    (the experiment's own block may not give it)."""
    refusal = (
        target_refusal(experiment["configuration"])
        or http_activity_refusal(experiment)
        or unguarded_activity_refusal(experiment, allowed=configuration.get(ALLOW_UNGUARDED) is True)
    )
    if refusal is None and not dry_run:
        ext = sloctl_extension(experiment)
        refusal = alert_rules_refusal(experiment) or budget_gate(experiment["configuration"], ext)
    return refusal


def _not_run(experiment: Mapping[str, Any], ext: Mapping[str, Any], refusal: str | None) -> GamedayResult:
    """The result of a game day that did not start: a dry run, or ``refusal``'s inconclusive."""
    planned = ", ".join(a["name"] for a in experiment["method"])
    reasons = [*([refusal] if refusal else []), f"nothing was run: {planned}"]
    return not_run(experiment, ext, "inconclusive" if refusal else "dry-run", reasons)


def run_gamedays(
    experiments: Sequence[Path],
    *,
    configuration: Mapping[str, Any] | None = None,
    out_dir: Path | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> list[GamedayResult]:
    """Run ``experiments`` one after the other on the same target, each into
    ``out_dir/<experiment name>/`` (default: beside each experiment). Each waits until its
    pages have resolved before the next starts (with ``prometheus_url``); ``options`` are
    :func:`run_gameday`'s. An interrupted game day (Ctrl-C, SIGTERM: ``result.interrupted``)
    ends the sequence: the ones after it are not run (:func:`not_run_after`, no report). A
    value one of them would have clamped raises
    :class:`~sloctl.chaos.experiments.ExperimentValueError` before the first runs."""
    check_experiment_values({p: json.loads(Path(p).read_text()) for p in experiments}, configuration or {})
    results: list[GamedayResult] = []
    for index, path in enumerate(experiments, 1):
        if results and results[-1].interrupted:
            stopped = results[-1]
            results += [not_run_after(p, stopped) for p in experiments[index - 1 :]]
            if progress is not None:
                progress(
                    f"{stopped.gameday} was interrupted: the {len(experiments) - index + 1} after it not run"
                )
            break
        if progress is not None:
            progress(f"game day {index} of {len(experiments)}: {path}")
        target = out_dir / Path(path).stem if out_dir is not None else None
        results.append(
            run_gameday(path, configuration=configuration, out_dir=target, progress=progress, **options)
        )
    return results


def not_run_after(path: Path, stopped: GamedayResult) -> GamedayResult:
    """The result of game day ``path`` of a sequence that ``stopped`` (interrupted) ended:
    inconclusive, not run, no report (the folder keeps its last real run's)."""
    experiment = named(json.loads(Path(path).read_text()), Path(path))
    reason = f"not run: the sequence ended when {stopped.gameday} was interrupted"
    return not_run(experiment, sloctl_extension(experiment), "inconclusive", [reason])
