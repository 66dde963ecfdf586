"""Alertmanager routing for SLO alerts, compiled from the SLO model (docs/alertmanager.md).

The fragment has three keys: ``route`` (one sub-route to add under your root route's
``routes``), ``receivers`` and ``inhibit_rules`` (to append to yours). Pages go to PagerDuty with
the routing key read from a file (``routing_key_file``, never inlined), tickets to a webhook;
alerts are grouped by service and SLO, and a firing burn-rate page silences the burn-rate
tickets of the same SLO.

>>> text = render_alertmanager([])
>>> "routing_key_file" in text
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from sloctl import naming
from sloctl.model import SLO

__all__ = ["AlertmanagerOptions", "alertmanager_fragment", "render_alertmanager", "standalone_config"]


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

    def __post_init__(self) -> None:
        # Alertmanager refuses a whole configuration in which two receivers share a name
        # ('notification config name "x" is not unique'): it would not start, or not reload.
        if self.page_receiver == self.ticket_receiver:
            raise ValueError(
                f"the page and ticket receivers are both named {self.page_receiver!r}: Alertmanager "
                "refuses two receivers of one name; give them different names"
            )


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


def alertmanager_fragment(
    slos: Sequence[SLO], options: AlertmanagerOptions = AlertmanagerOptions()
) -> dict[str, object]:
    """The fragment as plain data (see the module docstring)."""
    is_sloctl = f'{naming.LABEL_ID}=~".+"'
    route: dict[str, object] = {
        "receiver": options.ticket_receiver,
        "matchers": [is_sloctl],
        "group_by": [naming.LABEL_SERVICE, naming.LABEL_SLO, *options.instance_labels],
        "group_wait": options.group_wait,
        "group_interval": options.group_interval,
        "routes": [
            {
                "receiver": options.page_receiver,
                "matchers": [f'{naming.LABEL_SEVERITY}="page"'],
                "repeat_interval": options.page_repeat_interval,
            },
            {
                "receiver": options.ticket_receiver,
                "matchers": [f'{naming.LABEL_SEVERITY}="ticket"'],
                "repeat_interval": options.ticket_repeat_interval,
            },
        ],
    }
    receivers: list[dict[str, object]] = [
        {"name": options.page_receiver, "pagerduty_configs": [_pagerduty(slos, options)]},
        {
            "name": options.ticket_receiver,
            "webhook_configs": [{"url": options.ticket_webhook_url, "send_resolved": True}],
        },
    ]
    # A grouped SLO (Pyrra's ``grouping``) alerts per group: the page of one group says nothing
    # of another's tickets; nor does one cluster's page of another cluster's tickets (the
    # instance labels). Alertmanager takes a label absent from both alerts as equal, so the
    # grouping labels of every grouped SLO can join one rule's ``equal``.
    grouping = sorted({label for slo in slos for label in slo.grouping} | set(options.instance_labels))
    # Only burn-rate alerts: a page says nothing of the no-data ticket (the SLI is gone) nor of
    # a policy step's (a freeze must reach the team while the page is open).
    burn_rate = f'{naming.LABEL_TIER}!~"{naming.NOT_BURN_RATE_TIERS}"'
    inhibit = [
        {
            "source_matchers": [is_sloctl, f'{naming.LABEL_SEVERITY}="page"', burn_rate],
            "target_matchers": [is_sloctl, f'{naming.LABEL_SEVERITY}="ticket"', burn_rate],
            "equal": [naming.LABEL_SERVICE, naming.LABEL_SLO, *grouping],
        }
    ]
    return {"route": route, "receivers": receivers, "inhibit_rules": inhibit}


def _pagerduty(slos: Sequence[SLO], options: AlertmanagerOptions) -> dict[str, object]:
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
        "routing_key_file": options.routing_key_file,
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
