"""How every command fails: one message format, one meaning per exit status.

Exit statuses (the README's "Exit status" table):

- 0: done.
- 1 (:data:`EXIT_INPUTS_FAILED`): the command ran, but some of its inputs could not be
  used (a file that is not media, a face that was not found, a check that failed).
- 2 (:data:`EXIT_CANNOT_RUN`): the command could not run at all: a wrong option, a model,
  config, settings file, database or folder that cannot be used. Typer's own usage errors
  exit 2 too.
- 130: interrupted (Ctrl-C).

Messages go to stderr as ``error: <message>``, with the message escaped so that a file
name such as ``[red]x.mp4`` prints as itself instead of being read as console markup.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import SeethroughError

EXIT_INPUTS_FAILED = 1
EXIT_CANNOT_RUN = 2

_stderr = Console(stderr=True)


def print_error(message: object) -> None:
    """``error: <message>`` on stderr, escaped, never wrapped mid-path."""
    _stderr.print(f"[red]error:[/red] {escape(str(message))}", highlight=False, soft_wrap=True)


@contextmanager
def fails_with(code: int = EXIT_CANNOT_RUN, also: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn a :class:`SeethroughError` (and the exception types in ``also``, e.g. ``OSError``)
    raised inside the block into :func:`print_error` and exit status ``code``."""
    try:
        yield
    except (SeethroughError, *also) as exc:
        print_error(exc)
        raise typer.Exit(code) from None


__all__ = ["EXIT_CANNOT_RUN", "EXIT_INPUTS_FAILED", "fails_with", "print_error"]
