"""Dependency levels of rules: a rule that reads no recording of the set is level 0, any other
rule one more than the highest level it reads. Pure; used by the vmalert flavour (one group per
level) and by the backtests (which replay one level at a time).

>>> rule_levels([{"record": "a", "expr": "rate(x[5m])"}, {"alert": "A", "expr": "a > 1"}])
[0, 1]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

__all__ = ["rule_levels"]


def rule_levels(rules: Sequence[Mapping[str, object]]) -> list[int]:
    """The level of each of ``rules`` (recording rules ``record``, alerts ``alert``), in order.

    A name counts as read when it appears in an expression as a whole metric name; a
    recording that reads itself or a cycle of recordings raises ValueError."""
    names = {str(r["record"]) for r in rules if "record" in r}
    pattern = {n: re.compile(rf"(?<![\w:]){re.escape(n)}(?![\w:])") for n in names}
    reads = [
        {n for n in names if n != r.get("record") and pattern[n].search(str(r.get("expr", "")))}
        for r in rules
    ]
    unsettled = {n: sum(1 for r in rules if r.get("record") == n) for n in names}
    level: dict[str, int] = {}  # a name's level, once every rule recording it is settled
    out: list[int | None] = [None] * len(rules)
    for _ in range(len(rules)):  # each pass settles at least one rule, or there is a cycle
        ready = [i for i, x in enumerate(out) if x is None and all(unsettled[n] == 0 for n in reads[i])]
        if not ready:
            break
        for i in ready:
            out[i] = 1 + max((level[n] for n in reads[i]), default=-1)
        for i in ready:
            name = rules[i].get("record")
            if name is not None:
                unsettled[str(name)] -= 1
                level[str(name)] = max(level.get(str(name), 0), out[i] or 0)
    settled = [x for x in out if x is not None]
    if len(settled) != len(rules):
        raise ValueError("recording rules with a dependency cycle")
    return settled
