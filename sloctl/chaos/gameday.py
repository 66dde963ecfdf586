"""``sloctl gameday run``: one experiment through Chaos Toolkit, phases baseline → inject →
recover, a verdict, and the journal plus JSON and HTML reports.

Verdicts:

- ``inconclusive`` when the baseline was not healthy or a fault could not be confirmed active
  (an ``inject:`` action failed): nothing was learnt about the system; also when the run was
  refused because the SLO had too little budget left (``min_budget_remaining_percent``);
- ``fail`` when the run was aborted by a stop condition or interrupted, when a check of the
  method failed, when the steady state did not come back, or (``detection_deadline_seconds``
  > 0) when an expected page did not fire in time;
- ``pass`` otherwise;
- ``dry-run`` when nothing was run.

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

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sloctl.files import write_text
from sloctl.masking import Masker, url_secrets
from sloctl.reports.gameday import render_html

if TYPE_CHECKING:
    from .pagerduty import GamedayPagerDuty

__all__ = [
    "GamedayResult",
    "apply_configuration",
    "maintenance_minutes",
    "render_html",
    "run_gameday",
    "verdict_of",
]


@dataclass
class GamedayResult:
    experiment: str
    gameday: str
    verdict: str
    reasons: list[str]
    status: str
    phases: dict[str, list[float]]
    #: the first expected page alert firing, seconds after the fault was confirmed (Prometheus)
    time_to_detect_s: float | None
    #: the breakers of the failed dependencies open, seconds after the fault was confirmed
    breaker_open_s: float | None
    #: the breakers closed again, seconds after recovery started
    time_to_recover_s: float | None
    expected_alerts: list[str]
    alerts: dict[str, str]
    budget_consumed_percent: float | None
    stop_reason: str | None
    faults_left: list[str]
    checks: list[dict[str, Any]]
    load: dict[str, Any] | None
    duration_s: float
    #: seconds from the start of the run to the start of the load (the timeline's offset)
    load_offset_s: float = 0.0
    #: seconds from the start of the run to the fault being confirmed active
    fault_at_s: float | None = None
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def apply_configuration(experiment: dict[str, Any], configuration: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment with ``configuration`` values set literally (env lookups replaced)."""
    merged = dict(experiment.get("configuration", {}))
    merged.update(configuration)
    return {**experiment, "configuration": merged}


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def _runs(journal: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [r for r in journal.get("run", []) if isinstance(r, dict)]


def verdict_of(journal: Mapping[str, Any], stop_reason: str | None = None) -> tuple[str, list[str]]:
    reasons: list[str] = []
    before = journal.get("steady_states", {}).get("before")
    if stop_reason:
        return "fail", [f"aborted by a stop condition: {stop_reason}"]
    if journal.get("status") in ("interrupted", "aborted"):
        return "fail", [f"run {journal.get('status')}"]
    if before is not None and not before.get("steady_state_met"):
        missed = [
            f"{p['activity'].get('name')} = {p.get('output')!r} ({p.get('status')})"
            for p in before.get("probes", [])
            if not p.get("tolerance_met", p.get("status") == "succeeded")
        ]
        return "inconclusive", ["the baseline did not meet the SLOs: nothing to compare with", *missed]
    for run in _runs(journal):
        name = str(run["activity"].get("name", ""))
        if name.startswith("inject:") and run.get("status") != "succeeded":
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


def _error(run: Mapping[str, Any]) -> str:
    text = str(run.get("exception") or run.get("output") or "")
    if isinstance(run.get("exception"), list):
        text = "".join(run["exception"]).strip().splitlines()[-1]
    return text[:300]


def _summarise(
    journal: Mapping[str, Any], experiment: Mapping[str, Any], stop_reason: str | None
) -> GamedayResult:
    ext: dict[str, Any] = next((e for e in experiment.get("extensions", []) if e.get("name") == "sloctl"), {})
    runs = _runs(journal)
    start = _ts(journal.get("start")) or time.time()
    end = _ts(journal.get("end")) or time.time()
    inject = [r for r in runs if str(r["activity"].get("name", "")).startswith("inject:")]
    recover = [r for r in runs if str(r["activity"].get("name", "")).startswith("recover:")]
    inject_start = _ts(inject[0]["start"]) if inject else None
    inject_end = _ts(inject[-1]["end"]) if inject else None
    recover_start = _ts(recover[0]["start"]) if recover else None
    phases: dict[str, list[float]] = {"baseline": [0.0, round((inject_start or end) - start, 3)]}
    if inject_start is not None:
        phases["inject"] = [round(inject_start - start, 3), round((recover_start or end) - start, 3)]
    if recover_start is not None:
        phases["recover"] = [round(recover_start - start, 3), round(end - start, 3)]
    breaker_open = recover_time = None
    checks: list[dict[str, Any]] = []
    for run in runs:
        name = str(run["activity"].get("name", ""))
        if name.startswith("check:"):
            checks.append({"name": name, "status": run.get("status"), "output": run.get("output")})
        provider = run["activity"].get("provider", {})
        if provider.get("func") == "wait_for_breaker" and run.get("status") == "succeeded":
            state = provider.get("arguments", {}).get("state")
            if state == "open" and inject_end is not None:
                finished = _ts(run["end"]) or inject_end
                breaker_open = max(breaker_open or 0.0, round(finished - inject_end, 3))
            if state == "closed" and recover_start is not None:
                finished = _ts(run["end"]) or recover_start
                recover_time = max(recover_time or 0.0, round(finished - recover_start, 3))
    load = next(
        (
            r.get("output")
            for r in runs
            if r["activity"].get("provider", {}).get("func") == "generate_load"
            and isinstance(r.get("output"), dict)
        ),
        None,
    )
    verdict, reasons = verdict_of(journal, stop_reason)
    from .ledger import LEDGER

    return GamedayResult(
        experiment=str(experiment.get("title", "")),
        gameday=str(ext.get("gameday", "")),
        verdict=verdict,
        reasons=reasons,
        status=str(journal.get("status")),
        phases=phases,
        time_to_detect_s=None,
        breaker_open_s=breaker_open,
        time_to_recover_s=recover_time,
        expected_alerts=list(ext.get("expected_alerts", [])),
        alerts={},
        budget_consumed_percent=None,
        stop_reason=stop_reason,
        faults_left=LEDGER.pending(),
        checks=checks,
        load=load,
        duration_s=round(end - start, 3),
        load_offset_s=round(float(load.get("started", start)) - start, 3) if load else 0.0,
        fault_at_s=round(inject_end - start, 3) if inject_end is not None else None,
    )


def _prometheus_figures(
    result: GamedayResult, configuration: Mapping[str, Any], ext: Mapping[str, Any], start: float
) -> None:
    """Did the expected alerts fire, and when; the error budget the run spent. Needs a
    Prometheus that scrapes the API with the generated rules (``prometheus_url``)."""
    url = str(configuration.get("prometheus_url") or "")
    if not url:
        result.alerts = {a: "not evaluated: no prometheus_url" for a in result.expected_alerts}
        result.reasons.append("alerts and error budget: not measured (no Prometheus configured)")
        return
    from . import probes

    end = start + result.duration_s
    fault = start + result.fault_at_s if result.fault_at_s is not None else None
    after_fault: dict[str, float | None] = {}
    for alert in result.expected_alerts:
        after_fault[alert] = None
        try:
            fired = probes.alert_fired_at(url, alert, start, end + 1.0)
        except Exception as exc:  # Prometheus down must not lose the report
            result.alerts[alert] = f"unknown: {exc}"
            continue
        if fired is None:
            result.alerts[alert] = "did not fire"
        elif fault is not None and fired < fault:
            result.alerts[alert] = "was already firing before the fault"
        else:
            after_fault[alert] = round(fired - (fault if fault is not None else start), 3)
            result.alerts[alert] = f"fired {after_fault[alert]} s after the fault"
    detected = [t for t in after_fault.values() if t is not None]
    result.time_to_detect_s = min(detected) if detected else None
    deadline = float(configuration.get("detection_deadline_seconds") or 0)
    missed = [a for a, t in after_fault.items() if t is None or t > deadline]
    if deadline > 0 and missed and result.verdict == "pass":
        result.verdict = "fail"
        result.reasons = [
            f"expected alert {a} did not fire within {deadline:g} s of the fault: {result.alerts[a]}"
            for a in missed
        ]
    budget = ext.get("budget") or {}
    if budget:
        try:
            consumed = probes.budget_consumed_since(
                url,
                budget["service"],
                budget["slo"],
                budget["error_query"],
                budget["total_query"],
                since=start,
                now=end,
            )
            result.budget_consumed_percent = None if math.isnan(consumed) else consumed
        except Exception as exc:
            result.reasons.append(f"error budget consumed: not measured ({exc})")


def _not_run(
    experiment: Mapping[str, Any], ext: Mapping[str, Any], verdict: str, reasons: list[str]
) -> GamedayResult:
    return GamedayResult(
        experiment=str(experiment.get("title", "")),
        gameday=str(ext.get("gameday", "")),
        verdict=verdict,
        reasons=reasons,
        status="not run",
        phases={},
        time_to_detect_s=None,
        breaker_open_s=None,
        time_to_recover_s=None,
        expected_alerts=list(ext.get("expected_alerts", [])),
        alerts={},
        budget_consumed_percent=None,
        stop_reason=None,
        faults_left=[],
        checks=[],
        load=None,
        duration_s=0.0,
    )


def _budget_gate(configuration: Mapping[str, Any], ext: Mapping[str, Any]) -> str | None:
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
    from sloctl.gate import evaluate

    slo = f"{budget['service']}/{budget['slo']}"
    try:
        verdict = evaluate(
            url, slos=[slo], floor_percent=minimum if minimum > 0 else None, when_unknown="proceed"
        )
    except Exception as exc:
        return f"refused: the error budget of {slo} could not be read: {exc}"
    if verdict.freeze:
        return f"refused: sloctl gate says freeze for {slo}: {verdict.reason}"
    return None


#: minutes added to a maintenance window beyond the run's expected length
MAINTENANCE_MARGIN_MINUTES = 5


def _seconds(value: Any, default: float) -> float:
    """A configuration value in seconds; ``default`` when it is not a finite number (e.g. an
    environment lookup that Chaos Toolkit resolves later)."""
    if isinstance(value, bool):
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return max(seconds, 0.0) if math.isfinite(seconds) else default


def maintenance_minutes(configuration: Mapping[str, Any]) -> int:
    """The length of a game day's maintenance window: ``gameday_seconds`` (the load and the
    fault) plus ``recover_timeout_seconds`` (waiting for the breakers to close), each 60 s when
    missing or not a number, rounded up to whole minutes, plus
    :data:`MAINTENANCE_MARGIN_MINUTES`; within 1..1440 (PagerDuty's day). The window is closed
    as soon as the run is over: its length only matters if sloctl dies mid-run."""
    seconds = _seconds(configuration.get("gameday_seconds"), 60) + _seconds(
        configuration.get("recover_timeout_seconds"), 60
    )
    return min(max(math.ceil(seconds / 60) + MAINTENANCE_MARGIN_MINUTES, 1), 24 * 60)


def _close_window(pagerduty: GamedayPagerDuty, window_id: str) -> str | None:
    """Close the maintenance window; what went wrong, never an exception."""
    try:
        pagerduty.close_maintenance_window(window_id)
    except Exception as exc:
        return f"PagerDuty: maintenance window {window_id} was not closed, close it by hand: {exc}"
    return None


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
) -> GamedayResult:
    """Run one experiment file; write ``journal.json``, ``report.json`` and ``report.html`` to
    ``out_dir`` (default: next to the experiment, in ``reports/<name>/``).

    With ``pagerduty`` and ``maintenance_services`` (PagerDuty service ids), a maintenance window
    covers those services during the run and is closed afterwards, whatever happens; a failure
    to close it is one of the result's reasons. ``protected_services`` are the services that
    receive the alert under test: a window on one of them (or a window without any protected
    service) raises :class:`~sloctl.chaos.pagerduty.MaintenanceWindowError` before anything
    runs, dry runs included. Dry runs open nothing."""
    from chaoslib.experiment import ensure_experiment_is_valid, run_experiment

    from . import control
    from .ledger import LEDGER
    from .pagerduty import check_maintenance_services

    for option, ids in (
        ("maintenance_services", maintenance_services),
        ("protected_services", protected_services),
    ):
        if isinstance(ids, str):
            raise TypeError(f"{option} is a sequence of PagerDuty service ids, not the string {ids!r}")
    experiment = apply_configuration(json.loads(Path(experiment_path).read_text()), configuration or {})
    ensure_experiment_is_valid(experiment)
    # Passwords of the configuration's connection strings, masked wherever they turn up.
    masker = Masker(p for value in experiment["configuration"].values() for p in url_secrets(str(value)))
    if maintenance_services:
        # Refused before anything runs: no report, no change event, no fault.
        check_maintenance_services(maintenance_services, protected_services)
        if pagerduty is not None:
            pagerduty.check_maintenance_window(maintenance_services, protected_services)
    out_dir = out_dir or Path(experiment_path).parent / "reports" / Path(experiment_path).stem
    out_dir.mkdir(parents=True, exist_ok=True)
    ext: dict[str, Any] = next((e for e in experiment.get("extensions", []) if e.get("name") == "sloctl"), {})
    refusal = _budget_gate(experiment["configuration"], ext)
    if dry_run or refusal:
        reasons = [refusal] if refusal else []
        planned = ", ".join(a["name"] for a in experiment["method"])
        return _write(
            _not_run(
                experiment,
                ext,
                "dry-run" if dry_run else "inconclusive",
                [*reasons, f"nothing was run: {planned}"],
            ),
            None,
            out_dir,
            masker,
        )
    settings = {"runtime": {"rollbacks": {"strategy": "always"}}}
    name = str(ext.get("gameday", ""))
    incident: str | None = None
    window: str | None = None
    if pagerduty is not None:
        pagerduty.start(name, {"experiment": str(experiment_path)})
        if maintenance_services:
            window = pagerduty.open_maintenance_window(
                name,
                maintenance_services,
                protected_services,
                maintenance_minutes(experiment["configuration"]),
            )
    window_problem: str | None = None
    failure: BaseException | None = None
    try:
        if pagerduty is not None and practice_incident:
            incident = pagerduty.trigger_practice_incident(name)
        journal: dict[str, Any]
        # What the control saw belongs to this run only (an experiment without the sloctl
        # control must not inherit the stop reason of an earlier run in this process).
        control.STATUS.reset()
        try:
            journal = run_experiment(experiment, settings=settings)
        finally:
            # Belt and braces: whatever Chaos Toolkit did, no fault outlives the run.
            LEDGER.undo_all()
        result = _summarise(journal, experiment, control.STATUS.stop_reason)
        _prometheus_figures(
            result, experiment["configuration"], ext, _ts(journal.get("start")) or time.time()
        )
        if pagerduty is not None:
            # The game day has run and its faults are undone: a PagerDuty failure now is
            # reported, it does not lose the report.
            try:
                if incident is not None:
                    pagerduty.resolve_practice_incident(incident)
                pagerduty.end(
                    name,
                    result.verdict,
                    {
                        "time_to_detect_s": result.time_to_detect_s,
                        "breaker_open_s": result.breaker_open_s,
                        "time_to_recover_s": result.time_to_recover_s,
                        "budget_consumed_percent": result.budget_consumed_percent,
                    },
                )
            except Exception as exc:
                result.reasons.append(f"PagerDuty: the end of the game day was not sent: {exc}")
    except BaseException as exc:
        failure = exc
        raise
    finally:
        # The window is closed whatever happened (also on an exception or an interrupt); a
        # failure to close it never replaces the report nor the exception of the run.
        if pagerduty is not None and window is not None:
            window_problem = _close_window(pagerduty, window)
            if window_problem is not None and failure is not None:
                failure.add_note(window_problem)
    if window_problem is not None:
        result.reasons.append(window_problem)
    return _write(result, journal, out_dir, masker)


def _write(
    result: GamedayResult, journal: Mapping[str, Any] | None, out_dir: Path, masker: Masker
) -> GamedayResult:
    if journal is not None:
        text = json.dumps(masker.data(journal), indent=2, default=str) + "\n"
        write_text(out_dir / "journal.json", text, private=True)
        result.files["journal"] = str(out_dir / "journal.json")
    result.files["json"] = str(out_dir / "report.json")
    result.files["html"] = str(out_dir / "report.html")
    masked = GamedayResult(**masker.data(asdict(result)))  # type: ignore[arg-type]
    write_text(
        out_dir / "report.json", json.dumps(masked.to_json(), indent=2, default=str) + "\n", private=True
    )
    write_text(out_dir / "report.html", render_html(masked), private=True)
    return result
