"""What Chaos Toolkit runs itself, past sloctl's egress guard, and how a game day keeps it on
loopback.

sloctl's own activities (:data:`GUARDED_MODULES`) connect through the guard. A hand-written
experiment may hold three other kinds of provider, each checked before the game day starts, dry
runs included (a refusal is the game day's verdict, ``inconclusive``, nothing run):

- ``http``: Chaos Toolkit sends the request with its own ``requests`` session. Its URL is
  checked before the run (:func:`http_activity_refusal`), and while the run lasts that session
  is sloctl's (:func:`http_provider_guarded`): it follows redirects, as Chaos Toolkit always
  does (the provider has no setting to refuse them), but each hop goes through the guard first
  and **connects to the address the guard checked** (pinned, as sloctl's own HTTP clients are:
  ``requests`` resolving the name again would let a DNS rebinding, or a resolver other than the
  guard's, send it elsewhere), and ``*_proxy`` environment variables and ``.netrc`` are ignored,
  as sloctl's own HTTP clients ignore them. Before, a loopback URL that answered 302 sent the
  probe wherever it pointed.
- ``process``: runs a command, which can reach anything; the guard cannot see what it contacts.
- ``python`` of a module other than sloctl's (an activity or a control): the same, since a
  module may open its own connections, or run a command (``subprocess.run``).

The last two are refused unless the operator allows them (:data:`ALLOW_UNGUARDED`, the
``--allow-unguarded-providers`` flag or the key of that name in ``--config``), after reviewing
what they reach (:func:`unguarded_activity_refusal`). sloctl's generated experiments use
sloctl's own modules only, so they never need it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import requests
import requests.adapters
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from urllib3.util import parse_url

from sloctl.egress import EgressDenied

from .experiments import ALLOW_UNGUARDED
from .targets import GUARD

__all__ = [
    "GUARDED_MODULES",
    "activities",
    "http_activity_refusal",
    "http_provider_guarded",
    "unguarded_activity_refusal",
]

#: sloctl's modules that experiments may name: every connection they open goes through the guard
GUARDED_MODULES = frozenset(
    {"sloctl.chaos.actions", "sloctl.chaos.load", "sloctl.chaos.probes", "sloctl.chaos.control"}
)

_HOW_TO_ALLOW = (
    f"review what it reaches, then allow it with --allow-unguarded-providers (or"
    f' "{ALLOW_UNGUARDED}": true in --config)'
)


def activities(experiment: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every activity the run may play: the steady-state probes, the method, the rollbacks."""
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    for activity in [
        *hypothesis.get("probes", []),
        *experiment.get("method", []),
        *experiment.get("rollbacks", []),
    ]:
        if isinstance(activity, Mapping):
            yield activity


def _named(activity: Mapping[str, Any]) -> str:
    return f"{activity.get('type', 'activity')} {activity.get('name', '')!r}"


def http_activity_refusal(experiment: Mapping[str, Any]) -> str | None:
    """Why the game day must not start: one of its Chaos Toolkit ``http`` providers (a
    hand-written experiment's) names a URL outside the loopback allow-list. Chaos Toolkit sends
    those requests itself, so they are checked here, with the configuration's values in
    (``${api_url}/healthz``); a URL that still holds a ``${…}`` after that (a secret) cannot be
    checked and is refused too. None when every URL is allowed."""
    from chaoslib import substitute
    from chaoslib.configuration import load_configuration

    for activity in activities(experiment):
        provider = activity.get("provider")
        if not isinstance(provider, Mapping) or provider.get("type") != "http":
            continue
        name = _named(activity)
        try:
            url = str(
                substitute(provider.get("url", ""), load_configuration(experiment["configuration"]), {})
            )
        except Exception as exc:  # an env lookup that is not set, a malformed template
            return f"refused: {name}: its http provider's url cannot be read: {exc}"
        if "${" in url:
            return f"refused: {name}: its http provider's url {url!r} cannot be checked before the run"
        try:
            GUARD.check_url(url, flag="it")
        except EgressDenied as exc:
            return f"refused: {name}: its http provider's url: {exc}"
    return None


def _unguarded(kind: str, provider: Mapping[str, Any]) -> str | None:
    """What an activity's or a control's provider runs that the guard cannot check, or None."""
    ptype = provider.get("type", "python")
    if ptype == "process":
        arguments = provider.get("arguments") or []
        words = [provider.get("path", ""), *(arguments if isinstance(arguments, list) else [arguments])]
        return f"its process provider runs {' '.join(str(w) for w in words if w)!r}"
    module = str(provider.get("module", ""))
    if ptype == "python" and module not in GUARDED_MODULES:
        func = f".{provider['func']}" if kind == "activity" and provider.get("func") else ""
        return f"its python provider runs {module}{func}"
    return None


