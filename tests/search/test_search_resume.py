"""Interrupted searches: the driver killed with SIGKILL then resumed, and a worker process
killed mid-trial. Real processes, a real SQLite study, the real trainer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from search_helpers import REPO, cli, rows, write_experiment

from lstm_search.search._storage import make_storage

pytestmark = [pytest.mark.integration]  # kill/resume with real processes


def _wait(predicate, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _study(run_dir: Path, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name,
                             storage=make_storage(f"sqlite:///{run_dir / 'study.db'}"))


def _start(path: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "lstm_search", "run", str(path), "--out",
                             str(out), "--run", "k", *extra], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def test_driver_killed_then_resumed_keeps_every_finished_trial(tmp_path: Path) -> None:
    n = 6
    path = write_experiment(tmp_path, search=f'trials={n}, sampler="random"', epochs=2)
    out = tmp_path / "results"
    run_dir = out / "tiny" / "k"
    proc = _start(path, out)
    try:
        _wait(lambda: len(rows(run_dir)) >= 2, 180, "two finished trials")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = rows(run_dir)
    assert 2 <= len(before) < n
    study = _study(run_dir, "tiny/k")
    assert any(t.state == optuna.trial.TrialState.RUNNING for t in study.trials) or \
        len(before) == len(study.trials)

    res = cli("run", str(path), "--out", str(out), "--run", "k", "--resume")
    assert res.returncode == 0, res.stderr
    after = rows(run_dir)
    numbers = [r["trial"] for r in after]
    assert len(numbers) == len(set(numbers)) == n, "search completed, nothing duplicated"
    kept = {r["trial"]: r for r in after}
    for r in before:  # every trial finished before the kill is kept as it was
        assert kept[r["trial"]] == r
    study = _study(run_dir, "tiny/k")
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    assert f"[{n}/{n}]" in res.stderr


def test_worker_killed_mid_trial_is_recorded_failed_and_the_search_completes(
        tmp_path: Path) -> None:
    n = 4
    path = write_experiment(tmp_path, search=f'trials={n}, sampler="random", workers=2',
                            epochs=4, n_train=4096)
    out = tmp_path / "results"
    run_dir = out / "tiny" / "k"
    proc = _start(path, out)
    victim: dict[str, int] = {}

    def running_trial() -> bool:
        if not (run_dir / "study.db").exists():
            return False
        try:
            trials = _study(run_dir, "tiny/k").trials
        except Exception:  # the study is being created
            return False
        for t in trials:
            if t.state == optuna.trial.TrialState.RUNNING and "genome" in t.user_attrs:
                victim.update(number=t.number, pid=t.user_attrs["pid"])
                return True
        return False

    try:
        _wait(running_trial, 180, "a trial running in a worker process")
        os.kill(victim["pid"], signal.SIGKILL)
        assert proc.wait(timeout=300) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    table = {r["trial"]: r for r in rows(run_dir)}
    assert len(table) == n == len(rows(run_dir))
    killed = table[victim["number"]]
    assert killed["status"] == "failed" and "died" in killed["error"]
    assert str(victim["pid"]) in killed["error"]
    assert sum(r["status"] == "complete" for r in table.values()) == n - 1


@pytest.mark.slow
@pytest.mark.ray
def test_ray_driver_killed_then_resumed_runs_exactly_the_budget(tmp_path: Path) -> None:
    """SIGKILL the Ray driver (and its local cluster) once rows appear, then --resume: Ray
    restores its state if it saved one, or a fresh Tuner runs what the table lacks; either way
    every finished trial is kept, none is written twice and the table ends at the budget."""
    n = 5
    path = write_experiment(tmp_path, search=f'trials={n}, sampler="random"', epochs=2)
    out = tmp_path / "results"
    run_dir = out / "tiny" / "k"
    proc = _start(path, out, "--backend", "ray", "--num-cpus", "1")
    try:
        _wait(lambda: len(rows(run_dir)) >= 2, 240, "two finished trials")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    before = rows(run_dir)
    assert 2 <= len(before) < n

    res = cli("run", str(path), "--out", str(out), "--run", "k", "--resume", "--backend", "ray",
              "--num-cpus", "1")
    assert res.returncode == 0, res.stderr[-3000:]
    after = rows(run_dir)
    numbers = [r["trial"] for r in after]
    assert len(numbers) == len(set(numbers)) == n, f"budget {n}, rows {sorted(numbers)}"
    kept = {r["trial"]: r for r in after}
    for r in before:
        assert kept[r["trial"]] == r
    assert all(r["status"] == "complete" for r in after)
