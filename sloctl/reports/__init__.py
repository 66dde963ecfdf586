"""The report kit: one set of Jinja2 templates (autoescaped) and one chart module
(:mod:`sloctl.reports.charts`) for every HTML page sloctl writes or serves: the backtest, load
test and game-day reports and the ``sloctl serve`` UI.

>>> render("base.html.j2", title="x <y>").count("x &lt;y&gt;")
2
"""

from __future__ import annotations

import functools
import math
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from sloctl.durations import format_duration

__all__ = ["percent", "rate", "render", "secs"]


def percent(v: float | None, digits: int = 1) -> str:
    """A ratio as a percentage; ``unknown`` for no value (the overview's and status's wording)."""
    return f"{v * 100:.{digits}f} %" if v is not None and math.isfinite(v) else "unknown"


def rate(v: float | None) -> str:
    return f"{v:.2f}x" if v is not None and math.isfinite(v) else "unknown"


def secs(v: float | None) -> str:
    if v is None:
        return "-"
    return format_duration(int(v)) if v == int(v) and v and int(v) % 60 == 0 else f"{v:g}s"


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("sloctl.reports", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(percent=percent, rate=rate, secs=secs)
    return env


def render(template: str, **context: Any) -> str:
    """Render one of the kit's templates (``templates/*.html.j2``)."""
    return _environment().get_template(template).render(**context)
