"""The Redis probe over TLS against a real redis-server whose one port speaks TLS, with a
private CA made by openssl on the spot (``redis_pki``): verified against ``tls.caFile``, the
``tls`` phase timed and the certificate's notAfter exported; a certificate it cannot verify
(another CA, another name) is reason ``tls`` within a handshake; and mutual TLS against a
Redis that requires a client certificate (Redis's own default): given with ``tls.certFile``
and ``tls.keyFile``, or reason ``tls`` with what to do, never ``protocol``."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

from sloctl import contract
from sloctl.collector.runner import RunResult
from sloctl.servers import RedisServer
from tests.collector.helpers import collector_config, histories_when, quiet_collector
from tests.fixtures.certs import Pki
from tests.fixtures.metrics import in_text

pytestmark = pytest.mark.servers

#: the deadline of the failure tests' runs (every failure must come long before it), and their
#: interval, over which the collector spreads its targets' first runs: the last of thirteen
#: lanes is due 12/13 of it in, which is what the tests wait for (4 s made it 4.2 s)
DEADLINE = 2.0
ONE_RUN_EACH = f"interval: {DEADLINE * 1000 + 500:.0f}ms, timeout: {DEADLINE:g}s, connections: [cold]"
#: "long before": a TLS handshake on loopback takes milliseconds; 0.8 s leaves room for a
#: loaded machine and still tells a handshake's failure from a deadline's
WELL_BEFORE = 0.8


def _first_runs(
    targets: Iterable[str], server: RedisServer, defaults: str, runs: int = 1
) -> tuple[dict[str, list[RunResult]], str]:
    """The first ``runs`` runs of each Redis target (flow mappings' insides; each target's
    password is ``server``'s, from the secrets), and the collector's /metrics then."""
    targets = list(targets)
    names = [t.split(",")[0].removeprefix("name:").strip() for t in targets]
    config = collector_config(targets, defaults)
    secrets = {(name, "password"): server.password for name in names}

    async def main() -> tuple[dict[str, list[RunResult]], str]:
        collector = quiet_collector(
            config, "redis-tls.yaml", logger="sloctl.collector.redistls", secrets=secrets
        )
        async with collector:
            history = await histories_when(
                collector, lambda counts: min(counts) >= runs, timeout=30, what=f"{runs} run(s) of each"
            )
            body = collector.server.respond("/metrics", "")[2].decode()
        return history, body

    return asyncio.run(main())


def _not_after(cert: Path) -> float:
    """The certificate's notAfter as Unix time, read by openssl (not by the ssl module the probe uses)."""
    said = subprocess.run(
        ["openssl", "x509", "-noout", "-enddate", "-in", str(cert)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return float(ssl.cert_time_to_seconds(said.strip().removeprefix("notAfter=")))


def test_a_probe_that_trusts_the_servers_ca_passes_and_its_series_say_so(
    redis_tls_server: RedisServer, redis_pki: Pki
) -> None:
    port = redis_tls_server.port
    history, metrics = _first_runs(
        [
            f"name: trusted, kind: redis, port: {port}, password: {{env: RD}}, canary: true,"
            f" tls: {{caFile: '{redis_pki.ca}'}}",
            # the certificate names localhost too: verified against the target's own host name
            f"name: by-name, kind: redis, host: localhost, port: {port}, password: {{env: RD}},"
            f" tls: {{caFile: '{redis_pki.ca}'}}",
        ],
        redis_tls_server,
        "interval: 1s, timeout: 800ms, connections: [cold, warm]",
        runs=4,
    )
    for name, runs in history.items():
        assert all(r.ok and r.reason is None and r.error is None for r in runs), (name, runs)
        cold = [r for r in runs if r.durations.keys() >= {"connect", "tls", "auth"}]
        assert cold, f"{name}: a run on a new connection, its handshake timed: {runs}"
        assert all(0 < r.durations["tls"] < r.durations["total"] for r in cold), cold
    assert all("canary" in r.durations for r in history["trusted"]), history["trusted"]
    for name in history:
        up = in_text(metrics, contract.PROBE_UP.name, kind="redis", target=name)
        assert list(up.values()) == [1.0], (name, up)
        failed = in_text(metrics, contract.PROBE_FAILURES.name, target=name)
        assert failed and not any(failed.values()), (name, failed)  # every reason at 0
        tls_runs = in_text(
            metrics, contract.PROBE_DURATION.name + "_count", target=name, phase="tls", connection="cold"
        )
        assert sum(tls_runs.values()) >= 1, (name, tls_runs)
        expiry = in_text(metrics, contract.PROBE_CERT_EXPIRY.name, kind="redis", target=name)
        assert list(expiry.values()) == [_not_after(redis_pki.server[0])], (name, expiry)


def _assert_refused(runs: list[RunResult], *words: str) -> None:
    """Every run failed with reason ``tls``, its error saying ``words``, long before the deadline."""
    assert runs and all(r.reason == "tls" for r in runs), [(r.reason, r.error) for r in runs]
    for r in runs:
        assert r.error is not None and all(w in r.error for w in words), (words, r.error)
        assert r.durations["total"] < WELL_BEFORE, r.durations


def test_a_certificate_the_probe_cannot_verify_is_reason_tls_within_the_handshake(
    redis_tls_server: RedisServer, redis_pki: Pki
) -> None:
    common = f"kind: redis, port: {redis_tls_server.port}, password: {{env: RD}}"
    history, metrics = _first_runs(
        [
            f"name: other-ca, {common}, tls: {{caFile: '{redis_pki.other_ca}'}}",
            f"name: other-name, {common}, tls: {{caFile: '{redis_pki.ca}', serverName: db.test}}",
            f"name: system-cas, {common}, tls: {{enabled: true}}",
        ],
        redis_tls_server,
        ONE_RUN_EACH,
    )
    unknown_issuer = "certificate verify failed: unable to get local issuer certificate"
    _assert_refused(history["other-ca"], unknown_issuer)
    _assert_refused(history["system-cas"], unknown_issuer)
    _assert_refused(history["other-name"], "Hostname mismatch, certificate is not valid for 'db.test'")
    for name, runs in history.items():
        assert all("auth" not in r.durations for r in runs), (name, runs)  # failed at the handshake
        failed = in_text(metrics, contract.PROBE_FAILURES.name, target=name)
        assert {dict(k)["reason"]: v for k, v in failed.items() if v} == {"tls": 1.0}, (name, failed)
        assert list(in_text(metrics, contract.PROBE_UP.name, target=name).values()) == [0.0], name
        assert not in_text(metrics, contract.PROBE_CERT_EXPIRY.name, target=name), name


def test_a_redis_that_requires_a_client_certificate_takes_tls_cert_file_and_refuses_none_as_tls(
    redis_mtls_server: RedisServer, redis_pki: Pki
) -> None:
    """TLS 1.3 ends the client's handshake before the server checks the client's certificate:
    the server's refusal (an alert, then close) meets the probe's first command. It read as
    reason ``tls`` (the alert), or ``protocol`` when the alert was lost to the reset the command
    provoked (``ConnectionResetError``) or undid the handshake (``ValueError: handshake not done
    yet``); and no config could give a client certificate at all. Several targets each way,
    with and without a password (AUTH or PING first), catch the race's every side."""
    common = f"kind: redis, port: {redis_mtls_server.port}"
    ca = f"caFile: '{redis_pki.ca}'"
    mine = f"certFile: '{redis_pki.client[0]}', keyFile: '{redis_pki.client[1]}'"
    theirs = f"certFile: '{redis_pki.stranger[0]}', keyFile: '{redis_pki.stranger[1]}'"
    targets = [f"name: mutual, {common}, password: {{env: RD}}, canary: true, tls: {{{ca}, {mine}}}"]
    for i in range(3):
        for auth in ("pw", "nopw"):
            password = ", password: {env: RD}" if auth == "pw" else ""
            targets.append(f"name: none-{auth}-{i}, {common}{password}, tls: {{{ca}}}")
            targets.append(f"name: stranger-{auth}-{i}, {common}{password}, tls: {{{ca}, {theirs}}}")
    history, metrics = _first_runs(targets, redis_mtls_server, ONE_RUN_EACH)
    mutual = history.pop("mutual")
    assert mutual and all(r.ok for r in mutual), [r.error for r in mutual]
    assert mutual[0].durations.keys() >= {"tls", "auth", "query", "canary"}, mutual
    advice = "give tls.certFile and tls.keyFile a client certificate signed by a CA the server trusts"
    for name, runs in history.items():
        said = "it gets none" if name.startswith("none") else f"tls.certFile {redis_pki.stranger[0]}"
        _assert_refused(runs, "the server ended the connection after the TLS handshake", said, advice)
    expiry = in_text(metrics, contract.PROBE_CERT_EXPIRY.name, target="mutual")
    assert list(expiry.values()) == [_not_after(redis_pki.server[0])], expiry
