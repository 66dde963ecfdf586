"""An experiment with a Vault secret, where no Vault client is installed: Chaos Toolkit's library
logs an error and gives the secret no value, and the game day ran on with it empty. It is refused
before anything runs, naming the file, the secret and what to do; a secret from the environment
is read as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sloctl.chaos.experiments import vault_problems
from sloctl.chaos.gameday import run_gameday
from sloctl.cli.main import main
from tests.fixtures.experiments import TINY

VAULT = {"type": "vault", "path": "platform/db", "key": "password"}


def test_a_vault_secret_without_a_vault_client_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("chaoslib")
    assert vault_problems({"secrets": {"pg": {"password": VAULT}}}), "this test needs no hvac installed"
    path = tmp_path / "with-vault.json"
    path.write_text(json.dumps({**TINY, "secrets": {"pg": {"password": VAULT, "user": "sloctl"}}}))
    assert main(["gameday", "run", str(path), "--report-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sloctl gameday run: {path}: secrets: pg.password: a Vault secret"), err
    assert "Install chaostoolkit-lib[vault]" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists(), "nothing ran"


def test_a_secret_from_the_environment_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLOCTL_TEST_SECRET", "s3cret")
    path = tmp_path / "with-env.json"
    secrets = {"pg": {"password": {"type": "env", "key": "SLOCTL_TEST_SECRET"}}}
    path.write_text(json.dumps({**TINY, "secrets": secrets}))
    result = run_gameday(path, out_dir=tmp_path / "r")
    assert result.status == "completed" and result.verdict == "pass", result


def test_a_vault_client_installed_takes_vault_secrets() -> None:
    experiment = {"secrets": {"pg": {"password": VAULT}, "api": {"token": {"type": "env", "key": "T"}}}}
    assert vault_problems(experiment, vault_client=True) == []
    assert [p.split(":")[1] for p in vault_problems(experiment, vault_client=False)] == [" pg.password"]
