"""Collector configuration: YAML text → a frozen, validated :class:`CollectorConfig`.

This module is pure: it never reads the environment, the clock or the network. Passwords are
kept as *references* (``{env: NAME}`` or ``{file: PATH}``) and resolved at the edge by
:func:`resolve_secrets`, so that a config object can be printed, compared and logged without
ever holding a secret; CA and client certificate files are loaded at the edge too
(:func:`check_tls_files`).

Every error carries ``file:line`` so that a typo in ``collector/targets.yaml`` reads like a
compiler error, not a traceback::

    >>> text = "apiVersion: sloctl/v1\\nkind: CollectorConfig\\ntargets: []\\n"
    >>> load_config_text(text, "t.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sloctl.errors.SpecErrors: t.yaml:3:1: targets: nothing to probe: list at least one target ...
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias
from urllib.parse import SplitResult, urlsplit

from sloctl import naming
from sloctl.contract import ProbeConnection, ProbeKind
from sloctl.durations import parse_seconds
from sloctl.egress import LOOPBACK, Egress, EgressDenied, split_host_port
from sloctl.errors import Location, SpecError, SpecErrors
from sloctl.ports import MAX_PORT
from sloctl.spec.shape import Field, Shape, checked_document, read_checked_document
from sloctl.spec.yamlsrc import YNode

__all__ = [
    "SHAPE",
    "CollectorConfig",
    "ConnectionMode",
    "HttpCheck",
    "Kind",
    "OtlpConfig",
    "SecretRef",
    "Target",
    "TlsConfig",
    "TlsContexts",
    "check_config",
    "check_reach",
    "check_tls_files",
    "load_client_certificate",
    "load_config",
    "load_config_text",
    "resolve_secrets",
]

IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAME_RE = re.compile(r"^[a-z0-9_-]+$")


#: the collector's target kinds and connection modes are label values of the contract
Kind = ProbeKind
ConnectionMode = ProbeConnection


_DEFAULT_PORTS = {Kind.POSTGRES: 5432, Kind.PGBOUNCER: 6432, Kind.REDIS: 6379, Kind.MONGODB: 27017}


@dataclass(frozen=True)
class SecretRef:
    """Where a password comes from: an environment variable or a file (first line, stripped)."""

    source: str  # "env" or "file"
    ref: str
    #: where the reference is written, and its field path, for errors
    location: Location | None = field(default=None, compare=False)
    path: str = field(default="", compare=False)

    def __repr__(self) -> str:  # never tempt anyone to put the value here
        return f"SecretRef({self.source}={self.ref!r})"


@dataclass(frozen=True)
class TlsConfig:
    enabled: bool = False
    ca_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    #: the client certificate (PEM) and its key, for a server that requires one (mutual TLS)
    cert_file: str | None = None
    key_file: str | None = None
    #: where ``caFile``, ``certFile`` and ``keyFile`` are written, for :func:`check_tls_files`
    ca_file_location: Location | None = field(default=None, compare=False)
    cert_file_location: Location | None = field(default=None, compare=False)
    key_file_location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True)
class HttpCheck:
    """What an ``http`` probe checks beyond "it answered"."""

    method: str = "GET"
    expect_status: frozenset[int] = frozenset({200})
    problem_json: bool = True  # error answers must be RFC 9457 application/problem+json
    rate_limit_headers: bool = False  # IETF RateLimit / RateLimit-Policy headers must be present
    link_header: bool = False  # a Link header with rel="next" or rel="prev" must be present


@dataclass(frozen=True)
class OtlpConfig:
    endpoint: str
    protocol: str = "http/protobuf"  # or "grpc"
    #: traces (target names, addresses, errors) may leave the machine only when this says so
    allow_non_loopback: bool = False
    #: where ``endpoint`` is written, for the errors of its name's resolution
    location: Location | None = field(default=None, compare=False)

    @property
    def host_port(self) -> tuple[str, int]:
        """The endpoint's host and port."""
        parts = urlsplit(self.endpoint)
        default = 4317 if self.protocol == "grpc" else 4318
        return parts.hostname or "", parts.port or default


@dataclass(frozen=True)
class Target:
    name: str
    kind: Kind
    host: str
    port: int
    interval: float
    timeout: float
    connections: tuple[ConnectionMode, ...]
    location: Location
    user: str | None = None
    database: str | None = None
    password: SecretRef | None = None
    canary: bool = False
    tls: TlsConfig = TlsConfig()
    url: str | None = None  # http only
    http: HttpCheck | None = None
    admin_user: str | None = None  # pgbouncer admin console
    admin_password: SecretRef | None = None


@dataclass(frozen=True)
class CollectorConfig:
    targets: tuple[Target, ...]
    listen_host: str = "127.0.0.1"
    listen_port: int = 9465
    #: /metrics and /debug/targets on an address off loopback, only when this says so
    listen_non_loopback: bool = False
    #: /debug/targets (last runs, masked errors); false: it answers 404
    debug_targets: bool = True
    # Probes go to loopback only unless the operator widens the allow-list on purpose: a
    # prober with a typo in a host name must not start hammering a production database.
    allow: tuple[IPNetwork, ...] = LOOPBACK
    otlp: OtlpConfig | None = None
    debug_history: int = 20
    service_name: str = "sloctl-collector"
    source: str = field(default="<string>", compare=False)
    #: where ``listen`` is written (the document when it is not), for the errors of its name's resolution
    listen_location: Location | None = field(default=None, compare=False)

    def egress(self) -> Egress:
        """The guard every probe connects through."""
        return Egress(allow=self.allow, action="probe", widen="allowNetworks in the collector config")


