"""One shape per document kind: the loader's checks and the JSON Schema come from the same
declaration, so they accept and refuse the same documents."""

from __future__ import annotations

import json
import math

import jsonschema
import pytest
import yaml

from sloctl.chaos.schedule import SHAPE as SCHEDULE
from sloctl.collector.config import SHAPE as COLLECTOR
from sloctl.errors import SpecErrors
from sloctl.spec.shape import (
    JSON_WORDS,
    Field,
    JsonWords,
    Shape,
    check_document,
    checked_document,
    document_schema,
    json_problems,
)
from sloctl.spec.yamlsrc import parse_documents
from tests.paths import ROOT

COLLECTOR_HEAD = "apiVersion: sloctl/v1\nkind: CollectorConfig\n"
SCHEDULE_HEAD = "apiVersion: sloctl/v1\nkind: GamedaySchedule\n"


def _verdicts(shape: Shape, text: str) -> tuple[bool, bool]:
    docs, errors = parse_documents(text, "t.yaml")
    assert not errors and len(docs) == 1
    by_shape = not check_document(shape, docs[0])
    validator = jsonschema.Draft202012Validator(document_schema(shape, schema_id="x", title="x"))
    by_schema = validator.is_valid(yaml.safe_load(text))
    return by_shape, by_schema


@pytest.mark.parametrize(
    ("shape", "path"),
    [(COLLECTOR, "collector/targets.yaml"), (SCHEDULE, "chaos/schedule.yaml")],
)
def test_the_repository_files_pass_both_the_shape_and_its_json_schema(shape: Shape, path: str) -> None:
    assert _verdicts(shape, (ROOT / path).read_text()) == (True, True)


#: (body after the kind's head, valid) per document kind
COLLECTOR_BODIES = [
    ("targets:\n  - {name: a, kind: redis, interval: 1h30m}\n", True),
    ("targets:\n  - {name: a, kind: redis, interval: 2.5}\n", True),
    ("defaults: {connections: warm}\n", True),
    ("defaults: {connections: [cold, warm]}\n", True),
    ("targets:\n  - {name: a, kind: redis, interval: 10}\n", True),
    ("targets:\n  - {name: a, kind: redis, interval: 1.5s}\n", False),
    ("targets:\n  - {name: a, kind: redis, interval: 1s1m}\n", False),
    ("targets:\n  - {name: a, kind: cassandra}\n", False),
    ("targets:\n  - {name: A!, kind: redis}\n", False),
    ("targets:\n  - {kind: redis}\n", False),
    ("targets:\n  - {name: a, kind: redis, pasword: {env: X}}\n", False),
    ("targets:\n  - {name: a, kind: redis, password: hunter2}\n", False),
    ("targets:\n  - {name: a, kind: redis, password: {env: X, file: y}}\n", False),
    ("targets:\n  - {name: a, kind: redis, port: 70000}\n", False),
    ("debugHistory: 0\n", False),
    ("defaults: {connections: [cold, lukewarm]}\n", False),
    ("otlp: {protocol: grpc}\n", False),
]
SCHEDULE_BODIES = [
    ("spec:\n  gamedays:\n    - {experiment: a.json, cron: '0 10 * * *'}\n", True),
    ("spec:\n  gamedays:\n    - {experiment: a.json}\n", False),
    ("spec:\n  imag: x\n  gamedays: []\n", False),
    ("metadata: {name: [x]}\nspec: {gamedays: []}\n", False),
]


@pytest.mark.parametrize(
    ("shape", "text", "valid"),
    [
        *((COLLECTOR, COLLECTOR_HEAD + body, valid) for body, valid in COLLECTOR_BODIES),
        (COLLECTOR, "apiVersion: sloctl/v2\nkind: CollectorConfig\n", False),
        *((SCHEDULE, SCHEDULE_HEAD + body, valid) for body, valid in SCHEDULE_BODIES),
    ],
)
def test_the_shape_check_and_the_json_schema_agree_on_a_document(
    shape: Shape, text: str, valid: bool
) -> None:
    assert _verdicts(shape, text) == (valid, valid)


def test_every_structural_problem_is_reported_at_once_with_its_place() -> None:
    text = COLLECTOR_HEAD + "listn: x\ntargets:\n  - {name: a, kind: redis, port: no}\n  - {kind: redis}\n"
    docs, _ = parse_documents(text, "t.yaml")
    problems = [str(e) for e in check_document(COLLECTOR, docs[0])]
    assert problems == [
        "t.yaml:3:1: listn: unknown field 'listn' (did you mean 'listen'?)",
        "t.yaml:5:34: targets[0].port: must be an integer between 1 and 65535",
        "t.yaml:6:5: targets[1].name: missing required field 'name'",
    ]


