"""What Prometheus saw of a game day: whether and when the expected pages fired (time to
detect), every page that fired during the run, expected or not, the error budget the run spent,
and how long the pages took to resolve (time to resolve).

The reliability plan asks for detection in under 5 minutes and resolution in under 15: a run
fails when an expected page misses ``detection_deadline_seconds`` (when above 0) or when the
pages still fire ``resolve_deadline_seconds`` after the fault (default 900 s, the plan's MTTR).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from sloctl.durations import DurationError, parse_duration
from sloctl.reports.gameday import NOT_MEASURED_INTERRUPTED

from . import probes
from .result import GamedayResult

__all__ = [
    "PLAN_MTTR_SECONDS",
    "RESOLVE_POLL_SECONDS",
    "configured_seconds",
    "detection_figures",
    "firing_pages",
    "pages_between",
    "resolution_figures",
    "settle_seconds",
    "wait_until_resolved",
]

#: the plan's mean time to resolve, the default bound of the wait for the pages to resolve
PLAN_MTTR_SECONDS = 900.0
#: seconds between two reads of the firing pages while waiting for them to resolve: a rig's
#: Prometheus evaluates its rules every second, and a wait that read them once a second saw a
#: page resolve up to a second late, after every game day of a sequence. Game days reach only
#: loopback Prometheus servers, for which four instant queries a second are nothing.
RESOLVE_POLL_SECONDS = 0.25
#: every page alert, from Prometheus' ALERTS series
_PAGES = 'max by (alertname) (ALERTS{alertstate="firing", severity="page"})'
#: the slice of every timeslice SLO of the generated rules (their info series' label)
_SLICES = 'group by (sloctl_slice) (sloctl_slo_info{sloctl_budgeting="timeslices"})'
#: rule evaluations a page lags behind its data: the scrape that brings a sample, then the
#: evaluation of the rules that read it (one interval each, the scrape's at most the rules')
_SETTLE_EVALUATIONS = 2


def pages_between(url: str, start: float, end: float) -> dict[str, float]:
    """Every page alert firing at some moment of ``[start, end]``: name → first such moment."""
    series = probes.prometheus_range(url, _PAGES, start, end, 1.0)
    return {labels.get("alertname", "?"): min(t for t, _ in points) for labels, points in series if points}


def firing_pages(url: str) -> set[str]:
    """The page alerts firing now."""
    return {labels.get("alertname", "?") for labels in probes.prometheus_labels(url, _PAGES)}


def wait_until_resolved(
    url: str,
    *,
    timeout: float,
    progress: Callable[[str], None] | None = None,
    every: float = 15.0,
    stop: threading.Event | None = None,
    poll: float = RESOLVE_POLL_SECONDS,
    quiet_until: float = 0.0,
    awaited: Collection[str] = (),
    awaited_until: float = 0.0,
) -> float | None:
    """Poll Prometheus every ``poll`` seconds until no page fires and none can still trip; the
    epoch second from which the pages were seen quiet, once that quiet has lasted until
    ``quiet_until`` (epoch seconds: what the run left has been judged) and, until
    ``awaited_until``, every page of ``awaited`` has been seen firing (a page that fires again
    ends the quiet: it is counted from its next resolution). None when pages still fire after
    ``timeout`` seconds or once ``stop`` is set (a bounded loop); quiet at the timeout counts."""
    poll = max(poll, 0.01)
    deadline = time.monotonic() + timeout
    next_report = time.monotonic() + every
    stop = stop or threading.Event()
    pending = set(awaited)
    quiet_since: float | None = None
    for _ in range(math.ceil(timeout / poll) + 2):  # one read per ``poll`` at most
        firing = firing_pages(url)
        now = time.time()
        pending -= firing
        quiet_since = None if firing else (now if quiet_since is None else quiet_since)
        hold = max(quiet_until, awaited_until if pending else 0.0)
        over = time.monotonic() >= deadline
        if quiet_since is not None and (now >= hold or over):
            return quiet_since
        if over or stop.is_set():
            return None
        if progress is not None and time.monotonic() >= next_report:
            progress(_waiting_for(firing, pending, hold - now))
            next_report += every
        if stop.wait(poll):
            return None
    return None


def _waiting_for(firing: Collection[str], pending: Collection[str], left: float) -> str:
    """What the wait for the pages to resolve is waiting for, in words."""
    if firing:
        what = f"waiting for the pages to resolve: {', '.join(sorted(firing))}"
    elif pending:
        what = f"no page fires; waiting up to {left:.0f} s for {', '.join(sorted(pending))} (expected)"
    else:
        what = f"no page fires; waiting {left:.0f} s more for the run's last data to be judged"
    return f"{what} (Ctrl-C ends the wait and keeps the report)"


def settle_seconds(url: str, configuration: Mapping[str, Any]) -> float:
    """How long after a run its pages must stay quiet before they count as resolved: a page
    can still trip until the run's last data has been judged, which takes up to the longest
    timeslice (a slice is judged once it has ended) and two rule evaluations (the scrape, then
    the rules). ``resolve_settle_seconds`` when set; otherwise read from Prometheus: the slices
    of the generated rules' ``sloctl_slo_info`` and the evaluation interval of the rule groups
    that hold page alerts. Without it, a rig's wait ended at the first quiet poll, a latency
    page tripped by the run's last slice fired a few seconds later (CI, 2026-12-07), and the
    next game day started on a firing page."""
    given = configured_seconds(configuration, "resolve_settle_seconds")
    if given is not None:
        return max(given, 0.0)
    slices = [_slice(labels.get("sloctl_slice")) for labels in probes.prometheus_labels(url, _SLICES)]
    return max(slices, default=0) + _SETTLE_EVALUATIONS * probes.page_evaluation_interval(url)


def _slice(label: str | None) -> int:
    """Seconds in a ``sloctl_slice`` label; 0 for none or one that is not a duration (an info
    series that other rules than sloctl's wrote)."""
    try:
        return parse_duration(label) if label else 0
    except DurationError:
        return 0


def configured_seconds(configuration: Mapping[str, Any], key: str) -> float | None:
    """The finite number of seconds ``configuration[key]`` holds; None when it holds none (left
    out, or not a number, e.g. an environment lookup that Chaos Toolkit resolves later)."""
    value = configuration.get(key)
    if value is None or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) else None


