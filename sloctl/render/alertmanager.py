"""Alertmanager routing for SLO alerts, compiled from the SLO model (docs/alertmanager.md).

The fragment has three keys: ``route`` (one sub-route to add under your root route's
``routes``), ``receivers`` and ``inhibit_rules`` (to append to yours). Pages go to PagerDuty with
the routing key read from a file (``routing_key_file``, never inlined), tickets to a webhook;
alerts are grouped by service and SLO, and a firing burn-rate page silences the burn-rate
tickets of the same SLO. With ``teams``, each team that owns SLOs (the value of the alerts'
``team_label``) gets a PagerDuty receiver and a ticket webhook of its own, matched before the
default receivers, which keep the alerts of SLOs without a team or of a team not configured.

>>> text = render_alertmanager([])
>>> "routing_key_file" in text
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml

from sloctl import naming
from sloctl.model import SLO, Severity

__all__ = [
    "AlertmanagerOptions",
    "OptionsError",
    "TeamReceivers",
    "alertmanager_fragment",
    "matcher",
    "quote_matcher_value",
    "render_alertmanager",
    "routing_key_file_problem",
    "standalone_config",
    "unused_teams",
]


def routing_key_file_problem(path: str) -> str | None:
    """Why Alertmanager would not read the routing key from ``path`` as meant, or None: it
    resolves a relative ``routing_key_file`` against its own configuration file's folder, on
    its own machine, which is rarely what the writer meant.

    >>> routing_key_file_problem("secrets/pd")[:34]
    "'secrets/pd' is a relative path: A"
    """
    if PurePosixPath(path).is_absolute():
        return None
    return (
        f"{path!r} is a relative path: Alertmanager reads it relative to the folder of its own "
        "configuration file; give the absolute path on the Alertmanager host "
        "(e.g. /etc/alertmanager/secrets/pagerduty-routing-key)"
    )


@dataclass(frozen=True)
class TeamReceivers:
    """One team's own PagerDuty service (the file of its routing key) and ticket webhook. Either
    may be empty: that team's pages (or tickets) then go to the default receiver."""

    routing_key_file: str = ""
    ticket_webhook_url: str = ""


@dataclass(frozen=True)
class AlertmanagerOptions:
    page_receiver: str = "sloctl-pagerduty"
    ticket_receiver: str = "sloctl-tickets"
    routing_key_file: str = "/etc/alertmanager/secrets/pagerduty-routing-key"
    """File holding the PagerDuty Events API v2 routing key (Alertmanager ≥ 0.25)."""
    ticket_webhook_url: str = "http://127.0.0.1:9095/sloctl/tickets"
    grafana_url: str = "http://127.0.0.1:3000"
    group_wait: str = "30s"
    group_interval: str = "5m"
    page_repeat_interval: str = "4h"
    ticket_repeat_interval: str = "24h"
    instance_labels: tuple[str, ...] = ()
    """Labels every rule carries (``--extra-label`` keys: ``cluster``, ``region``) that tell one
    Prometheus' alerts from another's sending to the same Alertmanager: an SLO's alerts are
    grouped (one notification, one PagerDuty incident) and inhibited per value of them."""
    team_label: str = "team"
    """The alert label naming the team that owns an SLO (``alerting.labels.team``, or a native
    service's ``metadata.labels.team``, which every rule of the service carries)."""
    teams: tuple[tuple[str, TeamReceivers], ...] = ()
    """The receivers of each team, by the value of ``team_label``."""

    def __post_init__(self) -> None:
        # Alertmanager refuses a whole configuration in which two receivers share a name
        # ('notification config name "x" is not unique'): it would not start, or not reload.
        if self.page_receiver == self.ticket_receiver:
            raise OptionsError(
                f"the page and ticket receivers are both named {self.page_receiver!r}: Alertmanager "
                "refuses two receivers of one name; give them different names",
                ("page_receiver", "ticket_receiver"),
            )
        wrong = routing_key_file_problem(self.routing_key_file)
        if wrong:
            raise OptionsError(wrong, ("routing_key_file",))
        for team, receivers in self.teams:
            _check_team(team, receivers)
        if self.teams and self.team_label in self.instance_labels:
            raise OptionsError(
                f"the team label {self.team_label!r} is on every rule (an extra label): every SLO "
                "would be of one team; route on another label or drop the extra label",
                ("team_label", "instance_labels"),
            )
        _check_receiver_names(self)

    def page_receiver_of(self, team: str) -> str:
        """The name of ``team``'s PagerDuty receiver: the page receiver's, then the team's, with
        every character but letters, digits, ``_``, ``.`` and ``-`` replaced by ``_``."""
        return f"{self.page_receiver}-{_name_part(team)}"

    def ticket_receiver_of(self, team: str) -> str:
        return f"{self.ticket_receiver}-{_name_part(team)}"