#: Where the collector may listen and export without saying so: loopback.
LISTEN = Egress(action="listen on", widen="allowNonLoopbackListen: true in the collector config", switch=True)
EXPORT = Egress(
    action="export traces to", widen="allowNonLoopback: true under otlp in the collector config", switch=True
)


# --- the document's shape: validation and JSON Schema both come from it ----------------------

_SECRET = Field(
    "mapping",
    "where the password comes from: {env: NAME} or {file: PATH} (first line)",
    shape=Shape({"env": Field("string"), "file": Field("string")}, exactly_one=("env", "file")),
    wrong_type="literal passwords are not accepted; use {env: NAME} or {file: PATH}",
)
_CONNECTIONS = Field(
    "list",
    "cold: a new connection per run; warm: a kept one",
    items=Field("string", enum=tuple(m.value for m in ConnectionMode)),
    one_or_list=True,
)
_TIMERS = {
    "interval": Field("duration", "time between runs (default 10s)"),
    "timeout": Field("duration", "limit of one run, shorter than the interval (default 80 % of it)"),
    "connections": _CONNECTIONS,
}
#: fields of a target that only some kinds take
_KIND_FIELDS: dict[str, frozenset[Kind]] = {
    "url": frozenset({Kind.HTTP}),
    "expect": frozenset({Kind.HTTP}),
    "host": frozenset(Kind) - {Kind.HTTP},
    "port": frozenset(Kind) - {Kind.HTTP},
    "user": frozenset(Kind) - {Kind.HTTP},
    "database": frozenset(Kind) - {Kind.HTTP},
    "password": frozenset(Kind) - {Kind.HTTP},
    "canary": frozenset(Kind) - {Kind.HTTP},
    "adminUser": frozenset({Kind.PGBOUNCER}),
    "adminPassword": frozenset({Kind.PGBOUNCER}),
}
TARGET_SHAPE = Shape(
    {
        "name": Field("string", "unique target name", required=True, pattern=_NAME_RE.pattern),
        "kind": Field("string", required=True, enum=tuple(k.value for k in Kind)),
        **_TIMERS,
        "tls": Field(
            "mapping",
            shape=Shape(
                {
                    "enabled": Field("boolean"),
                    "caFile": Field("string"),
                    "serverName": Field("string"),
                    "insecureSkipVerify": Field("boolean"),
                    "certFile": Field(
                        "string", "postgres, pgbouncer, redis, http: client certificate (PEM), with keyFile"
                    ),
                    "keyFile": Field(
                        "string",
                        "postgres, pgbouncer, redis, http: the client certificate's key (PEM, no"
                        " passphrase; postgres and pgbouncer: mode 0600)",
                    ),
                }
            ),
        ),
        "url": Field("string", "http: the absolute http:// or https:// URL probed", required=False),
        "expect": Field(
            "mapping",
            "http: what the answer must be",
            shape=Shape(
                {
                    "status": Field(
                        "list", items=Field("integer", minimum=100, maximum=599), one_or_list=True
                    ),
                    # A probe must not change what it watches: safe methods with GET's answer.
                    "method": Field("string", "GET (default) or HEAD", enum=("GET", "HEAD")),
                    "problemJson": Field("boolean"),
                    "rateLimitHeaders": Field("boolean"),
                    "linkHeader": Field("boolean"),
                }
            ),
        ),
        "host": Field("string", "default 127.0.0.1"),
        "port": Field("integer", "default: the kind's conventional port", minimum=1, maximum=MAX_PORT),
        "user": Field("string", "postgres and pgbouncer: required"),
        "database": Field("string", "postgres and pgbouncer: required"),
        "password": _SECRET,
        "canary": Field("boolean", "write-path canary (upsert/SET, then read back)"),
        "adminUser": Field("string", "pgbouncer: user of the admin console"),
        "adminPassword": _SECRET,
    },
    "one probed target; which fields apply depends on its kind (docs/collector.md)",
)
SHAPE = Shape(
    {
        "apiVersion": Field("string", required=True, enum=(naming.API_VERSION,)),
        "kind": Field("string", required=True, enum=("CollectorConfig",)),
        "listen": Field("string", "HOST:PORT of /metrics (default 127.0.0.1:9465)"),
        "allowNonLoopbackListen": Field("boolean"),
        "allowNetworks": Field("list", "CIDR networks probes may reach", items=Field("string")),
        "otlp": Field(
            "mapping",
            shape=Shape(
                {
                    "endpoint": Field("string", required=True),
                    "protocol": Field("string", enum=("http/protobuf", "grpc")),
                    "allowNonLoopback": Field("boolean"),
                }
            ),
        ),
        "debugTargets": Field("boolean"),
        "debugHistory": Field("integer", minimum=1, maximum=1000),
        "serviceName": Field("string"),
        "defaults": Field("mapping", shape=Shape(_TIMERS)),
        "targets": Field("list", items=Field("mapping", shape=TARGET_SHAPE)),
    },
    "sloctl collector targets (docs/collector.md)",
)


