"""The fault ledger: every action registers how to undo its fault *before* applying it, and
the control (:mod:`sloctl.chaos.control`) undoes whatever is still registered on every exit
path, whether or not Chaos Toolkit ran the experiment's rollbacks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["LEDGER", "FaultLedger"]

logger = logging.getLogger("sloctl.chaos")


class FaultLedger:
    def __init__(self) -> None:
        self._undo: dict[str, Callable[[], object]] = {}
        #: every undo registered since :meth:`start_run`: undos are idempotent, so a final
        #: sweep can replay them all (an action may apply its fault after an early undo ran)
        self._history: dict[str, Callable[[], object]] = {}
        #: the last error of each undo that raised, ``"<Type>: <message>"``
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()

    def start_run(self) -> None:
        with self._lock:
            self._history = dict(self._undo)
            self._errors = {}

    def failures(self, keys: list[str]) -> list[str]:
        """``keys`` (undos that raised) as ``"<fault>: <error>"``, for a report."""
        with self._lock:
            return [f"{key}: {self._errors.get(key, 'failed')}" for key in keys]

    def register(self, key: str, undo: Callable[[], object]) -> None:
        with self._lock:
            self._undo[key] = undo
            self._history[key] = undo

    def sweep(self) -> list[str]:
        """Replay every undo of the run (newest first), then :meth:`undo_all`."""
        with self._lock:
            items = list(self._history.items())[::-1]
        failed = [key for key, undo in items if not self._undone(key, undo)]
        return sorted(set(failed) | set(self.undo_all()))

    def done(self, key: str) -> None:
        with self._lock:
            self._undo.pop(key, None)

    def forget(self) -> None:
        """Drop every entry without undoing it (a test harness whose targets are gone)."""
        with self._lock:
            self._undo.clear()
            self._history.clear()

    def pending(self) -> list[str]:
        with self._lock:
            return list(self._undo)

    def undo_all(self) -> list[str]:
        """Undo every registered fault, newest first; return the keys that could not be undone
        (they stay registered)."""
        with self._lock:
            items = list(self._undo.items())[::-1]
        failed: list[str] = []
        for key, undo in items:
            if not self._undone(key, undo):
                failed.append(key)
                continue
            with self._lock:
                self._undo.pop(key, None)
        return failed

    def _undone(self, key: str, undo: Callable[[], object]) -> bool:
        """Run one undo; False when it raised, said in one line naming the fault and the error
        (no traceback: the report lists it too) and kept for :meth:`failures`; a sweep goes on
        with the others."""
        try:
            undo()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._errors[key] = error
            logger.warning("could not undo fault %s: %s", key, error)
            return False
        return True


LEDGER = FaultLedger()