class OptionsError(ValueError):
    """Options Alertmanager would refuse or misread; ``options``: the fields at fault."""

    def __init__(self, message: str, options: tuple[str, ...]) -> None:
        super().__init__(message)
        self.options = options


def _name_part(team: str) -> str:
    return re.sub(r"[^\w.-]", "_", team)


def _check_team(team: str, receivers: TeamReceivers) -> None:
    if not team:
        raise OptionsError("a team named '' (an empty label value is no label at all)", ("teams",))
    if not receivers.routing_key_file and not receivers.ticket_webhook_url:
        raise OptionsError(
            f"team {team!r} has neither a routing key file nor a ticket webhook URL; give one or both",
            ("teams",),
        )
    wrong = routing_key_file_problem(receivers.routing_key_file) if receivers.routing_key_file else None
    if wrong:
        raise OptionsError(f"team {team!r}: {wrong}", ("teams",))


def _check_receiver_names(options: AlertmanagerOptions) -> None:
    """Every receiver name the options can make is unique (Alertmanager refuses a duplicate)."""
    owner = {
        options.page_receiver: "the default page receiver",
        options.ticket_receiver: "the default ticket receiver",
    }
    for team, receivers in options.teams:
        names = [
            (options.page_receiver_of(team), receivers.routing_key_file, "page"),
            (options.ticket_receiver_of(team), receivers.ticket_webhook_url, "ticket"),
        ]
        for name, given, what in names:
            if not given:
                continue
            if name in owner:
                raise OptionsError(
                    f"the {what} receiver of team {team!r} would be named {name!r}, as is {owner[name]}: "
                    "Alertmanager refuses two receivers of one name; rename the receivers or the team",
                    ("page_receiver", "ticket_receiver", "teams"),
                )
            owner[name] = f"the {what} receiver of team {team!r}"


def _service_uid(service: str) -> str:
    # Same formula as sloctl.render.dashboards.service_uid (a test keeps them equal); repeated
    # here so that routing does not import the Grafana SDK.
    return naming.dashboard_uid("sloctl", "service", service)


def _dashboard_url(slos: Sequence[SLO], options: AlertmanagerOptions) -> str:
    """A Go template choosing the service dashboard of the notification's group."""
    base = options.grafana_url.rstrip("/")
    overview = naming.dashboard_uid("sloctl", "overview")
    services = sorted({s.service for s in slos})
    if not services:
        return f"{base}/d/{overview}"
    label = f".CommonLabels.{naming.LABEL_SERVICE}"
    parts = []
    for i, service in enumerate(services):
        keyword = "if" if i == 0 else "else if"
        parts.append(f"{{{{ {keyword} eq {label} {_go_string(service)} }}}}{_service_uid(service)}")
    return f"{base}/d/{''.join(parts)}{{{{ else }}}}{overview}{{{{ end }}}}"


def _go_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_matcher_value(value: str) -> str:
    """``value`` double-quoted as a matcher value: the one form that Alertmanager 0.25's classic
    parser and 0.27+'s UTF-8 parser (default, strict and classic modes) read as the same text,
    whatever characters it holds (quotes, backslashes, newlines, spaces, commas, braces).

    >>> print(quote_matcher_value('data "eng"'))
    "data \\"eng\\""
    """
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def matcher(label: str, value: str, op: str = "=") -> str:
    """One matcher, its value quoted (:func:`quote_matcher_value`).

    >>> matcher("severity", "page")
    'severity="page"'
    """
    return f"{label}{op}{quote_matcher_value(value)}"


def alertmanager_fragment(
    slos: Sequence[SLO], options: AlertmanagerOptions = AlertmanagerOptions()
) -> dict[str, object]:
    """The fragment as plain data (see the module docstring)."""
    is_sloctl = matcher(naming.LABEL_ID, ".+", "=~")
    page, ticket = matcher(naming.LABEL_SEVERITY, "page"), matcher(naming.LABEL_SEVERITY, "ticket")
    teams = _routed_teams(slos, options)
    route: dict[str, object] = {
        "receiver": options.ticket_receiver,
        "matchers": [is_sloctl],
        "group_by": [naming.LABEL_SERVICE, naming.LABEL_SLO, *options.instance_labels],
        "group_wait": options.group_wait,
        "group_interval": options.group_interval,
        "routes": [
            *_team_routes(teams, options),
            {
                "receiver": options.page_receiver,
                "matchers": [page],
                "repeat_interval": options.page_repeat_interval,
            },
            {
                "receiver": options.ticket_receiver,
                "matchers": [ticket],
                "repeat_interval": options.ticket_repeat_interval,
            },
        ],
    }
    receivers: list[dict[str, object]] = [
        {
            "name": options.page_receiver,
            "pagerduty_configs": [_pagerduty(slos, options, options.routing_key_file)],
        },
        _webhook(options.ticket_receiver, options.ticket_webhook_url),
    ]
    for team, own in teams:
        if own.routing_key_file:
            pagerduty = _pagerduty(slos, options, own.routing_key_file)
            receivers.append({"name": options.page_receiver_of(team), "pagerduty_configs": [pagerduty]})
        if own.ticket_webhook_url:
            receivers.append(_webhook(options.ticket_receiver_of(team), own.ticket_webhook_url))
    return {"route": route, "receivers": receivers, "inhibit_rules": _inhibit_rules(slos, options)}


