"""Ray Tune backend on a real two-node Ray cluster (head + a second worker node on 127.0.0.1):
trials run on both nodes and every trial is one row of the shared table."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from search_helpers import lr_space, rows, write_experiment

from lstm_search.search import run_experiment

pytestmark = [pytest.mark.ray, pytest.mark.integration]
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
    # resuming a finished run adds nothing
    again = run_experiment(str(path), backend="ray", num_cpus=2, out=tmp_path / "results",
                           run="asha", resume=True, stream=io.StringIO())
    assert rows(again.run_dir) == first
    # a larger budget: Ray restores its finished state, then new trials make up the rest
    more = run_experiment(str(path), backend="ray", num_cpus=2, out=tmp_path / "results",
                          run="asha", resume=True, trials=6, stream=io.StringIO())
    table = _by_trial(rows(more.run_dir))
    assert sorted(table) == list(range(6))
    assert [table[t] for t in range(4)] == sorted(first, key=lambda r: r["trial"])


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


def _by_trial(table: list[dict]) -> dict[int, dict]:
    numbers = [r["trial"] for r in table]
    assert len(numbers) == len(set(numbers)), f"a trial number twice: {sorted(numbers)}"
    return {r["trial"]: r for r in table}


def test_ray_smoke_run_with_pruning_records_complete_trials_with_test_metrics(
        tmp_path: Path) -> None:
    # two epochs: ASHA may not stop a trial at its last epoch, nor count the final summary
    # report as an epoch, so every trial completes with its test metrics, the useless
    # learning rate (drawn after a good one at this seed) included
    path = write_experiment(tmp_path, task="adding", space=lr_space(), epochs=4,
                            search='trials=4, sampler="random", pruner="halving"',
                            smoke={"search.trials": 4, "train.epochs": 2})
    out = run_experiment(str(path), smoke=True, backend="ray", num_cpus=1, seed=11,
                         out=tmp_path / "results", run="smoke", stream=io.StringIO())
    table = _by_trial(rows(out.run_dir))
    assert sorted(table) == [0, 1, 2, 3]
    for r in table.values():
        assert r["status"] == "complete", r
        assert r["epochs"] == 2 and "test.mse" in r["metrics"]
    trained = [table[t] for t in sorted(table) if not table[t]["reused_from"]]
    assert [r["hparams"]["lr"] for r in trained] == [0.1, 1e-4]


@pytest.mark.slow
def test_asha_prunes_a_weak_trial_on_a_rung_and_never_at_the_last_epoch(
        tmp_path: Path) -> None:
    n, epochs = 6, 4
    path = write_experiment(tmp_path, task="adding", space=lr_space(seeds=(1, 2, 3)),
                            epochs=epochs, search=f'trials={n}, sampler="grid", pruner="halving"')
    out = run_experiment(str(path), backend="ray", num_cpus=1, out=tmp_path / "results",
                         run="asha", stream=io.StringIO())
    table = _by_trial(rows(out.run_dir))
    assert sorted(table) == list(range(n))
    pruned = [r for r in table.values() if r["status"] == "pruned"]
    complete = [r for r in table.values() if r["status"] == "complete"]
    # ASHA's one rung is at epoch 2 (grace period 2, below the last epoch)
    assert any(r["hparams"]["lr"] == 1e-4 for r in pruned), "the useless rate is stopped"
    assert all(r["epochs"] == 2 and "test.mse" not in r["metrics"] for r in pruned)
    assert complete and all(r["epochs"] == epochs and "test.mse" in r["metrics"]
                            for r in complete)
    assert all(r["hparams"]["lr"] == 0.1 for r in complete if r["objective"] < 0.5)


def test_resume_on_ray_of_an_optuna_run_runs_only_the_remaining_budget(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, search='trials=2, sampler="random"')
    first = run_experiment(str(path), out=tmp_path / "results", run="mixed",
                           stream=io.StringIO())
    before = _by_trial(rows(first.run_dir))
    assert sorted(before) == [0, 1]
    # Ray has no state to restore: a fresh Tuner runs the 2 trials the table lacks
    again = run_experiment(str(path), backend="ray", num_cpus=1, trials=4, resume=True,
                           out=tmp_path / "results", run="mixed", stream=io.StringIO())
    after = _by_trial(rows(again.run_dir))
    assert sorted(after) == [0, 1, 2, 3]
    assert all(after[t] == before[t] for t in before)
    assert {after[t]["search"] for t in (2, 3)} == {"ray-random"}
    # the budget is complete: a further resume adds nothing
    run_experiment(str(path), backend="ray", num_cpus=1, resume=True,
                   out=tmp_path / "results", run="mixed", stream=io.StringIO())
    assert len(rows(again.run_dir)) == 4


def test_trial_numbers_respect_the_budget_and_are_never_reused(tmp_path: Path) -> None:
    from lstm_search.results import ResultsWriter, TrialResult
    from lstm_search.search._ray import claim_number, recorded_row, retire_claims

    def row(n: int) -> TrialResult:
        return TrialResult(experiment="e", run="r", trial=n, cell="gru", genome_id="g",
                           genome="{}", task="recall", seed=1, objective=0.5)

    writer = ResultsWriter(tmp_path)
    writer.append(row(0))  # written by an earlier (Optuna) run
    assert claim_number(tmp_path, "a", budget=3) == 1
    assert claim_number(tmp_path, "a", budget=3) == 1, "a retried trial keeps its number"
    assert claim_number(tmp_path, "b", budget=3) == 2
    assert claim_number(tmp_path, "c", budget=3) is None, "rows and live claims fill the budget"
    writer.append(row(1))
    assert recorded_row(tmp_path, 1).objective == 0.5 and recorded_row(tmp_path, 2) is None
    # the driver was killed: "b" will never run again, so its budget goes to a new trial,
    # under a new number (curves of the dead trial keep theirs); "a" has its row and stays
    assert retire_claims(tmp_path, keep=set()) == [2]
    assert claim_number(tmp_path, "c", budget=3) == 3
    assert claim_number(tmp_path, "d", budget=3) is None
    assert claim_number(tmp_path, "a", budget=3) == 1