def test_a_value_outside_its_enum_is_answered_with_the_one_meant() -> None:
    text = COLLECTOR_HEAD + "targets:\n  - {name: a, kind: Postgres}\n  - {name: b, kind: mongo}\n"
    docs, _ = parse_documents(text, "t.yaml")
    problems = [str(e) for e in check_document(COLLECTOR, docs[0])]
    kinds = "postgres, pgbouncer, redis, mongodb, http"
    assert problems == [
        f"t.yaml:4:21: targets[0].kind: kind 'Postgres' is not one of {kinds} (did you mean 'postgres'?)",
        f"t.yaml:5:21: targets[1].kind: kind 'mongo' is not one of {kinds} (did you mean 'mongodb'?)",
    ]


def test_a_cron_rule_json_schema_cannot_say_is_still_checked_by_the_shape() -> None:
    text = SCHEDULE_HEAD + "spec:\n  gamedays:\n    - {experiment: a.json, cron: '*/5 * * * *'}\n"
    assert _verdicts(SCHEDULE, text) == (False, True)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("", "t.yaml:1:1", "file holds no YAML document"),
        ("# only a comment\n", "t.yaml:1:1", "file holds no YAML document"),
        (COLLECTOR_HEAD + "targets: []\n---\n" + COLLECTOR_HEAD, "t.yaml:5:1", "a second starts here"),
    ],
)
def test_a_config_file_holds_one_document_worded_as_the_slo_loader_words_it(
    text: str, where: str, message: str
) -> None:
    with pytest.raises(SpecErrors) as raised:
        checked_document(COLLECTOR, text, "t.yaml")
    (error,) = raised.value.errors
    assert str(error.location) == where
    assert message in error.message


#: one field of each kind the native format declares (labels, one-of alternatives, rule durations
#: with bounds, lists of shapes with a unique key, exclusive bounds, reserved names)
RICH = Shape(
    {
        "labels": Field(
            "map",
            keys=Field("string", pattern="^[a-z_]+$", not_pattern="^(severity$|__)"),
            values=Field("text"),
        ),
        "for": Field(
            "duration", any_of=(Field("duration", whole_seconds=True), Field("string", enum=("0", 0)))
        ),
        "slice": Field("duration", whole_seconds=True, minimum=300, maximum=300),
        "noData": Field("duration", whole_seconds=True, minimum=300),
        "weight": Field("number", exclusive_minimum=0, exclusive_maximum=100),
        "name": Field("string", min_length=1, max_length=5),
        "steps": Field(
            "list",
            min_items=1,
            unique="action",
            items=Field("mapping", shape=Shape({"action": Field("string", required=True, enum=("a", "b"))})),
        ),
        "kind": Field(
            "mapping",
            shape=Shape({"x": Field("mapping"), "y": Field("mapping")}, exactly_one=("x", "y")),
        ),
    }
)
RICH_BODIES = [
    ("labels: {team: a, zone: 1, empty: }\n", True),
    ("labels: {Team: a}\n", False),
    ("labels: {severity: page}\n", False),
    ("labels: {severity_x: page, __y: z}\n", False),
    ("labels: {severity_x: page}\n", True),
    ("labels: {team: true}\n", False),
    ("labels: {team: [a]}\n", False),
    ("for: 5m\n", True),
    ("for: 0\n", True),
    ("for: '0'\n", True),
    ("for: 0s\n", False),
    ("for: 1500ms\n", False),
    ("for: false\n", False),
    ("slice: 5m\n", True),
    ("slice: 300s\n", True),
    ("slice: 1m\n", False),
    ("slice: 10m\n", False),
    ("noData: 5m\n", True),
    ("noData: 1h\n", True),
    ("noData: 299s\n", False),
    ("weight: 0.5\n", True),
    ("weight: 0\n", False),
    ("weight: 100\n", False),
    ("weight: '5'\n", False),
    ("name: abcde\n", True),
    ("name: ''\n", False),
    ("name: abcdef\n", False),
    ("steps: [{action: a}, {action: b}]\n", True),
    ("steps: [{action: a}, {action: a}]\n", False),
    ("steps: []\n", False),
    ("steps: [{action: c}]\n", False),
    ("kind: {x: {}}\n", True),
    ("kind: {x: {}, y: {}}\n", False),
    ("kind: {}\n", False),
]


@pytest.mark.parametrize(("body", "valid"), RICH_BODIES, ids=[b.strip() for b, _ in RICH_BODIES])
def test_maps_alternatives_bounded_durations_and_unique_lists_agree_with_their_json_schema(
    body: str, valid: bool
) -> None:
    assert _verdicts(RICH, body) == (valid, valid)


def test_a_value_held_by_a_model_check_is_typed_by_the_walk_and_bounded_by_the_json_schema() -> None:
    held = Shape({"objective": Field("number", exclusive_maximum=100, held_by="check_slo")})
    assert _verdicts(held, "objective: 101\n") == (True, False)  # check_slo says why, in its words
    assert _verdicts(held, "objective: x\n") == (False, False)


def test_a_second_item_of_a_unique_key_is_reported_at_its_value() -> None:
    docs, _ = parse_documents("steps:\n  - {action: a}\n  - {action: a}\n", "t.yaml")
    assert [str(e) for e in check_document(RICH, docs[0])] == [
        "t.yaml:3:14: steps[1].action: action 'a' is listed twice"
    ]


