"""Property: an SLO converted without a reported loss reads back into the same model.

Seeded random native specs (like tests/fixtures/random_specs.py's, restricted to what each
format can express) go native → X → native for X in openslo, sloth and pyrra, and through the
chain native → OpenSLO → Sloth → Pyrra → native; every hop must report no loss and the SLOs
read back must equal the originals (their source location and format aside). A second property
checks the other direction: whatever the random spec, each loss the converter does not report
is a field that survives. Composites (at the end): OpenSLO writes them as one document of
weighted objectives; Sloth and Pyrra refuse them by name."""

from __future__ import annotations

import dataclasses
import os
import random
import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from sloctl.convert import FORMATS, Converted, Loss, convert, files, render_text
from sloctl.files import write_text
from sloctl.model import SLO, Component, CompositeSLI, EventsSLI, ProbeSLI
from sloctl.render.promql import event_rates
from sloctl.shelf import find
from sloctl.spec import load_paths, load_text
from tests.fixtures import random_specs
from tests.fixtures.sloth import sloth_spec
from tests.fixtures.specs import ONCALL_TARGET, alert_windows, openslo_sli
from tests.paths import ROOT

SLOCTL = str(Path(sys.executable).with_name("sloctl"))
SEED = int(os.environ.get("SLOCTL_RANDOM_SEED", "20261201"))
N_SPECS = 60

EVENTS = {
    "events": {
        "errorQuery": 'sum(rate(req_total{code=~"5.."}[{{.window}}]))',
        "totalQuery": "sum(rate(req_total[{{.window}}]))",
    }
}
RATIO = {
    "ratio": {
        "goodQuery": 'sum(rate(req_total{code!~"5.."}[{{.window}}]))',
        "totalQuery": "sum(rate(req_total[{{.window}}]))",
    }
}
RAW = {"raw": {"errorRatioQuery": "1 - avg(avg_over_time(up[{{.window}}]))"}}
LATENCY_AT = {"histogram": "http_request_duration_seconds", "selector": '{route="/api"}'}
LATENCY = {"latency": {**LATENCY_AT, "threshold": "300ms"}}
OBJECTIVES = [90, 95, 98.5, 99, 99.5, 99.9, 99.95, 99.99]
TIER_KEYS = ("pageQuick", "pageSlow", "ticketQuick", "ticketSlow")


@dataclasses.dataclass(frozen=True)
class Can:
    """What a format can express, as choices of the generator: its SLIs and periods, and the
    optional parts of an SLO (``calendar``, ``timeslices``, ``tiers``, ``labels``, ``no_data``,
    ``policy``, ``alert_name``, ``targets``: OpenSLO's notification targets, the alert label
    ``notification_target``) it has fields for."""

    slis: tuple[Mapping[str, object], ...]
    periods: tuple[str, ...]
    features: frozenset[str]
    targeted: bool = False
    """Whether alerting other than the default comes with a notification target: OpenSLO's Go
    SDK wants one in every alert policy (without, sloctl's routing target is written, a loss)."""


PERIODS = ("7d", "14d", "28d", "30d", "90d")
CAN = {
    "native": Can(
        (EVENTS, RATIO, RAW, LATENCY),
        PERIODS,
        frozenset(
            {"calendar", "timeslices", "tiers", "labels", "no_data", "policy", "alert_name", "targets"}
        ),
    ),
    "openslo": Can(
        (EVENTS, RATIO, RAW),
        PERIODS,
        frozenset({"calendar", "timeslices", "tiers", "labels", "targets"}),
        targeted=True,
    ),
    "sloth": Can((EVENTS, RAW), ("30d",), frozenset({"labels", "alert_name"})),
    "pyrra": Can((EVENTS, RATIO), PERIODS, frozenset({"labels", "alert_name"})),
}
CHAIN = ("openslo", "sloth", "pyrra")


def random_slo(rng: random.Random, index: int, can: Can) -> dict[str, object]:
    slo: dict[str, object] = {
        "name": f"slo-{index}",
        "objective": rng.choice(OBJECTIVES),
        "sli": rng.choice(can.slis),
    }
    if "calendar" in can.features and rng.random() < 0.2:
        slo["calendar"] = {
            "unit": rng.choice(["week", "month", "quarter"]),
            "timeZone": rng.choice(["UTC", "Europe/Paris"]),
        }
    else:
        slo["period"] = rng.choice(can.periods)
    if "timeslices" in can.features and rng.random() < 0.2 and "raw" not in slo["sli"]:  # type: ignore[operator]
        slo["timeslices"] = {"slice": "5m", "target": rng.choice([90, 95, 99, 50.15, 99.95])}
    if "labels" in can.features and rng.random() < 0.5:
        slo["labels"] = {"team": rng.choice(["a", "b"])}
    if rng.random() < 0.3:
        slo["description"] = f"SLO number {index}"
    alerting: dict[str, object] = {}
    if "tiers" in can.features:
        tiers: dict[str, object] = {}
        for key in TIER_KEYS:
            if rng.random() < 0.25:
                tiers[key] = {"enabled": False}
            elif rng.random() < 0.3:
                tiers[key] = {"for": rng.choice(["1m", "5m"])}
        if tiers:
            alerting["tiers"] = tiers
    if "alert_name" in can.features and rng.random() < 0.3:
        alerting["name"] = f"Custom{index}Burn"
    if "targets" in can.features and (rng.random() < 0.3 or (can.targeted and "tiers" in alerting)):
        alerting["labels"] = {"notification_target": rng.choice(["oncall", "oncall,team-a"])}
    if "no_data" in can.features and rng.random() < 0.3:
        alerting["noData"] = rng.choice([{"enabled": False}, {"for": "1h"}])
    if "policy" in can.features and rng.random() < 0.2:
        alerting["minEvents"] = 10
        slo["policy"] = {"steps": [{"budgetLeft": 50, "action": "notify"}], "whenUnknown": "proceed"}
    if alerting:
        slo["alerting"] = alerting
    return slo


