"""The project file (sloctl.yaml) and the flags beside it: deployment settings without Python."""

from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from sloctl.cli._common import COMMANDS
from sloctl.cli.main import main
from sloctl.spec.project import SETTINGS, schema_text
from tests.paths import ROOT

PROJECT = """\
apiVersion: sloctl/v1
kind: Project
exclude: ["ci/**"]
output: out
extraLabels: {cluster: prod-eu}
grafana:
  url: https://grafana.example.test
  datasourceUid: prom-main
  folder: Platform SLOs
  path: /etc/grafana/dashboards/platform
dashboards:
  components: [postgres, redis]
alertmanager:
  pageReceiver: oncall-pagerduty
  ticketReceiver: team-tickets
  pagerdutyRoutingKeyFile: /run/secrets/pd-key
  ticketWebhookUrl: https://tickets.example.test/hook
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository mixing SLOs with other YAML (a compose file under ci/)."""
    shutil.copytree(ROOT / "slos", tmp_path / "slos")
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "docker-compose.yml").write_text("services:\n  web: {image: nginx}\n")
    (tmp_path / "sloctl.yaml").write_text(PROJECT)
    return tmp_path


def all_text(folder: Path) -> str:
    return "".join(p.read_text() for p in sorted(folder.rglob("*")) if p.is_file())


