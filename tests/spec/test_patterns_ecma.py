"""Every pattern of every document's JSON Schema matches in sloctl as it matches in an editor.

The schemas' readers (the YAML language server, any ECMA-262 validator) read ``$`` as the end of
the text; Python's ``re.match`` also lets it match before a last newline, so ``"checkout\\n"``
passed ``^[a-z]+$`` in sloctl, and a schedule's unit file, an SLO's rule names and its test files
took the newline. The oracle is Node's own ``RegExp`` (the ``u`` flag, as JSON Schema's
draft 2020-12 asks), run once over every pattern and every probe."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sloctl.chaos.env_lookups import LOOKUP
from sloctl.chaos.experiments import EXPERIMENT, SETTINGS
from sloctl.chaos.schedule import SHAPE as SCHEDULE
from sloctl.cli.main import main
from sloctl.collector.config import SHAPE as COLLECTOR
from sloctl.spec.project import schema as project_schema
from sloctl.spec.schema import json_schema
from sloctl.spec.shape import document_schema, pattern_matches
from tests.fixtures.browser import NODE

pytestmark = pytest.mark.skipif(NODE is None, reason="node is installed by make test (DEB_TEST)")

#: what JavaScript's RegExp says of each (pattern, text): one Node process for a whole batch
ECMA = """
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(cases.map(([p, t]) => new RegExp(p, "u").test(t))));
"""


def _patterns(schema: object) -> Iterator[str]:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _patterns(item)


def _schemas() -> list[object]:
    shapes = [
        document_schema(COLLECTOR, schema_id="c", title="c"),
        document_schema(SCHEDULE, schema_id="s", title="s"),
        EXPERIMENT.json_schema(),
        SETTINGS.json_schema(),
        LOOKUP.json_schema(),
    ]
    return [json_schema(), project_schema(), *shapes]


#: the anchored ones, ``^…$``: a field's pattern, which sloctl holds a value to as a whole
#: (:func:`~sloctl.spec.shape.pattern_matches`, the model's checks); the project file's schema
#: also gives two prefixes (``^/``, ``^https?://``), hints an editor checks while sloctl reads the
#: whole value (an absolute path, a URL with a host)
PATTERNS = sorted(
    {p for schema in _schemas() for p in _patterns(schema) if p.startswith("^") and p.endswith("$")}
)
#: texts every pattern meets: the trailing newline, other line breaks and blanks around a name,
#: and the blanks only one of the two engines calls ``\\s`` (U+0085, U+001C; U+FEFF)
PROBES = ["", "a", "checkout", "5m", "/srv/x", "%h/x", "Europe/Paris", "REDIS_URL", "200ms", '{a="b"}']
ENDS = ("\n", "\r\n", "\n\n", " ", "\x85", "\x1c", "\ufeff")
PROBES += [p + end for p in PROBES for end in ENDS] + ["\ncheckout", "check\nout"]


def _ecma(cases: list[tuple[str, str]]) -> list[bool]:
    assert NODE is not None
    out = subprocess.run(
        [NODE, "-e", ECMA], input=json.dumps(cases), capture_output=True, text=True, timeout=60, check=True
    )
    return [bool(v) for v in json.loads(out.stdout)]


def test_there_are_patterns_to_compare() -> None:
    # the walk finds the declared ones: a name's, a label's, a duration's, the schedule's paths
    assert len(PATTERNS) >= 10, PATTERNS


def test_every_pattern_matches_the_probes_as_ecma_262_does() -> None:
    cases = [(p, t) for p in PATTERNS for t in PROBES]
    ecma = _ecma(cases)
    differ = [(p, t) for (p, t), e in zip(cases, ecma, strict=True) if pattern_matches(p, t) != e]
    assert not differ, differ[:10]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_pattern_matches_the_texts_it_generates_as_ecma_262_does(data: st.DataObject) -> None:
    """Texts Hypothesis draws to match each pattern as Python searches it (a trailing newline
    among them), each with a line break or a blank added at either end."""
    cases = []
    for p in PATTERNS:
        text = data.draw(st.from_regex(p).filter(lambda t: "\x00" not in t), label=p)
        edge = data.draw(st.sampled_from(["", "\n", " ", "\t"]))
        cases += [(p, text), (p, text + edge), (p, edge + text)]
    differ = [(p, t) for (p, t), e in zip(cases, _ecma(cases), strict=True) if pattern_matches(p, t) != e]
    assert not differ, differ[:10]


NEWLINE_NAME = """apiVersion: sloctl/v1
kind: Service
metadata:
  name: "checkout{end}"
spec:
  slos:
    - name: "availability{end}"
      objective: 99.9
      period: 30d
      sli:
        events:
          errorQuery: sum(rate(http_requests_total{{code=~"5.."}}[{{{{.window}}}}]))
          totalQuery: sum(rate(http_requests_total[{{{{.window}}}}]))
"""


@pytest.mark.parametrize("end", ["", "\\n"])
def test_a_name_with_a_last_newline_is_refused_by_validate(
    end: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model's own checks (the name, held by ``build.check_name``), not only the walk's."""
    path = tmp_path / "slo.yaml"
    path.write_text(NEWLINE_NAME.format(end=end))
    assert main(["validate", str(path)]) == (1 if end else 0)
    err = capsys.readouterr().err
    if end:
        assert "metadata.name: service name 'checkout\\n' must be letters" in err, err
        assert "name 'availability\\n' must be letters" in err, err


#: a schedule's field, a value of it, and the words of its refusal
SCHEDULE_REFUSALS = {
    "name": ("abc\\n", "spec.gamedays[0].name"),
    "environmentFile": ("/x/y.env\\n", "spec.environmentFile: '/x/y.env\\n' is not an absolute path"),
    "workingDirectory": ("srv/sloctl", "spec.workingDirectory: 'srv/sloctl' is not an absolute path"),
    "secret": ("Game_Days", "spec.secret: 'Game_Days' is not a Kubernetes object name"),
}


@pytest.mark.parametrize("field", SCHEDULE_REFUSALS)
def test_a_schedule_s_names_and_paths_are_refused_at_their_place(
    field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    value, problem = SCHEDULE_REFUSALS[field]
    name, spec = (f', name: "{value}"', "") if field == "name" else ("", f'  {field}: "{value}"\n')
    path = tmp_path / "schedule.yaml"
    entry = f'    - {{experiment: x.json, cron: "0 10 * * 1"{name}}}'
    path.write_text(f"apiVersion: sloctl/v1\nkind: GamedaySchedule\nspec:\n{spec}  gamedays:\n{entry}\n")
    assert main(["gameday", "schedule", "--file", str(path), "-o", str(tmp_path / "out")]) == 1
    assert problem in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
