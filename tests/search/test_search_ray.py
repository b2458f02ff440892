"""Ray Tune backend on a real two-node Ray cluster (head + a second worker node on 127.0.0.1):
trials run on both nodes and every trial is one row of the shared table."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from search_helpers import rows, write_experiment

from lstm_search.search import run_experiment

pytestmark = [pytest.mark.ray]
MB = 1024 * 1024


@pytest.fixture
def two_node_cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "object_store_memory": 100 * MB,
                                      "include_dashboard": False})
    cluster.add_node(num_cpus=1, object_store_memory=100 * MB)
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()


def test_search_runs_on_both_nodes_of_a_cluster(tmp_path: Path, two_node_cluster) -> None:
    n = 4
    path = write_experiment(tmp_path, epochs=2,
                            search=f'trials={n}, sampler="tpe", workers=2, pruner="none"')
    stream = io.StringIO()
    out = run_experiment(str(path), backend="ray", address=two_node_cluster.address,
                         out=tmp_path / "results", run="ray", stream=stream)
    table = rows(out.run_dir)
    assert sorted(r["trial"] for r in table) == list(range(n)), "one row per trial"
    assert all(r["status"] == "complete" and r["search"] == "ray-tpe" for r in table)
    nodes = {r["worker"].split(":")[2] for r in table}
    assert len(nodes) == 2, f"trials ran on {nodes}"
    assert (out.run_dir / "ray" / "tune").is_dir()
    assert f"[{n}/{n}]" in stream.getvalue()


@pytest.mark.slow
def test_ray_search_with_asha_and_resume(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, epochs=3,
                            search='trials=4, sampler="random", workers=2, pruner="halving"')
    out = run_experiment(str(path), backend="ray", num_cpus=2, out=tmp_path / "results",
                         run="asha", stream=io.StringIO())
    first = rows(out.run_dir)
    assert sorted(r["trial"] for r in first) == [0, 1, 2, 3]
    assert {r["status"] for r in first} <= {"complete", "pruned"}
    # resuming a finished run restores Ray's experiment and adds nothing
    again = run_experiment(str(path), backend="ray", num_cpus=2, out=tmp_path / "results",
                           run="asha", resume=True, stream=io.StringIO())
    assert rows(again.run_dir) == first


def _trial_processes() -> list[int]:
    """Ray worker processes running a trial (their title is ``ray::ImplicitFunc.train``)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "cmdline").read_bytes().startswith(b"ray::ImplicitFunc.train"):
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


@pytest.mark.slow
def test_ray_worker_killed_mid_trial_is_retried(tmp_path: Path) -> None:
    import os
    import signal
    import threading
    import time

    path = write_experiment(tmp_path, epochs=25, n_train=2048,
                            search='trials=2, sampler="random", workers=1, max_retries=1')
    killed: list[int] = []

    def kill_first_trial() -> None:
        end = time.monotonic() + 120
        while time.monotonic() < end and not killed:
            claims = list((tmp_path / "results").rglob("ray_trials.json"))
            pids = _trial_processes() if claims else []
            if pids:
                time.sleep(1.0)  # inside the training loop
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
            time.sleep(0.2)

    killer = threading.Thread(target=kill_first_trial, daemon=True)
    killer.start()
    out = run_experiment(str(path), backend="ray", num_cpus=1, out=tmp_path / "results",
                         run="kill", stream=io.StringIO())
    killer.join()
    assert killed, "no trial process was found to kill"
    table = rows(out.run_dir)
    assert sorted(r["trial"] for r in table) == [0, 1], "retried, not duplicated"
    assert all(r["status"] == "complete" for r in table)
    assert all(r["worker"].split(":")[1] != str(killed[0]) for r in table)
