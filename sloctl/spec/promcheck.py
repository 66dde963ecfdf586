"""What promtool, Prometheus or the file system would reject in the generated output, found when
the SLO file is validated instead: an error with its location, before anything is generated.

- label names on alerts must be valid and not reserved (``__name__``, ``__*``, ``sloctl_*``,
  ``sloth_*``: Prometheus refuses the first, sloctl's own labels would be overwritten);
  annotation names must be valid label names too;
- alert label values, annotations and the runbook URL are Go templates to Prometheus: an
  unclosed action, string, comment or parenthesis fails ``promtool check rules``;
- a service or SLO name must leave its generated file names within 255 bytes, and no two
  services (or two SLOs of a service) may differ only by case or punctuation: they would write
  the same files and rule groups.

Durations beyond Prometheus' range and numbers beyond a float are refused where they are read
(:mod:`sloctl.durations`, :class:`sloctl.spec.reader.Reader`).

>>> template_problem("{{ $labels.instance }} is down")
>>> template_problem("{{ $labels.instance is down")
'unclosed action'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sloctl import naming
from sloctl.errors import Location, SpecError
from sloctl.model import SLO
from sloctl.spec.build import (
    LABEL_NAME,
    LONGEST_SUFFIX,
    NAME_MAX,
    NAMES_MAX,
    RESERVED_LABEL_PREFIXES,
    STAGING,
    Fields,
    label_name_problem,
    url_problem,
)
from sloctl.spec.reader import Reader

__all__ = [
    "SEVERITY_IS_SLOCTLS",
    "check_across",
    "check_alerting",
    "label_problem",
    "template_problem",
]


def label_problem(name: str, value: str, *, templated: bool) -> str | None:
    """Why Prometheus or sloctl would not take label ``name=value``, or None."""
    found = label_name_problem(name)
    if found:
        return found
    if name.startswith(RESERVED_LABEL_PREFIXES):
        return f"label {name!r} uses a reserved prefix ({', '.join(RESERVED_LABEL_PREFIXES)})"
    if templated:
        found = template_problem(value)
        if found:
            return f"label {name!r}: its value is a Go template to Prometheus: {found}"
    return None


def template_problem(text: str) -> str | None:
    """The first lexical error Go's text/template (which Prometheus uses for alert labels and
    annotations) finds in ``text``, in its words, or None. Actions are ``{{ … }}``, with
    ``{{-``/``-}}`` trims, ``{{/* … */}}`` comments, and strings in which ``}}`` is text."""
    i = 0
    while True:
        start = text.find("{{", i)
        if start < 0:
            return None
        j = start + 2
        if text.startswith("- ", j) or text.startswith("-\t", j):
            j += 1
        stripped = text[j:].lstrip()
        if stripped.startswith("/*"):
            end_comment = text.find("*/", j + (len(text) - j - len(stripped)) + 2)
            if end_comment < 0:
                return "unclosed comment"
            close = text.find("}}", end_comment + 2)
            if close < 0 or text[end_comment + 2 : close].strip(" -") != "":
                return "comment ends before closing delimiter"
            i = close + 2
            continue
        found, i = _action(text, j)
        if found:
            return found


def _action(text: str, j: int) -> tuple[str | None, int]:
    """Lex one action from ``j`` (after ``{{`` and its trim marker): (error, index after ``}}``)."""
    depth = 0
    words = 0
    while j < len(text):
        trim = text[j] in " \t" and text.startswith("-}}", j + 1)
        if trim or text.startswith("}}", j):
            if depth:
                return "unclosed left paren", j
            if not words:
                return "missing value for command", j
            return None, j + (4 if trim else 2)
        ch = text[j]
        if ch in "\"'`":
            end = _string_end(text, j)
            if end < 0:
                return ("unterminated raw quoted string" if ch == "`" else "unterminated quoted string"), j
            j = end
            words += 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            if not depth:
                return "unexpected right paren", j
            depth -= 1
        if not ch.isspace():
            words += 1
        j += 1
    return "unclosed action", j


def _string_end(text: str, j: int) -> int:
    """Index after the string literal opening at ``j`` (Go: "…" and '…' with backslash escapes,
    no newline; `…` raw), or -1 when it does not end."""
    quote = text[j]
    k = j + 1
    while k < len(text):
        ch = text[k]
        if quote != "`" and ch == "\\":
            k += 2
            continue
        if quote != "`" and ch == "\n":
            return -1
        if ch == quote:
            return k + 1
        k += 1
    return -1


def check_alerting(reader: Reader, slo: SLO, fields: Fields) -> None:
    """Alert labels, annotations and the runbook URL of one SLO, as promtool will read them;
    and the runbook URL as a link, which it is on the SLO's page of ``sloctl serve`` (alerts or
    not) and in the pages of Alertmanager's receivers: a ``javascript:`` one would run there."""
    alerting = slo.alerting
    if alerting.runbook_url:
        wrong = url_problem(alerting.runbook_url)
        if wrong:
            reader.error(
                *fields.at("alerting.runbookUrl"),
                "a runbook URL must be http:// or https:// with a host: it becomes a link (the SLO page's"
                f" Runbook, the alerts' runbook_url annotation); {wrong}",
            )
    # A native file's labels are held to these rules alerts or not, as its JSON Schema holds
    # them (sloctl.spec.schema); another format's only while the SLO has an alert, which its
    # burn tiers, its no-data alert and its policy steps each are.
    if slo.spec_version != naming.API_VERSION and not (
        alerting.enabled_tiers or alerting.no_data.enabled or slo.policy.steps
    ):
        return
    if naming.LABEL_SEVERITY in dict(slo.labels):  # the SLO's labels go on its alerts too
        _severity_label(reader, slo, fields.at(f"labels.{naming.LABEL_SEVERITY}"))
    places: list[tuple[str, Iterable[tuple[str, str]], Iterable[tuple[str, str]]]] = [
        ("alerting", alerting.labels, alerting.annotations),
        ("alerting.page", alerting.page.labels, alerting.page.annotations),
        ("alerting.ticket", alerting.ticket.labels, alerting.ticket.annotations),
    ]
    for where, labels, notes in places:
        for name, value in labels:
            if label_name_problem(name):
                continue  # the reader reported it at its key (build.read_labels): once is enough
            if name == naming.LABEL_SEVERITY:
                _severity_label(reader, slo, fields.at(f"{where}.labels.{name}"))
                continue
            found = label_problem(name, value, templated=True)
            if found:
                reader.error(*fields.at(f"{where}.labels.{name}"), found)
        for name, value in notes:
            at = fields.at(f"{where}.annotations.{name}")
            if not LABEL_NAME.fullmatch(name):
                reader.error(*at, f"{name!r} is not a valid annotation name")
            found = template_problem(value)
            if found:
                reader.error(*at, f"a Go template to Prometheus: {found}")
    if alerting.runbook_url:
        found = template_problem(alerting.runbook_url)
        if found:
            reader.error(
                *fields.at("alerting.runbookUrl"),
                f"becomes the runbook_url annotation, a Go template to Prometheus: {found}",
            )


