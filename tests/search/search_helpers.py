"""Tiny real experiments for the search tests: the built-in long-lag recall task (no data
files), 8 units, a few hundred sequences, one epoch: a trial takes a fraction of a second."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

TEMPLATE = '''
from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig, Stage
from lstm_search.spaces import CellChoiceSpace, Choice, Fixed, LogUniform, TemplateSpace

TASK = TaskConfig(name={task!r}, {task_options}n_train={n_train}, n_valid=64, n_test=64)

EXPERIMENT = Experiment(
    name={name!r},
    space={space},
    task=TASK,
    model=ModelConfig(hidden_size=8, num_layers=1, backend="script"),
    train=TrainConfig(optimizer="sgd", lr=0.5, lr_schedule="none", epochs={epochs},
                      batch_size=16, bptt=20, clip={clip}, progress=False, threads=1),
    search=SearchConfig(direction={direction!r}, {search}),
    stages={stages},
    smoke={smoke!r},
    seed=3,
)
'''

DEFAULT_SPACE = ('CellChoiceSpace(name="t", cells=("lstm", "gru", "cifg"), '
                 'hparams={"lr": LogUniform(0.05, 1.0)})')


def write_experiment(folder: Path, name: str = "tiny", *, space: str = DEFAULT_SPACE,
                     search: str = 'trials=3, sampler="random"', epochs: int = 1,
                     n_train: int = 256, clip: Any = 5.0, stages: str = "()",
                     task: str = "recall", smoke: dict[str, Any] | None = None) -> Path:
    """An experiment file. ``task="adding"`` (regression, valid.mse minimised) separates
    learning rates clearly: about 0.23 at lr 0.1 against 1.1 at lr 1e-4 from the first epoch,
    where recall's accuracy stays near chance for any rate at this size."""
    path = folder / f"{name}.py"
    path.write_text(TEMPLATE.format(
        name=name, space=space, search=search, epochs=epochs, n_train=n_train, clip=clip,
        stages=stages, task=task, task_options="gap=5, " if task == "recall" else "",
        direction="maximize" if task == "recall" else "minimize",
        smoke=smoke if smoke is not None else {"search.trials": 2}))
    return path


def lr_space(seeds: tuple[int, ...] = (), *, distinct: bool = False) -> str:
    """A learning rate that learns and one that does not (task="adding"), at each of ``seeds``
    (a grid of ``2 * len(seeds)`` points), at one of 999 seeds drawn at random (``distinct``:
    random draws do not repeat a setting) or at the experiment's seed.

    At the experiment's seed 3 a random search draws the rates (G good, b useless)
    ``b b G G b G G b``."""
    seed = (', "seed": Choice(tuple(range(1, 1000)))' if distinct
            else f', "seed": Choice({seeds!r})' if seeds else "")
    return ('CellChoiceSpace(name="lr", cells=("gru",), '
            f'hparams={{"lr": Choice((0.1, 1e-4)){seed}}})')


def rows(run_dir: Path) -> list[dict[str, Any]]:
    """The run's rows, read as a live reader must: under a shared lock (a row being appended is
    never seen half written), skipping a line a SIGKILL tore mid-write (the table's documented
    state after a kill: the torn line stays, alone on its line, and its trial runs again)."""
    import fcntl

    path = Path(run_dir) / "trials.jsonl"
    if not path.exists():
        return []
    with open(path, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_SH)
        data = f.read()
    out = []
    for line in data.split(b"\n"):
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "lstm_search", *args], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def fake_evaluate(candidate: Any, *, experiment: str, run: str, trial: int,
                  on_eval: Any = None, writer: Any = None, **_: Any) -> Any:
    """A stand-in for ``evaluate_candidate``: no training, metrics a fixed function of the point
    (cell, hyperparameters, seed), after ``LSTM_SEARCH_TEST_TRIAL_SECONDS`` seconds (default 0):
    runs interrupted anywhere can be compared with an uninterrupted one, exactly."""
    import hashlib
    import time

    from lstm_search.genome import genome_id
    from lstm_search.results import TrialResult, task_options

    time.sleep(float(os.environ.get("LSTM_SEARCH_TEST_TRIAL_SECONDS", "0")))
    point = json.dumps([candidate.cell, dict(candidate.hparams), candidate.seed],
                       sort_keys=True)
    value = int(hashlib.sha256(point.encode()).hexdigest()[:8], 16) / 16**8
    return TrialResult(
        experiment=experiment, run=run, trial=trial, cell=candidate.cell,
        genome_id=genome_id(candidate.genome), genome=candidate.genome.to_json(indent=None),
        task=candidate.task.name, task_options=task_options(candidate.task),
        seed=candidate.seed, hparams=dict(candidate.hparams), status="complete",
        objective=value, objective_name="valid.acc", direction="maximize",
        metrics={"valid.acc": value, "test.acc": value / 2}, best_epoch=1, epochs=1)


GRID_SPACE = ('CellChoiceSpace(name="g12", cells=("lstm", "gru", "cifg"), '
              'hparams={"lr": Choice((0.05, 0.1, 0.2, 0.4))})')


def grid_experiment(folder: Path, name: str = "grid12") -> Path:
    """A 12-point grid (3 cells x 4 learning rates), for the fake evaluate."""
    return write_experiment(folder, name, space=GRID_SPACE, search='trials=12, sampler="grid"')


def points(run_dir: Path) -> list[tuple[str, str, int, float]]:
    """(cell, hyperparameters, seed, objective) of every row not superseded by a retry."""
    table = rows(run_dir)
    retried = {r.get("retry_of") for r in table}
    return sorted((r["cell"], json.dumps(r["hparams"], sort_keys=True), r["seed"],
                   r["objective"]) for r in table if r["trial"] not in retried)


