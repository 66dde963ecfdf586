"""A healthy past for a fresh game-day rig, so that its Prometheus judges a game day against a
budget the rig can meaningfully have.

A rig's Prometheus starts empty: its 30-day error budget is computed over the few minutes it
has seen, so one 30-second fault spends it many times over ("−19074.8 % of its error budget
left") and the second game day is refused by ``sloctl gate``; the 6 h and 30 m windows of the
slow page hold nothing but the fault, so that page stays firing for half an hour. A real
platform has a month of mostly healthy traffic behind it. The rig therefore backfills one
(``promtool tsdb create-blocks-from openmetrics``) before Prometheus starts: for every SLO of the
rule file, its event and error rates over the base window (5 minutes, shorter on a fast-reset
rig; errors 0) and, for a timeslice SLO, its bad-slice flag (0), over the whole period up to the
rig's start.

The long windows are ``sum_over_time`` ratios of the base-window rates, which weigh each sample
alike: the rig evaluates its rules every ``eval_interval`` but the history has one sample per
``step``, so each historic event rate is scaled by ``step / eval_interval`` to weigh as much as
the live samples of the same stretch of time would. The 1-hour window of the quick page reads
the raw counters, which are not backfilled: a fault still pages as on a young service.

>>> text = healthy_history(RULES, end=1_700_000_000, period=3600, rate=20.0)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sloctl import naming
from sloctl.backtest.engine import rule_groups
from sloctl.durations import DAY

__all__ = ["HISTORY_PERIOD", "HistorySeries", "healthy_history", "history_series"]


@dataclass(frozen=True)
class HistorySeries:
    """One recorded series to backfill: its name, labels and the value of a healthy sample."""

    name: str
    labels: tuple[tuple[str, str], ...]
    #: ``rate`` for an event rate (scaled at render time), 0 for errors and bad slices
    events: bool


def _slo_records(groups: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, dict[str, str]]]:
    for group in groups:
        for rule in group.get("rules") or []:
            if "record" in rule:
                yield str(rule["record"]), {str(k): str(v) for k, v in (rule.get("labels") or {}).items()}


def history_series(rules_text: str, base_window: int = naming.BASE_WINDOW) -> list[HistorySeries]:
    """The series a healthy history needs, from a generated rule file whose rates are recorded
    over ``base_window``: each SLO that records its own error rate (a composite, computed from
    its components, records none) gets its event and error rates; a timeslice SLO also its
    bad-slice flag."""
    records = list(_slo_records(rule_groups(rules_text)))
    events, errors = naming.events_rate(base_window), naming.errors_rate(base_window)
    with_errors = {labels.get(naming.LABEL_ID) for name, labels in records if name == errors}
    series: list[HistorySeries] = []
    for name, labels in records:
        if labels.get(naming.LABEL_ID) not in with_errors:
            continue
        if name in (events, errors, naming.TIMESLICE_BAD):
            series.append(HistorySeries(name, tuple(sorted(labels.items())), events=name == events))
    return series


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


#: The healthy history a rig starts with (:func:`healthy_history`): a month, as the SLOs' period.
HISTORY_PERIOD = 30 * DAY


def healthy_history(
    rules_text: str,
    *,
    end: float,
    period: int = HISTORY_PERIOD,
    recent: int = DAY,
    rate: float = 1.0,
    base_windows: Sequence[int] = (naming.BASE_WINDOW,),
    eval_interval: float = 1.0,
) -> str:
    """OpenMetrics text (timestamps in seconds, ``# EOF``) of ``period`` seconds of healthy
    traffic at ``rate`` events/s per SLO up to ``end``, for rules whose rates are recorded over
    ``base_windows`` (one per SLO; a fast-reset rig's timeslice SLOs keep a longer one than the
    others: :data:`sloctl.model.FAST_RESET_MIN_SLICE`).

    The last ``recent`` seconds have one sample per ``step`` (the SLO's base window), aligned on
    multiples of ``step``
    (where the timeslice subqueries evaluate); the rest of the period is one sample in its
    middle that carries that stretch's weight. Prometheus writes a block per two hours of
    samples, and backfilling a month at 5-minute steps took 48 s here; two layers take a few
    seconds and keep every window up to ``recent`` exact. A timeslice SLO sees only the recent
    layer's slices (a day: 288 good slices), so one bad slice spends more of its budget than
    it would after a month."""
    by_name: dict[str, list[tuple[HistorySeries, list[tuple[int, float]]]]] = {}
    for step in sorted(set(base_windows)):
        weights = _weights(step, end=end, period=period, recent=recent, eval_interval=eval_interval)
        for s in history_series(rules_text, step):
            by_name.setdefault(s.name, []).append((s, weights))
    lines: list[str] = []
    for name, series in by_name.items():
        lines.append(f"# TYPE {name} gauge")
        for s, weights in series:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels)
            lines.extend(f"{name}{{{labels}}} {rate * w if s.events else 0:g} {t}" for t, w in weights)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _weights(
    step: int, *, end: float, period: int, recent: int, eval_interval: float
) -> list[tuple[int, float]]:
    """``(timestamp, weight)`` of a history at one sample per ``step`` for the ``recent``
    seconds up to ``end`` and one sample standing for the rest of ``period``: each weighs as
    many live evaluations (every ``eval_interval``) as the stretch it stands for."""
    if step <= 0 or eval_interval <= 0 or not step <= recent < period:
        raise ValueError("need 0 < step <= recent < period and a positive eval_interval")
    last = int(end // step) * step
    recent_times = range(last - (recent // step - 1) * step, last + 1, step)
    # The older stretch's weight sits in its middle: inside the period's window for half a
    # period to come (a sample at its start would leave the 30-day window minutes after the rig
    # starts), outside every alert window shorter than the older stretch's end.
    older = last - ((period + recent) // 2 // step) * step
    return [(older, (period - recent) / eval_interval)] + [(t, step / eval_interval) for t in recent_times]
