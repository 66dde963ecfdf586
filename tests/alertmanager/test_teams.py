"""One PagerDuty service per team: the fragment's per-team receivers and routes, proven by real
amtools (0.25, and 0.35 in its three matcher modes) and real Alertmanagers (0.25 and 0.35), and
the project file's ``alertmanager.teams`` through ``sloctl generate``."""

from __future__ import annotations

import json
import shutil
import urllib.request
from pathlib import Path

import pytest
import yaml

from sloctl import naming
from sloctl.cli.main import main
from sloctl.model import SLO
from sloctl.render.alertmanager import (
    AlertmanagerOptions,
    TeamReceivers,
    alertmanager_fragment,
    standalone_config,
    unused_teams,
)
from sloctl.render.alertmanager_check import check_config, route_receivers
from sloctl.servers.alertmanager import start_alertmanager
from sloctl.spec import load_text
from tests.alertmanager.tools import Amtool, inhibited_when
from tests.fixtures.engines import compat
from tests.fixtures.specs import shop_slo
from tests.paths import ROOT
from tests.waiting import wait_until

# A team value with every character a quoted matcher must escape, or a parser could misread:
# a double quote, a backslash, a newline, a comma, braces, a space, '=' and non-ASCII.
ODD = 'data "eng"\\ops,{x}=\nÿ'


def _slo(service: str, labels: dict[str, str], alerting: str = "") -> SLO:
    """The availability SLO of ``service`` (``labels`` on the service), its alerts named
    ``Availability`` with more of ``alerting`` (YAML under ``alerting:``, indented by two)."""
    errors = f'sum(rate(requests_total{{service="{service}", code=~"5.."}}[{{{{.window}}}}]))'
    total = f'sum(rate(requests_total{{service="{service}"}}[{{{{.window}}}}]))'
    extra = "alerting:\n  name: Availability\n" + alerting
    text = shop_slo(service=service, errors=errors, total=total, period="30d", extra=extra, labels=labels)
    loaded = load_text(text, f"{service}.yaml")
    assert not loaded.errors, loaded.errors
    (slo,) = loaded.slos
    return slo


def _slos() -> list[SLO]:
    """Platform owns checkout (a service label); data owns warehouse (an alert label); ODD owns
    odd; legacy has no team; web's team is not configured."""
    return [
        _slo("checkout", {"team": "platform"}),
        _slo("warehouse", {}, "  labels: {team: data}"),
        _slo("odd", {"team": ODD}),
        _slo("legacy", {}),
        _slo("web", {"team": "web"}),
    ]


OPTIONS = AlertmanagerOptions(
    page_receiver="pd",
    ticket_receiver="jira",
    routing_key_file="/run/secrets/pd-default",
    ticket_webhook_url="http://127.0.0.1:9999/default",
    teams=(
        ("platform", TeamReceivers("/run/secrets/pd-platform", "http://127.0.0.1:9999/platform")),
        ("data", TeamReceivers("/run/secrets/pd-data", "http://127.0.0.1:9999/data")),
        (ODD, TeamReceivers(routing_key_file="/run/secrets/pd-odd")),  # its tickets: the default
        ("search", TeamReceivers("/run/secrets/pd-search")),  # no SLO of its own
    ),
)
ODD_PAGES = "pd-data__eng__ops__x___ÿ"
"""The odd team's page receiver: every character but letters, digits, '_', '.', '-' is '_'."""


def _alert(service: str, severity: str, team: str | None) -> dict[str, str]:
    labels = {
        "alertname": "Availability",
        naming.LABEL_ID: f"{service}-availability",
        naming.LABEL_SERVICE: service,
        naming.LABEL_SLO: "availability",
        naming.LABEL_SEVERITY: severity,
        naming.LABEL_TIER: f"{severity}_quick",
    }
    return {**labels, "team": team} if team is not None else labels


# Who gets what: (service, severity, team label) → the receiver Alertmanager must pick.
EXPECTED = {
    ("checkout", "page", "platform"): "pd-platform",
    ("checkout", "ticket", "platform"): "jira-platform",
    ("warehouse", "page", "data"): "pd-data",
    ("warehouse", "ticket", "data"): "jira-data",
    ("odd", "page", ODD): ODD_PAGES,
    ("odd", "ticket", ODD): "jira",
    ("legacy", "page", None): "pd",
    ("legacy", "ticket", None): "jira",
    ("web", "page", "web"): "pd",
    ("web", "ticket", "web"): "jira",
}