def failing_evaluate(candidate: Any, **kw: Any) -> Any:
    """:func:`fake_evaluate`, but the cell named by ``LSTM_SEARCH_TEST_FAIL_CELL`` fails (a data
    set missing, say) while that variable is set."""
    if candidate.cell == os.environ.get("LSTM_SEARCH_TEST_FAIL_CELL"):
        raise RuntimeError(f"data for {candidate.cell} missing")
    return fake_evaluate(candidate, **kw)


def drive(experiment: Path, out: Path, run: str, *extra: str, seconds: float = 0.0,
          **popen: Any) -> subprocess.Popen:
    """Start a driver process: ``run_experiment`` with :func:`fake_evaluate` (the arguments of
    ``lstm-search run`` after the experiment: ``--resume``, ``--workers 2``, ``--storage S``),
    exit 130 on Ctrl-C like the command."""
    env = dict(os.environ, OMP_NUM_THREADS="1", LSTM_SEARCH_TEST_TRIAL_SECONDS=str(seconds),
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), str(REPO)]))
    return subprocess.Popen([sys.executable, __file__, str(experiment), "--out", str(out),
                             "--run", run, *extra], cwd=REPO, env=env, **popen)


def _drive_main(argv: list[str]) -> int:
    import argparse

    from search_helpers import fake_evaluate  # by module name: the spawned workers import it

    from lstm_search.search import run_experiment

    p = argparse.ArgumentParser()
    p.add_argument("experiment")
    p.add_argument("--out")
    p.add_argument("--run")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--workers", type=int)
    p.add_argument("--storage")
    a = p.parse_args(argv)
    try:
        run_experiment(a.experiment, out=a.out, run=a.run, resume=a.resume, workers=a.workers,
                       storage=a.storage, evaluate=fake_evaluate, stream=sys.stderr)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(_drive_main(sys.argv[1:]))


def _default_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _group_gone(pgid: int, timeout: float = 30.0) -> None:
    """Wait until no process of process group ``pgid`` is left (the driver and its workers)."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {pgid} still alive after {timeout} s")


def run_command(experiment: Path, out: Path, run: str, *extra: str,
                **popen: Any) -> subprocess.Popen:
    """``lstm-search run`` itself, real trials (for the chaos test with the real command)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "lstm_search", "run", str(experiment),
                             "--out", str(out), "--run", run, *extra], cwd=REPO, env=env,
                            **popen)


def chaos(experiment: Path, out: Path, run: str, *, workers: int, kills: int, seed: int,
          storage: str | None = None, seconds: float = 0.1, real: bool = False,
          signals: tuple[str, ...] = ("KILL", "INT")) -> list[dict[str, Any]]:
    """Start a driver, interrupt it at a random moment (seeded) with SIGKILL (the driver alone:
    its workers die with it) or SIGINT (the whole process group, as Ctrl-C in a terminal does),
    taking ``signals`` in turn, and ``--resume``, ``kills`` times; then ``--resume`` until the
    run ends. ``real``: the ``lstm-search run`` command with real trials, else :func:`drive`.
    Returns one record per interruption: the signal, the rows then, the driver's exit code and
    ``lost``, the rows seen before that are gone after it (always 0 if the record holds)."""
    import random
    import signal
    import time

    rng = random.Random(seed)
    run_dir = Path(out) / experiment.stem / run
    extra = [*(("--storage", storage) if storage else ()), "--workers", str(workers)]
    cycles: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i in range(kills + 20):
        resume = ("--resume",) if i else ()
        log_path = Path(out) / f".chaos-{run}-{i}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            # Ctrl-C's default action even where this runs with SIGINT ignored (`cmd &`)
            popen = {"stdout": subprocess.DEVNULL, "stderr": log, "start_new_session": True,
                     "preexec_fn": _default_sigint}
            proc = (run_command(experiment, out, run, *resume, *extra, **popen) if real else
                    drive(experiment, out, run, *resume, *extra, seconds=seconds, **popen))
        if i >= kills:  # no more interruptions: run to the end
            proc.wait(timeout=600)
            assert proc.returncode == 0, log_path.read_text()[-3000:]
            return cycles
        end = time.monotonic() + 300
        # the moment is drawn once the run has begun (its first line printed)
        while (proc.poll() is None and b"results in" not in log_path.read_bytes()
               and time.monotonic() < end):
            time.sleep(0.02)
        before = len(rows(run_dir))
        target = before + rng.randint(0, 2)
        delay = rng.uniform(0, 2 * seconds)
        while proc.poll() is None and len(rows(run_dir)) < target and time.monotonic() < end:
            time.sleep(0.02)
        time.sleep(delay)
        sig = signals[i % len(signals)]
        at = len(rows(run_dir))
        total = json.loads((run_dir / "run.json").read_text())["experiment"]["search"]["trials"]
        if proc.poll() is None and at < total:
            if sig == "KILL":
                os.kill(proc.pid, signal.SIGKILL)
            else:
                os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
        _group_gone(proc.pid)
        code = proc.returncode
        finished = b"trials recorded" in log_path.read_bytes()  # signalled as it ended
        assert code in (0, 130, -9) or finished, log_path.read_text()[-3000:]
        now = {json.dumps(r, sort_keys=True) for r in rows(run_dir)}
        if code == 0 and len(now) - at > workers:  # more than the trials then in flight
            raise AssertionError(f"the driver ran on to the end after {sig} at {at} rows")
        cycles.append({"signal": sig, "rows_at_signal": at, "exit": code,
                       "lost": len(seen - now)})
        seen |= now
    raise AssertionError("the run did not end")