class _Ctx:
    """Typed reads from one mapping whose shape was checked; errors at the line of the key."""

    def __init__(
        self, source: str, node: YNode, path: str = "", problems: list[SpecError] | None = None
    ) -> None:
        self.source = source
        self.node = node
        self.path = path  # the field path of this mapping (``targets[0].tls``), for errors
        self.data: dict[str, YNode] = node.value if isinstance(node.value, dict) else {}
        #: every problem found in the document so far, shared by the contexts below this one
        self.problems: list[SpecError] = [] if problems is None else problems

    def at(self, node: YNode, path: str) -> _Ctx:
        """The context of the mapping ``node`` at ``path`` (its problems go to this one's)."""
        return _Ctx(self.source, node, path, self.problems)

    def problem(self, key: str | None, message: str) -> None:
        """A problem at ``key``, kept with the others: the reading goes on."""
        self.problems.append(SpecError(self.loc(key), self.field(key), message))

    def loc(self, key: str | None = None) -> Location:
        return self.node.key_locs.get(key, self.node.loc) if key else self.node.loc

    def field(self, key: str | None) -> str:
        return ".".join(p for p in (self.path, key) if p)

    def err(self, key: str | None, message: str) -> SpecErrors:
        return SpecErrors.at(self.loc(key), message, self.field(key))

    def raw(self, key: str) -> object:
        child = self.data.get(key)
        return None if child is None else child.value

    def sub(self, key: str) -> _Ctx | None:
        child = self.data.get(key)
        return None if child is None or child.value is None else self.at(child, self.field(key))

    def str_(self, key: str, default: str | None = None) -> str | None:
        value = self.raw(key)
        return default if value is None else str(value)

    def bool_(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        return value if isinstance(value, bool) else default

    def int_(self, key: str, default: int) -> int:
        value = self.raw(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def duration(self, key: str, default: float | None) -> float | None:
        value = self.raw(key)
        return default if value is None else parse_seconds(value)

    def secret(self, key: str) -> SecretRef | None:
        sub = self.sub(key)
        if sub is None:
            return None
        source = "env" if sub.str_("env") is not None else "file"
        return SecretRef(source, str(sub.str_(source)), sub.loc(source), sub.field(source))


def _parse_target(ctx: _Ctx, defaults: _Defaults) -> Target:
    name = str(ctx.str_("name"))
    kind = Kind(str(ctx.str_("kind")))
    for key in ctx.data:
        kinds = _KIND_FIELDS.get(key)
        if kinds is not None and kind not in kinds:
            ctx.problem(key, f"targets {name!r}: field {key!r} does not apply to kind {kind.value}")
    interval = _interval(ctx, defaults[0])
    timeout = ctx.duration("timeout", defaults[1])
    if timeout is None:
        timeout = (interval or defaults[0]) * TIMEOUT_SHARE
    if interval is None:  # said; a timeout is not compared with an interval that is not one
        interval = defaults[0]
    elif timeout >= interval:
        inherited = "timeout" not in ctx.data  # from defaults.timeout: the target has no such key
        ctx.problem(
            "timeout",
            f"timeout ({timeout:g}s, from defaults.timeout) must be shorter than the interval"
            f" ({interval:g}s): give this target a shorter timeout, or shorten defaults.timeout"
            if inherited
            else f"timeout ({timeout:g}s) must be shorter than the interval ({interval:g}s)",
        )
    tls = TlsConfig() if (t := ctx.sub("tls")) is None else _tls(t, name, kind)
    common: dict[str, object] = {
        "name": name,
        "kind": kind,
        "interval": interval,
        "timeout": timeout,
        "connections": _parse_connections(ctx, defaults[2]),
        "location": ctx.loc(),
        "tls": tls,
    }
    if kind is Kind.HTTP:
        return _http_target(ctx, common, tls)
    return _server_target(ctx, common)


#: the kinds whose client key libpq loads, and refuses when others may read it
_LIBPQ_KINDS = frozenset({Kind.POSTGRES, Kind.PGBOUNCER})


def _tls(t: _Ctx, name: str, kind: Kind) -> TlsConfig:
    """A target's ``tls`` mapping."""
    tls = TlsConfig(
        enabled=t.bool_("enabled", True),
        ca_file=t.str_("caFile"),
        server_name=t.str_("serverName"),
        insecure_skip_verify=t.bool_("insecureSkipVerify", False),
        cert_file=t.str_("certFile"),
        key_file=t.str_("keyFile"),
        ca_file_location=t.loc("caFile"),
        cert_file_location=t.loc("certFile"),
        key_file_location=t.loc("keyFile"),
    )
    if kind is Kind.MONGODB and tls.server_name is not None:
        # pymongo verifies the certificate (and sends SNI) for the host it connects to, which
        # is the checked address, and takes no other name to verify against (it builds its
        # TLS context from its own options and wraps each socket with
        # server_hostname=<address>): a serverName here would be silently ignored.
        t.problem(
            "serverName",
            f"target {name!r}: serverName is not supported for kind mongodb: the MongoDB driver"
            " verifies the certificate against the address the probe connects to (the checked"
            " IP address of host) and cannot verify another name; remove serverName and give the"
            " server a certificate that names that IP address (subjectAltName IP:…)",
        )
    ignored = _tls_settings_given(tls)
    if kind is not Kind.HTTP and not tls.enabled and ignored:
        t.problem(
            "enabled",
            f"target {name!r}: tls.enabled is false, so {', '.join(ignored)} would be ignored and the"
            " probe would connect in plaintext: set enabled: true, or remove them",
        )
    # Every kind presents a client certificate (mutual TLS): redis and http from the TLS context
    # they are given, postgres and pgbouncer through libpq's sslcert/sslkey, mongodb through
    # pymongo's tlsCertificateKeyFile (probes/mongodb.py).
    for key, given, other in (("certFile", tls.cert_file, "keyFile"), ("keyFile", tls.key_file, "certFile")):
        if given is not None and (tls.key_file if other == "keyFile" else tls.cert_file) is None:
            t.problem(
                key, f"target {name!r}: {key} needs {other}: a client certificate is given with its key"
            )
    return tls


def _tls_settings_given(tls: TlsConfig) -> list[str]:
    """The keys of a ``tls`` mapping that only mean something over TLS, as written."""
    given = {
        "caFile": tls.ca_file is not None,
        "serverName": tls.server_name is not None,
        "insecureSkipVerify": tls.insecure_skip_verify,
        "certFile": tls.cert_file is not None,
        "keyFile": tls.key_file is not None,
    }
    return [key for key, set_ in given.items() if set_]


def _http_tls(ctx: _Ctx, name: object, scheme: str, tls: TlsConfig) -> None:
    """An http target's URL scheme decides TLS: a ``tls`` mapping that says otherwise (settings
    for an http:// URL, or ``enabled: false`` for an https:// one) is an error, not ignored."""
    t = ctx.sub("tls")
    if t is None or scheme not in ("http", "https"):
        return
    said_on = tls.enabled and "enabled" in t.data  # enabled defaults to true under tls
    if scheme == "http" and (ignored := _tls_settings_given(tls) + (["enabled: true"] if said_on else [])):
        ctx.problem(
            "tls",
            f"target {name!r}: the URL is http://, so tls {', '.join(ignored)} would be ignored and the"
            " probe would connect in plaintext: use an https:// URL, or remove tls",
        )
    elif scheme == "https" and not tls.enabled:
        t.problem(
            "enabled",
            f"target {name!r}: kind http takes TLS from the URL, and it is https://: remove tls.enabled"
            " (or use an http:// URL)",
        )


def _http_target(ctx: _Ctx, common: dict[str, object], tls: TlsConfig) -> Target:
    """An ``http`` target: its URL decides host, port and TLS."""
    url = ctx.str_("url")
    if url is None:
        ctx.problem(None, f"target {common['name']!r}: kind http needs 'url'")
    split = None if url is None else _split_url(ctx, "url", ("http", "https"))
    parts, port = split or (urlsplit(""), 0)  # said above; the target is not probed
    if parts.username is not None or parts.password is not None:
        # Not echoed: the error line would print the password it found.
        ctx.problem(
            "url",
            "credentials in the URL (user:password@) are not accepted: a password never lives in "
            "this file, and the probe would send it to the API as Basic auth; remove them",
        )
    _http_tls(ctx, common["name"], parts.scheme, tls)
    common["tls"] = dataclasses.replace(tls, enabled=parts.scheme == "https")
    return Target(
        host=parts.hostname or "",
        port=port or (443 if parts.scheme == "https" else 80),
        url=url,
        http=_parse_http_check(ctx.sub("expect")),
        password=None,
        **common,  # type: ignore[arg-type]
    )


def _split_url(ctx: _Ctx, key: str, schemes: tuple[str, ...]) -> tuple[SplitResult, int | None] | None:
    """The URL at ``key`` split and its port read; a scheme outside ``schemes`` ("": none
    written, ``HOST:PORT``), no host, a port that is not a number in 1..65535 or an unclosed
    IPv6 bracket is a problem at ``key``, as urlsplit words it (None)."""
    url = str(ctx.str_(key))
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    wanted = " or ".join(f"{s}://" if s else "HOST:PORT" for s in schemes)
    try:
        parts = urlsplit(url if scheme else f"//{url}")
        port = parts.port
    except ValueError as exc:
        ctx.problem(key, f"{url!r} is not a valid URL: {exc}; expected {wanted}")
        return None
    if scheme not in schemes or not parts.hostname:
        ctx.problem(key, f"{url!r} must be an absolute URL: {wanted}")
        return None
    if port == 0:
        ctx.problem(key, f"{url!r}: port 0 is not a port to connect to (1..{MAX_PORT})")
        return None
    return parts, port


#: A host name: dot-separated labels of letters, digits, ``-`` and ``_`` (RFC 1123, plus the
#: ``_`` some internal zones use), each at most 63 characters, 253 in all, an optional final dot.
_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?",
    re.ASCII,
)


def _host(ctx: _Ctx) -> str:
    """``host`` of a database target: a host name or an IP address (IPv6 with or without
    brackets). Anything else (empty, a space, ``HOST:PORT``) used to pass ``check`` and then fail
    every run with reason ``dns``."""
    host = str(ctx.str_("host", "127.0.0.1"))
    literal = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(literal.split("%", 1)[0])
        return host
    except ValueError:
        pass
    if _HOST_NAME.fullmatch(host):
        return host
    split = split_host_port(host)
    hint = f"; put the port under port: {split[1]}" if split is not None else ""
    ctx.problem("host", f"host {host!r} is not a host name or an IP address{hint}")
    return host


def _server_target(ctx: _Ctx, common: dict[str, object]) -> Target:
    """A database or pooler target: host, port, credentials, canary."""
    kind = common["kind"]
    assert isinstance(kind, Kind)
    user, database = ctx.str_("user"), ctx.str_("database")
    if kind in (Kind.POSTGRES, Kind.PGBOUNCER) and (user is None or database is None):
        ctx.problem(None, f"target {common['name']!r}: kind {kind.value} needs 'user' and 'database'")
    return Target(
        host=_host(ctx),
        port=ctx.int_("port", _DEFAULT_PORTS[kind]),
        user=user,
        database=database,
        password=ctx.secret("password"),
        canary=ctx.bool_("canary", False),
        admin_user=ctx.str_("adminUser"),
        admin_password=ctx.secret("adminPassword"),
        **common,  # type: ignore[arg-type]
    )


def _parse_connections(ctx: _Ctx, default: tuple[ConnectionMode, ...]) -> tuple[ConnectionMode, ...]:
    value = ctx.data.get("connections")
    if value is None or value.value is None:
        return default
    items = value.value if isinstance(value.value, list) else [value]
    if not items:
        ctx.problem("connections", "'connections' must be cold, warm or a list of them")
        return default
    modes: list[ConnectionMode] = []
    for item in items:
        mode = ConnectionMode(str(item.value))
        if mode not in modes:
            modes.append(mode)
    return tuple(modes)


def _parse_http_check(e: _Ctx | None) -> HttpCheck:
    if e is None:
        return HttpCheck()
    statuses = frozenset({200})
    if (status := e.data.get("status")) is not None and status.value is not None:
        items = status.value if isinstance(status.value, list) else [status]
        if not items:
            e.problem("status", "'status' must be an HTTP status code or a list of them")
        statuses = frozenset(int(str(s.value)) for s in items) or statuses
    method = e.str_("method", "GET") or "GET"
    problem_json = e.bool_("problemJson", True)
    errors = sorted(s for s in statuses if s >= 400)
    if method == "HEAD" and problem_json and errors:
        # A HEAD answer has no body: the problem+json check of an error answer could never pass.
        e.problem(
            "method",
            f"HEAD answers carry no body, so the problem+json check of an expected {errors[0]} can "
            "never pass; set problemJson: false, or use GET",
        )
    return HttpCheck(
        method=method,
        expect_status=statuses,
        problem_json=problem_json,
        rate_limit_headers=e.bool_("rateLimitHeaders", False),
        link_header=e.bool_("linkHeader", False),
    )


def load_config_text(text: str | bytes, source: str = "<string>") -> CollectorConfig:
    """Parse and validate a ``CollectorConfig`` document; raises :class:`~sloctl.errors.SpecErrors`
    with its problems, each at ``file:line:column``."""
    return _valid(_config(_Ctx(source, checked_document(SHAPE, text, source))))


def _valid(read: tuple[CollectorConfig, list[SpecError]]) -> CollectorConfig:
    config, problems = read
    if problems:
        raise SpecErrors(problems)
    return config


def _config(ctx: _Ctx) -> tuple[CollectorConfig, list[SpecError]]:
    """The config and every problem of it (shape checked): what one field's mistake leaves
    unknown reads as its default, so the others are still checked."""
    source = ctx.source
    host, port, listen_non_loopback = _listen(ctx)
    config = CollectorConfig(
        targets=_targets(ctx, _defaults(ctx)),
        listen_host=host,
        listen_port=port,
        listen_non_loopback=listen_non_loopback,
        debug_targets=ctx.bool_("debugTargets", True),
        allow=_allow(ctx),
        otlp=_otlp(ctx),
        debug_history=ctx.int_("debugHistory", 20),
        service_name=ctx.str_("serviceName", "sloctl-collector") or "sloctl-collector",
        source=source,
        listen_location=ctx.loc("listen"),
    )
    if not any(p.path == "allowNetworks" for p in ctx.problems):  # else, what is allowed is unknown
        for t in config.targets:
            _check_literal_host(ctx, t, config.egress())
    if not config.targets and not ctx.problems:
        ctx.problem(
            "targets" if "targets" in ctx.data else None,
            "nothing to probe: list at least one target (docs/collector.md)",
        )
    return config, sorted(ctx.problems, key=lambda p: (p.location, p.path))


def _listen(ctx: _Ctx) -> tuple[str, int, bool]:
    """``listen``'s host and port, and whether it may be off loopback."""
    listen = ctx.str_("listen", "127.0.0.1:9465") or ""
    split = split_host_port(listen)
    non_loopback = ctx.bool_("allowNonLoopbackListen", False)
    if split is None:
        ctx.problem("listen", f"listen {listen!r} must be HOST:PORT (a port 0..{MAX_PORT} in ASCII digits)")
        return "", 0, non_loopback
    host, port = split
    refused = None if non_loopback else _refused_literal(host, LISTEN)
    if refused:
        ctx.problem("listen", refused)
    return host, port, non_loopback


def _allow(ctx: _Ctx) -> tuple[IPNetwork, ...]:
    """``allowNetworks``: where probes may go (loopback unless widened)."""
    networks = ctx.data.get("allowNetworks")
    if networks is None or not isinstance(networks.value, list):
        return LOOPBACK
    if not networks.value:
        ctx.problem("allowNetworks", "'allowNetworks' must be a non-empty list of CIDR networks")
        return LOOPBACK
    try:
        return tuple(ipaddress.ip_network(str(n.value), strict=False) for n in networks.value)
    except ValueError as exc:
        ctx.problem("allowNetworks", f"'allowNetworks': {exc}")
        return LOOPBACK


def _otlp(ctx: _Ctx) -> OtlpConfig | None:
    """``otlp``: where traces go, checked against loopback unless allowed off it."""
    o = ctx.sub("otlp")
    if o is None:
        return None
    endpoint = str(o.str_("endpoint"))
    otlp = OtlpConfig(
        endpoint=endpoint,
        protocol=str(o.str_("protocol", "http/protobuf")),
        allow_non_loopback=o.bool_("allowNonLoopback", False),
        location=o.loc("endpoint"),
    )
    # Both exporters need the scheme: it is what says plaintext (http://) or TLS (https://). The
    # gRPC exporter took HOST:PORT as TLS, which the plaintext receivers of collector/otelcol.yaml
    # answer with a failed handshake: check said OK and no span ever left.
    if otlp.protocol == "grpc" and "://" not in endpoint:
        o.problem(
            "endpoint",
            f"{endpoint!r} has no scheme: write http://{endpoint} for plaintext gRPC (the receivers of "
            f"collector/otelcol.yaml) or https://{endpoint} for TLS",
        )
        return otlp
    split = _split_url(o, "endpoint", ("http", "https"))
    otlp_host = "" if split is None else split[0].hostname or ""
    refused = None if otlp.allow_non_loopback else _refused_literal(otlp_host, EXPORT)
    if refused:
        o.problem("endpoint", refused)
    return otlp


_Defaults = tuple[float, float | None, tuple[ConnectionMode, ...]]

#: A target's interval when neither it nor ``defaults`` sets one.
DEFAULT_INTERVAL = 10.0

#: The shortest interval between two runs of a lane. A prober is not a load generator: a cold
#: run opens a connection (TCP, TLS, authentication) to the server it watches, every run is a
#: trace and a failing one a log line, and no scrape (Prometheus' finest is about 1 s) or alert
#: window sees finer than that. A typo such as ``interval: 0.001`` used to run a thousand times a
#: second (and log the runs it missed as fast).
MIN_INTERVAL = 1.0
#: A target's timeout when it sets none: this share of its interval.
TIMEOUT_SHARE = 0.8


def _interval(ctx: _Ctx, default: float) -> float | None:
    """``interval`` of a target or of ``defaults``: at least :data:`MIN_INTERVAL` (None, with a
    problem, when shorter)."""
    interval = ctx.duration("interval", default)
    assert interval is not None
    if interval < MIN_INTERVAL:
        ctx.problem(
            "interval", f"interval {interval:g}s is shorter than {MIN_INTERVAL:g}s, the collector's floor"
        )
        return None
    return interval


def _defaults(ctx: _Ctx) -> _Defaults:
    """``defaults``: interval, timeout and connection modes of targets that do not set theirs."""
    d = ctx.sub("defaults")
    if d is None:
        return DEFAULT_INTERVAL, None, (ConnectionMode.COLD,)
    interval = _interval(d, DEFAULT_INTERVAL) or DEFAULT_INTERVAL
    return interval, d.duration("timeout", None), _parse_connections(d, (ConnectionMode.COLD,))


def _targets(ctx: _Ctx, defaults: _Defaults) -> tuple[Target, ...]:
    targets: list[Target] = []
    seen: dict[str, Location] = {}
    items = ctx.data.get("targets")
    for i, item in enumerate(items.value if items is not None and isinstance(items.value, list) else []):
        t = _parse_target(ctx.at(item, f"targets[{i}]"), defaults)
        if t.name in seen:
            ctx.problems.append(
                SpecError(
                    t.location, f"targets[{i}]", f"duplicate target name {t.name!r} (first at {seen[t.name]})"
                )
            )
        seen.setdefault(t.name, t.location)
        targets.append(t)
    return tuple(targets)


def _refused_literal(host: str, egress: Egress) -> str | None:
    """Why an IP literal is outside ``egress``'s list, or None (names are checked when the
    collector starts: this parser never resolves)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    try:
        egress.check(host, 0)  # a literal: no lookup
    except EgressDenied as exc:
        return str(exc)
    return None


def check_reach(config: CollectorConfig) -> None:
    """Where the collector listens and exports, names resolved: loopback unless the config allows
    more. Raises :class:`~sloctl.errors.SpecErrors` (this is the edge that resolves; the parser
    never does)."""
    if errors := reach_problems(config):
        raise SpecErrors(errors)


def reach_problems(config: CollectorConfig) -> list[SpecError]:
    """:func:`check_reach`'s problems, the listen address's and the export's each."""
    errors: list[SpecError] = []
    document = Location(config.source, 1, 1)
    checks = []
    if not config.listen_non_loopback:
        checks.append((LISTEN, (config.listen_host, config.listen_port), "listen", config.listen_location))
    if config.otlp is not None and not config.otlp.allow_non_loopback:
        checks.append((EXPORT, config.otlp.host_port, "otlp.endpoint", config.otlp.location))
    for egress, (host, port), path, location in checks:
        try:
            egress.check(host, port)
        except EgressDenied as exc:
            errors.append(SpecError(location or document, path, str(exc)))
    return errors


def check_tls_files(config: CollectorConfig, contexts: TlsContexts | None = None) -> None:
    """Every ``tls.caFile`` loads as the probes will load it (a PEM bundle of CA certificates),
    and every ``tls.certFile`` with its ``keyFile``: one that is missing, unreadable, not PEM,
    or a key that is not the certificate's, is an error at its key now rather than reason
    ``tls`` on every run. Raises :class:`~sloctl.errors.SpecErrors` (this is an edge that reads
    files; the parser never does). The contexts it builds are kept in ``contexts``, for the
    probes of the same load."""
    if errors := tls_file_problems(config, contexts):
        raise SpecErrors(errors)


def tls_file_problems(config: CollectorConfig, contexts: TlsContexts | None = None) -> list[SpecError]:
    """:func:`check_tls_files`'s problems, every target's; each TLS configuration is loaded
    once (into ``contexts``), however many targets share it."""
    contexts = TlsContexts() if contexts is None else contexts
    found: dict[_TlsKey, list[tuple[str, str]]] = {}
    errors: list[SpecError] = []
    for i, t in enumerate(config.targets):
        if t.tls.ca_file is None and t.tls.cert_file is None:
            continue  # nothing of the config's to load
        key = _tls_key(t)
        if key not in found:
            found[key] = contexts.problems(t)
        said_here = found[key] or (_libpq_key_problems(t.tls) if t.kind in _LIBPQ_KINDS else [])
        for name, said in said_here:
            where = {"caFile": t.tls.ca_file_location, "certFile": t.tls.cert_file_location}.get(
                name, t.tls.key_file_location
            )
            errors.append(SpecError(where or t.location, f"targets[{i}].tls.{name}", said))
    return errors


def _ca_problems(tls: TlsConfig) -> list[tuple[str, str]]:
    """What is wrong with ``tls.caFile``, as (key, message) pairs."""
    if tls.ca_file is None:
        return []
    try:
        ssl.create_default_context(cafile=tls.ca_file)
    except OSError as exc:
        why = (
            f"not a PEM file of CA certificates ({exc.reason or exc})"
            if isinstance(exc, ssl.SSLError)
            else exc.strerror or str(exc)
        )
        return [("caFile", f"cannot load CA file {tls.ca_file}: {why}")]
    return []


def _client_certificate_problems(tls: TlsConfig) -> list[tuple[str, str]]:
    """``tls``'s client certificate and key: each file readable, then loaded together."""
    if tls.cert_file is None or tls.key_file is None:
        return []
    files = (("certFile", tls.cert_file, "client certificate"), ("keyFile", tls.key_file, "client key"))
    problems: list[tuple[str, str]] = []
    for key, file, what in files:
        try:
            Path(file).read_bytes()
        except OSError as exc:
            problems.append((key, f"cannot read {what} {file}: {exc.strerror or exc}"))
    if problems:
        return problems
    try:
        # a context without CA certificates: the pair is what is checked here
        load_client_certificate(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), tls)
    except _EncryptedKey as exc:
        return [("keyFile", f"cannot load client key {tls.key_file}: {exc}")]
    except ssl.SSLError as exc:
        said = (
            f"cannot load client certificate {tls.cert_file} with key {tls.key_file}:"
            f" {exc.reason or exc} (both PEM, the key the certificate's own)"
        )
        return [("certFile", said)]
    return []


