"""Collector configuration: YAML text → a frozen, validated :class:`CollectorConfig`.

This module is pure: it never reads the environment, the clock or the network. Passwords are
kept as *references* (``{env: NAME}`` or ``{file: PATH}``) and resolved at the edge by
:func:`resolve_secrets`, so that a config object can be printed, compared and logged without
ever holding a secret.

Every error carries ``file:line`` so that a typo in ``collector/targets.yaml`` reads like a
compiler error, not a traceback::

    >>> load_config_text("apiVersion: sloctl/v1\\nkind: CollectorConfig\\ntargets: []\\n", "t.yaml").targets
    ()
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeAlias
from urllib.parse import urlsplit

import yaml

from sloctl.egress import LOOPBACK, Egress, EgressDenied

__all__ = [
    "CollectorConfig",
    "ConfigError",
    "ConnectionMode",
    "HttpCheck",
    "Kind",
    "OtlpConfig",
    "SecretRef",
    "Target",
    "TlsConfig",
    "check_reach",
    "load_config",
    "load_config_text",
    "resolve_secrets",
]

IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
_NAME_RE = re.compile(r"^[a-z0-9_-]+$")


class Kind(StrEnum):
    POSTGRES = "postgres"
    PGBOUNCER = "pgbouncer"
    REDIS = "redis"
    MONGODB = "mongodb"
    HTTP = "http"


class ConnectionMode(StrEnum):
    """``cold`` opens a new connection for every run; ``warm`` keeps one open between runs."""

    COLD = "cold"
    WARM = "warm"


_DEFAULT_PORTS = {Kind.POSTGRES: 5432, Kind.PGBOUNCER: 6432, Kind.REDIS: 6379, Kind.MONGODB: 27017}


class ConfigError(ValueError):
    """A configuration problem, located at ``file:line``."""

    def __init__(self, location: str, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.detail = message


@dataclass(frozen=True)
class SecretRef:
    """Where a password comes from: an environment variable or a file (first line, stripped)."""

    source: str  # "env" or "file"
    ref: str

    def __repr__(self) -> str:  # never tempt anyone to put the value here
        return f"SecretRef({self.source}={self.ref!r})"


@dataclass(frozen=True)
class TlsConfig:
    enabled: bool = False
    ca_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False


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

    @property
    def host_port(self) -> tuple[str, int]:
        """The endpoint's host and port (gRPC endpoints may be written without a scheme)."""
        parts = urlsplit(self.endpoint if "://" in self.endpoint else f"//{self.endpoint}")
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
    location: str
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

    def egress(self) -> Egress:
        """The guard every probe connects through."""
        return Egress(allow=self.allow, action="probe", widen="allowNetworks in the collector config")


#: Where the collector may listen and export without saying so: loopback.
LISTEN = Egress(action="listen on", widen="allowNonLoopbackListen: true in the collector config")
EXPORT = Egress(action="export traces to", widen="allowNonLoopback: true under otlp in the collector config")


# --- YAML with line numbers ---------------------------------------------------------------


