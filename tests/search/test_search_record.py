"""The record's invariant (lstm_search/results.py): a torn or short row never costs another
row, and the study never counts done a trial whose row is missing; an interrupted grid resumes
to every point exactly once; a joining driver leaves a live driver's trials alone."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
from search_helpers import (
    GRID_SPACE,
    _default_sigint,
    chaos,
    drive,
    fake_evaluate,
    grid_experiment,
    points,
    rows,
    run_command,
    write_experiment,
)

from lstm_search.experiment import load_experiment
from lstm_search.results import (
    TableWriteError,
    append_jsonl,
    check_run,
    read_jsonl,
)
from lstm_search.search import run_experiment
from lstm_search.search._optuna import abandon, check_study
from lstm_search.search._storage import ABANDONED, make_sampler, make_storage


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The 12-point grid run once, uninterrupted: what every interrupted run must end as."""
    folder = tmp_path_factory.mktemp("reference")
    return _run(grid_experiment(folder), folder / "results", run="uninterrupted").run_dir


def _run(path: Path, out: Path, **kw):
    kw.setdefault("evaluate", fake_evaluate)
    return run_experiment(str(path), out=out, stream=io.StringIO(), **kw)


def test_a_torn_last_line_does_not_take_the_next_row_with_it(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    append_jsonl(path, {"trial": 0})
    with open(path, "ab") as f:  # a process killed mid-write (or a short write) left this
        f.write(b'{"trial": 1, "cell": "gr')
    append_jsonl(path, {"trial": 2})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [r["trial"] for r in read_jsonl(path)]
    assert got == [0, 2]
    assert len(caught) == 1 and "skipped 1 damaged line (2)" in str(caught[0].message)
    assert path.read_bytes().endswith(b'{"trial": 2}\n')


def test_a_reader_never_sees_a_row_that_is_being_appended(tmp_path: Path) -> None:
    """A live reader (progress, reuse, resume, a user's report) and a writer half way through a
    row: the reader waits for the row to be whole instead of taking it for a damaged line."""
    import fcntl
    import threading

    from lstm_search.results import ResultsWriter, read_rows

    path = tmp_path / "trials.jsonl"
    row = {"experiment": "e", "run": "r", "trial": 1, "status": "complete", "objective": 1.0}
    append_jsonl(path, dict(row, trial=0))
    line = (json.dumps(dict(row, trial=1), sort_keys=True) + "\n").encode()
    got: dict[str, Any] = {}

    def read() -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got["rows"] = [r["trial"] for r in read_rows(path)]
            got["writer"] = sorted(ResultsWriter(tmp_path).finished_trials())
        got["warnings"] = [str(w.message) for w in caught]

    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as append_jsonl holds it while it writes
        os.write(fd, line[:20])  # half the row is in the file
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(0.5)
        assert reader.is_alive(), got  # it waits for the writer
        os.write(fd, line[20:])
    finally:
        os.close(fd)  # releases the lock
    reader.join(10)
    assert got == {"rows": [0, 1], "writer": [0, 1], "warnings": []}


def test_a_short_write_is_undone_and_raises(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "trials.jsonl"
    append_jsonl(path, {"trial": 0})
    before = path.read_bytes()
    real_write = os.write

    def short(fd: int, data: bytes) -> int:  # a full disk: half the bytes go out
        return real_write(fd, data[: len(data) // 2])

    monkeypatch.setattr(os, "write", short)
    with pytest.raises(TableWriteError, match="short write"):
        append_jsonl(path, {"trial": 1, "cell": "gru"})
    monkeypatch.setattr(os, "write", real_write)
    assert path.read_bytes() == before
    append_jsonl(path, {"trial": 2})
    assert [r["trial"] for r in read_jsonl(path)] == [0, 2]


def test_a_trial_whose_row_cannot_be_written_is_not_done_and_resume_runs_it(
        tmp_path: Path, monkeypatch, reference: Path) -> None:
    path = grid_experiment(tmp_path)
    out = tmp_path / "results"
    real_write = os.write

    def disk_full_on_trial_3(fd: int, data: bytes) -> int:
        if b'"trial": 3,' in data:
            return real_write(fd, data[:40])
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_full_on_trial_3)
    with pytest.raises(OSError, match="short write"):
        _run(path, out, run="r")
    monkeypatch.setattr(os, "write", real_write)
    run_dir = out / "grid12" / "r"
    assert [r["trial"] for r in rows(run_dir)] == [0, 1, 2]
    study = optuna.load_study(study_name="grid12/r",
                              storage=make_storage(f"sqlite:///{run_dir / 'study.db'}"))
    lost = study.trials[3]
    assert lost.state != optuna.trial.TrialState.COMPLETE and lost.user_attrs[ABANDONED]

    outcome = _run(path, out, run="r", resume=True)
    assert outcome.problems == ()
    table = rows(run_dir)
    assert len(table) == 12 and len({r["trial"] for r in table}) == 12
    assert (lost.params["cell"], {"lr": lost.params["lr"]}) in [
        (r["cell"], r["hparams"]) for r in table if r["trial"] > 3]
    assert points(run_dir) == points(reference)


def _grid_study(tmp_path: Path, record_in: Path | None = None) -> tuple[Any, Any]:
    """For the 12-point grid: an in-memory study with the run's grid sampler (counting
    ``record_in``'s rows as held when given), and ``ask()``, which draws the next trial."""
    exp = load_experiment(str(grid_experiment(tmp_path)))
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(),
                                sampler=make_sampler(exp, exp.seed), direction="maximize")
    if record_in is not None:
        study.sampler.record_in(exp, record_in)
    space = {k: optuna.distributions.CategoricalDistribution(v)
             for k, v in make_sampler(exp, 0)._search_space.items()}

    def ask() -> optuna.Trial:
        t = study.ask()
        t.suggest_categorical("cell", space["cell"].choices)
        t.suggest_categorical("lr", space["lr"].choices)
        return t

    return study, ask


def test_grid_draws_abandoned_points_never_a_point_running_elsewhere(tmp_path: Path) -> None:
    """Driver killed with trials 2 and 3 running, --resume with two workers: once every point
    has been started, the next trial must take an abandoned point, not one still running in
    the other worker (Optuna's own rule), or one point runs twice and another never."""
    study, ask = _grid_study(tmp_path)
    started = [ask() for _ in range(12)]
    for t in started:
        if t.number not in (2, 3, 11):
            study.tell(t, 0.5)
    abandon(study, 2)  # the killed driver's two running trials
    abandon(study, 3)
    # trial 11 still runs in the other worker; the budget asks two more
    gid = {t.number: t.system_attrs["grid_id"] for t in study.get_trials(deepcopy=False)}
    redrawn = [ask().number for _ in range(2)]
    gid = {t.number: t.system_attrs["grid_id"] for t in study.get_trials(deepcopy=False)}
    assert sorted(gid[n] for n in redrawn) == sorted([gid[2], gid[3]])


def test_grid_never_redraws_a_point_the_table_has_a_row_for(tmp_path: Path,
                                                            reference: Path) -> None:
    """The record decides: a trial the study gave up (abandoned) although its row landed (a
    study write lost when a process died mid-write, a row appended after the sweep) keeps its
    point; the next trial takes the other abandoned point, never a second row for one point."""
    run_dir = tmp_path / "run"
    study, ask = _grid_study(tmp_path, record_in=run_dir)
    started = [ask() for _ in range(12)]
    for t in started:
        if t.number not in (2, 3):
            study.tell(t, 0.5)
    abandon(study, 2)
    abandon(study, 3)
    # trial 2's row is in the table all the same (the reference run's row for its point)
    p2 = started[2].params
    row = next(r for r in rows(reference)
               if r["cell"] == p2["cell"] and r["hparams"]["lr"] == p2["lr"])
    append_jsonl(run_dir / "trials.jsonl", dict(row, trial=2))
    gid = {t.number: t.system_attrs["grid_id"] for t in study.get_trials(deepcopy=False)}
    redrawn = ask().number
    gid = {t.number: t.system_attrs["grid_id"] for t in study.get_trials(deepcopy=False)}
    assert gid[redrawn] == gid[3] != gid[2]


def test_check_run_names_duplicated_trials_and_repeated_grid_points(
        tmp_path: Path, reference: Path) -> None:
    assert check_run(reference) == []
    assert check_study(reference, f"sqlite:///{reference / 'study.db'}",
                       "grid12/uninterrupted") == []
    run_dir = tmp_path / "copy"
    shutil.copytree(reference, run_dir)
    table = rows(run_dir)
    twice = dict(table[5], trial=7)  # trial 7 holds trial 5's point: 7's point never ran
    lines = [json.dumps(r) for r in table if r["trial"] != 7] + [json.dumps(twice),
                                                                 json.dumps(table[0])]
    (run_dir / "trials.jsonl").write_text("\n".join(lines) + "\n")
    problems = check_run(run_dir)
    assert "trial 0 has 2 rows" in problems
    assert any("evaluated 2 times (trials 5, 7)" in p for p in problems)
    assert "grid: 1 of 12 points never evaluated" in problems
    # the study: trial 11 has no row, trial 4's row disagrees with it
    (run_dir / "trials.jsonl").write_text("\n".join(
        json.dumps(dict(r, status="failed") if r["trial"] == 4 else r)
        for r in table if r["trial"] != 11) + "\n")
    problems = check_study(run_dir, f"sqlite:///{run_dir / 'study.db'}", "grid12/uninterrupted")
    assert problems == ["trial 4: the row says failed, the study COMPLETE",
                        "trial 11 is COMPLETE in the study but has no row"]


def _check_exact(run_dir: Path, reference: Path, storage: str, study: str) -> None:
    table = rows(run_dir)
    numbers = [r["trial"] for r in table]
    assert len(numbers) == len(set(numbers)), "one row per trial number"
    assert points(run_dir) == points(reference), "every point once, with its metrics"
    assert check_run(run_dir) == []
    assert check_study(run_dir, storage, study) == []
    done = optuna.load_study(study_name=study, storage=make_storage(storage)).get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    assert sorted(t.number for t in done) == sorted(numbers), "the study agrees with the table"


def test_chaos_two_workers_killed_and_interrupted_then_resumed_is_exact(
        tmp_path: Path, reference: Path) -> None:
    path = grid_experiment(tmp_path)
    out = tmp_path / "results"
    cycles = chaos(path, out, "c", workers=2, kills=2, seed=12, seconds=0.05)
    assert [c["signal"] for c in cycles] == ["KILL", "INT"]
    assert all(0 < c["rows_at_signal"] < 12 for c in cycles), cycles  # interrupted mid-run
    run_dir = out / "grid12" / "c"
    _check_exact(run_dir, reference, f"sqlite:///{run_dir / 'study.db'}", "grid12/c")


@pytest.mark.parametrize("storage", [
    "sqlite",
    pytest.param("journal", marks=pytest.mark.integration),
])
def test_a_second_driver_joins_a_live_run_without_touching_its_trials(
        tmp_path: Path, reference: Path, storage: str) -> None:
    """The README's many-machines recipe: driver A runs; driver B starts the same command with
    --resume. B must not finish A's running trials (A would die on "Cannot tell a FAIL trial",
    the study would say failed where the row says complete, and the grid would run A's point
    twice); both end, every point once."""
    path = grid_experiment(tmp_path)
    out = tmp_path / "results"
    run_dir = out / "grid12" / "j"
    url = (f"sqlite:///{tmp_path / 'shared.db'}" if storage == "sqlite"
           else f"journal:{tmp_path / 'shared.log'}")
    a = drive(path, out, "j", "--storage", url, seconds=0.4, stdout=subprocess.DEVNULL,
              stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 120
        while len(rows(run_dir)) < 1 and time.monotonic() < end:
            time.sleep(0.05)
        assert a.poll() is None, "A is still running when B joins"
        os.environ["LSTM_SEARCH_TEST_TRIAL_SECONDS"] = "0.4"
        try:
            joined = _run(path, out, run="j", resume=True)
        finally:
            del os.environ["LSTM_SEARCH_TEST_TRIAL_SECONDS"]
        _, err = a.communicate(timeout=120)
    finally:
        if a.poll() is None:
            a.kill()
    assert a.returncode == 0, err.decode()[-3000:]
    study = optuna.load_study(study_name="grid12/j", storage=make_storage(url))
    assert not [t.number for t in study.trials if t.state != optuna.trial.TrialState.COMPLETE]
    workers = {r["worker"] for r in rows(run_dir)}
    assert len(workers) == 2, "both drivers ran trials"
    assert str(os.getpid()) in " ".join(workers) and joined.run_dir == run_dir
    _check_exact(run_dir, reference, url, "grid12/j")


@pytest.mark.integration
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("storage", ["sqlite", "journal"])
def test_chaos_many_interruptions(tmp_path: Path, reference: Path, workers: int,
                                  storage: str) -> None:
    path = grid_experiment(tmp_path)
    out = tmp_path / "results"
    run_dir = out / "grid12" / "c"
    url = (f"sqlite:///{tmp_path / 'study.db'}" if storage == "sqlite"
           else f"journal:{tmp_path / 'study.log'}")
    cycles = chaos(path, out, "c", workers=workers, kills=5, seed=workers, storage=url)
    assert all(c["lost"] == 0 for c in cycles), cycles
    _check_exact(run_dir, reference, url, "grid12/c")


@pytest.mark.integration
def test_chaos_with_the_run_command_and_real_trials(tmp_path: Path) -> None:
    """``lstm-search run`` itself, 1-epoch trials of a real 12-point grid, two workers, killed
    and interrupted, resumed: the table equals an uninterrupted run's, metrics included."""
    path = write_experiment(tmp_path, "real12", space=GRID_SPACE,
                            search='trials=12, sampler="grid"')
    out = tmp_path / "results"
    done = run_command(path, out, "uninterrupted", "--workers", "2",
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = done.communicate(timeout=600)
    assert done.returncode == 0, err.decode()[-3000:]
    cycles = chaos(path, out, "c", workers=2, kills=3, seed=5, real=True, seconds=0.5)
    assert all(c["lost"] == 0 for c in cycles), cycles
    run_dir = out / "real12" / "c"
    _check_exact(run_dir, out / "real12" / "uninterrupted",
                 f"sqlite:///{run_dir / 'study.db'}", "real12/c")


def test_resume_says_what_it_resumes_and_refuses_other_settings(tmp_path: Path) -> None:
    from lstm_search.experiment import ExperimentError

    path = grid_experiment(tmp_path)
    out = tmp_path / "results"
    _run(path, out, run="r", trials=4)
    with pytest.raises(ExperimentError, match=r"train.epochs: 1 -> 3.*--force") as e:
        _run(path, out, run="r", resume=True, overrides={"train.epochs": 3})
    assert "train.lr" not in str(e.value)
    assert len(rows(out / "grid12" / "r")) == 4  # nothing written
    stream = io.StringIO()
    run_experiment(str(path), out=out, run="r", resume=True, trials=6, evaluate=fake_evaluate,
                   stream=stream, overrides={"train.epochs": 3}, force=True)
    assert (f"resuming {out / 'grid12' / 'r'}: 4 row(s) (complete 4), 2 of 6 trial(s) to "
            f"run, 0 failed; --force: settings changed: train.epochs: 1 -> 3") in \
        stream.getvalue()
    info = json.loads((out / "grid12" / "r" / "run.json").read_text())
    assert info["settings_changed"][0]["changes"] == ["train.epochs: 1 -> 3"]
    assert info["experiment"]["train"]["epochs"] == 3


def test_retry_failed_runs_failed_points_again_one_row_per_trial(
        tmp_path: Path, monkeypatch, reference: Path) -> None:
    from search_helpers import failing_evaluate

    path = grid_experiment(tmp_path)
    out = tmp_path / "results"
    run_dir = out / "grid12" / "r"
    monkeypatch.setenv("LSTM_SEARCH_TEST_FAIL_CELL", "cifg")
    first = _run(path, out, run="r", evaluate=failing_evaluate)
    failed = sorted(r["trial"] for r in rows(run_dir) if r["status"] == "failed")
    assert len(failed) == 4 and first.problems == ()
    monkeypatch.delenv("LSTM_SEARCH_TEST_FAIL_CELL")
    stream = io.StringIO()
    again = run_experiment(str(path), out=out, run="r", resume=True, retry_failed=True,
                           evaluate=failing_evaluate, stream=stream)
    assert "12 row(s) (complete 8, failed 4), 0 of 12 trial(s) to run, 4 failed" in \
        stream.getvalue()
    table = rows(run_dir)
    numbers = [r["trial"] for r in table]
    assert len(numbers) == len(set(numbers)) == 16, "one row per trial number"
    assert sorted(r["retry_of"] for r in table if r["retry_of"] is not None) == failed
    assert again.problems == () and again.summary.done == 12
    assert points(run_dir) == points(reference)
    # a second --retry-failed has nothing left to retry
    _run(path, out, run="r", resume=True, retry_failed=True, evaluate=failing_evaluate)
    assert len(rows(run_dir)) == 16


def test_a_run_whose_every_trial_failed_exits_non_zero(tmp_path: Path, monkeypatch,
                                                       capsys) -> None:
    import lstm_search.search
    from lstm_search.cli import main

    monkeypatch.setenv("LSTM_SEARCH_TEST_FAIL_CELL", "gru")
    path = write_experiment(tmp_path, space='CellChoiceSpace(name="g", cells=("gru",), '
                            'hparams={"lr": Choice((0.1, 0.2))})',
                            search='trials=2, sampler="grid"')
    real = lstm_search.search.run_experiment

    def with_failing_evaluate(*a, **kw):
        return real(*a, evaluate=__import__("search_helpers").failing_evaluate, **kw)

    monkeypatch.setattr(lstm_search.search, "run_experiment", with_failing_evaluate)
    code = main(["run", str(path), "--out", str(tmp_path / "results"), "--run", "f"])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("lstm-search run: error: every trial failed (2 of 2); the first: "
                   "RuntimeError: data for gru missing")


def test_a_driver_killed_while_its_workers_start_leaves_no_worker_running(
        tmp_path: Path) -> None:
    """The workers' death signal is set once they run: a driver killed while they were still
    starting must not leave them to run the search alone (and race the next --resume)."""
    import signal

    from search_helpers import _group_gone

    path = grid_experiment(tmp_path)
    run_dir = tmp_path / "results" / "grid12" / "k"
    proc = drive(path, tmp_path / "results", "k", "--workers", "2", seconds=0.1,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def children(pid: int) -> list[str]:
        try:
            return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []

    def worker_started() -> float | None:
        """How long to wait before the kill once a worker exists (None: none yet): a spawned
        worker imports for seconds; one forked from the fork server is ready in a moment."""
        for pid in children(proc.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmdline:
                return 0.3
            if b"forkserver" in cmdline and children(int(pid)):
                return 0.0
        return None

    end, wait = time.monotonic() + 120, None
    while proc.poll() is None and time.monotonic() < end and (wait := worker_started()) is None:
        time.sleep(0.002)
    time.sleep(wait or 0.0)
    os.kill(proc.pid, signal.SIGKILL)  # a worker is starting (unpickling, opening the study)
    proc.wait()
    _group_gone(proc.pid)
    assert rows(run_dir) == [], "no worker ran a trial without its driver"


def test_ctrl_c_prints_the_command_that_resumes_the_run(tmp_path: Path) -> None:
    """An interrupted run (optuna backend) exits 130 and names the exact --resume command.

    A Ctrl-C that lands while Python runs a finaliser is dropped by the interpreter (the run
    then goes on to its end, exit 0): rare, so the scenario is tried up to three times."""
    import shlex

    path = grid_experiment(tmp_path)
    out = tmp_path / "results"
    for attempt in range(3):
        run = f"i{attempt}"
        run_dir = out / "grid12" / run
        proc = drive(path, out, run, seconds=0.3, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_default_sigint)
        end = time.monotonic() + 120
        while len(rows(run_dir)) < 1 and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            break
    assert proc.returncode == 130, err.decode()[-2000:]
    text = err.decode()
    printed = shlex.split(text.split("run again on resume:\n", 1)[1].splitlines()[0])
    assert printed[:3] == ["lstm-search", "run", str(path)]
    assert printed[3:] == ["--out", str(out), "--run", run, "--resume"]


def test_an_interrupted_driver_does_not_wait_for_a_locked_database(tmp_path: Path) -> None:
    """Ctrl-C can cut a SQLite transaction short and leave its lock held; the driver's exit
    (marking its lease ended) must not then wait out the database's busy timeout."""
    import sqlite3

    from lstm_search.search._lease import END_SECONDS, Lease

    db = tmp_path / "s.db"
    optuna.create_study(storage=make_storage(f"sqlite:///{db}"), study_name="s")
    lease = Lease(f"sqlite:///{db}", "s").__enter__()
    holder = sqlite3.connect(db)
    holder.execute("BEGIN EXCLUSIVE")  # what an interrupted transaction leaves behind
    try:
        start = time.monotonic()
        lease.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)
        assert time.monotonic() - start < END_SECONDS + 3
    finally:
        holder.rollback()
        holder.close()


def test_a_stop_signal_during_a_row_write_takes_effect_after_the_row(
        tmp_path: Path, monkeypatch) -> None:
    """SIGTERM (a worker's stop, the driver's death signal) or Ctrl-C arriving while a row is
    written is held back until the row is whole: a fatal signal can cut a write short."""
    path = tmp_path / "trials.jsonl"
    seen: list[bytes] = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append(path.read_bytes()))
    real_write = os.write

    def stopped_mid_write(fd: int, data: bytes) -> int:
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the row is being written
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", stopped_mid_write)
    try:
        append_jsonl(path, {"trial": 0, "cell": "gru"})
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [b'{"cell": "gru", "trial": 0}\n']


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_ctrl_c_swallowed_by_a_finaliser_is_raised_at_the_next_safe_point() -> None:
    from lstm_search.search._interrupt import catch_interrupts, check

    class Finalised:
        def __del__(self) -> None:
            signal.raise_signal(signal.SIGINT)  # KeyboardInterrupt inside __del__: lost

    # the handler an interactive driver starts with (an earlier test may have left another)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _finaliser_swallows_then_check_raises(Finalised, catch_interrupts, check)
    finally:
        signal.signal(signal.SIGINT, previous)


def _finaliser_swallows_then_check_raises(finalised: type, catch_interrupts, check) -> None:
    with catch_interrupts():
        check()  # nothing pressed yet
        finalised()
        with pytest.raises(KeyboardInterrupt):
            check()
    check()  # outside the block nothing is pending
