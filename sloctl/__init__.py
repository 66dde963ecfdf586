"""sloctl: SLOs as code.

One SLO file compiles to Prometheus rules with generated promtool tests, Grafana dashboards,
Alertmanager routes, probes, game days and load-test gates. The library is the product; the
``sloctl`` command is a thin layer over it.

>>> from sloctl import load_paths
>>> result = load_paths(["slos/"])  # doctest: +SKIP
"""

from sloctl.spec import LoadResult, load_paths, load_text

__version__ = "0.1.0"
__all__ = ["LoadResult", "__version__", "discover", "load_paths", "load_text"]


def discover(discover_system: bool = True) -> dict[str, object]:
    """Chaos Toolkit's extension discovery (`chaos discover sloctl`). Imported lazily so that
    importing sloctl stays light: the extension lives in ``sloctl.chaos``."""
    from sloctl.chaos import discover as chaos_discover

    result: dict[str, object] = chaos_discover(discover_system)
    return result
