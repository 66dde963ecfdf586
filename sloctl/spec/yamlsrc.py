"""YAML documents with a location on every node, and limits that keep hostile input cheap.

PyYAML's composer gives each node a start mark; we turn the node graph into ``YNode`` trees
so that every later error can name ``file:line:column``. Aliases are expanded, so the number
of expanded nodes and the nesting depth are capped (a "billion laughs" document fails fast
with a clear error instead of eating memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from sloctl.errors import Location, SpecError

__all__ = ["LIMITS", "NO_DOCUMENT", "Limits", "YNode", "parse_documents", "plain_node"]


@dataclass(frozen=True)
class Limits:
    """Input limits, documented in docs/spec.md."""

    max_file_bytes: int = 8 * 1024 * 1024
    max_nodes: int = 200_000
    max_depth: int = 64
    max_documents: int = 1_000


LIMITS = Limits()
NO_DOCUMENT = "file holds no YAML document"
"""An empty file (or one of comments only), in every reader's words."""

Scalar = str | int | float | bool | None


@dataclass
class YNode:
    """A YAML node: a mapping (``dict[str, YNode]``), a sequence or a scalar, with its place."""

    value: dict[str, YNode] | list[YNode] | Scalar
    loc: Location
    key_locs: dict[str, Location] = field(default_factory=dict)
    tag: str = ""
    plain: bool = False
    """A scalar written without quotes (YAML 1.1 readers such as Go's resolve ``y``/``N`` in it)."""
    plain_keys: frozenset[str] = frozenset()
    text: str = ""
    """A scalar's text as written (Go's YAML reading resolves some plain scalars differently)."""

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_seq(self) -> bool:
        return isinstance(self.value, list)

    def to_python(self) -> object:
        """Plain Python value (for JSON Schema checks and for formats read as whole blobs)."""
        if isinstance(self.value, dict):
            return {k: v.to_python() for k, v in self.value.items()}
        if isinstance(self.value, list):
            return [v.to_python() for v in self.value]
        return self.value


def plain_node(value: object, loc: Location) -> YNode:
    """``value`` (decoded JSON: dicts with string keys, lists, scalars) as a ``YNode`` tree with
    every node at ``loc``, for a shape's walk over data that was read without places (a game-day
    experiment read by ``json.loads``): its errors then have the key path for a place. Built
    without recursion: ``json.loads`` takes nesting deeper than Python's recursion limit.

    >>> plain_node({"a": [1]}, Location("x.json", 1, 1)).value["a"].value[0].value
    1
    """
    root = YNode(None, loc)
    todo: list[tuple[YNode, object]] = [(root, value)]
    while todo:
        node, v = todo.pop()
        if isinstance(v, dict):
            node.value = {str(k): YNode(None, loc) for k in v}
            todo += [(node.value[str(k)], child) for k, child in v.items()]
        elif isinstance(v, list):
            node.value = [YNode(None, loc) for _ in v]
            todo += zip(node.value, v, strict=True)
        else:
            assert v is None or isinstance(v, str | int | float | bool), f"not decoded JSON: {v!r}"
            node.value = v
    return root


def _loc(file: str, mark: yaml.Mark | None) -> Location:
    if mark is None:
        return Location(file, 1, 1)
    return Location(file, mark.line + 1, mark.column + 1)


class _TooBig(Exception):
    def __init__(self, loc: Location, message: str) -> None:
        self.loc = loc
        self.message = message


_CoreLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Converter:
    def __init__(self, file: str, limits: Limits) -> None:
        self.file = file
        self.limits = limits
        self.count = 0
        self.errors: list[SpecError] = []
        self.scalars = yaml.constructor.SafeConstructor()
        """Reads scalars' values. One per file, not per process: PyYAML's constructor keeps
        every node it has read (``constructed_objects``), and a module-wide one held every
        scalar node of every file read since start-up (125,000 after the structural fuzzer's
        6,000 documents, each with its two marks), which the garbage collector went through
        again and again."""

    def _too_many(self) -> str:
        return f"document expands to more than {self.limits.max_nodes} nodes (too large, or an alias bomb)"

    def check_size(self, root: yaml.Node) -> None:
        """:class:`_TooBig` at once when ``root`` expands to more nodes than the limit allows,
        before anything is converted: an alias is its anchor's very node, so each distinct
        node's expanded size is counted once. Converting a "billion laughs" document node by
        node up to the limit took seconds. Counted as :meth:`convert` counts (mapping values,
        sequence items); past the depth limit, or round a cycle, a node counts one and
        :meth:`convert` says what is wrong there."""
        sizes: dict[int, int] = {}
        active: set[int] = set()
        room = self.limits.max_nodes - self.count

        def size(node: yaml.Node, depth: int) -> int:
            if id(node) in sizes:
                return sizes[id(node)]
            if depth > self.limits.max_depth or id(node) in active:
                return 1
            active.add(id(node))
            total = 1
            for child in _children(node):
                total += size(child, depth + 1)
                if total > room:
                    raise _TooBig(_loc(self.file, child.start_mark), self._too_many())
            active.discard(id(node))
            sizes[id(node)] = total
            return total

        size(root, 0)

    def convert(self, node: yaml.Node, depth: int) -> YNode:
        loc = _loc(self.file, node.start_mark)
        self.count += 1
        if self.count > self.limits.max_nodes:
            raise _TooBig(loc, self._too_many())
        if depth > self.limits.max_depth:
            raise _TooBig(loc, f"nesting deeper than {self.limits.max_depth} levels")
        if isinstance(node, yaml.MappingNode):
            out: dict[str, YNode] = {}
            key_locs: dict[str, Location] = {}
            plain_keys: set[str] = set()
            for key_node, value_node in node.value:
                kloc = _loc(self.file, key_node.start_mark)
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.errors.append(SpecError(kloc, "", "YAML merge keys (<<) are not supported"))
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    self.errors.append(SpecError(kloc, "", "mapping keys must be plain strings"))
                    continue
                key = str(key_node.value)
                if key in out:
                    self.errors.append(SpecError(kloc, key, f"duplicate key {key!r}"))
                    continue
                out[key] = self.convert(value_node, depth + 1)
                key_locs[key] = kloc
                if not getattr(key_node, "style", None):  # None (PyYAML) or "" (libyaml): plain
                    plain_keys.add(key)
            return YNode(out, loc, key_locs, node.tag, plain_keys=frozenset(plain_keys))
        if isinstance(node, yaml.SequenceNode):
            return YNode([self.convert(n, depth + 1) for n in node.value], loc, tag=node.tag)
        try:
            value = self.scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            self.errors.append(SpecError(loc, "", f"invalid scalar {node.value!r}: {exc}"))
            value = str(node.value)
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            value = str(node.value)  # timestamps, binary: keep the text as written
        return YNode(value, loc, tag=node.tag, plain=not getattr(node, "style", None), text=str(node.value))


def _children(node: yaml.Node) -> list[yaml.Node]:
    """The nodes :meth:`_Converter.convert` converts under ``node``: a mapping's values of plain
    keys (each key once, no merge key), a sequence's items."""
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if not isinstance(node, yaml.MappingNode):
        return []
    seen: set[str] = set()
    out = []
    for key, value in node.value:
        if key.tag == "tag:yaml.org,2002:merge" or not isinstance(key, yaml.ScalarNode):
            continue
        if str(key.value) not in seen:
            seen.add(str(key.value))
            out.append(value)
    return out


def parse_documents(
    data: bytes | str, file: str, limits: Limits = LIMITS
) -> tuple[list[YNode], list[SpecError]]:
    """Every non-empty document of a YAML stream, and the errors met reading it."""
    loc0 = Location(file, 1, 1)
    if isinstance(data, bytes):
        if len(data) > limits.max_file_bytes:
            return [], [
                SpecError(loc0, "", f"file is {len(data)} bytes; the limit is {limits.max_file_bytes} bytes")
            ]
        if b"\x00" in data:
            return [], [SpecError(loc0, "", "file is binary (NUL bytes), not YAML")]
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            return [], [SpecError(Location(file, line, 1), "", "file is not valid UTF-8")]
    else:
        text = data
    docs: list[YNode] = []
    conv = _Converter(file, limits)
    aliased = "&" in text  # no anchor, no alias: convert's own count is the expanded size
    try:
        for i, node in enumerate(yaml.compose_all(text, Loader=_CoreLoader)):
            if i >= limits.max_documents:
                raise _TooBig(loc0, f"more than {limits.max_documents} documents in one file")
            if node is None:
                continue
            if aliased:
                conv.check_size(node)
            docs.append(conv.convert(node, 0))
    except _TooBig as exc:
        return [], [*conv.errors, SpecError(exc.loc, "", exc.message)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        return docs, [*conv.errors, SpecError(_loc(file, mark), "", f"YAML syntax error: {problem}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return docs, [*conv.errors, SpecError(_loc(file, mark), "", f"YAML error: {exc}")]
    except RecursionError:
        return [], [SpecError(loc0, "", "YAML nesting too deep")]
    return docs, conv.errors
