"""Checks shared by every input format: names, labels, PromQL and the semantic rules.

Format readers turn their documents into ``SLO`` objects through ``check_slo``, so a Sloth file
and a native file are held to the same rules (and report them the same way).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import promql_parser

from sloctl.durations import format_duration
from sloctl.errors import Location
from sloctl.model import (
    SLI,
    SLO,
    WINDOW_PLACEHOLDER,
    CompositeSLI,
    EventsSLI,
    LatencySLI,
    RatioSLI,
    RawSLI,
    alert_windows,
    canonical_window,
)
from sloctl.ports import url_port
from sloctl.spec.metricsql import metricsql_functions
from sloctl.spec.reader import Reader
from sloctl.spec.yamlsrc import YNode

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
NAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9_.-]*[a-zA-Z0-9])?$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
#: white space as Python's ``re`` and ECMA-262 (the JSON Schema's readers) both read it: their
#: ``\s`` differ (Python's takes U+001C–U+001F and U+0085, ECMA's U+FEFF), so the patterns an
#: editor checks too spell it out
_BLANKS = r" \t\n\r\f\v"
SPACE = rf"[{_BLANKS}]"
URL = re.compile(
    rf"^[hH][tT][tT][pP][sS]?://([^/?#{_BLANKS}]*@)?[^/?#@:{_BLANKS}][^/?#@{_BLANKS}]*([/?#][\s\S]*)?$"
)
"""An http:// or https:// URL with a host (any case in the scheme, as URLs allow): the shape
:func:`url_problem` asks for first, and the JSON Schema's pattern (:mod:`sloctl.spec.schema`)."""
THRESHOLD = re.compile(rf"^{SPACE}*([0-9]+(?:\.[0-9]+)?){SPACE}*(ms|s|m){SPACE}*$")
"""A latency with its unit (``200ms``, ``1.5s``), as the native format's ``threshold``."""
RESERVED_LABEL_PREFIXES = ("sloctl_", "sloth_", "__")

#: The longest file name a file system takes (ext4, xfs, btrfs, tmpfs: 255 bytes).
NAME_MAX = 255
#: ``sloctl generate`` stages each file as ``.<name>.<8 random characters>.tmp``.
STAGING = len("." + ".abcdefgh.tmp")
#: The longest suffix after ``<service>--<slo>``: rule tests ``.<interval>.test.yml``.
LONGEST_SUFFIX = len(".99999m.test.yml")
#: The most characters a service's and an SLO's names may have together (``<service>--<slo>``).
NAMES_MAX = NAME_MAX - LONGEST_SUFFIX - STAGING - len("--")


def check_name(reader: Reader, value: str, loc: Location, path: str, what: str) -> None:
    if value and not NAME.fullmatch(value):
        reader.error(
            loc,
            path,
            f"{what} {value!r} must be letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit",
        )


def check_labels(
    reader: Reader, labels: Mapping[str, str], path: str, where: YNode | Location, prefix: str = ""
) -> None:
    """Every label name of ``labels``, read at ``path`` from ``where``: the mapping node whose keys
    are ``prefix`` and each name (an error goes to the key), or a location for all of them."""
    keys, loc = (where.key_locs, where.loc) if isinstance(where, YNode) else ({}, where)
    for name in labels:
        found = label_name_problem(name)
        if found:
            key = prefix + name
            reader.error(keys.get(key, loc), f"{path}.{key}", found)


def label_name_problem(name: str) -> str | None:
    """Why ``name`` is not a Prometheus label name, or None."""
    if LABEL_NAME.fullmatch(name):
        return None
    return f"{name!r} is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)"


def url_problem(text: str) -> str | None:
    """Why ``text`` is not an http:// or https:// URL with a host (the only links sloctl writes
    into a page, an alert or a setting), or None.

    >>> url_problem("javascript:alert(1)")
    "'javascript:alert(1)' is not an http:// or https:// URL with a host"
    """
    if not URL.fullmatch(text):
        return f"{text!r} is not an http:// or https:// URL with a host"
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError as exc:  # a bracketed host that is not an IPv6 address
        return f"{text!r} is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{text!r} is not an http:// or https:// URL with a host"
    try:
        url_port(parts)  # the port rule of the URL flags (sloctl.egress), read by the same code
    except ValueError as exc:
        return f"{text!r}: {exc}"
    return None


