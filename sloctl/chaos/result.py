"""A game day's result: the verdict from the Chaos Toolkit journal, the phases, the breaker
timings, the checks and the load, as one :class:`GamedayResult` (Prometheus' figures, time to
detect and to resolve, are added by :mod:`sloctl.chaos.detection`).

Verdicts:

- ``inconclusive`` when the baseline was not healthy, when the game day's setup failed, when
  a fault could not be confirmed active (an ``inject:`` action failed), or when a stop
  condition tripped before any fault was injected (a page still firing from an earlier run):
  nothing was learnt about the system; also when the run was refused (the budget gate, a
  target outside the allow-list);
- ``fail`` when the run was aborted by a stop condition after the fault or interrupted (Ctrl-C
  or SIGTERM, also while it waited for its pages to resolve), when a check of the method
  failed, when the steady state did not come back, or when an expected page did not fire or
  the pages did not resolve in time;
- ``pass`` otherwise;
- ``dry-run`` when nothing was run.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "SETUP_FAILED",
    "GamedayResult",
    "journal_start",
    "named",
    "not_run",
    "sloctl_extension",
    "summarise",
    "verdict_of",
    "was_interrupted",
]

#: how a game day's own setup failure starts its message (:mod:`sloctl.chaos.load`)
SETUP_FAILED = "setup failed"


@dataclass(kw_only=True)
class GamedayResult:
    experiment: str
    gameday: str
    verdict: str
    reasons: list[str]
    status: str
    phases: dict[str, list[float]] = field(default_factory=dict)
    #: the first expected page alert firing, seconds after the fault was confirmed (Prometheus)
    time_to_detect_s: float | None = None
    #: the breakers of the failed dependencies open, seconds after the fault was confirmed
    breaker_open_s: float | None = None
    #: the breakers closed again, seconds after recovery started
    time_to_recover_s: float | None = None
    expected_alerts: list[str] = field(default_factory=list)
    alerts: dict[str, str] = field(default_factory=dict)
    budget_consumed_percent: float | None = None
    stop_reason: str | None = None
    faults_left: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    load: dict[str, Any] | None = None
    duration_s: float = 0.0
    #: seconds from the start of the run to the start of the load (the timeline's offset)
    load_offset_s: float = 0.0
    #: seconds from the start of the run to the fault being confirmed active
    fault_at_s: float | None = None
    #: the last page of the run resolved, seconds after the fault was confirmed (Prometheus)
    time_to_resolve_s: float | None = None
    #: the settle: how many seconds after the run its pages had to stay quiet to count as
    #: resolved (:func:`sloctl.chaos.detection.settle_seconds`); None: no wait for the pages
    resolve_settle_s: float | None = None
    #: every page that fired from the start of the run until they resolved, expected or not:
    #: alert name → what happened to it
    pages: dict[str, str] = field(default_factory=dict)
    #: the run, or the wait for its pages to resolve, was stopped by Ctrl-C or SIGTERM: a
    #: sequence of game days ends there (:func:`sloctl.chaos.gameday.run_gamedays`)
    interrupted: bool = False
    #: faults whose undo raised, ``"<fault>: <error>"``: they may still be in place
    undo_failures: list[str] = field(default_factory=list)
    #: the rig's timing profile (``timing_profile`` of the configuration; "" when not said)
    timing_profile: str = ""
    #: the rig's Prometheus evaluated the rules with short windows this many times shorter
    #: (``fast_reset`` of the configuration, :mod:`sloctl.chaos.rig`; 1: as generated)
    fast_reset: int = 1
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def journal_start(journal: Mapping[str, Any]) -> float:
    """When the run started (epoch seconds); now when the journal does not say."""
    return _ts(journal.get("start")) or time.time()


def _runs(journal: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [r for r in journal.get("run", []) if isinstance(r, dict)]


#: how an activity's failure reads when Chaos Toolkit's own SIGTERM handler interrupted it
#: (its Python provider wraps the InterruptExecution in an ActivityFailed)
_INTERRUPT_EXECUTION = "InterruptExecution"


def was_interrupted(journal: Mapping[str, Any]) -> bool:
    """The run was interrupted (Ctrl-C, SIGTERM): Chaos Toolkit says so, or one of its
    activities failed of the interrupt (SIGTERM under Chaos Toolkit's own handler, which the
    activity swallowed: the method then carried on and the journal says ``completed``)."""
    if journal.get("status") == "interrupted":
        return True
    return any(
        r.get("status") != "succeeded" and _INTERRUPT_EXECUTION in _error(r, whole=True)
        for r in [*_runs(journal), *journal.get("rollbacks", [])]
        if isinstance(r, dict)
    )


def _faulted(journal: Mapping[str, Any]) -> bool:
    """An ``inject:`` action of the method ran (its fault may have been applied)."""
    return any(str(r["activity"].get("name", "")).startswith("inject:") for r in _runs(journal))


def verdict_of(journal: Mapping[str, Any], stop_reason: str | None = None) -> tuple[str, list[str]]:
    reasons: list[str] = []
    before = journal.get("steady_states", {}).get("before")
    if stop_reason and not _faulted(journal):
        return "inconclusive", [
            f"a stop condition tripped before any fault was injected: {stop_reason};"
            " nothing was learnt about the fault (a page still firing from an earlier run?)"
        ]
    if stop_reason:
        return "fail", [f"aborted by a stop condition: {stop_reason}"]
    if was_interrupted(journal):
        return "fail", ["run interrupted (Ctrl-C or SIGTERM)"]
    if journal.get("status") == "aborted":
        return "fail", ["run aborted"]
    if before is not None and not before.get("steady_state_met"):
        missed = [
            f"{p['activity'].get('name')} = {p.get('output')!r} ({p.get('status')})"
            for p in before.get("probes", [])
            if not p.get("tolerance_met", p.get("status") == "succeeded")
        ]
        return "inconclusive", ["the baseline did not meet the SLOs: nothing to compare with", *missed]
    for run in _runs(journal):
        name = str(run["activity"].get("name", ""))
        if run.get("status") != "succeeded" and SETUP_FAILED in _error(run):
            reasons.append(f"the game day's setup failed, nothing was learnt: {name}: {_error(run)}")
        # "isolation:" is the fault a check needs (tier isolation): unconfirmed, it taught nothing.
        elif name.startswith(("inject:", "isolation:")) and run.get("status") != "succeeded":
            reasons.append(f"fault not confirmed active: {name}: {_error(run)}")
    if reasons:
        return "inconclusive", reasons
    for run in _runs(journal):
        name = str(run["activity"].get("name", ""))
        if run.get("status") != "succeeded":
            reasons.append(f"{name}: {_error(run)}")
    after = journal.get("steady_states", {}).get("after")
    if journal.get("deviated") or (after is not None and not after.get("steady_state_met")):
        reasons.append("the steady state did not come back after recovery")
    if journal.get("status") == "failed":
        reasons.append("Chaos Toolkit reported the run failed")
    return ("fail", reasons) if reasons else ("pass", ["every check held"])


def _error(run: Mapping[str, Any], *, whole: bool = False) -> str:
    """What an activity failed of: the last line of its exception (300 characters), or the
    whole of it (``whole``)."""
    text = str(run.get("exception") or run.get("output") or "")
    if isinstance(run.get("exception"), list):
        text = "".join(run["exception"]).strip()
        if not whole:
            text = text.splitlines()[-1] if text else ""
    return text if whole else text[:300]


def _phases(runs: list[dict[str, Any]], start: float, end: float) -> dict[str, list[float]]:
    inject = [r for r in runs if str(r["activity"].get("name", "")).startswith("inject:")]
    recover = [r for r in runs if str(r["activity"].get("name", "")).startswith("recover:")]
    inject_start = _ts(inject[0]["start"]) if inject else None
    recover_start = _ts(recover[0]["start"]) if recover else None
    phases: dict[str, list[float]] = {"baseline": [0.0, round((inject_start or end) - start, 3)]}
    if inject_start is not None:
        phases["inject"] = [round(inject_start - start, 3), round((recover_start or end) - start, 3)]
    if recover_start is not None:
        phases["recover"] = [round(recover_start - start, 3), round(end - start, 3)]
    return phases


def _breaker_times(
    runs: list[dict[str, Any]], inject_end: float | None, recover_start: float | None
) -> tuple[float | None, float | None]:
    """Seconds from the fault confirmed to the breakers open, and from recovery started to
    the breakers closed (the slowest of the failed dependencies)."""
    breaker_open = recover_time = None
    for run in runs:
        provider = run["activity"].get("provider", {})
        if provider.get("func") != "wait_for_breaker" or run.get("status") != "succeeded":
            continue
        state = provider.get("arguments", {}).get("state")
        if state == "open" and inject_end is not None:
            finished = _ts(run["end"]) or inject_end
            breaker_open = max(breaker_open or 0.0, round(finished - inject_end, 3))
        if state == "closed" and recover_start is not None:
            finished = _ts(run["end"]) or recover_start
            recover_time = max(recover_time or 0.0, round(finished - recover_start, 3))
    return breaker_open, recover_time


def _load_output(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next(
        (
            r["output"]
            for r in runs
            if r["activity"].get("provider", {}).get("func") == "generate_load"
            and isinstance(r.get("output"), dict)
        ),
        None,
    )


def sloctl_extension(experiment: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment's ``sloctl`` extension (game day name, expected alerts, budget)."""
    return next((e for e in experiment.get("extensions", []) if e.get("name") == "sloctl"), {})


