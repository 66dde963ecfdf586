"""When the tool shelf takes a tool as built, and when it builds it again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sloctl.shelf import TOOLS, Tool, tool, tool_dir
from sloctl.shelf.build import built


def _place(t: Tool, record: dict[str, object], binaries: tuple[str, ...] | None = None) -> None:
    folder = tool_dir(t)
    (folder / "bin").mkdir(parents=True)
    for b in t.binaries if binaries is None else binaries:
        (folder / "bin" / b).write_text("#!/bin/sh\n")
    (folder / "BUILD.json").write_text(json.dumps(record))


@pytest.fixture
def shelf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SLOCTL_TOOLS", str(tmp_path))
    return tmp_path


def _record(t: Tool, **changes: object) -> dict[str, object]:
    return {"tool": t.name, "version": t.version, "tags": list(t.tags), "seconds": 1.0, **changes}


@pytest.mark.parametrize("t", TOOLS, ids=[t.name for t in TOOLS])
def test_a_tool_with_its_binaries_version_and_tags_is_on_the_shelf(shelf: Path, t: Tool) -> None:
    _place(t, _record(t))
    assert built(t) == _record(t)


def test_prometheus_leaves_the_cloud_discoveries_out_and_a_build_without_that_tag_is_built_again(
    shelf: Path,
) -> None:
    prometheus = tool("prometheus")
    assert prometheus.tags == ("remove_all_sd",)
    record = _record(prometheus)
    del record["tags"]  # what the shelf wrote before it knew tags
    _place(prometheus, record)
    assert built(prometheus) is None


@pytest.mark.parametrize(
    ("changes", "binaries"),
    [
        ({"version": "v0.0.1"}, None),
        ({"tags": ["netgo"]}, None),
        ({}, ("prometheus",)),
    ],
    ids=["another version", "other tags", "a binary missing"],
)
def test_a_tool_unlike_its_pin_is_built_again(
    shelf: Path, changes: dict[str, object], binaries: tuple[str, ...] | None
) -> None:
    prometheus = tool("prometheus")
    _place(prometheus, _record(prometheus, **changes), binaries)
    assert built(prometheus) is None