def _libpq_key_problems(tls: TlsConfig) -> list[tuple[str, str]]:
    """A client key that libpq would refuse at every connection: one that group or others may
    read or write (libpq's rule: at most 0600, or 0640 when root owns the file)."""
    if tls.key_file is None:
        return []
    try:
        st = Path(tls.key_file).stat()
    except OSError as exc:  # loaded a moment ago: gone since
        return [("keyFile", f"cannot read client key {tls.key_file}: {exc.strerror or exc}")]
    if st.st_mode & (0o037 if st.st_uid == 0 else 0o077):
        return [
            (
                "keyFile",
                f"client key {tls.key_file} has mode {st.st_mode & 0o777:04o} (group or world access),"
                f" which libpq refuses at every connection: run chmod 600 {tls.key_file}",
            )
        ]
    return []


@dataclass(frozen=True)
class _TlsKey:
    """What a client TLS context is made of. Not ``serverName``: it is given per connection
    (``server_hostname``), so targets that differ only in it share a context."""

    ca_file: str | None
    cert_file: str | None
    key_file: str | None
    verify: bool
    #: the protocols offered by ALPN: HTTP/1.1 for http (httpcore sets it on the context at
    #: every connection; set here first, it never changes a shared one), none for redis
    alpn: tuple[str, ...]


