"""Sloth SLO plugins are read, not dropped: built-in ids with their options go into the model
(``--compat sloth`` reproduces them; tests/engines/test_sloth_oracle.py proves it against the
real Sloth), an unknown id or a bad option is an error naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.model import PluginRef
from sloctl.render.sloth_plugins import DEFAULT_CHAIN, SLO_PLUGINS, chain

SPEC = """\
version: prometheus/v1
service: svc
slo_plugins:
  chain: SERVICE
slos:
  - name: ab
    objective: 99.9
    plugins:
      OVERRIDE
      chain: OWN
    sli:
      SLI
    alerting:
      name: A
"""
EVENTS = "events: {error_query: 'sum(rate(e[{{.window}}]))', total_query: 'sum(rate(t[{{.window}}]))'}"


def spec_text(service: str = "[]", own: str = "[]", sli: str = EVENTS, override: str = "") -> str:
    text = SPEC.replace("SERVICE", service).replace("OWN", own).replace("SLI", sli)
    return text.replace("OVERRIDE", override or "overridePrevious: false")


def load(service: str = "[]", own: str = "[]", sli: str = EVENTS, override: str = "", compat: bool = True):  # type: ignore[no-untyped-def]
    from sloctl.spec import load_documents

    text = spec_text(service, own, sli, override)
    return load_documents([("s.yaml", text)], compat="sloth" if compat else None)


def test_an_unknown_plugin_id_is_an_error_that_names_it_and_the_built_in_ones() -> None:
    result = load(own="[{id: sloth.dev/contrib/made_up/v1}]")
    (error,) = [str(e) for e in result.errors]
    assert "slos[0].plugins.chain[0].id" in error
    assert "unknown Sloth SLO plugin 'sloth.dev/contrib/made_up/v1'" in error
    assert "sloth.dev/contrib/info_labels/v1" in error
    assert not result.slos


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        ("{id: sloth.dev/contrib/info_labels/v1}", "at least one label is required"),
        ("{id: sloth.dev/contrib/rule_intervals/v1, config: {interval: {}}}", "default interval is required"),
        (
            "{id: sloth.dev/contrib/rule_intervals/v1, config: {interval: {default: 5m, alert: soon}}}",
            "interval.alert",
        ),
        ("{id: sloth.dev/core/debug/v1, priority: 1.5}", "expected a whole number"),
    ],
)
def test_a_bad_plugin_option_is_an_error_naming_the_plugin_and_the_option(plugin: str, message: str) -> None:
    result = load(own=f"[{plugin}]")
    assert any(message in str(e) for e in result.errors), [str(e) for e in result.errors]


def test_denominator_correction_needs_an_events_sli() -> None:
    result = load(
        own="[{id: sloth.dev/contrib/denominator_corrected_rules/v1}]",
        sli="raw: {error_ratio_query: 'sum(rate(e[{{.window}}]))'}",
    )
    assert any("needs an events SLI" in str(e) for e in result.errors)


def test_service_plugins_come_first_and_priorities_place_the_chain_around_sloths_defaults() -> None:
    result = load(
        service="[{id: sloth.dev/core/debug/v1, priority: 5, config: {msg: s}}]",
        own="[{id: sloth.dev/core/noop/v1, priority: -1}, {id: sloth.dev/contrib/remove_labels/v1}]",
    )
    assert result.ok, [str(e) for e in result.errors]
    (slo,) = result.slos
    assert [p.id for p in chain(slo)] == [
        "sloth.dev/core/noop/v1",
        *DEFAULT_CHAIN,
        "sloth.dev/contrib/remove_labels/v1",
        "sloth.dev/core/debug/v1",
    ]
    assert slo.plugins.chain[0] == PluginRef("sloth.dev/core/debug/v1", 5, '{"msg": "s"}')


def test_an_slo_that_overrides_previous_plugins_drops_the_service_ones_and_the_defaults() -> None:
    result = load(
        service="[{id: sloth.dev/core/debug/v1}]",
        own="[{id: sloth.dev/core/sli_rules/v1}]",
        override="overridePrevious: true",
    )
    (slo,) = result.slos
    assert [p.id for p in chain(slo)] == ["sloth.dev/core/sli_rules/v1"]


VICTORIA = (
    "[{id: sloth.dev/contrib/validate_victoria_metrics/v1}, {id: sloth.dev/core/sli_rules/v1},"
    " {id: sloth.dev/core/metadata_rules/v1}, {id: sloth.dev/core/alert_rules/v1}]"
)
METRICSQL = "events: {error_query: 'rollup_rate(e[{{.window}}])', total_query: 'vector(1)[{{.window}}]'}"


def test_metricsql_is_accepted_only_where_sloth_validates_metricsql_and_sloth_output_is_asked_for() -> None:
    assert load(own=VICTORIA, sli=METRICSQL, override="overridePrevious: true").ok
    # Sloth's default validator stays in the chain: PromQL rules apply, and the error names MetricsQL.
    kept = load(own=VICTORIA, sli=METRICSQL)
    assert any("MetricsQL (VictoriaMetrics) only" in str(e) for e in kept.errors)
    # sloctl's own rules are PromQL whatever the plugins say.
    native = load(own=VICTORIA, sli=METRICSQL, override="overridePrevious: true", compat=False)
    assert not native.ok


def test_validate_and_generate_agree_on_a_file_sloth_validates_as_metricsql(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    histogram = (
        "events: {error_query: '1 - histogram_share(0.3, sum by (vmrange) (rate(d_bucket[{{.window}}])))',"
        " total_query: 'vector(1)[{{.window}}]'}"
    )
    spec = tmp_path / "vm.yml"
    spec.write_text(spec_text(own=VICTORIA, sli=histogram, override="overridePrevious: true"))
    out = str(tmp_path / "out")
    assert main(["validate", "--compat", "sloth", str(spec)]) == 0
    assert main(["generate", "--compat", "sloth", str(spec), "-o", out]) == 0
    capsys.readouterr()
    # Without --compat sloth both refuse it, and say which flag accepts it.
    assert main(["validate", str(spec)]) == 1
    assert main(["generate", str(spec), "-o", out]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 4
    assert all(
        "validate_victoria_metrics plugin declares MetricsQL" in e and "--compat sloth" in e for e in errors
    )


def test_a_services_shaping_plugins_are_warned_about_once_where_they_are_declared() -> None:
    """They were warned about once per SLO, at each SLO, as its ``slos[i].plugins``."""
    from sloctl.spec import load_documents

    text = spec_text(service="[{id: sloth.dev/contrib/info_labels/v1, config: {labels: {a: b}}}]")
    second = text[text.index("  - name: ab") :].replace("name: ab", "name: cd").replace("name: A", "name: C")
    result = load_documents([("s.yaml", text + second)], compat=None)
    assert result.ok and len(result.slos) == 2
    assert [(str(w.location), w.path) for w in result.warnings] == [("s.yaml:4:3", "slo_plugins")]


def test_outside_compat_sloth_plugins_that_shape_sloths_output_are_a_warning_saying_so() -> None:
    result = load(own="[{id: sloth.dev/contrib/info_labels/v1, config: {labels: {a: b}}}]", compat=False)
    assert result.ok
    (warning,) = [str(w) for w in result.warnings]
    assert "shape the rules of generate --compat sloth only" in warning
    assert not load(own="[{id: sloth.dev/core/debug/v1}]", compat=False).warnings


def test_every_plugin_sloth_v016_ships_is_known() -> None:
    # The ids of Sloth v0.16's internal/plugin/slo/{core,contrib} folders.
    core = {"alert_rules", "debug", "metadata_rules", "noop", "sli_rules", "validate"}
    contrib = {
        "denominator_corrected_rules",
        "error_budget_exhausted_alert",
        "info_labels",
        "remove_labels",
        "rule_intervals",
        "validate_victoria_metrics",
    }
    assert set(SLO_PLUGINS) == {f"sloth.dev/core/{n}/v1" for n in core} | {
        f"sloth.dev/contrib/{n}/v1" for n in contrib
    }
