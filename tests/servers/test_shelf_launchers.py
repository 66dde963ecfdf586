"""A launcher of a tool-shelf binary that is not built here refuses with the shelf's own words:
which binary, which tool and the `scripts/tools.sh` command that builds it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sloctl.servers import ServerStartError
from sloctl.servers.otelcol import start_otelcol, validate_otelcol
from sloctl.servers.victoria import start_victoria_metrics, start_vmagent, start_vmauth

_NOWHERE = ["http://127.0.0.1:9/"]  # never contacted: the binary is looked up first

LAUNCHERS: dict[str, tuple[str, Callable[[Path], object]]] = {
    "otelcol": ("otelcol-sloctl", lambda d: start_otelcol(d, config=d / "otelcol.yaml")),
    "otelcol validate": ("otelcol-sloctl", lambda d: validate_otelcol(d / "otelcol.yaml")),
    "victoria-metrics": ("victoria-metrics", start_victoria_metrics),
    "vmagent": ("vmagent", lambda d: start_vmagent(d, remote_write=_NOWHERE)),
    "vmauth": ("vmauth", lambda d: start_vmauth(d, backends=_NOWHERE)),
}


@pytest.mark.parametrize(("binary", "launch"), LAUNCHERS.values(), ids=list(LAUNCHERS))
def test_a_launcher_whose_binary_is_not_built_says_how_to_build_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, binary: str, launch: Callable[[Path], object]
) -> None:
    monkeypatch.setenv("SLOCTL_TOOLS", str(tmp_path / "empty-shelf"))
    with pytest.raises(ServerStartError) as raised:
        launch(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{binary} (")
    assert "is not built on this machine: run `scripts/tools.sh " in message
    assert str(tmp_path / "empty-shelf") in message
    assert not list(tmp_path.glob("*.log"))  # nothing was started
