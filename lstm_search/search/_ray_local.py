"""The Ray instance a run starts for itself, and the guarantee that none of it outlives the run.

Without an address a run starts a lean local instance of its own
(``ray.init(address="local")``: an explicit CPU count, no dashboard, no log forwarding, a small
object store, worker processes at the default priority rather than Ray's niceness 15), even when
another Ray cluster runs on the machine (joining one takes ``--address``);
:func:`local_ray` shuts it down when the run ends, normally, on an exception or on Ctrl-C. Its
GCS server and raylet die with the driver even when the driver is killed (SIGKILL): Ray starts
them with ``PR_SET_PDEATHSIG``. The raylet's agents (dashboard agent, runtime-env agent) do
not: after a killed raylet they try to report to the dead GCS server and linger for about a
minute. A reaper process therefore watches the driver through a pipe and, when it closes (the
driver ended, however), kills the processes of the instance that are still there (only
processes started with it: another cluster this process started itself is left alone). Trial
workers end by themselves within seconds of their raylet. A cluster joined with ``address`` is
never stopped: only this driver disconnects.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

# Runs in its own interpreter (stdlib and psutil, a dependency of Ray): waits for the driver's
# end of the pipe to close, then kills the listed processes that are still the same processes
# (pid and creation time). It ignores Ctrl-C, which the terminal sends to the whole group.
_REAPER = """
import signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.stdin.buffer.read()
import psutil
for item in sys.argv[1:]:
    pid, created = item.split("@")
    try:
        proc = psutil.Process(int(pid))
        if abs(proc.create_time() - float(created)) < 0.01:
            proc.kill()
    except psutil.Error:
        pass
"""


def _children() -> set[tuple[int, float]]:
    """This process's child processes (recursive), as (pid, creation time); empty without
    psutil."""
    try:
        import psutil

        out = set()
        for p in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                out.add((p.pid, p.create_time()))
        return out
    except Exception:  # pragma: no cover - no psutil
        return set()


def _start_reaper(before: set[tuple[int, float]]) -> subprocess.Popen[bytes] | None:
    """A reaper for the processes this driver has started since ``before`` (the local
    instance; never a process that was already there, such as another cluster this process
    started itself)."""
    try:
        procs = sorted(_children() - before)
        return subprocess.Popen([sys.executable, "-c", _REAPER,
                                 *(f"{pid}@{created!r}" for pid, created in procs)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except Exception:  # pragma: no cover - no psutil, no fork: Ray's own clean-up only
        return None


NICENESS_ENV = "RAY_worker_niceness"


@contextlib.contextmanager
def _worker_niceness() -> Iterator[None]:
    """Ray starts its worker processes at niceness 15 (the raylet's own config, read from
    ``RAY_worker_niceness`` when the instance starts): on a machine doing anything else at
    the default priority, a run's trial workers then wait behind it (measured here with a
    2-worker search running beside: a trial actor took 122 s to import torch at 15 against
    10 s at 0). The instance a run starts for itself runs them at 0, as the Optuna backend
    runs its workers, unless the variable is set."""
    if NICENESS_ENV in os.environ:
        yield
        return
    os.environ[NICENESS_ENV] = "0"
    try:
        yield
    finally:
        os.environ.pop(NICENESS_ENV, None)


@contextlib.contextmanager
def local_ray(*, address: str | None, num_cpus: int, num_gpus: float | None) -> Iterator[Any]:
    """Connect to Ray for one run: join ``address``, or start a local instance with
    ``num_cpus`` CPUs (reusing one this process already started); stop what was started here
    when the block ends, however it ends."""
    import ray

    if ray.is_initialized():  # the caller's own instance: theirs to stop
        yield ray
        return
    reaper = None
    try:  # a Ctrl-C or an error while Ray starts stops what had started
        if address:
            ray.init(address=address, log_to_driver=False)
        else:  # "local": a new instance even when another Ray cluster runs on this machine
            # (without it ray.init joins the newest one, /tmp/ray/ray_current_cluster, and
            # refuses the CPU count: "When connecting to an existing cluster, num_cpus and
            # num_gpus must not be provided")
            before = _children()
            with _worker_niceness():
                ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus,
                         include_dashboard=False, log_to_driver=False,
                         object_store_memory=200 * 1024 * 1024)
            reaper = _start_reaper(before)
        yield ray
    finally:
        try:
            ray.shutdown()
        finally:
            if reaper is not None and reaper.stdin is not None:
                reaper.stdin.close()  # the reaper kills what shutdown left
                with contextlib.suppress(subprocess.TimeoutExpired):
                    reaper.wait(timeout=10)


__all__ = ["NICENESS_ENV", "local_ray"]
