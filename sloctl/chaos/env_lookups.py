"""Environment lookups in a game day's configuration, as Chaos Toolkit writes them:
``{"type": "env", "key": "REDIS_URL", "default": "…", "env_var_type": "int"}`` stands for the
value of the environment variable ``REDIS_URL`` (its ``default`` when the variable is not set),
converted as ``env_var_type`` says. This is how a team keeps its connection strings and their
passwords out of the experiment and the ``--config`` file, in git: a CI secret or a systemd
``EnvironmentFile`` gives them.

sloctl reads its own keys before Chaos Toolkit runs (the egress guard, the masking of
passwords, the budget gate, the checks of values), so it resolves their lookups here, with Chaos
Toolkit's rules, and hands Chaos Toolkit the values. Pure: the environment is an argument.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sloctl.spec.shape import CONFIG, Field, Shape, json_problems

__all__ = ["ENV_TYPES", "LOOKUP", "NAME", "is_lookup", "lookup_problems", "resolve_lookups"]

#: ``env_var_type`` → the type name the value is converted to (Chaos Toolkit's names; ``bytes``
#: left out: no key of sloctl's holds bytes)
ENV_TYPES: dict[str, str] = {
    "str": "str",
    "string": "str",
    "int": "int",
    "integer": "int",
    "float": "float",
    "number": "float",
    "bool": "bool",
    "json": "json",
}
#: a variable's name every place that gives it can hold (a shell, systemd's EnvironmentFile, a
#: Kubernetes Secret's key, an Actions secret)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: an environment lookup, as Chaos Toolkit reads it
LOOKUP = Shape(
    {
        "type": Field("string", "env", required=True, enum=("env",)),
        "key": Field(
            "string",
            "the environment variable's name",
            required=True,
            pattern=NAME.pattern,
            message="{value!r}: a variable's name is letters, digits and _, not starting with a digit",
        ),
        "default": Field("scalar", "the value while the variable is not set"),
        "env_var_type": Field("string", "what the variable's text is read as", enum=tuple(ENV_TYPES)),
    },
    "an environment lookup (docs/gameday.md, Configuration)",
)
#: the ``env_var_type`` a field of this JSON type needs (an environment variable is text)
_NEEDED_TYPE = {"integer": "int", "number": "float", "boolean": "bool"}


def is_lookup(value: object) -> bool:
    """Whether ``value`` is an environment lookup (an object whose ``type`` is ``env``).

    >>> is_lookup({"type": "env", "key": "REDIS_URL"}), is_lookup("redis://127.0.0.1:6379")
    (True, False)
    """
    return isinstance(value, Mapping) and value.get("type") == "env"


def resolve_lookups(
    values: Mapping[str, Any], fields: Mapping[str, Field], environ: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """``values`` with the lookup of each key of ``fields`` (sloctl's keys; the others are Chaos
    Toolkit's to resolve) replaced by its value from ``environ``, and ``key: problem`` for each
    lookup that cannot be: no ``key``, a field it does not know, a variable neither set nor given
    a ``default``, an ``env_var_type`` it does not know or that the text does not convert to.
    A problem never quotes the variable's value: it may be a password. A key whose lookup fails
    keeps the lookup (its problem is said; the caller refuses the run).

    >>> resolve_lookups({"redis_url": {"type": "env", "key": "R"}}, {"redis_url": Field("string")},
    ...                 {"R": "redis://127.0.0.1:6379/0"})
    ({'redis_url': 'redis://127.0.0.1:6379/0'}, [])
    >>> resolve_lookups({"load_rate": {"type": "env", "key": "RATE"}}, {"load_rate": Field("number")},
    ...                 {"RATE": "20"})[1][0][-41:]
    'add "env_var_type": "float" to the lookup'
    """
    resolved = dict(values)
    problems = []
    for key, value in values.items():
        if key not in fields or not is_lookup(value):
            continue
        outcome = _resolve(key, value, fields[key], environ)
        if isinstance(outcome, _Problem):
            problems.append(_said(key, outcome))
        else:
            resolved[key] = outcome
    return resolved, problems


@dataclass(frozen=True)
class _Problem:
    text: str
    #: ``text`` begins with a field of the lookup (``key: must not be empty``)
    inside: bool = False


def lookup_problems(values: Mapping[str, Any], fields: Mapping[str, Field]) -> list[str]:
    """``key: problem`` of each lookup of a key of ``fields`` that no environment could resolve:
    a field it does not know, no or a bad ``key``, an unknown ``env_var_type``, a number or a
    boolean read without one. What :func:`resolve_lookups` says whatever the environment holds
    (``gameday schedule`` checks a file its timers will read elsewhere).

    >>> lookup_problems({"redis_url": {"type": "env", "key": "1X"}}, {"redis_url": Field("string")})
    ["redis_url.key: '1X': a variable's name is letters, digits and _, not starting with a digit"]
    """
    return [
        _said(key, problem)
        for key, value in values.items()
        if key in fields and is_lookup(value)
        for problem in [_static_problem(key, value, fields[key])]
        if problem is not None
    ]


def _said(key: str, problem: _Problem) -> str:
    return f"{key}{'.' if problem.inside else ': '}{problem.text}"


def _static_problem(key: str, lookup: Mapping[str, Any], field: Field) -> _Problem | None:
    """What is wrong with the lookup whatever the environment holds, or None."""
    shape = json_problems(LOOKUP, lookup, CONFIG)
    if shape:
        return _Problem(shape[0], inside=True)
    needed = _NEEDED_TYPE.get(field.type)
    if lookup.get("env_var_type") is None and needed is not None:
        return _Problem(
            f"environment variable {lookup['key']} is text, and {key} is a {_article(field.type)}: add"
            f' "env_var_type": "{needed}" to the lookup'
        )
    return None


def _resolve(key: str, lookup: Mapping[str, Any], field: Field, environ: Mapping[str, str]) -> Any:
    """The lookup's value, or a :class:`_Problem`."""
    problem = _static_problem(key, lookup, field)
    if problem is not None:
        return problem
    name, kind = lookup["key"], lookup.get("env_var_type")
    if name not in environ:
        if "default" not in lookup:
            return _Problem(
                f"environment variable {name} is not set, and the lookup gives no default: set it"
                ' where the game day runs, or add "default" to the lookup'
            )
        text: Any = lookup["default"]
    else:
        text = environ[name]
    return _convert(name, None if kind is None else ENV_TYPES[kind], text)


def _article(json_type: str) -> str:
    return {"integer": "whole number", "boolean": "true or false"}.get(json_type, json_type)


def _convert(name: str, kind: str | None, value: Any) -> Any:
    """``value`` converted as Chaos Toolkit's ``convert_to_type`` converts text, or a
    :class:`_Problem` that does not quote it. A default that is not text is taken as written
    (its field's check judges it)."""
    if not isinstance(value, str) or kind in (None, "str"):
        return value
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "json":
            decoded = json.loads(value) if value else value
            if is_lookup(decoded):  # one level only: Chaos Toolkit does not look it up again
                return _Problem(
                    f"environment variable {name} holds a lookup, not a value (env_var_type json)"
                )
            return decoded
    except ValueError:
        return _Problem(f"environment variable {name} does not read as {kind} (env_var_type)")
    return value.lower() not in ("false", "0", "no")  # bool, as Chaos Toolkit reads it
