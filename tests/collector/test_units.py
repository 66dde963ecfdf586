"""Pure pieces: exception → reason mapping, masking, ECS log lines, HTTP header checks."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import socket
import ssl

import psycopg
import pytest
from pymongo.errors import NetworkTimeout, OperationFailure, ServerSelectionTimeoutError

from sloctl.collector.logs import make_logger
from sloctl.collector.probes.base import PhaseRecorder, ProbeReport
from sloctl.collector.probes.http import check_link, check_problem_json, check_rate_limit
from sloctl.collector.reasons import ProbeFailure, classify
from sloctl.contract import Phase, Reason
from sloctl.masking import Masker
from tests.collector.helpers import collector_config, quiet_collector


@pytest.mark.parametrize(
    ("exc", "phase", "reason"),
    [
        (socket.gaierror(-2, "Name or service not known"), Phase.CONNECT, Reason.DNS),
        (ConnectionRefusedError(111, "Connection refused"), Phase.CONNECT, Reason.REFUSED),
        (TimeoutError(), Phase.CONNECT, Reason.CONNECT_TIMEOUT),
        (TimeoutError(), Phase.AUTH, Reason.CONNECT_TIMEOUT),
        (TimeoutError(), Phase.QUERY, Reason.QUERY_TIMEOUT),
        (TimeoutError(), Phase.CANARY, Reason.QUERY_TIMEOUT),
        (ssl.SSLCertVerificationError("certificate verify failed"), Phase.TLS, Reason.TLS),
        (psycopg.OperationalError('password authentication failed for user "x"'), Phase.AUTH, Reason.AUTH),
        (psycopg.OperationalError("ERROR:  query_wait_timeout"), Phase.QUERY, Reason.POOL_TIMEOUT),
        (psycopg.OperationalError("server closed the connection unexpectedly"), Phase.QUERY, Reason.PROTOCOL),
        # a new connection the server answered with an error (libpq's words, no SQLSTATE): it
        # was `protocol`; PostgreSQL out of connection slots, as a real one said it
        (
            psycopg.OperationalError(
                'connection failed: connection to server at "127.0.0.1", port 36835 failed: FATAL:  '
                "remaining connection slots are reserved for non-replication superuser connections"
            ),
            Phase.AUTH,
            Reason.SERVER_ERROR,
        ),
        (
            psycopg.OperationalError(
                'connection to server at "127.0.0.1", port 5432 failed: FATAL:  no pg_hba.conf entry '
                'for host "127.0.0.1", user "x", database "y", no encryption'
            ),
            Phase.AUTH,
            Reason.AUTH,
        ),
        (psycopg.errors.UndefinedTable("relation does not exist"), Phase.QUERY, Reason.SERVER_ERROR),
        (
            psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
            Phase.QUERY,
            Reason.QUERY_TIMEOUT,
        ),
        (OperationFailure("Authentication failed.", code=18), Phase.AUTH, Reason.AUTH),
        (OperationFailure("boom", code=2), Phase.QUERY, Reason.SERVER_ERROR),
        (ServerSelectionTimeoutError("timed out"), Phase.AUTH, Reason.CONNECT_TIMEOUT),
        (NetworkTimeout("timed out"), Phase.QUERY, Reason.QUERY_TIMEOUT),
        (ProbeFailure(Reason.VALIDATION, "canary mismatch"), Phase.CANARY, Reason.VALIDATION),
        (EOFError(), Phase.QUERY, Reason.PROTOCOL),
        (RuntimeError("???"), Phase.QUERY, Reason.PROTOCOL),
    ],
)
def test_each_exception_maps_to_exactly_one_reason(exc: BaseException, phase: Phase, reason: Reason) -> None:
    assert classify(exc, phase) is reason


def test_a_wrapped_cause_is_found() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except ConnectionRefusedError as inner:
            raise RuntimeError("wrapper") from inner
    except RuntimeError as outer:
        assert classify(outer, Phase.CONNECT) is Reason.REFUSED


def test_masker_hides_secrets_credentials_and_personal_data() -> None:
    mask = Masker(["s3cr3t-pw"])
    text = mask(
        "auth failed for s3cr3t-pw at postgresql://u:other@127.0.0.1:5432/db password=abc "
        "user jane.doe@example.com card 4111 1111 1111 1111 phone +1 415-555-0100 port 5432 "
        "id 1234567890123"
    )
    for leaked in ("s3cr3t-pw", ":other@", "abc", "jane.doe", "4111", "555-0100"):
        assert leaked not in text, text
    assert "[secret]" in text and "[email]" in text and "[card]" in text and "[phone]" in text
    assert "127.0.0.1:5432" in text and "port 5432" in text
    assert "1234567890123" in text  # not a Luhn-valid card number: left alone


def test_log_lines_are_ecs_json_and_masked() -> None:
    stream = io.StringIO()
    logger = make_logger(stream, Masker(["pw-123"]), "svc", name="sloctl.collector.unit")
    logger.warning(
        "login as bob@example.com with pw-123", extra={"ecs": {"error.message": "pw-123 rejected"}}
    )
    doc = json.loads(stream.getvalue())
    assert doc["log.level"] == "warning"
    assert doc["@timestamp"].endswith("Z")
    assert doc["service.name"] == "svc"
    assert doc["message"] == "login as [email] with [secret]"
    assert doc["error.message"] == "[secret] rejected"
    assert logging.getLogger("sloctl.collector.unit").propagate is False


def test_problem_json_validation() -> None:
    ok = {"content-type": "application/problem+json"}
    assert check_problem_json(ok, b'{"type": "about:blank", "title": "Not Found", "status": 404}') is None
    assert "content type" in (check_problem_json({"content-type": "text/html"}, b"<h1>") or "")
    assert check_problem_json(ok, b"not json") is not None
    assert check_problem_json(ok, b'{"status": "404", "title": "x"}') is not None
    assert check_problem_json(ok, b'{"detail": "x"}') is not None


def test_rate_limit_headers() -> None:
    assert (
        check_rate_limit({"RateLimit": '"default";r=9;t=1', "RateLimit-Policy": '"default";q=10;w=1'}) is None
    )
    assert (
        check_rate_limit({"RateLimit-Limit": "10", "RateLimit-Remaining": "9", "RateLimit-Reset": "1"})
        is None
    )
    assert check_rate_limit({"RateLimit": '"default";r=9;t=1'}) is not None
    assert check_rate_limit({}) == "no RateLimit headers"


def test_link_header() -> None:
    good = '</v1/projects?limit=10>; rel="first", </v1/projects?limit=10&cursor=abc>; rel="next"'
    assert check_link({"link": good}) is None
    assert check_link({}) == "no Link header"
    assert check_link({"link": "/v1/projects; next"}) is not None


class _CancelledAsItsOwnError:
    """A probe whose driver, cancelled by the run's deadline, raises an error of its own rather
    than let the cancellation through (pymongo's pool said ``AutoReconnect: connection is already
    closed`` when its wait was cut): the run still ended on its deadline."""

    def __init__(self, phase: Phase) -> None:
        self.phase = phase

    async def run(self, rec: PhaseRecorder) -> ProbeReport:
        async with rec.phase(self.phase):
            try:
                await asyncio.Event().wait()  # the server never answers: the deadline ends it
            except asyncio.CancelledError:
                raise ConnectionResetError("connection is already closed") from None
        return ProbeReport()

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("phase", "reason"), [(Phase.QUERY, "query_timeout"), (Phase.CONNECT, "connect_timeout")]
)
def test_a_run_cut_by_its_deadline_is_a_timeout_whatever_error_the_driver_raises(
    phase: Phase, reason: str
) -> None:
    collector = quiet_collector(
        collector_config(
            ["name: db, kind: redis, port: 9"], "interval: 1s, timeout: 200ms, connections: [cold]"
        ),
        "collector.yaml",
        logger="test-deadline-driver-error",
    )
    target = collector.config.targets[0]
    result = asyncio.run(
        collector.runner.run_once(target, target.connections[0], _CancelledAsItsOwnError(phase))
    )
    assert (result.reason, result.error) == (
        reason,
        f"no answer within the 0.2s deadline (phase {phase.value})",
    )