#: a provider as Chaos Toolkit writes one: its own keys beside the declared ones (open), and the
#: fields of its type (variants); the same variants on a closed shape
_VARIANTS = {"python": {"module": Field("string")}, "http": {"url": Field("string", required=True)}}
OPEN = Shape({"type": Field("string")}, open=True, variant_key="type", variants=_VARIANTS)
CLOSED = Shape({"type": Field("string")}, variant_key="type", variants=_VARIANTS)
VARIANT_BODIES = [
    (OPEN, "{type: python, module: m, arguments: {a: 1}, x-note: n}\n", True),
    (OPEN, "{type: python, module: [m]}\n", False),
    (OPEN, "{type: process, module: [m]}\n", True),  # a module is a python provider's field only
    (OPEN, "{type: http, url: u}\n", True),
    (OPEN, "{type: http}\n", False),  # a variant's required field
    (OPEN, "{module: [m]}\n", True),
    (CLOSED, "{type: python, module: m}\n", True),
    (CLOSED, "{type: python, url: u}\n", False),  # the other variant's field: unknown here
    (CLOSED, "{type: python, arguments: {}}\n", False),
    (CLOSED, "{type: process, module: m}\n", False),
]


@pytest.mark.parametrize(
    ("shape", "body", "valid"),
    VARIANT_BODIES,
    ids=[f"{'open' if s.open else 'closed'} {b.strip()}" for s, b, _ in VARIANT_BODIES],
)
def test_open_keys_and_variants_by_a_field_s_value_agree_with_their_json_schema(
    shape: Shape, body: str, valid: bool
) -> None:
    assert _verdicts(shape, body) == (valid, valid)


def test_a_variant_s_field_of_another_type_is_reported_at_its_value() -> None:
    docs, _ = parse_documents("type: python\nmodule: [m]\narguments: {a: 1}\n", "t.yaml")
    assert [str(e) for e in check_document(OPEN, docs[0])] == ["t.yaml:2:9: module: must be a string"]


def test_a_variant_key_of_another_kind_selects_no_variant_and_is_reported_itself() -> None:
    docs, _ = parse_documents("type: [python]\nmodule: [m]\n", "t.yaml")  # a list: unhashable
    assert [str(e) for e in check_document(OPEN, docs[0])] == ["t.yaml:1:7: type: must be a string"]


#: A report's shape, walked over decoded JSON: a required name, an optional figure, a list.
REPORT = Shape(
    {
        "name": Field("string", required=True),
        "took": Field("number"),
        "rows": Field("list", items=Field("number")),
    },
    open=True,
)
ABSENT = JsonWords(null_is_absent=True)
#: (document, its problems in JSON's words, with null standing for an optional key left out)
JSON_DOCS: list[tuple[dict[str, object], list[str], list[str]]] = [
    ({"name": "a", "took": 1.5, "rows": [1], "other": [None]}, [], []),  # open: other keys unread
    ({"name": "a", "took": None}, ["took: null, not a number"], []),
    ({"name": None}, ["name: null, not a string"], ["name: null, not a string"]),  # required
    ({"name": "a", "rows": [None]}, ["rows[0]: null, not a number"], ["rows[0]: null, not a number"]),
    ({"name": "a", "took": True}, ["took: a boolean, not a number"], ["took: a boolean, not a number"]),
    (
        {"name": 1, "took": "1"},
        ["name: a number, not a string", "took: a string, not a number"],
        ["name: a number, not a string", "took: a string, not a number"],
    ),
    ({}, ["name: missing required field 'name'"], ["name: missing required field 'name'"]),
]


@pytest.mark.parametrize(("doc", "plain", "absent"), JSON_DOCS, ids=[json.dumps(d) for d, _, _ in JSON_DOCS])
def test_null_in_json_is_a_value_of_its_own_unless_the_words_say_it_stands_for_a_key_left_out(
    doc: dict[str, object], plain: list[str], absent: list[str]
) -> None:
    """JSON_WORDS (a Chaos Toolkit experiment: Chaos Toolkit walks a null as a value) and the
    words of the reports sloctl writes (null: not measured) differ on an optional key alone; each
    agrees with the JSON Schema the same declaration gives in its words."""
    assert json_problems(REPORT, doc) == plain
    assert json_problems(REPORT, doc, ABSENT) == absent
    for words, problems in ((JSON_WORDS, plain), (ABSENT, absent)):
        validator = jsonschema.Draft202012Validator(REPORT.json_schema(words))
        assert validator.is_valid(doc) == (not problems), (words.null_is_absent, validator.schema)


def test_a_json_document_that_is_a_list_is_walked_by_a_field_and_an_infinite_number_is_refused() -> None:
    rows = Field("list", items=Field("mapping", shape=REPORT))
    assert json_problems(rows, [{"name": "a"}, {"name": "b", "took": math.inf}], ABSENT) == [
        "[1].took: a number, not a finite number"
    ]
    assert json_problems(rows, {"name": "a"}) == ["an object, not a list"]  # the root: no path
