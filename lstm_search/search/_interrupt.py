"""Ctrl-C that is never lost.

Python's default SIGINT handler raises :class:`KeyboardInterrupt` at the next bytecode of the
main thread. Raised inside a finaliser (``__del__``, a weakref callback, a generator's close),
it is printed as "Exception ignored" and lost, and the search goes on as if no key had been
pressed (about one Ctrl-C in a dozen in the driver's wait loop). :func:`catch_interrupts`
installs a handler that also records the interrupt, and the search loops call :func:`check` at
their safe points (between trials, in the driver's wait loop) to raise it again.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

_pressed = threading.Event()


def _handler(signum: int, frame: FrameType | None) -> None:
    _pressed.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def catch_interrupts() -> Iterator[None]:
    """Record every SIGINT while the block runs (main thread, default handler only: a handler
    someone else installed is left alone)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    _pressed.clear()
    previous = signal.signal(signal.SIGINT, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _pressed.clear()


def check() -> None:
    """Raise :class:`KeyboardInterrupt` if Ctrl-C was pressed inside :func:`catch_interrupts`
    (again, when the first one was swallowed by a finaliser)."""
    if _pressed.is_set():
        raise KeyboardInterrupt


__all__ = ["catch_interrupts", "check"]