def _resolve_deadline(configuration: Mapping[str, Any]) -> float:
    seconds = configured_seconds(configuration, "resolve_deadline_seconds")
    return PLAN_MTTR_SECONDS if seconds is None else seconds


def _what_to_wait_for(
    url: str, result: GamedayResult, configuration: Mapping[str, Any], start: float, fault: float | None
) -> dict[str, Any]:
    """Besides quiet, what the wait for the run's pages holds out for: the settle after the run
    (:func:`settle_seconds`, stated in the result) and, until the detection deadline after the
    fault (when above 0), the expected pages that have not fired yet."""
    seconds = configured_seconds(configuration, "detection_deadline_seconds") or 0.0
    settle = settle_seconds(url, configuration)
    result.resolve_settle_s = round(settle, 3)
    return {
        "quiet_until": time.time() + settle,
        "awaited": set(result.expected_alerts) - set(pages_between(url, start, time.time())),
        "awaited_until": fault + seconds if fault is not None and seconds > 0 else 0.0,
    }


def _page_moment(first: float, start: float, fault: float | None) -> str:
    """When a page of the run fired, in words: after the fault, already before it (not a
    detection), or, in a run that injected no fault, so many seconds into the run. Never a
    negative time."""
    if fault is None:
        return f"fired {round(first - start, 3)} s into the run, no fault was injected"
    if first < fault:
        return "was already firing before the fault"
    return f"fired {round(first - fault, 3)} s after the fault"


def resolution_figures(
    result: GamedayResult,
    configuration: Mapping[str, Any],
    start: float,
    progress: Callable[[str], None] | None = None,
    *,
    stop: threading.Event | None = None,
) -> float | None:
    """Wait until the pages of the run resolve (at most ``resolve_deadline_seconds`` after the
    fault; 0: do not wait, only list them), then list every page that fired since ``start`` and
    set the time to resolve; the moment the wait ended (None without Prometheus). An
    interrupted run (``result.interrupted``) does not wait; ``stop`` set (Ctrl-C, SIGTERM) ends
    the wait: the run is then interrupted, its time to resolve :data:`NOT_MEASURED_INTERRUPTED`."""
    url = str(configuration.get("prometheus_url") or "")
    if not url:
        return None
    deadline = _resolve_deadline(configuration)
    fault = start + result.fault_at_s if result.fault_at_s is not None else None
    since = fault if fault is not None else start
    waits = deadline > 0 and not result.interrupted
    try:
        if waits:
            resolved = wait_until_resolved(
                url,
                timeout=max(0.0, since + deadline - time.time()),
                progress=progress,
                stop=stop,
                **_what_to_wait_for(url, result, configuration, start, fault),
            )
        else:
            resolved = time.time() if not firing_pages(url) else None
        ended = resolved if resolved is not None else time.time()
        seen = pages_between(url, start, ended)
    except Exception as exc:  # Prometheus down must not lose the report
        result.reasons.append(f"pages and time to resolve: not measured ({exc})")
        return None
    for alert, first in sorted(seen.items()):
        kind = "expected" if alert in result.expected_alerts else "unexpected"
        result.pages[alert] = f"{kind}, {_page_moment(first, start, fault)}"
    stopped = waits and resolved is None and stop is not None and stop.is_set()
    _resolution_verdict(
        result, resolved, fault, fired=bool(seen), waits=waits, stopped=stopped, deadline=deadline
    )
    return ended


