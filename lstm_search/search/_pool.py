"""Where the Optuna backend's worker processes come from: a warm fork server.

A worker started with ``spawn`` is a new interpreter that imports torch, ``torch._dynamo`` (the
first optimizer of a process imports it), Optuna and the framework before its first trial:
about 5 s of CPU on two cores, paid by every worker of every search. On POSIX the workers are
instead forked from a fork server (:mod:`multiprocessing.forkserver`) that has imported all of
that once. It starts the first time a process runs a search with several workers (early, so
that its imports overlap the driver's own checks) and lives as long as that process: a
notebook, a benchmark, a test session, or one ``lstm-search run``; every later search of the
process forks ready workers from it. A worker forked from the server inherits nothing of the
driver: no open storage connection, thread, lock or Ray client (the server never had any),
which is why a server and not a plain fork of the driver.

What the server would otherwise freeze at its start travels with each worker
(:func:`worker_environment`): the driver's environment at the time of the search (data paths,
cache folders, thread counts set since) replaces the worker's before anything else runs, and
the worker's torch thread count is set from ``OMP_NUM_THREADS`` (default 1), which the
server's torch read once at import. ``sys.path`` and the working directory travel anyway
(multiprocessing sends them with every process).

The server holds the modules it preloaded as they were when it started: after editing the
framework's own code in a long-lived process (a notebook), restart the process, or set
``LSTM_SEARCH_START_METHOD=spawn`` to give every worker a fresh interpreter. An experiment file
and an ``evaluate`` function's module are not preloaded: workers load them as they are.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Mapping
from typing import Any

from lstm_search.config import ConfigError

START_METHOD_ENV = "LSTM_SEARCH_START_METHOD"

# imported once by the fork server; a worker forked from it starts with them loaded
PRELOAD = ["torch", "torch._dynamo", "optuna", "lstm_search.evaluate", "lstm_search.train",
           "lstm_search.tasks", "lstm_search.search._optuna"]


def start_method() -> str:
    """``forkserver`` where the platform has it, else ``spawn``; ``$LSTM_SEARCH_START_METHOD``
    (``forkserver`` or ``spawn``) chooses."""
    methods = multiprocessing.get_all_start_methods()
    wanted = os.environ.get(START_METHOD_ENV, "").strip().lower()
    if wanted:
        if wanted not in ("forkserver", "spawn"):
            raise ConfigError(f"{START_METHOD_ENV}={wanted!r}: expected 'forkserver' or "
                              f"'spawn'")
        if wanted in methods:
            return wanted
    return "forkserver" if "forkserver" in methods else "spawn"


def worker_context() -> Any:
    """The multiprocessing context the workers start from (the server preloads
    :data:`PRELOAD`)."""
    method = start_method()
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(PRELOAD)
    return ctx


def warm_up() -> None:
    """Start the fork server now (it imports in the background) so that the workers a search
    starts a few seconds later fork at once; nothing where workers are spawned."""
    if start_method() != "forkserver":
        return
    worker_context()
    from multiprocessing import forkserver

    with contextlib.suppress(Exception):  # the first worker's start tries again and says why
        forkserver.ensure_running()


def worker_environment() -> dict[str, str]:
    """The driver's environment, for :func:`enter_worker`."""
    return dict(os.environ)


def enter_worker(env: Mapping[str, str] | None) -> None:
    """First thing in a worker: the driver's environment, and the thread count it implies."""
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch = sys.modules.get("torch")  # preloaded by the fork server: read the count again
    if torch is not None:
        with contextlib.suppress(ValueError, RuntimeError):
            torch.set_num_threads(max(1, int(os.environ["OMP_NUM_THREADS"])))


WATCH_SECONDS = 0.05


def watch_driver(pid: int) -> None:
    """End this worker (SIGTERM, so a row being written is finished first) within
    :data:`WATCH_SECONDS` of the driver's death.

    A worker's death signal comes from its parent; a fork server's worker has the server for
    parent, and the server, though it notices its driver's end at once, takes about a second
    to exit (its interpreter unloads torch): time enough for a worker to run trials alone. A
    daemon thread therefore watches the driver itself.
    """
    import signal
    import threading
    import time

    def watch() -> None:
        while driver_alive(pid):
            time.sleep(WATCH_SECONDS)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="lstm-search-driver-watch", daemon=True).start()


def driver_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, killed but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


__all__ = ["PRELOAD", "START_METHOD_ENV", "WATCH_SECONDS", "driver_alive", "enter_worker",
           "start_method", "warm_up", "watch_driver", "worker_context", "worker_environment"]
