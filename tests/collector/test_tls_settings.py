"""A target's ``tls`` settings that its other settings would make the probe ignore are an error at
their key: a probe that connects in plaintext while its file names a CA or a client certificate
is what the file's reader least expects."""

from __future__ import annotations

import pytest

from sloctl.collector.config import load_config_text
from sloctl.errors import SpecErrors

HEAD = "apiVersion: sloctl/v1\nkind: CollectorConfig\ntargets:\n"


def _only_error(target: str) -> tuple[int, str, str]:
    with pytest.raises(SpecErrors) as info:
        load_config_text(HEAD + target, "t.yaml")
    (only,) = info.value.errors
    assert only.location is not None
    return only.location.line, only.path, only.message


#: what each kind needs besides its name and tls
_REQUIRED = {
    "postgres": ", user: u, database: d",
    "pgbouncer": ", user: u, database: d",
    "redis": "",
    "mongodb": "",
}
_IGNORED = [
    ("{enabled: false, caFile: ca.pem}", "caFile"),
    ("{enabled: false, certFile: c.pem, keyFile: c.key}", "certFile, keyFile"),
    ("{enabled: false, serverName: db.test, insecureSkipVerify: true}", "serverName, insecureSkipVerify"),
]


@pytest.mark.parametrize(
    ("kind", "tls", "named"),
    [
        (kind, tls, named)
        for kind in _REQUIRED
        for tls, named in _IGNORED
        # mongodb refuses a client certificate and serverName at their own keys (test_config.py)
        if kind != "mongodb" or named == "caFile"
    ],
)
def test_tls_settings_under_enabled_false_are_an_error_at_enabled(kind: str, tls: str, named: str) -> None:
    line, path, message = _only_error(f"  - {{name: db, kind: {kind}{_REQUIRED[kind]}, tls: {tls}}}\n")
    assert (line, path) == (4, "targets[0].tls.enabled")
    assert message == (
        f"target 'db': tls.enabled is false, so {named} would be ignored and the probe would connect"
        " in plaintext: set enabled: true, or remove them"
    )


def test_tls_settings_on_an_http_url_are_an_error_at_tls() -> None:
    line, path, message = _only_error(
        "  - name: api\n    kind: http\n    url: http://127.0.0.1:8080/healthz\n    tls: {caFile: ca.pem}\n"
    )
    assert (line, path) == (7, "targets[0].tls")
    assert message.startswith("target 'api': the URL is http://, so tls caFile would be ignored")
    assert message.endswith("use an https:// URL, or remove tls")


def test_tls_enabled_false_on_an_https_url_is_an_error_at_enabled() -> None:
    line, path, message = _only_error(
        "  - {name: api, kind: http, url: 'https://127.0.0.1:8443/', tls: {enabled: false}}\n"
    )
    assert (line, path) == (4, "targets[0].tls.enabled")
    assert "kind http takes TLS from the URL, and it is https://" in message


@pytest.mark.parametrize(
    "target",
    [
        "{name: db, kind: redis, tls: {enabled: false}}",
        "{name: db, kind: postgres, user: u, database: d, tls: {caFile: ca.pem}}",
        "{name: api, kind: http, url: 'http://127.0.0.1:8080/', tls: {enabled: false}}",
        "{name: api, kind: http, url: 'https://127.0.0.1:8443/', tls: {caFile: ca.pem}}",
    ],
)
def test_consistent_tls_settings_load(target: str) -> None:
    config = load_config_text(HEAD + f"  - {target}\n", "t.yaml")
    (loaded,) = config.targets
    assert loaded.tls.enabled == ("https" in target or "caFile" in target)


def test_tls_enabled_on_an_http_url_is_an_error_at_tls() -> None:
    line, path, message = _only_error(
        "  - {name: api, kind: http, url: 'http://127.0.0.1:8080/', tls: {enabled: true}}\n"
    )
    assert (line, path) == (4, "targets[0].tls")
    assert message.startswith("target 'api': the URL is http://, so tls enabled: true would be ignored")
