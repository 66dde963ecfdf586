"""``sloctl convert``: the model written back as a spec in one of the formats sloctl reads.

Pure: SLOs in, documents and losses out; one module per format. A loss names an SLO, the field
of the model the format cannot express and why; an SLO converted without loss reads back into
the same model (tests/convert/test_round_trips.py checks it on seeded random specs).

>>> from sloctl.spec import load_paths                   # doctest: +SKIP
>>> out = convert(load_paths(["slos/"]).slos, "openslo")  # doctest: +SKIP
>>> out.losses                                            # doctest: +SKIP
()
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sloctl.convert import native, openslo, pyrra, sloth
from sloctl.convert._base import Converted, Loss
from sloctl.model import SLO
from sloctl.render.yamlout import dump_yaml

__all__ = ["FORMATS", "Converted", "Loss", "convert", "render_text"]

FORMATS: dict[str, Callable[[Sequence[SLO]], Converted]] = {
    "native": native.convert,
    "openslo": openslo.convert,
    "sloth": sloth.convert,
    "pyrra": pyrra.convert,
}


def convert(slos: Sequence[SLO], to: str) -> Converted:
    """The SLOs as documents of format ``to`` (a key of ``FORMATS``), with what it cannot say."""
    return FORMATS[to](slos)


def render_text(converted: Converted) -> str:
    """The documents as one multi-document YAML text."""
    return "---\n".join(dump_yaml(doc) for doc in converted.documents)