def unguarded_activity_refusal(experiment: Mapping[str, Any], *, allowed: bool) -> str | None:
    """Why the game day must not start: an activity or a control runs a command (a ``process``
    provider) or a Python module other than sloctl's (:data:`GUARDED_MODULES`), which may reach
    any host; None when there is none, or when the operator ``allowed`` them."""
    if allowed:
        return None
    entries = [
        *(("activity", a) for a in activities(experiment)),
        *(("control", c) for c in experiment.get("controls") or [] if isinstance(c, Mapping)),
    ]
    for kind, entry in entries:
        provider = entry.get("provider")
        if not isinstance(provider, Mapping):
            continue  # a reference to another activity, checked where it is defined
        what = _unguarded(kind, provider)
        if what is not None:
            name = _named(entry) if kind == "activity" else f"control {entry.get('name', '')!r}"
            return (
                f"refused: {name}: {what}, which the loopback guard cannot check (it may reach any"
                f" host); {_HOW_TO_ALLOW}"
            )
    return None


class _ToAddress(requests.PreparedRequest):
    """``request`` as sent to ``address``, one of its host's checked addresses: the URL names
    the address (so that ``urllib3`` connects there, never resolving the name again, and pools
    connections by it), while the ``Host`` header and, for https, the TLS server name (SNI and
    the certificate's check) keep the name. :meth:`_PinnedAdapter.build_response` answers for
    the original, so that the response's URL, its cookies' domain and a relative redirect's base
    stay the name's."""

    def __init__(self, request: requests.PreparedRequest, address: str) -> None:
        super().__init__()
        self.original = request
        url = parse_url(str(request.url))
        self.server_name = str(url.host).strip("[]")
        default = 443 if url.scheme == "https" else 80
        self.method, self.body, self.hooks = request.method, request.body, request.hooks
        self.headers = request.headers.copy()
        self.headers.setdefault(
            "Host", f"{url.host}:{url.port}" if url.port not in (None, default) else str(url.host)
        )
        self.url = url._replace(host=f"[{address}]" if ":" in address else address, auth=None).url


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """Whether ``exc`` is a failure to connect (refused, unreachable, timed out), before any
    byte of the request was sent: only then is the next checked address tried."""
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, ConnectTimeoutError)


class _PinnedAdapter(requests.adapters.HTTPAdapter):
    """``requests``' HTTP adapter behind :data:`GUARD`: each request it sends, the first and
    every redirect hop (``requests`` sends each through its adapter), has its host checked, and
    the connection goes to a checked address (tried in resolver order, as sloctl's own clients
    do), never to a second resolution, which DNS rebinding would answer differently. A refusal
    is a ``ConnectionError``, which Chaos Toolkit turns into the activity's failure, with the
    guard's message. Proxies are refused: the guard could not check where they connect."""

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        try:
            if proxies and any(proxies.values()):
                raise EgressDenied(
                    f"refusing to send {request.url} through a proxy, which the allow-list cannot check"
                )
            endpoint = GUARD.check_url(str(request.url), flag="a redirect")
        except EgressDenied as exc:
            raise requests.exceptions.ConnectionError(str(exc), request=request) from None
        last = len(endpoint.addresses) - 1
        for i, address in enumerate(endpoint.addresses):
            try:
                return super().send(_ToAddress(request, address), stream, timeout, verify, cert, None)
            except requests.exceptions.ConnectionError as exc:
                if i == last or not _never_connected(exc):
                    raise
        raise AssertionError("unreachable: a checked endpoint has at least one address")

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if isinstance(request, _ToAddress):  # urllib3 keeps it for https only (SNI, certificate)
            pool_kwargs["server_hostname"] = request.server_name
        return host_params, pool_kwargs

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        return super().build_response(req.original if isinstance(req, _ToAddress) else req, resp)


class _GuardedSession(requests.Session):
    """Chaos Toolkit's http provider's session while a game day runs: it sends through
    :class:`_PinnedAdapter` only (the provider mounts its own, which is that class while a game
    day runs: :class:`_GuardedRequests`), and reads nothing from the environment (proxies,
    .netrc)."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        for prefix in ("https://", "http://"):
            self.mount(prefix, _PinnedAdapter())

    def get_adapter(self, url: str) -> requests.adapters.BaseAdapter:
        adapter = super().get_adapter(url)
        if not isinstance(adapter, _PinnedAdapter):
            raise requests.exceptions.ConnectionError(
                f"refusing to send {url} through {type(adapter).__name__}, which does not connect to the"
                " addresses the loopback guard checked"
            )
        return adapter


class _GuardedAdapters:
    """``requests.adapters`` as the http provider sees it while a game day runs: its
    ``HTTPAdapter`` (which the provider mounts, with its ``max_retries``) is :class:`_PinnedAdapter`."""

    HTTPAdapter = _PinnedAdapter

    def __getattr__(self, name: str) -> Any:
        return getattr(requests.adapters, name)


class _GuardedRequests:
    """``requests`` as Chaos Toolkit's http provider sees it while a game day runs: the same
    module, but its sessions are :class:`_GuardedSession` and its adapters :class:`_PinnedAdapter`."""

    Session = _GuardedSession
    adapters = _GuardedAdapters()

    def __getattr__(self, name: str) -> Any:
        return getattr(requests, name)


@contextlib.contextmanager
def http_provider_guarded() -> Iterator[None]:
    """Inside, Chaos Toolkit's http provider sends through :class:`_GuardedSession` (one game day
    runs at a time in a process: the game-day lock, and the sequence of ``run_gamedays``)."""
    import chaoslib.provider.http as http

    original = http.requests
    http.requests = _GuardedRequests()
    try:
        yield
    finally:
        http.requests = original
