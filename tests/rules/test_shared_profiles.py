"""Rule tests rendered once per alerting profile and given each SLO's names are byte-identical
to the tests rendered straight from the SLO."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import pytest

from sloctl.model import SLO, labels
from sloctl.render import ruletests
from sloctl.render.ruletests import _profiles
from sloctl.spec import load_paths, load_text
from tests.fixtures.random_specs import USER_CATALOGS, random_slo, user_catalog
from tests.paths import ROOT

EXOTIC = """\
apiVersion: sloctl/v1
kind: Service
metadata: {name: "true", labels: {quote: "o'brien", team: core}}
spec:
  slos:
    - name: "1.5"
      objective: 99.9
      sli: {events: {errorQuery: 'sum(rate(e[{{.window}}]))', totalQuery: 'sum(rate(t[{{.window}}]))'}}
      alerting:
        annotations: {summary: custom, dashboard: "https://grafana/d/x?var={{ $labels.team }}"}
---
apiVersion: sloctl/v1
kind: Service
metadata: {name: checkout, labels: {team: core}}
spec:
  slos:
    - name: plain
      objective: 99
      labels: {a: "multi word value", z: "x:y"}
      sli: {events: {errorQuery: 'sum(rate(e[{{.window}}]))', totalQuery: 'sum(rate(t[{{.window}}]))'}}
      alerting:
        runbookUrl: https://runbooks/x
        labels: {owner: me}
        annotations: {dashboard: "https://grafana/d/abc", note: "line one\\nline two"}
        page: {labels: {pager: primary}, annotations: {escalation: "15m"}}
        ticket: {labels: {queue: sre}}
"""


def _both(
    slo: SLO, monkeypatch: pytest.MonkeyPatch, service_slos: Sequence[SLO] = ()
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    shared = ruletests.render_rule_tests(slo, "t", service_slos=service_slos).files
    with monkeypatch.context() as m:
        m.setattr(_profiles, "_shareable", lambda _slo: False)
        direct = ruletests.render_rule_tests(slo, "t", service_slos=service_slos).files
    return shared, direct


def test_shared_and_direct_rendering_agree_for_the_bundled_slos(monkeypatch: pytest.MonkeyPatch) -> None:
    slos = load_paths([ROOT / "slos"]).slos
    # The fast path is really taken, for every SLO but timeslice, calendar and composite ones.
    plain = [s for s in slos if s.timeslices is None and s.calendar is None and s.sli.kind != "composite"]
    assert len(plain) >= 10 and all(_profiles._shareable(s) for s in plain)
    assert not any(_profiles._shareable(s) for s in slos if s not in plain)
    for slo in slos:
        shared, direct = _both(slo, monkeypatch, slos)
        assert shared == direct, slo.id


def test_shared_and_direct_rendering_agree_for_random_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    specs = [random_slo(rng, i) for i in range(60)]
    import yaml

    doc = {
        "apiVersion": "sloctl/v1",
        "kind": "Service",
        "metadata": {"name": "svc", "labels": {"env": "prod"}},
        "spec": {"slos": specs},
    }
    # the periods without a built-in catalog get the user's catalogs, as in test_random_specs
    text = yaml.safe_dump_all([doc, *(user_catalog(p) for p in USER_CATALOGS)], sort_keys=False)
    result = load_text(text, "random.yaml")
    assert not result.errors, result.errors[:3]
    assert len(result.slos) == 60
    for slo in result.slos:
        shared, direct = _both(slo, monkeypatch)
        assert shared == direct, slo.id


def test_slos_whose_names_or_labels_need_quoting_take_the_direct_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = load_text(EXOTIC, "exotic.yaml")
    assert not result.errors, result.errors
    odd, plain = result.slos
    assert not _profiles._shareable(odd)
    assert _profiles._shareable(plain)
    shared, direct = _both(plain, monkeypatch)
    assert shared == direct
    # A severity label of the SLO's own (a Sloth file's page_alert.labels.severity; a sloctl/v1
    # file refuses it) is replaced by the tier's on both paths.
    alerting = dataclasses.replace(plain.alerting, labels=labels({"owner": "me", "severity": "ignored"}))
    overridden = dataclasses.replace(plain, alerting=alerting)
    shared, direct = _both(overridden, monkeypatch)
    assert shared == direct and "ignored" not in repr(shared)