def native_text(slos: list[dict[str, object]], service: str = "api") -> str:
    doc = {
        "apiVersion": "sloctl/v1",
        "kind": "Service",
        "metadata": {"name": service},
        "spec": {"slos": slos},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def comparable(slo: SLO) -> SLO:
    """The model without what records where it was read from."""
    return dataclasses.replace(
        slo,
        windows=dataclasses.replace(slo.windows, source=""),
        spec_version="",
        document_name="",
        document_namespace="",
        document_labels=(),
        document_annotations=(),
    )


def read(text: str) -> tuple[SLO, ...]:
    result = load_text(text, "converted.yaml")
    assert result.ok, [str(e) for e in result.errors]
    return result.slos


def hop(slos: tuple[SLO, ...], to: str) -> tuple[SLO, ...]:
    out = convert(slos, to)
    assert out.losses == (), [str(loss) for loss in out.losses]
    return read(render_text(out))


@pytest.mark.parametrize("fmt", ["native", "openslo", "sloth", "pyrra"])
def test_specs_a_format_can_express_survive_native_to_it_and_back_unchanged(fmt: str) -> None:
    rng = random.Random(f"{SEED}-{fmt}")
    original = read(native_text([random_slo(rng, i, CAN[fmt]) for i in range(N_SPECS)]))
    back = hop(hop(original, fmt), "native")
    assert [comparable(s) for s in back] == [comparable(s) for s in original]


def test_specs_all_formats_express_survive_the_chain_native_openslo_sloth_pyrra_native() -> None:
    rng = random.Random(f"{SEED}-chain")
    common = Can((EVENTS,), ("30d",), frozenset.intersection(*(CAN[f].features for f in CHAIN)))
    original = read(native_text([random_slo(rng, i, common) for i in range(N_SPECS)]))
    slos = original
    for fmt in (*CHAIN, "native"):
        slos = hop(slos, fmt)
    assert [comparable(s) for s in slos] == [comparable(s) for s in original]


def test_a_field_a_format_cannot_express_is_reported_by_name_and_the_rest_still_converts() -> None:
    rng = random.Random(f"{SEED}-lossy")
    original = read(native_text([random_slo(rng, i, CAN["native"]) for i in range(N_SPECS)]))
    for fmt in FORMATS:
        out = convert(original, fmt)
        back = {s.name: comparable(s) for s in read(render_text(out))} if out.documents else {}
        lossy = {loss.slo.removeprefix("api-") for loss in out.losses}
        for slo in original:
            if slo.name not in lossy:
                # Not reported: it must have come back whole.
                assert back.get(slo.name) == comparable(slo), (fmt, slo.name)
        assert all(loss.field and loss.reason for loss in out.losses)


def sloctl_convert(*args: str) -> subprocess.CompletedProcess[str]:
    """``sloctl convert ARGS`` as a user runs it: its exit code, stdout and stderr."""
    return subprocess.run([SLOCTL, "convert", *args], capture_output=True, text=True, check=False)


def test_convert_refuses_losses_without_lossy_and_writes_the_rest_atomically_with_it(tmp_path: Path) -> None:
    spec = tmp_path / "api.yaml"
    spec.write_text(native_text([{**random_slo(random.Random(1), 0, CAN["sloth"]), "period": "28d"}]))
    refused = sloctl_convert(str(spec), "--to", "sloth", "-o", str(tmp_path / "out"))
    assert refused.returncode == 1
    assert "cannot convert: api-slo-0: period: Sloth's period is a flag" in refused.stderr
    assert not (tmp_path / "out").exists()
    done = sloctl_convert(str(spec), "--to", "sloth", "-o", str(tmp_path / "out"), "--lossy")
    assert done.returncode == 0, done.stderr
    (slo,) = read((tmp_path / "out" / "sloth.yaml").read_text())
    assert slo.name == "slo-0" and slo.period == 30 * 86400


def test_the_platform_slos_convert_to_native_and_back_unchanged() -> None:
    original = load_paths([ROOT / "slos"]).slos
    assert len(original) >= 10
    assert [comparable(s) for s in hop(original, "native")] == [comparable(s) for s in original]


PYRRA_INDICATORS: dict[str, dict[str, object]] = {
    "ratio": {"errors": {"metric": 'req_total{code=~"5.."}'}, "total": {"metric": "req_total"}},
    "latency": {
        "success": {"metric": 'req_seconds_bucket{le="0.3"}'},
        "total": {"metric": "req_seconds_count"},
    },
    "bool_gauge": {"metric": 'probe_success{job="blackbox"}'},
    "latencyNative": {
        "latency": "200ms",
        "total": {"metric": 'connect_server_requests_duration_seconds{job="pyrra"}'},
    },
}
GROUPINGS: tuple[tuple[str, ...], ...] = ((), ("route",), ("route", "method"))


def random_pyrra(rng: random.Random, index: int) -> dict[str, object]:
    """A Pyrra spec of what ``convert --to pyrra`` writes: each of Pyrra's indicators, grouped or
    not."""
    kind = rng.choice(sorted(PYRRA_INDICATORS))
    indicator: dict[str, object] = dict(PYRRA_INDICATORS[kind])
    grouping = rng.choice(GROUPINGS)
    if grouping:
        indicator["grouping"] = list(grouping)
    spec: dict[str, object] = {
        "target": rng.choice(OBJECTIVES),
        "window": rng.choice(CAN["pyrra"].periods),
        "indicator": {kind: indicator},
    }
    if rng.random() < 0.3:
        spec["alerting"] = {"name": f"Custom{index}Burn"}
    return {
        "apiVersion": "pyrra.dev/v1alpha1",
        "kind": "ServiceLevelObjective",
        "metadata": {"name": f"slo-{index}", "namespace": "api"},
        "spec": spec,
    }


def test_pyrra_specs_grouped_or_not_survive_pyrra_to_pyrra_and_other_formats_report_the_grouping() -> None:
    rng = random.Random(f"{SEED}-pyrra-grouping")
    original = read(yaml.safe_dump_all([random_pyrra(rng, i) for i in range(N_SPECS)], sort_keys=False))
    assert {s.grouping for s in original} == set(GROUPINGS)
    assert [comparable(s) for s in hop(original, "pyrra")] == [comparable(s) for s in original]
    grouped = {s.id for s in original if s.grouping}
    for fmt in ("native", "openslo", "sloth"):
        lost = {loss.slo for loss in convert(original, fmt).losses if loss.field == "grouping"}
        assert lost == grouped, fmt


@pytest.mark.parametrize("fmt", ["openslo", "sloth", "pyrra"])
def test_probe_slos_are_written_as_the_events_of_their_probe_counters_and_the_loss_is_reported(
    fmt: str,
) -> None:
    original = {s.id: s for s in load_paths([ROOT / "slos"]).slos if isinstance(s.sli, ProbeSLI)}
    assert len(original) == 4
    out = convert(tuple(original.values()), fmt)
    reported = {loss.slo for loss in out.losses if loss.field == "sli"}
    assert reported == set(original), fmt
    back = {s.id: s for s in read(render_text(out))}
    assert back.keys() == original.keys()
    for slo_id, slo in original.items():
        rates = event_rates(slo.sli)
        assert rates is not None
        assert back[slo_id].sli == EventsSLI(rates.errors, rates.total), (fmt, slo_id)
        assert back[slo_id].objective == slo.objective


def test_openslo_gets_the_specifications_counter_form_where_it_reads_back_the_same() -> None:
    """``sum(rate(<selector>[{{.window}}]))`` is written as the spec writes a counter
    (``counter: true``, ``sum(<selector>)``, no window), which other OpenSLO tools read; a query
    of any other shape keeps Sloth's ``{{.window}}`` convention, and both read back unchanged."""
    text = native_text(
        [
            {"name": "a", "objective": 99.9, "sli": EVENTS},
            {
                "name": "b",
                "objective": 99.9,
                "sli": {
                    "ratio": {
                        "goodQuery": "sum by (job) (rate(ok_total[{{.window}}]))",
                        "totalQuery": "sum(rate(all_total[{{.window}}])) or on() vector(0)",
                    }
                },
            },
        ]
    )
    original = read(text)
    written = [d for d in yaml.safe_load_all(render_text(convert(original, "openslo"))) if d]
    metrics = [d["spec"]["indicator"]["spec"]["ratioMetric"] for d in written]
    queries = [
        {k: v["metricSource"]["spec"]["query"] for k, v in m.items() if k != "counter"} for m in metrics
    ]
    assert queries[0] == {"bad": 'sum(req_total{code=~"5.."})', "total": "sum(req_total)"}
    assert queries[1] == {  # one part has no counter form: both stay over the window
        "good": "sum by (job) (rate(ok_total[{{.window}}]))",
        "total": "sum(rate(all_total[{{.window}}])) or on() vector(0)",
    }
    assert all(m["counter"] is True for m in metrics)
    back = hop(hop(original, "openslo"), "native")
    assert [comparable(s) for s in back] == [comparable(s) for s in original]


def pyrra_generate(converted: Converted, folder: Path) -> subprocess.CompletedProcess[str]:
    """Pyrra's own ``pyrra generate`` (the tool shelf's v0.9.5) on the files ``convert --to
    pyrra -o`` writes for ``converted`` (its filesystem mode reads one object per file: a file of
    several gave the first SLO alone); skips where the shelf has no Pyrra."""
    binary = find("pyrra")
    if binary is None:
        pytest.skip("Pyrra is not built on the tool shelf (scripts/tools.sh pyrra)")
    for name, text in files(converted, "pyrra").items():
        write_text(folder / "in" / name, text)
    (folder / "out").mkdir()
    return subprocess.run(
        [
            str(binary),
            "generate",
            f"--config-files={folder / 'in' / 'pyrra'}/*.yaml",
            f"--prometheus-folder={folder / 'out'}",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_pyrra_takes_the_latency_indicators_convert_writes_with_one_float_le(tmp_path: Path) -> None:
    """Pyrra's latency indicator needs its bucket as ``le="<float>"``: sloctl's ``le=~`` of both
    spellings is refused by Pyrra itself. The bundled SLOs (written lossily) go through too."""
    slos = [
        {"name": name, "objective": 99, "sli": {"latency": {**LATENCY_AT, "threshold": threshold}}}
        for name, threshold in (("quarter", "250ms"), ("second", "1s"))
    ]
    out = convert((*read(native_text(slos)), *load_paths([ROOT / "slos"]).slos), "pyrra")
    written = list(yaml.safe_load_all(render_text(out)))
    assert [d["spec"]["indicator"]["latency"]["success"]["metric"] for d in written[:2]] == [
        'http_request_duration_seconds_bucket{route="/api", le="0.25"}',
        'http_request_duration_seconds_bucket{route="/api", le="1"}',
    ]
    spelling = [str(loss) for loss in out.losses if loss.field == "sli" and "le=" in loss.reason]
    assert spelling == [
        "api-second: sli: a latency SLI is written as Pyrra's latency indicator; it reads back as a "
        'ratio SLI; Pyrra matches one spelling of the bucket, le="1", where Prometheus 3 writes le="1.0"'
    ]
    done = pyrra_generate(out, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "out").iterdir())) == len(out.documents)


def test_pyrra_indicators_go_pyrra_to_pyrra_as_themselves_and_pyrra_generates_them(tmp_path: Path) -> None:
    """Pyrra's bool_gauge and latencyNative indicators are written back as themselves (they
    were refused as 'other query shapes'), and Pyrra's own ``pyrra generate`` takes every
    indicator ``convert --to pyrra`` writes."""
    rng = random.Random(f"{SEED}-pyrra-generate")
    original = [random_pyrra(rng, i) for i in range(N_SPECS)]
    out = convert(read(yaml.safe_dump_all(original, sort_keys=False)), "pyrra")
    indicators = [yaml.safe_load(yaml.safe_dump(d))["spec"]["indicator"] for d in original]
    assert out.losses == (), [str(loss) for loss in out.losses]
    written = list(yaml.safe_load_all(render_text(out)))
    assert [d["spec"]["indicator"] for d in written] == indicators
    assert {next(iter(d["spec"]["indicator"])) for d in written} == set(PYRRA_INDICATORS)
    done = pyrra_generate(out, tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "out").iterdir())) == len(original)


