"""SLI plugins (``sli.plugin: {id, options}``): found through the ``sloctl.sli_plugins`` entry
points, called by Sloth files and native files alike; an id without a port, or bad options, is an
error that says what to do. (The ports against the real Sloth running the Go plugins:
tests/engines/test_sloth_oracle.py.)"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from sloctl import plugins
from sloctl.model import RawSLI
from sloctl.plugins import PluginError
from sloctl.spec import load_text
from sloctl.spec import sli_plugins as sli_reader

NATIVE = """\
apiVersion: sloctl/v1
kind: Service
metadata: {name: platform, labels: {team: core}}
spec:
  slos:
    - name: queue
      objective: 99.5
      sli:
        plugin:
          id: ID
          options: OPTIONS
"""
SLOTH = """\
version: prometheus/v1
service: platform
slos:
  - name: targets
    objective: 99.9
    sli:
      plugin:
        id: sloth-common/prometheus/targets/availability
        options: {filter: '{job="api"}'}
    alerting: {name: Targets}
"""


def test_the_shipped_ports_are_registered_as_entry_points() -> None:
    assert {
        "sloth-common/prometheus/targets/availability",
        "sloth-common/kubernetes/apiserver/availability",
    } <= set(plugins.installed())


def test_a_sloth_file_calls_the_plugin_and_gets_its_query_as_a_raw_sli() -> None:
    result = load_text(SLOTH, "s.yaml")
    assert result.ok, [str(e) for e in result.errors]
    (slo,) = result.slos
    assert isinstance(slo.sli, RawSLI)
    assert 'up{ job="api" } == 0' in slo.sli.error_ratio_query  # the braces and commas trimmed
    assert "{{ .window }}" not in slo.sli.error_ratio_query  # read in any spelling, kept canonical
    assert "[{{.window}}:]" in slo.sli.error_ratio_query


def test_a_native_file_gets_the_same_hook_with_its_labels_and_meta(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[dict[str, str], dict[str, str], dict[str, str]]] = []

    def queue(options: Mapping[str, str], labels: Mapping[str, str], meta: Mapping[str, str]) -> str:
        seen.append((dict(options), dict(labels), dict(meta)))
        if "queue" not in options:
            raise PluginError("queue: the queue name is required")
        q = options["queue"]
        return (
            f'sum(rate(failed_total{{queue="{q}"}}[{{{{.window}}}}]))'
            f' / sum(rate(jobs_total{{queue="{q}"}}[{{{{.window}}}}]))'
        )

    monkeypatch.setattr(sli_reader, "installed", lambda: {"myteam/queue": lambda: queue})
    result = load_text(
        NATIVE.replace("ID", "myteam/queue").replace("OPTIONS", "{queue: mail, shards: 3}"), "n.yaml"
    )
    assert result.ok, [str(e) for e in result.errors]
    assert seen == [
        (
            {"queue": "mail", "shards": "3"},
            {"team": "core"},
            {"service": "platform", "slo": "queue", "objective": "99.5"},
        )
    ]
    assert 'failed_total{queue="mail"}' in result.slos[0].sli.error_ratio_query  # type: ignore[union-attr]

    broken = load_text(NATIVE.replace("ID", "myteam/queue").replace("OPTIONS", "{}"), "n.yaml")
    (error,) = [str(e) for e in broken.errors]
    assert (
        "n.yaml:10" in error
        and "spec.slos[0].sli.plugin.options: myteam/queue: queue: the queue name is required" in error
    )


def test_an_id_without_a_port_is_an_error_that_says_how_to_port_it() -> None:
    result = load_text(
        NATIVE.replace("ID", "sloth-common/traefik/v2/availability").replace("OPTIONS", "{}"), "n.yaml"
    )
    (error,) = [str(e) for e in result.errors]
    assert "SLI plugin 'sloth-common/traefik/v2/availability' has no sloctl port" in error
    assert "'sloctl.sli_plugins' entry point group (docs/plugins.md)" in error
    assert "sloth-common/prometheus/targets/availability" in error  # what is ported


def test_the_apiserver_port_refuses_a_filter_the_go_plugin_refuses() -> None:
    text = NATIVE.replace("ID", "sloth-common/kubernetes/apiserver/availability")
    assert load_text(text.replace("OPTIONS", """{filter: 'verb!="WATCH",resource="pods"'}"""), "n.yaml").ok
    bad = load_text(text.replace("OPTIONS", "{filter: 'verb=~WATCH'}"), "n.yaml")
    assert any("invalid prometheus filter: verb=~WATCH" in str(e) for e in bad.errors)


def test_a_plugin_query_that_is_not_promql_is_reported_like_any_other_query(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        sli_reader,
        "installed",
        lambda: {"bad/query": lambda: lambda _o, _labels, _m: "sum(rate(x[{{.window}}]"},
    )
    result = load_text(NATIVE.replace("ID", "bad/query").replace("OPTIONS", "{}"), "n.yaml")
    assert any("PromQL syntax error" in str(e) and "(bad/query)" in str(e) for e in result.errors)
