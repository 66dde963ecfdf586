"""Typed access to ``YNode`` trees that records every problem instead of stopping at the first.

Each accessor returns a usable default after recording an error, so one run reports all the
errors of a file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import re
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence

from sloctl.durations import DurationError, parse_duration
from sloctl.errors import Location, SpecError
from sloctl.gofmt import go_float
from sloctl.spec.shape import Field, Shape, Words
from sloctl.spec.yamlsrc import YNode

# The bookkeeping the Kubernetes API server adds to an object's metadata (ObjectMeta): the
# cluster's, not the SLO's.
_SERVER_METADATA = frozenset(
    (
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    )
)
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _found(node: YNode) -> str:
    v = node.value
    if isinstance(v, dict):
        return "a mapping"
    if isinstance(v, list):
        return "a list"
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    text = repr(v)
    return f"{type(v).__name__} {text[:60]}{'…' if len(text) > 60 else ''}"


class Reader:
    """Collects errors (and warnings) while reading one document."""

    def __init__(self, file: str, *, strict: bool = True, prefix: str = "") -> None:
        self.file = file
        self.strict = strict
        self.prefix = prefix
        """Put before every field path: ``[2]`` for the third object of an OpenSLO list."""
        self.errors: list[SpecError] = []
        self.shaped = False
        """The document's structure is checked by a shape (:meth:`shaped_by`)."""
        self.shape_errors: tuple[SpecError, ...] = ()
        """What the shape's walk found (paths without the prefix), for :meth:`clean_below`."""
        self.warnings: list[SpecError] = []
        self.named: dict[Location, str] = {}
        """Each SLO read, by its source → the path of the field naming it (``spec.slos[1].name``,
        ``items[2].metadata.name``): where the error about a second SLO of its id points."""

    def error(self, loc: Location, path: str, message: str) -> None:
        self.errors.append(SpecError(loc, self._path(path), message))

    def _structural(self, loc: Location, path: str, message: str) -> None:
        """A problem of the document's structure, which a shape's walk says where one checked it."""
        if not self.shaped:
            self.error(loc, path, message)

    @contextlib.contextmanager
    def shaped_by(self, shape: Shape, doc: YNode) -> Iterator[None]:
        """Check ``doc`` against ``shape``, worded as this reader words problems (:data:`WORDS`);
        within the block, the accessors read it without saying its structural problems again."""
        found: list[SpecError] = []
        shape.check(doc, "", found, WORDS)
        for e in found:
            self.error(e.location, e.path, e.message)
        self.shape_errors = tuple(found)
        self.shaped = True
        try:
            yield
        finally:
            self.shaped = False

    def warn(self, loc: Location, path: str, message: str) -> None:
        self.warnings.append(SpecError(loc, self._path(path), message))

    def _path(self, path: str) -> str:
        return _join(self.prefix, path) if self.prefix and path else self.prefix or path

    def clean_below(self, path: str) -> bool:
        """Whether the shape's walk found nothing at ``path`` or below it."""
        below = (f"{path}.", f"{path}[")
        return not any(e.path == path or e.path.startswith(below) for e in self.shape_errors)

    def full_path(self, path: str) -> str:
        """``path`` as this reader's errors name it: under the document's prefix (``[2].spec``)."""
        return self._path(path)

    # -- structure ---------------------------------------------------------------------------

    def mapping(
        self,
        node: YNode | None,
        path: str,
        allowed: Iterable[str],
        required: Iterable[str] = (),
        *,
        loc: Location | None = None,
    ) -> dict[str, YNode]:
        """The mapping at ``node``, with unknown keys reported (did-you-mean) and required
        keys checked. Non-strict readers (formats read as their own tools read them) only warn
        about unknown keys."""
        allowed = list(allowed)
        if node is None:
            if required:
                self._structural(loc or Location(self.file, 1, 1), path, "missing; expected a mapping")
            return {}
        if not isinstance(node.value, dict):
            self._structural(node.loc, path, f"expected a mapping, found {_found(node)}")
            return {}
        out = dict(node.value)
        for key in list(out):
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; known fields: {', '.join(allowed)}"
                kloc = node.key_locs.get(key, node.loc)
                if self.strict:
                    self._structural(kloc, _join(path, key), f"unknown field{hint}")
                else:
                    self.warn(kloc, _join(path, key), f"unknown field ignored{hint}")
                del out[key]
        for key in required:
            if key not in out:
                self._structural(node.loc, _join(path, key), "required field is missing")
        return out

    def kubernetes_metadata(
        self, node: YNode | None, required: Iterable[str] = (), *, loc: Location | None = None
    ) -> dict[str, YNode]:
        """``metadata`` of a Kubernetes object (Pyrra's, Sloth's CRD): its name, namespace,
        labels and annotations; what the API server writes there (``kubectl get -o yaml``) is
        read without a word, as Pyrra's and Sloth's controllers read it."""
        if node is not None and isinstance(node.value, dict):
            kept = {k: v for k, v in node.value.items() if k not in _SERVER_METADATA}
            node = dataclasses.replace(node, value=kept)
        return self.mapping(
            node, "metadata", ["name", "namespace", "labels", "annotations"], required, loc=loc
        )

    def sequence(self, node: YNode | None, path: str, *, required: bool = False) -> list[YNode]:
        if node is None or node.value is None:
            if required and node is not None:
                self._structural(node.loc, path, "expected a non-empty list, found nothing")
            return []
        if not isinstance(node.value, list):
            self._structural(node.loc, path, f"expected a list, found {_found(node)}")
            return []
        return node.value

    # -- scalars -----------------------------------------------------------------------------

    def string(self, node: YNode | None, path: str, *, default: str = "", non_empty: bool = False) -> str:
        if node is None or node.value is None:
            if non_empty and node is not None:
                self._structural(node.loc, path, "must not be empty")
            return default
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            self._structural(node.loc, path, f"expected a string, found {_found(node)}")
            return default
        text = v if isinstance(v, str) else str(v)
        if non_empty and not text.strip():
            self._structural(node.loc, path, "must not be empty")
        return text

    def text(self, node: YNode | None, path: str, *, default: str = "") -> str:
        """A string written as one: a number or a boolean where text belongs (``description: 5``)
        is an error, not read as its digits."""
        if node is not None and node.value is not None and not isinstance(node.value, str):
            self._structural(
                node.loc, path, f"expected a string, found {_found(node)}; quote it if it is text"
            )
            return default
        return self.string(node, path, default=default)

    def choice(self, node: YNode | None, path: str, choices: Sequence[str], *, default: str) -> str:
        """One of ``choices`` (``default`` where the file leaves it out); anything else is an
        error naming them, and reads as ``default``."""
        text = self.string(node, path, default=default)
        if text not in choices:
            assert node is not None  # the default is one of the choices
            named = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
            self._structural(node.loc, path, f"expected {named}, found {text!r}")
            return default
        return text

    def number(self, node: YNode | None, path: str, *, default: float = 0.0, quoted: bool = True) -> float:
        """A number; with ``quoted``, also one written as a string (Pyrra's ``target: "99.5"``).
        Without, a quoted number is an error, as it is to Go's YAML reader and to a JSON Schema."""
        if node is None:
            return default
        v = node.value
        if quoted and isinstance(v, str):
            parsed = math.nan
            with contextlib.suppress(ValueError):
                parsed = float(v.strip())
            if math.isfinite(parsed):
                return parsed
        problem = number_problem(node)
        if problem:
            self._structural(node.loc, path, problem)
            return default
        assert isinstance(v, int | float)
        return float(v)

    def boolean(self, node: YNode | None, path: str, *, default: bool) -> bool:
        if node is None or node.value is None:
            return default
        if not isinstance(node.value, bool):
            self._structural(node.loc, path, f"expected true or false, found {_found(node)}")
            return default
        return node.value

    def duration(self, node: YNode | None, path: str, *, default: int, required: bool = False) -> int:
        """A duration; ``default`` where it is absent or, unless ``required``, written as nothing
        (``window:``). A required one written as nothing is an error, as it is to the tools that
        define the formats (Pyrra, OpenSLO's validator), not read as a default; its absence is
        the mapping's to say. Empty text is never a duration."""
        if node is None or node.value is None:
            if required and node is not None:
                self._structural(node.loc, path, _blank_duration(node))
            return default
        text = self.string(node, path)
        if isinstance(node.value, bool) or not isinstance(node.value, str | int | float):
            return default  # no text at all, which string() said
        try:
            return parse_duration(text)
        except DurationError as exc:
            self._structural(node.loc, path, str(exc))
            return default

    def one_key(
        self, fields: dict[str, YNode], keys: Iterable[str], loc: Location, path: str, what: tuple[str, str]
    ) -> str | None:
        """The one of ``keys`` that ``fields`` holds; None, with an error, when it holds none or
        several. ``what``: what a key names, and the choices as the error lists them."""
        present = [k for k in keys if k in fields]
        if len(present) != 1:
            self._structural(
                loc, path, f"exactly one {what[0]} is needed ({what[1]}); found {len(present) or 'none'}"
            )
            return None
        return present[0]

    def string_map(self, node: YNode | None, path: str) -> dict[str, str]:
        """Labels and annotations: a mapping of strings to strings (numbers are converted)."""
        fields = self._string_mapping(node, path)
        return {key: self.string(child, _join(path, key)) for key, child in fields.items()}

    def _string_mapping(self, node: YNode | None, path: str) -> dict[str, YNode]:
        """The entries of the mapping of strings at ``node``: none when it is absent or null,
        none with an error when it is not a mapping."""
        if node is None or node.value is None:
            return {}
        if not isinstance(node.value, dict):
            self._structural(node.loc, path, f"expected a mapping of strings, found {_found(node)}")
            return {}
        return node.value

    def go_string_map(self, node: YNode | None, path: str) -> dict[str, str]:
        """Labels and annotations of a format read by a Go program (Sloth): keys and values as Go's
        YAML 1.1 reading gives them (``on: yes`` is ``"true": "true"``, ``1.50`` is ``"1.5"``);
        two keys that read the same keep the later value, as Sloth does, with a warning."""
        fields = self._string_mapping(node, path)
        out: dict[str, str] = {}
        for key, child in fields.items():
            assert node is not None  # it has entries
            name = go_scalar_text(YNode(key, node.loc, plain=key in node.plain_keys, text=key))
            if name in out:
                loc = node.key_locs.get(key, node.loc)
                self.warn(
                    loc,
                    _join(path, key),
                    f"{key!r} reads as {name!r}, which an earlier key set; the last wins",
                )
            if isinstance(child.value, (dict, list)):
                self._structural(child.loc, _join(path, key), f"expected a string, found {_found(child)}")
                continue
            out[name] = go_scalar_text(child)
        return out