def test_each_team_with_slos_gets_its_receivers_and_amtool_routes_its_pages_and_tickets_to_them(
    amtool: Amtool, request: pytest.FixtureRequest
) -> None:
    config = standalone_config(alertmanager_fragment(_slos(), OPTIONS))
    compat(request, amtool.engine, "check-config")
    assert check_config(config, amtool=amtool.path, features=amtool.features) == []
    compat(request, amtool.engine, "routes test")
    routed = {
        key: route_receivers(config, _alert(*key), amtool=amtool.path, features=amtool.features)
        for key in EXPECTED
    }
    assert routed == {key: [receiver] for key, receiver in EXPECTED.items()}


def test_the_team_receivers_read_their_own_routing_key_files_and_webhooks() -> None:
    doc = alertmanager_fragment(_slos(), OPTIONS)
    receivers = {r["name"]: r for r in doc["receivers"]}  # type: ignore[attr-defined]
    # Defaults first, then each team with SLOs; search (no SLO) and web (not configured) have none.
    assert list(receivers) == [
        "pd",
        "jira",
        "pd-data",
        "jira-data",
        ODD_PAGES,
        "pd-platform",
        "jira-platform",
    ]
    keys = {
        name: r["pagerduty_configs"][0]["routing_key_file"]
        for name, r in receivers.items()
        if "pagerduty_configs" in r
    }
    assert keys == {
        "pd": "/run/secrets/pd-default",
        "pd-data": "/run/secrets/pd-data",
        ODD_PAGES: "/run/secrets/pd-odd",
        "pd-platform": "/run/secrets/pd-platform",
    }
    assert receivers["jira-data"]["webhook_configs"] == [
        {"url": "http://127.0.0.1:9999/data", "send_resolved": True}
    ]
    assert unused_teams(_slos(), OPTIONS) == ["search"]


def test_without_teams_the_fragment_is_the_one_receiver_pair_it_always_was() -> None:
    plain = AlertmanagerOptions(**{**vars(OPTIONS), "teams": ()})
    doc = alertmanager_fragment(_slos(), plain)
    assert [r["name"] for r in doc["receivers"]] == ["pd", "jira"]  # type: ignore[attr-defined]
    rules = doc["inhibit_rules"]
    assert isinstance(rules, list)
    (rule,) = rules
    assert rule["equal"] == [naming.LABEL_SERVICE, naming.LABEL_SLO]


