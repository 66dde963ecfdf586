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
from sloctl.spec.yamlsrc import NO_DOCUMENT, YNode, parse_documents

__all__ = ["Field", "Shape", "check_document", "checked_document", "document_schema", "read_checked_document"]

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
    #: the model check of every format that holds this value to its pattern, bounds and lengths in
    #: its own words (``build.check_slo``): the JSON Schema says them, the walk checks the type only
    held_by: str = ""
    #: what only the JSON Schema says, as it says it (``format: uri``, examples)
    schema: Mapping[str, object] = field(default_factory=dict)
    #: a rule JSON Schema cannot say (a cron expression's fields): the problem, or None
    validate: Callable[[str], str | None] | None = field(default=None, compare=False)

    def json_schema(self) -> dict[str, object]:
        out: dict[str, object]
        if self.any_of:
            out = {"anyOf": [f.json_schema() for f in self.any_of]}
        elif self.enum:
            out = {"enum": list(self.enum)}
        else:
            out = self._type_schema()
        out.update(self._constraints())
        if self.one_or_list and self.items:
            out = {"anyOf": [self.items.json_schema(), out]}
        out.update(self.schema)
        if self.description:
            out["description"] = self.description
        return out

    def _type_schema(self) -> dict[str, object]:
        if self.type == "mapping":
            return self.shape.json_schema() if self.shape else {"type": "object"}
        if self.type == "map":
            out: dict[str, object] = {"type": "object"}
            if self.keys:
                out["propertyNames"] = self.keys.json_schema()
            out["additionalProperties"] = self.values.json_schema() if self.values else {}
            return out
        if self.type == "list":
            return {"type": "array", "items": self.items.json_schema() if self.items else {}}
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

    def check(self, node: YNode, path: str, errors: list[SpecError]) -> None:
        """Append the problems of ``node`` (this field's value) to ``errors``."""
        if self.one_or_list and self.items and not node.is_seq:
            self.items.check(node, path, errors)
            return
        if self.any_of:
            tried: list[list[SpecError]] = []
            for alternative in self.any_of:
                tried.append([])
                alternative.check(node, path, tried[-1])
                if not tried[-1]:
                    return
            errors.extend(tried[0])  # none fits: the first alternative says why
            return
        problem = self._problem(node, path.rsplit(".", 1)[-1])
        if problem:
            errors.append(SpecError(node.loc, path, problem))
            return
        if self.type == "mapping" and self.shape is not None:
            self.shape.check(node, path, errors)
        elif self.type == "map":
            self._check_map(node, path, errors)
        elif self.type == "list":
            self._check_list(node, path, errors)

    def _check_map(self, node: YNode, path: str, errors: list[SpecError]) -> None:
        assert isinstance(node.value, dict)
        for key, child in node.value.items():
            where = _join(path, key)
            if self.keys is not None:
                self.keys.check(YNode(key, node.key_locs.get(key, node.loc)), where, errors)
            if self.values is not None and child.value is not None:
                self.values.check(child, where, errors)

    def _check_list(self, node: YNode, path: str, errors: list[SpecError]) -> None:
        assert isinstance(node.value, list)
        if self.min_items is not None and len(node.value) < self.min_items:
            errors.append(SpecError(node.loc, path, f"needs at least {self.min_items} item(s)"))
        seen: set[object] = set()
        for i, child in enumerate(node.value):
            if self.items is not None:
                self.items.check(child, f"{path}[{i}]", errors)
            value = child.value.get(self.unique) if self.unique and isinstance(child.value, dict) else None
            if value is not None and value.value in seen:
                errors.append(
                    SpecError(
                        value.loc,
                        f"{path}[{i}].{self.unique}",
                        f"{self.unique} {value.value!r} is listed twice",
                    )
                )
            seen.add(getattr(value, "value", None))

    def _problem(self, node: YNode, key: str) -> str | None:
        v = node.value
        if self.wrong_type and not node.is_map and self.type == "mapping":
            return self.wrong_type
        if self.type in ("mapping", "map"):
            return None if node.is_map else "must be a mapping"
        if self.type == "list":
            return None if node.is_seq else "must be a list"
        if self.type == "boolean":
            return None if isinstance(v, bool) else "must be true or false"
        if self.type == "scalar":
            return None if not node.is_map and not node.is_seq else "must be a single value"
        if self.type == "duration":
            return self._duration_problem(v, key)
        if self.type in ("integer", "number"):
            return self._number_problem(v)
        # strings: YAML reads `port: 80` or `name: 1` as numbers; their text is what was meant
        text_ok = isinstance(v, str | int) or (self.type == "text" and (v is None or isinstance(v, float)))
        if not text_ok or isinstance(v, bool):
            return "must be a string"
        text = "" if v is None else str(v)
        if self.enum and text not in [str(e) for e in self.enum]:
            choices = [str(e) for e in self.enum]
            same = [e for e in choices if e.lower() == text.lower()]
            close = same or difflib.get_close_matches(text, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close and len(choices) > 1 else ""
            return f"{key} {text!r} is not one of {', '.join(choices)}{hint}"
        return self._text_problem(text, key)

    def _text_problem(self, text: str, key: str) -> str | None:
        if not self.held_by:
            if self.pattern and not re.match(self.pattern, text):
                return f"{key} {text!r} must match {self.pattern}"
            if self.not_pattern and re.match(self.not_pattern, text):
                return f"{key} {text!r} is reserved"
            if self.min_length is not None and len(text) < self.min_length:
                return "must not be empty" if self.min_length == 1 else f"needs {self.min_length} characters"
            if self.max_length is not None and len(text) > self.max_length:
                return f"is longer than {self.max_length} characters"
        return self.validate(text) if self.validate else None

    def _duration_problem(self, v: object, key: str) -> str | None:
        try:
            seconds = parse_duration(str(v)) if self.whole_seconds else parse_seconds(v)
        except DurationError as exc:
            return str(exc)
        if self.whole_seconds and not self.held_by:
            low, high = self.minimum, self.maximum
            if (low is not None and seconds < low) or (high is not None and seconds > high):
                want = format_duration(int(low or 0))
                return f"{key} must be {want}" if low == high else f"{key} must be at least {want}"
        return None

    def _number_problem(self, v: object) -> str | None:
        kind = "an integer" if self.type == "integer" else "a number"
        if self.type == "integer" and (not isinstance(v, int) or isinstance(v, bool)):
            return f"must be an integer{self._bounds()}"
        if not isinstance(v, int | float) or isinstance(v, bool):
            return f"must be {kind}{self._bounds()}"
        if not math.isfinite(v):  # YAML's .inf and .nan, JSON's Infinity, 1e999
            return f"must be a finite number{self._bounds()}"
        return None if self.held_by else self._outside(v)

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

    def _outside(self, v: float) -> str | None:
        low = (self.minimum is not None and v < self.minimum) or (
            self.exclusive_minimum is not None and v <= self.exclusive_minimum
        )
        high = (self.maximum is not None and v > self.maximum) or (
            self.exclusive_maximum is not None and v >= self.exclusive_maximum
        )
        return f"must be{self._bounds() or ' in range'}" if low or high else None


@dataclass(frozen=True)
class Shape:
    """The fields of one mapping; ``exactly_one`` names fields of which one must be present."""

    fields: Mapping[str, Field]
    description: str = ""
    exactly_one: tuple[str, ...] = ()
    extra: Mapping[str, object] = field(default_factory=dict)  # JSON Schema only (e.g. examples)

    def json_schema(self) -> dict[str, object]:
        out: dict[str, object] = {
            "type": "object",
            "properties": {name: f.json_schema() for name, f in self.fields.items()},
            "additionalProperties": False,
        }
        required = [name for name, f in self.fields.items() if f.required]
        if required:
            out["required"] = required
        if self.exactly_one:
            out["oneOf"] = [{"required": [name]} for name in self.exactly_one]
        if self.description:
            out["description"] = self.description
        out.update(self.extra)
        return out

    def check(self, node: YNode, path: str, errors: list[SpecError]) -> None:
        """Append every structural problem of the mapping ``node`` to ``errors``."""
        if not isinstance(node.value, dict):
            errors.append(SpecError(node.loc, path, "must be a mapping"))
            return
        known = list(self.fields)
        for key, child in node.value.items():
            where = _join(path, key)
            spec = self.fields.get(key)
            if spec is None:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; known fields: {', '.join(known)}"
                errors.append(
                    SpecError(node.key_locs.get(key, node.loc), where, f"unknown field {key!r}{hint}")
                )
            elif child.value is None and not spec.required:
                continue  # `key:` with nothing after it reads as "not set"
            else:
                spec.check(child, where, errors)
        for key, spec in self.fields.items():
            if spec.required and node.value.get(key) is None:
                errors.append(SpecError(node.loc, _join(path, key), f"missing required field {key!r}"))
        if self.exactly_one and sum(node.value.get(k) is not None for k in self.exactly_one) != 1:
            names = " or ".join(repr(k) for k in self.exactly_one)
            errors.append(SpecError(node.loc, path, f"needs exactly one of {names}"))


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
