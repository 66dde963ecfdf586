"""The tool shelf: pinned peers built from Go modules into a per-machine cache outside the clone.

sloctl proves its output on the engines teams run: Prometheus 3 (beside Debian's 2.42),
Alertmanager 0.3x, the real Sloth, VictoriaMetrics with vmalert, and an OpenTelemetry
Collector. None of them can be downloaded as a binary here, so ``scripts/tools.sh`` (``python -m
sloctl.shelf``) builds each pinned version once per machine into
``${SLOCTL_TOOLS:-~/.cache/sloctl/tools}/NAME-VERSION/bin``; a fresh clone on the same machine
reuses it. This module holds the pins (data, one place) and finds the binaries; ``build``
builds them.

>>> find("promtool")  # doctest: +SKIP
PosixPath('/root/.cache/sloctl/tools/prometheus-v0.316.0/bin/promtool')
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DEBIAN_PROMETHEUS",
    "ENGINE_NAMES",
    "TOOLS",
    "PrometheusEngine",
    "Tool",
    "ToolMissing",
    "default_engine",
    "engine_named",
    "find",
    "prometheus_engines",
    "require",
    "shelf_dir",
    "tool",
    "tool_dir",
    "which",
]


@dataclass(frozen=True)
class Tool:
    """One pinned peer: where its Go code comes from and what to build."""

    name: str
    """Shelf folder prefix and the name ``scripts/tools.sh NAME`` takes."""
    module: str
    version: str
    """The Go module version pinned (what ``go get`` takes)."""
    release: str
    """The product's own version, as its users know it."""
    packages: tuple[str, ...]
    """Main packages, relative to ``module``: ``.`` is the module's root package (or our own
    ``source``)."""
    binaries: tuple[str, ...]
    ldflags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    """Go build tags: what of the module the shelf leaves out (a tool's ``BUILD.json`` records
    them, and a change rebuilds it)."""
    requires: tuple[str, ...] = ()
    """Further ``module@version`` pins the build needs (assembled tools)."""
    source: str | None = None
    """A folder of Go code of ours beside this module that assembles the tool (``otelcol``)."""
    placeholders: tuple[str, ...] = ()
    """Files the module's ``go:embed`` wants but its module zip lacks (built web assets):
    created empty-ish in a local copy of the module so the server builds without its web UI."""

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"


def _common_version(release: str, module_version: str) -> tuple[str, ...]:
    pkg = "github.com/prometheus/common/version"
    return (
        f"-X {pkg}.Version={release}",
        f"-X {pkg}.Revision={module_version}",
        f"-X {pkg}.Branch=go-module",
        f"-X {pkg}.BuildUser=sloctl-shelf",
    )