def read_labels(
    reader: Reader, node: YNode | None, path: str, loc: Location, *, go: bool = False
) -> dict[str, str]:
    """The label map at ``path`` (read as Go reads YAML with ``go``: Sloth's), every name checked."""
    labels = (reader.go_string_map if go else reader.string_map)(node, path)
    check_labels(reader, labels, path, node or loc)
    return labels


def name_and_objective(
    reader: Reader, fields: Mapping[str, YNode], loc: Location, path: str
) -> tuple[str, float]:
    """An SLO's ``name`` (checked) and ``objective`` (99 when left out), as the native and Sloth
    formats write them: a quoted objective is an error in both, as it is to Sloth (Go's YAML
    reader will not put a string into its float64)."""
    name = reader.string(fields.get("name"), f"{path}.name", non_empty=True)
    check_name(reader, name, loc, f"{path}.name", "SLO name")
    return name, reader.number(fields.get("objective"), f"{path}.objective", default=99.0, quoted=False)


def check_promql(
    reader: Reader,
    query: str,
    loc: Location,
    path: str,
    *,
    windowed: bool,
    metricsql: bool = False,
    victoria: bool = False,
) -> None:
    """Parse the query as Prometheus will see it, with ``{{.window}}`` rendered. With
    ``metricsql`` (Sloth's ``validate_victoria_metrics`` plugin under ``--compat sloth``), a query
    PromQL cannot parse is accepted as MetricsQL, unchecked; with ``victoria`` (that plugin
    without ``--compat sloth``), the error names the flag that accepts the query."""
    if not query.strip():
        reader.error(loc, path, "query is empty")
        return
    query = canonical_window(query)
    if windowed and WINDOW_PLACEHOLDER not in query:
        reader.warn(
            loc,
            path,
            f"query has no {WINDOW_PLACEHOLDER}: it is read as written, and every window is built "
            "from its 5m recordings (docs/rules.md, raw SLIs)",
        )
    rendered = query.replace(WINDOW_PLACEHOLDER, "5m")
    try:
        promql_parser.parse(rendered)
    except (ValueError, TypeError, OverflowError) as exc:
        if metricsql:
            return  # Sloth validates these as MetricsQL; sloctl has no MetricsQL parser to do so
        extensions = metricsql_functions(query)
        sloth = (
            "; or, as the SLO's validate_victoria_metrics plugin declares MetricsQL, check and "
            "generate Sloth's rules with --compat sloth"
            if victoria
            else ""
        )
        if extensions:
            names = ", ".join(f"{n}()" for n in extensions)
            reader.error(
                loc,
                path,
                f"{names}: MetricsQL (VictoriaMetrics) only, not PromQL; sloctl writes PromQL rules that "
                f"Prometheus and promtool run (the vmalert flavour too): write the query in PromQL{sloth}",
            )
        else:
            reader.error(loc, path, f"PromQL syntax error: {exc}{sloth}")


def check_selector(reader: Reader, selector: str, loc: Location, path: str) -> tuple[tuple[str, str], ...]:
    """A label-matcher selector such as ``{route="/x",method="GET"}``; returns its equality
    matchers."""
    text = selector.strip() or "{}"
    if not (text.startswith("{") and text.endswith("}")):
        reader.error(
            loc, path, f'expected label matchers in braces such as {{route="/v1"}}, found {selector!r}'
        )
        return ()
    if text == "{}":
        return ()
    try:
        expr = promql_parser.parse(f"up{text}")
    except (ValueError, TypeError, OverflowError) as exc:
        reader.error(loc, path, f"invalid label matchers: {exc}")
        return ()
    pairs: list[tuple[str, str]] = []
    matchers = getattr(getattr(expr, "matchers", None), "matchers", [])
    for m in matchers:
        if m.op == promql_parser.MatchOp.Equal and m.name != "__name__":
            pairs.append((m.name, m.value))
    return tuple(sorted(pairs))


def sli_queries(sli: SLI) -> list[tuple[str, str]]:
    """(field, query) pairs of an SLI that hold user PromQL."""
    if isinstance(sli, EventsSLI):
        return [("errorQuery", sli.error_query), ("totalQuery", sli.total_query)]
    if isinstance(sli, RatioSLI):
        return [("goodQuery", sli.good_query), ("totalQuery", sli.total_query)]
    if isinstance(sli, RawSLI):
        return [("errorRatioQuery", sli.error_ratio_query)]
    return []