def test_an_sli_pyrra_cannot_express_is_reported_with_the_indicators_pyrra_has() -> None:
    (slo,) = read(native_text([{"name": "raw", "objective": 99, "sli": RAW}]))
    (loss,) = convert((slo,), "pyrra").losses
    assert (loss.field, loss.reason) == (
        "sli",
        "a raw SLI has no Pyrra form: Pyrra's indicators are ratio (errors and total counters) and "
        "latency (a histogram's bucket and count), which it sums over rate(<selector>[{{.window}}]), "
        "latencyNative (a native histogram's histogram_fraction) and bool_gauge (a 0/1 gauge); this "
        "SLI's queries are none of these; the SLO is not written",
    )


OPENSLO_TARGETS = (
    ONCALL_TARGET
    + """apiVersion: openslo/v1
kind: SLO
metadata: {name: availability}
spec:
  service: web
  budgetingMethod: Occurrences
  timeWindow: [{duration: 30d, isRolling: true}]
  indicator:
    metadata: {name: web-ratio}
    spec:
      ratioMetric:
        good: {metricSource: {type: Prometheus, spec: {query: sum(ok_total)}}}
        total: {metricSource: {type: Prometheus, spec: {query: sum(req_total)}}}
  objectives: [{target: 0.999}]
  alertPolicies:
    - kind: AlertPolicy
      metadata: {name: page}
      spec:
        conditions:
          - kind: AlertCondition
            metadata: {name: fast}
            spec:
              severity: page
              condition: {kind: burnrate, op: gt, threshold: 14.4, lookbackWindow: 1h}
        notificationTargets: [{targetRef: oncall}]
"""
)


def test_openslo_notification_targets_go_openslo_to_openslo_as_target_references() -> None:
    """The ``notification_target`` label an OpenSLO SLO's ``notificationTargets`` became is
    written back as a ``targetRef`` to an ``AlertNotificationTarget`` (it was lost as an alert
    label OpenSLO has no field for)."""
    original = read(OPENSLO_TARGETS)
    assert dict(original[0].alerting.labels) == {"notification_target": "oncall"}
    out = convert(original, "openslo")
    assert out.losses == (), [str(loss) for loss in out.losses]
    target, slo = yaml.safe_load_all(render_text(out))
    assert (target["kind"], target["metadata"]["name"]) == ("AlertNotificationTarget", "oncall")
    assert [p["spec"]["notificationTargets"] for p in slo["spec"]["alertPolicies"]] == [
        [{"targetRef": "oncall"}]
    ]
    assert [comparable(s) for s in read(render_text(out))] == [comparable(s) for s in original]


def test_slos_of_one_name_in_two_services_get_distinct_openslo_names_and_the_rename_is_reported() -> None:
    """OpenSLO names an SLO by ``metadata.name`` alone: Sloth's multifile example (an
    ``availability`` SLO in two services) must not become two SLO documents of one name, which
    sloctl's own reader refuses."""
    slo = {"name": "availability", "objective": 99.9, "sli": EVENTS}
    original = read(native_text([slo], "api") + "---\n" + native_text([slo], "web"))
    out = convert(original, "openslo")
    assert [str(loss) for loss in out.losses] == [
        f"{svc}-availability: name: another service has an SLO named 'availability' and OpenSLO "
        f"names each SLO once, by metadata.name alone: written as '{svc}-availability' (it reads "
        "back under that name)"
        for svc in ("api", "web")
    ]
    assert [(s.service, s.name) for s in read(render_text(out))] == [
        ("api", "api-availability"),
        ("web", "web-availability"),
    ]


# What OpenSLO's Go SDK (oslo validate) takes as any object's metadata.name: an RFC 1123 label.
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def openslo_names(text: str) -> list[str]:
    """Every ``metadata.name`` of the OpenSLO documents: SLOs, their inline indicators and
    alert policies and conditions, and notification targets."""
    names: list[str] = []
    for doc in yaml.safe_load_all(text):
        names.append(doc["metadata"]["name"])
        spec = doc["spec"]
        if doc["kind"] == "SLO":
            # a composite's indicators are its objectives'
            indicators = [o["indicator"] for o in spec["objectives"] if "indicator" in o]
            names += [i["metadata"]["name"] for i in [spec.get("indicator"), *indicators] if i is not None]
            for policy in spec.get("alertPolicies", []):
                names += [
                    policy["metadata"]["name"],
                    *(c["metadata"]["name"] for c in policy["spec"]["conditions"]),
                ]
    return names


def target_refs(text: str) -> dict[str, set[str]]:
    """SLO name → the ``targetRef``s of its alert policies."""
    return {
        doc["metadata"]["name"]: {
            t["targetRef"]
            for policy in doc["spec"].get("alertPolicies", [])
            for t in policy["spec"]["notificationTargets"]
        }
        for doc in yaml.safe_load_all(text)
        if doc["kind"] == "SLO"
    }


def test_notification_target_names_openslo_refuses_are_renamed_as_slo_names_are_references_alike() -> None:
    """A target name comes from the ``notification_target`` label, any text: OpenSLO's Go SDK
    takes an RFC 1123 label. Each is written as one, the documents and every ``targetRef`` alike,
    two that would become one label end with digits of their own names, a valid one is kept,
    and each rename is reported for every SLO whose alerts' label it changes."""
    long_target = "Payments_" + "x" * 60
    slos = [
        {"name": name, "objective": 99.9, "sli": EVENTS, "alerting": {"labels": {"notification_target": t}}}
        for name, t in (("checkout", "Ops_Team,oncall"), ("refunds", "Ops.Team"), ("cards", long_target))
    ]
    out = convert(read(native_text(slos, "shop")), "openslo")
    text = render_text(out)
    assert [n for n in openslo_names(text) if not DNS_LABEL.fullmatch(n)] == []
    docs = list(yaml.safe_load_all(text))
    documents = [d["metadata"]["name"] for d in docs if d["kind"] == "AlertNotificationTarget"]
    assert len(set(documents)) == len(documents) == 4
    refs = target_refs(text)
    assert set().union(*refs.values()) == set(documents)
    written = {slo: {r for r in got if r != "oncall"} for slo, got in refs.items()}
    assert "oncall" in refs["checkout"] and written["checkout"] != written["refunds"]
    ops_teams = [r for slo in ("checkout", "refunds") for r in written[slo]]
    assert [r[: -len("-12345678")] for r in ops_teams] == ["ops-team"] * 2
    assert [(loss.slo, loss.field) for loss in out.losses] == [
        (f"shop-{slo}", "alerting.labels.notification_target") for slo in ("checkout", "refunds", "cards")
    ]
    assert "the target 'Ops_Team' is written as '" + next(iter(written["checkout"])) in out.losses[0].reason
    assert "'ops-team' would name another notification target too" in out.losses[1].reason
    assert "is longer than the 63 characters of an RFC 1123 label" in out.losses[2].reason
    back = {s.name: dict(s.alerting.labels)["notification_target"] for s in read(text)}
    assert {slo: set(labels.split(",")) for slo, labels in back.items()} == refs


