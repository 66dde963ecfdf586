"""The amtools of the matrix (Debian's 0.25 and the tool shelf's 0.35 in its three matcher
modes: UTF-8 with classic fallback, the default; UTF-8 strict; classic), and the inhibitions a
real Alertmanager makes."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sloctl import naming
from sloctl.servers.alertmanager import start_alertmanager
from sloctl.shelf import DEBIAN_AMTOOL, find
from tests.waiting import wait_until


@dataclass(frozen=True)
class Amtool:
    engine: str
    """The matrix row (docs/compat.md): ``alertmanager-0.25`` or ``alertmanager-0.35``."""
    path: str
    features: tuple[str, ...] = ()


def shelf_amtool() -> Path | None:
    return find("amtool")


# id → (where the binary is, matcher-mode features, why it may be missing)
AMTOOLS: dict[str, tuple[Callable[[], Path | None], tuple[str, ...], str]] = {
    "amtool-0.25": (
        lambda: DEBIAN_AMTOOL if DEBIAN_AMTOOL.is_file() else None,
        (),
        "apt-get install prometheus-alertmanager",
    ),
    "amtool-0.35": (shelf_amtool, (), "scripts/tools.sh alertmanager"),
    "amtool-0.35-utf8-strict": (shelf_amtool, ("utf8-strict-mode",), "scripts/tools.sh alertmanager"),
    "amtool-0.35-classic": (shelf_amtool, ("classic-mode",), "scripts/tools.sh alertmanager"),
}


def inhibited_when(
    binary: Path,
    tmp: Path,
    config: str,
    sent: list[dict[str, str]],
    expected: set[tuple[str, str, str | None]],
    label: str,
) -> list[dict[str, Any]]:
    """The alerts a real Alertmanager of ``config`` holds once the ``(slo, severity, label)`` of
    those it inhibits are ``expected`` (its inhibitor reads the alerts asynchronously: waited on,
    10 s at most)."""
    am = start_alertmanager(tmp / "am", config_text=config, binary=binary)
    try:
        post = urllib.request.Request(
            am.url.rstrip("/") + "/api/v2/alerts",
            data=json.dumps([{"labels": labels} for labels in sent]).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(post, timeout=10) as answer:
            assert answer.status == 200
        seen: list[set[tuple[str, str, str | None]]] = []

        def held() -> list[dict[str, Any]] | None:
            with urllib.request.urlopen(am.url.rstrip("/") + "/api/v2/alerts", timeout=10) as answer:
                alerts: list[dict[str, Any]] = json.load(answer)
            inhibited: set[tuple[str, str, str | None]] = {
                (a["labels"][naming.LABEL_SLO], a["labels"][naming.LABEL_SEVERITY], a["labels"].get(label))
                for a in alerts
                if a["status"]["inhibitedBy"]
            }
            seen.append(inhibited)
            return alerts if inhibited == expected else None

        try:
            return wait_until(held, timeout=10, what="the expected inhibitions")
        except AssertionError:
            raise AssertionError(f"inhibited {seen[-1]}, expected {expected}") from None
    finally:
        am.stop()