# YAML 1.1 booleans as Go's YAML libraries resolve plain scalars (PyYAML knows all but y/n).
_GO_TRUE = frozenset(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"))
_GO_FALSE = frozenset(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"))
_GO_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_GO_INF = {".inf": "+Inf", ".Inf": "+Inf", ".INF": "+Inf", "-.inf": "-Inf", "-.Inf": "-Inf", "-.INF": "-Inf"}
_GO_INF.update({"+" + k: v for k, v in _GO_INF.items() if not k.startswith("-")})
_GO_NAN = frozenset((".nan", ".NaN", ".NAN"))
# strconv.ParseInt(s, 0, 64) syntax: a sign, then 0x / 0o / 0b digits, a leading 0 (octal) or decimal.
_GO_INT = re.compile(r"^([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_GO_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_GO_BASES = {"0x": 16, "0o": 8, "0b": 2}
_INT64 = 2**63
_UINT64 = 2**64


def go_scalar_text(node: YNode) -> str:
    """A scalar as Sloth reads it into a string field: Go's YAML 1.1 reader (go-yaml v2) resolves
    plain scalars to booleans, integers and floats, which are then printed as strings (integers
    in decimal, floats as float32 in Go's ``%g`` form). So ``on`` is ``"true"``, ``0o17`` is
    ``"15"``, ``1e3`` is ``"1000"`` and ``3.14159265358979`` is ``"3.1415927"``."""
    text = node.text if node.text or node.value is None else str(node.value)
    if not node.plain:
        return text
    if text in _GO_TRUE:
        return "true"
    if text in _GO_FALSE:
        return "false"
    if text in _GO_NULL:
        return ""
    if text in _GO_INF:
        return _GO_INF[text]
    if text in _GO_NAN:
        return "NaN"
    if not text or text[0] not in "+-.0123456789":
        return text  # go-yaml v2 tries numbers only for text starting like one (`_1` stays text)
    plain = text.replace("_", "")  # and then drops every underscore before parsing them
    m = _GO_INT.fullmatch(plain)
    if m:
        digits = m.group(2)
        prefix = digits[:2].lower()
        if prefix in _GO_BASES:
            magnitude = int(digits[2:], _GO_BASES[prefix])
        else:
            magnitude = int(digits, 8 if digits.startswith("0") else 10)  # a leading 0 is octal to Go
        value = -magnitude if m.group(1) == "-" else magnitude
        if -_INT64 <= value < _INT64 or (not m.group(1) and value < _UINT64):
            return str(value)
    if _GO_FLOAT.fullmatch(plain):
        number = float(plain)
        if math.isfinite(number):
            return go_float32(number)
    return text


def go_float32(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 32)``: the shortest digits that read back as the same
    float32, in Go's ``%g`` layout."""
    try:
        single = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:  # beyond float32: Go's conversion gives an infinity
        return "+Inf" if value > 0 else "-Inf"
    for digits in range(1, 10):
        text = f"{single:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            return go_float(float(text))
    return go_float(single)


def _blank_duration(node: YNode) -> str:
    """What to say of a required duration written as nothing."""
    return f"expected a duration such as 5m, 1h or 30d, found {_found(node)}"


def number_problem(node: YNode) -> str | None:
    """Why ``node`` is not a finite number written as one (``"99.9"`` is a string), or None."""
    v = node.value
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        text = v.strip() if isinstance(v, str) else ""
        parsed = math.nan
        with contextlib.suppress(ValueError):
            parsed = float(text)
        if math.isfinite(parsed):
            return f"expected a number, found {_found(node)}; write {text} without quotes"
        hint = ""
        if text.endswith("%"):
            with contextlib.suppress(ValueError):
                hint = f"; write {float(text[:-1]):g}, without the % sign"
        return f"expected a number, found {_found(node)}{hint}"
    try:
        finite = math.isfinite(v)
    except OverflowError:  # an integer too large for a float
        finite = False
    return None if finite else f"expected a finite number, found {_found(node)}"


class _ReaderWords(Words):
    """A shape's walk worded as the accessors of :class:`Reader` word the same problems: a key
    written with nothing after it is there (``name:`` is an empty name, not a missing one)."""

    def unset(self, spec: Field) -> bool:
        # A required field written as nothing is there, blank: `name:` an empty name, `action:` no
        # action, `sloPeriod:` no period (not the default one).
        if spec.required or spec.type in ("mapping", "number", "integer"):
            return False
        return not (spec.type == "string" and spec.min_length)

    def missing(self, mapping: Mapping[str, YNode], key: str) -> bool:
        return key not in mapping

    def required(self, key: str) -> str:
        return "required field is missing"

    def unknown(self, key: str, hint: str) -> str:
        return f"unknown field{hint}"

    def null(self, spec: Field, node: YNode) -> str | None:
        if spec.type in ("mapping", "number", "integer"):
            return self.wrong(spec, "a mapping" if spec.type == "mapping" else "a number", node)
        if spec.type == "list" and spec.required:
            return "expected a non-empty list, found nothing"
        if spec.type == "string" and (spec.min_length or spec.required):
            return self.empty(spec)
        if spec.type == "duration" and spec.required:
            return _blank_duration(node)
        return None

    def is_text(self, spec: Field, value: object) -> bool:
        if spec.strict_text:
            return isinstance(value, str)
        return isinstance(value, str | int | float) and not isinstance(value, bool)

    def wrong(self, spec: Field | None, expected: str, node: YNode) -> str:
        if expected in ("a number", "an integer", "a finite number"):
            return number_problem(node) or f"expected {expected}, found {_found(node)}"
        if spec is not None and spec.type == "map" and expected == "a mapping":
            expected = "a mapping of strings"
        quote = (
            "; quote it if it is text"
            if spec is not None and spec.strict_text and node.value is not None
            else ""
        )
        return f"expected {expected}, found {_found(node)}{quote}"

    def not_one_of(self, spec: Field, key: str, text: str) -> str:
        if spec.message:
            return spec.message.format(key=key, value=text)
        choices = [str(e) for e in spec.enum]
        named = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]
        return f"expected {named}, found {text!r}"

    def not_one(self, shape: Shape, found: int) -> str:
        names = ", ".join(shape.exactly_one)
        what = f"{shape.one_of} is needed ({names})" if shape.one_of else f"of {names} is needed"
        return f"exactly one {what}; found {found or 'none'}"


WORDS: Words = _ReaderWords()
"""How the SLO readers word a problem, for a shape's walk."""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"