def _tls_key(target: Target) -> _TlsKey:
    tls = target.tls
    alpn = ("http/1.1",) if target.kind is Kind.HTTP else ()
    return _TlsKey(tls.ca_file, tls.cert_file, tls.key_file, not tls.insecure_skip_verify, alpn)


class TlsContexts:
    """The client TLS contexts of one config load: one per distinct TLS configuration (CA file,
    client certificate and key, verification on or off, the kind's ALPN), built when first
    asked for and shared by every probe that uses it. Loading a CA bundle costs tens of
    milliseconds of CPU (21 ms for Debian's), and each HTTP probe built its own: 200 HTTPS
    targets took 8.7 s of CPU to start (docs/benchmarks.md, "TLS contexts").

    A context is configured here, completely, before any probe has it, and nothing changes it
    afterwards, which is what makes one ``ssl.SSLContext`` safe to share between connections.
    A new load (``sloctl collector run`` again, after a CA file was replaced) makes new
    contexts: nothing outlives the config it was built for, so a changed file is read again.
    Built on one thread (the check's, or the loop's while the runner starts).
    """

    def __init__(self) -> None:
        self._built: dict[_TlsKey, ssl.SSLContext] = {}

    def context(self, target: Target) -> ssl.SSLContext:
        """``target``'s context: its CA file (else the system's), its client certificate
        (mutual TLS), and no verification only where ``insecureSkipVerify`` says so. Raises
        ``OSError``/``ssl.SSLError`` (or ``ValueError``, for a key with a passphrase) when a
        file does not load; a failure is not kept, so the next call reads the files again."""
        key = _tls_key(target)
        if (ctx := self._built.get(key)) is None:
            ctx = ssl.create_default_context(cafile=key.ca_file)
            load_client_certificate(ctx, target.tls)
            if not key.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if key.alpn:
                ctx.set_alpn_protocols(list(key.alpn))
            self._built[key] = ctx
        return ctx

    def problems(self, target: Target) -> list[tuple[str, str]]:
        """What keeps ``target``'s context from loading, as (``tls`` key, message) pairs;
        none when it loads (and is kept)."""
        try:
            self.context(target)
        except (OSError, ValueError):
            return _ca_problems(target.tls) + _client_certificate_problems(target.tls)
        return []


