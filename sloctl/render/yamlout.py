"""Deterministic, fast YAML output for generated files.

``dump_yaml`` writes block-style YAML straight from plain data (dicts in their given order,
lists, strings, numbers, booleans, None): strings are plain when YAML reads them back as the
same string, literal blocks when multi-line (a folded PromQL expression is hard to review), and
double-quoted otherwise. It is several times faster than PyYAML's dumper, which builds a node
graph in Python first — generating rules for 10,000 SLOs is mostly serialisation — and
``tests/render/test_yamlout.py`` checks that PyYAML reads every output back to the input.
"""

from __future__ import annotations

import functools
import json
import re

__all__ = ["dump_yaml", "yaml_inline", "yaml_string"]

# YAML 1.1 (PyYAML) and 1.2 resolve these plain scalars to something other than a string.
_SPECIAL = re.compile(
    r"^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N"
    r"|[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    r"|0b[0-1_]+|0x[0-9a-fA-F_]+|0o?[0-7_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*|<<|=)$"
)
_PLAIN = re.compile(r"^[A-Za-z0-9_./(\[{$\\^=<+-][^\x00-\x1f\x7f\"'#]*$")
_NEEDS_QUOTES = re.compile(r": |:$| #|^[-?:,\[\]{}#&*!|>'\"%@`]|\s$|^\s|[,\[\]{}]")
_BLOCK_SAFE = re.compile(r"^[^\s][^\x00-\x08\x0b-\x1f\x7f\ufeff]*$", re.DOTALL)


@functools.lru_cache(maxsize=1 << 16)
def _string(value: str) -> str:
    # Memoised: keys, label names and most label values repeat across thousands of rules.
    if value and _PLAIN.match(value) and not _SPECIAL.match(value) and not _NEEDS_QUOTES.search(value):
        return value
    if "'" not in value and value.isprintable():
        return f"'{value}'"  # single quotes: PromQL's double quotes stay readable
    return json.dumps(value, ensure_ascii=False)


def _scalar(value: object) -> str:
    if isinstance(value, str):
        return _string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if text in ("inf", "-inf", "nan"):
            return {"inf": ".inf", "-inf": "-.inf", "nan": ".nan"}[text]
        return text if ("." in text or "e" in text) else f"{text}.0"
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _block(value: str, indent: str) -> str | None:
    """A literal block for a multi-line string, when one can hold it exactly."""
    if "\n" not in value or not _BLOCK_SAFE.match(value) or "\r" in value:
        return None
    lines = value.split("\n")
    if any(line != line.rstrip() for line in lines):
        return None  # trailing spaces would be invisible in review; quote instead
    chomp = "-" if not value.endswith("\n") else ("" if not value.endswith("\n\n") else None)
    if chomp is None:
        return None
    body = lines[:-1] if value.endswith("\n") else lines
    return f"|{chomp}\n" + "\n".join(f"{indent}{line}" if line else "" for line in body)


def _emit(value: object, indent: str, out: list[str]) -> None:
    """Append the lines of ``value`` (a mapping or a list) at ``indent``."""
    if isinstance(value, dict):
        if not value:
            out.append(f"{indent}{{}}")
            return
        if all(type(v) is str for v in value.values()):
            # Label sets: the same few repeat on every rule of an SLO.
            out.extend(_flat(tuple(value.items()), indent))
            return
        for key, item in value.items():
            k = _scalar(str(key))
            if isinstance(item, dict) and item:
                out.append(f"{indent}{k}:")
                _emit(item, indent + "  ", out)
            elif isinstance(item, list) and item:
                out.append(f"{indent}{k}:")
                _emit(item, indent, out)
            else:
                out.append(f"{indent}{k}: {_inline(item, indent + '  ')}")
        return
    assert isinstance(value, list)
    for item in value:
        if isinstance(item, dict) and item:
            sub: list[str] = []
            _emit(item, indent + "  ", sub)
            out.append(f"{indent}- {sub[0][len(indent) + 2 :]}")
            out.extend(sub[1:])
        elif isinstance(item, list) and item:
            sub = []
            _emit(item, indent + "  ", sub)
            out.append(f"{indent}- {sub[0][len(indent) + 2 :]}")
            out.extend(sub[1:])
        else:
            out.append(f"{indent}- {_inline(item, indent + '  ')}")


@functools.lru_cache(maxsize=1 << 14)
def _flat(items: tuple[tuple[str, str], ...], indent: str) -> tuple[str, ...]:
    return tuple(f"{indent}{_string(str(k))}: {_inline_str(v, indent + '  ')}" for k, v in items)


@functools.lru_cache(maxsize=1 << 16)
def _inline_str(value: str, indent: str) -> str:
    block = _block(value, indent)
    return block if block is not None else _string(value)


def _inline(value: object, indent: str) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, str):
        return _inline_str(value, indent)
    return _scalar(value)


def dump_yaml(data: object) -> str:
    """YAML text of ``data`` (a mapping or a list at the top)."""
    if not isinstance(data, (dict, list)):
        return _scalar(data) + "\n"
    out: list[str] = []
    _emit(data, "", out)
    return "\n".join(out) + "\n"


def yaml_string(value: str) -> str:
    """How ``dump_yaml`` writes a string as a mapping key or a one-line value."""
    return _string(value)


def yaml_inline(value: str, indent: str) -> str:
    """How ``dump_yaml`` writes a string value whose continuation lines sit at ``indent``."""
    return _inline_str(value, indent)