def _webhook(name: str, url: str) -> dict[str, object]:
    return {"name": name, "webhook_configs": [{"url": url, "send_resolved": True}]}


def _team_routes(teams: Sequence[tuple[str, TeamReceivers]], options: AlertmanagerOptions) -> list[object]:
    """Each team's pages and tickets to its own receivers; a team without one of them leaves
    that severity to the default routes that follow."""
    routes: list[object] = []
    for team, own in teams:
        is_team = matcher(options.team_label, team)
        if own.routing_key_file:
            routes.append(
                {
                    "receiver": options.page_receiver_of(team),
                    "matchers": [is_team, matcher(naming.LABEL_SEVERITY, "page")],
                    "repeat_interval": options.page_repeat_interval,
                }
            )
        if own.ticket_webhook_url:
            routes.append(
                {
                    "receiver": options.ticket_receiver_of(team),
                    "matchers": [is_team, matcher(naming.LABEL_SEVERITY, "ticket")],
                    "repeat_interval": options.ticket_repeat_interval,
                }
            )
    return routes


def _inhibit_rules(slos: Sequence[SLO], options: AlertmanagerOptions) -> list[object]:
    is_sloctl = matcher(naming.LABEL_ID, ".+", "=~")
    # A grouped SLO (Pyrra's ``grouping``) alerts per group: the page of one group says nothing
    # of another's tickets; nor does one cluster's page of another cluster's tickets (the
    # instance labels), nor one team's page of another team's tickets (an SLO whose page and
    # ticket labels name two teams). Alertmanager takes a label absent from both alerts as
    # equal, so the grouping labels of every grouped SLO can join one rule's ``equal``.
    grouping = sorted({label for slo in slos for label in slo.grouping} | set(options.instance_labels))
    team = [options.team_label] if options.teams and options.team_label not in grouping else []
    # Only burn-rate alerts: a page says nothing of the no-data ticket (the SLI is gone) nor of
    # a policy step's (a freeze must reach the team while the page is open).
    burn_rate = matcher(naming.LABEL_TIER, naming.NOT_BURN_RATE_TIERS, "!~")
    return [
        {
            "source_matchers": [is_sloctl, matcher(naming.LABEL_SEVERITY, "page"), burn_rate],
            "target_matchers": [is_sloctl, matcher(naming.LABEL_SEVERITY, "ticket"), burn_rate],
            "equal": [naming.LABEL_SERVICE, naming.LABEL_SLO, *grouping, *team],
        }
    ]


def _alert_label(slo: SLO, severity: Severity, label: str) -> str:
    """The value of ``label`` on the SLO's alerts of ``severity`` as the rules write it: the
    severity's labels win over the SLO's alert labels, which win over the labels on every
    recorded series of the SLO (a native service's ``metadata.labels``). '' when absent (an
    empty label value is no label to Prometheus)."""
    for labels in (slo.alerting.severity(severity).labels, slo.alerting.labels, slo.labels):
        found = dict(labels).get(label)
        if found is not None:
            return found
    return ""


def _teams_of(slos: Sequence[SLO], label: str) -> tuple[set[str], bool]:
    """The teams the SLOs' alerts name, and whether some alert's team is known only when it
    fires (a templated label value, or the label among a grouped SLO's grouping labels)."""
    named: set[str] = set()
    dynamic = False
    for slo in slos:
        dynamic = dynamic or label in slo.grouping
        for severity in ("page", "ticket"):
            value = _alert_label(slo, severity, label)
            if "{{" in value:
                dynamic = True
            elif value:
                named.add(value)
    return named, dynamic


def _routed_teams(slos: Sequence[SLO], options: AlertmanagerOptions) -> list[tuple[str, TeamReceivers]]:
    """The configured teams some SLO's alerts may name, sorted by team."""
    named, dynamic = _teams_of(slos, options.team_label)
    return sorted((team, own) for team, own in options.teams if dynamic or team in named)


