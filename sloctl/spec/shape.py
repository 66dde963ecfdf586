"""One shape declaration per document kind, from which both its validation and its JSON Schema
come, so that the two cannot drift.

A :class:`Shape` lists the fields of a mapping (:class:`Field`: type, required, enum, pattern,
bounds, nested shape). :meth:`Shape.check` walks a located ``YNode`` tree and reports every
structural problem at once (unknown field with a did-you-mean, missing field, wrong type, a
value outside its enum, pattern or bounds, a malformed duration), each at ``file:line:column``;
:meth:`Shape.json_schema` gives the same rules to editors. Loaders check the shape first and
then only the rules a shape cannot say (cross-field checks, addresses, cron fields).

>>> s = Shape({"name": Field("string", required=True), "every": Field("duration")})
>>> s.json_schema()["required"]
['name']
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sloctl.durations import (
    DURATION_PATTERN,
    DurationError,
    at_least_pattern,
    format_duration,
    parse_duration,
    parse_seconds,
    spellings,
)
from sloctl.errors import Location, SpecError, SpecErrors, unreadable
from sloctl.files import json_kind
from sloctl.spec.yamlsrc import NO_DOCUMENT, YNode, parse_documents, plain_node

__all__ = [
    "CONFIG",
    "JSON_WORDS",
    "Field",
    "JsonWords",
    "Shape",
    "Words",
    "check_document",
    "checked_document",
    "document_schema",
    "json_problems",
    "pattern_matches",
    "read_checked_document",
]

_JSON_TYPES: dict[str, dict[str, object]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "text": {"type": ["string", "number", "null"]},
    "scalar": {"type": ["string", "number", "boolean", "null"]},
    # a duration of sloctl.durations, or a YAML number of seconds
    "duration": {
        "anyOf": [
            {"type": "string", "pattern": DURATION_PATTERN},
            {"type": "number", "exclusiveMinimum": 0},
        ],
    },
}


def pattern_matches(pattern: str, text: str) -> bool:
    """Whether ``text`` matches a field's ``pattern`` as the JSON Schema's readers (editors,
    ECMA-262 regular expressions) match it: every field's pattern is anchored, ``^…$``, and
    ECMA's ``$`` ends the text, where Python's ``re.match`` also lets it match before a last
    newline (``"checkout\\n"`` passed ``^[a-z]+$``, and a unit file took the newline).

    >>> pattern_matches("^[a-z]+$", "checkout"), pattern_matches("^[a-z]+$", "checkout\\n")
    (True, False)
    """
    return re.fullmatch(pattern, text) is not None


@dataclass(frozen=True)
class Field:
    """One field. ``type``: ``string``; ``text`` (a string, a number read as its text, or nothing:
    a label's value); ``scalar`` (any value but a mapping or a list); ``integer``; ``number``;
    ``boolean``; ``duration`` (with ``whole_seconds``: a rule's, a string of whole seconds, its
    bounds in seconds); ``mapping`` (the fields of ``shape``); ``map`` (any keys, each checked by
    ``keys``, each value by ``values``: labels); ``list`` (of ``items``)."""

    type: str
    description: str = ""
    required: bool = False
    enum: tuple[str | int, ...] = ()
    pattern: str | None = None
    not_pattern: str | None = None  # a string that matches it is refused (reserved names)
    min_length: int | None = None
    max_length: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    whole_seconds: bool = False
    shape: Shape | None = None  # a mapping's fields
    keys: Field | None = None  # a map's keys
    values: Field | None = None  # a map's values
    items: Field | None = None  # a list's items
    min_items: int | None = None
    unique: str = ""  # a list of mappings: the field whose value appears once at most
    any_of: tuple[Field, ...] = ()  # alternatives: the value is one of them (a tier's `for`: 5m or 0)
    one_or_list: bool = False  # a single item may stand for a list of one (``connections: warm``)
    wrong_type: str = ""  # what to say instead of "must be a mapping" (e.g. why not a string)
    strict_text: bool = False  # a number or a boolean where text belongs is refused, not read as text
    #: the words for a value outside this field's rule (enum, bounds, fewest items, unique key),
    #: with ``{key}`` and ``{value}``: ``unknown unit {value!r}; expected week, month or quarter``
    message: str = ""
    #: the model check of every format that holds this value to its pattern, bounds and lengths in
    #: its own words (``build.check_slo``): the JSON Schema says them, the walk checks the type only
    held_by: str = ""
    #: what only the JSON Schema says, as it says it (``format: uri``, examples)
    schema: Mapping[str, object] = field(default_factory=dict)
    #: a rule JSON Schema cannot say (a cron expression's fields): the problem, or None
    validate: Callable[[str], str | None] | None = field(default=None, compare=False)

    def json_schema(self, words: Words | None = None) -> dict[str, object]:
        """This field's JSON Schema, as the walk worded by ``words`` checks it (the config
        files' words by default)."""
        out: dict[str, object]
        if self.any_of:
            out = {"anyOf": [f.json_schema(words) for f in self.any_of]}
        elif self.enum:
            out = {"enum": list(self.enum)}
        else:
            out = self._type_schema(words)
        out.update(self._constraints())
        if self.one_or_list and self.items:
            out = {"anyOf": [self.items.json_schema(words), out]}
        out.update(self.schema)
        if self.description:
            out["description"] = self.description
        return out

    def _type_schema(self, words: Words | None) -> dict[str, object]:
        if self.type == "mapping":
            return self.shape.json_schema(words) if self.shape else {"type": "object"}
        if self.type == "map":
            out: dict[str, object] = {"type": "object"}
            if self.keys:
                out["propertyNames"] = self.keys.json_schema(words)
            out["additionalProperties"] = self.values.json_schema(words) if self.values else {}
            return out
        if self.type == "list":
            return {"type": "array", "items": self.items.json_schema(words) if self.items else {}}
        if self.type == "duration" and self.whole_seconds:
            low = int(self.minimum or 1)
            if self.maximum is not None and self.maximum == low:
                return {"enum": spellings(low)}  # the one length, in each unit it divides
            assert self.maximum is None, "a rule duration is bounded below, or to one length"
            return {"type": "string", "pattern": at_least_pattern(low)}
        return dict(_JSON_TYPES[self.type])

    def _constraints(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.pattern:
            out["pattern"] = self.pattern
        if self.not_pattern:
            out["not"] = {"pattern": self.not_pattern}
        named = {
            "minLength": self.min_length,
            "maxLength": self.max_length,
            "minItems": self.min_items,
            "exclusiveMinimum": self.exclusive_minimum,
            "exclusiveMaximum": self.exclusive_maximum,
        }
        if self.type != "duration":  # a duration's bounds are in its pattern
            named.update(minimum=self.minimum, maximum=self.maximum)
        out.update({k: v for k, v in named.items() if v is not None})
        if self.unique and self.items and self.items.shape:
            values = self.items.shape.fields[self.unique].enum
            out["allOf"] = [
                {
                    "not": {
                        "contains": {"properties": {self.unique: {"const": v}}, "required": [self.unique]},
                        "minContains": 2,
                    }
                }
                for v in values
            ]
        return out

    def check(self, node: YNode, path: str, errors: list[SpecError], words: Words | None = None) -> None:
        """Append the problems of ``node`` (this field's value) to ``errors``, worded by ``words``."""
        words = words or CONFIG
        if self.one_or_list and self.items and not node.is_seq:
            self.items.check(node, path, errors, words)
            return
        if self.any_of:
            tried: list[list[SpecError]] = []
            for alternative in self.any_of:
                tried.append([])
                alternative.check(node, path, tried[-1], words)
                if not tried[-1]:
                    return
            errors.extend(tried[0])  # none fits: the first alternative says why
            return
        problem = self._problem(node, path.rsplit(".", 1)[-1], words)
        if problem:
            errors.append(SpecError(node.loc, path, problem))
            return
        if self.type == "mapping" and self.shape is not None:
            self.shape.check(node, path, errors, words)
        elif self.type == "map":
            self._check_map(node, path, errors, words)
        elif self.type == "list":
            self._check_list(node, path, errors, words)

    def _check_map(self, node: YNode, path: str, errors: list[SpecError], words: Words) -> None:
        assert isinstance(node.value, dict)
        for key, child in node.value.items():
            where = _join(path, key)
            if self.keys is not None:
                self.keys.check(YNode(key, node.key_locs.get(key, node.loc)), where, errors, words)
            if self.values is not None and (child.value is not None or not words.unset(self.values)):
                self.values.check(child, where, errors, words)

    def _check_list(self, node: YNode, path: str, errors: list[SpecError], words: Words) -> None:
        assert isinstance(node.value, list)
        if self.min_items is not None and len(node.value) < self.min_items:
            errors.append(SpecError(node.loc, path, words.too_few(self)))
        seen: set[object] = set()
        for i, child in enumerate(node.value):
            if self.items is not None:
                self.items.check(child, f"{path}[{i}]", errors, words)
            value = child.value.get(self.unique) if self.unique and isinstance(child.value, dict) else None
            if value is None or isinstance(value.value, dict | list):
                continue
            if value.value in seen:
                errors.append(
                    SpecError(value.loc, f"{path}[{i}].{self.unique}", words.twice(self, value.value))
                )
            seen.add(value.value)

    def _problem(self, node: YNode, key: str, words: Words) -> str | None:
        v = node.value
        if v is None and (null := words.null(self, node)):
            return null
        if self.wrong_type and not node.is_map and self.type == "mapping":
            return self.wrong_type
        if self.type in ("mapping", "map"):
            return None if node.is_map else words.wrong(self, "a mapping", node)
        if self.type == "list":
            return None if node.is_seq else words.wrong(self, "a list", node)
        if self.type == "boolean":
            return None if isinstance(v, bool) else words.wrong(self, "true or false", node)
        if self.type == "scalar":
            return None if not node.is_map and not node.is_seq else words.wrong(self, "a string", node)
        if self.type == "duration":
            return self._duration_problem(node, key, words)
        if self.type in ("integer", "number"):
            return self._number_problem(node, key, words)
        if not words.is_text(self, v):
            return words.wrong(self, "a string", node)
        text = str(v)
        if self.enum and text not in [str(e) for e in self.enum]:
            return words.not_one_of(self, key, text)
        return self._text_problem(text, key, words)

    def _text_problem(self, text: str, key: str, words: Words) -> str | None:
        if self.min_length and not text.strip():
            return words.empty(self)
        if not self.held_by:
            if self.pattern and not pattern_matches(self.pattern, text):
                if self.message:
                    return self.message.format(key=key, value=text)
                return f"{key} {text!r} must match {self.pattern}"
            if self.not_pattern and re.match(self.not_pattern, text):
                return f"{key} {text!r} is reserved"
            if self.min_length is not None and len(text) < self.min_length:
                return f"needs {self.min_length} characters"
            if self.max_length is not None and len(text) > self.max_length:
                return f"is longer than {self.max_length} characters"
        return self.validate(text) if self.validate else None

    def _duration_problem(self, node: YNode, key: str, words: Words) -> str | None:
        v = node.value
        if self.whole_seconds and not words.is_text(self, v):
            return words.wrong(self, "a string", node)
        try:
            seconds = parse_duration(str(v)) if self.whole_seconds else parse_seconds(v)
        except DurationError as exc:
            return str(exc)
        if self.whole_seconds and not self.held_by:
            low, high = self.minimum, self.maximum
            if (low is not None and seconds < low) or (high is not None and seconds > high):
                return words.outside(self, key, seconds)
        return None

    def _number_problem(self, node: YNode, key: str, words: Words) -> str | None:
        v = node.value
        if self.type == "integer" and (not isinstance(v, int) or isinstance(v, bool)):
            return words.wrong(self, "an integer", node)
        if not isinstance(v, int | float) or isinstance(v, bool):
            return words.wrong(self, "a number", node)
        try:
            finite = math.isfinite(v)  # YAML's .inf and .nan, JSON's Infinity, 1e999
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            return words.wrong(self, "a finite number", node)
        return None if self.held_by or not self._outside(v) else words.outside(self, key, v)

    def _checked_part(self, value: object) -> object:
        """``value`` (decoded JSON) without what :meth:`check` does not walk
        (:meth:`Shape._checked_part`)."""
        if self.any_of or self.one_or_list:
            return value
        if self.type == "mapping" and self.shape is not None:
            return self.shape._checked_part(value)
        if self.type == "list" and self.items is not None and isinstance(value, list):
            return [self.items._checked_part(v) for v in value]
        if self.type == "map" and self.values is not None and isinstance(value, dict):
            return {key: self.values._checked_part(v) for key, v in value.items()}
        return value

    def _bounds(self) -> str:
        low = self.minimum if self.minimum is not None else self.exclusive_minimum
        high = self.maximum if self.maximum is not None else self.exclusive_maximum
        if low is not None and high is not None:
            if self.exclusive_minimum is None and self.exclusive_maximum is None:
                return f" between {low:g} and {high:g}"
            left = "(" if self.exclusive_minimum is not None else "["
            right = ")" if self.exclusive_maximum is not None else "]"
            return f" in {left}{low:g}, {high:g}{right}"
        if low is not None:
            return f" {'above' if self.exclusive_minimum is not None else 'at least'} {low:g}"
        if high is not None:
            return f" {'below' if self.exclusive_maximum is not None else 'at most'} {high:g}"
        return ""

    def _outside(self, v: float) -> bool:
        low = (self.minimum is not None and v < self.minimum) or (
            self.exclusive_minimum is not None and v <= self.exclusive_minimum
        )
        high = (self.maximum is not None and v > self.maximum) or (
            self.exclusive_maximum is not None and v >= self.exclusive_maximum
        )
        return low or high


@dataclass(frozen=True)
class Shape:
    """The fields of one mapping; ``exactly_one`` names fields of which one must be present.
    ``open``: keys not declared are allowed and not checked (a format with extension points: a
    Chaos Toolkit experiment's extensions, a provider's own arguments). ``variants``: more fields
    of a mapping whose ``variant_key`` holds one of its keys (a provider's by its ``type``)."""

    fields: Mapping[str, Field]
    description: str = ""
    exactly_one: tuple[str, ...] = ()
    one_of: str = ""  # what each of ``exactly_one`` is ("SLI kind"), for the SLO readers' words
    extra: Mapping[str, object] = field(default_factory=dict)  # JSON Schema only (e.g. examples)
    open: bool = False
    variant_key: str = ""
    variants: Mapping[str, Mapping[str, Field]] = field(default_factory=dict)

    def json_schema(self, words: Words | None = None) -> dict[str, object]:
        """The JSON Schema of the mapping, as the walk worded by ``words`` (the config files'
        by default) checks it: a field it reads as unset when written as nothing (``key:``)
        may be null."""
        words = words or CONFIG

        def properties(fields: Mapping[str, Field]) -> dict[str, object]:
            schemas = {name: f.json_schema(words) for name, f in fields.items()}
            out: dict[str, object] = {
                "properties": {n: _nullable(s) if words.unset(fields[n]) else s for n, s in schemas.items()}
            }
            required = [name for name, f in fields.items() if f.required]
            return {**out, "required": required} if required else out

        out: dict[str, object] = {"type": "object", **properties(self.fields)}
        if not self.open:  # with variants, their fields count as evaluated in their branch
            out["unevaluatedProperties" if self.variants else "additionalProperties"] = False
        if self.variants:
            out["allOf"] = [
                {
                    "if": {"properties": {self.variant_key: {"const": tag}}, "required": [self.variant_key]},
                    "then": properties(more),
                }
                for tag, more in self.variants.items()
            ]
        if self.exactly_one:
            out["oneOf"] = [{"required": [name]} for name in self.exactly_one]
        if self.description:
            out["description"] = self.description
        out.update(self.extra)
        return out

    def check(self, node: YNode, path: str, errors: list[SpecError], words: Words | None = None) -> None:
        """Append every structural problem of the mapping ``node`` to ``errors``, worded by
        ``words`` (the config files' by default)."""
        words = words or CONFIG
        if not isinstance(node.value, dict):
            errors.append(SpecError(node.loc, path, words.wrong(None, "a mapping", node)))
            return
        tag = node.value.get(self.variant_key) if self.variant_key else None
        fields = self._fields_of(None if tag is None else tag.value)
        known = list(fields)
        for key, child in node.value.items():
            where = _join(path, key)
            spec = fields.get(key)
            if spec is None and self.open:
                continue
            if spec is None:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; known fields: {', '.join(known)}"
                errors.append(SpecError(node.key_locs.get(key, node.loc), where, words.unknown(key, hint)))
            elif child.value is None and words.unset(spec):
                continue  # `key:` with nothing after it reads as "not set"
            else:
                spec.check(child, where, errors, words)
        for key, spec in fields.items():
            if spec.required and words.missing(node.value, key):
                errors.append(SpecError(node.loc, _join(path, key), words.required(key)))
        present = [k for k in self.exactly_one if node.value.get(k) is not None]
        if self.exactly_one and len(present) != 1:
            errors.append(SpecError(node.loc, path, words.not_one(self, len(present))))

    def _fields_of(self, tag: object) -> Mapping[str, Field]:
        """The fields a mapping whose ``variant_key`` holds ``tag`` is checked against: these, and
        that variant's (a value of another kind, or none, selects no variant)."""
        more = self.variants.get(tag) if isinstance(tag, str) else None
        return {**self.fields, **more} if more else self.fields

    def _checked_part(self, value: object) -> object:
        """``value`` (decoded JSON) without what :meth:`check` does not walk: the keys of an open
        object that no field declares (its variant key kept). A report's unread bulk (a load
        test's time series) is then not turned into nodes: for a 0.75 MB load-test report, that
        took some 90 ms where reading it takes 6 (docs/benchmarks.md, the runs index)."""
        if not isinstance(value, dict):
            return value
        fields = self._fields_of(value.get(self.variant_key) if self.variant_key else None)
        return {
            key: fields[key]._checked_part(v) if key in fields else v
            for key, v in value.items()
            if key in fields or key == self.variant_key or not self.open
        }


class Words:
    """How the walk words what it finds: the config files' words (:data:`CONFIG`, "must be a
    string"); the SLO readers' are :data:`sloctl.spec.reader.WORDS` ("expected a string, found
    …"). A key written with nothing after it (``key:``) is unset to these words, when optional."""

    def unset(self, spec: Field) -> bool:
        return not spec.required

    def missing(self, mapping: Mapping[str, YNode], key: str) -> bool:
        return mapping.get(key) is None

    def required(self, key: str) -> str:
        return f"missing required field {key!r}"

    def unknown(self, key: str, hint: str) -> str:
        return f"unknown field {key!r}{hint}"

    def null(self, spec: Field, node: YNode) -> str | None:
        """What a value written as nothing is, where it counts as set; None: its type says."""
        return None

    def is_text(self, spec: Field, value: object) -> bool:
        """YAML reads ``port: 80`` or ``name: 1`` as numbers; their text is what was meant."""
        return isinstance(value, str | int) and not isinstance(value, bool)

    def wrong(self, spec: Field | None, expected: str, node: YNode) -> str:
        bounds = spec._bounds() if spec is not None and expected.endswith(("number", "integer")) else ""
        return f"must be {expected}{bounds}"

    def empty(self, spec: Field) -> str:
        return "must not be empty"

    def outside(self, spec: Field, key: str, value: float) -> str:
        if spec.message:
            shown: object = format_duration(int(value)) if spec.type == "duration" else value
            return spec.message.format(key=key, value=shown)
        if spec.type == "duration":
            want = format_duration(int(spec.minimum or 0))
            return (
                f"{key} must be {want}" if spec.minimum == spec.maximum else f"{key} must be at least {want}"
            )
        return f"must be{spec._bounds() or ' in range'}"

    def not_one_of(self, spec: Field, key: str, text: str) -> str:
        if spec.message:
            return spec.message.format(key=key, value=text)
        choices = [str(e) for e in spec.enum]
        same = [e for e in choices if e.lower() == text.lower()]
        close = same or difflib.get_close_matches(text, choices, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close and len(choices) > 1 else ""
        return f"{key} {text!r} is not one of {', '.join(choices)}{hint}"

    def not_one(self, shape: Shape, found: int) -> str:
        return f"needs exactly one of {' or '.join(repr(k) for k in shape.exactly_one)}"

    def too_few(self, spec: Field) -> str:
        if spec.message:
            return spec.message.format(key="", value=spec.min_items)
        return f"needs at least {spec.min_items} item(s)"

    def twice(self, spec: Field, value: object) -> str:
        if spec.message:
            return spec.message.format(key=spec.unique, value=value)
        return f"{spec.unique} {value!r} is listed twice"


CONFIG = Words()


class JsonWords(Words):
    """A decoded JSON document's words for a shape's walk: a value is named by its JSON kind
    (``a number, not a list``) and only a string is text (a number is not read as its digits).
    ``null`` is a value of its own (Chaos Toolkit walks a null ``method`` as it walks a number;
    it is not a key left unset, as ``key:`` is in YAML); with ``null_is_absent`` it stands for
    an optional key left out (the reports sloctl writes: ``"time_to_detect_s": null`` is a
    figure not measured), and is a wrong kind where the key is required."""

    #: the walk's names of the kinds it expects, as JSON names them
    NAMES: Mapping[str, str] = {"a mapping": "an object", "true or false": "a boolean"}

    def __init__(self, *, null_is_absent: bool = False) -> None:
        self.null_is_absent = null_is_absent

    def unset(self, spec: Field) -> bool:
        return self.null_is_absent and not spec.required

    def is_text(self, spec: Field, value: object) -> bool:
        return isinstance(value, str)

    def wrong(self, spec: Field | None, expected: str, node: YNode) -> str:
        return f"{json_kind(node.value)}, not {self.NAMES.get(expected, expected)}"


#: the words of a JSON document in which null is a value (a Chaos Toolkit experiment)
JSON_WORDS = JsonWords()
#: where a decoded JSON value's nodes are: ``json.loads`` keeps no places; the key path says where
_JSON_PLACE = Location("json", 1, 1)


def json_problems(shape: Shape | Field, value: object, words: Words = JSON_WORDS) -> list[str]:
    """Where ``value`` (decoded JSON, or values read without places: a game day's settings)
    holds another kind of value than ``shape`` says, each as ``key.path: problem``, worded by
    ``words`` (JSON's by default). Read by ``json.loads``, it has no places: the path is the
    place. A :class:`Field` checks a document that is not an object (a list of rows).

    >>> json_problems(Shape({"a": Field("list", items=Field("number"))}), {"a": [1, True]})
    ['a[1]: a boolean, not a number']
    """
    errors: list[SpecError] = []
    shape.check(plain_node(shape._checked_part(value), _JSON_PLACE), "", errors, words)
    return [f"{e.path}: {e.message}" if e.path else e.message for e in errors]


def check_document(shape: Shape, node: YNode) -> list[SpecError]:
    """Every structural problem of one document, in the order they appear."""
    errors: list[SpecError] = []
    shape.check(node, "", errors)
    return sorted(errors, key=lambda e: e.location)


def checked_document(shape: Shape, data: str | bytes, source: str) -> YNode:
    """The one YAML document of ``data`` (a file's bytes: size, NUL bytes and UTF-8 checked), its
    shape checked; :class:`~sloctl.errors.SpecErrors` with every problem at once otherwise. The
    config files other than SLO files (collector targets, game-day schedules) are read here."""
    docs, errors = parse_documents(data, source)
    if not errors and not docs:
        errors = [SpecError(Location(source, 1, 1), "", NO_DOCUMENT)]
    elif not errors and len(docs) > 1:
        errors = [SpecError(docs[1].loc, "", "expected one YAML document; a second starts here")]
    if not errors:
        errors = check_document(shape, docs[0])
    if errors:
        raise SpecErrors(errors)
    return docs[0]


def read_checked_document(shape: Shape, path: str | Path) -> YNode:
    """:func:`checked_document` of the file at ``path``; a file that cannot be read is one error
    at its first line, worded as the SLO loader words it."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SpecErrors([unreadable(path, exc)]) from None
    return checked_document(shape, data, str(path))


def _nullable(schema: dict[str, object]) -> dict[str, object]:
    """``schema`` that also takes null (a key written with nothing after it)."""
    kind = schema.get("type")
    if isinstance(kind, str | list) or "enum" in schema:
        out = dict(schema)
        if isinstance(kind, str | list):
            kinds = [kind] if isinstance(kind, str) else list(kind)
            out["type"] = kinds if "null" in kinds else [*kinds, "null"]
        if isinstance(schema.get("enum"), list):
            out["enum"] = [*schema["enum"], None]  # type: ignore[misc]
        return out
    rest = {k: v for k, v in schema.items() if k != "description"}
    described = {"description": schema["description"]} if "description" in schema else {}
    return {"anyOf": [rest, {"type": "null"}], **described}


def document_schema(shape: Shape, *, schema_id: str, title: str) -> dict[str, object]:
    """A whole JSON Schema (draft 2020-12) document for one document kind."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_id,
        "title": title,
        **shape.json_schema(),
    }


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
