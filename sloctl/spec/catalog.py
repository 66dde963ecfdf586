"""Burn-rate window catalogs: data, not code.

Catalogs use Sloth's ``AlertWindows`` shape. The defaults for 7d, 14d (2w), 28d (4w), 30d and
90d periods ship in ``sloctl/spec/windows/``, each with factors of at least 1× (factor =
budgetPercent / 100 × period / longWindow); users add their own as ``AlertWindows`` documents
among their SLO files or with ``--windows DIR``. A period with no catalog is an error naming the
catalogs there are: rescaling another period's catalog would put tiers below 1× burn (tickets
while the SLO is met).

Under ``--compat sloth`` Sloth's own behaviour applies instead (``windows/sloth/``: its 28d and
30d catalogs, and other periods keep the 30d windows with factors scaled), so that the output is
the one Sloth writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

from sloctl import naming
from sloctl.durations import DAY, HOUR, format_duration, parse_duration
from sloctl.errors import Location, SpecError
from sloctl.model import AlertWindows, BurnWindow, Severity
from sloctl.spec.build import child
from sloctl.spec.native_shape import WINDOWS
from sloctl.spec.reader import WORDS, Reader
from sloctl.spec.yamlsrc import YNode, parse_documents

DEFAULT_PERIOD = 30 * DAY
_SEVERITIES: tuple[Severity, ...] = ("page", "ticket")
_SPEEDS = ("quick", "slow")
_PERIOD = WINDOWS.fields["spec"].shape.fields["sloPeriod"]  # type: ignore[union-attr]


def read_alert_windows(doc: YNode, reader: Reader) -> AlertWindows | None:
    """An ``AlertWindows`` document (``sloth.slok.dev/v1`` or ``sloctl/v1``): its structure is
    checked by walking :data:`~sloctl.spec.native_shape.WINDOWS`, and read here with what a shape
    cannot say (each window shorter than its long window, and that within the period)."""
    n_errors = len(reader.errors)
    with reader.shaped_by(WINDOWS, doc):
        period, windows = _read_windows(doc, reader)
    if len(reader.errors) > n_errors:
        return None
    return AlertWindows(period, windows, f"{reader.file}:{doc.loc.line}")


def _read_windows(doc: YNode, reader: Reader) -> tuple[int, tuple[BurnWindow, ...]]:
    """The period and the four windows, their cross-field rules checked where the shape found
    their values."""
    period = reader.duration(child(doc, "spec", "sloPeriod"), "spec.sloPeriod", default=DEFAULT_PERIOD)
    period_read = reader.clean_below("spec.sloPeriod")
    windows: list[BurnWindow] = []
    for severity in _SEVERITIES:
        for speed in _SPEEDS:
            path = f"spec.{severity}.{speed}"
            node = child(doc, "spec", severity, speed)
            fields = node.value if node is not None and isinstance(node.value, dict) else {}
            pct = reader.number(fields.get("errorBudgetPercent"), f"{path}.errorBudgetPercent", default=1)
            short = reader.duration(fields.get("shortWindow"), f"{path}.shortWindow", default=300)
            long = reader.duration(fields.get("longWindow"), f"{path}.longWindow", default=HOUR)
            if node is not None and reader.clean_below(path):
                _check_window(reader, node.loc, path, (short, long), period if period_read else None)
            windows.append(BurnWindow(severity, speed, pct, short, long))  # type: ignore[arg-type]
    return period, tuple(windows)


def _check_window(
    reader: Reader, loc: Location, path: str, window: tuple[int, int], period: int | None
) -> None:
    """A window's short window is shorter than its long one, which is within ``period`` (None:
    the period did not read)."""
    short, long = window
    if short >= long:
        reader.error(
            loc,
            path,
            f"shortWindow {format_duration(short)} must be shorter than longWindow {format_duration(long)}",
        )
    if period is not None and long > period:
        reader.error(
            loc,
            f"{path}.longWindow",
            f"{format_duration(long)} is longer than the period {format_duration(period)}",
        )


def unusable_reason(doc: YNode, errors: Sequence[SpecError]) -> tuple[int, str] | None:
    """The period an ``AlertWindows`` document read with ``errors`` declares, and why it cannot
    be used (its first error, with its place); None when it declares none that reads."""
    node = child(doc, "spec", "sloPeriod")
    if not errors or node is None:
        return None
    found: list[SpecError] = []
    _PERIOD.check(node, "spec.sloPeriod", found, WORDS)
    if found:
        return None
    first = errors[0]
    return parse_duration(str(node.value)), f"{first.path}: {first.message} ({first.location})"


def _builtin(folder: str) -> dict[int, AlertWindows]:
    out: dict[int, AlertWindows] = {}
    for entry in sorted(resources.files("sloctl.spec").joinpath(folder).iterdir(), key=str):
        if not entry.name.endswith(".yaml"):
            continue
        name = f"sloctl/spec/{folder}/{entry.name}"
        docs, errors = parse_documents(entry.read_bytes(), name)
        reader = Reader(name)
        for doc in docs:
            catalog = read_alert_windows(doc, reader)
            if catalog is not None:
                out[catalog.period] = catalog
        if errors or reader.errors:  # a broken package, not user input
            raise RuntimeError(f"invalid built-in catalog {name}: {errors or reader.errors}")
    return out


BUILTIN = _builtin("windows")
SLOTH_BUILTIN = _builtin("windows/sloth")


def is_builtin(catalog: AlertWindows) -> bool:
    """Whether ``catalog`` has the windows of the built-in catalog of its period, which a spec
    gets without an ``AlertWindows`` document."""
    builtin = BUILTIN.get(catalog.period)
    return builtin is not None and builtin.windows == catalog.windows


@dataclass(frozen=True)
class Catalogs:
    """The catalogs a load can use: the user's (by period) on top of the built-in ones; with
    ``sloth``, Sloth's built-in catalogs and its rescaling (``--compat sloth``)."""

    user: Mapping[int, AlertWindows] = field(default_factory=dict)
    sloth: bool = False
    unusable: Mapping[int, str] = field(default_factory=dict)
    """Periods of the user's catalogs that could not be read → where and why (their first
    error): an SLO of such a period is told that, not that no catalog exists."""

    def resolve(self, period: int, reader: Reader, loc: Location, path: str) -> AlertWindows:
        """The catalog for ``period``. Without one that is an error (recorded on ``reader``) and
        the 30d catalog is returned so that reading goes on."""
        if period in self.user:
            catalog = self.user[period]
            if not self.sloth:
                _check_base_window(catalog, reader, loc, path)
            return catalog
        if period in self.unusable:
            reader.error(
                loc,
                path,
                f"the AlertWindows for a {_period_text(period)} period cannot be used: "
                f"{self.unusable[period]}; fix it there",
            )
            return AlertWindows(period, (), self.unusable[period])  # no tier: nothing more to say
        builtin = SLOTH_BUILTIN if self.sloth else BUILTIN
        if period in builtin:
            return builtin[period]
        base = builtin[DEFAULT_PERIOD]
        if self.sloth:
            return AlertWindows(
                period,
                base.windows,
                f"{base.source} (windows kept, factors scaled to {format_duration(period)})",
            )
        there = ", ".join(_period_text(p) for p in sorted({*BUILTIN, *self.user}))
        reader.error(
            loc,
            path,
            f"no burn-rate windows catalog for a {_period_text(period)} period; there are catalogs "
            f"for {there}. Use one of these periods or add an AlertWindows document for this one "
            '(docs/spec.md, "Burn-rate windows catalogs")',
        )
        return base


