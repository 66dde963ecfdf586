"""An experiment whose method holds no action injects nothing and proves nothing: it is refused
before anything runs, dry runs included, by the CLI (exit 2) and the library
(``ExperimentValueError``), naming the file and what to add."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sloctl.chaos.experiments import NO_FAULT, ExperimentValueError
from sloctl.chaos.gameday import run_gameday
from sloctl.cli.main import main
from tests.fixtures.experiments import TINY
from tests.fixtures.stub_http import Answer, serve


def _http_probe(name: str, url: str) -> dict[str, Any]:
    return {"type": "probe", "name": name, "provider": {"type": "http", "url": url, "timeout": 5}}


FAULTLESS = {
    "probes only": lambda url: {
        "steady-state-hypothesis": {
            "title": "the status page answers",
            "probes": [{**_http_probe("status page", url), "tolerance": 200}],
        },
        "method": [_http_probe("check: status page", url)],
    },
    "an empty method": lambda url: {"method": []},
}


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "real run"])
@pytest.mark.parametrize("shape", list(FAULTLESS.values()), ids=list(FAULTLESS))
def test_an_experiment_without_an_action_is_refused_before_anything_runs(
    shape: Any, dry_run: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It injects nothing and proves nothing: before, its probes ran against a healthy status
    page and the game day passed (exit 0)."""
    with serve(lambda _r: Answer(b"ok", "text/plain")) as status:
        path = tmp_path / "faultless.json"
        path.write_text(json.dumps({**TINY, **shape(status.url)}))
        argv = ["gameday", "run", str(path), "--report-dir", str(tmp_path / "r")]
        assert main([*argv, *(["--dry-run"] if dry_run else [])]) == 2
        assert status.requests == [], "nothing ran"
    assert capsys.readouterr().err == f"sloctl gameday run: {path}: {NO_FAULT}\n"
    assert not (tmp_path / "r").exists()


def test_the_library_refuses_an_experiment_without_an_action(tmp_path: Path) -> None:
    path = tmp_path / "faultless.json"
    path.write_text(json.dumps({**TINY, "method": [_http_probe("check: status", "http://127.0.0.1:9")]}))
    with pytest.raises(ExperimentValueError) as raised:
        run_gameday(path, out_dir=tmp_path / "r", dry_run=True)
    assert raised.value.problems == (f"{path}: {NO_FAULT}",)
    assert str(raised.value) == f"{path}: {NO_FAULT}", "no line about configuration ranges"
    assert "add the action that injects its fault" in NO_FAULT
