"""Config loading: a valid file becomes a frozen model; every mistake is reported at file:line."""

from __future__ import annotations

import dataclasses
import re
import ssl
import subprocess
from pathlib import Path

import pytest

from sloctl.collector.config import (
    ConnectionMode,
    Kind,
    SecretRef,
    TlsContexts,
    check_config,
    check_tls_files,
    load_config,
    load_config_text,
    resolve_secrets,
)
from sloctl.collector.probes.http import HttpProbe
from sloctl.collector.runner import build_probe
from sloctl.durations import DurationError, parse_seconds
from sloctl.errors import SpecErrors
from tests.fixtures.certs import issue_cert, make_ca

ROOT = Path(__file__).resolve().parents[2]

HEAD = "apiVersion: sloctl/v1\nkind: CollectorConfig\n"


def _err(text: str) -> SpecErrors:
    with pytest.raises(SpecErrors) as info:
        load_config_text(HEAD + text, "t.yaml")
    return info.value


def test_the_shipped_targets_file_loads_and_keeps_every_password_out_of_it() -> None:
    config = load_config(ROOT / "collector" / "targets.yaml")
    kinds = {t.kind for t in config.targets}
    assert kinds == set(Kind)
    for t in config.targets:
        assert t.timeout < t.interval
        if t.password is not None:
            assert isinstance(t.password, SecretRef)


def test_a_full_target_becomes_a_frozen_model_with_defaults_applied() -> None:
    config = load_config_text(
        HEAD
        + """
defaults: {interval: 2s, connections: [cold, warm]}
targets:
  - {name: pg, kind: postgres, port: 5433, user: u, database: d, password: {env: PGPW}, canary: true}
  - {name: api, kind: http, url: "http://127.0.0.1:8080/x", expect: {status: [200, 204], linkHeader: true}}
""",
        "t.yaml",
    )
    pg, api = config.targets
    assert (pg.kind, pg.port, pg.interval, pg.timeout) == (Kind.POSTGRES, 5433, 2.0, 1.6)
    assert pg.connections == (ConnectionMode.COLD, ConnectionMode.WARM)
    assert pg.password == SecretRef("env", "PGPW")
    assert api.http is not None and api.http.expect_status == frozenset({200, 204}) and api.http.link_header
    assert (api.host, api.port) == ("127.0.0.1", 8080)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pg.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "location", "fragment"),
    [
        ("targets:\n  - {name: a, kind: redis, interval: 1s, timeout: 1s}\n", "t.yaml:4", "shorter than"),
        ("targets:\n  - name: a\n    kind: cassandra\n", "t.yaml:5", "kind 'cassandra'"),
        (
            "targets:\n  - name: a\n    kind: redis\n    pasword: {env: X}\n",
            "t.yaml:6",
            "unknown field 'pasword'",
        ),
        ("targets:\n  - name: a\n    kind: redis\n    password: hunter2\n", "t.yaml:6", "literal passwords"),
        ("targets:\n  - name: A!\n    kind: redis\n", "t.yaml:4", "must match"),
        ("targets:\n  - name: a\n    kind: redis\n    host: 10.1.2.3\n", "t.yaml:4", "outside allowNetworks"),
        ("targets:\n  - {name: a, kind: redis}\n  - {name: a, kind: redis}\n", "t.yaml:5", "duplicate"),
        ("targets:\n  - {name: a, kind: postgres}\n", "t.yaml:4", "needs 'user' and 'database'"),
        ("targets:\n  - {name: a, kind: http, url: 'ftp://x/'}\n", "t.yaml:4", "http://"),
        ("targets: [\n", "t.yaml:4", "YAML syntax error"),
        ("listen: nowhere\n", "t.yaml:3", "HOST:PORT"),
        ("listen: '127.0.0.1:٩٤٦٥'\n", "t.yaml:3", "a port 0..65535 in ASCII digits"),
        ("allowNetworks: [not-a-net]\n", "t.yaml:3", "allowNetworks"),
        ("targets:\n  - {name: a, kind: redis, interval: soon}\n", "t.yaml:4", "duration"),
        (
            "targets:\n  - {name: a, kind: redis, interval: 0.001}\n",
            "t.yaml:4",
            "targets[0].interval: interval 0.001s is shorter than 1s",
        ),
        (
            "defaults: {interval: 500ms}\ntargets:\n  - {name: a, kind: redis}\n",
            "t.yaml:3",
            "defaults.interval",
        ),
        (
            "targets:\n  - {name: a, kind: http, url: 'http://127.0.0.1/', expect: {method: YE ET}}\n",
            "t.yaml:4",
            "targets[0].expect.method: method 'YE ET' is not one of GET, HEAD",
        ),
        (
            "targets:\n  - {name: a, kind: http, url: 'http://127.0.0.1/',"
            " expect: {method: HEAD, status: 404}}\n",
            "t.yaml:4",
            "targets[0].expect.method: HEAD answers carry no body, so the problem+json check of an"
            " expected 404",
        ),
        (
            "otlp: {endpoint: 'ftp://127.0.0.1:4318'}\ntargets:\n  - {name: a, kind: redis}\n",
            "t.yaml:3",
            "otlp.endpoint: 'ftp://127.0.0.1:4318' must be an absolute URL: http:// or https://",
        ),
        (
            "otlp: {endpoint: 'http://127.0.0.1:99999'}\ntargets:\n  - {name: a, kind: redis}\n",
            "t.yaml:3",
            "otlp.endpoint: 'http://127.0.0.1:99999' is not a valid URL: Port out of range",
        ),
        ("targets: []\n", "t.yaml:3", "targets: nothing to probe"),
        ("serviceName: x\n", "t.yaml:1", "nothing to probe"),
    ],
)
def test_mistakes_are_reported_at_file_and_line(text: str, location: str, fragment: str) -> None:
    err = _err(text)
    (first, *_) = err.errors
    assert f"{first.location.file}:{first.location.line}" == location, str(err)
    assert fragment in str(err)