def named(experiment: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """``experiment`` whose ``sloctl`` extension names its game day: a hand-written
    experiment's (no extension, or no ``gameday`` in it) is its file's name, as its report
    folder is (``reports/<name>/``); it was empty, and the run printed ``: pass``."""
    if sloctl_extension(experiment).get("gameday"):
        return dict(experiment)
    others = [e for e in experiment.get("extensions", []) if e.get("name") != "sloctl"]
    ext = {**sloctl_extension(experiment), "name": "sloctl", "gameday": path.stem}
    return {**experiment, "extensions": [*others, ext]}


def summarise(
    journal: Mapping[str, Any],
    experiment: Mapping[str, Any],
    stop_reason: str | None,
    *,
    signalled: bool = False,
    undo_failures: Sequence[str] = (),
) -> GamedayResult:
    """The result of a run from its Chaos Toolkit journal (Prometheus' figures come later).
    ``signalled``: the control saw SIGINT or SIGTERM during the run (the run was interrupted,
    whatever the journal says); ``undo_failures``: faults whose undo raised, with the error."""
    ext = sloctl_extension(experiment)
    runs = _runs(journal)
    start = journal_start(journal)
    end = _ts(journal.get("end")) or time.time()
    inject = [r for r in runs if str(r["activity"].get("name", "")).startswith("inject:")]
    recover = [r for r in runs if str(r["activity"].get("name", "")).startswith("recover:")]
    inject_end = _ts(inject[-1]["end"]) if inject else None
    breaker_open, recover_time = _breaker_times(
        runs, inject_end, _ts(recover[0]["start"]) if recover else None
    )
    checks = [
        {"name": r["activity"].get("name"), "status": r.get("status"), "output": r.get("output")}
        for r in runs
        if str(r["activity"].get("name", "")).startswith("check:")
    ]
    load = _load_output(runs)
    verdict, reasons = verdict_of(journal, stop_reason)
    stopped = stop_reason is None and (signalled or was_interrupted(journal))
    if stopped and verdict != "fail":
        verdict, reasons = "fail", ["run interrupted (Ctrl-C or SIGTERM)"]
    reasons += [
        f"could not undo fault {f}; it may still be in place: check it by hand" for f in undo_failures
    ]
    from .ledger import LEDGER

    return GamedayResult(
        experiment=str(experiment.get("title", "")),
        gameday=str(ext.get("gameday", "")),
        verdict=verdict,
        reasons=reasons,
        status=str(journal.get("status")),
        phases=_phases(runs, start, end),
        breaker_open_s=breaker_open,
        time_to_recover_s=recover_time,
        expected_alerts=list(ext.get("expected_alerts", [])),
        stop_reason=stop_reason,
        interrupted=stopped,
        undo_failures=list(undo_failures),
        faults_left=LEDGER.pending(),
        checks=checks,
        load=load,
        duration_s=round(end - start, 3),
        load_offset_s=round(float(load.get("started", start)) - start, 3) if load else 0.0,
        fault_at_s=round(inject_end - start, 3) if inject_end is not None else None,
        **_rig_stated(experiment),
    )


def _rig_stated(experiment: Mapping[str, Any]) -> dict[str, Any]:
    """What the configuration says of the rig: its timing profile and fast reset."""
    configuration = experiment.get("configuration", {})
    try:
        fast_reset = max(1, int(configuration.get("fast_reset", 1)))
    except (TypeError, ValueError):
        fast_reset = 1
    return {"timing_profile": str(configuration.get("timing_profile", "")), "fast_reset": fast_reset}


def not_run(
    experiment: Mapping[str, Any], ext: Mapping[str, Any], verdict: str, reasons: list[str]
) -> GamedayResult:
    return GamedayResult(
        experiment=str(experiment.get("title", "")),
        gameday=str(ext.get("gameday", "")),
        verdict=verdict,
        reasons=reasons,
        status="not run",
        expected_alerts=list(ext.get("expected_alerts", [])),
        **_rig_stated(experiment),
    )
