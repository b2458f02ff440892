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
    path = Path(run_dir) / "trials.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "lstm_search", *args], cwd=cwd or REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip()
