"""The Optuna backend's worker processes: forked from one warm fork server per process
(``lstm_search.search._pool``), with the driver's environment of the moment, or spawned."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from search_helpers import fake_evaluate, grid_experiment, rows

from lstm_search.config import ConfigError
from lstm_search.search import run_experiment
from lstm_search.search._pool import START_METHOD_ENV, driver_alive, start_method


def seen_evaluate(candidate, **kw):
    """fake_evaluate that first notes what its worker process sees."""
    import torch

    note = {"pid": os.getpid(), "ppid": os.getppid(), "mark": os.environ.get("POOL_TEST_MARK"),
            "threads": torch.get_num_threads(), "sys_path_has_tests": any(
                p.endswith("tests/search") for p in sys.path)}
    folder = Path(kw["writer"].run_dir) / "seen"
    folder.mkdir(exist_ok=True)
    (folder / f"{kw['trial']}.json").write_text(json.dumps(note))
    return fake_evaluate(candidate, **kw)


def _seen(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((run_dir / "seen").iterdir())]


def _search(path: Path, tmp_path: Path, run: str):
    return run_experiment(str(path), out=tmp_path / "results", run=run, workers=2,
                          overrides={"search.trials": 4}, evaluate=seen_evaluate,
                          stream=io.StringIO())


@pytest.mark.integration
def test_workers_fork_from_one_server_and_see_the_drivers_environment_of_the_moment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if start_method() != "forkserver":
        pytest.skip("no fork server on this platform")
    path = grid_experiment(tmp_path)
    monkeypatch.setenv("POOL_TEST_MARK", "first")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    first = _search(path, tmp_path, "a")
    # set after the server started: a fork server alone would still show the old values
    monkeypatch.setenv("POOL_TEST_MARK", "second")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    second = _search(path, tmp_path, "b")
    a, b = _seen(first.run_dir), _seen(second.run_dir)
    assert len(rows(first.run_dir)) == 4 and len(rows(second.run_dir)) == 4
    assert {n["mark"] for n in a} == {"first"} and {n["mark"] for n in b} == {"second"}
    assert {n["threads"] for n in a} == {1} and {n["threads"] for n in b} == {2}
    assert all(n["sys_path_has_tests"] for n in a + b)
    servers = {n["ppid"] for n in a + b}
    assert len(servers) == 1 and os.getpid() not in servers, \
        "both searches' workers come from one server, not from the driver"
    assert {n["pid"] for n in a}.isdisjoint({n["pid"] for n in b}), "fresh workers per search"


@pytest.mark.integration
def test_spawn_on_request_gives_each_worker_a_fresh_interpreter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(START_METHOD_ENV, "spawn")
    monkeypatch.setenv("POOL_TEST_MARK", "spawned")
    out = _search(grid_experiment(tmp_path), tmp_path, "s")
    seen = _seen(out.run_dir)
    assert len(rows(out.run_dir)) == 4
    assert {n["ppid"] for n in seen} == {os.getpid()} and {n["mark"] for n in seen} == {"spawned"}


def test_an_unknown_start_method_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(START_METHOD_ENV, "fork")
    with pytest.raises(ConfigError, match=r"LSTM_SEARCH_START_METHOD='fork'.*'forkserver' or"):
        start_method()


def test_driver_alive_tells_a_zombie_from_a_running_process() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("no procfs")
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    assert driver_alive(os.getpid())
    deadline = 100
    while deadline and Path(f"/proc/{proc.pid}/stat").read_text().split(")")[1].split()[0] != "Z":
        time.sleep(0.05)
        deadline -= 1
    assert not driver_alive(proc.pid), "exited but not reaped: not alive"
    proc.wait()
    assert not driver_alive(proc.pid)
