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

from sloctl.durations import DURATION_PATTERN, DurationError, parse_seconds
from sloctl.errors import Location, SpecError, SpecErrors, unreadable
from sloctl.spec.yamlsrc import NO_DOCUMENT, YNode, parse_documents

__all__ = ["Field", "Shape", "check_document", "checked_document", "document_schema", "read_checked_document"]

_JSON_TYPES: dict[str, dict[str, object]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
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
    """One field: ``type`` is string, integer, number, boolean, duration, mapping or list."""

    type: str
    description: str = ""
    required: bool = False
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    shape: Shape | None = None  # a mapping's fields
    items: Field | None = None  # a list's items
    one_or_list: bool = False  # a single item may stand for a list of one (``connections: warm``)
    wrong_type: str = ""  # what to say instead of "must be a mapping" (e.g. why not a string)
    #: a rule JSON Schema cannot say (a cron expression's fields): the problem, or None
    validate: Callable[[str], str | None] | None = field(default=None, compare=False)

    def json_schema(self) -> dict[str, object]:
        out: dict[str, object]
        if self.type == "mapping":
            out = self.shape.json_schema() if self.shape else {"type": "object"}
        elif self.type == "list":
            out = {"type": "array", "items": self.items.json_schema() if self.items else {}}
        else:
            out = dict(_JSON_TYPES[self.type])
        if self.enum:
            out = {"enum": list(self.enum)}
        if self.pattern:
            out["pattern"] = self.pattern
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.one_or_list and self.items:
            out = {"anyOf": [self.items.json_schema(), out]}
        if self.description:
            out["description"] = self.description
        return out

    def check(self, node: YNode, path: str, errors: list[SpecError]) -> None:
        """Append the problems of ``node`` (this field's value) to ``errors``."""
        if self.one_or_list and self.items and not node.is_seq:
            self.items.check(node, path, errors)
            return
        problem = self._problem(node, path.rsplit(".", 1)[-1])
        if problem:
            errors.append(SpecError(node.loc, path, problem))
            return
        if self.type == "mapping" and self.shape is not None:
            self.shape.check(node, path, errors)
        elif self.type == "list" and self.items is not None:
            assert isinstance(node.value, list)
            for i, child in enumerate(node.value):
                self.items.check(child, f"{path}[{i}]", errors)

    def _problem(self, node: YNode, key: str) -> str | None:
        v = node.value
        if self.wrong_type and not node.is_map and self.type == "mapping":
            return self.wrong_type
        if self.type == "mapping":
            return None if node.is_map else "must be a mapping"
        if self.type == "list":
            return None if node.is_seq else "must be a list"
        if self.type == "boolean":
            return None if isinstance(v, bool) else "must be true or false"
        if self.type == "duration":
            try:
                parse_seconds(v)
            except DurationError as exc:
                return str(exc)
            return None
        if self.type == "integer":
            if not isinstance(v, int) or isinstance(v, bool):
                return f"must be an integer{self._bounds()}"
            return self._outside(v)
        if self.type == "number":
            if not isinstance(v, int | float) or isinstance(v, bool):
                return f"must be a number{self._bounds()}"
            if not math.isfinite(v):  # YAML's .inf and .nan, JSON's Infinity, 1e999
                return f"must be a finite number{self._bounds()}"
            return self._outside(v)
        # strings: YAML reads `port: 80` or `name: 1` as numbers; their text is what was meant
        if not isinstance(v, str | int) or isinstance(v, bool):
            return "must be a string"
        text = str(v)
        if self.enum and text not in self.enum:
            same = [e for e in self.enum if e.lower() == text.lower()]
            close = same or difflib.get_close_matches(text, self.enum, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close and len(self.enum) > 1 else ""
            return f"{key} {text!r} is not one of {', '.join(self.enum)}{hint}"
        if self.pattern and not re.match(self.pattern, text):
            return f"{key} {text!r} must match {self.pattern}"
        return self.validate(text) if self.validate else None

    def _bounds(self) -> str:
        if self.minimum is not None and self.maximum is not None:
            return f" between {self.minimum:g} and {self.maximum:g}"
        if self.minimum is not None:
            return f" at least {self.minimum:g}"
        if self.maximum is not None:
            return f" at most {self.maximum:g}"
        return ""

    def _outside(self, v: float) -> str | None:
        low = self.minimum is not None and v < self.minimum
        high = self.maximum is not None and v > self.maximum
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
