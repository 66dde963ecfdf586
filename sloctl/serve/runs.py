"""The game days, load tests and backtests ``sloctl serve`` lists: their JSON reports found in
the configured directories, read into one shape (:class:`Run`) whatever the kind.

- a game day's ``report.json`` (``sloctl gameday run``): verdict, time to detect, budget spent,
  its checks as gates; the SLOs are those whose alerts it expected;
- a load test's ``report.json`` (``sloctl loadtest``): passed, its thresholds as gates, the SLOs
  the thresholds came from;
- a backtest's JSON (``sloctl backtest -o json`` or the ``.json`` written beside ``--report``):
  one run per SLO and scenario, each tier a gate (detected within design, no false alert).

A file that is not one of these is listed under ``skipped`` with the reason, never an error
page: the directories are the user's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sloctl.model import SLO, derived_alert_name

__all__ = ["KINDS", "Gate", "Run", "RunIndex", "find_runs"]

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


def _alert_owners(specs: Iterable[SLO]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for slo in specs:
        for name in (slo.alerting.name, slo.no_data_alert_name, slo.policy_alert_name):
            owners[name] = slo.id
        for suffix in ("Page", "Ticket"):
            owners[derived_alert_name(slo.alerting.name, suffix)] = slo.id
    return owners


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def _html_beside(path: Path) -> Path | None:
    for candidate in (path.with_suffix(".html"), path.parent / "report.html"):
        if candidate.is_file():
            return candidate
    return None


def _runs_of(
    kind_dir: str, base: Path, path: Path, doc: Any, owners: Mapping[str, str], when: float
) -> list[Run]:
    rel = path.relative_to(base).as_posix()
    html = _html_beside(path)
    if isinstance(doc, dict) and "gameday" in doc and "verdict" in doc:
        slos = sorted({owners[a] for a in doc.get("expected_alerts", []) if a in owners})
        gates = tuple(
            Gate(str(c.get("name", "")), c.get("status") == "succeeded", str(c.get("status", "")))
            for c in doc.get("checks", [])
        )
        return [
            Run(
                "gameday",
                f"{kind_dir}/{rel}",
                str(doc.get("experiment") or doc["gameday"]),
                str(doc["verdict"]),
                _num(doc.get("time_to_detect_s")),
                _num(doc.get("budget_consumed_percent")),
                gates,
                tuple(slos),
                path,
                html,
                when,
                {"game day": str(doc["gameday"]), "status": str(doc.get("status", ""))},
            )
        ]
    if isinstance(doc, dict) and "thresholds" in doc and "passed" in doc:
        sources = {str(t.get("source", "")) for t in doc["thresholds"]}
        slos = sorted(s.removeprefix("SLO ") for s in sources if s.startswith("SLO "))
        gates = tuple(
            Gate(
                str(t.get("expression", "")) + (f" ({t['scope']})" if t.get("scope") else ""),
                bool(t.get("passed")),
                "" if t.get("value") is None else f"measured {t['value']:g}",
            )
            for t in doc["thresholds"]
        )
        total = doc["total"] if isinstance(doc.get("total"), dict) else {}
        return [
            Run(
                "loadtest",
                f"{kind_dir}/{rel}",
                str(doc.get("scenario", "load test")),
                "pass" if doc["passed"] else "fail",
                None,
                None,
                gates,
                tuple(slos),
                path,
                html,
                when,
                {"target": str(doc.get("host", "")), "requests": str(total.get("num_requests", ""))},
            )
        ]
    if (
        isinstance(doc, list)
        and doc
        and all(isinstance(r, dict) and "tiers" in r and "slo" in r for r in doc)
    ):
        out = []
        for i, row in enumerate(doc):
            checks: list[Gate] = []
            detected: list[float] = []
            for t in row["tiers"]:
                det, designed = t.get("detection_seconds"), t.get("designed_seconds")
                ok = (
                    not t.get("expected") or (det is not None and (designed is None or det <= designed))
                ) and not t.get("false_alerts")
                if t.get("expected") and det is not None:
                    detected.append(float(det))
                detail = (
                    f"detected after {det} s (designed {designed} s)" if det is not None else "did not fire"
                )
                checks.append(
                    Gate(
                        str(t["tier"]),
                        ok,
                        detail + (f", {t['false_alerts']} false" if t.get("false_alerts") else ""),
                    )
                )
            left = _num(row.get("budget_left"))
            out.append(
                Run(
                    "backtest",
                    f"{kind_dir}/{rel}#{i}",
                    f"{row['slo']} · {row.get('scenario', '')}",
                    "pass" if all(g.passed for g in checks) else "fail",
                    min(detected) if detected else None,
                    None if left is None else round(100 * (1 - left), 4),
                    tuple(checks),
                    (str(row["slo"]),),
                    path,
                    html,
                    when,
                    {"scenario": str(row.get("scenario", ""))},
                )
            )
        return out
    raise ValueError("not a game-day, load-test or backtest report")


def find_runs(dirs: Mapping[Kind, Sequence[Path]], specs: Iterable[SLO]) -> RunIndex:
    """Every report under ``dirs`` (recursively, ``*.json``), newest first."""
    owners = _alert_owners(specs)
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
                    doc = json.loads(path.read_text(encoding="utf-8"))
                    found = _runs_of(f"{kind}-{index}", base, path, doc, owners, path.stat().st_mtime)
                except (OSError, ValueError) as exc:
                    skipped.append((str(path), str(exc)))
                    continue
                runs.extend(found)
    ordered = sorted({r.key: r for r in runs}.values(), key=lambda r: (-r.when, r.key))
    return RunIndex(tuple(ordered), tuple(skipped))