def unused_teams(slos: Sequence[SLO], options: AlertmanagerOptions) -> list[str]:
    """The configured teams no SLO's alerts name: the fragment leaves their receivers out (a
    typo in a team, or SLOs not given to this run).

    >>> unused_teams([], AlertmanagerOptions(teams=(("data", TeamReceivers("/k")),)))
    ['data']
    """
    routed = {team for team, _ in _routed_teams(slos, options)}
    return sorted(team for team, _ in options.teams if team not in routed)


def _pagerduty(slos: Sequence[SLO], options: AlertmanagerOptions, routing_key_file: str) -> dict[str, object]:
    """The page receiver's PagerDuty (Events API v2) settings, templated per alert group."""
    dashboard = _dashboard_url(slos, options)
    overview = f"{options.grafana_url.rstrip('/')}/d/{naming.dashboard_uid('sloctl', 'overview')}"
    service, slo = f".CommonLabels.{naming.LABEL_SERVICE}", f".CommonLabels.{naming.LABEL_SLO}"
    # A group is one SLO of one service, but its tiers' summaries differ (page_quick and
    # page_slow often fire together): then there is no common summary, so name the SLO and the
    # tiers. ``.Alerts`` (not ``.Alerts.Firing``) so that a resolve event says what resolved.
    tiers = (
        "{{ range $i, $a := .Alerts }}{{ if $i }}, {{ end }}"
        f"{{{{ $a.Labels.{naming.LABEL_TIER} }}}}{{{{ end }}}}"
    )
    summary = (
        f"{{{{ with .CommonAnnotations.summary }}}}{{{{ . }}}}{{{{ else }}}}"
        f"{{{{ {service} }}}} {{{{ {slo} }}}}: error budget burning ({tiers}){{{{ end }}}}"
    )
    return {
        "routing_key_file": routing_key_file,
        "send_resolved": True,
        "severity": "critical",
        "client": "sloctl",
        "client_url": dashboard,
        # PagerDuty's payload.source is "the affected system": the service (a group label).
        "source": f"{{{{ {service} }}}}",
        "description": summary,
        "links": [
            {"href": dashboard, "text": "SLO dashboard"},
            # PagerDuty rejects a link without a URL: fall back to the overview without a runbook.
            {"href": f'{{{{ or .CommonAnnotations.runbook_url "{overview}" }}}}', "text": "Runbook"},
        ],
        "details": {
            "service": f"{{{{ {service} }}}}",
            "slo": f"{{{{ {slo} }}}}",
            "tiers": f"{{{{ range .Alerts.Firing }}}}{{{{ .Labels.{naming.LABEL_TIER} }}}} {{{{ end }}}}",
            "description": "{{ range .Alerts.Firing }}{{ .Annotations.description }} {{ end }}",
            "runbook_url": "{{ .CommonAnnotations.runbook_url }}",
            "dashboard_url": dashboard,
            "num_firing": "{{ .Alerts.Firing | len }}",
        },
    }


_HEADER = (
    "# Code generated by sloctl; DO NOT EDIT.\n"
    "# Alertmanager fragment: add `route` under your root route's `routes` (first, so that SLO\n"
    "# alerts are not caught by a broader route), and append `receivers` and `inhibit_rules`.\n"
)


def _dump(doc: Mapping[str, object]) -> str:
    return yaml.safe_dump(dict(doc), sort_keys=False, width=100_000, allow_unicode=True)


def render_alertmanager(slos: Sequence[SLO], options: AlertmanagerOptions = AlertmanagerOptions()) -> str:
    """The fragment's YAML text, for ``alertmanager/sloctl.yml``."""
    return _HEADER + _dump(alertmanager_fragment(slos, options))


def standalone_config(
    fragment: Mapping[str, object],
    default_receiver: str = "default",
    global_config: Mapping[str, object] | None = None,
) -> str:
    """A complete Alertmanager configuration around ``fragment``: a root route whose only child
    is the SLO route, and an empty default receiver. For ``amtool check-config`` and for trials;
    ``global_config`` becomes its ``global`` section (e.g. ``resolve_timeout``, ``pagerduty_url``)."""
    receivers = list(fragment["receivers"])  # type: ignore[call-overload]
    config = {
        **({"global": dict(global_config)} if global_config else {}),
        "route": {"receiver": default_receiver, "routes": [fragment["route"]]},
        "receivers": [{"name": default_receiver}, *receivers],
        "inhibit_rules": fragment["inhibit_rules"],
    }
    return _dump(config)