def test_sloth_names_openslo_refuses_are_written_as_rfc_1123_labels_and_each_rename_is_reported() -> None:
    """Sloth (and sloctl) take upper case, ``_`` and ``.`` in names; OpenSLO's Go SDK refuses
    them in ``metadata.name``: lower case, ``-`` for each, reported like the other renames."""
    slos = [
        {
            "name": "API_Latency.p99",
            "objective": 99.9,
            "sli": EVENTS,
            "alerting": {"tiers": {"pageQuick": {"for": "2m"}}, "labels": {"notification_target": "oncall"}},
        },
        {"name": "checkout", "objective": 99, "sli": EVENTS},
    ]
    out = convert(read(native_text(slos, "Shop_API")), "openslo")
    assert [str(loss) for loss in out.losses] == [
        "Shop_API-API_Latency.p99: name: OpenSLO's metadata.name is an RFC 1123 label (lower-case "
        "letters, digits and '-': OpenSLO's Go SDK, oslo validate, refuses others): written as "
        "'api-latency-p99' (it reads back under that name)"
    ]
    text = render_text(out)
    assert [n for n in openslo_names(text) if not DNS_LABEL.fullmatch(n)] == []
    assert [(s.service, s.name) for s in read(text)] == [
        ("Shop_API", "api-latency-p99"),
        ("Shop_API", "checkout"),
    ]


def test_openslo_renames_never_give_two_slos_one_name() -> None:
    """``b.c`` becomes ``b-c``, which service ``x`` uses too: both are qualified, and service
    ``a``'s is then ``a-b-c``, the qualified name of service ``a-b``'s ``c`` (shared with service
    ``y``): those two end with digits of their own ids, and every SLO reads back."""
    doc = {"name": "", "objective": 99.9, "sli": EVENTS}
    text = "---\n".join(
        native_text([doc | {"name": name}], service)
        for service, name in (("a", "b.c"), ("x", "b-c"), ("a-b", "c"), ("y", "c"))
    )
    out = convert(read(text), "openslo")
    names = [d["metadata"]["name"] for d in out.documents]  # type: ignore[index]
    assert names[1::2] == ["x-b-c", "y-c"]
    assert [n[: -len("-12345678")] for n in names[0::2]] == ["a-b-c", "a-b-c"]
    assert len(set(names)) == 4
    assert [s.id for s in read(render_text(out))] == [f"a-{names[0]}", "x-x-b-c", f"a-b-{names[2]}", "y-y-c"]
    assert [loss.slo for loss in out.losses] == ["a-b.c", "x-b-c", "a-b-c", "y-c"]
    assert "'a-b-c' would name another SLO too" in out.losses[2].reason


LONG_SERVICE = "Shop_API.payments-gateway-of-the-european-region-for-card-and-wallet"
LONG_NAME = "availability-of-every-request-the-payments-gateway-answers-in-time"


def test_openslo_names_over_63_characters_are_shortened_the_same_way_every_run_and_reported() -> None:
    """An RFC 1123 label has at most 63 characters: the SLO's name keeps its start and ends with
    digits of the whole; each ``<name>-<tier>`` policy keeps its tier."""
    slo = {
        "name": LONG_NAME,
        "objective": 99.9,
        "sli": EVENTS,
        "alerting": {"tiers": {"pageQuick": {"for": "2m"}}, "labels": {"notification_target": "oncall"}},
    }
    original = read(native_text([slo], LONG_SERVICE))
    out = convert(original, "openslo")
    text = render_text(out)
    target, *names = openslo_names(text)
    assert target == "oncall"
    assert [n for n in names if not DNS_LABEL.fullmatch(n)] == []
    assert names[0].startswith("availability-of-every-request-the-payments-gateway")
    assert [n.rsplit("-", 2)[-2:] for n in names[2::2]] == [
        ["page", "quick"],
        ["page", "slow"],
        ["ticket", "quick"],
        ["ticket", "slow"],
    ]
    (loss,) = out.losses
    assert (loss.field, loss.reason.split(": written as ")[1]) == (
        "name",
        f"'{names[0]}' (it reads back under that name)",
    )
    assert "is longer than the 63 characters of an RFC 1123 label" in loss.reason
    assert render_text(convert(original, "openslo")) == text
    assert [s.name for s in read(text)] == [names[0]]


def test_pyrra_namespaces_and_names_are_what_kubernetes_takes_and_each_rename_is_reported() -> None:
    """``kubectl apply`` refuses a namespace that is not an RFC 1123 label (63 characters at
    most) and an object's name that is not a subdomain: the service and the name are written
    as such, reported, and read back under those names."""
    slos = [{"name": "Checkout_Errors.p99", "objective": 99.9, "sli": EVENTS}]
    out = convert(read(native_text(slos, LONG_SERVICE)), "pyrra")
    ((name, namespace),) = [(d["metadata"]["name"], d["metadata"]["namespace"]) for d in out.documents]  # type: ignore[index]
    assert name == "checkout-errors.p99"
    assert DNS_LABEL.fullmatch(namespace) and namespace.startswith("shop-api-payments-gateway")
    assert [(loss.field, loss.reason.split(": written as ")[1]) for loss in out.losses] == [
        ("name", "'checkout-errors.p99' (it reads back under that name)"),
        ("service", f"namespace '{namespace}' (it reads back as that service)"),
    ]
    assert [s.id for s in read(render_text(out))] == [f"{namespace}-{name}"]


def test_an_openslo_inline_indicator_is_named_as_the_sdk_requires_of_every_object() -> None:
    """OpenSLO's Go SDK (``oslo validate``) requires ``spec.indicator.metadata.name``."""
    original = read(native_text([{"name": "availability", "objective": 99.9, "sli": EVENTS}]))
    text = render_text(convert(original, "openslo"))
    (doc,) = yaml.safe_load_all(text)
    assert doc["spec"]["indicator"]["metadata"] == {"name": "availability"}
    assert [comparable(s) for s in read(text)] == [comparable(s) for s in original]


def test_an_openslo_calendar_window_has_the_start_time_the_readme_gives_it_for_every_unit() -> None:
    units = ("week", "month", "quarter")
    original = read(
        native_text(
            [
                {
                    "name": u,
                    "objective": 99,
                    "sli": EVENTS,
                    "calendar": {"unit": u, "timeZone": "Europe/Paris"},
                }
                for u in units
            ]
        )
    )
    text = render_text(convert(original, "openslo"))
    calendars = [d["spec"]["timeWindow"][0]["calendar"] for d in yaml.safe_load_all(text)]
    assert calendars == [{"startTime": "2024-01-01 00:00:00", "timeZone": "Europe/Paris"}] * 3
    assert [comparable(s) for s in read(text)] == [comparable(s) for s in original]


def test_pyrra_targets_are_strings_as_the_crd_types_them_and_read_back_as_the_same_objective() -> None:
    """Pyrra's CRD types ``spec.target`` as a string: ``kubectl apply`` refuses ``target: 99.9``."""
    original = read(
        native_text([{"name": f"s{i}", "objective": o, "sli": EVENTS} for i, o in enumerate(OBJECTIVES)])
    )
    out = convert(original, "pyrra")
    targets = [d["spec"]["target"] for d in yaml.safe_load_all(render_text(out))]
    assert targets == [str(o) for o in OBJECTIVES]  # "90", not 90.0
    assert [s.objective for s in read(render_text(out))] == OBJECTIVES


# Sloth's examples/windows/7d.yaml, and a 30d catalog of the same kind: catalogs of a user's own
CATALOGS = {
    "7d": alert_windows("7d", ((8, "5m", "1h"), (12.5, "30m", "6h")), ((20, "2h", "1d"), (42, "6h", "3d"))),
    "30d": alert_windows("30d", ((2, "5m", "1h"), (4, "30m", "6h")), ((9, "2h", "1d"), (10, "6h", "2d"))),
}


@pytest.mark.parametrize("fmt", ["native", "sloth"])
def test_a_windows_catalog_of_the_users_own_survives_native_to_the_format_and_back(fmt: str) -> None:
    """``AlertWindows`` documents are written where the format has them (native, Sloth), so the
    SLOs read back with the same windows; OpenSLO and Pyrra cannot carry one and say so."""
    rng = random.Random(f"{SEED}-windows-{fmt}")
    period = "7d" if fmt == "native" else "30d"
    text = native_text([random_slo(rng, i, CAN[fmt]) for i in range(N_SPECS)])
    original = read(f"{CATALOGS[period]}---\n{text}")
    own = {s.id for s in original if s.windows.source.startswith("converted.yaml")}
    assert own  # (Sloth's SLOs are all 30d: all of them; native ones have other periods too)
    back = hop(hop(original, fmt), "native")
    assert [comparable(s) for s in back] == [comparable(s) for s in original]
    for other in ("openslo", "pyrra"):
        losses = convert(original, other).losses
        lost = [loss for loss in losses if loss.field == "windows"]
        unwritten = {loss.slo for loss in losses if loss.reason.endswith("the SLO is not written")}
        assert {loss.slo for loss in lost} == own - unwritten, other
        assert all("AlertWindows document of converted.yaml:1" in loss.reason for loss in lost)


