"""The metric contract is the one place metric names, types, labels and label values are spelled:
registrars, dashboards, probes, load gates and tests import them, and docs/metrics.md agrees."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sloctl import contract as c
from tests.paths import ROOT

#: Python source that may not spell a contract name (the contract itself aside)
SOURCE_DIRS = ("sloctl", "testbed", "tests", "benchmarks", "loadtests", "scripts")
CONTRACT = ROOT / "sloctl" / "contract.py"


def _spellings() -> set[str]:
    names = set()
    for m in c.METRICS:
        names |= {m.name, m.client_name}
        if m.type == "histogram":
            names |= {m.series(s) for s in ("bucket", "sum", "count")}
    return names


_NAME = re.compile(
    r"(?<![A-Za-z0-9_:])("
    + "|".join(sorted(map(re.escape, _spellings()), key=len, reverse=True))
    + r")(?![A-Za-z0-9_:])"
)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes (documentation, like docs/, may name metrics)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _literals(path: Path, pattern: re.Pattern[str]) -> Iterator[tuple[int, str]]:
    """(line, match) of ``pattern`` inside every string literal (or f-string part) of ``path``,
    docstrings aside."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            for match in pattern.finditer(node.value):
                yield node.lineno, match.group(1)


def literal_spellings(path: Path) -> Iterator[tuple[int, str]]:
    """(line, name) of every contract name inside a string literal of ``path``."""
    return _literals(path, _NAME)


def test_no_string_literal_outside_the_contract_spells_a_contract_metric() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for folder in SOURCE_DIRS
        if (ROOT / folder).is_dir()
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != CONTRACT and ".venv" not in path.parts
        for line, name in literal_spellings(path)
    ]
    assert not found, "use sloctl.contract instead of spelling these names:\n" + "\n".join(found)


def test_the_grep_finds_a_name_in_an_f_string_and_a_suffixed_series(tmp_path: Path) -> None:
    bucket = c.API_DURATION.series("bucket")
    sample = tmp_path / "sample.py"
    sample.write_text(
        f'"""Docs may say {c.API_REQUESTS.name}."""\n'
        f'A = f"rate({bucket}{{{{le=\\"{{1}}\\"}}}}[5m])"\n'
        f'B = "{c.PROBE_UP.name}_and_more"\n'
        f'C = "sum({c.POOL_SIZE.name})"\n'
    )
    assert sorted(literal_spellings(sample)) == [(2, bucket), (4, c.POOL_SIZE.name)]


#: modules that write the platform API's addresses for other tools, or call it (the game days'
#: load and rig): they read each route from the contract (``LIVENESS_PATH``,
#: ``route("getDocument").url(...)``), never spell one
ROUTE_READERS = tuple(
    ROOT / "sloctl" / name
    for name in (
        "testbed_config.py",
        "testbed_runner.py",
        "chaos/load.py",
        "chaos/rig.py",
        "chaos/experiments.py",
        "loadtest/locustlib.py",
    )
)
_ROUTE = re.compile(
    "(" + "|".join(sorted((re.escape(r.path) for r in c.ROUTES), key=len, reverse=True)) + r")(?=$|[?#/\"'])"
)


def literal_routes(path: Path) -> Iterator[tuple[int, str]]:
    """(line, route) of every platform API route inside a string literal of ``path``."""
    return _literals(path, _ROUTE)


@pytest.mark.parametrize("path", ROUTE_READERS, ids=lambda p: p.name)
def test_the_testbed_writers_read_the_api_routes_from_the_contract(path: Path) -> None:
    found = [f"{path.relative_to(ROOT)}:{line}: {route}" for line, route in literal_routes(path)]
    assert not found, "use sloctl.contract's routes instead of spelling them:\n" + "\n".join(found)


def test_the_route_grep_finds_a_route_in_an_f_string_and_not_a_longer_path(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        f'"""Docs may say {c.LIVENESS_PATH}."""\n'
        f'A = f"{{url}}{c.LIVENESS_PATH}"\n'
        f'B = "{c.LIVENESS_PATH}x"\n'
        f'C = "{c.READINESS_PATH}?verbose=1"\n'
    )
    assert sorted(literal_routes(sample)) == [(2, c.LIVENESS_PATH), (4, c.READINESS_PATH)]


def _doc_rows() -> dict[str, list[str]]:
    """docs/metrics.md table rows, by the first backticked name in their first cell."""
    rows: dict[str, list[str]] = {}
    for line in (ROOT / "docs" / "metrics.md").read_text().splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            for name in re.findall(r"`([a-z_:]+)`", cells[0]):
                rows[name] = cells
    return rows


def test_docs_metrics_md_lists_every_contract_metric_with_its_type_and_labels() -> None:
    rows = _doc_rows()
    for m in c.METRICS:
        assert m.name in rows, f"{m.name} is not in docs/metrics.md"
        cells = rows[m.name]
        if len(cells) == 4:  # | metric | type | labels | meaning |
            assert cells[1] == m.type, m.name
            assert re.findall(r"`([a-z_]+)`", cells[2]) == list(m.labels), m.name
    documented = {name for name in rows if re.match(r"^(sloctl_probe|sloctl_pgbouncer|platform)_", name)}
    assert documented == {m.name for m in c.METRICS}


def test_docs_metrics_md_lists_every_reason_and_every_route() -> None:
    text = (ROOT / "docs" / "metrics.md").read_text()
    for reason in c.Reason:
        assert f"| `{reason.value}` |" in text
    for route in c.ROUTES:
        row = next(line for line in text.splitlines() if line.startswith(f"| {route.dependency.value} |"))
        assert f"`{route.method} {route.path}`" in row, route


@pytest.mark.parametrize("metric", c.METRICS, ids=lambda m: m.name)
def test_a_registered_family_exports_the_contract_name_type_and_labels(metric: c.Metric) -> None:
    registry = prometheus_client.CollectorRegistry()
    family = {"counter": metric.counter, "gauge": metric.gauge, "histogram": metric.histogram}[metric.type](
        registry
    )
    family.labels(*(f"v{i}" for i in range(len(metric.labels))))
    families = text_string_to_metric_families(prometheus_client.generate_latest(registry).decode())
    parsed = next(f for f in families if f.name == metric.client_name)
    assert parsed.type == metric.type
    sample = next(
        s
        for s in parsed.samples
        if s.name in (metric.name, metric.series("bucket") if metric.type == "histogram" else "")
    )
    assert sorted(k for k in sample.labels if k != "le") == sorted(metric.labels)


def test_the_breaker_state_has_one_spelling_everywhere() -> None:
    from sloctl.chaos.probes import BREAKER_STATES
    from testbed.breaker import State

    assert State is c.BreakerState
    assert {s.value: s.label for s in c.BreakerState} == BREAKER_STATES
    assert c.BreakerState.HALF_OPEN.label == "half_open"