def test_a_real_alertmanager_sends_each_teams_alerts_to_its_receivers_whatever_the_team_value_holds(
    alertmanager_binary: tuple[str, Path], tmp_path: Path
) -> None:
    """amtool reads the config and its arguments with the same parser: a real Alertmanager given
    the raw label values over its API is the oracle that the quoting means the value itself."""
    _, binary = alertmanager_binary
    config = standalone_config(alertmanager_fragment(_slos(), OPTIONS))
    am = start_alertmanager(tmp_path / "am", config_text=config, binary=binary)
    try:
        post = urllib.request.Request(
            am.url.rstrip("/") + "/api/v2/alerts",
            data=json.dumps([{"labels": _alert(*key)} for key in EXPECTED]).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(post, timeout=10) as answer:
            assert answer.status == 200

        def groups() -> dict[tuple[str, str, str | None], str] | None:
            with urllib.request.urlopen(am.url.rstrip("/") + "/api/v2/alerts/groups", timeout=10) as answer:
                listed = json.load(answer)
            seen = {
                (
                    a["labels"][naming.LABEL_SERVICE],
                    a["labels"][naming.LABEL_SEVERITY],
                    a["labels"].get("team"),
                ): g["receiver"]["name"]
                for g in listed
                for a in g["alerts"]
            }
            return seen if len(seen) == len(EXPECTED) else None

        assert wait_until(groups, timeout=10, what="every alert in a group") == EXPECTED
    finally:
        am.stop()


def test_a_page_of_one_team_never_silences_another_teams_ticket_of_the_same_slo(
    alertmanager_binary: tuple[str, Path], tmp_path: Path
) -> None:
    """An SLO whose pages go to the on-call team and whose tickets go to the owning team
    (``alerting.page.labels`` and ``alerting.ticket.labels``): with ``equal`` on the service and
    SLO alone, the on-call team's page would silence the other team's ticket."""
    split = _slo(
        "checkout",
        {},
        "  page: {labels: {team: platform}}\n  ticket: {labels: {team: data}}",
    )
    _, binary = alertmanager_binary
    config = standalone_config(alertmanager_fragment([split], OPTIONS))
    sent = [
        _alert("checkout", "page", "platform"),
        _alert("checkout", "ticket", "platform"),
        _alert("checkout", "ticket", "data"),
    ]
    inhibited_when(binary, tmp_path, config, sent, {("availability", "ticket", "platform")}, "team")


# ---- the project file and the command line ----

PROJECT = """\
apiVersion: sloctl/v1
kind: Project
output: out
grafana: {url: https://grafana.example.test}
alertmanager:
  ticketWebhookUrl: https://tickets.example.test/default
  teams:
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "slos", tmp_path / "slos")
    return tmp_path


def _generate(repo: Path, teams: str, *flags: str) -> int:
    (repo / "sloctl.yaml").write_text(PROJECT + teams)
    return main(
        [
            "generate",
            str(repo / "slos"),
            "--config",
            str(repo / "sloctl.yaml"),
            "-o",
            str(repo / "out"),
            *flags,
        ]
    )


def test_generate_reads_the_teams_of_the_project_file_and_warns_of_a_team_no_slo_names(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    teams = (
        "    platform: {pagerdutyRoutingKeyFile: /etc/am/pd-platform, ticketWebhookUrl: https://t.example.test/p}\n"
        "    data: {pagerdutyRoutingKeyFile: /etc/am/pd-data}\n"
    )
    assert _generate(repo, teams) == 0
    (warning,) = [line for line in capsys.readouterr().err.splitlines() if "warning" in line]
    assert "alertmanager.teams.data" in warning and "team='data'" in warning
    doc = yaml.safe_load((repo / "out" / "alertmanager" / "sloctl.yml").read_text())
    names = [r["name"] for r in doc["receivers"]]
    assert names == [
        "sloctl-pagerduty",
        "sloctl-tickets",
        "sloctl-pagerduty-platform",
        "sloctl-tickets-platform",
    ]
    assert doc["route"]["routes"][0]["matchers"] == ['team="platform"', 'severity="page"']
    assert doc["inhibit_rules"][0]["equal"] == [naming.LABEL_SERVICE, naming.LABEL_SLO, "team"]


@pytest.mark.parametrize(
    ("teams", "flags", "code", "message"),
    [
        (
            "    platform: {pagerdutyRoutingKeyFile: secrets/pd-platform}\n",
            (),
            1,
            "sloctl.yaml:8:41: alertmanager.teams.platform.pagerdutyRoutingKeyFile: 'secrets/pd-platform' "
            "is a relative path: Alertmanager reads it relative to the folder of its own configuration file",
        ),
        (
            "    platform: {ticketWebhookUrl: https://t.example.test/p}\n",
            ("--alertmanager-pagerduty-routing-key-file", "pd-key"),
            2,
            "--alertmanager-pagerduty-routing-key-file: 'pd-key' is a relative path",
        ),
        ("    platform: {}\n", (), 1, "alertmanager.teams.platform: empty; give pagerdutyRoutingKeyFile or"),
        (
            "    platform: {pagerdutyRoutingKeyFile: /a}\n",
            ("--alertmanager-team-label", "owner.team"),
            2,
            "--alertmanager-team-label: 'owner.team' is not a valid Prometheus label name",
        ),
        (
            '    "data eng": {pagerdutyRoutingKeyFile: /a}\n    data_eng: {pagerdutyRoutingKeyFile: /b}\n',
            (),
            2,
            "alertmanager.teams (or the project file's alertmanager section): the page receiver of "
            "team 'data_eng' would be named 'sloctl-pagerduty-data_eng', as is the page receiver of "
            "team 'data eng'",
        ),
        (
            "    platform: {pagerdutyRoutingKeyFile: /a}\n",
            ("--alertmanager-ticket-receiver", "sloctl-pagerduty-platform"),
            2,
            "as is the default ticket receiver",
        ),
        (
            "    platform: {pagerdutyRoutingKeyFile: /a}\n",
            ("--extra-label", "team=platform"),
            2,
            "--alertmanager-team-label and --extra-label (or the project file's alertmanager section): the "
            "team label 'team' is on every rule",
        ),
    ],
    ids=[
        "relative-team-key",
        "relative-default-key",
        "empty-team",
        "bad-label",
        "names-collide",
        "name-clash",
        "extra-label",
    ],
)
def test_bad_team_settings_are_one_line_errors_naming_the_setting_and_nothing_is_written(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    teams: str,
    flags: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    assert _generate(repo, teams, *flags) == code
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err
    assert not (repo / "out").exists()