def _resolution_verdict(
    result: GamedayResult,
    resolved: float | None,
    fault: float | None,
    *,
    fired: bool,
    waits: bool,
    stopped: bool,
    deadline: float,
) -> None:
    """The time to resolve (from the fault to ``resolved``, when pages ``fired``), or why there
    is none: the wait ``stopped`` (the run then fails as interrupted), the run was interrupted,
    or the pages still fired at the ``deadline``, which fails a passing run."""
    if stopped:
        result.interrupted = True
        if result.verdict != "fail":
            result.verdict, result.reasons = "fail", []
        result.reasons.append(
            f"interrupted while waiting for the pages to resolve: time to resolve {NOT_MEASURED_INTERRUPTED}"
        )
    elif result.interrupted:
        result.reasons.append(
            f"time to resolve {NOT_MEASURED_INTERRUPTED}: the run was, its pages were not waited for"
        )
    if resolved is None:
        result.pages = {a: f"{s}, still firing" for a, s in result.pages.items()}
        if waits and not result.interrupted:
            if result.verdict == "pass":
                result.verdict, result.reasons = "fail", []
            result.reasons.append(
                f"the pages still fired {deadline:g} s after the fault (resolve_deadline_seconds)"
            )
    elif fired and fault is not None:
        result.time_to_resolve_s = round(resolved - fault, 3)


def detection_figures(
    result: GamedayResult,
    configuration: Mapping[str, Any],
    ext: Mapping[str, Any],
    start: float,
    until: float | None = None,
    *,
    run_interrupted: bool | None = None,
) -> None:
    """Did the expected alerts fire, and when; the error budget the run spent. Needs a
    Prometheus that scrapes the API with the generated rules (``prometheus_url``).

    A run that Ctrl-C or SIGTERM stopped (``run_interrupted``, by default
    ``result.interrupted``) has no budget figure: it did not run its course, and what its cut
    span measured (0 % when it was stopped before the load had two scrapes) read as the game
    day's cost. A run that ended and whose wait for its pages was interrupted did, and has one."""
    url = str(configuration.get("prometheus_url") or "")
    if not url:
        result.alerts = {a: "not evaluated: no prometheus_url" for a in result.expected_alerts}
        result.reasons.append("alerts and error budget: not measured (no Prometheus configured)")
        return
    end = start + result.duration_s
    fault = start + result.fault_at_s if result.fault_at_s is not None else None
    after_fault: dict[str, float | None] = {}
    for alert in result.expected_alerts:
        after_fault[alert] = None
        try:
            fired = probes.alert_fired_at(url, alert, start, max(end + 1.0, until or 0.0))
        except Exception as exc:  # Prometheus down must not lose the report
            result.alerts[alert] = f"unknown: {exc}"
            continue
        if fired is None:
            result.alerts[alert] = "did not fire"
        else:
            result.alerts[alert] = _page_moment(fired, start, fault)
            if fault is not None and fired >= fault:
                after_fault[alert] = round(fired - fault, 3)
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
    if result.interrupted if run_interrupted is None else run_interrupted:
        result.budget_consumed_percent = None
        result.reasons.append(
            f"error budget consumed: {NOT_MEASURED_INTERRUPTED} (the run was stopped before its end)"
        )
    else:
        _budget_figure(result, url, ext, start, end)


def _budget_figure(result: GamedayResult, url: str, ext: Mapping[str, Any], start: float, end: float) -> None:
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
            if math.isnan(consumed):
                result.budget_consumed_percent = None
                result.reasons.append(
                    "error budget consumed: not measured (the SLO's total query saw no event"
                    " during the run: check that the load reaches what the SLI counts)"
                )
            else:
                result.budget_consumed_percent = consumed
        except Exception as exc:
            result.reasons.append(f"error budget consumed: not measured ({exc})")
