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

from collections.abc import Callable, Mapping, Sequence

from sloctl.convert import native, openslo, pyrra, sloth
from sloctl.convert._base import Converted, Loss
from sloctl.model import SLO
from sloctl.render.yamlout import dump_yaml

__all__ = ["FORMATS", "Converted", "Loss", "convert", "files", "render_text"]

FORMATS: dict[str, Callable[[Sequence[SLO]], Converted]] = {
    "native": native.convert,
    "openslo": openslo.convert,
    "sloth": sloth.convert,
    "pyrra": pyrra.convert,
}


def convert(slos: Sequence[SLO], to: str) -> Converted:
    """The SLOs as documents of format ``to`` (a key of ``FORMATS``), with what it cannot say."""
    return FORMATS[to](slos)


WINDOWS_FOLDER = {"sloth": "sloth-windows"}
"""Where ``-o DIR`` puts a format's ``AlertWindows`` documents when the tool of that format does
not read them among its SLO documents: Sloth refuses one in ``-i`` and reads catalogs from
``--slo-period-windows-path DIR`` (sloctl reads them anywhere among its inputs)."""


def render_text(converted: Converted) -> str:
    """The documents as one multi-document YAML text."""
    return "---\n".join(dump_yaml(doc) for doc in converted.documents)


def files(converted: Converted, to: str) -> dict[str, str]:
    """The files a folder gets (path in it → text): ``<to>.yaml``; for Sloth each windows
    catalog apart as ``sloth-windows/<period>.yaml``; for Pyrra one file per SLO,
    ``pyrra/<namespace>-<name>.yaml``, as its filesystem mode reads one object a file (``pyrra
    filesystem --config-files 'DIR/pyrra/*.yaml'``; ``kubectl apply -f DIR/pyrra/`` takes them
    all)."""
    if to == "pyrra":
        return {f"pyrra/{_pyrra_file(d)}.yaml": dump_yaml(d) for d in converted.documents}
    folder = WINDOWS_FOLDER.get(to)
    apart = [d for d in converted.documents if folder and d.get("kind") == "AlertWindows"]
    rest = Converted(tuple(d for d in converted.documents if d not in apart), converted.losses)
    catalogs = {f"{folder}/{_period(d)}.yaml": dump_yaml(d) for d in apart}
    return {f"{to}.yaml": render_text(rest), **catalogs}


def _pyrra_file(document: Mapping[str, object]) -> str:
    meta = document["metadata"]
    assert isinstance(meta, Mapping)
    return f"{meta.get('namespace', 'default')}-{meta['name']}"


def _period(catalog: Mapping[str, object]) -> object:
    spec = catalog["spec"]
    assert isinstance(spec, Mapping)
    return spec["sloPeriod"]