# The pins. Versions that `go get` accepted on go1.26 (docs/compat.md records them and the build
# times); every OpenTelemetry Collector module at one release (v0.161.0 pairs with v1.67.0).
_OTEL = "v0.161.0"
_OTEL_STABLE = "v1.67.0"
_CONTRIB = "github.com/open-telemetry/opentelemetry-collector-contrib"
TOOLS: tuple[Tool, ...] = (
    Tool(
        "prometheus",
        "github.com/prometheus/prometheus",
        "v0.316.0",
        "3.16.0",
        ("cmd/prometheus", "cmd/promtool"),
        ("prometheus", "promtool"),
        _common_version("3.16.0", "v0.316.0"),
        # Only the file and HTTP service discoveries (plugins/minimum.go): no cloud or Kubernetes
        # SDKs in the server, whose configs here are static or file_sd (promtool keeps its own
        # Kubernetes import).
        tags=("remove_all_sd",),
    ),
    Tool(
        "alertmanager",
        "github.com/prometheus/alertmanager",
        "v0.35.0",
        "0.35.0",
        ("cmd/alertmanager", "cmd/amtool"),
        ("alertmanager", "amtool"),
        _common_version("0.35.0", "v0.35.0"),
        placeholders=("ui/app/dist/elm/index.html", "ui/app/dist/mantine/index.html"),
    ),
    Tool(
        "sloth",
        "github.com/slok/sloth",
        "v0.16.0",
        "0.16.0",
        ("cmd/sloth",),
        ("sloth",),
        ("-X github.com/slok/sloth/internal/info.Version=v0.16.0",),
    ),
    Tool(
        # Pyrra's `generate` command writes the rules Pyrra would: the oracle for reading its specs.
        "pyrra",
        "github.com/pyrra-dev/pyrra",
        "v0.9.5",
        "0.9.5",
        (".",),
        ("pyrra",),
        (),
        placeholders=("ui/build/index.html",),
    ),
    Tool(
        # OpenSLO's own validator, `oslo validate` (on OpenSLO's Go SDK v0.6.2): the oracle of
        # what `sloctl convert --to openslo` writes (tests/convert/test_round_trips.py).
        "oslo",
        "github.com/OpenSLO/oslo",
        "v0.13.0",
        "0.13.0",
        ("cmd/oslo",),
        ("oslo",),
    ),
    Tool(
        # The cluster trio (vminsert/vmselect/vmstorage) lives on VictoriaMetrics' `-cluster` tags,
        # which the Go module proxy refuses (403); the distributed set-up is an HA pair of
        # single-node instances fed by vmagent's replication, queried through vmauth.
        "victoriametrics",
        "github.com/VictoriaMetrics/VictoriaMetrics",
        "v1.151.0",
        "1.151.0",
        ("app/victoria-metrics", "app/vmalert", "app/vmagent", "app/vmauth"),
        ("victoria-metrics", "vmalert", "vmagent", "vmauth"),
        ("-X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=sloctl-shelf-v1.151.0",),
    ),
    Tool(
        "otelcol",
        "go.opentelemetry.io/collector/otelcol",
        _OTEL,
        "0.161.0",
        (".",),
        ("otelcol-sloctl",),
        (f"-X main.version={_OTEL}",),
        requires=(
            f"go.opentelemetry.io/collector/confmap@{_OTEL_STABLE}",
            f"go.opentelemetry.io/collector/confmap/provider/envprovider@{_OTEL_STABLE}",
            f"go.opentelemetry.io/collector/confmap/provider/fileprovider@{_OTEL_STABLE}",
            f"go.opentelemetry.io/collector/receiver/otlpreceiver@{_OTEL}",
            f"go.opentelemetry.io/collector/processor/batchprocessor@{_OTEL}",
            f"go.opentelemetry.io/collector/processor/memorylimiterprocessor@{_OTEL}",
            f"go.opentelemetry.io/collector/exporter/otlpexporter@{_OTEL}",
            f"go.opentelemetry.io/collector/exporter/otlphttpexporter@{_OTEL}",
            f"go.opentelemetry.io/collector/exporter/debugexporter@{_OTEL}",
            f"{_CONTRIB}/processor/tailsamplingprocessor@{_OTEL}",
            f"{_CONTRIB}/exporter/fileexporter@{_OTEL}",
            f"{_CONTRIB}/exporter/prometheusremotewriteexporter@{_OTEL}",
            f"{_CONTRIB}/extension/healthcheckextension@{_OTEL}",
        ),
        source="otelcol",
    ),
)
_BY_NAME = {t.name: t for t in TOOLS}
_BY_BINARY = {b: t for t in TOOLS for b in t.binaries}


class ToolMissing(RuntimeError):
    """A shelf binary is not built on this machine."""


def shelf_dir() -> Path:
    """``$SLOCTL_TOOLS`` or ``~/.cache/sloctl/tools``: per machine, outside every clone."""
    configured = os.environ.get("SLOCTL_TOOLS")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "sloctl" / "tools"


def tool(name: str) -> Tool:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ToolMissing(f"no tool named {name!r} on the shelf; known: {', '.join(_BY_NAME)}") from None


def tool_dir(t: Tool) -> Path:
    return shelf_dir() / t.folder


def find(binary: str) -> Path | None:
    """The shelf's ``binary`` (``promtool``, ``vmalert``, ``sloth`` …) if it is built here."""
    t = _BY_BINARY.get(binary)
    if t is None:
        raise ToolMissing(f"no shelf tool builds {binary!r}; known: {', '.join(sorted(_BY_BINARY))}")
    path = tool_dir(t) / "bin" / binary
    return path if path.is_file() and os.access(path, os.X_OK) else None


def require(binary: str) -> Path:
    """Like ``find``, but a missing binary is an error that says how to build it."""
    path = find(binary)
    if path is None:
        t = _BY_BINARY[binary]
        raise ToolMissing(
            f"{binary} ({t.name} {t.release}) is not built on this machine: run `scripts/tools.sh "
            f"{t.name}` (needs Go and the Go module proxy; it builds into {tool_dir(t)})"
        )
    return path


@dataclass(frozen=True)
class PrometheusEngine:
    """A Prometheus distribution: the server and the promtool of one version."""

    name: str
    version: str
    prometheus: Path
    promtool: Path

    @property
    def major(self) -> int:
        """The major version; 0 when it could not be read (treated as the oldest)."""
        head = self.version.split(".")[0]
        return int(head) if head.isdigit() else 0


DEBIAN_PROMETHEUS = PrometheusEngine(
    "prometheus-2", "2.42.0", Path("/usr/bin/prometheus"), Path("/usr/bin/promtool")
)


