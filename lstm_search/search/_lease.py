"""Which driver a running trial belongs to, and whether that driver is still alive.

Resuming a dead run and joining a live one are the same command (``--resume``); what tells them
apart is whether the driver that asked a running trial still lives. Every driver holds a lease
in the study (a study system attribute ``lstm_search.driver:<id>``) that it renews every
:data:`BEAT_SECONDS` seconds, and tags every trial it asks (user attribute ``driver``). A driver
is alive when:

- it ran on this machine (same host name and boot id): its process still exists with the same
  start time (exact, at once: a driver killed a moment ago is dead);
- it ran on another machine: its lease was renewed within :data:`GRACE_SECONDS` (the machines'
  clocks must agree to well within that; ``LSTM_SEARCH_LEASE_GRACE`` changes it).

A driver that ends cleanly marks its lease ended. Optuna's own heartbeat
(``RDBStorage(heartbeat_interval=...)``) is per trial, kept only by ``study.optimize`` and not
offered by the journal storage; this lease covers every storage and the ask/tell loop.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

DRIVER_ATTR = "driver"  # trial user attribute: the lease key of the driver that asked it
LEASE_PREFIX = "lstm_search.driver:"
BEAT_SECONDS = 10.0
END_SECONDS = 2.0  # how long an interrupted driver waits to mark its lease ended


def grace_seconds() -> float:
    """How old another machine's lease may be before its driver counts as dead."""
    try:
        return max(1.0, float(os.environ.get("LSTM_SEARCH_LEASE_GRACE", "60")))
    except ValueError:
        return 60.0


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if not Path("/proc/self/stat").exists():  # no procfs: only whether the pid exists
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            except PermissionError:
                return "?"
            return "?"
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def this_driver() -> dict[str, Any]:
    """The lease record of the current process."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": pid,
            "start": _start_ticks(pid) or "?", "beat": time.time(), "ended": False}


def lease_key(record: dict[str, Any]) -> str:
    return f"{record['host']}:{record['pid']}:{record['start']}"


def is_alive(record: dict[str, Any] | None, *, now: float | None = None) -> bool:
    """Whether the driver of lease ``record`` is still running (see the module's docstring)."""
    if not record or record.get("ended"):
        return False
    if record.get("host") == socket.gethostname() and record.get("boot") == _boot_id():
        start = _start_ticks(int(record["pid"]))
        return start is not None and (start == record.get("start") or start == "?")
    beat = record.get("beat")
    now = time.time() if now is None else now
    return isinstance(beat, int | float) and now - beat <= grace_seconds()


def leases(study: Any) -> dict[str, dict[str, Any]]:
    """Every lease recorded in the study, by key."""
    attrs = study._storage.get_study_system_attrs(study._study_id)
    return {k[len(LEASE_PREFIX):]: v for k, v in attrs.items()
            if k.startswith(LEASE_PREFIX) and isinstance(v, dict)}


def live_drivers(study: Any) -> set[str]:
    """The keys of the drivers of ``study`` that are alive now."""
    return {k for k, v in leases(study).items() if is_alive(v)}


class Lease:
    """This driver's lease on a study: written at once, renewed by a daemon thread, ended on
    exit. Opens its own storage connection (the study's may be used by another thread)."""

    def __init__(self, storage_url: str, study_name: str) -> None:
        self.storage_url = storage_url
        self.study_name = study_name
        self.record = this_driver()
        self.key = lease_key(self.record)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._study: Any = None

    def _write(self, **changes: Any) -> None:
        self.record = {**self.record, **changes}
        self._study._storage.set_study_system_attr(self._study._study_id,
                                                   LEASE_PREFIX + self.key, self.record)

    def __enter__(self) -> Lease:
        import optuna

        from lstm_search.search._storage import make_storage

        self._study = optuna.load_study(study_name=self.study_name,
                                        storage=make_storage(self.storage_url))
        self._write(beat=time.time())
        self._thread = threading.Thread(target=self._loop, name="lstm-search-lease",
                                        daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(BEAT_SECONDS):
            with contextlib.suppress(Exception):  # a busy database: renew at the next beat
                self._write(beat=time.time())

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

        def end() -> None:
            with contextlib.suppress(Exception):
                self._write(beat=time.time(), ended=True)

        if exc_type is None:
            end()
            return
        # Interrupted (Ctrl-C) or failing: a transaction the interrupt cut short may still hold
        # the database's lock (SQLite waits up to a minute for it), so the end mark is written
        # only if that takes a moment; without it the driver counts as dead once its process
        # is gone (this host) or its lease is old (another).
        ender = threading.Thread(target=end, name="lstm-search-lease-end", daemon=True)
        ender.start()
        ender.join(timeout=END_SECONDS)


__all__ = ["DRIVER_ATTR", "Lease", "is_alive", "lease_key", "leases", "live_drivers",
           "this_driver"]