class _EncryptedKey(ValueError):
    """A client key with a passphrase (OpenSSL asked for it)."""


def _no_passphrase() -> str:
    raise _EncryptedKey("it is encrypted: give keyFile a key without a passphrase")


def load_client_certificate(ctx: ssl.SSLContext, tls: TlsConfig) -> None:
    """Load ``tls.certFile`` and ``tls.keyFile`` into ``ctx``, as the probes and
    :func:`check_tls_files` do. An encrypted key is refused: OpenSSL would otherwise ask for
    its passphrase on the terminal, and a daemon would wait there."""
    if tls.cert_file is not None:
        ctx.load_cert_chain(tls.cert_file, tls.key_file, password=_no_passphrase)


def _check_literal_host(ctx: _Ctx, target: Target, egress: Egress) -> None:
    """Reject IP literals outside the allow-list now; names are checked at every run."""
    try:
        addr = ipaddress.ip_address(target.host.strip("[]"))
    except ValueError:
        return
    if not egress.allowed(str(addr)):
        allowed = ", ".join(map(str, egress.allow))
        ctx.problems.append(
            SpecError(
                target.location, "", f"target {target.name!r}: {addr} is outside allowNetworks ({allowed})"
            )
        )


def load_config(path: str | Path) -> CollectorConfig:
    """Read ``path`` and parse it; an unreadable file is a :class:`SpecErrors` too."""
    node = read_checked_document(SHAPE, path)
    return _valid(_config(_Ctx(str(path), node)))


