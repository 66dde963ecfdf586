"""Dependency levels of rules: a rule that reads no recording of the set is level 0, any other
rule one more than the highest level of the rules it reads. Pure; used by the vmalert flavour
(one group per level) and by the backtests (which replay one level at a time).

>>> rule_levels([{"record": "a", "expr": "rate(x[5m])"}, {"alert": "A", "expr": "a > 1"}])
[0, 1]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["rule_levels"]

_MATCHER = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


def _may_select(rule: Mapping[str, object], matchers: Mapping[str, str]) -> bool:
    """Whether a selector's equality matchers can select the output of ``rule`` (by the labels
    the rule sets): ``{sloctl_id="a"}`` never reads a rule that sets ``sloctl_id: b``."""
    labels = rule.get("labels") or {}
    assert isinstance(labels, Mapping)
    return all(str(labels.get(k, v)) == v for k, v in matchers.items())


def rule_levels(rules: Sequence[Mapping[str, object]]) -> list[int]:
    """The level of each of ``rules`` (recording rules ``record``, alerts ``alert``), in the
    order of their groups.

    A rule reads a recording when its name appears in the expression as a whole metric name and
    the selector's equality matchers can match the labels that recording sets (one name is
    recorded per SLO, told apart by ``sloctl_id``). A rule that reads the very name it records
    reads the rules of that name before it only — Prometheus evaluates a group in order, as the
    calendar candidates rely on. A cycle raises ValueError."""
    recorders: dict[str, list[int]] = {}
    for j, q in enumerate(rules):
        if "record" in q:
            recorders.setdefault(str(q["record"]), []).append(j)
    pattern = {n: re.compile(rf"(?<![\w:]){re.escape(n)}(?![\w:])(\{{[^}}]*\}})?") for n in recorders}
    deps: list[list[int]] = []
    for i, r in enumerate(rules):
        expr = str(r.get("expr", ""))
        found: list[int] = []
        for n, js in recorders.items():
            selectors = [dict(_MATCHER.findall(m.group(1) or "")) for m in pattern[n].finditer(expr)]
            if not selectors:
                continue
            found.extend(
                j
                for j in js
                if j != i
                and not (n == r.get("record") and j > i)
                and any(_may_select(rules[j], m) for m in selectors)
            )
        deps.append(found)
    level: dict[int, int] = {}

    def depth(i: int, seen: frozenset[int]) -> int:
        if i in level:
            return level[i]
        if i in seen:
            raise ValueError("recording rules with a dependency cycle")
        level[i] = 1 + max((depth(j, seen | {i}) for j in deps[i]), default=-1)
        return level[i]

    return [depth(i, frozenset()) for i in range(len(rules))]