def test_a_tls_server_name_on_a_mongodb_target_is_refused_at_its_key_not_ignored() -> None:
    """pymongo verifies the certificate against the address it connects to (the checked IP) and
    takes no other name: a serverName was silently ignored, and the run then failed ``tls``."""
    err = _err("targets:\n  - name: docs\n    kind: mongodb\n    tls: {enabled: true, serverName: db.test}\n")
    (only,) = err.errors
    assert (only.location.line, only.path) == (6, "targets[0].tls.serverName"), str(err)
    assert only.message.startswith("target 'docs': serverName is not supported for kind mongodb"), str(err)
    assert "subjectAltName IP" in only.message
    accepted = load_config_text(
        HEAD + "targets:\n  - {name: cache, kind: redis, tls: {serverName: db.test}}\n", "t.yaml"
    )
    assert accepted.targets[0].tls.server_name == "db.test"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:99999/", "Port out of range 0-65535"),
        ("http://127.0.0.1:abc/", "Port could not be cast to integer value as 'abc'"),
        ("http://[::1/", "Invalid IPv6 URL"),
    ],
)
def test_a_url_with_a_bad_port_or_ipv6_address_is_an_error_at_its_key(url: str, why: str) -> None:
    """urlsplit's ValueError used to escape as a traceback."""
    err = _err(f'targets: [{{name: api, kind: http, url: "{url}"}}]\n')
    assert str(err) == (
        f"t.yaml:3:35: targets[0].url: {url!r} is not a valid URL: {why}; expected http:// or https://"
    )