class _Map(dict[str, object]):
    """A mapping that remembers the line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]


class _Seq(list[object]):
    line: int = 0


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    out = _Map()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[str(key)] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(n, deep=True) for n in node.value)
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


class _Ctx:
    """Reads one mapping and reports errors at the line of the offending key."""

    def __init__(self, source: str, data: object, where: str, line: int) -> None:
        self.source = source
        if not isinstance(data, _Map):
            raise ConfigError(f"{source}:{line}", f"{where} must be a mapping")
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def loc(self, key: str | None = None) -> str:
        line = self.data.key_lines.get(key, self.data.line) if key else self.data.line
        return f"{self.source}:{line}"

    def err(self, key: str | None, message: str) -> ConfigError:
        return ConfigError(self.loc(key), message)

    def raw(self, key: str) -> object:
        self.used.add(key)
        return self.data.get(key)

    def str_(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.raw(key)
        if value is None:
            if required:
                raise self.err(None, f"{self.where}: missing required field {key!r}")
            return default
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self.err(key, f"{key!r} must be a string")
        return str(value)

    def bool_(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.err(key, f"{key!r} must be true or false")
        return value

    def int_(self, key: str, default: int, lo: int, hi: int) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise self.err(key, f"{key!r} must be an integer between {lo} and {hi}")
        return value

    def duration(self, key: str, default: float | None) -> float | None:
        value = self.raw(key)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.err(key, f"{key!r}: {exc}") from None

    def secret(self, key: str) -> SecretRef | None:
        value = self.raw(key)
        if value is None:
            return None
        if isinstance(value, str):
            raise self.err(
                key,
                f"{key!r}: literal passwords are not accepted; use {{env: NAME}} or {{file: PATH}}",
            )
        sub = _Ctx(self.source, value, key, self.data.key_lines.get(key, self.data.line))
        env, path = sub.str_("env"), sub.str_("file")
        sub.finish()
        if (env is None) == (path is None):
            raise self.err(key, f"{key!r} needs exactly one of 'env' or 'file'")
        return SecretRef("env", env) if env is not None else SecretRef("file", str(path))

    def finish(self) -> None:
        unknown = [k for k in self.data if k not in self.used]
        if unknown:
            raise self.err(unknown[0], f"{self.where}: unknown field {unknown[0]!r}")


_DURATION_RE = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)$")


def parse_duration(value: object) -> float:
    """``"500ms"``, ``"10s"``, ``"1m"`` or a number of seconds → seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10s or 500ms")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION_RE.match(value.strip())):
        seconds = float(m.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[m.group(2)]
    else:
        raise ValueError(f"expected a duration such as 10s or 500ms, got {value!r}")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return seconds


def _parse_target(ctx: _Ctx, defaults: tuple[float, float | None, tuple[ConnectionMode, ...]]) -> Target:
    name = ctx.str_("name", required=True)
    assert name is not None
    if not _NAME_RE.match(name):
        raise ctx.err("name", f"target name {name!r} must match [a-z0-9_-]+")
    kind_s = ctx.str_("kind", required=True)
    try:
        kind = Kind(str(kind_s))
    except ValueError:
        raise ctx.err("kind", f"kind {kind_s!r} is not one of {', '.join(k.value for k in Kind)}") from None
    interval = ctx.duration("interval", defaults[0])
    assert interval is not None
    timeout = ctx.duration("timeout", defaults[1])
    if timeout is None:
        timeout = interval * 0.8
    if timeout >= interval:
        raise ctx.err("timeout", f"timeout ({timeout:g}s) must be shorter than the interval ({interval:g}s)")
    connections = _parse_connections(ctx, defaults[2])
    tls_ctx_raw = ctx.raw("tls")
    tls = TlsConfig()
    if tls_ctx_raw is not None:
        t = _Ctx(ctx.source, tls_ctx_raw, "tls", ctx.data.key_lines.get("tls", ctx.data.line))
        tls = TlsConfig(
            enabled=t.bool_("enabled", True),
            ca_file=t.str_("caFile"),
            server_name=t.str_("serverName"),
            insecure_skip_verify=t.bool_("insecureSkipVerify", False),
        )
        t.finish()
    common = {
        "name": name,
        "kind": kind,
        "interval": interval,
        "timeout": timeout,
        "connections": connections,
        "location": ctx.loc(),
        "tls": tls,
    }
    if kind is Kind.HTTP:
        url = ctx.str_("url", required=True)
        assert url is not None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ctx.err("url", f"url {url!r} must be an absolute http:// or https:// URL")
        check = _parse_http_check(ctx)
        tls = TlsConfig(
            enabled=parts.scheme == "https",
            ca_file=tls.ca_file,
            server_name=tls.server_name,
            insecure_skip_verify=tls.insecure_skip_verify,
        )
        common["tls"] = tls
        target = Target(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 80),
            url=url,
            http=check,
            password=None,
            **common,  # type: ignore[arg-type]
        )
    else:
        host = ctx.str_("host", "127.0.0.1")
        assert host is not None
        port = ctx.int_("port", _DEFAULT_PORTS[kind], 1, 65535)
        user = ctx.str_("user")
        database = ctx.str_("database")
        if kind in (Kind.POSTGRES, Kind.PGBOUNCER) and (user is None or database is None):
            raise ctx.err(None, f"target {name!r}: kind {kind.value} needs 'user' and 'database'")
        admin_user = admin_password = None
        if kind is Kind.PGBOUNCER:
            admin_user = ctx.str_("adminUser")
            admin_password = ctx.secret("adminPassword")
        target = Target(
            host=host,
            port=port,
            user=user,
            database=database,
            password=ctx.secret("password"),
            canary=ctx.bool_("canary", False),
            admin_user=admin_user,
            admin_password=admin_password,
            **common,  # type: ignore[arg-type]
        )
    ctx.finish()
    return target


