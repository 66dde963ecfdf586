"""What Chaos Toolkit runs itself, past sloctl's egress guard, and how a game day keeps it on
loopback.

sloctl's own activities (:data:`GUARDED_MODULES`) connect through the guard. A hand-written
experiment may hold three other kinds of provider, each checked before the game day starts, dry
runs included (a refusal is the game day's verdict, ``inconclusive``, nothing run):

- ``http``: Chaos Toolkit sends the request with its own ``requests`` session. Its URL is
  checked before the run (:func:`http_activity_refusal`), and while the run lasts that session
  is sloctl's (:func:`http_provider_guarded`): it follows redirects, as Chaos Toolkit always
  does (the provider has no setting to refuse them), but each hop goes through the guard first,
  and ``*_proxy`` environment variables and ``.netrc`` are ignored, as sloctl's own HTTP clients
  ignore them. Before, a loopback URL that answered 302 sent the probe wherever it pointed.
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

from sloctl.egress import Egress, EgressDenied

from .experiments import ALLOW_UNGUARDED

__all__ = [
    "ALLOW_UNGUARDED",
    "GUARD",
    "GUARDED_MODULES",
    "activities",
    "http_activity_refusal",
    "http_provider_guarded",
    "unguarded_activity_refusal",
]

GUARD = Egress(action="reach a game-day target at")
"""The guard a game day's activities connect through, asked before any of them runs."""

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


class _GuardedSession(requests.Session):
    """Chaos Toolkit's http provider's session while a game day runs: each request it sends,
    the first and every redirect hop (``requests`` sends each through :meth:`send`), goes to an
    address :data:`GUARD` allows, and nothing is read from the environment (proxies, .netrc)."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        try:
            GUARD.check_url(str(request.url), flag="a redirect")
        except EgressDenied as exc:
            # Chaos Toolkit turns a ConnectionError into the activity's failure, with this text.
            raise requests.exceptions.ConnectionError(str(exc)) from None
        return super().send(request, **kwargs)


class _GuardedRequests:
    """``requests`` as Chaos Toolkit's http provider sees it while a game day runs: the same
    module, but its sessions are :class:`_GuardedSession`."""

    Session = _GuardedSession

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