def test_the_committed_project_schema_is_the_one_the_settings_table_generates(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (ROOT / "docs" / "sloctl-project.schema.json").read_text() == schema_text()
    assert main(["schema", "--kind", "Project"]) == 0
    assert capsys.readouterr().out == schema_text()
    properties = json.loads(schema_text())["properties"]
    assert properties["grafana"]["properties"]["url"]["type"] == "string"
    assert properties["alertmanager"]["additionalProperties"] is False


def test_generate_with_a_project_file_writes_its_settings_and_no_loopback_url(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    assert main(["generate", "."]) == 0
    out = repo / "out"
    assert "127.0.0.1" not in all_text(out)
    am = yaml.safe_load((out / "alertmanager" / "sloctl.yml").read_text())
    receivers = {r["name"]: r for r in am["receivers"]}
    assert set(receivers) == {"oncall-pagerduty", "team-tickets"}
    assert receivers["oncall-pagerduty"]["pagerduty_configs"][0]["routing_key_file"] == "/run/secrets/pd-key"
    assert receivers["team-tickets"]["webhook_configs"][0]["url"] == "https://tickets.example.test/hook"
    assert "https://grafana.example.test/d/" in all_text(out / "alertmanager")
    dashboards = sorted(p.name for p in (out / "dashboards").glob("sloctl-component-*.json"))
    assert dashboards == ["sloctl-component-postgres.json", "sloctl-component-redis.json"]
    overview = json.loads((out / "dashboards" / "sloctl-overview.json").read_text())
    ds = next(v for v in overview["templating"]["list"] if v["type"] == "datasource")
    assert ds["current"]["value"] == "prom-main"
    provider = yaml.safe_load((out / "dashboards" / "provider.yaml").read_text())["providers"][0]
    assert (provider["folder"], provider["options"]["path"]) == (
        "Platform SLOs",
        "/etc/grafana/dashboards/platform",
    )
    assert "cluster: prod-eu" in (out / "rules" / "platform-api.yml").read_text()


def test_a_flag_wins_over_the_project_file(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    code = main(
        [
            "generate",
            ".",
            "-o",
            "elsewhere",
            "--grafana-url",
            "https://g2.example.test",
            "--extra-label",
            "cluster=dr",
        ]
    )
    assert code == 0 and not (repo / "out").exists()
    assert "https://g2.example.test/d/" in all_text(repo / "elsewhere" / "alertmanager")
    assert "cluster: dr" in (repo / "elsewhere" / "rules" / "platform-api.yml").read_text()


def test_a_project_file_without_the_urls_is_refused_rather_than_writing_loopback_ones(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "sloctl.yaml").write_text(
        "apiVersion: sloctl/v1\nkind: Project\noutput: out\nexclude: ['ci/**']\n"
    )
    assert main(["generate", str(repo)]) == 2
    err = capsys.readouterr().err
    assert "set grafana.url, alertmanager.ticketWebhookUrl" in err and "--grafana-url" in err
    assert main(["generate", str(repo), "--no-alertmanager", "-o", str(repo / "o")]) == 0
    assert "127.0.0.1" not in all_text(repo / "o")


def test_exclude_globs_let_a_repo_mix_slos_with_other_yaml_and_validate_reads_past_generated_files(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "sloctl.yaml").write_text(PROJECT.replace('exclude: ["ci/**"]\n', ""))
    assert main(["validate", str(repo)]) == 1
    assert "docker-compose.yml" in capsys.readouterr().err
    (repo / "sloctl.yaml").write_text(PROJECT)
    assert main(["generate", str(repo), "-o", str(repo)]) == 0  # outputs beside the SLOs
    capsys.readouterr()
    assert main(["validate", str(repo)]) == 0
    assert "valid: 15 SLO(s)" in capsys.readouterr().out
    assert main(["validate", str(repo), "--include", "slos/platform-api.yaml"]) == 0
    assert "in 1 file(s)" in capsys.readouterr().out
    assert main(["validate", str(repo), "--include", "slos/platfrom-api.yaml"]) == 1
    err = capsys.readouterr().err
    assert "holds no .yaml or .yml file the globs select (include ['slos/platfrom-api.yaml']" in err, err


def test_a_misspelt_project_setting_is_an_error_with_the_file_and_a_suggestion(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "sloctl.yaml").write_text(PROJECT.replace("  url:", "  ulr:"))
    assert main(["validate", str(repo)]) == 1
    err = capsys.readouterr().err
    assert "sloctl.yaml:7:3: grafana.ulr: unknown field (did you mean 'url'?)" in err


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (Path("/bin/ls").read_bytes(), "sloctl.yaml:1:1: file is binary (NUL bytes), not YAML"),
        (b"apiVersion: [\n", "sloctl.yaml:2:1: YAML syntax error"),
    ],
    ids=["binary", "not YAML"],
)
def test_a_project_file_that_is_not_yaml_is_one_error_line(
    content: bytes, said: str, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second line followed, "a project file holds one YAML document", which said nothing the
    first had not."""
    (repo / "sloctl.yaml").write_bytes(content)
    assert main(["validate", str(repo)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and said in lines[0] and lines[1] == "1 error(s) in 1 file(s)", lines


def test_every_wrong_value_of_a_project_file_is_an_error_at_its_line_in_validate_as_in_generate(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Validate said "valid" to a label generate refused (without a location), and a URL of 7
    or ftp:// went into the Alertmanager configuration."""
    wrong = (
        PROJECT.replace("{cluster: prod-eu}", "{bad-key: v}")
        .replace("url: https://grafana.example.test", "url: 7")
        .replace("ticketWebhookUrl: https://tickets.example.test/hook", "ticketWebhookUrl: ftp://x/hook")
        .replace("[postgres, redis]", "[postgres, redsi]")
    )
    (repo / "sloctl.yaml").write_text(wrong)
    for command in (["validate", str(repo)], ["generate", str(repo)]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert "sloctl.yaml:5:14: extraLabels: bad-key: " in err, err
        assert "sloctl.yaml:7:8: grafana.url: '7' is not an http:// or https:// URL with a host" in err
        assert "sloctl.yaml:12:15: dashboards.components: unknown component dashboard 'redsi'" in err
        assert "sloctl.yaml:17:21: alertmanager.ticketWebhookUrl: 'ftp://x/hook' is not an http" in err
        assert "4 error(s) in 1 file(s)" in err
    assert not (repo / "out").exists()


@pytest.mark.parametrize("port", ["0", "00", "70000", "x"])
def test_a_project_file_url_whose_port_no_server_listens_on_is_an_error_at_its_line_as_a_flags_is(
    port: str, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``grafana.url: http://…:0`` was taken (a link to port 0 in every page), while
    ``--grafana-url`` and the URL flags refused it; the same check says the same words."""
    wrong = PROJECT.replace("https://grafana.example.test", f"https://grafana.example.test:{port}").replace(
        "https://tickets.example.test/hook", f"https://tickets.example.test:{port}/hook"
    )
    (repo / "sloctl.yaml").write_text(wrong)
    said = "its port is not one a server listens on; give a port from 1 to 65535"
    for command in (["validate", str(repo)], ["generate", str(repo)]):
        assert main(command) == 1
        err = capsys.readouterr().err
        assert f"sloctl.yaml:7:8: grafana.url: 'https://grafana.example.test:{port}': {said}" in err, err
        assert (
            f"sloctl.yaml:17:21: alertmanager.ticketWebhookUrl: 'https://tickets.example.test:{port}/" in err
        )
        assert "2 error(s) in 1 file(s)" in err and "Traceback" not in err
    assert not (repo / "out").exists()


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--grafana-url", "not a url"], "--grafana-url: 'not a url' is not an http:// or https:// URL"),
        # taken before, and written into every notification's dashboard link
        (
            ["--grafana-url", "http://g.example.test:0"],
            "--grafana-url: 'http://g.example.test:0': its port is not one a server listens on; give a"
            " port from 1 to 65535",
        ),
        (
            ["--alertmanager-ticket-webhook-url", "http://[::1/"],
            "--alertmanager-ticket-webhook-url: 'http://[::1/' is not a URL",
        ),
        (["--dashboards-components", "foo"], "--dashboards-components: unknown component dashboard 'foo'"),
        (["--disable-alerts"], "--disable-alerts applies to --compat sloth only"),
        (
            ["--compat", "sloth", "--flavour", "operator"],
            "--compat sloth writes Sloth's plain rule groups only",
        ),
        (["--namespace", "obs"], "--namespace applies to --flavour operator only"),
        (
            ["--operator-label", "a=b", "--flavour", "mimir"],
            "--operator-label applies to --flavour operator only",
        ),
        (["--flavour", "operator", "--namespace", "Bad Namespace!"], "a Kubernetes namespace is lower-case"),
        # the PrometheusRule was written with it, and the API server refused it when applied
        (
            ["--flavour", "operator", "--operator-label", "team=site reliability"],
            "--operator-label team=site reliability: its value 'site reliability' is not a Kubernetes label",
        ),
        (
            ["--flavour", "operator", "--operator-label", "bad key=x"],
            "--operator-label bad key=x: its name 'bad key' is not a Kubernetes label name",
        ),
        (
            ["--flavour", "operator", "--operator-label", "Example.com/team=sre"],
            "its prefix 'Example.com' is not a DNS subdomain such as example.com",
        ),
        # an empty value read as "not set": the default receiver was written without a word
        (["--alertmanager-page-receiver", ""], "--alertmanager-page-receiver: empty; give a value"),
        (
            ["--grafana-folder", " "],
            "--grafana-folder: empty; give a value, or leave the flag out for the default",
        ),
    ],
)
def test_generate_refuses_a_flag_value_or_combination_that_would_be_written_wrong_or_ignored(
    repo: Path, flags: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", str(repo), "-o", str(repo / "o"), *flags]) == 2
    assert said in capsys.readouterr().err
    assert not (repo / "o").exists()


def test_config_names_a_project_file_elsewhere(repo: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "conf" / "project.yaml"
    elsewhere.parent.mkdir()
    (repo / "sloctl.yaml").rename(elsewhere)
    assert main(["validate", str(repo / "slos"), "--config", str(elsewhere)]) == 0
    assert main(["validate", str(repo / "slos"), "--config", str(tmp_path / "missing.yaml")]) == 1


def test_slos_are_read_from_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (ROOT / "slos" / "platform-api.yaml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["validate", "-"]) == 0
    assert "valid: 9 SLO(s) of 1 service(s) in 1 file(s)" in capsys.readouterr().out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from sloctl import __version__

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"sloctl {__version__}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_commands_help_says_what_it_does_and_its_exit_codes_in_plain_text(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: sloctl")
    for markup in ("``", ":func:", ":class:", ":mod:"):
        assert markup not in text, (command, markup)
    description = text.split("\n\n")[1]
    assert description.startswith(f"sloctl {command}"), (command, description)
    assert "Exit codes: 0 " in text, command


def test_every_setting_has_a_flag_on_generate(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    # A table (the teams' receivers) is a map of maps: the project file's alone, named in the help.
    assert all((s.key if s.kind == "table" else s.flag) in text for s in SETTINGS)
