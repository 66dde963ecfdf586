"""``sloctl gate`` and ``status`` against a real Prometheus that asks for basic authentication
(its ``--web.config.file``) and answers under a path prefix (``--web.route-prefix``), as one
behind a company's reverse proxy does: the credentials go in the URL, and each way of getting
the URL wrong says what to do rather than "without a JSON body (invalid JSON)". And behind a
proxy that takes a bearer token (as one in front of Mimir or Thanos does), the token given in a
file, ``--prometheus-token-file``."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.servers._process import start_on_free_port
from sloctl.servers.prometheus import PrometheusServer
from sloctl.shelf import PrometheusEngine
from tests.fixtures.prometheus_proxy import prometheus_proxy
from tests.fixtures.stub_http import Answer, serve

PASSWORD = "s3cret-in-url"
#: bcrypt of PASSWORD at the lowest cost (4), which Prometheus' web config reads.
HASH = "$2b$04$SvkK/hnT/0ci0joSAMlx1OKKCptJILErJVg0DW9j0x1qGAy6nrc/y"
PREFIX = "/prom"
TOKEN = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjaSJ9.sig-of-the-proxy"


class _GuardedPrometheus(PrometheusServer):
    """Ready once ``/prom/-/ready`` answers 200 to the user's credentials."""

    def _ready(self) -> bool:
        token = base64.b64encode(f"ci:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(
            f"{self.url}{PREFIX}/-/ready", headers={"Authorization": f"Basic {token}"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=1) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False


@pytest.fixture(scope="module")
def guarded(
    tmp_path_factory: pytest.TempPathFactory, prometheus_engine: PrometheusEngine
) -> Iterator[PrometheusServer]:
    tmp: Path = tmp_path_factory.mktemp("guarded")
    (tmp / "prometheus.yml").write_text("global:\n  evaluation_interval: 1s\nscrape_configs: []\n")
    (tmp / "web.yml").write_text(f"basic_auth_users:\n  ci: '{HASH}'\n")
    server = start_on_free_port(
        lambda port: _GuardedPrometheus(
            workdir=tmp,
            port=port,
            config=tmp / "prometheus.yml",
            data_dir=tmp / "data",
            extra_args=[f"--web.config.file={tmp / 'web.yml'}", f"--web.route-prefix={PREFIX}"],
            binary=str(prometheus_engine.prometheus),
        )
    )
    with server:
        yield server


def _run(capsys: pytest.CaptureFixture[str], command: str, url: str, *more: str) -> tuple[int, str]:
    code = main([command, "--prometheus", url, *more])
    captured = capsys.readouterr()
    said = captured.out + captured.err
    assert "Traceback" not in captured.err and PASSWORD not in said and TOKEN not in said
    return code, captured.err


def _with(url: str, userinfo: str, path: str = "") -> str:
    return url.replace("http://", f"http://{userinfo}@", 1) + path


@pytest.mark.slow
@pytest.mark.parametrize(("command", "unread"), [("gate", 3), ("status", 1)])
def test_credentials_in_the_url_and_the_path_prefix_read_it_and_each_mistake_says_what_to_do(
    guarded: PrometheusServer, capsys: pytest.CaptureFixture[str], command: str, unread: int
) -> None:
    # Read: it knows no SLO (no rules loaded), which only an answer of the API can say.
    code, err = _run(capsys, command, _with(guarded.url, f"ci:{PASSWORD}", PREFIX))
    assert code == 2 and "Prometheus knows no SLO" in err, err
    # A --time before the rules ran knows none either: the line says which time it read.
    code, err = _run(capsys, command, _with(guarded.url, f"ci:{PASSWORD}", PREFIX), "--time", "1767225600")
    assert code == 2 and "knows no SLO at --time 1767225600 (is it before the rules first ran?)" in err, err
    code, err = _run(capsys, command, guarded.url + PREFIX)
    assert code == unread and "answered 401 Unauthorized, not JSON: it asks for credentials" in err, err
    assert "http://user:password@host:port" in err
    code, err = _run(capsys, command, _with(guarded.url, "ci:wrong", PREFIX))
    assert code == unread and "the user and password in the URL were refused" in err, err
    code, err = _run(capsys, command, _with(guarded.url, f"ci:{PASSWORD}"))
    assert code == unread and "answered 404 Not Found, not JSON: no API at that path" in err, err
    assert "--web.route-prefix" in err
    # The query is not what failed: it is left out of these lines.
    assert "?query=" not in err


@pytest.mark.slow
@pytest.mark.parametrize(("command", "unread"), [("gate", 3), ("status", 1)])
def test_a_bearer_token_from_a_file_passes_an_authenticating_proxy_and_a_missing_one_is_named(
    guarded: PrometheusServer, capsys: pytest.CaptureFixture[str], command: str, unread: int, tmp_path: Path
) -> None:
    token_file, wrong_file = tmp_path / "token", tmp_path / "wrong"
    token_file.write_text(TOKEN + "\n")
    wrong_file.write_text("not-the-token")
    with prometheus_proxy(guarded.url, token=TOKEN, basic=("ci", PASSWORD)) as proxy:
        url = proxy.url + PREFIX
        code, err = _run(capsys, command, url, "--prometheus-token-file", str(token_file))
        assert code == 2 and "Prometheus knows no SLO" in err, err
        code, err = _run(capsys, command, url)
        assert (
            code == unread and "it asks for a bearer token; give it in a file, --prometheus-token-file" in err
        )
        code, err = _run(capsys, command, url, "--prometheus-token-file", str(wrong_file))
        assert code == unread and "the bearer token of --prometheus-token-file was refused" in err, err
        # validate --prometheus reads the histograms' buckets through the same client
        slos = str(Path(__file__).resolve().parents[2] / "slos")
        code, err = _run(capsys, "validate", url, slos, "--prometheus-token-file", str(token_file))
        assert code == 0 and "is not a bucket bound" not in err and "cannot read Prometheus" not in err, err
        code, err = _run(capsys, "validate", url, slos)
        assert code == 3 and "--prometheus-token-file" in err, err
        sent = [r.headers.get("Authorization") for r in proxy.requests]
    assert f"Bearer {TOKEN}" in sent and None in sent and "Bearer not-the-token" in sent


def test_a_token_file_that_holds_no_token_is_refused_at_its_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for content in (b"", b"\n  \n", b"two words", b"\xff\xfe", b"x" * 70_000):
        (tmp_path / "t").write_bytes(content)
        with pytest.raises(SystemExit) as exit_:
            main(
                ["gate", "--prometheus", "http://127.0.0.1:9", "--prometheus-token-file", str(tmp_path / "t")]
            )
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and "argument --prometheus-token-file:" in err, err
        assert "give a file holding one bearer token" in err and "Traceback" not in err


#: what a loopback HTTP service that is not Prometheus answers on every path: its own RFC 9457
#: 404 problem document, as the testbed API (and many an application) answers
PROBLEM_404 = Answer(
    json.dumps({"type": "about:blank", "title": "Not Found", "status": 404}).encode(),
    content_type="application/problem+json",
    status=404,
)


@pytest.mark.parametrize(("command", "unread"), [("gate", 3), ("status", 1)])
def test_a_url_of_another_service_that_answers_json_404_says_no_prometheus_api_is_there(
    capsys: pytest.CaptureFixture[str], command: str, unread: int
) -> None:
    """The API's own port given instead of Prometheus': its JSON 404 read "the answer to
    '<the query>' could not be read: its status is 404, not 'success', and it gives no error"."""
    with serve(lambda _request: PROBLEM_404) as service:
        url = service.url
        code, err = _run(capsys, command, url)
    assert code == unread, err
    assert f"{url}/api/v1/query answered 404 Not Found with JSON that is not Prometheus' API answer" in err
    assert "no Prometheus API at that path" in err and "--web.route-prefix" in err
    assert "its status is" not in err and "max by" not in err, err


#: JSON answers of 200 that no Prometheus API sends, and what the error says each is
NOT_THE_API = {
    "a health check's object": (b'{"ok": true}', "(no status field)"),
    "a list": (b"[1, 2]", "(a list, not an object with a status)"),
}


@pytest.mark.parametrize(("body", "said"), list(NOT_THE_API.values()), ids=list(NOT_THE_API))
@pytest.mark.parametrize(
    ("argv", "unread"),
    [(["gate"], 3), (["status"], 1), (["validate", str(Path(__file__).resolve().parents[2] / "slos")], 3)],
    ids=["gate", "status", "validate"],
)
def test_a_url_that_answers_200_with_json_that_is_not_the_api_says_so_and_what_the_flag_should_be(
    capsys: pytest.CaptureFixture[str], argv: list[str], unread: int, body: bytes, said: str
) -> None:
    """A service's ``{"ok": true}`` (a health check's answer on every path) read "could not be
    read: its status is None, not 'success', and it gives no error"."""
    with serve(lambda _request: Answer(body)) as service:
        code, err = _run(capsys, argv[0], service.url, *argv[1:])
    assert code == unread, err
    assert f"{service.url}/api/v1/" in err and "answered 200 OK with JSON that is not Prometheus' API" in err
    assert said in err, err
    assert "check that --prometheus is the server's base URL, such as http://127.0.0.1:9090" in err, err
    assert "its status is" not in err and "max by" not in err, err
