"""What a hand-written experiment makes Chaos Toolkit run itself, past the egress guard
(:mod:`sloctl.chaos.providers`): refused before anything runs (dry runs included) unless the
operator allows it, or guarded while the run lasts.

"Outside" here is 127.0.0.2: a loopback address (nothing leaves the machine) that the tests
leave out of the guard's allow-list, never an outside host; no name is ever resolved."""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import sloctl.chaos.providers
from sloctl.chaos.gameday import run_gameday
from sloctl.chaos.providers import unguarded_activity_refusal
from sloctl.cli.main import main
from sloctl.egress import Egress
from tests.fixtures.experiments import TINY
from tests.fixtures.stub_http import Answer, StubRequest, serve
from tests.paths import ROOT

#: a loopback address the tests' guard does not allow (:func:`narrow_guard`)
OUTSIDE_HOST = "127.0.0.2"
#: the harmless action of sloctl's every experiment here holds (a game day needs an action)
STOP = TINY["method"][0]  # type: ignore[index]
ALLOW_HINT = (
    'review what it reaches, then allow it with --allow-unguarded-providers (or "allow_unguarded_providers":'
    " true in --config)"
)


def _experiment(tmp_path: Path, method: list[Any], **more: Any) -> Path:
    experiment = {**TINY, "method": method, **more}
    path = tmp_path / "own.json"
    path.write_text(json.dumps(experiment))
    return path


def _http_probe(name: str, url: str) -> dict[str, Any]:
    return {"type": "probe", "name": name, "provider": {"type": "http", "url": url, "timeout": 5}}


@pytest.fixture
def narrow_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """The game days' guard allowing 127.0.0.1 alone: :data:`OUTSIDE_HOST` plays an outside host."""
    guard = Egress(allow=(ipaddress.ip_network("127.0.0.1/32"),), action="reach a game-day target at")
    monkeypatch.setattr(sloctl.chaos.providers, "GUARD", guard)


def _journal_runs(out_dir: Path) -> dict[str, dict[str, Any]]:
    journal = json.loads((out_dir / "journal.json").read_text())
    return {r["activity"]["name"]: r for r in journal["run"]}


def _outside() -> Any:
    return serve(lambda _r: Answer(b"outside", "text/plain"), host=OUTSIDE_HOST)


def test_an_http_provider_is_not_redirected_outside_the_allow_list(
    tmp_path: Path, narrow_guard: None
) -> None:
    """Chaos Toolkit's http provider follows redirects (``requests``' default; it has no setting
    to refuse them): a loopback URL that answered 302 sent the probe wherever it pointed. Each
    hop is now checked by the guard: one outside fails the activity, naming the address, and
    one inside is followed as before."""
    with _outside() as outside:

        def redirecting(request: StubRequest) -> Answer:
            if request.path == "/moved":
                return Answer(b"moved here", "text/plain")
            target = f"{outside.url}/status" if request.path == "/away" else "/moved"
            return Answer(b"", "text/plain", 302, (("Location", target),))

        with serve(redirecting) as inside:
            away, here = (
                _http_probe("check: away", f"{inside.url}/away"),
                _http_probe("check: here", inside.url),
            )
            path = _experiment(tmp_path, [STOP, away, here])
            result = run_gameday(path, out_dir=tmp_path / "report")
    assert outside.requests == [], "the redirect reached the address outside the allow-list"
    runs = _journal_runs(tmp_path / "report")
    assert runs["check: away"]["status"] == "failed"
    error = "".join(runs["check: away"]["exception"])
    assert f"refusing to reach a game-day target at {OUTSIDE_HOST}: it is outside the allow-list" in error
    assert runs["check: here"]["status"] == "succeeded"
    assert runs["check: here"]["output"]["body"] == "moved here"
    assert result.verdict == "fail", result.reasons


def test_an_http_provider_ignores_the_proxy_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``requests`` sent a loopback URL through ``HTTP_PROXY``, wherever that was, past the
    guard; sloctl's own HTTP clients ignore the ``*_proxy`` variables, and so does the provider."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with _outside() as proxy, serve(lambda _r: Answer(b"direct", "text/plain")) as api:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        path = _experiment(tmp_path, [STOP, _http_probe("check: status", api.url)])
        result = run_gameday(path, out_dir=tmp_path / "report")
        assert proxy.requests == [] and len(api.requests) == 1
    assert _journal_runs(tmp_path / "report")["check: status"]["output"]["body"] == "direct"
    assert result.verdict == "pass", result.reasons


