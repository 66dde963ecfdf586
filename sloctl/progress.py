"""Progress of long work, said only when the work is long.

A :class:`Ticker` takes ``(what, done, total)`` calls from a loop and passes them on to ``say``
at most once every ``every`` seconds, the first time once ``every`` seconds have gone by: work
that ends sooner says nothing, and long work says where it is every few seconds. Once it has
spoken, a new ``what`` (the next phase) and the end of a phase are said at once. The library
calls a plain ``progress(what, done, total)`` callback; the CLI wraps its message in a ticker.

>>> now = iter([0.0, 0.5, 2.5, 3.0, 3.2, 3.4]).__next__
>>> heard = []
>>> tick = Ticker(lambda what, done, total: heard.append(f"{what} {done}/{total}"), clock=now)
>>> for done in range(1, 4):
...     tick("rules", done, 4)
>>> tick("rules", 4, 4)
>>> tick("dashboards", 0, 2)
>>> heard
['rules 2/4', 'rules 4/4', 'dashboards 0/2']
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["EVERY", "Progress", "Ticker", "silent"]

Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)``: ``total`` steps of the phase ``what``, ``done`` of them done."""


def silent(_what: str, _done: int, _total: int) -> None:
    """A :data:`Progress` that says nothing."""


EVERY = 2.0
"""Seconds of work before the first progress line, and between two lines."""


class Ticker:
    """``say(what, done, total)`` at most every ``every`` seconds, starting ``every`` seconds
    after the ticker was made; once it has spoken, also at each new ``what`` and each phase's
    end (``done == total``)."""

    def __init__(
        self,
        say: Callable[[str, int, int], None],
        *,
        every: float = EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._say = say
        self._every = every
        self._clock = clock
        self._next = clock() + every
        self._spoke = False
        self._what: str | None = None

    def __call__(self, what: str, done: int, total: int) -> None:
        now = self._clock()
        turn = self._spoke and (what != self._what or done >= total)
        self._what = what
        if now >= self._next or turn:
            self._say(what, done, total)
            self._spoke = True
            self._next = now + self._every