def _parse_connections(ctx: _Ctx, default: tuple[ConnectionMode, ...]) -> tuple[ConnectionMode, ...]:
    value = ctx.raw("connections")
    if value is None:
        return default
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ctx.err("connections", "'connections' must be cold, warm or a list of them")
    modes: list[ConnectionMode] = []
    for item in items:
        try:
            mode = ConnectionMode(str(item))
        except ValueError:
            raise ctx.err("connections", f"connection mode {item!r} is not cold or warm") from None
        if mode not in modes:
            modes.append(mode)
    return tuple(modes)


def _parse_http_check(ctx: _Ctx) -> HttpCheck:
    raw = ctx.raw("expect")
    if raw is None:
        return HttpCheck()
    e = _Ctx(ctx.source, raw, "expect", ctx.data.key_lines.get("expect", ctx.data.line))
    status_raw = e.raw("status")
    statuses = frozenset({200})
    if status_raw is not None:
        items = status_raw if isinstance(status_raw, list) else [status_raw]
        if not items or not all(isinstance(s, int) and 100 <= s <= 599 for s in items):
            raise e.err("status", "'status' must be an HTTP status code or a list of them")
        statuses = frozenset(s for s in items if isinstance(s, int))
    method = (e.str_("method", "GET") or "GET").upper()
    check = HttpCheck(
        method=method,
        expect_status=statuses,
        problem_json=e.bool_("problemJson", True),
        rate_limit_headers=e.bool_("rateLimitHeaders", False),
        link_header=e.bool_("linkHeader", False),
    )
    e.finish()
    return check