def prometheus_engines() -> list[PrometheusEngine]:
    """Every Prometheus this machine has: Debian's 2.42 (package ``prometheus``) and the shelf's
    3.x, oldest first."""
    engines: list[PrometheusEngine] = []
    if DEBIAN_PROMETHEUS.prometheus.is_file() and DEBIAN_PROMETHEUS.promtool.is_file():
        engines.append(DEBIAN_PROMETHEUS)
    server, promtool = find("prometheus"), find("promtool")
    if server and promtool:
        engines.append(PrometheusEngine("prometheus-3", _BY_NAME["prometheus"].release, server, promtool))
    return engines


ENGINE_NAMES = ("prometheus-2", "prometheus-3")

DEBIAN_AMTOOL = Path("/usr/bin/amtool")


def amtools() -> list[tuple[str, Path]]:
    """Every amtool this machine has, as ``(alertmanager-VERSION, path)``: Debian's 0.25 (package
    ``prometheus-alertmanager``) and the shelf's 0.3x, oldest first."""
    found = [DEBIAN_AMTOOL] if DEBIAN_AMTOOL.is_file() else []
    shelf = find("amtool")
    if shelf is not None:
        found.append(shelf)
    return [(f"alertmanager-{_version_of(path)}", path) for path in found]


def engine_named(name: str) -> PrometheusEngine:
    """``prometheus-2`` (Debian's) or ``prometheus-3`` (the shelf's); ToolMissing if absent."""
    for e in prometheus_engines():
        if e.name == name:
            return e
    if name == "prometheus-3":
        require("promtool")
    if name == "prometheus-2":
        raise ToolMissing("Prometheus 2 is Debian's package: run `apt-get install prometheus`")
    raise ToolMissing(f"unknown engine {name!r}; known: {', '.join(ENGINE_NAMES)}")


_VERSION = re.compile(r"version (\d+\.\d+\.\d+)")


def _version_text(binary: Path) -> str:
    """What ``binary --version`` prints, both streams ('' when it cannot run)."""
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return ""
    return out.stdout + out.stderr


def _version_of(binary: Path, text: str | None = None) -> str:
    """The version ``binary --version`` (or its ``text``) says, or ``unknown``."""
    m = _VERSION.search(_version_text(binary) if text is None else text)
    return m.group(1) if m else "unknown"


def default_engine() -> PrometheusEngine:
    """The Prometheus sloctl runs unless told otherwise: ``$PROMTOOL``/``$PROMETHEUS`` when set,
    else the ones on PATH (a team's own), else the shelf's 3.x. ToolMissing when there is none,
    or when either variable names something that is not that program (:func:`_checked`)."""
    hint = (
        "on Debian/Ubuntu run `apt-get install prometheus`, or build Prometheus 3 with "
        "`scripts/tools.sh prometheus`, or set PROMTOOL=/path/to/promtool"
    )
    configured = os.environ.get("PROMTOOL")
    configured_server = os.environ.get("PROMETHEUS")
    found = configured or shutil.which("promtool") or find("promtool")
    server = configured_server or shutil.which("prometheus") or find("prometheus")
    if not found:
        raise ToolMissing(f"promtool is not installed: {hint}")
    if configured_server:
        _checked(Path(configured_server), "prometheus", f"PROMETHEUS={configured_server}", hint)
    promtool = Path(found)
    for e in prometheus_engines():
        if e.promtool == promtool and (server is None or Path(server) == e.prometheus):
            return e
    given = f"PROMTOOL={promtool}" if configured else str(promtool)
    version = _version_of(promtool, _checked(promtool, "promtool", given, hint))
    server_path = Path(server) if server else promtool.with_name("prometheus")
    return PrometheusEngine(f"prometheus-{version.split('.')[0]}", version, server_path, promtool)


def _checked(binary: Path, name: str, given: str, hint: str) -> str:
    """What ``binary --version`` says, once checked that ``binary`` (``given``: how the user
    named it, such as ``PROMTOOL=/bin/true``) is an executable file whose ``--version`` says it
    is ``name`` (promtool, prometheus); ToolMissing with ``hint`` otherwise. A folder ran, each run
    "Permission denied", exit 1; /bin/true passed every check and test, exit 0; /bin/ls as the
    server failed each replay with "unrecognized option"."""
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise ToolMissing(f"{given} is not an executable file; {hint}")
    said = _version_text(binary)
    if not re.search(rf"^{name}, version ", said, re.MULTILINE):
        raise ToolMissing(f"{given} is not {name} (its --version does not say {name}); {hint}")
    return said


def which(binary: str) -> str | None:
    """``binary`` from PATH, else from the shelf (the order a user's set-up would expect)."""
    found = shutil.which(binary)
    if found:
        return found
    try:
        path = find(binary)
    except ToolMissing:
        return None
    return str(path) if path else None
