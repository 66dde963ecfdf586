"""Property: no input makes the loaders raise; every error carries a line and a column.

Valid documents (the native slos/, Sloth's and OpenSLO fixtures) are mutated at random —
values of the wrong type, deleted and unknown keys, garbage bytes, truncation — for 12,000
cases in all.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloctl.spec import load_documents
from tests.paths import ROOT, SLOTH_TESTDATA

SEEDS: list[str] = [p.read_text() for p in sorted((ROOT / "slos").glob("*.yaml"))]
SEEDS += [p.read_text() for p in sorted(SLOTH_TESTDATA.glob("in-*.yaml")) if "invalid" not in p.name]
SEEDS += [p.read_text() for p in sorted((SLOTH_TESTDATA / "validate" / "good").glob("*.yaml"))]
DOCS: list[Any] = [d for text in SEEDS for d in yaml.safe_load_all(text) if d is not None]

SETTINGS = settings(
    max_examples=6_000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["{{.window}}", "5m", "30d", "200ms", "sum(rate(x[5m]))", "sum(", "", "page", "-1"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(root: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return root


def _check(text: str | bytes) -> None:
    result = load_documents([("fuzz.yaml", text)])
    for error in (*result.errors, *result.warnings):
        assert error.location.file == "fuzz.yaml"
        assert error.location.line >= 1 and error.location.column >= 1, error
        assert error.message


@pytest.mark.cpu(65)
@SETTINGS
@given(st.data())
def test_structural_mutations_never_raise_and_errors_are_located(data: st.DataObject) -> None:
    doc = copy.deepcopy(data.draw(st.sampled_from(DOCS)))
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["replace", "delete", "add-key"]))
        if action == "add-key":
            target = doc
            for key in path:
                target = target[key]
            if isinstance(target, dict):
                target[data.draw(st.text(min_size=1, max_size=12))] = data.draw(values)
                continue
            action = "replace"
        doc = _set(doc, path, data.draw(values), delete=action == "delete" and bool(path))
    # libyaml's emitter (the safe representer either way): PyYAML's own spent a third of the
    # test's time writing the mutated documents out.
    _check(yaml.dump(doc, Dumper=yaml.CSafeDumper, allow_unicode=True))


@SETTINGS
@given(st.data())
def test_textual_mutations_never_raise_and_errors_are_located(data: st.DataObject) -> None:
    raw = data.draw(st.sampled_from(SEEDS)).encode()
    action = data.draw(st.sampled_from(["truncate", "insert", "overwrite", "garbage"]))
    pos = data.draw(st.integers(0, len(raw)))
    blob = data.draw(st.binary(min_size=1, max_size=16))
    if action == "truncate":
        raw = raw[:pos]
    elif action == "insert":
        raw = raw[:pos] + blob + raw[pos:]
    elif action == "overwrite":
        raw = raw[:pos] + blob + raw[pos + len(blob) :]
    else:
        raw = data.draw(st.binary(max_size=200))
    _check(raw)


def test_the_seed_corpus_is_valid_before_mutation() -> None:
    for i, text in enumerate(SEEDS):
        result = load_documents([(f"seed{i}.yaml", text)])
        assert not result.errors, result.errors
    assert Path(ROOT / "slos").is_dir() and len(DOCS) > 10