def load_config_text(text: str, source: str = "<string>") -> CollectorConfig:
    """Parse and validate a ``CollectorConfig`` document; raises :class:`ConfigError`."""
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else 1
        raise ConfigError(f"{source}:{line}", f"invalid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}:1", f"invalid YAML: {exc}") from None
    ctx = _Ctx(source, data, "document", 1)
    if ctx.str_("apiVersion", required=True) != "sloctl/v1":
        raise ctx.err("apiVersion", "apiVersion must be sloctl/v1")
    if ctx.str_("kind", required=True) != "CollectorConfig":
        raise ctx.err("kind", "kind must be CollectorConfig")

    listen = ctx.str_("listen", "127.0.0.1:9465") or ""
    host, _, port_s = listen.rpartition(":")
    if not host or not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise ctx.err("listen", f"listen {listen!r} must be HOST:PORT")
    host = host.strip("[]")
    listen_non_loopback = ctx.bool_("allowNonLoopbackListen", False)
    refused = None if listen_non_loopback else _refused_literal(host, LISTEN)
    if refused:
        raise ctx.err("listen", refused)

    allow = LOOPBACK
    allow_raw = ctx.raw("allowNetworks")
    if allow_raw is not None:
        if not isinstance(allow_raw, list) or not allow_raw:
            raise ctx.err("allowNetworks", "'allowNetworks' must be a non-empty list of CIDR networks")
        try:
            allow = tuple(ipaddress.ip_network(str(n), strict=False) for n in allow_raw)
        except ValueError as exc:
            raise ctx.err("allowNetworks", f"'allowNetworks': {exc}") from None

    otlp = None
    otlp_raw = ctx.raw("otlp")
    if otlp_raw is not None:
        o = _Ctx(source, otlp_raw, "otlp", ctx.data.key_lines.get("otlp", 1))
        endpoint = o.str_("endpoint", required=True)
        protocol = o.str_("protocol", "http/protobuf")
        if protocol not in ("http/protobuf", "grpc"):
            raise o.err("protocol", "otlp protocol must be http/protobuf or grpc")
        otlp = OtlpConfig(
            endpoint=str(endpoint),
            protocol=str(protocol),
            allow_non_loopback=o.bool_("allowNonLoopback", False),
        )
        o.finish()
        try:
            otlp_host = otlp.host_port[0]
        except ValueError:
            raise o.err("endpoint", f"otlp endpoint {endpoint!r} is not a URL") from None
        if not otlp_host:
            raise o.err("endpoint", f"otlp endpoint {endpoint!r} names no host")
        refused = None if otlp.allow_non_loopback else _refused_literal(otlp_host, EXPORT)
        if refused:
            raise o.err("endpoint", refused)

    d_raw = ctx.raw("defaults")
    d_interval: float = 10.0
    d_timeout: float | None = None
    d_conn: tuple[ConnectionMode, ...] = (ConnectionMode.COLD,)
    if d_raw is not None:
        d = _Ctx(source, d_raw, "defaults", ctx.data.key_lines.get("defaults", 1))
        d_interval = d.duration("interval", 10.0) or 10.0
        d_timeout = d.duration("timeout", None)
        d_conn = _parse_connections(d, d_conn)
        d.finish()

    targets_raw = ctx.raw("targets")
    if targets_raw is None:
        targets_raw = _Seq()
    if not isinstance(targets_raw, list):
        raise ctx.err("targets", "'targets' must be a list")
    targets: list[Target] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(targets_raw):
        line = item.line if isinstance(item, _Map) else getattr(targets_raw, "line", 1)
        t = _parse_target(_Ctx(source, item, f"targets[{i}]", line), (d_interval, d_timeout, d_conn))
        if t.name in seen:
            raise ConfigError(t.location, f"duplicate target name {t.name!r} (first at {seen[t.name]})")
        seen[t.name] = t.location
        targets.append(t)

    config = CollectorConfig(
        targets=tuple(targets),
        listen_host=host,
        listen_port=int(port_s),
        listen_non_loopback=listen_non_loopback,
        debug_targets=ctx.bool_("debugTargets", True),
        allow=allow,
        otlp=otlp,
        debug_history=ctx.int_("debugHistory", 20, 1, 1000),
        service_name=ctx.str_("serviceName", "sloctl-collector") or "sloctl-collector",
        source=source,
    )
    ctx.finish()
    for t in config.targets:
        _check_literal_host(t, config.egress())
    return config


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
    more. Raises :class:`ConfigError` (this is the edge that resolves; the parser never does)."""
    try:
        if not config.listen_non_loopback:
            LISTEN.check(config.listen_host, config.listen_port)
        if config.otlp is not None and not config.otlp.allow_non_loopback:
            EXPORT.check(*config.otlp.host_port)
    except EgressDenied as exc:
        raise ConfigError(config.source, str(exc)) from None


def _check_literal_host(target: Target, egress: Egress) -> None:
    """Reject IP literals outside the allow-list now; names are checked at every run."""
    try:
        addr = ipaddress.ip_address(target.host.strip("[]"))
    except ValueError:
        return
    if not egress.allowed(str(addr)):
        allowed = ", ".join(map(str, egress.allow))
        raise ConfigError(
            target.location, f"target {target.name!r}: {addr} is outside allowNetworks ({allowed})"
        )


def load_config(path: str | Path) -> CollectorConfig:
    """Read ``path`` and parse it; an unreadable file is a :class:`ConfigError` too."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}:0", f"cannot read: {exc.strerror}") from None
    return load_config_text(text, str(p))


def resolve_secrets(
    config: CollectorConfig,
    environ: Mapping[str, str],
    read_file: Callable[[str], str] = lambda p: Path(p).read_text(encoding="utf-8"),
) -> dict[tuple[str, str], str]:
    """Resolve every password reference → ``{(target, "password"|"admin"): value}``.

    This is the only place where secrets are read; a missing variable or file is reported
    with the target's location and never with the value.
    """
    out: dict[tuple[str, str], str] = {}
    for t in config.targets:
        for slot, ref in (("password", t.password), ("admin", t.admin_password)):
            if ref is None:
                continue
            if ref.source == "env":
                if ref.ref not in environ:
                    raise ConfigError(
                        t.location, f"target {t.name!r}: environment variable {ref.ref} is not set"
                    )
                out[(t.name, slot)] = environ[ref.ref]
            else:
                try:
                    lines = read_file(ref.ref).splitlines()
                    # The first line, as Docker/Kubernetes secrets and .pgpass-style files have it.
                    out[(t.name, slot)] = lines[0].strip() if lines else ""
                except OSError as exc:
                    raise ConfigError(
                        t.location, f"target {t.name!r}: cannot read password file {ref.ref}: {exc.strerror}"
                    ) from None
    return out
