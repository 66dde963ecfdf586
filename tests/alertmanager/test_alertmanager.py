"""The Alertmanager fragment against real amtools: Debian's 0.25 and the tool shelf's 0.35, the
latter in its three matcher modes (UTF-8 with classic fallback, the default; UTF-8 strict;
classic). Valid config, pages and tickets routed, no input that needs the classic fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sloctl import naming
from sloctl.cli.main import main
from sloctl.model import SLO
from sloctl.render.alertmanager import (
    AlertmanagerOptions,
    alertmanager_fragment,
    render_alertmanager,
    standalone_config,
)
from sloctl.render.alertmanager_check import check_config, route_receivers
from sloctl.render.dashboards import service_uid
from sloctl.spec import load_paths
from tests.alertmanager.tools import Amtool, inhibited_when, shelf_amtool
from tests.dashboards.factories import representative_slos
from tests.fixtures.engines import compat
from tests.paths import ROOT

OPTIONS = AlertmanagerOptions(
    page_receiver="pd",
    ticket_receiver="jira",
    routing_key_file="/run/secrets/pd-key",
    ticket_webhook_url="http://127.0.0.1:9999/hook",
    grafana_url="https://grafana.example.com/",
)


def _alert(severity: str, service: str = "platform-api", slo: str = "availability") -> dict[str, str]:
    return {
        "alertname": "AvailabilitySLOBurn",
        naming.LABEL_ID: f"{service}-{slo}",
        naming.LABEL_SERVICE: service,
        naming.LABEL_SLO: slo,
        naming.LABEL_SEVERITY: severity,
        naming.LABEL_TIER: f"{severity}_quick",
    }


def test_a_full_config_built_around_the_fragment_passes_amtool_check_config(
    amtool: Amtool, request: pytest.FixtureRequest
) -> None:
    compat(request, amtool.engine, "check-config")
    config = standalone_config(alertmanager_fragment(representative_slos(), OPTIONS))
    assert check_config(config, amtool=amtool.path, features=amtool.features) == []


def test_amtool_rejects_a_broken_config(amtool: Amtool) -> None:
    config = standalone_config(alertmanager_fragment(representative_slos(), OPTIONS))
    broken = config.replace("routing_key_file", "routing_key_fil")
    assert check_config(broken, amtool=amtool.path, features=amtool.features) != []


def test_pages_go_to_pagerduty_tickets_to_the_ticket_receiver_and_other_alerts_elsewhere(
    amtool: Amtool, request: pytest.FixtureRequest
) -> None:
    compat(request, amtool.engine, "routes test")
    config = standalone_config(alertmanager_fragment(representative_slos(), OPTIONS))

    def receivers(labels: dict[str, str]) -> list[str]:
        return route_receivers(config, labels, amtool=amtool.path, features=amtool.features)

    assert receivers(_alert("page")) == ["pd"]
    assert receivers(_alert("ticket")) == ["jira"]
    assert receivers({"alertname": "NodeDown", "severity": "page"}) == ["default"]


def test_a_matcher_only_the_classic_parser_reads_is_a_complaint_on_alertmanager_0_3x() -> None:
    """The check the fragment passes can fail: an unquoted value with a backslash parses only
    classically; 0.35 accepts it with a fallback warning by default and refuses it in strict mode."""
    shelf = shelf_amtool()
    if shelf is None:
        pytest.skip("amtool 0.35 is not on this machine: scripts/tools.sh alertmanager")
    fragment = alertmanager_fragment(representative_slos(), OPTIONS)
    route = dict(fragment["route"])  # type: ignore[call-overload]
    route["matchers"] = ["sloctl_id=a\\b"]
    config = standalone_config({**fragment, "route": route})
    (warning,) = check_config(config, amtool=str(shelf))
    assert "incompatible" in warning and "level=WARN" in warning
    strict = check_config(config, amtool=str(shelf), features=("utf8-strict-mode",))
    assert any("FAILED" in line for line in strict)
    assert check_config(config, amtool=str(shelf), features=("classic-mode",)) == []


def test_the_routing_key_is_read_from_a_file_never_inlined() -> None:
    doc = yaml.safe_load(render_alertmanager(representative_slos(), OPTIONS))
    (pd,) = [r for r in doc["receivers"] if r["name"] == "pd"]
    (cfg,) = pd["pagerduty_configs"]
    assert cfg["routing_key_file"] == "/run/secrets/pd-key"
    assert "routing_key" not in cfg and "service_key" not in cfg


def test_alerts_are_grouped_by_service_and_slo_and_pages_inhibit_tickets_of_the_same_slo() -> None:
    doc = alertmanager_fragment(representative_slos(), OPTIONS)
    route = doc["route"]
    assert isinstance(route, dict)
    assert route["group_by"] == [naming.LABEL_SERVICE, naming.LABEL_SLO]
    rules = doc["inhibit_rules"]
    assert isinstance(rules, list)
    (rule,) = rules
    assert 'severity="page"' in rule["source_matchers"]
    assert 'severity="ticket"' in rule["target_matchers"]
    assert rule["equal"] == [naming.LABEL_SERVICE, naming.LABEL_SLO]


def test_pagerduty_links_point_at_the_service_dashboard_and_the_runbook() -> None:
    text = render_alertmanager(representative_slos(), OPTIONS)
    doc = yaml.safe_load(text)
    (cfg,) = doc["receivers"][0]["pagerduty_configs"]
    dashboard, runbook = cfg["links"]
    for service in ("platform-api", "provisioning", "databases"):
        assert f'eq .CommonLabels.sloctl_service "{service}" }}}}{service_uid(service)}' in dashboard["href"]
    assert dashboard["href"].startswith("https://grafana.example.com/d/")
    assert ".CommonAnnotations.runbook_url" in runbook["href"]


def test_rendering_is_deterministic_and_marked_generated() -> None:
    a = render_alertmanager(representative_slos(), OPTIONS)
    assert a == render_alertmanager(representative_slos(), OPTIONS)
    assert a.startswith("# Code generated by sloctl")


def test_page_and_ticket_receivers_of_one_name_are_refused_before_anything_is_written(
    amtool: Amtool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by generating with ``--alertmanager-page-receiver oncall
    --alertmanager-ticket-receiver oncall``: the fragment had two receivers named ``oncall``, and
    Alertmanager refuses such a configuration whole (it would not start, or not reload)."""
    same = {"receivers": [{"name": "oncall"}, {"name": "oncall"}], "inhibit_rules": []}
    refused = check_config(standalone_config({**same, "route": {"receiver": "oncall"}}), amtool=amtool.path)
    assert any('"oncall" is not unique' in line for line in refused), refused
    with pytest.raises(ValueError, match="both named 'oncall'"):
        AlertmanagerOptions(page_receiver="oncall", ticket_receiver="oncall")
    out = tmp_path / "out"
    generate = ["generate", str(ROOT / "slos" / "platform-jobs.yaml"), "-o", str(out)]
    receivers = ["--alertmanager-page-receiver", "oncall", "--alertmanager-ticket-receiver", "oncall"]
    assert main([*generate, *receivers]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--alertmanager-page-receiver and --alertmanager-ticket-receiver" in line and "'oncall'" in line
    assert not out.exists()
    # Without the fragment the two names matter to nothing.
    assert main([*generate, *receivers, "--no-alertmanager"]) == 0


def test_a_page_of_one_group_of_a_grouped_slo_silences_the_tickets_of_that_group_alone(
    alertmanager_binary: tuple[str, Path], tmp_path: Path
) -> None:
    """Found with a Pyrra SLO grouped by ``route`` (one alert per route): a real Alertmanager
    suppressed the ticket of route /b while route /a paged, the inhibition being equal on the
    service and the SLO only. An ungrouped SLO in the same configuration still has its tickets
    silenced by its page (a label neither alert has is equal in Alertmanager)."""
    grouped, by_route_and_method = load_paths(
        [ROOT / "tests" / "spec" / "fixtures" / "pyrra" / "checkout.yaml"]
    ).slos
    plain = load_paths([ROOT / "slos" / "platform-jobs.yaml"]).slos[0]
    assert (grouped.grouping, by_route_and_method.grouping, plain.grouping) == (
        ("route",),
        ("route", "method"),
        (),
    )
    _, binary = alertmanager_binary
    sent = [
        {**_alert(severity, slo.service, slo.name), **{label: group for label in slo.grouping}}
        for slo in (grouped, plain)
        for severity, group in (("page", "/a"), ("ticket", "/a"), ("ticket", "/b"))
    ]
    config = standalone_config(alertmanager_fragment([grouped, by_route_and_method, plain], OPTIONS))
    expected = {("checkout-errors", "ticket", "/a"), (plain.name, "ticket", None)}
    alerts = inhibited_when(binary, tmp_path, config, sent, expected, "route")
    assert len(alerts) == 5  # the plain SLO's two tickets are one alert


def test_a_page_silences_the_burn_rate_tickets_of_its_slo_not_its_policy_or_no_data_tickets(
    alertmanager_binary: tuple[str, Path], tmp_path: Path
) -> None:
    """Found by reading the fragment: the inhibition matched every ticket of the SLO, so while a
    burn-rate page was open the error-budget policy's freeze ticket (releases are frozen: the
    team must hear it) and the no-data ticket were silenced too; and a no-data page
    (``alerting.noData.severity: page``) silenced the burn-rate tickets."""
    plain, other = load_paths([ROOT / "slos" / "platform-jobs.yaml"]).slos[:2]

    def alert(slo: SLO, severity: str, tier: str) -> dict[str, str]:
        return {**_alert(severity, slo.service, slo.name), naming.LABEL_TIER: tier}

    freeze, notify = naming.policy_tier("freeze"), naming.policy_tier("notify")
    sent = [
        alert(plain, "page", "page_quick"),
        *(alert(plain, "ticket", tier) for tier in ("ticket_slow", freeze, notify, naming.TIER_NO_DATA)),
        # another SLO: its no-data page silences nothing of its own
        alert(other, "page", naming.TIER_NO_DATA),
        alert(other, "ticket", "ticket_slow"),
    ]
    _, binary = alertmanager_binary
    config = standalone_config(alertmanager_fragment([plain, other], OPTIONS))
    inhibited_when(binary, tmp_path, config, sent, {(plain.name, "ticket", "ticket_slow")}, naming.LABEL_TIER)


def test_an_slos_page_in_one_cluster_silences_its_tickets_there_alone(
    alertmanager_binary: tuple[str, Path], tmp_path: Path
) -> None:
    """Two Prometheus servers (``--extra-label cluster=…`` on every rule) send to one
    Alertmanager: the page of the eu cluster silenced the same SLO's ticket in us (equal on the
    service and SLO only), and both clusters' alerts were one group, one PagerDuty incident."""
    out = tmp_path / "out"
    args = ["generate", str(ROOT / "slos" / "platform-jobs.yaml"), "-o", str(out), "--extra-label"]
    assert main([*args, "cluster=eu", "--no-dashboards", "--no-tests"]) == 0
    fragment = yaml.safe_load((out / "alertmanager" / "sloctl.yml").read_text())
    assert fragment["route"]["group_by"] == [naming.LABEL_SERVICE, naming.LABEL_SLO, "cluster"]
    plain = load_paths([ROOT / "slos" / "platform-jobs.yaml"]).slos[0]
    sent = [
        {**_alert(severity, plain.service, plain.name), "cluster": cluster}
        for severity, cluster in (("page", "eu"), ("ticket", "eu"), ("ticket", "us"))
    ]
    _, binary = alertmanager_binary
    options = AlertmanagerOptions(**{**vars(OPTIONS), "instance_labels": ("cluster",)})
    config = standalone_config(alertmanager_fragment([plain], options))
    inhibited_when(binary, tmp_path, config, sent, {(plain.name, "ticket", "eu")}, "cluster")
