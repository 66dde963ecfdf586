"""The game days, load tests and backtests ``sloctl serve`` lists: their JSON reports found in
the configured directories, read into one shape (:class:`Run`) whatever the kind.

- a game day's ``report.json`` (``sloctl gameday run``): verdict, time to detect, budget spent,
  its checks as gates; the SLOs are those whose alerts it expected;
- a load test's ``report.json`` (``sloctl loadtest``): passed, its thresholds as gates, the SLOs
  the thresholds came from;
- a backtest's JSON (``sloctl backtest -o json`` or the ``.json`` written beside ``--report``):
  one run per SLO and scenario, each tier a gate (detected within design, no false alert).

A file that is not one of these is listed under ``skipped`` with the reason, never an error
page: the directories are the user's. So is a report of one of these kinds with a field its
reader uses of another kind than its command writes: its shape (``_GAMEDAY``, ``_LOADTEST``,
``_BACKTEST``) is declared and checked as the game-day experiments' is
(:func:`sloctl.spec.shape.json_problems`), and the reason names the field by its key path
(``the load test's report: thresholds[0].value: a string, not a number``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sloctl.files import parse_json
from sloctl.model import SLO, derived_alert_name
from sloctl.spec.shape import Field, JsonWords, Shape, json_problems

__all__ = ["KINDS", "Gate", "Run", "RunIndex", "alert_owners", "find_runs"]

Kind = Literal["gameday", "loadtest", "backtest"]
KINDS: dict[Kind, str] = {"gameday": "Game days", "loadtest": "Load tests", "backtest": "Backtests"}

#: Bounds on what a directory scan reads: the UI answers in milliseconds, not after a crawl.
MAX_FILES = 2000
MAX_BYTES = 20_000_000


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool | None
    detail: str = ""
    #: a breakpoint search's gate that broke it: what the search looks for, not a failure
    #: (``passed`` is then None, ``detail`` says where it broke)
    broke_search: bool = False


@dataclass(frozen=True)
class Run:
    kind: Kind
    key: str
    """Stable id in URLs: the configured directory (``gameday-0``), the file's path below it and,
    for a backtest file, the row (``#2``)."""
    title: str
    verdict: str
    """``pass``, ``fail`` or what the report says (``inconclusive``, ``aborted``)."""
    time_to_detect_s: float | None
    budget_spent_percent: float | None
    gates: tuple[Gate, ...]
    slos: tuple[str, ...]
    path: Path
    html: Path | None
    when: float
    """The report file's modification time (Unix seconds): runs are listed newest first."""
    facts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunIndex:
    runs: tuple[Run, ...]
    skipped: tuple[tuple[str, str], ...]

    def of_kind(self, kind: str) -> list[Run]:
        return [r for r in self.runs if r.kind == kind]

    def for_slo(self, slo_id: str) -> list[Run]:
        return [r for r in self.runs if slo_id in r.slos]

    def get(self, key: str) -> Run | None:
        return next((r for r in self.runs if r.key == key), None)


def alert_owners(specs: Iterable[SLO]) -> dict[str, str]:
    """The SLO id of every alert name the SLOs' generated rules define (a game day names the
    alerts it expects, not the SLOs). Computed once per server: it does not change."""
    owners: dict[str, str] = {}
    for slo in specs:
        for name in (slo.alerting.name, slo.no_data_alert_name, slo.policy_alert_name):
            owners[name] = slo.id
        for suffix in ("Page", "Ticket"):
            owners[derived_alert_name(slo.alerting.name, suffix)] = slo.id
    return owners


def _num(v: float | None) -> float | None:
    """A figure of a report, its shape checked (a finite number, or null for not measured)."""
    return None if v is None else float(v)


def _html_beside(path: Path) -> Path | None:
    for candidate in (path.with_suffix(".html"), path.parent / "report.html"):
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class _Found:
    """Where a report file was found: what every :class:`Run` read from it shares."""

    key: str
    """``gameday-0/2026-12-01/report.json``: the configured directory and the path below it."""
    path: Path
    html: Path | None
    when: float


class BadShape(ValueError):
    """A report of a known kind with a field that is not of the shape its command writes."""


def _text(required: bool = False) -> Field:
    return Field("string", required=required)


def _objects(fields: Mapping[str, Field], required: bool = False) -> Field:
    """A list of objects with ``fields`` (and other keys, not read)."""
    return Field("list", required=required, items=Field("mapping", shape=Shape(fields, open=True)))


_NUMBER = Field("number")
_COUNT = Field("integer")
_FLAG = Field("boolean")

# The shapes of what the readers below use of each kind of report, as its command writes it:
# open objects (the keys not read are not checked), null where a key is optional standing for
# the key left out (a figure not measured), numbers finite and never booleans.
_GAMEDAY = Shape(
    {
        "gameday": _text(required=True),
        "verdict": _text(required=True),
        "experiment": _text(),
        "status": _text(),
        "time_to_detect_s": _NUMBER,
        "budget_consumed_percent": _NUMBER,
        "expected_alerts": Field("list", items=_text()),
        "checks": _objects({"name": _text(), "status": _text()}),
    },
    "a game day's report.json (sloctl gameday run), as sloctl serve reads it",
    open=True,
)
_BROKE_SEARCH = {"users": _COUNT, "rps": _NUMBER, "value": _NUMBER}
_LOADTEST = Shape(
    {
        "passed": Field("boolean", required=True),
        "interrupted": _FLAG,
        "scenario": _text(),
        "host": _text(),
        "thresholds": _objects(
            {
                "expression": _text(),
                "scope": _text(),
                "source": _text(),
                "value": _NUMBER,
                "passed": _FLAG,
                "broke_search": Field("mapping", shape=Shape(_BROKE_SEARCH, open=True)),
            },
            required=True,
        ),
        "total": Field("mapping", shape=Shape({"requests": _COUNT}, open=True)),
        "breakpoint": Field(
            "mapping",
            shape=Shape({"broken_by": _text(), "broke_at_users": _COUNT, "broke_at_rps": _NUMBER}, open=True),
        ),
    },
    "a load test's report.json (sloctl loadtest), as sloctl serve reads it",
    open=True,
)
_BACKTEST = _objects(
    {
        "slo": _text(required=True),
        "scenario": _text(),
        "budget_left": _NUMBER,
        "tiers": _objects(
            {
                "tier": _text(required=True),
                "expected": _FLAG,
                "detection_seconds": _NUMBER,
                "designed_seconds": _NUMBER,
                "false_alerts": _COUNT,
            },
            required=True,
        ),
    }
)
#: JSON's words, null standing for an optional key left out: the writers write None for a
#: figure they did not measure
_WORDS = JsonWords(null_is_absent=True)


def _require_shape(doc: Any, shape: Shape | Field, what: str) -> None:
    """:class:`BadShape` naming the first field of ``doc`` not of ``shape`` by its key path
    (and how many more there are), ``what`` being the kind of report."""
    problems = json_problems(shape, doc, _WORDS)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise BadShape(f"{what}: {problems[0]}{more}")


def _runs_of(found: _Found, doc: Any, owners: Mapping[str, str]) -> list[Run]:
    """The runs of one JSON document, whichever of the three kinds it is; :class:`BadShape` when
    a field that the kind's reader uses is not of the shape its command writes."""
    if isinstance(doc, dict) and "gameday" in doc and "verdict" in doc:
        _require_shape(doc, _GAMEDAY, "the game day's report")
        return [_gameday(found, doc, owners)]
    if isinstance(doc, dict) and "thresholds" in doc and "passed" in doc:
        _require_shape(doc, _LOADTEST, "the load test's report")
        return [_loadtest(found, doc)]
    if (
        isinstance(doc, list)
        and doc
        and all(isinstance(r, dict) and "tiers" in r and "slo" in r for r in doc)
    ):
        _require_shape(doc, _BACKTEST, "the backtest's report")
        return [_backtest(found, i, row) for i, row in enumerate(doc)]
    raise ValueError("not a game-day, load-test or backtest report")


def _gameday(found: _Found, doc: dict[str, Any], owners: Mapping[str, str]) -> Run:
    """A game day exercised the SLOs whose alerts it expected; its checks are its gates."""
    slos = sorted({owners[a] for a in doc.get("expected_alerts") or [] if a in owners})
    gates = tuple(
        Gate(str(c.get("name", "")), c.get("status") == "succeeded", str(c.get("status", "")))
        for c in doc.get("checks") or []
    )
    return Run(
        "gameday",
        found.key,
        str(doc.get("experiment") or doc["gameday"]),
        str(doc["verdict"]),
        _num(doc.get("time_to_detect_s")),
        _num(doc.get("budget_consumed_percent")),
        gates,
        tuple(slos),
        found.path,
        found.html,
        found.when,
        {"game day": str(doc["gameday"]), "status": str(doc.get("status", ""))},
    )


def _loadtest(found: _Found, doc: dict[str, Any]) -> Run:
    """A load test exercised the SLOs its thresholds came from; the thresholds are its gates."""
    sources = {str(t.get("source", "")) for t in doc["thresholds"]}
    slos = sorted(s.removeprefix("SLO ") for s in sources if s.startswith("SLO "))
    gates = tuple(_loadtest_gate(t, doc.get("breakpoint") or {}) for t in doc["thresholds"])
    total = doc.get("total") or {}
    return Run(
        "loadtest",
        found.key,
        str(doc.get("scenario", "load test")),
        "interrupted" if doc.get("interrupted") is True else "pass" if doc["passed"] else "fail",
        None,
        None,
        gates,
        tuple(slos),
        found.path,
        found.html,
        found.when,
        {"target": str(doc.get("host", "")), "requests": str(total.get("requests", ""))},
    )


def _loadtest_gate(threshold: dict[str, Any], search: dict[str, Any]) -> Gate:
    """A threshold of a load test's report; the one that broke a breakpoint search (its
    ``broke_search``: the step's users, rate and figure) as where the search broke, the report's
    wording: the search passed, and that gate breaking is what it looked for. Reports written
    before that field name the gate in the search's ``broken_by`` alone (then always one over
    all requests)."""
    name = str(threshold.get("expression", "")) + (
        f" ({threshold['scope']})" if threshold.get("scope") else ""
    )
    measured = "" if threshold.get("value") is None else f"measured {threshold['value']:g}"
    if "broke_search" in threshold:
        broke = threshold["broke_search"] or {}
    elif threshold.get("expression") == search.get("broken_by") and threshold.get("scope") in (
        None,
        "all requests",
    ):
        broke = {"users": search.get("broke_at_users"), "rps": search.get("broke_at_rps")}
    else:
        broke = {}
    users = broke.get("users")
    if users is None:
        return Gate(name, bool(threshold.get("passed")), measured)
    rps = f" ({broke['rps']:g} req/s)" if broke.get("rps") is not None else ""
    step = f"; {broke['value']:g} in that step" if broke.get("value") is not None else ""
    detail = f"broke the search at {users:g} users{rps}{step}" + (
        f"; {measured} over the whole run" if measured else ""
    )
    return Gate(name, None, detail, broke_search=True)


def _backtest(found: _Found, index: int, row: dict[str, Any]) -> Run:
    """One row of a backtest (an SLO and a scenario): each tier is a gate, passed when it fired
    within its designed time if expected and raised no false alert."""
    gates = tuple(_tier_gate(t) for t in row["tiers"])
    detected = [
        float(t["detection_seconds"])
        for t in row["tiers"]
        if t.get("expected") and t.get("detection_seconds") is not None
    ]
    left = _num(row.get("budget_left"))
    return Run(
        "backtest",
        f"{found.key}#{index}",
        f"{row['slo']} · {row.get('scenario', '')}",
        "pass" if all(g.passed for g in gates) else "fail",
        min(detected) if detected else None,
        None if left is None else round(100 * (1 - left), 4),
        gates,
        (str(row["slo"]),),
        found.path,
        found.html,
        found.when,
        {"scenario": str(row.get("scenario", ""))},
    )


def _tier_gate(tier: dict[str, Any]) -> Gate:
    det, designed = tier.get("detection_seconds"), tier.get("designed_seconds")
    passed = (
        not tier.get("expected") or (det is not None and (designed is None or det <= designed))
    ) and not tier.get("false_alerts")
    detail = f"detected after {det} s (designed {designed} s)" if det is not None else "did not fire"
    if tier.get("false_alerts"):
        detail += f", {tier['false_alerts']} false"
    return Gate(str(tier["tier"]), passed, detail)


def find_runs(dirs: Mapping[Kind, Sequence[Path]], owners: Mapping[str, str]) -> RunIndex:
    """Every report under ``dirs`` (recursively, ``*.json``), newest first; ``owners`` maps the
    alert names a game day expects to SLO ids (:func:`alert_owners`)."""
    runs: list[Run] = []
    skipped: list[tuple[str, str]] = []
    seen = 0
    for kind, bases in dirs.items():
        for index, base in enumerate(bases):
            if not base.is_dir():
                skipped.append((str(base), "not a directory"))
                continue
            for path in sorted(base.rglob("*.json")):
                seen += 1
                if seen > MAX_FILES:
                    skipped.append((str(base), f"more than {MAX_FILES} JSON files: the rest is not read"))
                    break
                if path.name == "journal.json":
                    continue  # a game day's Chaos Toolkit journal, beside its report.json
                try:
                    if path.stat().st_size > MAX_BYTES:
                        raise ValueError(f"larger than {MAX_BYTES} bytes")
                    doc = parse_json(path.read_text(encoding="utf-8"))
                    where = _Found(
                        f"{kind}-{index}/{path.relative_to(base).as_posix()}",
                        path,
                        _html_beside(path),
                        path.stat().st_mtime,
                    )
                    found = _runs_of(where, doc, owners)
                except (OSError, ValueError) as exc:
                    skipped.append((str(path), str(exc)))
                    continue
                runs.extend(found)
    ordered = sorted({r.key: r for r in runs}.values(), key=lambda r: (-r.when, r.key))
    return RunIndex(tuple(ordered), tuple(skipped))