def check_config(
    path: str | Path, environ: Mapping[str, str], contexts: TlsContexts | None = None
) -> CollectorConfig:
    """``sloctl collector check``: the config read, and every problem at once (raised as one
    :class:`SpecErrors`): its fields', its passwords' (environment variables, files), its CA
    files' and client certificates' (the contexts loaded kept in ``contexts``, for the probes),
    and where it listens and exports (names resolved). The shape is checked first, as the
    other checks read typed fields."""
    node = read_checked_document(SHAPE, path)
    config, problems = _config(_Ctx(str(path), node))
    problems += secret_problems(config, environ)[1] + tls_file_problems(config, contexts)
    if not any(p.path == "listen" or p.path.startswith("otlp") for p in problems):
        problems += reach_problems(config)  # else said at the field, and a name is not resolved twice
    if problems:
        raise SpecErrors(problems)
    return config


def _read_file(path: str) -> str:
    """A password file's text (what :func:`resolve_secrets` reads unless a test gives another),
    without the byte order mark that Windows editors write first: it became part of the
    password, and every run failed ``auth``."""
    return Path(path).read_text(encoding="utf-8-sig")


def resolve_secrets(
    config: CollectorConfig,
    environ: Mapping[str, str],
    read_file: Callable[[str], str] = _read_file,
) -> dict[tuple[str, str], str]:
    """Resolve every password reference → ``{(target, "password"|"admin"): value}``.

    This is the only place where secrets are read; a missing variable or file is reported
    with the target's location and never with the value, every one of them at once.
    """
    out, errors = secret_problems(config, environ, read_file)
    if errors:
        raise SpecErrors(errors)
    return out


