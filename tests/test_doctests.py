"""The examples in the library's docstrings run: a ``>>>`` example that no test executes goes
stale unseen (one in ``render/dashboards`` had, since component dashboards became opt-in)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from tests.paths import ROOT

#: Locust's gevent monkey-patching may not run inside the test process.
NOT_IMPORTABLE = {"sloctl.loadtest.locustlib", "sloctl.loadtest._locust_main"}


def _modules_with_examples() -> list[str]:
    out = []
    for path in sorted([*(ROOT / "sloctl").rglob("*.py"), *(ROOT / "testbed").rglob("*.py")]):
        if ">>> " in path.read_text(encoding="utf-8"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            if name not in NOT_IMPORTABLE:
                out.append(name)
    return out


MODULES = _modules_with_examples()


def _run(name: str) -> doctest.TestResults:
    """The module's examples (those marked ``+SKIP`` illustrate a call to a live server)."""
    return doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, report=False)


def test_the_runner_runs_the_examples_there_are() -> None:
    attempted = sum(_run(name).attempted for name in MODULES)
    assert len(MODULES) >= 40 and attempted >= 50, (len(MODULES), attempted)


@pytest.mark.parametrize("name", MODULES)
def test_every_docstring_example_gives_what_it_shows(name: str) -> None:
    result = _run(name)
    assert result.failed == 0, (
        f"{name}: {result.failed} of {result.attempted} examples failed; "
        f"python -m doctest -v {name.replace('.', '/')}.py shows which"
    )
