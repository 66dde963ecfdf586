"""One SLO-gated load test from request to reports: what ``sloctl loadtest`` runs.

The thresholds come from the SLO files and the extra k6-style expressions, the scenario runs
headless (:func:`~.runner.run_scenario`), and the verdicts are written as ``report.json`` and
``report.html`` in the report directory. A request that cannot run raises
:class:`LoadtestAborted`, which says whether the user must change a flag or a file (``usage``)
or the run itself failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sloctl.durations import DurationError, parse_seconds
from sloctl.egress import EgressDenied, parse_networks
from sloctl.files import write_pair
from sloctl.masking import mask_text
from sloctl.model import SLO

from .report import Report, render_html, render_json
from .results import STEP_FAILURE_ALPHA, evaluate
from .runner import (
    BREAKPOINT_MAX_STEPS,
    BREAKPOINT_STEP_SECONDS,
    SCENARIOS,
    HostUnreachable,
    LoadShape,
    LoadtestError,
    LoadtestInterrupted,
    RunOptions,
    breakpoint_gates,
    preflight,
    resolve_scenario,
    run_scenario,
    scenario_default_duration,
)
from .thresholds import Threshold, ThresholdError, parse_threshold, thresholds_from_slos, unknown_route

__all__ = ["DEFAULT_DURATION", "LoadtestAborted", "LoadtestRequest", "run_loadtest", "write_reports"]

#: seconds a run lasts when neither the request nor the scenario file says
DEFAULT_DURATION = 30.0


class LoadtestAborted(Exception):
    """The load test did not run to a verdict. ``usage``: a flag or file to change (the CLI's
    exit 2); otherwise the run failed (exit 1)."""

    def __init__(self, message: str, *, usage: bool = True, interrupted: bool = False) -> None:
        super().__init__(message)
        self.usage = usage
        #: stopped by ``stop`` (Ctrl-C, SIGTERM) before any result was written
        self.interrupted = interrupted


@dataclass(frozen=True)
class LoadtestRequest:
    """What to run: the flags of ``sloctl loadtest`` (``docs/loadtest.md``)."""

    scenario: str
    host: str
    #: the SLOs whose latency and availability objectives gate the run (loaded by the caller)
    slos: tuple[SLO, ...] = ()
    #: extra gates in k6 style (``p(95)<200``)
    thresholds: tuple[str, ...] = ()
    #: seconds; None: the scenario's ``DEFAULT_DURATION``, else :data:`DEFAULT_DURATION`
    duration: float | None = None
    load: LoadShape = field(default_factory=LoadShape)
    #: networks besides loopback the host may resolve to (CIDR)
    allow_host: tuple[str, ...] = ()
    report_dir: Path = Path("loadtest-report")
    #: the command line, kept (masked) in the report
    command: str = ""
    #: the users a breakpoint search must hold (a whole step within every gate it watches)
    breakpoint_at_least: int | None = None
    #: how unlikely a step's failures must be at a ``failure_ratio`` gate's limit before they
    #: break the search (None: :data:`~.results.STEP_FAILURE_ALPHA`)
    breakpoint_alpha: float | None = None
    #: seconds each step of a breakpoint search lasts (None: :data:`~.runner.BREAKPOINT_STEP_SECONDS`)
    breakpoint_step: float | None = None


def run_loadtest(
    request: LoadtestRequest,
    *,
    progress: Callable[[str], None] = lambda _m: None,
    stop: threading.Event | None = None,
) -> Report:
    """Run ``request`` and write its reports; ``progress`` hears one line before the run and the
    time run every few seconds while it runs. ``stop`` set (Ctrl-C, SIGTERM) stops the run
    gracefully: the users deprovision what they provisioned, and the reports of what ran so far
    are written, marked interrupted (:attr:`Report.interrupted`, never passed);
    :class:`LoadtestAborted` with ``interrupted`` when Locust stopped before any result."""
    try:
        scenario = resolve_scenario(request.scenario)
        extra = tuple(parse_threshold(t) for t in request.thresholds)
    except (LoadtestError, ThresholdError) as exc:
        raise LoadtestAborted(str(exc)) from None
    if request.scenario in SCENARIOS:  # a bundled scenario requests the API's routes alone
        for text, gate in zip(request.thresholds, extra, strict=True):
            if (why := unknown_route(gate)) is not None:
                raise LoadtestAborted(f"--threshold {text!r}: the {request.scenario} scenario sends {why}")
    derived, skipped = thresholds_from_slos(request.slos)
    gates = (*derived, *extra)
    if not gates:
        raise LoadtestAborted("no thresholds: give --slos with latency or availability SLOs, or --threshold")
    options = _options(request, scenario, gates)
    _check_search(request, options)
    try:
        preflight(options.host, options.allow)
    except (EgressDenied, HostUnreachable) as exc:
        raise LoadtestAborted(str(exc)) from None
    progress(
        f"{scenario.stem} against {mask_text(request.host)} for {options.duration:g} s"
        f" ({len(gates)} threshold(s)"
        f"{', ' + str(options.processes) + ' workers' if options.processes else ''})"
    )
    try:
        run = run_scenario(scenario, options, workdir=request.report_dir, progress=progress, stop=stop)
    except EgressDenied as exc:
        raise LoadtestAborted(str(exc)) from None
    except LoadtestInterrupted as exc:
        raise LoadtestAborted(str(exc), usage=False, interrupted=True) from None
    except LoadtestError as exc:
        raise LoadtestAborted(str(exc), usage=False) from None
    report = Report(
        scenario=scenario.stem,
        host=mask_text(request.host),
        duration=options.duration,
        gates=evaluate(gates, run),
        skipped=skipped,
        run=run,
        command=mask_text(request.command),
        interrupted=run.stopped_by == "interrupted",
        breakpoint_at_least=request.breakpoint_at_least,
    )
    write_reports(report, request.report_dir)
    return report


def write_reports(report: Report, folder: Path) -> None:
    """``report.html`` and ``report.json`` in ``folder``, as a pair (:func:`~sloctl.files.write_pair`)."""
    write_pair(folder / "report.html", render_html(report), folder / "report.json", render_json(report))


def _duration(request: LoadtestRequest, scenario: Path) -> float:
    if request.duration is not None:
        return request.duration
    default = scenario_default_duration(scenario)
    if not default:
        return DEFAULT_DURATION
    try:
        return parse_seconds(default.strip())
    except DurationError as exc:
        raise LoadtestAborted(f"{scenario}: DEFAULT_DURATION: {exc}") from None


def _check_search(request: LoadtestRequest, options: RunOptions) -> None:
    """A breakpoint search that could only end one way is refused before any load: one without a
    gate to stop on, shorter than a step, or asked to hold more users than it can add. Your own
    Locust file is not inspected (whether it searches is known after the run)."""
    least, alpha, step = request.breakpoint_at_least, request.breakpoint_alpha, request.breakpoint_step
    if least is not None and least < 1:
        raise LoadtestAborted(f"--breakpoint-at-least {least}: give 1 or more users")
    if alpha is not None and not 0 < alpha < 1:
        raise LoadtestAborted(
            f"--breakpoint-alpha {alpha:g}: give a probability above 0 and below 1"
            f" (default {STEP_FAILURE_ALPHA:g})"
        )
    if request.scenario in SCENARIOS and request.scenario != "breakpoint":
        for flag, value in (
            ("--breakpoint-at-least", least),
            ("--breakpoint-alpha", alpha),
            ("--breakpoint-step", step),
        ):
            if value is not None:
                raise LoadtestAborted(
                    f"{flag}: the {request.scenario} scenario runs no breakpoint search;"
                    " use it with the breakpoint scenario"
                )
        return
    if request.scenario != "breakpoint":
        return
    if not options.breakpoint_gates:
        raise LoadtestAborted(
            "the breakpoint scenario stops on a latency or failure gate with an upper limit"
            " (p(…), avg, max or failure_ratio with < or <=), and none was given: give --slos with"
            " latency or availability SLOs, or --threshold 'p(95)<200'"
        )
    seconds = options.breakpoint_step
    steps = min(BREAKPOINT_MAX_STEPS, int(options.duration // seconds))
    if steps < 1:
        raise LoadtestAborted(
            f"--duration {options.duration:g}s: a breakpoint search runs steps of {seconds:g} s"
            f" (--breakpoint-step); give {seconds:g}s or more"
        )
    if least is not None and least > steps * options.users:
        raise LoadtestAborted(
            f"--breakpoint-at-least {least}: the search reaches {steps * options.users} users at most"
            f" ({steps} steps of {seconds:g} s in --duration {options.duration:g}s,"
            f" at most {BREAKPOINT_MAX_STEPS}, each adding --users {options.users}); raise --users or"
            " --duration"
        )


def _options(request: LoadtestRequest, scenario: Path, gates: tuple[Threshold, ...]) -> RunOptions:
    try:
        allow = RunOptions.allow + tuple(str(n) for n in parse_networks(request.allow_host))
        return RunOptions(
            host=request.host,
            duration=_duration(request, scenario),
            allow=allow,
            breakpoint_gates=breakpoint_gates(gates),
            breakpoint_alpha=STEP_FAILURE_ALPHA
            if request.breakpoint_alpha is None
            else request.breakpoint_alpha,
            breakpoint_step=BREAKPOINT_STEP_SECONDS
            if request.breakpoint_step is None
            else request.breakpoint_step,
            **asdict(request.load),
        )
    except (LoadtestError, EgressDenied) as exc:
        raise LoadtestAborted(str(exc)) from None