def test_an_otlp_endpoint_needs_the_scheme_that_says_plaintext_or_tls() -> None:
    """A gRPC endpoint written HOST:PORT was accepted and exported with TLS, which the plaintext
    receivers of collector/otelcol.yaml refuse: check said OK and no span ever left (the exporter
    retried failed handshakes). ``test_otlp_export`` proves ``http://`` on a plaintext receiver."""
    target = "targets:\n  - {name: a, kind: redis}\n"
    grpc = load_config_text(
        HEAD + "otlp: {endpoint: 'http://127.0.0.1:4317', protocol: grpc}\n" + target, "t.yaml"
    )
    assert grpc.otlp is not None and grpc.otlp.host_port == ("127.0.0.1", 4317)
    err = _err("otlp: {endpoint: '127.0.0.1:4317', protocol: grpc}\n" + target)
    assert str(err) == (
        "t.yaml:3:8: otlp.endpoint: '127.0.0.1:4317' has no scheme: write http://127.0.0.1:4317 for "
        "plaintext gRPC (the receivers of collector/otelcol.yaml) or https://127.0.0.1:4317 for TLS"
    )
    err = _err("otlp: {endpoint: '127.0.0.1:4318'}\n" + target)
    assert "otlp.endpoint: '127.0.0.1:4318' must be an absolute URL: http:// or https://" in str(err)


