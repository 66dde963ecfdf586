"""Entry point of the ``sloctl`` command.

Each sub-command lives in its own module under ``sloctl.cli`` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning the exit code. Modules are imported only when their command
is run, so that ``sloctl validate`` never imports the collector's or the load tester's
dependencies.

Exit codes: 0 success, 1 the input or the checked system is not as it should be, 2 usage error,
130 interrupted (Ctrl-C, from the first import of the library on).
Commands raise :class:`~sloctl.cli._common.UsageError` for a flag to change and
:class:`~sloctl.errors.SpecErrors` for input files with errors; both are printed here
(argparse's own usage errors exit 2 too).
"""

from __future__ import annotations

import _thread
import argparse
import contextlib
import errno
import functools
import importlib
import os
import signal
import stat
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sloctl import __version__

# Nothing of sloctl's own beyond the package's version is imported before main() runs: a Ctrl-C
# comes as a KeyboardInterrupt wherever the interpreter is, and only main() answers it with
# "interrupted" (exit 130) rather than a traceback. The library's imports (``sloctl.spec``
# alone took 0.16 s; a command's own modules more) happen inside it.

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse exits with 2 on usage errors, which is our convention too.

    A command's parser (argparse makes every sub-parser of this class) refuses an argument it
    does not know itself, so that the error names the command and shows its usage
    (``sloctl collector run: error: unrecognized arguments: --listen``), not the top-level one.
    Flags are taken whole, never abbreviated: ``--slo`` must not quietly mean ``--sloth-period``
    on a command without ``--slo``, nor change meaning when a flag is added."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extra = super().parse_known_args(args, namespace)
        if extra and self.prog != _PROG:
            self.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed, extra


_PROG = "sloctl"


def build_parser(command: str | None) -> argparse.ArgumentParser:
    """The ``sloctl`` parser: the chosen command's module registered for real and every other
    command as a stub (for ``--help``), so that only the chosen command's dependencies are
    imported. Public for what reads the command line whole (the docs' commands checked against
    it, every flag's values walked)."""
    parser = _Parser(prog=_PROG, description="SLOs as code: one SLO file, every artefact proven.")
    parser.add_argument("--version", action="version", version=f"sloctl {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from sloctl.cli._common import COMMANDS

    if command is not None:
        module = COMMANDS[command][0]
        try:
            importlib.import_module(f"sloctl.cli.{module}").register(sub)
        except ModuleNotFoundError as exc:
            if not (exc.name or "").startswith("sloctl.cli") and exc.name is not None:
                # An optional extra is not installed.
                sub.add_parser(command, help=COMMANDS[command][1]).set_defaults(
                    func=lambda _a, _e=exc, _n=command: _missing(_n, _e)
                )
            else:
                raise
    for name, (_module, help_text) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _missing(name: str, exc: ModuleNotFoundError) -> int:
    print(
        f"sloctl {name}: needs the Python module {(exc.name or '').split('.')[0]!r}, which is not installed; "
        f"install sloctl with its extras (make test installs all of them)",
        file=sys.stderr,
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sloctl`` command line ``argv`` (default: the process' arguments); the exit code.

    A Ctrl-C anywhere in it (the library's imports included) is ``sloctl: interrupted``, 130."""
    previous_hook = sys.unraisablehook
    sys.unraisablehook = functools.partial(_interrupt_again, previous_hook)
    try:
        return _run(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        print("sloctl: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.unraisablehook = previous_hook
        _forget_handled_interrupts()


def _interrupt_again(
    previous_hook: Callable[[sys.UnraisableHookArgs], object], unraisable: sys.UnraisableHookArgs
) -> None:
    """:data:`sys.unraisablehook` while :func:`main` runs: a Ctrl-C that came while a weakref's
    callback ran (the import system's module locks have one: 2 of 104 signals sent 60–300 ms
    into a command's start) is raised in that callback, where CPython can only print "Exception
    ignored in …" and go on, so the command ran to its end as if no Ctrl-C had come. It is
    delivered again to the main thread by a thread of its own: from here, the main thread would
    hear it at once, still inside this hook, and CPython would ignore it again."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _thread.start_new_thread(_thread.interrupt_main, (signal.SIGINT,))
        return
    previous_hook(unraisable)


def _run(args_list: list[str]) -> int:
    from sloctl.cli._common import COMMANDS, UsageError, print_input_errors
    from sloctl.errors import SpecErrors

    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(args_list)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        code: int = func(args)
    except UsageError as exc:
        print(f"{getattr(args, 'prog', None) or 'sloctl ' + args.command}: {exc}", file=sys.stderr)
        return 2
    except SpecErrors as exc:
        print_input_errors(exc.errors)
        return 1
    except ModuleNotFoundError as exc:  # an extra's module imported when first needed
        if exc.name is None or exc.name.split(".")[0] == "sloctl":
            raise
        return _missing(args.command, exc)
    except BrokenPipeError:
        return 1
    except OSError as exc:  # the output could not be written: a full disk, /dev/full, a quota
        where = exc.filename or _unnamed_output(exc)
        prog = getattr(args, "prog", None) or "sloctl " + args.command
        print(f"{prog}: {where + ': ' if where else ''}{exc.strerror or exc}", file=sys.stderr)
        _drop_stdout()
        return 1
    return code


def _forget_handled_interrupts() -> None:
    """Clear the interpreter's record of an unhandled KeyboardInterrupt, once the command's
    interrupts have been handled (a KeyboardInterrupt that leaves :func:`main` is recorded again
    as it reaches the top, as it should be).

    CPython records as unhandled a KeyboardInterrupt that leaves code run from a string, even
    when a caller handles it (``run_eval_code_obj`` in Python/pythonrun.c): ``exec`` or ``eval``
    of text, which ``dataclasses`` and ``collections.namedtuple`` run to make their methods when
    a lazy import defines a class (httpx's HTTP/1.1 stack, imported as ``serve --demo`` starts to
    wait for its rules' first live evaluation). A ``python -m sloctl.cli.main`` process then
    ended itself with SIGINT after its exit, instead of exiting 130 or 143 (8 runs in 95 of
    ``tests/serve/test_demo.py``'s signal during that wait; the ``sloctl`` script, run as a
    file, exits through another path). The same function clears the record before it runs a
    string, so running an empty one forgets the stale record."""
    exec("")


def _unnamed_output(exc: OSError) -> str | None:
    """What an error that names no file was about: ``standard output`` only when that is what
    cannot be written; None otherwise, rather than a wrong name. (Files are written by
    :func:`sloctl.files.write_text`, whose errors name them.) A write of nothing fails on a
    device that refuses every write (/dev/full); a regular file fails on a full file system."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):  # no real file descriptor (a test's capture)
        return None
    try:
        os.write(fd, b"")
    except OSError:
        return "standard output"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        with contextlib.suppress(OSError):
            if stat.S_ISREG(os.fstat(fd).st_mode) and os.fstatvfs(fd).f_bavail == 0:
                return "standard output"
    return None


def _drop_stdout() -> None:
    """Point standard output at /dev/null, so that the interpreter's last flush of what could
    not be written does not fail again at exit (Python's own advice for a broken pipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test's captured stdout)
        pass


if __name__ == "__main__":
    sys.exit(main())
