"""TLS on the HTTP probe against a real loopback HTTPS server with a throw-away certificate:
the handshake is its own phase, the certificate's notAfter is exported, and a certificate the
probe cannot verify is reason ``tls``. And a real PostgreSQL whose certificate names a host,
not its address: verified against ``tls.serverName``; a real plaintext Redis probed with TLS."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

from sloctl import contract
from sloctl.collector.runner import RunResult
from sloctl.servers import RedisServer, start_postgres
from tests.collector.helpers import collector_config, histories_when, quiet_collector, runs_of_each
from tests.fixtures.certs import issue_cert, make_ca, make_cert
from tests.fixtures.metrics import in_text


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        pass
    finally:
        writer.close()


def _run_https(
    cert: Path, key: Path, targets: Callable[[str], list[str]], client_ca: Path | None = None
) -> tuple[dict[str, list[RunResult]], str]:
    """A collector's first run of each target of ``targets(url)`` (flow mappings' insides) against a
    loopback HTTPS server presenting ``cert`` (and requiring a client certificate ``client_ca``
    signed, when given), and its /metrics then."""

    async def main() -> tuple[dict[str, list[RunResult]], str]:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        if client_ca is not None:
            ctx.load_verify_locations(client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        server = await asyncio.start_server(_handle, "127.0.0.1", 0, ssl=ctx)
        url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        config = collector_config(targets(url))
        collector = quiet_collector(config, "tls.yaml", logger="sloctl.collector.tlstest")
        async with collector:
            history = await histories_when(
                collector, lambda runs: min(runs) >= 1, timeout=10, what="a run of each"
            )
            body = collector.server.respond("/metrics", "")[2].decode()
        server.close()
        await server.wait_closed()
        return history, body

    return asyncio.run(main())


def test_https_target_has_a_tls_phase_and_exports_certificate_expiry(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    history, metrics = _run_https(
        cert,
        key,
        lambda url: [
            f"name: trusted, kind: http, url: '{url}', tls: {{caFile: '{cert}'}}",
            f"name: untrusted, kind: http, url: '{url}'",
        ],
    )
    trusted, untrusted = history["trusted"], history["untrusted"]
    assert trusted and all(r.ok for r in trusted), trusted
    assert all({"connect", "tls", "query"} <= r.durations.keys() for r in trusted)
    assert untrusted and {r.reason for r in untrusted} == {"tls"}, untrusted
    expiry = in_text(metrics, contract.PROBE_CERT_EXPIRY.name, kind="http", target="trusted")
    assert len(expiry) == 1, f"certificate expiry exported: {expiry}"
    not_after = ssl.cert_time_to_seconds(ssl._ssl._test_decode_cert(str(cert))["notAfter"])  # type: ignore[attr-defined]
    assert next(iter(expiry.values())) == pytest.approx(not_after)


def test_a_postgres_certificate_is_verified_against_tls_server_name(tmp_path: Path) -> None:
    """The probe connects to the checked address (libpq's hostaddr); the certificate names
    ``db.test`` only. With ``serverName: db.test`` the run passes verify-full; without it, the
    name checked is the target's host, which the certificate does not name: reason ``tls``.
    (serverName was ignored for PostgreSQL: both targets failed, read as ``protocol``.)"""
    cert, key = make_cert(tmp_path, "DNS:db.test")
    pg = start_postgres(tmp_path / "pg", tls=(cert, key))
    try:
        tls = f"caFile: '{cert}'"
        common = f"port: {pg.port}, user: platform, database: platform, password: {{env: PG}}"
        config = collector_config(
            [
                f"name: named, kind: postgres, {common}, tls: {{{tls}, serverName: db.test}}",
                f"name: by-host, kind: postgres, {common}, tls: {{{tls}}}",
            ],
            "interval: 4s, timeout: 3s, connections: [cold]",
        )
        secrets = {("named", "password"): pg.password, ("by-host", "password"): pg.password}
        history = runs_of_each(
            config, "pg-tls.yaml", logger="sloctl.collector.pgtls", secrets=secrets, timeout=20
        )
    finally:
        pg.stop()
    named, by_host = history["named"], history["by-host"]
    assert named and all(r.ok for r in named), named
    assert by_host and {r.reason for r in by_host} == {"tls"}, [r.error for r in by_host]


def test_an_https_certificate_is_verified_against_tls_server_name(tmp_path: Path) -> None:
    """The HTTP probe sends ``tls.serverName`` (SNI) and verifies the certificate against it in
    place of the URL's host; without it, the URL's 127.0.0.1, which this certificate does not
    name: reason ``tls``. (serverName was ignored for HTTP: both failed.)"""
    cert, key = make_cert(tmp_path, "DNS:db.test")
    history, _metrics = _run_https(
        cert,
        key,
        lambda url: [
            f"name: named, kind: http, url: '{url}', tls: {{caFile: '{cert}', serverName: db.test}}",
            f"name: by-url, kind: http, url: '{url}', tls: {{caFile: '{cert}'}}",
        ],
    )
    named, by_url = history["named"], history["by-url"]
    assert named and all(r.ok for r in named), [r.error for r in named]
    assert by_url and {r.reason for r in by_url} == {"tls"}, [r.error for r in by_url]


def test_a_new_load_reads_a_replaced_ca_file_again(tmp_path: Path) -> None:
    """TLS contexts are shared within one load of the config, never beyond it: after the CA
    file's contents change (a rotated CA, same path), a new collector trusts the new file
    only. A cache keyed by path that outlived its load would still trust the old CA."""
    ca, other = make_ca(tmp_path, "ca"), make_ca(tmp_path, "other")
    cert, key = issue_cert(tmp_path, ca, "server")
    trusted = tmp_path / "trusted.pem"
    trusted.write_bytes(ca[0].read_bytes())

    def targets(url: str) -> list[str]:
        return [f"name: api, kind: http, url: '{url}', tls: {{caFile: '{trusted}'}}"]

    before, _metrics = _run_https(cert, key, targets)
    trusted.write_bytes(other[0].read_bytes())
    after, _metrics = _run_https(cert, key, targets)
    assert before["api"] and all(r.ok for r in before["api"]), before
    assert after["api"] and {r.reason for r in after["api"]} == {"tls"}, after


def test_an_https_server_that_requires_a_client_certificate_gets_tls_cert_file(tmp_path: Path) -> None:
    """Mutual TLS on the HTTP probe: ``tls.certFile``/``keyFile`` (which no config could give)
    pass; without a certificate the server refuses the run after the handshake (TLS 1.3), at
    once and reason ``tls`` with what to do: it read ``protocol``, the alert lost to a reset."""
    ca = make_ca(tmp_path, "ca")
    cert, key = issue_cert(tmp_path, ca, "server")
    client = issue_cert(tmp_path, ca, "client", client=True)
    trust, mine = f"caFile: '{ca[0]}'", f"certFile: '{client[0]}', keyFile: '{client[1]}'"
    history, _metrics = _run_https(
        cert,
        key,
        lambda url: [
            f"name: mutual, kind: http, url: '{url}', tls: {{{trust}, {mine}}}",
            f"name: none, kind: http, url: '{url}', tls: {{{trust}}}",
        ],
        client_ca=ca[0],
    )
    mutual, none = history["mutual"], history["none"]
    assert mutual and all(r.ok for r in mutual), [r.error for r in mutual]
    assert none and {r.reason for r in none} == {"tls"}, [(r.reason, r.error) for r in none]
    for r in none:  # a reset or EOF (the server's alert lost): it read ``protocol``
        assert r.error is not None and r.error.startswith("the server ended the connection after the TLS"), r
        assert "give tls.certFile and tls.keyFile a client certificate" in r.error, r
        assert r.durations["total"] < 0.4, r.durations  # half the deadline (800 ms): no timeout


def test_tls_to_a_plaintext_redis_is_reason_tls_at_once_and_a_wrong_password_the_servers_words(
    redis_server: RedisServer,
) -> None:
    """A plaintext Redis takes a ClientHello for an inline command and waits for its newline:
    the handshake was ``connect_timeout`` after the whole deadline (2 s here), a frozen server's
    reason; now it is ``tls`` in under half of it. And a wrong password's error read
    ``ProbeFailure: WRONGPASS …``, our class's name. (The second lane's first run is due half an
    interval in: the interval is the deadline and half a second, not 10 s.)"""
    common = f"kind: redis, port: {redis_server.port}"
    config = collector_config(
        [
            f"name: tls, {common}, password: {{env: RD}}, tls: {{insecureSkipVerify: true}}",
            f"name: badpw, {common}, password: {{env: BAD}}",
        ],
        "interval: 2500ms, timeout: 2s, connections: [cold]",
    )
    secrets = {("tls", "password"): redis_server.password, ("badpw", "password"): "not-the-password"}
    history = runs_of_each(
        config, "rd-tls.yaml", logger="sloctl.collector.rdtls", secrets=secrets, timeout=20
    )
    (tls,), (badpw,) = history["tls"], history["badpw"]
    assert (tls.reason, badpw.reason) == ("tls", "auth"), (tls, badpw)
    assert tls.error is not None and tls.error.startswith("the server answers in plaintext ('-NOAUTH"), tls
    assert tls.durations["tls"] < 1 and tls.durations["total"] < 1, tls.durations
    assert badpw.error is not None and badpw.error.startswith("WRONGPASS "), badpw