@dataclass(frozen=True)
class Fields:
    """Where an SLO's fields are written in the file it was read from, for the errors found on
    the model.

    ``check_slo`` names a field as the model does (``objective``, ``sli.latency.histogram``,
    ``alerting.name``). A reader gives the path and node of the SLO in its file, under which the
    fields of the same name are looked up, and ``renamed``: the fields its format writes under
    another name or elsewhere (Pyrra's ``spec.target``, OpenSLO's ``spec.timeWindow[0]``), each
    with its path and node (None when the file leaves it out). An error then names the field
    as the file writes it, at the field's own line; a field the file does not write is named
    below the nearest node that holds it, at that node's line."""

    path: str
    node: YNode | None
    loc: Location
    renamed: Mapping[str, tuple[str, YNode | None]] = field(default_factory=dict)

    def at(self, name: str) -> tuple[Location, str]:
        """The location and path of the model's field ``name`` (dotted)."""
        loc, path, _ = self._find(name)
        return loc, path

    def written(self, name: str) -> tuple[str, YNode | None]:
        """The path of the model's field ``name`` as the file writes it, and its node (None
        where the file leaves it out)."""
        _, path, node = self._find(name)
        return path, node

    def _find(self, name: str) -> tuple[Location, str, YNode | None]:
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            moved = self.renamed.get(".".join(parts[:cut]))
            if moved is not None:
                return self._walk(*moved, parts[cut:])
        return self._walk(self.path, self.node, parts)

    def _walk(
        self, path: str, node: YNode | None, parts: Sequence[str]
    ) -> tuple[Location, str, YNode | None]:
        loc = loc_of(node, self.loc)
        for part in parts:
            path = f"{path}.{part}" if path else part
            node = child(node, part)
            if node is not None:
                loc = node.loc
        return loc, path, node


def loc_of(node: YNode | None, default: Location) -> Location:
    """Where ``node`` stands, or ``default`` where the file leaves it out."""
    return node.loc if node is not None else default


def child(node: YNode | None, *keys: str | int) -> YNode | None:
    """The node below ``node`` at ``keys`` (mapping keys, sequence indexes); None where one is
    missing."""
    for key in keys:
        if node is None:
            return None
        value = node.value
        if isinstance(key, str) and isinstance(value, dict):
            node = value.get(key)
        elif isinstance(key, int) and isinstance(value, list) and 0 <= key < len(value):
            node = value[key]
        else:
            return None
    return node


def check_slo(reader: Reader, slo: SLO, fields: Fields) -> None:
    """Semantic rules every SLO must meet, whatever its format; each error at its field. Notes
    where the file names the SLO (``reader.named``), as every format's SLOs come through here."""
    reader.named[slo.source] = reader.full_path(fields.written("name")[0])

    def error(name: str, message: str) -> None:
        reader.error(*fields.at(name), message)

    if not 0 < slo.objective < 100:
        why = (
            " (100 leaves no error budget: every failed event would burn it infinitely fast; Sloth "
            "accepts it, sloctl does not)"
            if slo.objective == 100
            else ""
        )
        error("objective", f"{_as_written(fields, 'objective', slo.objective)} is outside (0, 100){why}")
    elif slo.objective < 1:
        # Objectives are percentages in every format once read; a ratio written where a
        # percentage belongs (0.999 for 99.9) promises almost nothing and never alerts.
        reader.warn(
            *fields.at("objective"),
            f"{_as_written(fields, 'objective', slo.objective)} is a percentage: {slo.objective:g} % of "
            f"events good; for {slo.objective * 100:g} % write {slo.objective * 100:g}",
        )
    sli = slo.sli
    # (a query missing is said at its field already: two empty ones are not "equal")
    if isinstance(sli, EventsSLI) and sli.error_query and _norm(sli.error_query) == _norm(sli.total_query):
        error("sli", "error query equals total query: the SLO would always be 0 %")
    if isinstance(sli, RatioSLI) and sli.good_query and _norm(sli.good_query) == _norm(sli.total_query):
        error("sli", "good query equals total query: the SLO could never burn budget")
    if isinstance(sli, LatencySLI) and not METRIC_NAME.fullmatch(sli.histogram):
        error("sli.latency.histogram", f"{sli.histogram!r} is not a metric name")
    longest = max((w.long_window for w in slo.windows.windows), default=0)
    if slo.alerting.enabled_tiers and longest > slo.period:
        error(
            "period",
            f"period {format_duration(slo.period)} is shorter than the "
            f"longest alert window ({format_duration(longest)}); use a longer period or a "
            "windows catalog for it",
        )
    for name in dict(slo.labels):
        if name.startswith(RESERVED_LABEL_PREFIXES):
            error(f"labels.{name}", f"label {name!r} uses a reserved prefix")
    # Prometheus takes any non-empty string as an alert name (rulefmt checks only that it is set),
    # and the outputs quote it wherever it goes; so does sloctl.
    if slo.alerting.enabled_tiers and not slo.alerting.name:
        error("alerting.name", "an alert name is required while alerts are enabled")
    if slo.timeslices is not None and isinstance(sli, RawSLI):
        error("timeslices", "timeslices need event counts to judge a slice; a raw SLI has none")
    if isinstance(sli, CompositeSLI):
        for key, value in (("timeslices", slo.timeslices), ("calendar", slo.calendar)):
            if value is not None:
                error(key, f"a composite SLO is rolling and counts events; drop {key}")

    from sloctl.spec import promcheck  # it builds on this module's names

    promcheck.check_alerting(reader, slo, fields)


