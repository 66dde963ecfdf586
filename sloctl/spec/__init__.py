"""SLO spec loaders: every supported format becomes the frozen model in ``sloctl.model``.

>>> from sloctl.spec import load_paths
>>> result = load_paths(["slos/"])          # doctest: +SKIP
>>> [s.id for s in result.slos]             # doctest: +SKIP
['platform-api-availability', ...]

Formats, told apart by their header: ``apiVersion: sloctl/v1`` (native), ``version:
prometheus/v1`` and ``apiVersion: sloth.slok.dev/v1`` (Sloth), ``apiVersion: openslo/v1``,
``openslo/v1alpha`` and the ``openslo.com/v2alpha`` draft, ``apiVersion: pyrra.dev/v1alpha1``
(Pyrra). ``AlertWindows`` documents (Sloth's shape) add burn-rate catalogs.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sloctl import naming
from sloctl.errors import Location, SpecError, SpecErrors, unreadable
from sloctl.model import SLO, AlertWindows, Service
from sloctl.spec import native, openslo, project, promcheck, pyrra, sloth
from sloctl.spec.catalog import Catalogs, read_alert_windows, unusable_reason
from sloctl.spec.reader import Reader, index
from sloctl.spec.yamlsrc import LIMITS, NO_DOCUMENT, YNode, parse_documents

__all__ = ["LoadResult", "SpecError", "SpecErrors", "group_by_service", "load_paths", "load_text"]

YAML_SUFFIXES = (".yaml", ".yml")
MAX_FILES = 10_000


@dataclass(frozen=True)
class LoadResult:
    slos: tuple[SLO, ...]
    errors: tuple[SpecError, ...]
    warnings: tuple[SpecError, ...]
    files: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def _expand(
    paths: Iterable[str | Path],
    errors: list[SpecError],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            candidates = sorted(
                f
                for f in p.rglob("*")
                if f.suffix in YAML_SUFFIXES
                and f.is_file()
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            selected = [f for f in candidates if _selected(f.relative_to(p), include, exclude)]
            found = [f for f in selected if not _generated(f)]
            if not found:
                globs = f" the globs select (include {list(include)}, exclude {list(exclude)})"
                what = globs if candidates and not selected else ""
                errors.append(
                    SpecError(Location(str(p), 1, 1), "", f"directory holds no .yaml or .yml file{what}")
                )
            files.extend(found)
        elif p.exists():  # a file, or a pipe (`<(kustomize build …)`) or a device, read as one
            files.append(p)
        else:
            errors.append(unreadable(p, _not_there(p)))
    files = _unique(files)
    if len(files) > MAX_FILES:
        errors.append(
            SpecError(
                Location(str(files[MAX_FILES]), 1, 1), "", f"more than {MAX_FILES} files; split the input"
            )
        )
        files = files[:MAX_FILES]
    return files


def _not_there(path: Path) -> OSError | None:
    """Why ``path``, which ``exists()`` says is not there, cannot be read: a symlink loop or a
    path under a file is said as such (as a project file's is), not as a missing file."""
    try:
        path.stat()
    except OSError as exc:
        return exc
    return None  # there after all (made meanwhile): missing when it was looked for


def _unique(files: Sequence[Path]) -> list[Path]:
    """``files`` without a second path to a file already listed (``a.yaml ./a.yaml``, a folder
    and a file in it, a symlink): read twice, a file's SLOs would be duplicates of themselves."""
    seen: set[Path] = set()
    out: list[Path] = []
    for f in files:
        real = f.resolve()
        if real not in seen:
            seen.add(real)
            out.append(f)
    return out


def _selected(rel: Path, include: Sequence[str], exclude: Sequence[str]) -> bool:
    """``rel`` (relative to the searched directory) matches an include glob (when there are any)
    and no exclude glob; ``**`` spans folders."""
    text = rel.as_posix()
    return (not include or any(_glob(g).fullmatch(text) for g in include)) and not any(
        _glob(g).fullmatch(text) for g in exclude
    )


def _glob(pattern: str) -> re.Pattern[str]:
    """A path glob as a regular expression: ``**/`` any folders (or none), ``*`` and ``?`` within
    one path part."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _generated(f: Path) -> bool:
    """A file ``sloctl generate`` (or Sloth) wrote: a directory search skips it, so that
    ``sloctl validate .`` works after ``sloctl generate -o .``."""
    try:
        with f.open("rb") as fh:
            head = fh.read(400).decode("utf-8", "replace")
    except OSError:
        return False
    return any(m in head for m in naming.GENERATED_MARKERS)


def _header(doc: YNode) -> tuple[str, str]:
    if not isinstance(doc.value, dict):
        return "", ""

    def text(key: str) -> str:
        node = doc.value.get(key) if isinstance(doc.value, dict) else None
        return node.value if node is not None and isinstance(node.value, str) else ""

    if "version" in doc.value and "apiVersion" not in doc.value:
        return text("version") or "?", "sloth-prometheus"
    return text("apiVersion"), text("kind")


_KNOWN = {
    (naming.API_VERSION, "Service"),
    (naming.API_VERSION, "AlertWindows"),
    (naming.API_VERSION, project.KIND),
    (sloth.K8S_VERSION, "PrometheusServiceLevel"),
    (sloth.K8S_VERSION, "AlertWindows"),
    *(
        (api, kind)
        for api in (openslo.V1, openslo.V2ALPHA)
        for kind in ("Service", "SLO", *openslo.REFERABLE)
    ),
    (openslo.V1ALPHA, "SLO"),
    (openslo.V1ALPHA, "Service"),
    (pyrra.API_VERSION, pyrra.KIND),
}


def load_documents(
    sources: Sequence[tuple[str, bytes | str]],
    *,
    windows_sources: Sequence[tuple[str, bytes | str]] = (),
    sloth_period: int | None = None,
    compat: str | None = None,
) -> LoadResult:
    """Load SLOs from in-memory sources ``(name, content)``; the core of ``load_paths``.
    ``compat="sloth"`` picks windows catalogs as Sloth does (``generate --compat sloth``)."""
    errors: list[SpecError] = []
    warnings: list[SpecError] = []
    objects = {api: openslo.V1Objects(api) for api in (openslo.V1, openslo.V2ALPHA)}
    unusable: dict[int, str] = {}
    _, user_catalogs = _read_shared(
        windows_sources, objects, errors, warnings, windows=True, unusable=unusable
    )
    parsed, more_catalogs = _read_shared(
        sources, objects, errors, warnings, unusable=unusable, openslo_names={}
    )
    user_catalogs.update(more_catalogs)
    catalogs = Catalogs(user_catalogs, sloth=compat == "sloth", unusable=unusable)
    slos: list[SLO] = []
    named: dict[Location, str] = {}
    for name, doc, prefix in parsed:
        api, _ = _header(doc)
        reader = Reader(
            name, strict=api in (naming.API_VERSION, openslo.V1, openslo.V2ALPHA), prefix=prefix
        )  # Sloth and Pyrra ignore unknown fields
        slos.extend(_read_slos(doc, reader, catalogs, objects, sloth_period))
        errors.extend(reader.errors)
        warnings.extend(reader.warnings)
        named.update(reader.named)
    errors.extend(_duplicates(slos, named))
    errors.extend(promcheck.check_across(slos))
    return LoadResult(
        tuple(slos),
        tuple(sorted(dict.fromkeys(errors), key=_order)),
        tuple(sorted(dict.fromkeys(warnings), key=_order)),
        tuple(n for n, _ in sources),
    )


def _read_shared(
    sources: Sequence[tuple[str, bytes | str]],
    objects: dict[str, openslo.V1Objects],
    errors: list[SpecError],
    warnings: list[SpecError],
    *,
    windows: bool = False,
    unusable: dict[int, str] | None = None,
    openslo_names: dict[tuple[str, str], str] | None = None,
) -> tuple[list[tuple[str, YNode, str]], dict[int, AlertWindows]]:
    """Parse every source; read the documents other documents refer to (windows catalogs into
    the returned catalogs, OpenSLO objects into ``objects``); return the others, the SLO
    documents with the field path each is named by (``[i]`` for an item of an OpenSLO list),
    for a second pass. Problems go to ``errors`` and ``warnings``. ``windows``: the sources of
    ``--windows``, which hold catalogs only. ``unusable`` gets the period of each catalog read
    with errors, and why (:func:`~sloctl.spec.catalog.unusable_reason`). ``openslo_names``: where
    each OpenSLO (kind, ``metadata.name``) was first seen, to refuse a second one."""
    parsed: list[tuple[str, YNode, str]] = []
    user_catalogs: dict[int, AlertWindows] = {}
    for name, data in sources:
        docs, errs = parse_documents(data, name, LIMITS)
        errors.extend(errs)
        if not docs and not errs:
            errors.append(SpecError(Location(name, 1, 1), "", NO_DOCUMENT))
        for doc, prefix in (item for d in docs for item in _objects(d, errors, warnings)):
            api, kind = _header(doc)
            reader = Reader(name, prefix=prefix)
            if openslo_names is not None and (api, kind) in _KNOWN and api.startswith("openslo"):
                _claim_openslo_name(doc, kind, reader, openslo_names)
            is_catalog = kind == "AlertWindows" and api in (naming.API_VERSION, sloth.K8S_VERSION)
            if windows and not is_catalog:
                errors.append(_not_a_catalog(name, doc))
                break
            if is_catalog:
                catalog = read_alert_windows(doc, reader)
                if catalog is not None:
                    user_catalogs[catalog.period] = catalog
                elif unusable is not None and (why := unusable_reason(doc, reader.errors)) is not None:
                    unusable.setdefault(*why)
            elif api in objects and kind in openslo.REFERABLE:
                openslo.read_v1_object(kind, doc, reader, objects[api])
            else:
                parsed.append((name, doc, prefix))
            errors.extend(reader.errors)
            warnings.extend(reader.warnings)
    return parsed, user_catalogs


def _claim_openslo_name(doc: YNode, kind: str, reader: Reader, seen: dict[tuple[str, str], str]) -> None:
    """Refuse an OpenSLO document whose kind and ``metadata.name`` an earlier one of the files
    has (of any OpenSLO version): OpenSLO names an object by kind and name, so one of the two
    would be silently dropped or both used under one name. ``seen``: where each was first."""
    meta = doc.value.get("metadata") if isinstance(doc.value, dict) else None
    node = meta.value.get("name") if meta is not None and isinstance(meta.value, dict) else None
    if node is None or not isinstance(node.value, str) or not node.value:
        return  # a missing or odd name is the head's error
    first = seen.get((kind, node.value))
    if first is None:
        # An item of a list of objects is named by its index too (``[2].metadata.name``).
        seen[kind, node.value] = f"{node.loc}" + (
            f" ({reader.full_path('metadata.name')})" if reader.prefix else ""
        )
    else:
        reader.error(
            node.loc,
            "metadata.name",
            f"a second {kind} named {node.value!r}; the first is at {first}: OpenSLO names each "
            f"{kind} by its metadata.name, so rename one or remove the copy",
        )


# What ``kubectl get … -o yaml`` prints for several objects (``v1`` ``List``), and the typed
# lists of the two Kubernetes kinds sloctl reads, as the API server returns them.
_KUBERNETES_LISTS = {
    ("v1", "List"),
    (pyrra.API_VERSION, f"{pyrra.KIND}List"),
    (sloth.K8S_VERSION, "PrometheusServiceLevelList"),
}


def _objects(doc: YNode, errors: list[SpecError], warnings: list[SpecError]) -> list[tuple[YNode, str]]:
    """The objects of one YAML document, each with the path it is named by: the document
    itself, the items of a Kubernetes list (``kubectl get slo -A -o yaml``), ``items[0]``…,
    or the items of a list of OpenSLO objects (the form oslo reads), ``[0]``, ``[1]``….
    A list of anything else is an error naming its first item that is not an OpenSLO object."""
    if _header(doc) in _KUBERNETES_LISTS and isinstance(doc.value, dict):
        node = doc.value.get("items")
        if node is None or not isinstance(node.value, list):
            where = doc.loc if node is None else node.loc
            errors.append(
                SpecError(where, "items", "expected a list of objects, as kubectl get -o yaml writes")
            )
            return []
        items = [(item, index("items", i)) for i, item in enumerate(node.value)]
        others = [(item, path) for item, path in items if _other_kind(item)]
        if others:
            warnings.append(_skipped(others))
        return [(item, path) for item, path in items if not _other_kind(item)]
    if not isinstance(doc.value, list):
        return [(doc, "")]
    if not doc.value:
        errors.append(SpecError(doc.loc, "", f"an empty list; {_TOP}"))
        return []
    for i, item in enumerate(doc.value):
        api, _ = _header(item)
        if not api.startswith("openslo"):
            found = (
                f"with apiVersion {api}"
                if api
                else "without apiVersion"
                if item.is_map
                else "that is not a mapping"
            )
            errors.append(SpecError(item.loc, index("", i), f"a list item {found}; {_TOP}"))
            return []
    return [(item, index("", i)) for i, item in enumerate(doc.value)]


def _other_kind(item: YNode) -> bool:
    """Whether an item of a Kubernetes list is an object of an apiVersion sloctl does not read
    (a ConfigMap, a PrometheusRule): ``kubectl get -o yaml`` of several kinds lists them beside
    the SLOs. An item without an apiVersion, of a known one (with another kind) or of one close
    to a known one (a typo) is read, and is an error as a document of its own would be."""
    api, _ = _header(item)
    return isinstance(item.value, dict) and "apiVersion" in item.value and bool(api) and not _known_api(api)


def _skipped(others: list[tuple[YNode, str]]) -> SpecError:
    """One warning for the items of a Kubernetes list that are not SLOs, naming each."""

    def what(item: YNode, path: str) -> str:
        api, kind = _header(item)
        meta = item.value.get("metadata") if isinstance(item.value, dict) else None
        name = meta.value.get("name") if meta is not None and isinstance(meta.value, dict) else None
        named = f" {name.value}" if name is not None and isinstance(name.value, str) else ""
        return f"{path} ({kind or 'an object'}{named} of {api})"

    listed = ", ".join(what(item, path) for item, path in others)
    return SpecError(
        others[0][0].loc,
        "items",
        f"skipped {listed}: not SLOs (kubectl get -o yaml lists mix kinds); sloctl reads the list's "
        "SLO objects, such as Pyrra's ServiceLevelObjective and Sloth's PrometheusServiceLevel",
    )


_TOP = (
    "a document is a mapping with apiVersion and kind, or (OpenSLO only, as oslo reads it) a list of "
    "OpenSLO objects, each with apiVersion openslo/…; write sloctl/v1, Sloth and Pyrra documents one "
    "mapping each, separated by ---"
)


def _not_a_catalog(name: str, doc: YNode) -> SpecError:
    """A document of a ``--windows`` file that is not an AlertWindows catalog."""
    api, kind = _header(doc)
    if kind in ("Service", "SLO", "sloth-prometheus", "PrometheusServiceLevel", pyrra.KIND):
        holds = "SLOs"
    elif api and kind:
        holds = f"kind {kind} of {api}"
    else:
        holds = "no apiVersion and kind"
    return SpecError(
        doc.loc, "", f"{name} is not a windows catalog (it holds {holds}); --windows takes AlertWindows files"
    )


def _read_slos(
    doc: YNode,
    reader: Reader,
    catalogs: Catalogs,
    objects: dict[str, openslo.V1Objects],
    sloth_period: int | None,
) -> list[SLO]:
    """The SLOs of one document, by its apiVersion and kind; none for a document that holds
    no SLO (an OpenSLO Service, the project file) or has errors."""
    api, kind = _header(doc)
    if not isinstance(doc.value, dict):
        reader.error(doc.loc, "", f"expected a mapping at the top of the document: {_TOP}")
    elif kind == "sloth-prometheus":
        if api != sloth.PROM_VERSION:
            reader.error(
                doc.value["version"].loc,
                "version",
                f"unsupported version {api!r}; expected {sloth.PROM_VERSION!r} (or apiVersion: sloctl/v1)",
            )
        else:
            return sloth.read_prometheus_v1(doc, reader, catalogs, sloth_period)
    elif (api, kind) == (naming.API_VERSION, "Service"):
        return native.read_service(doc, reader, catalogs)
    elif (api, kind) == (naming.API_VERSION, project.KIND):
        pass  # the project file (sloctl.yaml) beside the SLOs, read by the commands
    elif (api, kind) == (sloth.K8S_VERSION, "PrometheusServiceLevel"):
        return sloth.read_k8s(doc, reader, catalogs, sloth_period)
    elif api in objects and kind == "SLO":
        return openslo.read_v1_slo(doc, reader, catalogs, objects[api])
    elif (api in objects or api == openslo.V1ALPHA) and kind == "Service":
        openslo.read_v1_service(doc, reader, api)
    elif (api, kind) == (pyrra.API_VERSION, pyrra.KIND):
        return pyrra.read_slo(doc, reader, catalogs)
    elif (api, kind) == (openslo.V1ALPHA, "SLO"):
        return openslo.read_v1alpha(doc, reader, catalogs)
    elif kinds := sorted(k for a, k in _KNOWN if a == api):
        _unknown_kind(doc.loc, doc.value.get("kind"), reader, api, kinds)
    else:
        _unknown_api_version(doc, reader, api)
    return []


def _unknown_kind(at: Location, node: YNode | None, reader: Reader, api: str, kinds: list[str]) -> None:
    """A known apiVersion whose kind (``node``, None when missing) is not one of ``kinds``."""
    listed = f"{', '.join(kinds[:-1])} or {kinds[-1]}" if kinds[1:] else kinds[0]
    if node is None or node.value in (None, ""):
        message = f"missing: apiVersion {api} takes kind {listed}"
    else:
        lower = {k.lower(): k for k in kinds}
        close = difflib.get_close_matches(str(node.value).lower(), lower, n=1)
        hint = f" (did you mean {lower[close[0]]!r}?)" if close else ""
        message = f"{node.value!r} is not a kind of apiVersion {api}{hint}; it takes {listed}"
    reader.error(at if node is None else node.loc, "kind", message)


_APIS = sorted({a for a, _ in _KNOWN})


def _known_api(api: str) -> str | None:
    """``api`` if sloctl reads it, else the apiVersion it reads that is close to it, or None."""
    close = difflib.get_close_matches(api, _APIS, n=1)
    return close[0] if close else None


def _unknown_api_version(doc: YNode, reader: Reader, api: str) -> None:
    known = f"{', '.join(_APIS)} (or Sloth's version: {sloth.PROM_VERSION}); docs/spec.md lists their kinds"
    if api:
        close = _known_api(api)
        hint = f" (did you mean {close!r}?)" if close else ""
        reader.error(doc.loc, "apiVersion", f"unsupported apiVersion {api!r}{hint}; supported: {known}")
    else:
        reader.error(
            doc.loc,
            "",
            "a document without apiVersion: start it with one, such as apiVersion: sloctl/v1 and "
            f"kind: Service; supported: {known}",
        )


def _order(e: SpecError) -> tuple[str, int, int, str]:
    return (e.location.file, e.location.line, e.location.column, e.path)


def _duplicates(slos: Sequence[SLO], named: Mapping[Location, str]) -> list[SpecError]:
    """A second SLO of an id, at its source and the field naming it, with the first one's;
    ``named``: the path of that field by SLO source (``Reader.named``: ``spec.slos[1].name``,
    ``items[2].metadata.name`` for an item of a kubectl list)."""
    seen: dict[str, SLO] = {}
    out: list[SpecError] = []
    for slo in slos:
        first = seen.get(slo.id)
        if first is None:
            seen[slo.id] = slo
        else:
            field, first_at = named[slo.source], f"{first.source} ({named[first.source]})"
            if (first.service, first.name) == (slo.service, slo.name):
                message = (
                    f"duplicate SLO {slo.name!r} of service {slo.service!r}; first defined at "
                    f"{first_at}: rename one, or read one of the two (--exclude GLOB skips a "
                    "copy under a directory, such as another deployment's folder)"
                )
            else:
                # <service>-<name> names an SLO's rules, alerts and dashboards: a-b's c is a's b-c
                message = (
                    f"SLO {slo.name!r} of service {slo.service!r} has the id {slo.id!r} of SLO "
                    f"{first.name!r} of service {first.service!r} at {first_at} (the id, "
                    "<service>-<name>, names its rules, alerts and dashboards): rename one"
                )
            out.append(SpecError(slo.source, field, message))
    return out


def _read(files: Sequence[Path], errors: list[SpecError]) -> list[tuple[str, bytes]]:
    """Each file's bytes, at most ``LIMITS.max_file_bytes`` of them: read, not sized, so that a
    pipe or a device (whose size is 0) is held to the limit too."""
    out: list[tuple[str, bytes]] = []
    limit = LIMITS.max_file_bytes
    for f in files:
        try:
            with f.open("rb") as stream:
                data = stream.read(limit + 1)
        except OSError as exc:
            errors.append(unreadable(f, exc))
            continue
        if len(data) > limit:
            too_big = f"file is more than {limit} bytes; the limit is {limit} bytes"
            errors.append(SpecError(Location(str(f), 1, 1), "", too_big))
            continue
        out.append((_text_name(f), data))
    return out


def _text_name(path: Path) -> str:
    """``path`` as the locations of its documents name it: UTF-8 text, any byte of its name
    that is not shown as U+FFFD. Python keeps such a byte as a lone surrogate, which no UTF-8
    output can hold: the SLOs' file names go into generated rules, tests, experiments and web
    pages, and each of those writes was a UnicodeEncodeError traceback."""
    return os.fsencode(path).decode("utf-8", errors="replace")


def load_paths(
    paths: Iterable[str | Path],
    *,
    windows_dirs: Iterable[str | Path] = (),
    sloth_period: int | None = None,
    compat: str | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> LoadResult:
    """Load every SLO in files and directories (recursively; ``-`` is standard input), with every
    error found. A directory search skips hidden folders (``.git``, ``.venv``) and the files
    ``sloctl generate`` wrote, and keeps the files that match an ``include`` glob (if any) and no
    ``exclude`` glob (relative to the directory searched)."""
    errors: list[SpecError] = []
    paths = list(paths)
    # `-` is standard input (once), read like a file named <stdin>.
    stdin = [("<stdin>", sys.stdin.buffer.read())] if any(str(p) == "-" for p in paths) else []
    sources = stdin + _read(_expand([p for p in paths if str(p) != "-"], errors, include, exclude), errors)
    windows = _read(_expand(windows_dirs, errors), errors)
    result = load_documents(sources, windows_sources=windows, sloth_period=sloth_period, compat=compat)
    if not errors:
        return result
    return LoadResult(
        result.slos, tuple(sorted([*errors, *result.errors], key=_order)), result.warnings, result.files
    )


def load_text(text: str, name: str = "<string>") -> LoadResult:
    """Load SLOs from one YAML string (tests, notebooks)."""
    return load_documents([(name, text)])


def group_by_service(slos: Iterable[SLO]) -> tuple[Service, ...]:
    """Services in order of first appearance, each with its SLOs in input order."""
    order: dict[str, list[SLO]] = {}
    for slo in slos:
        order.setdefault(slo.service, []).append(slo)
    return tuple(Service(name, tuple(items)) for name, items in order.items())