def test_ca_files_are_loaded_at_check_time_and_a_bad_one_is_named_at_its_key(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    config = load_config_text(
        HEAD
        + f"""targets:
  - {{name: a, kind: redis, tls: {{caFile: {tmp_path / "absent.pem"}}}}}
  - {{name: b, kind: http, url: 'https://127.0.0.1/', tls: {{caFile: {garbage}}}}}
  - {{name: c, kind: redis}}
""",
        "t.yaml",
    )
    with pytest.raises(SpecErrors) as info:
        check_tls_files(config)
    first, second = str(info.value).splitlines()
    assert first.startswith("t.yaml:4:34: targets[0].tls.caFile: cannot load CA file"), first
    assert first.endswith("absent.pem: No such file or directory"), first
    assert second.startswith("t.yaml:5:60: targets[1].tls.caFile: cannot load CA file"), second
    assert "not a PEM file of CA certificates" in second, second
    check_tls_files(dataclasses.replace(config, targets=config.targets[2:]))  # no CA file: nothing to load


def test_probes_of_one_tls_configuration_share_one_context_and_others_do_not(tmp_path: Path) -> None:
    """Each probe loaded its CA bundle (21 ms of CPU for Debian's): 200 HTTPS targets took 8 s
    to start. One context per CA file, client certificate and key, verification and the kind's
    ALPN; ``serverName`` is per connection, not part of it. Every http probe gets its target's."""
    ca, other = make_ca(tmp_path, "ca")[0], make_ca(tmp_path, "other")[0]
    cert, key = issue_cert(tmp_path, make_ca(tmp_path, "client-ca"), "client", client=True)
    https = "kind: http, url: 'https://127.0.0.1:8443/'"
    config = load_config_text(
        HEAD
        + f"""targets:
  - {{name: a, {https}, tls: {{caFile: {ca}}}}}
  - {{name: b, {https}, tls: {{caFile: {ca}, serverName: api.test}}}}
  - {{name: c, {https}, tls: {{caFile: {other}}}}}
  - {{name: d, {https}, tls: {{caFile: {ca}, insecureSkipVerify: true}}}}
  - {{name: e, {https}, tls: {{caFile: {ca}, certFile: {cert}, keyFile: {key}}}}}
  - {{name: f, kind: redis, tls: {{caFile: {ca}}}}}
  - {{name: g, {https}}}
  - {{name: h, kind: http, url: 'http://127.0.0.1:8080/'}}
""",
        "t.yaml",
    )
    tls = TlsContexts()
    a, b, c, d, e, f, g, h = (tls.context(t) for t in config.targets)
    assert a is b and g is h  # serverName, and the URL's scheme, are no part of a context
    assert len({id(x) for x in (a, c, d, e, f, g)}) == 6
    assert (a.verify_mode, d.verify_mode, d.check_hostname) == (ssl.CERT_REQUIRED, ssl.CERT_NONE, False)
    probes = [build_probe(t, ConnectionMode.COLD, {}, config, tls) for t in config.targets]
    for probe, target in zip(probes, config.targets, strict=True):
        if isinstance(probe, HttpProbe):
            assert probe._ssl is tls.context(target), target.name  # the probe's own, private


def test_the_check_loads_each_tls_configuration_once_and_hands_it_to_the_probes(tmp_path: Path) -> None:
    """``sloctl collector run`` checks the config, then builds its probes: both loaded every
    file, once per target. The check's contexts are the probes' now: with the CA file gone
    after the check, the contexts it loaded still serve, where a new load finds no file."""
    ca = make_ca(tmp_path, "ca")[0]
    path = tmp_path / "c.yaml"
    path.write_text(
        HEAD
        + "targets:\n"
        + "".join(
            f"  - {{name: api{i}, kind: http, url: 'https://127.0.0.1:{8443 + i}/', tls: {{caFile: {ca}}}}}\n"
            for i in range(20)
        )
    )
    tls = TlsContexts()
    config = check_config(path, {}, tls)
    ca.unlink()
    assert len({id(tls.context(t)) for t in config.targets}) == 1
    with pytest.raises(FileNotFoundError):
        TlsContexts().context(config.targets[0])
    with pytest.raises(SpecErrors, match=r"targets\[19\]\.tls\.caFile: cannot load CA file"):
        check_config(path, {})


def test_a_client_certificate_is_loaded_at_check_time_with_its_key_and_named_at_its_key(
    tmp_path: Path,
) -> None:
    """tls.certFile and tls.keyFile (mutual TLS): a missing file, a key that is not the
    certificate's, an encrypted key (OpenSSL would ask for its passphrase on the terminal) are
    each an error at the field; the pair only together; for every kind."""
    ca = make_ca(tmp_path, "ca")
    cert, key = issue_cert(tmp_path, ca, "client", client=True)
    other_key = issue_cert(tmp_path, ca, "other", client=True)[1]
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "pass:secret", "-out", str(encrypted)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    config = load_config_text(
        HEAD
        + f"""targets:
  - {{name: a, kind: redis, tls: {{certFile: {tmp_path / "absent.pem"}, keyFile: {key}}}}}
  - {{name: b, kind: redis, tls: {{certFile: {cert}, keyFile: {other_key}}}}}
  - {{name: c, kind: http, url: 'https://127.0.0.1/', tls: {{certFile: {cert}, keyFile: {encrypted}}}}}
  - {{name: d, kind: redis, tls: {{certFile: {cert}, keyFile: {key}}}}}
""",
        "t.yaml",
    )
    with pytest.raises(SpecErrors) as info:
        check_tls_files(config)
    absent, mismatch, passphrase = str(info.value).splitlines()
    assert absent.startswith("t.yaml:4:34: targets[0].tls.certFile: cannot read client certificate"), absent
    assert absent.endswith("absent.pem: No such file or directory"), absent
    assert mismatch.startswith("t.yaml:5:34: targets[1].tls.certFile: cannot load client certificate"), (
        mismatch
    )
    assert "KEY_VALUES_MISMATCH" in mismatch, mismatch
    assert passphrase.startswith("t.yaml:6:"), passphrase
    assert f": targets[2].tls.keyFile: cannot load client key {encrypted}: " in passphrase, passphrase
    assert passphrase.endswith(": it is encrypted: give keyFile a key without a passphrase"), passphrase
    check_tls_files(dataclasses.replace(config, targets=config.targets[3:]))  # a good pair loads
    err = str(
        _err(
            f"""targets:
  - {{name: a, kind: redis, tls: {{certFile: {cert}}}}}
  - {{name: b, kind: mongodb, tls: {{keyFile: {key}}}}}
"""
        )
    ).splitlines()
    needs, needs_cert = err
    assert needs == (
        "t.yaml:4:34: targets[0].tls.certFile: target 'a': certFile needs keyFile:"
        " a client certificate is given with its key"
    ), needs
    assert needs_cert.startswith("t.yaml:5:36: targets[1].tls.keyFile: target 'b': keyFile needs certFile"), (
        needs_cert
    )


def test_every_kind_takes_a_client_certificate(tmp_path: Path) -> None:
    """mongodb too, since stop 54 (tests/collector/test_mongodb_client_cert.py); it refused them."""
    cert, key = issue_cert(tmp_path, make_ca(tmp_path, "ca"), "client", client=True)
    for kind in ("postgres, user: u, database: d", "pgbouncer, user: u, database: d", "mongodb", "redis"):
        target = f"{{name: e, kind: {kind}, tls: {{certFile: {cert}, keyFile: {key}}}}}"
        loaded = load_config_text(HEAD + f"targets:\n  - {target}\n", "t.yaml")
        check_tls_files(loaded)
        assert (loaded.targets[0].tls.cert_file, loaded.targets[0].tls.key_file) == (str(cert), str(key))


def test_every_shape_mistake_is_reported_at_once_each_at_its_line_and_column() -> None:
    err = _err("bogus: 1\ntargets:\n  - name: a\n    kind: cassandra\n    port: 99999\n    hots: x\n")
    assert str(err).splitlines() == [
        "t.yaml:3:1: bogus: unknown field 'bogus'; known fields: apiVersion, kind, listen,"
        " allowNonLoopbackListen, allowNetworks, otlp, debugTargets, debugHistory, serviceName,"
        " defaults, targets",
        "t.yaml:6:11: targets[0].kind: kind 'cassandra' is not one of postgres, pgbouncer, redis,"
        " mongodb, http",
        "t.yaml:7:11: targets[0].port: must be between 1 and 65535",
        "t.yaml:8:5: targets[0].hots: unknown field 'hots' (did you mean 'host'?)",
    ]


def test_wrong_api_version_is_an_error() -> None:
    with pytest.raises(SpecErrors, match="apiVersion"):
        load_config_text("apiVersion: v2\nkind: CollectorConfig\n", "t.yaml")


def test_widening_the_allow_list_admits_other_addresses() -> None:
    config = load_config_text(
        HEAD + "allowNetworks: ['10.0.0.0/8']\ntargets:\n  - {name: a, kind: redis, host: 10.1.2.3}\n",
        "t.yaml",
    )
    assert config.targets[0].host == "10.1.2.3"


def test_intervals_and_timeouts_read_the_one_duration_grammar() -> None:
    assert parse_seconds("500ms") == 0.5
    assert parse_seconds("10s") == 10.0
    assert parse_seconds("1m") == 60.0
    assert parse_seconds(3) == 3.0
    for bad in ("0s", "-1s", "10", True, "1.5s", "1s1m"):
        with pytest.raises(DurationError):
            parse_seconds(bad)
    config = load_config_text(
        HEAD + "targets:\n  - {name: a, kind: redis, interval: 1h30m, timeout: 1m30s500ms}\n", "t.yaml"
    )
    assert (config.targets[0].interval, config.targets[0].timeout) == (5400.0, 90.5)


def test_secrets_resolve_from_env_and_file_and_missing_ones_name_the_target_not_the_value(
    tmp_path: Path,
) -> None:
    pwfile = tmp_path / "pw"
    pwfile.write_text("from-file\n")
    config = load_config_text(
        HEAD
        + f"""targets:
  - {{name: a, kind: redis, password: {{env: A_PW}}}}
  - {{name: b, kind: redis, password: {{file: {pwfile}}}}}
""",
        "t.yaml",
    )
    assert resolve_secrets(config, {"A_PW": "from-env"}) == {
        ("a", "password"): "from-env",
        ("b", "password"): "from-file",
    }
    with pytest.raises(SpecErrors, match="A_PW is not set") as info:
        resolve_secrets(config, {})
    # at the reference's own key (the target's line before)
    assert [(str(e.location), e.path) for e in info.value.errors] == [
        ("t.yaml:4:39", "targets[0].password.env")
    ]


MANY_MISTAKES = """\
apiVersion: sloctl/v1
kind: CollectorConfig
listen: {listen}
allowNetworks: [{networks}]
targets:
  - name: cache
    kind: redis
    url: http://127.0.0.1:6379/
    interval: 0.001
  - name: api
    kind: http
    url: ftp://127.0.0.1/
    interval: 5s
    timeout: 10s
  - name: api
    kind: http
    url: http://10.9.9.9:8080/
  - name: db
    kind: postgres
    user: u
    database: d
    password: {{env: SLOCTL_TEST_NEVER_SET}}
"""
#: the mistakes every variant holds: (line:column, field)
MISTAKES = [
    ("8:5", "targets[0].url"),  # a field of http on redis
    ("9:5", "targets[0].interval"),
    ("12:5", "targets[1].url"),  # the scheme
    ("14:5", "targets[1].timeout"),
    ("15:5", "targets[2]"),  # the duplicate name
    ("22:16", "targets[3].password.env"),
]


@pytest.mark.parametrize(
    ("listen", "networks", "more"),
    [
        ("nonsense", "not-a-network", [("3:1", "listen"), ("4:1", "allowNetworks")]),
        # a listen address off loopback, and targets outside the allow-list, at each target
        ("10.1.1.1:9465", "10.0.0.0/8", [("3:1", "listen"), ("6:5", ""), ("18:5", "")]),
    ],
)
def test_collector_check_reports_every_independent_mistake_in_one_run_each_at_its_key(
    listen: str,
    networks: str,
    more: list[tuple[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/collector.md: all at once, at the offending key (it took 7 runs to see 10 of them)."""
    from sloctl.cli.main import main

    monkeypatch.delenv("SLOCTL_TEST_NEVER_SET", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text(MANY_MISTAKES.format(listen=listen, networks=networks))
    assert main(["collector", "check", "--config", str(config)]) == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    said = [
        re.fullmatch(rf"error: {re.escape(str(config))}:(\d+:\d+): ([\w.\[\]]+: )?.*", line) for line in lines
    ]
    found = sorted((m.group(1), (m.group(2) or "").removesuffix(": ")) for m in said if m)
    assert len(found) == len(lines) and found == sorted(MISTAKES + more), lines


def test_a_listen_or_otlp_name_that_does_not_resolve_is_an_error_at_its_key(tmp_path: Path) -> None:
    """The names in ``listen`` and the OTLP endpoint are resolved by ``check`` (and ``run``): one
    that is not in /etc/hosts (``.invalid``: no DNS server is asked while the allow-list is
    loopback) is named at its key, not at line 1, and the hint says which switch to set."""
    config = tmp_path / "c.yaml"
    config.write_text(
        f"{HEAD}listen: nowhere.invalid:9465\notlp: {{endpoint: 'http://traces.invalid:4318'}}\n"
        "targets:\n  - {name: cache, kind: redis, port: 6379}\n"
    )
    with pytest.raises(SpecErrors) as caught:
        check_config(config, {})
    errors = caught.value.errors
    assert [(str(e.location), e.path) for e in errors] == [
        (f"{config}:3:1", "listen"),
        (f"{config}:4:8", "otlp.endpoint"),
    ]
    assert "or set allowNonLoopbackListen: true in the collector config" in errors[0].message
    assert "or set allowNonLoopback: true under otlp in the collector config" in errors[1].message


@pytest.mark.parametrize(
    ("host", "said"),
    [
        ("''", "host '' is not a host name or an IP address"),
        (
            "'127.0.0.1:6379'",
            "host '127.0.0.1:6379' is not a host name or an IP address; put the port under port: 6379",
        ),
        ("' db.local'", "host ' db.local' is not a host name or an IP address"),
        ("'db local'", "host 'db local' is not a host name or an IP address"),
    ],
)
def test_a_host_that_is_neither_a_name_nor_an_address_is_an_error_at_its_key(host: str, said: str) -> None:
    """Such a host passed ``collector check`` and then failed every run with reason ``dns``."""
    with pytest.raises(SpecErrors) as caught:
        load_config_text(f"{HEAD}targets:\n  - {{name: cache, kind: redis, host: {host}}}\n", "c.yaml")
    assert [(str(e.location), e.path, e.message) for e in caught.value.errors] == [
        ("c.yaml:4:32", "targets[0].host", said)
    ]


def test_host_names_and_ip_addresses_of_every_form_are_accepted() -> None:
    hosts = ["127.0.0.1", "'::1'", "'[::1]'", "localhost", "db-1.internal.", "redis_primary.svc"]
    hosts.append("'fe80::1%lo'")  # with its zone
    text = f"{HEAD}allowNetworks: ['127.0.0.0/8', '::1/128', 'fe80::/10']\ntargets:\n" + "".join(
        f"  - {{name: t{i}, kind: redis, host: {h}}}\n" for i, h in enumerate(hosts)
    )
    assert [t.host for t in load_config_text(text, "c.yaml").targets] == [h.strip("'") for h in hosts]


@pytest.mark.parametrize("userinfo", ["probe:hunter2-url@", "probe@", ":hunter2-url@"])
def test_credentials_in_an_http_url_are_refused_without_being_echoed(userinfo: str) -> None:
    """A password never lives in the file: ``user:password@`` in a URL passed ``check``, and the
    probe sent it to the API as Basic auth on every run."""
    url = f"http://{userinfo}127.0.0.1:8080/v1"
    with pytest.raises(SpecErrors) as caught:
        load_config_text(f"{HEAD}targets:\n  - {{name: api, kind: http, url: '{url}'}}\n", "c.yaml")
    (error,) = caught.value.errors
    assert (str(error.location), error.path) == ("c.yaml:4:29", "targets[0].url")
    assert "credentials in the URL" in error.message
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"\xff\xfe\x00pw\n", "password file {path} is not UTF-8 text"),  # was a traceback
        (b"", "password file {path} has no password on its first line"),
        (b"\nhunter2\n", "password file {path} has no password on its first line"),
    ],
)
def test_a_password_file_that_holds_no_password_is_an_error_at_its_key(
    content: bytes, said: str, tmp_path: Path
) -> None:
    path = tmp_path / "pw"
    path.write_bytes(content)
    config = load_config_text(f"{HEAD}targets:\n  - {{name: r, kind: redis, password: {{file: '{path}'}}}}\n")
    with pytest.raises(SpecErrors) as caught:
        resolve_secrets(config, {})
    assert [(e.path, e.message) for e in caught.value.errors] == [
        ("targets[0].password.file", f"target 'r': {said.format(path=path)}")
    ]


def test_a_password_file_saved_with_a_byte_order_mark_gives_the_password_without_it(tmp_path: Path) -> None:
    """Windows editors (and PowerShell's ``Out-File``) start UTF-8 text with U+FEFF: it became the
    password's first character, check said OK and every run failed ``auth``."""
    path = tmp_path / "pw"
    path.write_bytes("\ufeffhunter2\r\n".encode())
    config = load_config_text(f"{HEAD}targets:\n  - {{name: r, kind: redis, password: {{file: '{path}'}}}}\n")
    assert resolve_secrets(config, {}) == {("r", "password"): "hunter2"}


def test_an_empty_environment_variable_is_not_a_password() -> None:
    config = load_config_text(f"{HEAD}targets:\n  - {{name: r, kind: redis, password: {{env: RPW}}}}\n")
    with pytest.raises(SpecErrors, match="target 'r': environment variable RPW is empty"):
        resolve_secrets(config, {"RPW": ""})


def test_a_timeout_from_defaults_not_shorter_than_a_targets_interval_says_where_it_comes_from() -> None:
    """The target has no ``timeout`` key: the message named one it could not find."""
    text = f"{HEAD}defaults: {{timeout: 5s}}\ntargets:\n  - {{name: r, kind: redis, interval: 2s}}\n"
    with pytest.raises(SpecErrors) as caught:
        load_config_text(text, "c.yaml")
    assert [(str(e.location), e.path, e.message) for e in caught.value.errors] == [
        (
            "c.yaml:5:5",
            "targets[0].timeout",
            "timeout (5s, from defaults.timeout) must be shorter than the interval (2s): give this target a"
            " shorter timeout, or shorten defaults.timeout",
        )
    ]