def test_convert_writes_the_alert_windows_catalog_of_a_sloth_folder(tmp_path: Path) -> None:
    """Sloth's own layout: a custom 7d catalog beside a Sloth spec. Converted to native the
    catalog comes along, and the SLO has the same windows (it had the built-in 7d ones)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "7d.yaml").write_text(CATALOGS["7d"].replace("sloctl/v1", "sloth.slok.dev/v1"))
    (tmp_path / "in" / "slos.yaml").write_text(
        yaml.safe_dump(
            {
                "version": "prometheus/v1",
                "service": "myservice",
                "slos": [
                    {
                        "name": "requests",
                        "objective": 99.9,
                        "alerting": {"name": "RequestsBurn"},
                        "sli": {
                            "events": {
                                "error_query": 'sum(rate(req_total{code=~"5.."}[{{.window}}]))',
                                "total_query": "sum(rate(req_total[{{.window}}]))",
                            }
                        },
                    }
                ],
            }
        )
    )
    run = sloctl_convert(
        str(tmp_path / "in"), "--sloth-period", "7d", "--to", "native", "-o", str(tmp_path / "out")
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    (source,) = load_paths([tmp_path / "in"], sloth_period=7 * 86400).slos
    (converted,) = load_paths([tmp_path / "out"]).slos
    assert converted.windows.windows == source.windows.windows
    assert [round(w.burn_factor(converted.period), 2) for w in converted.windows.windows] == [
        13.44,
        3.5,
        1.4,
        0.98,
    ]


def test_convert_to_sloth_puts_a_windows_catalog_where_sloth_reads_it(tmp_path: Path) -> None:
    """Sloth refuses an ``AlertWindows`` document among the specs of ``-i`` and reads catalogs
    from ``--slo-period-windows-path``: ``-o DIR`` writes it apart, in ``DIR/sloth-windows/``,
    where the shelf's real Sloth takes it, and sloctl reads the folder back the same."""
    spec = tmp_path / "api.yaml"
    slos = [random_slo(random.Random(f"{SEED}-sloth-{i}"), i, CAN["sloth"]) for i in range(3)]
    spec.write_text(f"{CATALOGS['30d']}---\n{native_text(slos)}")
    out = tmp_path / "out"
    run = sloctl_convert(str(spec), "--to", "sloth", "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.yaml")) == [
        "sloth-windows/30d.yaml",
        "sloth.yaml",
    ]
    original = load_paths([spec]).slos
    assert [comparable(s) for s in load_paths([out]).slos] == [comparable(s) for s in original]
    sloth = find("sloth")
    if sloth is None:
        pytest.skip("Sloth is not built on the tool shelf (scripts/tools.sh sloth)")
    done = subprocess.run(
        [
            str(sloth),
            "generate",
            "-i",
            str(out / "sloth.yaml"),
            "--slo-period-windows-path",
            str(out / "sloth-windows"),
            "-o",
            str(tmp_path / "rules.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ratio_rate2d" in (tmp_path / "rules.yaml").read_text()  # the catalog's own window


def test_pyrra_labels_kubernetes_refuses_are_left_out_and_reported_not_written() -> None:
    """Pyrra copies an SLO's labels onto its objects as ``pyrra.dev/<name>``; ``kubectl apply``
    refuses the whole object for one label value over 63 characters or with a space, or a name
    that ends with ``_``. Those are left out and each reported; the others are written."""
    long_value = "x" * 64
    labels = {"team": "payments", "owner": "Team Payments", "tier_": "1", "ticket": long_value}
    out = convert(
        read(native_text([{"name": "errors", "objective": 99.9, "sli": EVENTS, "labels": labels}])), "pyrra"
    )
    (doc,) = out.documents
    assert doc["metadata"]["labels"] == {"pyrra.dev/team": "payments"}  # type: ignore[index]
    assert sorted(loss.field for loss in out.losses) == ["labels.owner", "labels.ticket", "labels.tier_"]
    assert all("is not written" in loss.reason for loss in out.losses)


def test_a_sloth_severity_label_is_reported_and_left_out_of_the_native_spec_which_refuses_it() -> None:
    """Sloth's own example routes on ``page_alert.labels.severity: pageteam``; sloctl's alerts
    carry severity page or ticket instead, and a native spec refuses the label: written as it was,
    the converted file did not read back."""
    alerting = textwrap.indent(
        "labels: {category: availability}\n"
        "page_alert: {labels: {severity: pageteam, routing_key: myteam}}\n"
        "ticket_alert: {labels: {severity: slack}}\n",
        " " * 6,
    )
    sloth = sloth_spec({}) + alerting
    loaded = load_text(sloth, "sloth.yaml")
    assert len(loaded.warnings) == 2 and not loaded.errors
    out = convert(loaded.slos, "native")
    assert [(loss.field, "severity page or ticket" in loss.reason) for loss in out.losses] == [
        ("alerting.page.labels.severity", True),
        ("alerting.ticket.labels.severity", True),
    ]
    back = load_text(render_text(out), "native.yaml")
    assert not back.errors, [str(e) for e in back.errors]
    (slo,) = back.slos
    assert dict(slo.alerting.page.labels) == {"routing_key": "myteam"} and not slo.alerting.ticket.labels
    assert dict(slo.alerting.labels) == {"category": "availability"}


def test_a_sloth_slos_own_severity_label_is_reported_and_left_out_of_the_native_spec_too() -> None:
    """The SLO's labels go on its alerts: written as it was, the converted file did not read back
    (``spec.slos[0].labels.severity: label 'severity' is sloctl's``)."""
    sloth = sloth_spec({}) + "    labels: {severity: critical, team: shop}\n"
    loaded = load_text(sloth, "sloth.yaml")
    assert len(loaded.warnings) == 1 and not loaded.errors
    out = convert(loaded.slos, "native")
    assert [(loss.field, "severity page or ticket" in loss.reason) for loss in out.losses] == [
        ("labels.severity", True)
    ]
    back = load_text(render_text(out), "native.yaml")
    assert not back.errors, [str(e) for e in back.errors]
    assert dict(back.slos[0].labels) == {"team": "shop"}


def test_openslo_gets_a_timeslice_target_of_99_9_percent_as_0_999_not_its_binary_neighbour() -> None:
    slos = read(
        native_text(
            [{"name": "a", "objective": 99.5, "sli": EVENTS, "timeslices": {"slice": "5m", "target": 99.9}}]
        )
    )
    docs = [d for d in yaml.safe_load_all(render_text(convert(slos, "openslo"))) if d and d["kind"] == "SLO"]
    assert [o["timeSliceTarget"] for d in docs for o in d["spec"]["objectives"]] == [0.999]


# -- composites -----------------------------------------------------------------------------------
# OpenSLO v1 writes a composite as one SLO document whose objectives each carry their indicator
# and compositeWeight, read back as the components <name>-<i> and their composite; what OpenSLO
# cannot say of them is reported, and Sloth and Pyrra, which have no composites, refuse them by
# name. Oracles: the model read back (every field of an SLO either comes back equal or is named
# by a reported loss), and the weighted mean of the targets computed here in exact arithmetic.

WEIGHTS = (1, 2, 3, 0.5)
# OpenSLO's composite shares the document's time window (rolling here: a composite counts
# events), so components are drawn from what OpenSLO writes on a rolling period.
ROLLING = dataclasses.replace(
    CAN["openslo"], slis=(EVENTS, RATIO), features=CAN["openslo"].features - {"calendar", "timeslices"}
)


def weighted_mean(parts: Sequence[tuple[float, float]]) -> float:
    """Σ wᵢ·oᵢ / Σ wᵢ of (weight, objective) pairs, exactly, from the numbers as written."""
    total = sum(Fraction(str(w)) for w, _ in parts)
    return float(sum(Fraction(str(w)) * Fraction(str(o)) for w, o in parts) / total)


def openslo_composite(rng: random.Random, index: int, can: Can = ROLLING) -> list[dict[str, object]]:
    """A composite OpenSLO says whole, after its components: they are named ``<name>-<i>``,
    share its period, description, labels and alerting, and its objective is the weighted mean
    of theirs."""
    base = random_slo(rng, index, can)
    name = f"composite-{index}"
    weights = [rng.choice(WEIGHTS) for _ in range(rng.choice((2, 3)))]
    parts = [
        {**base, "name": f"{name}-{i}", "objective": rng.choice(OBJECTIVES), "sli": rng.choice(ROLLING.slis)}
        for i in range(len(weights))
    ]
    whole = {
        **base,
        "name": name,
        "objective": weighted_mean([(w, p["objective"]) for w, p in zip(weights, parts, strict=True)]),  # type: ignore[misc]
        "sli": {
            "composite": {
                "components": [{"slo": p["name"], "weight": w} for p, w in zip(parts, weights, strict=True)]
            }
        },
    }
    return [*parts, whole]


def by_id(slos: Sequence[SLO]) -> dict[str, SLO]:
    return {s.id: comparable(s) for s in slos}


def test_composites_openslo_can_say_survive_native_to_openslo_and_back_unchanged() -> None:
    rng = random.Random(f"{SEED}-composites")
    items: list[dict[str, object]] = []
    for i in range(12):
        items += openslo_composite(rng, i)
        items.append(random_slo(rng, 100 + i, CAN["openslo"]))
    original = read(native_text(items))
    assert sum(isinstance(s.sli, CompositeSLI) for s in original) == 12
    out = convert(original, "openslo")
    assert out.losses == (), [str(loss) for loss in out.losses]
    # one document per composite, its components inside as weighted objectives
    composites = [d for d in out.documents if d["kind"] == "SLO" and "indicator" not in d["spec"]]  # type: ignore[operator]
    assert len(composites) == 12
    assert all("compositeWeight" in o for d in composites for o in d["spec"]["objectives"])  # type: ignore[index]
    back = hop(hop(original, "openslo"), "native")
    assert by_id(back) == by_id(original)


# What each loss field of an SLO names in the model.
FIELD = {
    "name": "name",
    "sli": "sli",
    "objective": "objective",
    "period": "period",
    "calendar": "calendar",
    "timeslices": "timeslices",
    "windows": "windows",
    "description": "description",
    "labels": "labels",
    "policy": "policy",
    "plugins": "plugins",
    "grouping": "grouping",
}


def with_losses_taken(original: SLO, back: SLO, losses: Sequence[Loss]) -> SLO:
    """``original`` with each field a loss names taken from ``back``: equal to ``back`` when
    every difference was reported."""
    taken = {"alerting" if loss.field.startswith("alerting") else FIELD[loss.field] for loss in losses}
    return dataclasses.replace(comparable(original), **{f: getattr(back, f) for f in taken})


def components_back(slos: Sequence[SLO], name_of: Mapping[str, str]) -> dict[str, str]:
    """Original id → the id it reads back under: a composite's component ``i`` as
    ``<the composite's written name>-<i>`` (``name_of``: composite id → that name)."""
    out: dict[str, str] = {}
    for s in slos:
        if isinstance(s.sli, CompositeSLI):
            for i, c in enumerate(s.sli.components):
                out[f"{s.service}-{c.slo}"] = f"{s.service}-{name_of.get(s.id, s.name)}-{i}"
    return out


def assert_every_difference_reported(
    original: Sequence[SLO], out: Converted, beside: str = ""
) -> dict[str, SLO]:
    """Each SLO of ``original`` reads back from ``out`` (with the documents ``beside``: the
    windows catalogs OpenSLO cannot carry) equal but for the fields of its reported losses."""
    back = {s.id: comparable(s) for s in read(beside + render_text(out))}
    moved = components_back(original, {})
    for slo in original:
        losses = [loss for loss in out.losses if loss.slo == slo.id]
        if any(loss.reason.endswith("not written") for loss in losses):
            continue
        again = back[moved.get(slo.id, slo.id)]
        if isinstance(slo.sli, CompositeSLI):  # its components' new names (reported for each)
            parts = tuple(
                Component(moved[f"{slo.service}-{c.slo}"].removeprefix(f"{slo.service}-"), c.weight)
                for c in slo.sli.components
            )
            slo = dataclasses.replace(slo, sli=CompositeSLI(parts))
        assert with_losses_taken(slo, again, losses) == again, (slo.id, [str(loss) for loss in losses])
    return back


def test_every_difference_of_random_composites_and_their_components_in_openslo_is_reported() -> None:
    """Unrestricted random SLOs (tests/fixtures/random_specs.py) with a composite of two of them
    per service: each SLO reads back equal but for the fields its reported losses name."""
    rng = random.Random(f"{SEED}-composites-lossy")
    docs, count = [], 0
    # Services until four hold a composite (two random SLOs do not always fit one), whatever the
    # seed (SLOCTL_RANDOM_SEED): bounded, as a seed drawing none would be a generator defect.
    for f in range(30):
        items = [random_specs.random_slo(rng, 10 * f + i) for i in range(10)]
        composite = random_specs.composite_of(items, f"composite-{f}")
        if composite is not None:
            items.append(composite)
            count += 1
        docs.append(native_text(items, f"svc-{f}"))
        if count >= 4 and f >= 5:  # six services at least, as the corpus always had
            break
    catalogs = yaml.safe_dump_all([random_specs.user_catalog(p) for p in random_specs.USER_CATALOGS])
    original = read("---\n".join([catalogs, *docs]))
    assert count >= 4, f"{len(docs)} services drew {count} composites"
    out = convert(original, "openslo")
    back = assert_every_difference_reported(original, out, f"{catalogs}---\n")
    assert sum(isinstance(s.sli, CompositeSLI) for s in back.values()) == count
    # the components were renamed, and that is reported for each
    renamed = components_back(original, {})
    assert {loss.slo for loss in out.losses if loss.field == "name"} >= set(renamed)


def test_the_platform_composite_converts_to_openslo_with_its_weights_and_each_loss_reported() -> None:
    original = load_paths([ROOT / "slos"]).slos
    out = convert(original, "openslo")
    back = assert_every_difference_reported(original, out)
    whole = back["platform-api-availability-by-dependency"]
    assert whole.objective == 99.9
    parts = [f"availability-by-dependency-{i}" for i in range(3)]
    assert whole.sli == CompositeSLI(
        tuple(Component(p, w) for p, w in zip(parts, (2.0, 1.0, 1.0), strict=True))
    )
    part = "platform-api-postgres-availability"
    # the composite files tickets only, its route groups page: reported, in words
    assert sorted(loss.field for loss in out.losses if loss.slo == part) == [
        "alerting",
        "alerting.labels",
        "alerting.minEvents",
        "alerting.name",
        "alerting.runbookUrl",
        "description",
        "name",
    ]
    (alerting,) = [loss.reason for loss in out.losses if (loss.slo, loss.field) == (part, "alerting")]
    assert alerting.endswith(
        "it alerts as the composite does (ticket-quick, ticket-slow; no-data alert; targets alertmanager), "
        "not as it did "
        "(page-quick, page-slow, ticket-quick, ticket-slow; no-data alert)"
    )


def test_a_composite_objective_other_than_the_weighted_mean_of_its_components_is_reported() -> None:
    """OpenSLO v1 gives a composite no target of its own: it reads back as the weighted mean."""
    items = [
        {"name": "c-0", "objective": 99, "sli": EVENTS},
        {"name": "c-1", "objective": 99.9, "sli": RATIO},
        {
            "name": "c",
            "objective": 99.5,
            "sli": {"composite": {"components": [{"slo": "c-0", "weight": 2}, {"slo": "c-1"}]}},
        },
    ]
    out = convert(read(native_text(items)), "openslo")
    assert [(loss.slo, loss.field) for loss in out.losses] == [("api-c", "objective")]
    assert out.losses[0].reason.endswith("it reads back as 99.3")
    assert {s.name: s.objective for s in read(render_text(out))} == {"c-0": 99, "c-1": 99.9, "c": 99.3}


def test_a_composite_whose_objectives_would_read_back_as_another_slos_name_is_renamed() -> None:
    """Objective 0 of composite ``c`` reads back as ``c-0``, the name of another SLO here: the
    composite is written under a name of its own, reported, and everything reads back."""
    items = [
        {"name": "a", "objective": 99, "sli": EVENTS},
        {"name": "b", "objective": 99, "sli": EVENTS},
        {"name": "c-0", "objective": 99, "sli": RATIO},
        {"name": "c", "objective": 99, "sli": {"composite": {"components": [{"slo": "a"}, {"slo": "b"}]}}},
    ]
    original = read(native_text(items))
    out = convert(original, "openslo")
    (renamed,) = [loss for loss in out.losses if loss.slo == "api-c"]
    assert (
        renamed.field == "name"
        and "its objectives would read back as 'c-0', which names another SLO" in renamed.reason
    )
    written = renamed.reason.split("written as '")[1].split("'")[0]
    assert written.startswith("c-") and len(written) == len("c-12345678")
    assert sorted(s.name for s in read(render_text(out))) == sorted(
        ["c-0", f"{written}-0", f"{written}-1", written]
    )


def test_an_openslo_composite_survives_openslo_to_native_and_back_and_to_openslo_again() -> None:
    """The other direction: a composite written in OpenSLO, read, converted to the native
    format and to OpenSLO, reads back the same, without a loss."""
    composite = """\
apiVersion: openslo/v1
kind: SLO
metadata: {name: checkout, labels: {team: shop}}
spec:
  service: shop
  budgetingMethod: Occurrences
  timeWindow: [{duration: 28d, isRolling: true}]
  objectives:
    - target: 0.99
      compositeWeight: 3
      indicator:
"""
    text = (
        composite
        + openslo_sli("checkout-errors", good="sum(checkout_ok_total)", total="sum(checkout_total)", indent=8)
        + "    - targetPercent: 99.9\n      indicator:\n"
        + openslo_sli(
            "checkout-payments", bad="sum(payment_failed_total)", total="sum(payment_total)", indent=8
        )
    )
    original = read(text)
    assert [s.name for s in original] == ["checkout-0", "checkout-1", "checkout"]
    assert original[2].objective == weighted_mean([(3, 99), (1, 99.9)])
    for fmt in ("native", "openslo"):
        assert by_id(hop(original, fmt)) == by_id(original), fmt


@pytest.mark.parametrize(
    ("fmt", "why"), [("sloth", "Sloth has no composite SLOs"), ("pyrra", "Pyrra has no composite SLOs")]
)
def test_sloth_and_pyrra_refuse_a_composite_by_name_and_write_its_components(fmt: str, why: str) -> None:
    original = load_paths([ROOT / "slos"]).slos
    out = convert(original, fmt)
    refused = [loss for loss in out.losses if loss.slo == "platform-api-availability-by-dependency"]
    assert [(loss.field, loss.reason) for loss in refused] == [("sli", f"{why}; the SLO is not written")]
    names = {s.name for s in read(render_text(out))}
    assert "availability-by-dependency" not in names
    assert {"postgres-availability", "redis-availability", "mongodb-availability"} <= names


def test_convert_to_sloth_without_lossy_names_the_composite_it_cannot_write_and_writes_nothing(
    tmp_path: Path,
) -> None:
    spec = tmp_path / "api.yaml"
    spec.write_text(
        native_text(
            [
                {"name": "a", "objective": 99, "sli": EVENTS},
                {"name": "b", "objective": 99, "sli": EVENTS},
                {
                    "name": "c",
                    "objective": 99,
                    "sli": {"composite": {"components": [{"slo": "a"}, {"slo": "b"}]}},
                },
            ]
        )
    )
    run = sloctl_convert(str(spec), "--to", "sloth", "-o", str(tmp_path / "out"))
    assert run.returncode == 1
    assert "cannot convert: api-c: sli: Sloth has no composite SLOs; the SLO is not written" in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_composite_converted_without_its_components_is_not_written_and_says_why() -> None:
    items = [
        {"name": "a", "objective": 99, "sli": EVENTS},
        {"name": "b", "objective": 99, "sli": EVENTS},
        {"name": "c", "objective": 99, "sli": {"composite": {"components": [{"slo": "a"}, {"slo": "b"}]}}},
    ]
    whole = read(native_text(items))[2]
    out = convert((whole,), "openslo")
    assert out.documents == ()
    assert [str(loss) for loss in out.losses] == [
        "api-c: sli: a composite of component(s) a, b not among the SLOs converted; the SLO is not written"
    ]


def test_a_composite_with_a_name_of_63_characters_has_objectives_whose_indicators_are_labels() -> None:
    """OpenSLO's Go SDK takes an RFC 1123 label as every ``metadata.name``, an inline
    indicator's too: ``<name>-<i>`` of a 63-character name is shortened as names are."""
    name = "c" * 63
    items = [
        {"name": "a", "objective": 99, "sli": EVENTS},
        {"name": "b", "objective": 99, "sli": EVENTS},
        {"name": name, "objective": 99, "sli": {"composite": {"components": [{"slo": "a"}, {"slo": "b"}]}}},
    ]
    text = render_text(convert(read(native_text(items)), "openslo"))
    names = openslo_names(text)
    assert [n for n in names if not DNS_LABEL.fullmatch(n)] == []
    assert len(set(names[1:3])) == 2 and all(n.startswith("c" * 50) for n in names[1:3])
    assert sorted(s.name for s in read(text)) == sorted([name, f"{name}-0", f"{name}-1"])


# OpenSLO's duration shorthand: one number and one unit (its README, "duration-shorthand")
SHORTHAND = re.compile(r"\d+[mhdwMQY]")


def test_openslo_durations_are_one_number_and_one_unit_as_its_shorthand_defines() -> None:
    """OpenSLO's Go SDK (``oslo validate``) refused ``lookbackWindow: 3d12h``, the slow ticket
    of the 7d, 14d and 28d catalogs, and would refuse ``alertAfter: 1h30m``: every duration is
    written with one unit (``84h``, ``90m``) and reads back the same."""
    slos = [
        {
            "name": f"p{period}",
            "objective": 99,
            "period": period,
            "sli": EVENTS,
            "timeslices": {"slice": "5m", "target": 95},
            "alerting": {"tiers": {"pageQuick": {"for": "90m"}}, "labels": {"notification_target": "oncall"}},
        }
        for period in PERIODS
    ]
    original = read(native_text(slos))
    written = [d for d in yaml.safe_load_all(render_text(convert(original, "openslo"))) if d["kind"] == "SLO"]
    durations = [
        *(d["spec"]["timeWindow"][0]["duration"] for d in written),
        *(d["spec"]["objectives"][0]["timeSliceWindow"] for d in written),
        *(
            c["spec"]["condition"][key]
            for d in written
            for p in d["spec"]["alertPolicies"]
            for c in p["spec"]["conditions"]
            for key in ("lookbackWindow", "alertAfter")
            if key in c["spec"]["condition"]
        ),
    ]
    assert [d for d in durations if not SHORTHAND.fullmatch(d)] == []
    assert {"84h", "90m"} <= set(durations)
    back = hop(hop(original, "openslo"), "native")
    assert [comparable(s) for s in back] == [comparable(s) for s in original]


def test_openslos_own_validator_takes_the_composites_and_slos_convert_writes(tmp_path: Path) -> None:
    """``oslo validate`` (OpenSLO's CLI on its Go SDK, from the tool shelf) takes the documents
    of random composites and other SLOs, and refuses them with one ``compositeWeight`` below 0:
    it does check the composite form."""
    oslo = find("oslo")
    if oslo is None:
        pytest.skip("oslo is not built on the tool shelf (scripts/tools.sh oslo)")
    rng = random.Random(f"{SEED}-oslo")
    items: list[dict[str, object]] = []
    for i in range(8):
        items += openslo_composite(rng, i)
        items.append(random_slo(rng, 100 + i, ROLLING))
    out = convert(read(native_text(items)), "openslo")
    assert out.losses == (), [str(loss) for loss in out.losses]
    text = render_text(out)
    assert text.count("compositeWeight") >= 16
    bad = text.replace("compositeWeight: ", "compositeWeight: -", 1)
    for name, written, code in (("good", text, 0), ("bad", bad, 1)):
        (tmp_path / f"{name}.yaml").write_text(written)
        run = subprocess.run(
            [str(oslo), "validate", "-f", str(tmp_path / f"{name}.yaml")],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert run.returncode == code, run.stdout + run.stderr
    assert "compositeWeight" in run.stdout + run.stderr


# -- what OpenSLO's Go SDK (oslo validate) refuses, written as it takes it ------------------------
# It wants a notification target in every alert policy, and a duration shorthand without seconds
# (units m, h, d, w, M, Q, Y). Oracles: the documents read back (every difference named by a
# reported loss), and oslo validate itself where the tool shelf has it.

ROUTED = [
    {
        "name": "tiers",
        "objective": 99,
        "sli": EVENTS,
        "alerting": {"tiers": {"pageQuick": {"enabled": False}}},
    },
    {"name": "tickets", "objective": 99, "sli": RATIO, "alerting": {"ticket": {"enabled": False}}},
    {"name": "quiet", "objective": 99, "sli": EVENTS, "alerting": {"noData": {"enabled": False}}},
    {"name": "default", "objective": 99, "sli": EVENTS},
    {"name": "c-0", "objective": 99, "sli": EVENTS, "alerting": {"page": {"enabled": False}}},
    {"name": "c-1", "objective": 99.9, "sli": EVENTS, "alerting": {"page": {"enabled": False}}},
    {
        "name": "c",
        "objective": 99.45,
        "sli": {"composite": {"components": [{"slo": "c-0"}, {"slo": "c-1"}]}},
        "alerting": {"page": {"enabled": False}},
    },
]


def test_policies_of_an_slo_naming_no_target_refer_to_sloctls_routing_and_that_is_reported() -> None:
    """An SLO whose alerting needs policies (tiers, severities or no-data other than the
    default) and that names no target was written with ``notificationTargets: []``, which
    OpenSLO's SDK refuses: its policies refer to one ``alertmanager`` target standing for
    sloctl's own routing, reported for it (and for a composite's components, which read back
    with its policies) as the ``notification_target`` label it reads back with."""
    original = read(native_text(ROUTED))
    out = convert(original, "openslo")
    docs = list(yaml.safe_load_all(render_text(out)))
    (target,) = [d for d in docs if d["kind"] == "AlertNotificationTarget"]
    assert docs[0] == target and target["metadata"] == {"name": "alertmanager"}
    assert target["spec"]["target"] == "alertmanager" and "Alertmanager" in target["spec"]["description"]
    policies = {d["metadata"]["name"]: d["spec"].get("alertPolicies", []) for d in docs if d["kind"] == "SLO"}
    refs = {
        name: [t for p in got for t in p["spec"]["notificationTargets"]] for name, got in policies.items()
    }
    # one policy per enabled tier, each with the routing target
    routing = [{"targetRef": "alertmanager"}]
    assert refs == {
        "tiers": routing * 3,
        "tickets": routing * 2,
        "quiet": routing * 4,
        "default": [],
        "c": routing * 2,
    }
    routed = [loss for loss in out.losses if loss.field == "alerting.labels.notification_target"]
    assert [loss.slo for loss in routed] == [
        "api-tiers",
        "api-tickets",
        "api-quiet",
        "api-c-0",
        "api-c-1",
        "api-c",
    ]
    assert all("notification_target=alertmanager" in loss.reason for loss in routed)
    back = assert_every_difference_reported(original, out)
    labels = {s.name: dict(s.alerting.labels).get("notification_target") for s in back.values()}
    assert labels == dict.fromkeys(("tiers", "tickets", "quiet", "c-0", "c-1", "c"), "alertmanager") | {
        "default": None
    }
    # read back, the target is a named one: written again the same, and no longer a loss
    again = convert(read(render_text(out)), "openslo")
    assert render_text(again) == render_text(out)
    assert [loss for loss in again.losses if loss.field == "alerting.labels.notification_target"] == []


def test_a_target_named_like_the_routing_one_is_told_apart() -> None:
    """A target the user named ``AlertManager`` is the label ``alertmanager`` too: it ends with
    digits of its name, and the routing target keeps its own."""
    items = [
        {
            "name": "a",
            "objective": 99,
            "sli": EVENTS,
            "alerting": {"labels": {"notification_target": "AlertManager"}},
        },
        {
            "name": "b",
            "objective": 99,
            "sli": EVENTS,
            "alerting": {"tiers": {"pageQuick": {"enabled": False}}},
        },
    ]
    text = render_text(convert(read(native_text(items)), "openslo"))
    names = [
        d["metadata"]["name"] for d in yaml.safe_load_all(text) if d["kind"] == "AlertNotificationTarget"
    ]
    assert (
        len(names) == 2 and names[1] == "alertmanager" and re.fullmatch(r"alertmanager-[0-9a-f]{8}", names[0])
    )
    assert {s.name: dict(s.alerting.labels)["notification_target"] for s in read(text)} == {
        "a": names[0],
        "b": "alertmanager",
    }


SECONDS = [
    {
        "name": name,
        "objective": 99,
        "sli": EVENTS,
        "alerting": {"tiers": {"pageQuick": {"for": after}, "ticketSlow": {"for": "2m"}}},
    }
    for name, after in (("half", "30s"), ("ninety", "90s"), ("odd", "5m30s"))
] + [
    {**part, "alerting": {"tiers": {"pageSlow": {"for": "45s"}}, "labels": {"notification_target": "oncall"}}}
    for part in ROUTED[-3:]
]


def test_a_for_in_seconds_is_written_rounded_up_to_whole_minutes_and_each_is_reported() -> None:
    """OpenSLO's shorthand has no seconds: ``for: 30s`` was written ``alertAfter: 30s``, which
    OpenSLO's SDK refuses; it is ``1m`` now (``90s`` is ``2m``, ``5m30s`` is ``6m``), reported
    with the value written, for a composite's components too (they alert by its policies)."""
    original = read(native_text(SECONDS))
    out = convert(original, "openslo")
    text = render_text(out)
    written = re.findall(r"alertAfter: (\S+)", text)
    assert sorted(set(written)) == ["1m", "2m", "6m"] and all(SHORTHAND.fullmatch(d) for d in written)
    rounded = {(loss.slo, loss.field): loss.reason for loss in out.losses if loss.field.endswith(".for")}
    assert sorted(rounded) == [
        ("api-c", "alerting.tiers.pageSlow.for"),
        ("api-c-0", "alerting.tiers.pageSlow.for"),
        ("api-c-1", "alerting.tiers.pageSlow.for"),
        ("api-half", "alerting.tiers.pageQuick.for"),
        ("api-ninety", "alerting.tiers.pageQuick.for"),
        ("api-odd", "alerting.tiers.pageQuick.for"),
    ]
    assert (
        "5m30s is written as alertAfter 6m, rounded up to whole minutes"
        in rounded[("api-odd", "alerting.tiers.pageQuick.for")]
    )
    back = assert_every_difference_reported(original, out)
    fors = {s.name: {t.name: t.for_seconds for t in s.alerting.tiers if t.for_seconds} for s in back.values()}
    assert fors["half"] == {"page_quick": 60, "ticket_slow": 120} and fors["odd"]["page_quick"] == 360
    assert fors["c"] == fors["c-0"] == {"page_slow": 60}


def test_a_period_or_lookback_window_in_seconds_is_not_written_and_says_why() -> None:
    """A period or a tier's long window in seconds cannot be said, nor rounded (it would read
    back as another period, or as no tier of the catalog): that SLO is left out, reported."""
    ticket = ((10, "2h", "1d"), (10, "6h", "3d"))
    catalogs = "---\n".join(
        [
            alert_windows("30d", ((2, "5m", "1h30s"), (5, "30m", "6h")), ticket),
            alert_windows("2592030s", ((2, "5m", "1h"), (5, "30m", "6h")), ticket),
        ]
    )
    tiers = {"tiers": {"ticketSlow": {"enabled": False}}, "labels": {"notification_target": "oncall"}}
    items = [
        {"name": "period", "objective": 99, "sli": EVENTS, "period": "2592030s"},
        {"name": "lookback", "objective": 99, "sli": EVENTS, "alerting": tiers},
        {
            "name": "off",
            "objective": 99,
            "sli": EVENTS,
            "alerting": {**tiers, "tiers": {"pageQuick": {"enabled": False}}},
        },
        {"name": "kept", "objective": 99, "sli": EVENTS},
    ]
    out = convert(read(f"{catalogs}---\n{native_text(items)}"), "openslo")
    assert [
        (loss.slo, loss.field, loss.reason.split(", and ")[1])
        for loss in out.losses
        if "seconds" in loss.reason
    ] == [
        ("api-period", "period", "its period is 30d30s; the SLO is not written"),
        ("api-lookback", "windows", "the page_quick tier's long window is 1h30s; the SLO is not written"),
    ]
    written = [d["metadata"]["name"] for d in out.documents if d["kind"] == "SLO"]  # type: ignore[index]
    assert written == ["off", "kept"]  # off does not alert on the tier of 1h30s


def oslo_validate(path: Path) -> subprocess.CompletedProcess[str]:
    oslo = find("oslo")
    if oslo is None:
        pytest.skip("oslo is not built on the tool shelf (scripts/tools.sh oslo)")
    return subprocess.run(
        [str(oslo), "validate", "-f", str(path)], capture_output=True, text=True, check=False, timeout=60
    )


def test_oslo_validate_takes_every_file_convert_writes_for_the_bundled_slos(tmp_path: Path) -> None:
    """``sloctl convert slos/ --to openslo --lossy -o DIR``: OpenSLO's own validator takes every
    file written (it refused nine alert policies without a notification target before)."""
    done = sloctl_convert(str(ROOT / "slos"), "--to", "openslo", "--lossy", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    files = sorted(tmp_path.rglob("*.yaml"))
    assert files
    for path in files:
        run = oslo_validate(path)
        assert run.returncode == 0, (path.name, run.stdout + run.stderr)


@pytest.mark.parametrize("items", [ROUTED, SECONDS], ids=["routing-target", "seconds"])
def test_oslo_validate_takes_the_routing_target_and_the_rounded_fors(
    items: list[dict[str, object]], tmp_path: Path
) -> None:
    path = tmp_path / "openslo.yaml"
    path.write_text(render_text(convert(read(native_text(items)), "openslo")))
    run = oslo_validate(path)
    assert run.returncode == 0, run.stdout + run.stderr
