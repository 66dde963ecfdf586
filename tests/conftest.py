"""Shared pytest configuration. Server fixtures (real PostgreSQL, PgBouncer, Redis, MongoDB,
Prometheus) live in tests/fixtures/ and are loaded as plugins here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.paths import SHARED

pytest_plugins = ["tests.fixtures.servers", "tests.fixtures.engines"]

#: tests marked ``cpu`` that follow each xdist group in the queue
CPU_TESTS_PER_GROUP = 2


def _group(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    return None if mark is None else str(mark.args[0] if mark.args else mark.kwargs["name"])


def _cpu_seconds(item: pytest.Item) -> float:
    mark = item.get_closest_marker("cpu")
    return 0.0 if mark is None else float(mark.args[0])


#: the xdist group of the tests marked ``waits``
WAITS = "waits"

#: session fixtures that build a stack (servers, a backfill) worth building once a run, and the
#: xdist group that every test using one joins, so that one worker builds it. A marker written
#: by hand was missed: five tests of tests/serve/test_unknown_slo.py outside the group made the
#: other worker build the serve stack again (20-30 s of a worker; tests/serve took 67 s, not 42 s).
STACK_GROUPS = {"serve_stack": "serve-stack"}


# A wrapper around every plugin's hook: the tests marked ``waits``, and those using a stack of
# :data:`STACK_GROUPS`, join their group before xdist's hook puts each test's group in its node
# id, and the queue is set after pytest's own reordering, which gathers the tests of each
# parameter of a session fixture (``prometheus_engine``) and so pulled every test on Prometheus 2,
# then every one on Prometheus 3, ahead of the groups queued here (the ``waits`` tests started
# after some 90 engine tests). A module's tests keep pytest's order among themselves, an engine's
# together.
@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    for item in items:
        if item.get_closest_marker("waits"):
            item.add_marker(pytest.mark.xdist_group(WAITS))
        for fixture, group in STACK_GROUPS.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(pytest.mark.xdist_group(group))
    yield
    _queue_the_work(items)


def _queue_the_work(items: list[pytest.Item]) -> None:
    """The order in which ``make test`` (``--dist loadgroup --no-loadscope-reorder``) hands work
    to its two workers. A work unit is an ``xdist_group`` (its tests share a rig or servers on one
    worker and mostly wait on their timers: game days, vmalert's evaluations, timeouts) or one
    other test; a worker takes the next unit when it has two tests or fewer left.

    1. Each group, largest first, followed by the tests marked ``cpu`` (promtool corpora,
       fuzzers: minutes of CPU each), longest first, :data:`CPU_TESTS_PER_GROUP` after each group:
       while one worker waits on a group, the other computes, and the longest tests start early.
    2. The tests marked ``waits`` (load tests, breaker timers: minutes of wall time at a fifth of
       a core), one group: one worker runs them one after another while the other computes
       the rest. Spread over both workers they ran beside each other, the machine half idle.
    3. Then the rest, modules with a test marked ``slow`` first, each module's tests together
       (a worker that takes two of them in a row keeps its module-scoped servers), so the run
       ends on short tests rather than on one worker finishing a long one while the other waits.

    Without xdist the order is the same and changes nothing but the order."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    by_module = sorted(
        modules.values(), key=lambda tests: not any(t.get_closest_marker("slow") for t in tests)
    )
    ordered = [item for tests in by_module for item in tests]
    groups: dict[str, list[pytest.Item]] = {}
    for item in ordered:
        name = _group(item)
        if name is not None:
            groups.setdefault(name, []).append(item)
    waits = groups.pop(WAITS, [])
    ungrouped_cpu = (item for item in ordered if _group(item) is None and _cpu_seconds(item))
    cpu = sorted(ungrouped_cpu, key=_cpu_seconds, reverse=True)
    queue: list[pytest.Item] = []
    for tests in sorted(groups.values(), key=len, reverse=True):
        queue += tests
        queue += cpu[:CPU_TESTS_PER_GROUP]
        del cpu[:CPU_TESTS_PER_GROUP]
    queue += cpu + waits
    placed = {id(item) for item in queue}
    items[:] = queue + [item for item in ordered if id(item) not in placed]


def _shared_missing() -> str | None:
    if SHARED.is_dir():
        return None
    return (
        f"{SHARED} is missing: the tests that read the Sloth fixtures and Grafana's schemas in it will"
        " fail. Put the shared folder beside the clone, or set SLOCTL_SHARED to where it is."
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Say it first when the fixtures beside the clone are not there (tests/paths.py)."""
    missing = _shared_missing()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if missing and reporter is not None:
        reporter.write_line(missing, yellow=True, bold=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """…and again last, under the failures it explains."""
    missing = _shared_missing()
    if missing:
        terminalreporter.write_line(missing, yellow=True, bold=True)