def _period_text(period: int) -> str:
    """A period in days, as periods are usually written, with Prometheus' spelling beside it
    where that differs (``365d (1y)``, ``7d (1w)``)."""
    prometheus = format_duration(period)
    if period % DAY:
        return prometheus
    days = f"{period // DAY}d"
    return days if days == prometheus else f"{days} ({prometheus})"


def _check_base_window(catalog: AlertWindows, reader: Reader, loc: Location, path: str) -> None:
    """sloctl's rules build every window but the quick page's long one from the recorded 5m
    rates: a shorter window would silently read as 5m (Sloth's layout, ``--compat sloth``, reads
    each window raw and takes any)."""
    short = sorted(
        {
            (w.severity, w.speed, name, seconds)
            for w in catalog.windows
            for name, seconds in (("shortWindow", w.short_window), ("longWindow", w.long_window))
            if seconds < naming.BASE_WINDOW
        }
    )
    if short:
        severity, speed, name, seconds = short[0]
        reader.error(
            loc,
            path,
            f"the AlertWindows at {catalog.source} has spec.{severity}.{speed}.{name}"
            f" {format_duration(seconds)}, shorter than the {format_duration(naming.BASE_WINDOW)} rates"
            f" the rules record (it would read as {format_duration(naming.BASE_WINDOW)}); use"
            f" {format_duration(naming.BASE_WINDOW)} or longer",
        )


def origin(loc: Location) -> str:
    return f"{loc.file}:{loc.line}"
