"""A game day's report files: the journal, ``report.json`` and ``report.html`` (rendered by the
report kit, :mod:`sloctl.reports.gameday`), masked and written atomically, readable by their
owner only (0600)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sloctl.files import write_pair, write_text
from sloctl.masking import Masker
from sloctl.reports.gameday import render_html

from .profiles import profile_table
from .result import GamedayResult

__all__ = ["write_reports"]


def write_reports(
    result: GamedayResult, journal: Mapping[str, Any] | None, out_dir: Path, masker: Masker
) -> GamedayResult:
    if journal is not None:
        text = json.dumps(masker.data(journal), indent=2, default=str) + "\n"
        write_text(out_dir / "journal.json", text, private=True)
        result.files["journal"] = str(out_dir / "journal.json")
    result.files["json"] = str(out_dir / "report.json")
    result.files["html"] = str(out_dir / "report.html")
    masked = GamedayResult(**masker.data(asdict(result)))  # type: ignore[arg-type]
    profile = profile_table(masked.timing_profile) if masked.timing_profile else []
    write_pair(
        out_dir / "report.html",
        render_html(masked, profile),
        out_dir / "report.json",
        json.dumps(masked.to_json(), indent=2, default=str) + "\n",
        private=True,
    )
    return result