def _as_written(fields: Fields, name: str, percent: float) -> str:
    """``objective 101``, or the field as the file writes it where its key or scale differ
    (Pyrra's ``target 100``, OpenSLO's ``target 1.5 is 150 %, which``)."""
    path, node = fields.written(name)
    key = path.rsplit(".", 1)[-1]
    value = node.value if node is not None else None
    try:
        written = float(value) if isinstance(value, (int, float, str)) else None
    except ValueError:
        written = None
    if written is None or written == percent:
        return f"{key} {percent:g}"
    return f"{key} {written:g} is {percent:g} %, which"


@dataclass(frozen=True)
class CompositePlaces:
    """Where a composite's components are written: the components' field path and each
    component's place, and whether the composite (``ok``) and which other SLOs were read
    without errors (a check that reads a period or a kind needs both)."""

    path: str
    components: tuple[Location, ...]
    ok: bool = True


def check_composites(
    reader: Reader,
    slos: Sequence[SLO],
    places: Mapping[int, CompositePlaces] | None = None,
    ok: frozenset[str] | None = None,
    named: frozenset[str] = frozenset(),
) -> None:
    """A composite's components are SLOs of its service that record every window it reads,
    count events on a rolling period, and belong to no other composite.

    ``slos`` may hold SLOs read with errors elsewhere (``ok``: the names of those read without),
    so that an unknown component is reported in the same run as those errors, and ``named``
    the names of SLOs whose SLI could not be read (no component is unknown for naming one);
    ``places`` (by ``id`` of the SLO) gives each component's path and place, else the SLO's."""

    by_name = {s.name: s for s in slos}
    fine = ok if ok is not None else frozenset(by_name)
    owner: dict[str, str] = {}
    for slo in slos:
        if not isinstance(slo.sli, CompositeSLI):
            continue
        where = (places or {}).get(id(slo)) or CompositePlaces(
            f"spec.slos[{slo.name}].sli.composite.components", ()
        )
        needed = set(alert_windows(slo))
        for i, c in enumerate(slo.sli.components):
            loc = where.components[i] if i < len(where.components) else slo.source
            path = f"{where.path}[{i}].slo" if where.components else where.path
            comp = by_name.get(c.slo)
            if comp is None and c.slo in named and c.slo != slo.name:
                continue  # its own errors are reported
            if comp is None or comp is slo:
                known = ", ".join(sorted(n for n in {*by_name, *named} if n != slo.name)) or "none"
                reader.error(
                    loc, path, f"{c.slo!r} is not another SLO of service {slo.service!r} (known: {known})"
                )
                continue
            if c.slo not in fine:
                continue  # its own errors are reported; what it records is not known
            problem = None
            if isinstance(comp.sli, (CompositeSLI, RawSLI)):
                problem = f"is a {comp.sli.kind} SLO; components need event counts of their own"
            elif comp.timeslices is not None or comp.calendar is not None:
                setting = "timeslices" if comp.timeslices is not None else "calendar"
                problem = (
                    f"has {setting}; components count events on a rolling period: drop its {setting}, "
                    "or leave it out of the composite"
                )
            elif where.ok and not needed <= set(alert_windows(comp)):
                problem = (
                    "does not record every window the composite reads (period "
                    f"{format_duration(comp.period)} against {format_duration(slo.period)}); "
                    "give both the same period and windows catalog"
                )
            elif c.slo in owner:
                problem = f"is already a component of {owner[c.slo]!r}"
            if problem:
                reader.error(loc, path, f"component {c.slo!r} {problem}")
            owner.setdefault(c.slo, slo.name)


def _norm(q: str) -> str:
    return "".join(q.split())
