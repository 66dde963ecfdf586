"""Shared pytest configuration. Server fixtures (real PostgreSQL, PgBouncer, Redis, MongoDB,
Prometheus) live in tests/fixtures/ and are loaded as plugins here."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.fixtures.servers", "tests.fixtures.engines"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a test marked ``slow`` run first, each module kept whole (its module-scoped
    servers start once). pytest-xdist hands tests out in this order, so the minutes-long tests
    start early and the short ones fill in around them: the run ends on short tests rather than
    on one worker finishing a five-minute test while the other waits."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    ordered = sorted(modules.values(), key=lambda tests: not any(t.get_closest_marker("slow") for t in tests))
    items[:] = [item for tests in ordered for item in tests]