#: Why a ``severity`` label of the user's own (an alert's, an SLO's, ``--extra-label``'s) would be
#: replaced without a word on sloctl's alerts.
SEVERITY_IS_SLOCTLS = (
    "every alert of sloctl's rules carries severity page or ticket (by tier; noData.severity "
    "for the no-data alert), which the Alertmanager fragment routes and inhibits on"
)


def _severity_label(reader: Reader, slo: SLO, at: tuple[Location, str]) -> None:
    """A ``severity`` label of the file's own, on alerts or on the SLO (which its rules carry):
    sloctl's alert rules set ``severity`` to page or ticket per tier, which the Alertmanager
    fragment routes and inhibits on, so the file's value would be replaced without a word. An
    error in a sloctl/v1 file; a warning in another format (Sloth's
    ``page_alert.labels.severity`` is common, and ``--compat sloth`` keeps it)."""
    if slo.spec_version == naming.API_VERSION:
        reader.error(
            *at,
            f"label 'severity' is sloctl's: {SEVERITY_IS_SLOCTLS}; route on it, or name this label otherwise",
        )
    else:
        reader.warn(*at, f"replaced on sloctl's alerts: {SEVERITY_IS_SLOCTLS} (--compat sloth keeps it)")


def check_across(slos: Sequence[SLO]) -> list[SpecError]:
    """Names that would collide in generated files or rule groups, or make file names too long."""
    errors: list[SpecError] = []
    services: dict[str, str] = {}
    groups: dict[str, SLO] = {}
    for slo in slos:
        svc = naming.slug(slo.service)
        first = services.setdefault(svc, slo.service)
        if first != slo.service:
            errors.append(
                SpecError(
                    slo.source,
                    "metadata.name",
                    f"service {slo.service!r} and service {first!r} differ only by case or punctuation:"
                    f" both would write rules/{svc}.yml; rename one",
                )
            )
        group = naming.rule_group(slo.service, slo.name)
        other = groups.setdefault(group, slo)
        if other is not slo and other.service == slo.service and other.name != slo.name:
            errors.append(
                SpecError(
                    slo.source,
                    "name",
                    f"SLO {slo.name!r} and SLO {other.name!r} (at {other.source}) differ only by case or"
                    f" punctuation: both would be rule group {group}; rename one",
                )
            )
        longest = len(f"{svc}--{naming.slug(slo.name)}") + LONGEST_SUFFIX + STAGING
        if longest > NAME_MAX:
            errors.append(
                SpecError(
                    slo.source,
                    "name",
                    f"service and SLO names of {len(slo.service) + len(slo.name)} characters make generated"
                    f" file names (rules/tests/<service>--<slo>.<interval>.test.yml) longer than the"
                    f" {NAME_MAX} bytes a file system takes; keep the two under"
                    f" {NAMES_MAX} characters together",
                )
            )
    return errors
