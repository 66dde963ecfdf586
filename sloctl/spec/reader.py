"""Typed access to ``YNode`` trees that records every problem instead of stopping at the first.

Each accessor returns a usable default after recording an error, so one run reports all the
errors of a file.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable

from sloctl.durations import DurationError, parse_duration
from sloctl.errors import Location, SpecError
from sloctl.gofmt import go_float
from sloctl.spec.yamlsrc import Scalar, YNode

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

    def __init__(self, file: str, *, strict: bool = True) -> None:
        self.file = file
        self.strict = strict
        self.errors: list[SpecError] = []
        self.warnings: list[SpecError] = []

    def error(self, loc: Location, path: str, message: str) -> None:
        self.errors.append(SpecError(loc, path, message))

    def warn(self, loc: Location, path: str, message: str) -> None:
        self.warnings.append(SpecError(loc, path, message))

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
                self.error(loc or Location(self.file, 1, 1), path, "missing; expected a mapping")
            return {}
        if not isinstance(node.value, dict):
            self.error(node.loc, path, f"expected a mapping, found {_found(node)}")
            return {}
        out = dict(node.value)
        for key in list(out):
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f"; known fields: {', '.join(allowed)}"
                kloc = node.key_locs.get(key, node.loc)
                if self.strict:
                    self.error(kloc, _join(path, key), f"unknown field{hint}")
                else:
                    self.warn(kloc, _join(path, key), f"unknown field ignored{hint}")
                del out[key]
        for key in required:
            if key not in out:
                self.error(node.loc, _join(path, key), "required field is missing")
        return out

    def sequence(self, node: YNode | None, path: str, *, required: bool = False) -> list[YNode]:
        if node is None or node.value is None:
            if required and node is not None:
                self.error(node.loc, path, "expected a non-empty list, found nothing")
            return []
        if not isinstance(node.value, list):
            self.error(node.loc, path, f"expected a list, found {_found(node)}")
            return []
        return node.value

    # -- scalars -----------------------------------------------------------------------------

    def string(self, node: YNode | None, path: str, *, default: str = "", non_empty: bool = False) -> str:
        if node is None or node.value is None:
            if non_empty and node is not None:
                self.error(node.loc, path, "must not be empty")
            return default
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            self.error(node.loc, path, f"expected a string, found {_found(node)}")
            return default
        text = v if isinstance(v, str) else str(v)
        if non_empty and not text.strip():
            self.error(node.loc, path, "must not be empty")
        return text

    def number(self, node: YNode | None, path: str, *, default: float = 0.0) -> float:
        if node is None:
            return default
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            if isinstance(v, str):
                try:
                    parsed = float(v)
                except ValueError:
                    parsed = math.nan
                if math.isfinite(parsed):
                    return parsed
            self.error(node.loc, path, f"expected a number, found {_found(node)}")
            return default
        try:
            finite = math.isfinite(v)
        except OverflowError:  # an integer too large for a float
            finite = False
        if not finite:
            self.error(node.loc, path, f"expected a finite number, found {_found(node)}")
            return default
        return float(v)

    def boolean(self, node: YNode | None, path: str, *, default: bool) -> bool:
        if node is None or node.value is None:
            return default
        if not isinstance(node.value, bool):
            self.error(node.loc, path, f"expected true or false, found {_found(node)}")
            return default
        return node.value

    def duration(self, node: YNode | None, path: str, *, default: int) -> int:
        if node is None or node.value is None:
            return default
        text = self.string(node, path)
        if not text:
            return default
        try:
            return parse_duration(text)
        except DurationError as exc:
            self.error(node.loc, path, str(exc))
            return default

    def string_map(self, node: YNode | None, path: str) -> dict[str, str]:
        """Labels and annotations: a mapping of strings to strings (numbers are converted)."""
        if node is None or node.value is None:
            return {}
        if not isinstance(node.value, dict):
            self.error(node.loc, path, f"expected a mapping of strings, found {_found(node)}")
            return {}
        out: dict[str, str] = {}
        for key, child in node.value.items():
            out[key] = self.string(child, _join(path, key))
        return out

    def go_string_map(self, node: YNode | None, path: str) -> dict[str, str]:
        """Labels and annotations of a format read by a Go program (Sloth): keys and values as Go's
        YAML 1.1 reading gives them (``on: yes`` is ``"true": "true"``, ``1.50`` is ``"1.5"``);
        two keys that read the same keep the later value, as Sloth does, with a warning."""
        if node is None or node.value is None:
            return {}
        if not isinstance(node.value, dict):
            self.error(node.loc, path, f"expected a mapping of strings, found {_found(node)}")
            return {}
        out: dict[str, str] = {}
        for key, child in node.value.items():
            name = go_yaml_text(key, key in node.plain_keys)
            if name in out:
                loc = node.key_locs.get(key, node.loc)
                self.warn(
                    loc,
                    _join(path, key),
                    f"{key!r} reads as {name!r}, which an earlier key set; the last wins",
                )
            if isinstance(child.value, (dict, list)):
                self.error(child.loc, _join(path, key), f"expected a string, found {_found(child)}")
                continue
            out[name] = go_yaml_text(child.value, child.plain)
        return out


# YAML 1.1 booleans as Go's YAML libraries resolve plain scalars (PyYAML knows all but y/n).
_GO_TRUE = frozenset(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"))
_GO_FALSE = frozenset(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"))


def go_yaml_text(value: Scalar, plain: bool) -> str:
    """A scalar as a Go program that reads YAML 1.1 into strings sees it (Sloth): booleans in any
    YAML 1.1 spelling become ``true``/``false``, numbers print as Go prints them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    text = "" if value is None else str(value)
    if plain and text in _GO_TRUE:
        return "true"
    if plain and text in _GO_FALSE:
        return "false"
    return text


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def index(path: str, i: int) -> str:
    return f"{path}[{i}]"
