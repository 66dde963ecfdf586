"""``sloctl gate`` and ``status`` against a real Prometheus that asks for basic authentication
(its ``--web.config.file``) and answers under a path prefix (``--web.route-prefix``), as one
behind a company's reverse proxy does: the credentials go in the URL, and each way of getting
the URL wrong says what to do rather than "without a JSON body (invalid JSON)"."""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sloctl.cli.main import main
from sloctl.servers._process import start_on_free_port
from sloctl.servers.prometheus import PrometheusServer
from sloctl.shelf import PrometheusEngine

PASSWORD = "s3cret-in-url"
#: bcrypt of PASSWORD at the lowest cost (4), which Prometheus' web config reads.
HASH = "$2b$04$SvkK/hnT/0ci0joSAMlx1OKKCptJILErJVg0DW9j0x1qGAy6nrc/y"
PREFIX = "/prom"


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


def _run(capsys: pytest.CaptureFixture[str], command: str, url: str) -> tuple[int, str]:
    code = main([command, "--prometheus", url])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and PASSWORD not in captured.out + captured.err
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
