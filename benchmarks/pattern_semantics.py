"""How many (pattern, text) cases sloctl's matching and an editor's differ on: every anchored
pattern of every JSON Schema sloctl writes, over the probes of
``tests/spec/test_patterns_ecma.py`` (line breaks and blanks at either end of names, paths,
durations), matched by Python's ``re.match`` (as the walk and the model's checks matched before),
by :func:`sloctl.spec.shape.pattern_matches`, and by Node's own ``RegExp`` (ECMA-262, the JSON
Schema's readers) in one process (docs/benchmarks.md, "Patterns as editors match them").

    .venv/bin/python benchmarks/pattern_semantics.py
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sloctl.spec.shape import pattern_matches
from tests.spec.test_patterns_ecma import PATTERNS, PROBES, _ecma


def main() -> None:
    cases = [(p, t) for p in PATTERNS for t in PROBES]
    ecma = _ecma(cases)
    for name, matches in (
        ("re.match", lambda p, t: bool(re.match(p, t))),
        ("pattern_matches", pattern_matches),
    ):
        differ = [(p, t) for (p, t), e in zip(cases, ecma, strict=True) if matches(p, t) != e]
        ends = Counter(repr(t[-1:]) for _, t in differ)
        print(
            f"{name}: {len(differ)} of {len(cases)} cases differ from ECMA-262, over"
            f" {len({p for p, _ in differ})} of {len(PATTERNS)} patterns; last characters {dict(ends)}"
        )


if __name__ == "__main__":
    main()