def _touching(marker: Path) -> dict[str, Any]:
    """An action whose process provider creates ``marker``: proof that it ran."""
    code = f"open({str(marker)!r}, 'w').close()"
    provider = {"type": "process", "path": sys.executable, "arguments": ["-c", code]}
    return {"type": "action", "name": "inject: touch", "provider": provider}


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry run", "real run"])
def test_a_process_provider_is_refused_unless_the_operator_allows_it(
    dry_run: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A process provider runs any command, which may reach any host: the guard cannot see it.
    Before, it ran without a word (and a dry run said dry-run)."""
    marker = tmp_path / "ran"
    path = _experiment(tmp_path, [_touching(marker)])
    argv = [
        "gameday",
        "run",
        str(path),
        "--report-dir",
        str(tmp_path / "r"),
        *(["--dry-run"] if dry_run else []),
    ]
    assert main(argv) == 1
    out = capsys.readouterr().out
    command = f"{sys.executable} -c open({str(marker)!r}, 'w').close()"
    assert (
        f"refused: action 'inject: touch': its process provider runs {command!r}, which the loopback"
        f" guard cannot check (it may reach any host); {ALLOW_HINT}"
    ) in out, out
    assert not marker.exists()
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["verdict"] == "inconclusive" and report["status"] == "not run"
    assert main([*argv, "--allow-unguarded-providers"]) == 0, capsys.readouterr()
    assert marker.exists() != dry_run


def test_the_opt_in_is_the_operator_s_not_the_experiment_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "ran"
    own = {**TINY["configuration"], "allow_unguarded_providers": True}  # type: ignore[dict-item]
    path = _experiment(tmp_path, [_touching(marker)], configuration=own)
    assert main(["gameday", "run", str(path), "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert (
        f"sloctl gameday run: {path}: configuration: allow_unguarded_providers: an experiment cannot allow"
        " its own unguarded providers; the operator allows them (--allow-unguarded-providers, or --config)"
    ) in err, err
    assert not marker.exists()
    argv = ["gameday", "run", str(path), "--set", "allow_unguarded_providers=true", "--dry-run"]
    assert main(argv) == 2, "the experiment's own key is refused even when the operator allows"


OTHER_MODULES = {
    "a probe of os.path": (
        [
            STOP,
            {
                "type": "probe",
                "name": "check: root",
                "provider": {
                    "type": "python",
                    "module": "os.path",
                    "func": "exists",
                    "arguments": {"path": "/"},
                },
            },
        ],
        [],
        "refused: probe 'check: root': its python provider runs os.path.exists",
    ),
    "an action of subprocess": (
        [
            {
                "type": "action",
                "name": "inject: run",
                "provider": {
                    "type": "python",
                    "module": "subprocess",
                    "func": "run",
                    "arguments": {"args": ["true"]},
                },
            }
        ],
        [],
        "refused: action 'inject: run': its python provider runs subprocess.run",
    ),
    "a control of another module": (
        [STOP],
        [{"name": "tracing", "provider": {"type": "python", "module": "chaostracing.control"}}],
        "refused: control 'tracing': its python provider runs chaostracing.control",
    ),
}


@pytest.mark.parametrize(
    ("method", "controls", "said"), list(OTHER_MODULES.values()), ids=list(OTHER_MODULES)
)
def test_a_python_module_other_than_sloctl_s_is_refused_unless_allowed(
    method: list[Any], controls: list[Any], said: str, tmp_path: Path
) -> None:
    """A module may open its own connections, or run a command: the guard can vouch for
    sloctl's modules only."""
    path = _experiment(tmp_path, method, controls=controls)
    result = run_gameday(path, out_dir=tmp_path / "r", dry_run=True)
    assert result.verdict == "inconclusive"
    assert (
        result.reasons[0]
        == f"{said}, which the loopback guard cannot check (it may reach any host); {ALLOW_HINT}"
    )
    allowed = run_gameday(path, configuration={"allow_unguarded_providers": True}, dry_run=True)
    assert allowed.verdict == "dry-run", allowed.reasons


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "chaos").glob("*.json")))
def test_the_generated_experiments_need_no_opt_in(name: str) -> None:
    experiment = json.loads((ROOT / "chaos" / name).read_text())
    assert unguarded_activity_refusal(experiment, allowed=False) is None
