"""sloctl: SLOs as code.

One SLO file compiles to Prometheus rules with generated promtool tests, Grafana dashboards,
Alertmanager routes, probes, game days and load-test gates. The library is the product; the
``sloctl`` command is a thin layer over it.

>>> from sloctl import load_paths
>>> result = load_paths(["slos/"])  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sloctl.spec import LoadResult, load_paths, load_text

__version__ = "0.1.0"
__all__ = ["LoadResult", "__version__", "discover", "load_paths", "load_text"]

#: the loaders' names, imported from :mod:`sloctl.spec` when first read (PEP 562), so that
#: importing ``sloctl`` (the ``sloctl`` command's first step, before it can hear Ctrl-C as a
#: user's interrupt) costs nothing: ``sloctl.spec`` and what it imports took 0.16 s
_LAZY = frozenset({"LoadResult", "load_paths", "load_text"})


if not TYPE_CHECKING:  # to mypy the names are the imports above: a misspelt one is an error

    def __getattr__(name: str) -> object:
        if name in _LAZY:
            from sloctl import spec

            return getattr(spec, name)
        raise AttributeError(f"module 'sloctl' has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted({*globals(), *_LAZY})


def discover(discover_system: bool = True) -> dict[str, object]:
    """Chaos Toolkit's extension discovery (`chaos discover sloctl`). Imported lazily so that
    importing sloctl stays light: the extension lives in ``sloctl.chaos``."""
    from sloctl.chaos import discover as chaos_discover

    result: dict[str, object] = chaos_discover(discover_system)
    return result
