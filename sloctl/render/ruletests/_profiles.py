"""Test files of an SLO, rendered once per alerting profile and given each SLO's names and labels
(or straight from the SLO when it cannot share), with their headers."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import replace

from sloctl import naming
from sloctl.model import SLO, CompositeSLI, EventsSLI
from sloctl.render.rules import header as rules_header
from sloctl.render.yamlout import dump_yaml, yaml_inline, yaml_string

from ._params import UnprovableSLO
from ._scenarios import PARTS, TestFiles, _direct_test_texts, _escape, twin_parts
from ._twin import only_rules, twin

# -- shared rendering per alerting profile --------------------------------------------------------
#
# The tests of two SLOs with the same numbers (objective, period, catalog, tiers, `for`, guard,
# no-data and policy settings) differ only in names, labels and annotations. Fleets repeat a few
# such profiles, so the text is rendered once per profile for a placeholder SLO and then given
# each SLO's names and label blocks. Placeholders are plain words that cannot occur otherwise;
# SLOs whose names or labels would be written differently in place (quoting), and timeslice,
# calendar and composite SLOs, take the direct path. A test checks that both paths give the same
# bytes.

_SVC, _NAME, _ALERT = "zzsloctlsvctkn", "zzsloctlslotkn", "ZzsloctlAlertTkn"
_NO_DATA, _POLICY = "ZzsloctlNodataTkn", "ZzsloctlPolicyTkn"
_SENTINEL = "zzsentinel"
_SLO_LABELS = f"{_SENTINEL}slolabels"
_SEV_LABELS = f"{_SENTINEL}severitylabels"
_SEV_ANNOTATIONS = f"{_SENTINEL}annotations"
_PLAIN_VALUE = re.compile(r"^[^'\"\\\x00-\x1f\x7f]*$")
_PART_READERS = {"burn": "burn alerts", "spend": "period ratio, remaining budget and policy"}
_INTERVAL = re.compile(r"^evaluation_interval: (\S+)$", re.MULTILINE)


def _profile(slo: SLO) -> SLO:
    a = slo.alerting
    return replace(
        slo,
        service=_SVC,
        name=_NAME,
        description="",
        labels=((_SLO_LABELS, "x"),),
        sli=EventsSLI("", ""),
        document_name="",
        document_namespace="",
        spec_version="",
        policy=replace(slo.policy, name=_POLICY),
        alerting=replace(
            a,
            name=_ALERT,
            labels=(),
            annotations=(),
            runbook_url=None,
            no_data=replace(a.no_data, name=_NO_DATA),
            page=replace(a.page, labels=((_SEV_LABELS, "page"),), annotations=((_SEV_ANNOTATIONS, "page"),)),
            ticket=replace(
                a.ticket, labels=((_SEV_LABELS, "ticket"),), annotations=((_SEV_ANNOTATIONS, "ticket"),)
            ),
        ),
    )


@functools.lru_cache(maxsize=512)
def _profile_texts(profile: SLO, version: str) -> tuple[tuple[str, str], ...]:
    return tuple(_direct_test_texts(profile, version, "<profile>"))


def _shareable(slo: SLO) -> bool:
    if slo.timeslices is not None or slo.calendar is not None or isinstance(slo.sli, CompositeSLI):
        return False
    return _plain(slo)


def _plain(slo: SLO) -> bool:
    t = twin(slo)
    a = t.alerting
    names = (
        slo.service,
        slo.name,
        slo.id,
        a.name,
        slo.no_data_alert_name,
        slo.policy_alert_name,
        naming.slug(slo.service),
        naming.slug(slo.name),
    )
    if any(yaml_string(n) != n for n in names):
        return False
    annotations = [*a.annotations, *a.page.annotations, *a.ticket.annotations]
    if any(k in ("summary", "description") for k, _ in annotations):
        return False
    labels = [*slo.labels, *a.labels, *a.page.labels, *a.ticket.labels]
    return all(_PLAIN_VALUE.match(v) and v.isprintable() for _, v in labels)


def _block(items: dict[str, str], indent: str) -> str:
    return "".join(
        f"{indent}{yaml_string(k)}: {yaml_inline(v, indent + '  ')}\n" for k, v in sorted(items.items())
    )


def _materialise(slo: SLO, text: str) -> str:
    t = twin(slo)
    a = t.alerting
    fixed = {
        naming.LABEL_SEVERITY,
        naming.LABEL_ID,
        naming.LABEL_SERVICE,
        naming.LABEL_SLO,
        naming.LABEL_TIER,
        naming.LABEL_POLICY_ACTION,
    }
    severity_labels = {}
    severity_annotations = {}
    for sev in ("page", "ticket"):
        merged = dict(slo.labels)
        merged.update(a.labels)
        merged.update(a.severity(sev).labels)
        severity_labels[sev] = {k: v for k, v in merged.items() if k not in fixed}
        notes = dict(a.annotations)
        notes.update(a.severity(sev).annotations)
        if a.runbook_url:
            notes["runbook_url"] = a.runbook_url
        severity_annotations[sev] = notes
    slo_labels = "".join(f', {k}="{_escape(v)}"' for k, v in sorted(slo.labels))
    text = text.replace(f', {_SLO_LABELS}="x"', slo_labels)
    # Every remaining sentinel is a mapping line "<indent><sentinel>: <value>"; str.split keeps
    # this a single C-speed pass over text that can run to hundreds of kilobytes.
    chunks = text.split(_SENTINEL)
    out = [chunks[0]]
    for chunk in chunks[1:]:
        prev = out[-1]
        indent = prev[len(prev.rstrip(" ")) :]
        out[-1] = prev[: len(prev) - len(indent)]
        line, _, rest = chunk.partition("\n")
        what, _, value = line.partition(": ")
        if what == "severitylabels":
            out.append(_block(severity_labels[value], indent))
        elif what == "annotations":
            out.append(_block(severity_annotations[value], indent))
        out.append(rest)
    text = "".join(out)
    base = f"{naming.slug(slo.service)}--{naming.slug(slo.name)}"
    return (
        text.replace(f"{_SVC}--{_NAME}", base)
        .replace(_NO_DATA, slo.no_data_alert_name)
        .replace(_POLICY, slo.policy_alert_name)
        .replace(_ALERT, a.name)
        .replace(_SVC, slo.service)
        .replace(_NAME, slo.name)
    )


def render_rule_tests(
    slo: SLO, version: str, source: str | None = None, *, service_slos: Sequence[SLO] = ()
) -> TestFiles:
    """The promtool tests (and the twin rules they load) for ``slo``: the tiers' tests in one
    file per evaluation interval used (see ``tier_eval``), ``<service>--<slo>.<interval>.test.yml``,
    loading the burn twin ``<service>--<slo>.burn.rules.yml``; the budget's in ``.budget.test.yml``
    and ``.uneven.test.yml``, loading the spend twin ``.spend.rules.yml``; the others in
    ``.whole.test.yml``, loading the whole twin ``<service>--<slo>.rules.yml`` (``TEST_FILES``).
    A composite needs its service's SLOs (``service_slos``) for its components."""
    if slo.base_window != naming.BASE_WINDOW:
        # The model and its scenarios are built on the 5m rates (a fast-reset rig's SLO is not).
        raise UnprovableSLO(f"{slo.id}, whose base window is not {naming.BASE_WINDOW}s")
    source = source or slo.source.file
    base = f"{naming.slug(slo.service)}--{naming.slug(slo.name)}"
    rules_name = f"{base}.rules.yml"
    # One rendering for the whole twin and its parts (render_rule_file writes the same text).
    groups, parts = twin_parts(slo, service_slos)
    rules_text = rules_header([f"{source} (test twin of {slo.id})"], version) + dump_yaml({"groups": groups})
    if _shareable(slo):
        profile_base = f"{_SVC}--{_NAME}"
        bodies = [
            (name.replace(profile_base, base), _materialise(slo, text))
            for name, text in _profile_texts(_profile(slo), version)
        ]
    else:
        bodies = _direct_test_texts(slo, version, source, service_slos)
    files = [(rules_name, rules_text)]
    for part in PARTS:
        part_name = f"{base}.{part}.rules.yml"
        if any(body.startswith(f"rule_files:\n- {part_name}\n") for _, body in bodies):
            sources = [f"{source} (test twin of {slo.id}: the rules its {_PART_READERS[part]} read)"]
            text = rules_header(sources, version) + dump_yaml({"groups": only_rules(groups, parts[part])})
            files.append((part_name, text))
    for name, body in bodies:
        found = _INTERVAL.search(body)
        assert found is not None
        interval = found[1]
        header = (
            f"# Code generated by sloctl {version} from {source}. DO NOT EDIT.\n"
            f"# promtool unit tests of the rules of SLO {slo.id} at a {interval} "
            f"evaluation interval; run: promtool test rules {name}\n"
        )
        files.append((name, header + body))
    return TestFiles(tuple(files))