def secret_problems(
    config: CollectorConfig,
    environ: Mapping[str, str],
    read_file: Callable[[str], str] = _read_file,
) -> tuple[dict[tuple[str, str], str], list[SpecError]]:
    """:func:`resolve_secrets`'s passwords and its problems, every target's."""
    out: dict[tuple[str, str], str] = {}
    errors: list[SpecError] = []
    for t in config.targets:
        for slot, ref in (("password", t.password), ("admin", t.admin_password)):
            if ref is None:
                continue
            value, problem = _secret(ref, environ, read_file)
            if problem is None and not value:
                # An empty secret is a mount or an export that did not happen, not a password.
                problem = (
                    f"environment variable {ref.ref} is empty"
                    if ref.source == "env"
                    else f"password file {ref.ref} has no password on its first line"
                )
            if problem is not None:
                where = ref.location or t.location
                errors.append(SpecError(where, ref.path, f"target {t.name!r}: {problem}"))
                continue
            out[(t.name, slot)] = value
    return out, errors


def _secret(
    ref: SecretRef, environ: Mapping[str, str], read_file: Callable[[str], str]
) -> tuple[str, str | None]:
    """One reference's value, or what is wrong with it."""
    if ref.source == "env":
        if ref.ref not in environ:
            return "", f"environment variable {ref.ref} is not set"
        return environ[ref.ref], None
    try:
        lines = read_file(ref.ref).splitlines()
    except OSError as exc:
        return "", f"cannot read password file {ref.ref}: {exc.strerror}"
    except UnicodeDecodeError:
        return "", f"password file {ref.ref} is not UTF-8 text"
    # The first line, as Docker/Kubernetes secrets and .pgpass-style files have it.
    return (lines[0].strip() if lines else ""), None
