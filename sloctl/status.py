"""``sloctl status``: every SLO's remaining budget, current burn rate and firing alerts, read
from a live Prometheus through the series that the generated rules record, at one instant, and
what Prometheus says besides the numbers: its answers' warnings (the figures may be partial)
and infos, and the SLOs' rules that failed to evaluate (:class:`Snapshot`).

HTTP goes through the one Prometheus access layer (:mod:`sloctl.prometheus`), hence the egress
guard (loopback only unless ``allow=`` adds networks, no redirect followed, no ``*_proxy``
variable honoured), or through an injected httpx transport, so tests can run without a server.
``sloctl gate`` and ``sloctl serve`` read the same rows through :func:`collect_from`.

>>> snapshot = collect("http://127.0.0.1:9090")     # doctest: +SKIP
>>> print(render_table(snapshot))                    # doctest: +SKIP
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from time import time as wall_clock
from typing import Any, TypedDict, Unpack

import httpx

from sloctl import naming
from sloctl.egress import Egress
from sloctl.masking import mask_text
from sloctl.policy import Decision, decide
from sloctl.prometheus import TIMEOUT, NotServed, Prometheus, Result, by_label

__all__ = [
    "GROUPS_PER_REQUEST",
    "INFO_LABELS",
    "QUERIES",
    "STATES",
    "ReadOptions",
    "RuleError",
    "RuleHealth",
    "Snapshot",
    "StatusRow",
    "UnknownSlo",
    "collect",
    "collect_from",
    "read_info_rules",
    "read_rule_health",
    "render_json",
    "render_table",
    "rows_from",
    "rule_errors",
    "select",
    "state_of",
]

#: What a list the answers hold is, as :func:`rows_from` and :func:`rule_errors` read it.
_Listed = Sequence[dict[str, Any]]


class UnknownSlo(ValueError):
    """A selected SLO that Prometheus does not know (the CLI's usage error)."""


#: The states of an SLO, the most urgent first (the order of ``sloctl serve``'s sort by state).
STATES = ("firing", "pending", "rule_error", "no_data", "ok")


def state_of(alerts: Iterable[tuple[str, str]], *, no_data: bool, rule_error: bool = False) -> str:
    """One of :data:`STATES`: ``firing`` or ``pending`` by the burn-rate tiers' alerts alone
    (``alerts``: (``sloctl_tier``, alert state) pairs), else ``rule_error`` while some of the
    SLO's rules fail to evaluate (its figures are stale or absent: not ``ok``, and worse than
    no data, which a quiet service has), else ``no_data`` while the SLI has no data, else
    ``ok``. An alert that fires was evaluated, so it outranks a rule error. The no-data ticket
    is the ``no_data`` state, and a policy step's alert is the policy's business
    (:func:`sloctl.naming.is_burn_rate_tier`): neither makes an SLO "firing". ``sloctl
    status``, ``gate`` and ``serve`` all classify with this function.

    >>> state_of([("no_data", "firing"), ("policy_freeze", "firing")], no_data=True)
    'no_data'
    >>> state_of([("ticket_slow", "pending"), ("page_quick", "firing")], no_data=False)
    'firing'
    >>> state_of([], no_data=True, rule_error=True)
    'rule_error'
    """
    states = {s for tier, s in alerts if naming.is_burn_rate_tier(tier)}
    if "firing" in states:
        return "firing"
    if "pending" in states:
        return "pending"
    if rule_error:
        return "rule_error"
    return "no_data" if no_data else "ok"


@dataclass(frozen=True)
class RuleError:
    """A rule that Prometheus failed to evaluate at its last evaluation (the rules API's
    ``health: err``): what it records is stale or absent, so its SLO's figures cannot be
    trusted."""

    rule: str
    """The recorded series' name or the alert's."""
    group: str
    error: str
    """Prometheus' ``lastError``."""

    def __str__(self) -> str:
        return f"rule {self.rule} of group {self.group}: {self.error}"


@dataclass(frozen=True)
class StatusRow:
    slo: str
    service: str
    name: str
    budget_remaining: float
    current_burn_rate: float
    period_burn_rate: float
    alerts: tuple[tuple[str, str], ...] = field(default=())
    """(``sloctl_tier``, pending|firing) of every active alert of the SLO, sorted: the burn-rate
    tiers', the no-data ticket's and the policy steps' (:func:`state_of` tells them apart)."""
    no_data: bool = False
    """The SLI has seen no event for its no-data time (``sloctl:sli_no_data:bool``)."""
    policy: tuple[tuple[str, float], ...] = ()
    """The error-budget policy's steps: (action, budget-left ratio), from the generated rules."""
    policy_unknown: str = "proceed"
    """The policy's action when the budget or the state is unknown."""
    rule_errors: tuple[RuleError, ...] = ()
    """The rules of the SLO's group that failed at their last evaluation (:func:`rule_errors`)."""

    @property
    def burn_now(self) -> float:
        """The burn rate now, unknown (NaN) while the SLI has no data: no event is no burn of
        0x (the rules record a ratio of 0 then). ``status`` and ``serve`` show this one."""
        return math.nan if self.no_data else self.current_burn_rate

    @property
    def state(self) -> str:
        """One of :data:`STATES` (:func:`state_of`)."""
        return state_of(self.alerts, no_data=self.no_data, rule_error=bool(self.rule_errors))

    @property
    def burn_alerts(self) -> tuple[tuple[str, str], ...]:
        """The active alerts of the burn-rate tiers alone."""
        return tuple((t, s) for t, s in self.alerts if naming.is_burn_rate_tier(t))

    @property
    def firing(self) -> tuple[str, ...]:
        """The burn-rate tiers firing, sorted (not the no-data ticket nor a policy step)."""
        return tuple(t for t, s in self.burn_alerts if s == "firing")

    @property
    def policy_firing(self) -> tuple[str, ...]:
        """The error-budget policy steps whose alert fires (``notify``, ``freeze``), sorted."""
        actions = (naming.policy_action(t) for t, s in self.alerts if s == "firing")
        return tuple(sorted(a for a in actions if a is not None))

    @property
    def pending(self) -> tuple[str, ...]:
        """The burn-rate tiers pending (their ``for:`` not yet over), sorted."""
        return tuple(t for t, s in self.burn_alerts if s == "pending")

    def decision(self, floor: float | None = None) -> Decision:
        """What the SLO's error-budget policy says now (``floor``: an extra freeze step)."""
        return decide(
            self.budget_remaining, dict(self.policy), self.policy_unknown, no_data=self.no_data, floor=floor
        )


def _policies(rows: _Listed) -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    for r in rows:
        metric, value = r.get("metric"), r.get("value")
        if isinstance(metric, dict) and isinstance(value, list) and naming.LABEL_ID in metric:
            action = str(metric.get(naming.LABEL_POLICY_ACTION, ""))
            out.setdefault(str(metric[naming.LABEL_ID]), []).append((action, float(value[1])))
    return {k: sorted(v) for k, v in out.items()}


def _by_id(rows: _Listed) -> dict[str, tuple[dict[str, str], float]]:
    return by_label(rows, naming.LABEL_ID)


def _why_none_at(time: float) -> str:
    """Why Prometheus may know no SLO at ``--time``: it is later than now (no sample yet), or
    before the rules first recorded."""
    if time > wall_clock():
        return " (it is later than now: Prometheus has no sample from the future; leave --time out for now)"
    return " (is it before the rules first ran?)"


def select(rows: Sequence[StatusRow], slos: Sequence[str], time: float | None = None) -> list[StatusRow]:
    """The rows of ``slos``: ids such as ``platform-api-availability`` or
    ``platform-api/availability``, or shell patterns of them (``platform-api/*``); all rows when
    empty. :class:`UnknownSlo` names every id or pattern no row matches, and the ids Prometheus
    knows; a Prometheus that knows no SLO at all is refused too, so that a gate pointed at the
    wrong one, or at one without the generated rules, gives no verdict rather than "proceed";
    ``time`` (``--time``), when given, is named there: before the rules recorded, none is known.

    >>> rows = [StatusRow("api-a", "api", "a", 1, 0, 0), StatusRow("db-b", "db", "b", 1, 0, 0)]
    >>> [r.slo for r in select(rows, ["api/*"])]
    ['api-a']
    >>> select([], [])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sloctl.status.UnknownSlo: Prometheus knows no SLO (no sloctl_slo_info series): load the ...
    """
    if not rows:
        when = "" if time is None else f" at --time {time:.3f}".rstrip("0").rstrip(".") + _why_none_at(time)
        raise UnknownSlo(
            f"Prometheus knows no SLO{when} (no {naming.SLO_INFO} series): load the generated rules "
            "into it, or check the URL"
        )
    if not slos:
        return list(rows)
    missing = [s for s in slos if not any(_matches(r, s) for r in rows)]
    if missing:
        known = ", ".join(r.slo for r in rows)
        raise UnknownSlo(f"Prometheus knows no SLO {', '.join(map(repr, missing))}; known: {known}")
    return [r for r in rows if any(_matches(r, s) for s in slos)]


def _matches(row: StatusRow, wanted: str) -> bool:
    return any(fnmatch.fnmatchcase(key, wanted) for key in (row.slo, f"{row.service}/{row.name}"))


@dataclass(frozen=True)
class Snapshot:
    """What one ``status`` or ``gate`` run read: the rows of the SLOs asked about, the one
    instant every query was evaluated at, and what Prometheus said besides the numbers."""

    rows: tuple[StatusRow, ...]
    time: float
    """Unix seconds: ``--time``, else the run's start (to the millisecond, Prometheus' own
    resolution)."""
    warnings: tuple[str, ...] = ()
    """The answers' warnings, each once: their figures may be partial or wrong."""
    infos: tuple[str, ...] = ()
    """The answers' infos, each once (informational: Prometheus 3's notes on a query)."""
    rules_unchecked: str = ""
    """Why the rules' health of some or all of the SLOs is unknown (no rules API there, or
    none of their groups listed in it); empty when it was read for every one."""


class ReadOptions(TypedDict, total=False):
    """How :func:`collect` reads Prometheus, declared once: :func:`sloctl.gate.evaluate` passes
    them on, the CLI fills them from its flags. Each is optional."""

    slos: Sequence[str]
    """The SLOs to read (:func:`select`); default: every one Prometheus knows, by
    ``sloctl_slo_info``."""
    transport: httpx.BaseTransport | None
    """Where the HTTP requests go instead of the network (tests); default: the network."""
    allow: Sequence[str]
    """Networks added to loopback (``--allow-host``); default: none."""
    time: float | None
    """Unix seconds of the instant read; default: now."""
    timeout: float
    """Seconds to wait for an answer; default :data:`TIMEOUT`."""
    token: str | None
    """A bearer token (``--prometheus-token-file``); default: none."""


def collect(url: str, **options: Unpack[ReadOptions]) -> Snapshot:
    """The SLOs of the Prometheus at ``url``, read as ``options`` say (:class:`ReadOptions`)."""
    egress = Egress.of(options.get("allow", ()), action="query Prometheus at", widen="--allow-host")
    with Prometheus.connect(
        url,
        egress=egress,
        transport=options.get("transport"),
        timeout=options.get("timeout", TIMEOUT),
        token=options.get("token"),
    ) as prom:
        return collect_from(prom, options.get("time"), options.get("slos", ()))


#: The queries of :func:`collect_from`, a fixed number whatever the number of SLOs: each reads
#: one generated series over every SLO at once and is split by ``sloctl_id`` here. ``sloctl
#: serve`` sends the same ones (and reads the info series' other labels and the pending alerts).
#: An SLO with groups (Pyrra's ``grouping``) has a series per group: a row shows its worst group,
#: the least budget (``min``) and the fastest burn (``max``), as the overview dashboard does.
#: Service and name are read from the info series, or from the budget's answer for an SLO without
#: one; the other answers are read by id alone, so they carry only the id (``sloctl_id`` is
#: ``service-slo``: the same groups, a third of the bytes for Prometheus to write and us to read).
_BY_ID = f"max by ({naming.LABEL_ID})"
#: The labels of the info series that :func:`rows_from` reads.
INFO_LABELS = (*naming.SLO_LABELS, naming.LABEL_POLICY_UNKNOWN)
_LEAST = f"min by ({', '.join(naming.SLO_LABELS)})"
QUERIES = {
    # The info series' labels read here: service and name, and the policy's action when the
    # budget is unknown (``sloctl serve`` reads the others, objective, period and the SLO's own
    # labels, for the rows it shows: a thousand full label sets were a third of its answers).
    "info": f"max by ({', '.join(INFO_LABELS)}) ({naming.SLO_INFO})",
    # Only the SLOs without data: a missing answer reads as "has data", and Prometheus need not
    # send a thousand zeros.
    "no_data": f"{_BY_ID} ({naming.NO_DATA}) == 1",
    "policies": f"max by ({naming.LABEL_ID}, {naming.LABEL_POLICY_ACTION}) ({naming.POLICY_THRESHOLD})",
    "budget": f"{_LEAST} ({naming.BUDGET_REMAINING})",
    "current": f"{_BY_ID} ({naming.CURRENT_BURN_RATE})",
    "period": f"{_BY_ID} ({naming.PERIOD_BURN_RATE})",
    # Pending and firing alerts per tier: status shows the firing ones.
    "alerts": f"max by ({naming.LABEL_ID}, {naming.LABEL_TIER}, alertstate)"
    f' (ALERTS{{{naming.LABEL_ID}!=""}})',
}


def collect_from(prom: Prometheus, time: float | None = None, slos: Sequence[str] = ()) -> Snapshot:
    """:func:`collect` on an open :class:`~sloctl.prometheus.Prometheus`: :data:`QUERIES`, all
    at ``time`` or else at one instant taken now (not each at the moment Prometheus runs it),
    then the rules' health for the SLOs selected (:func:`read_rule_health`). The SLOs' info
    rules need no query's answer: sent with the queries, as ``sloctl serve`` does; their groups
    need both answers (which SLOs, which groups), so they are read after."""
    at = round(wall_clock(), 3) if time is None else time
    info_rules = prom.submit(read_info_rules, prom)
    results = prom.query_many(QUERIES, at)
    health = read_rule_health(
        prom, rows_from(results), lambda rows: select(rows, slos, time), info_rules=info_rules.result
    )
    answers: list[Result] = [*results.values(), *health.answers]
    return Snapshot(
        rows=health.rows,
        time=at,
        warnings=tuple(dict.fromkeys(w for a in answers for w in a.warnings)),
        infos=tuple(dict.fromkeys(i for a in answers for i in a.infos)),
        rules_unchecked=health.unchecked,
    )


#: Rule groups asked for by name in one request to the rules API: their names keep its URL
#: within a few kilobytes (a proxy's limit: nginx's is 8 KB), its answer about 2 MB (some
#: 19 KB per generated group without its alerts, docs/benchmarks.md).
GROUPS_PER_REQUEST = 100


@dataclass(frozen=True)
class RuleHealth:
    """What the rules API said of the SLOs' rules (:func:`read_rule_health`)."""

    rows: tuple[StatusRow, ...]
    """The rows chosen, each with its :attr:`StatusRow.rule_errors`."""
    unchecked: str
    """Why the health of some or all of them is unknown; empty when it was read for each."""
    answers: tuple[Result, ...]
    """The rules API's answers (their warnings and infos count as the queries' do)."""


def read_info_rules(prom: Prometheus) -> Result:
    """The SLOs' info rules from the rules API, without their alerts: the first read of
    :func:`read_rule_health`, which needs no other answer (``status`` and ``sloctl serve`` send
    it beside their queries and hand the answer on)."""
    return prom.rules(names=[naming.SLO_INFO], exclude_alerts=True)


def read_rule_health(
    prom: Prometheus,
    rows: Sequence[StatusRow],
    choose: Callable[[list[StatusRow]], list[StatusRow]] = list,
    info_rules: Callable[[], Result] | None = None,
) -> RuleHealth:
    """The rows that ``choose`` keeps (:func:`select` for ``status`` and ``gate``), with the
    rules of their groups that failed at their last evaluation, read from the rules API in
    two steps that ask only for what is needed: the SLOs' info rules alone (some 600 bytes an
    SLO), which say which group holds each SLO (a composite's holds its components') and
    whether the info rule itself fails, then those groups without their alerts' instances,
    :data:`GROUPS_PER_REQUEST` at a time (an engine that ignores the filters, as Prometheus
    2.42 does, answers the first request with every rule, which then serves alone).

    An SLO whose info rule fails is not in the queries' answers at all: it gets a row of
    unknown figures with its rule errors (not "Prometheus knows no SLO"). No rules API (404,
    405, 501: :class:`~sloctl.prometheus.NotServed`), or no group listed for an SLO (the rules
    are evaluated elsewhere: vmalert, Thanos Ruler, a Mimir ruler), is said in
    :attr:`RuleHealth.unchecked`, not a failure; any other error of the rules API is.
    ``info_rules``: the answer of :func:`read_info_rules` when it was sent already (read here
    otherwise)."""
    try:
        info = info_rules() if info_rules is not None else read_info_rules(prom)
    except NotServed as exc:
        return RuleHealth(tuple(choose(list(rows))), str(exc), ())
    known = {r.slo for r in rows}
    chosen = choose(
        sorted([*rows, *(r for r in _info_rows(info) if r.slo not in known)], key=lambda r: r.slo)
    )
    holders = _holders(info)
    answers = [info]
    if any(r.get("name") != naming.SLO_INFO for g in info for r in g["rules"]):
        groups: _Listed = info  # the filter was ignored: every rule is here
    else:
        answers += _groups(prom, sorted({g for r in chosen for g in holders.get(r.slo, ())}))
        groups = [g for a in answers[1:] for g in a]
    errors = rule_errors(groups, {r.slo for r in chosen})
    unlisted = [r.slo for r in chosen if r.slo not in holders]
    unchecked = (
        f"the rules API at {mask_text(prom.url)} lists no rule group of {', '.join(unlisted)}: their"
        " rules are evaluated elsewhere (vmalert, Thanos Ruler, a Mimir ruler), or it lists none"
        " (VictoriaMetrics without -vmalert.proxyURL answers an empty list)"
        if unlisted
        else ""
    )
    return RuleHealth(
        tuple(replace(r, rule_errors=errors.get(r.slo, ())) for r in chosen), unchecked, tuple(answers)
    )


def _holders(info: _Listed) -> dict[str, tuple[str, ...]]:
    """The groups that hold each SLO's info rule, by SLO id."""
    out: dict[str, set[str]] = {}
    for group in info:
        for rule in group["rules"]:
            labels = rule.get("labels") if isinstance(rule, dict) else None
            if rule.get("name") == naming.SLO_INFO and isinstance(labels, dict) and naming.LABEL_ID in labels:
                out.setdefault(str(labels[naming.LABEL_ID]), set()).add(str(group["name"]))
    return {slo: tuple(sorted(g)) for slo, g in out.items()}


def _info_rows(info: _Listed) -> list[StatusRow]:
    """A row of unknown figures for each SLO whose info rule failed at its last evaluation."""
    out = []
    for group in info:
        for rule in group["rules"]:
            labels = rule.get("labels") if isinstance(rule, dict) else None
            if (
                rule.get("name") != naming.SLO_INFO
                or rule.get("health") != "err"
                or not isinstance(labels, dict)
            ):
                continue
            if naming.LABEL_ID in labels:
                out.append(
                    StatusRow(
                        slo=str(labels[naming.LABEL_ID]),
                        service=str(labels.get(naming.LABEL_SERVICE, "")),
                        name=str(labels.get(naming.LABEL_SLO, "")),
                        budget_remaining=math.nan,
                        current_burn_rate=math.nan,
                        period_burn_rate=math.nan,
                        policy_unknown=str(labels.get(naming.LABEL_POLICY_UNKNOWN, "proceed")),
                    )
                )
    return out


def _groups(prom: Prometheus, names: Sequence[str]) -> list[Result]:
    """The rule groups ``names``, without their alerts' instances, in requests of at most
    :data:`GROUPS_PER_REQUEST` names; an answer with a group not asked for (an engine that
    ignores ``rule_group[]``) holds every group, and is the only one read."""
    answers = []
    for start in range(0, len(names), GROUPS_PER_REQUEST):
        asked = names[start : start + GROUPS_PER_REQUEST]
        answer = prom.rules(groups=asked, exclude_alerts=True)
        if not {str(g["name"]) for g in answer} <= set(asked):
            return [answer]
        answers.append(answer)
    return answers


def rule_errors(groups: _Listed, slos: set[str]) -> dict[str, tuple[RuleError, ...]]:
    """The rules that failed at their last evaluation (``health: err``) in the rule groups of
    ``slos``, by SLO id. A group is an SLO's when its recording rules carry its ``sloctl_id``
    (the generated rules keep each SLO's recordings and alerts in one group), so an alert of
    the group that fails is the SLO's too.

    >>> groups = [{"name": "g", "rules": [
    ...     {"name": "r", "labels": {"sloctl_id": "a-b"}, "health": "err", "lastError": "boom"},
    ...     {"name": "A", "labels": {}, "health": "ok"}]}]
    >>> [str(e) for e in rule_errors(groups, {"a-b"})["a-b"]]
    ['rule r of group g: boom']
    >>> rule_errors(groups, {"c-d"})
    {}
    """
    out: dict[str, list[RuleError]] = {}
    for group in groups:
        rules = [r for r in group.get("rules") or () if isinstance(r, dict)]
        labels = [r["labels"] for r in rules if isinstance(r.get("labels"), dict)]
        owners = {str(lb[naming.LABEL_ID]) for lb in labels if naming.LABEL_ID in lb}
        failed = [
            RuleError(str(r.get("name")), str(group.get("name")), mask_text(str(r.get("lastError") or "")))
            for r in rules
            if r.get("health") == "err"
        ]
        for slo in sorted(owners & slos) if failed else ():
            out.setdefault(slo, []).extend(failed)
    return {slo: tuple(errors) for slo, errors in out.items()}


def rows_from(results: Mapping[str, _Listed]) -> list[StatusRow]:
    """The rows from the answers to :data:`QUERIES` (by name)."""
    info = _by_id(results["info"])
    no_data = _by_id(results["no_data"])
    policies = _policies(results["policies"])
    budget = _by_id(results["budget"])
    current = _by_id(results["current"])
    period = _by_id(results["period"])
    alerts: dict[str, dict[str, str]] = {}
    for r in results["alerts"]:
        metric = r.get("metric")
        if isinstance(metric, dict) and naming.LABEL_ID in metric:
            tiers = alerts.setdefault(str(metric[naming.LABEL_ID]), {})
            tier, state = str(metric.get(naming.LABEL_TIER, "?")), str(metric.get("alertstate", ""))
            # One series per tier and state: a tier firing in one group, pending in another, fires.
            if tiers.get(tier) != "firing":
                tiers[tier] = state
    rows = []
    for slo_id in sorted(set(info) | set(budget)):
        labels = (info.get(slo_id) or budget[slo_id])[0]
        rows.append(
            StatusRow(
                slo=slo_id,
                service=labels.get(naming.LABEL_SERVICE, ""),
                name=labels.get(naming.LABEL_SLO, ""),
                budget_remaining=budget.get(slo_id, ({}, math.nan))[1],
                current_burn_rate=current.get(slo_id, ({}, math.nan))[1],
                period_burn_rate=period.get(slo_id, ({}, math.nan))[1],
                alerts=tuple(sorted(alerts.get(slo_id, {}).items())),
                no_data=no_data.get(slo_id, ({}, 0.0))[1] == 1,
                policy=tuple(policies.get(slo_id, ())),
                policy_unknown=labels.get(naming.LABEL_POLICY_UNKNOWN, "proceed"),
            )
        )
    return rows


def _percent(v: float) -> str:
    return f"{v * 100:.1f}%" if math.isfinite(v) else "unknown"


def _rate(v: float) -> str:
    return f"{v:.2f}x" if math.isfinite(v) else "unknown"


def render_table(snapshot: Snapshot) -> str:
    """One line per SLO: its state (:func:`state_of`), budget, burn rates (now: unknown while
    the SLI has no data), what its policy says and which of its policy steps' alerts fire, and
    its firing burn-rate tiers; then a line per rule that failed to evaluate and per warning
    of Prometheus' (infos are the JSON's alone)."""
    rows = snapshot.rows
    header = ("SLO", "STATE", "BUDGET LEFT", "BURN NOW", "BURN PERIOD", "POLICY", "POLICY ALERTS", "FIRING")
    body = [
        (
            r.slo,
            r.state,
            _percent(r.budget_remaining),
            _rate(r.burn_now),
            _rate(r.period_burn_rate),
            r.decision().action if r.policy else "-",
            ",".join(r.policy_firing) or "-",
            ",".join(r.firing) or "-",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body, strict=False)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (header, *body)
    ]
    lines += [
        f"rule error: {r.slo}: {e} (its figures are stale or absent)" for r in rows for e in r.rule_errors
    ]
    if snapshot.rules_unchecked:
        lines.append(f"rule health unknown: {snapshot.rules_unchecked}")
    lines += [f"warning from Prometheus (the figures may be partial): {w}" for w in snapshot.warnings]
    return "\n".join(lines) + "\n"


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def render_json(snapshot: Snapshot) -> str:
    """Unknown numbers (no data in the period; the burn rate now while the SLI has no data) are
    null. ``firing`` and ``pending`` are the burn-rate tiers', ``policy_firing`` the policy
    steps whose alert fires, ``alerts`` every active alert by tier (the no-data ticket's and the
    policy steps' too), ``rule_errors`` the SLO's rules that failed to evaluate; beside
    ``slos``, the ``time`` every query was evaluated at and Prometheus' ``warnings`` and
    ``infos``."""
    out = []
    for r in snapshot.rows:
        d = asdict(r)
        d["current_burn_rate"] = r.burn_now
        for k in ("budget_remaining", "current_burn_rate", "period_burn_rate"):
            d[k] = _finite(d[k])
        d["alerts"] = dict(r.alerts)
        d["firing"] = list(r.firing)
        d["pending"] = list(r.pending)
        d["policy_firing"] = list(r.policy_firing)
        d["state"] = r.state
        d["policy"] = {"steps": dict(r.policy), "when_unknown": r.policy_unknown} if r.policy else None
        del d["policy_unknown"]
        decision = r.decision()
        d["policy_action"] = decision.action if r.policy else None
        d["policy_reason"] = decision.reason
        out.append(d)
    doc = {
        "slos": out,
        "time": snapshot.time,
        "warnings": snapshot.warnings,
        "infos": snapshot.infos,
        "rule_health_checked": not snapshot.rules_unchecked,
        "rule_health_unknown": snapshot.rules_unchecked or None,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
