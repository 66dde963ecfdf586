"""Game days: a Chaos Toolkit extension (actions, probes, a control) and a TCP fault proxy.

Needs the ``chaos`` extra for the Chaos Toolkit parts; :mod:`sloctl.chaos.proxy` uses the
standard library only.
"""

from __future__ import annotations

__all__: list[str] = []
