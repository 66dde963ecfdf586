"""``sloctl gate``: a CI/CD verdict from the error-budget policies, read from a live Prometheus.

The policies are code (``policy:`` in the SLO files) compiled into the generated rules; the gate
reads what those rules record — remaining budget, no-data state, the policy's steps — through
``sloctl.status`` (same HTTP code, same loopback allow-list) and freezes when any selected SLO's
policy says freeze. It decides on whole answers only: one that Prometheus warned may be partial,
or a selected SLO whose rules failed to evaluate, is :class:`Undecided`, never "proceed".

>>> verdict = evaluate("http://127.0.0.1:9090", slos=["platform-api-availability"])  # doctest: +SKIP
>>> verdict.freeze, verdict.reason                                                   # doctest: +SKIP
(False, 'platform-api-availability: 82.0 % of the error budget left, above every step')
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Unpack

from sloctl.masking import mask_text
from sloctl.model import percent_ratio
from sloctl.policy import Action, Decision
from sloctl.status import ReadOptions, Snapshot, StatusRow, collect

__all__ = ["SloVerdict", "Undecided", "Verdict", "evaluate", "render_verdict", "undecided"]


class Undecided(RuntimeError):
    """Prometheus answered, but not so that the gate may decide: an answer carried warnings
    (its figures may be partial: a store down, a limit hit), or a selected SLO's rules failed
    at their last evaluation (its figures are stale or absent). No verdict, as when
    Prometheus cannot be read."""


@dataclass(frozen=True)
class SloVerdict:
    row: StatusRow
    decision: Decision


@dataclass(frozen=True)
class Verdict:
    slos: tuple[SloVerdict, ...]
    time: float
    """The instant (Unix seconds) every query was evaluated at: ``--time``, else the run's."""
    rules_unchecked: str = ""
    """Why the rules' health of some or all of the SLOs was not checked (no rules API there,
    their groups not listed): the verdict stands on the numbers alone. Empty when checked."""
    floor: float | None = None
    """The caller's own freeze step (a budget-left ratio), beside the policies', if any."""

    @property
    def freeze(self) -> bool:
        return any(v.decision.action == "freeze" for v in self.slos)

    @property
    def without_policy(self) -> tuple[str, ...]:
        """The SLOs judged that can never freeze: no error-budget policy of their own and no
        floor of the caller's (their decision is "proceed" whatever their budget)."""
        return () if self.floor is not None else tuple(v.row.slo for v in self.slos if not v.row.policy)

    @property
    def action(self) -> Action:
        return "freeze" if self.freeze else "proceed"

    @property
    def reason(self) -> str:
        chosen = [v for v in self.slos if v.decision.action == "freeze"] or [
            v for v in self.slos if v.decision.action == "notify"
        ]
        if chosen or len(self.slos) == 1:
            return "; ".join(f"{v.row.slo}: {v.decision.reason}" for v in (chosen or self.slos))
        # Every SLO proceeds: a count, and the ones whose budget or state is unknown by name (the
        # JSON's per-SLO reasons say the rest).
        with_policy = sum(bool(v.row.policy) for v in self.slos)
        summary = f"{len(self.slos)} SLOs, none at a step of its error-budget policy ({with_policy} have one)"
        unknown = [
            v.row.slo
            for v in self.slos
            if v.row.policy and (v.row.no_data or not math.isfinite(v.row.budget_remaining))
        ]
        if unknown:
            summary += f"; unknown budget or state, which their policies let proceed: {', '.join(unknown)}"
        return summary


def evaluate(
    url: str,
    *,
    floor_percent: float | None = None,
    when_unknown: str | None = None,
    require_rule_health: bool = False,
    **read: Unpack[ReadOptions],
) -> Verdict:
    """The policies' verdict for the SLOs that ``read`` selects (``slos``: ids such as
    ``platform-api-availability`` or ``platform-api/availability``; every SLO Prometheus knows
    when empty), read as for ``sloctl status`` (:class:`sloctl.status.ReadOptions`: ``allow``
    adds networks to loopback, ``--allow-host``). ``floor_percent`` adds
    a freeze step of the caller's (a game day does not start under its minimum budget), and
    ``when_unknown`` replaces the policies' action for an unknown budget or state.
    :class:`Undecided` when Prometheus' answers carry warnings or a selected SLO's rules failed
    to evaluate (:func:`undecided`), and with ``require_rule_health`` when their health cannot
    be read (else the verdict says so, :attr:`Verdict.rules_unchecked`)."""
    snapshot = collect(url, **read)
    why = undecided(snapshot, require_rule_health=require_rule_health)
    if why:
        raise Undecided(why)
    floor = None if floor_percent is None else percent_ratio(floor_percent)
    rows = snapshot.rows
    if when_unknown is not None:
        rows = tuple(replace(r, policy_unknown=when_unknown) for r in rows)
    return Verdict(
        tuple(SloVerdict(r, r.decision(floor)) for r in rows), snapshot.time, snapshot.rules_unchecked, floor
    )


def undecided(snapshot: Snapshot, *, require_rule_health: bool = False) -> str | None:
    """Why no verdict can be given on ``snapshot`` (None when one can): Prometheus' warnings
    and the rules of its SLOs that failed to evaluate, each named, and, when
    ``require_rule_health`` (``--require-rule-health``), rules whose health is unknown.
    Infos do not stop it.

    >>> undecided(Snapshot((), 0.0, warnings=("store eu-1 down",)))
    'Prometheus warned that its answer may be partial or wrong: store eu-1 down'
    >>> undecided(Snapshot((), 0.0, rules_unchecked="no rules API"), require_rule_health=True)
    'rule health unknown (--require-rule-health): no rules API'
    """
    reasons = [
        f"{r.slo}: {e} (its figures are stale or absent)" for r in snapshot.rows for e in r.rule_errors
    ]
    if require_rule_health and snapshot.rules_unchecked:
        reasons.append(f"rule health unknown (--require-rule-health): {snapshot.rules_unchecked}")
    if snapshot.warnings:
        reasons.insert(
            0, f"Prometheus warned that its answer may be partial or wrong: {'; '.join(snapshot.warnings)}"
        )
    return "; ".join(reasons) or None


def render_verdict(verdict: Verdict, *, url: str) -> str:
    """The verdict as JSON: ``verdict`` (freeze or proceed), ``reason``, ``prometheus`` (``url``
    with a password in it masked: the verdict lands in CI logs), ``time`` (the instant it was
    judged at, Unix seconds), ``rule_health_checked`` (false when the SLOs' rules' health could
    not be read: the verdict stands on the numbers alone) and ``rule_health_unknown`` (why, or
    null), and per SLO its action, reason, remaining budget (null when unknown) and state."""
    doc = {
        "verdict": verdict.action,
        "reason": verdict.reason,
        "prometheus": mask_text(url),
        "time": verdict.time,
        "rule_health_checked": not verdict.rules_unchecked,
        "rule_health_unknown": verdict.rules_unchecked or None,
        "slos": [
            {
                "slo": v.row.slo,
                "action": v.decision.action,
                "reason": v.decision.reason,
                "budget_remaining": v.row.budget_remaining if math.isfinite(v.row.budget_remaining) else None,
                "state": v.row.state,
                "policy": dict(v.row.policy),
                "when_unknown": v.row.policy_unknown,
            }
            for v in verdict.slos
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
