"""Ray Tune backend: a real two-node cluster (head + a second worker node on 127.0.0.1) whose
trials all land in the shared table; ASHA; resume; runs killed (SIGKILL) or interrupted (SIGINT)
at seeded moments that resume to exactly the grid of an uninterrupted run, leave no Ray process
behind and record no interrupted trial as stopped by a scheduler; rows that carry the
experiment's direction."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from search_helpers import REPO, lr_space, rows, write_experiment

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


@pytest.mark.integration
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


@pytest.mark.integration
def test_a_run_without_an_address_starts_its_own_instance_beside_another_cluster(
        tmp_path: Path, two_node_cluster) -> None:
    """Regression: ``ray.init(num_cpus=...)`` without an address joined the newest cluster on
    the machine (here the two-node one) and refused the CPU count ("When connecting to an
    existing cluster, num_cpus and num_gpus must not be provided"). The run now starts a local
    instance of its own, leaves the other cluster alone and stops only its own."""
    import ray

    path = write_experiment(tmp_path, search='trials=2, sampler="random"')
    out = run_experiment(str(path), backend="ray", num_cpus=1, out=tmp_path / "results",
                         run="own", stream=io.StringIO())
    table = rows(out.run_dir)
    assert sorted(r["trial"] for r in table) == [0, 1]
    assert all(r["status"] == "complete" for r in table)
    assert not ray.is_initialized()  # its own instance stopped
    ray.init(address=two_node_cluster.address, log_to_driver=False)  # the other one is up
    try:
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    finally:
        ray.shutdown()


@pytest.mark.slow
@pytest.mark.integration
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
@pytest.mark.integration
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


@pytest.mark.integration
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
@pytest.mark.integration
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


@pytest.mark.integration
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


# ---- the record under interruption: kills, Ctrl-C, resume, leftover processes, direction ----

MARK = "LSTM_SEARCH_TEST_RAY_MARK"  # in the environment of every process a test's run starts
GRID_SEEDS = (1, 2, 3, 4)  # 2 learning rates x 4 seeds: a grid of 8 points


def _grid_experiment(folder: Path) -> Path:
    return write_experiment(folder, task="adding", space=lr_space(seeds=GRID_SEEDS),
                            search=f'trials={2 * len(GRID_SEEDS)}, sampler="grid"')


def _point(r: dict[str, Any]) -> tuple[str, str, int]:
    return r["cell"], json.dumps(r["hparams"], sort_keys=True), r["seed"]


def _marked(mark: str) -> list[int]:
    """The processes (Ray's included: raylet, GCS, agents, workers) a run tagged ``mark``
    started that are still alive."""
    pids = []
    needle = f"{MARK}={mark}".encode()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if needle in (d / "environ").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                continue
    return pids


def _gone_within(mark: str, seconds: float) -> list[int]:
    """Wait up to ``seconds`` for every process tagged ``mark`` to end; the ones left."""
    end = time.monotonic() + seconds
    while (left := _marked(mark)) and time.monotonic() < end:
        time.sleep(0.2)
    return left


def _kill_marked(mark: str) -> None:
    for pid in _marked(mark):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _cli(args: list[str], mark: str, log: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", **{MARK: mark})
    with open(log, "w") as err:
        return subprocess.Popen([sys.executable, "-m", "lstm_search", "run", *args], cwd=REPO,
                                env=env,
                                stdout=subprocess.DEVNULL, stderr=err, text=True,
                                start_new_session=True)


def _wait_rows(run_dir: Path, n: int, proc: subprocess.Popen[str], timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while len(rows(run_dir)) < n:
        assert proc.poll() is None, f"the run ended (exit {proc.returncode}) before {n} rows"
        assert time.monotonic() < end, f"no {n} rows after {timeout} s"
        time.sleep(0.05)


def _check_record(table: list[dict[str, Any]]) -> None:
    numbers = [r["trial"] for r in table]
    assert len(numbers) == len(set(numbers)), f"a trial number twice: {sorted(numbers)}"
    points = Counter(_point(r) for r in table)
    assert max(points.values(), default=1) == 1, f"a grid point twice: {points}"
    assert not [r for r in table if r["status"] != "complete"], "an interrupted trial recorded"


def _children() -> set[int]:
    """This process's live child processes (a zombie has ended; an earlier test in the same
    session may leave one unreaped)."""
    import psutil

    out = set()
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if p.status() != psutil.STATUS_ZOMBIE:
                out.add(p.pid)
    return out


def _children_within(seconds: float, before: set[int]) -> list[int]:
    """Wait up to ``seconds`` for the child processes started since ``before`` (the children
    there were then) to end; the ones left."""
    end = time.monotonic() + seconds
    while (left := _children() - before) and time.monotonic() < end:
        time.sleep(0.2)
    return sorted(left)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The table of an uninterrupted Ray run of the grid (in this process), and the processes
    the run left behind."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    before = _children()
    out = run_experiment(str(_grid_experiment(folder)), backend="ray", num_cpus=1,
                         out=folder / "results", run="whole", stream=io.StringIO())
    return {"table": rows(out.run_dir), "left": _children_within(8, before)}


@pytest.mark.integration
def test_an_uninterrupted_grid_run_evaluates_each_point_once(
        uninterrupted: dict[str, Any]) -> None:
    assert uninterrupted["left"] == [], "the local Ray instance outlived the run"
    uninterrupted = uninterrupted["table"]
    _check_record(uninterrupted)
    expected = {("gru", json.dumps({"lr": lr}), seed) for lr in (0.1, 1e-4) for seed in GRID_SEEDS}
    assert {_point(r) for r in uninterrupted} == expected
    assert sorted(r["trial"] for r in uninterrupted) == list(range(len(expected)))


def _interrupt_and_resume(tmp_path: Path, blow: signal.Signals, seed: int) -> list[dict]:
    """Start the grid run with the CLI, hit it with ``blow`` at a seeded moment (a random
    number of rows, then a random delay: mid-trial or between trials), check that none of its
    processes outlives it by more than a few seconds, then resume it (for SIGINT: with the
    command it printed) until done; returns the final table."""
    rng = random.Random(seed)
    path = _grid_experiment(tmp_path)
    run_dir = tmp_path / "results" / "tiny" / "chaos"
    mark = uuid.uuid4().hex
    command = [str(path), "--backend", "ray", "--num-cpus", "1", "--out",
               str(tmp_path / "results"), "--run", "chaos"]
    try:
        log = tmp_path / "attempt.log"
        base = list(command)
        for attempt in range(3):
            command = list(base)
            proc = _cli(command, mark, log)
            # first a seeded moment; if the run outran it (a fast or an unloaded machine),
            # again from scratch at the first row
            _wait_rows(run_dir, rng.randint(1, 4) if attempt == 0 else 1, proc)
            time.sleep(rng.uniform(0.0, 0.8) if attempt == 0 else 0.0)
            if proc.poll() is not None or len(rows(run_dir)) >= 2 * len(GRID_SEEDS):
                proc.kill()
                proc.wait(timeout=30)
                assert _gone_within(mark, 8) == []
                shutil.rmtree(run_dir)
                continue
            if blow == signal.SIGKILL:
                proc.kill()
                assert proc.wait(timeout=30) == -signal.SIGKILL
                command.append("--resume")
            else:  # Ctrl-C: the terminal signals the whole process group
                os.killpg(proc.pid, signal.SIGINT)
                assert proc.wait(timeout=60) == 130, log.read_text()[-3000:]
                err = log.read_text()
                assert "stopped by the ASHA" not in err and "Tuner.restore" not in err
                # the exact command to resume: the next attempt runs it as printed
                printed = shlex.split(err.split("run again on resume:\n", 1)[1].splitlines()[0])
                assert printed[:2] == ["lstm-search", "run"] and "--resume" in printed
                command = printed[2:]
            assert _gone_within(mark, 8) == [], f"processes of the {blow.name} run lingered"
            _check_record(rows(run_dir))
            if len(rows(run_dir)) < 2 * len(GRID_SEEDS):
                break  # interrupted before the end: the state the resume must repair
            # the trial in flight when the driver died finished the grid on its way out (a
            # complete, valid record, checked above): again from scratch for an interrupted one
            shutil.rmtree(run_dir)
        else:
            pytest.fail("the run finished before the signal in 3 attempts")
        # the resume runs here (the command line as typed; torch and Ray already imported)
        from lstm_search.cli import main

        before = _children()
        with contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()) as err:
            assert main(["run", *command]) == 0, err.getvalue()[-3000:]
        assert _children_within(8, before) == [], "the resumed run left processes"
    finally:
        _kill_marked(mark)
    return rows(run_dir)


def _same_as_uninterrupted(table: list[dict], reference: dict[str, Any]) -> None:
    uninterrupted = reference["table"]
    _check_record(table)
    assert len(table) == len(uninterrupted)
    whole = {_point(r): r for r in uninterrupted}
    assert {_point(r) for r in table} == set(whole)
    for r in table:  # the same training, whether or not the run was interrupted on the way
        assert r["metrics"]["valid.mse"] == pytest.approx(whole[_point(r)]["metrics"]["valid.mse"])


@pytest.mark.integration
@pytest.mark.parametrize("seed", [0])
def test_a_ray_run_killed_with_sigkill_resumes_to_the_exact_grid(
        tmp_path: Path, uninterrupted: dict[str, Any], seed: int) -> None:
    _same_as_uninterrupted(_interrupt_and_resume(tmp_path, signal.SIGKILL, seed), uninterrupted)


@pytest.mark.integration
@pytest.mark.parametrize("seed", [1])
def test_ctrl_c_exits_130_with_the_resume_command_which_reruns_the_interrupted_trial(
        tmp_path: Path, uninterrupted: dict[str, Any], seed: int) -> None:
    _same_as_uninterrupted(_interrupt_and_resume(tmp_path, signal.SIGINT, seed), uninterrupted)


@pytest.mark.integration
def test_asha_rows_of_a_maximised_search_carry_its_direction(tmp_path: Path) -> None:
    from lstm_search.analysis._table import table_direction
    from lstm_search.results import load_results

    # the quickstart (accuracy, maximised), small, with ASHA over 3 epochs
    out = run_experiment("quickstart", smoke=True, backend="ray", num_cpus=1,
                         overrides={"search.pruner": "halving", "train.epochs": 3},
                         out=tmp_path / "results", run="asha", stream=io.StringIO())
    table = rows(out.run_dir)
    assert len(table) == 4 and {r["direction"] for r in table} == {"maximize"}
    assert table_direction(load_results(out.run_dir)) == "maximize"


def _fake_result(trial_id: str, *, error: Any = None, **metrics: Any) -> Any:
    return SimpleNamespace(config={"lr": 0.1, "seed": 1}, error=error, path=f"/x/t_{trial_id}_0",
                           metrics={"trial_id": trial_id, **metrics})


@pytest.mark.integration
def test_a_trial_stopped_by_asha_is_recorded_with_the_experiments_direction(
        tmp_path: Path) -> None:
    from lstm_search.experiment import load_experiment
    from lstm_search.search._ray import _record_missing, claim_number

    exp = load_experiment(write_experiment(tmp_path, task="recall", epochs=4,
                                           search='trials=2, sampler="grid", pruner="halving"',
                                           space=lr_space(seeds=(1,))))
    assert exp.search.direction == "maximize"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    claim_number(run_dir, "a")
    _record_missing(exp, "r", run_dir, [_fake_result("a", objective=0.4, epoch=2)])
    (row,) = rows(run_dir)
    assert row["status"] == "pruned" and row["error"] == "stopped by the ASHA scheduler"
    assert row["direction"] == "maximize" and row["epochs"] == 2


@pytest.mark.integration
def test_a_trial_that_ended_without_a_row_under_fifo_is_not_recorded_as_stopped(
        tmp_path: Path) -> None:
    from lstm_search.experiment import load_experiment
    from lstm_search.search._ray import _record_missing, claim_number, make_scheduler

    exp = load_experiment(write_experiment(tmp_path, task="adding",
                                           search='trials=2, sampler="grid", pruner="none"',
                                           space=lr_space(seeds=(1,))))
    assert make_scheduler(exp) is None
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    claim_number(run_dir, "a")
    claim_number(run_dir, "b")
    # "a" ended without an outcome (the run was stopped): no row, a resume runs it again;
    # "b" failed for good: a failed row
    _record_missing(exp, "r", run_dir, [_fake_result("a", objective=0.4, epoch=1),
                                        _fake_result("b", error=RuntimeError("boom"))])
    (row,) = rows(run_dir)
    assert row["trial"] == 1 and row["status"] == "failed" and "boom" in row["error"]


def test_the_resume_command_names_the_experiment_and_the_run(tmp_path: Path) -> None:
    from lstm_search.experiment import find_experiment, load_experiment
    from lstm_search.search._run import resume_command

    exp = load_experiment("quickstart")
    cmd = resume_command(exp, experiment_path=str(find_experiment("quickstart").resolve()),
                         run="r 1", run_dir=tmp_path / "res" / "quickstart" / "r 1",
                         backend="ray", address="auto", num_cpus=2)
    assert shlex.split(cmd) == ["lstm-search", "run", "quickstart", "--backend", "ray", "--out",
                                str(tmp_path / "res"), "--run", "r 1", "--resume",
                                "--address", "auto", "--num-cpus", "2"]


def test_missing_points_are_the_plan_minus_the_table_as_a_multiset(tmp_path: Path) -> None:
    import dataclasses

    from lstm_search import zoo
    from lstm_search.experiment import load_experiment
    from lstm_search.genome import genome_id
    from lstm_search.results import TrialResult, task_options
    from lstm_search.search._missing import grid_plan, missing_points

    exp = load_experiment(_grid_experiment(tmp_path), overrides={"search.trials": 8})
    plan = grid_plan(exp)
    assert plan == grid_plan(exp), "one order for every attempt"
    assert sorted((p["lr"], p["seed"]) for p in plan) == sorted(
        (lr, s) for lr in (0.1, 1e-4) for s in GRID_SEEDS)

    def row(point: dict[str, Any], trial: int, **kw: Any) -> TrialResult:
        return TrialResult(experiment="tiny", run="r", trial=trial, cell="gru",
                           genome_id=genome_id(zoo.get("gru")), genome="{}", task="adding",
                           seed=point["seed"], hparams={"lr": point["lr"]},
                           task_options=task_options(exp.task), **kw)

    table = [row(plan[0], 0), row(plan[3], 1, status="failed", error="x"),
             row(plan[5], 2, reused_from="r/0")]
    assert missing_points(exp, table) == [p for i, p in enumerate(plan) if i not in (0, 3, 5)]
    # a point recorded twice does not stand in for another one
    assert missing_points(exp, [*table, dataclasses.replace(table[0], trial=3)]) == \
        missing_points(exp, table)
    # a budget beyond the grid repeats the plan: every point once more
    more = dataclasses.replace(exp, search=dataclasses.replace(exp.search, trials=10))
    assert missing_points(more, [row(p, i) for i, p in enumerate(plan)]) == plan[:2]


def test_the_runs_own_instance_runs_its_workers_at_the_default_priority(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray's workers start at niceness 15 unless told: beside any other work at the default
    priority a run's trials would wait (the run's own instance sets 0; a user's choice stays)."""
    from lstm_search.search._ray_local import NICENESS_ENV, local_ray

    monkeypatch.delenv(NICENESS_ENV, raising=False)
    with local_ray(address=None, num_cpus=1, num_gpus=0) as ray:
        @ray.remote(num_cpus=1)
        def niceness() -> int:
            return os.nice(0)

        assert ray.get(niceness.remote()) == 0
    assert NICENESS_ENV not in os.environ, "the process's environment is left as it was"
