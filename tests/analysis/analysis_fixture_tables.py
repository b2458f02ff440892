"""Synthetic but realistic results folders for the analysis tests and notebooks.

The tables are written with the real :class:`~lstm_search.results.ResultsWriter`, so they go
through the same JSON-lines files and :func:`~lstm_search.results.load_results` as a search.

``write_greff_results`` mimics a Greff et al. (2015) style random search on JSB Chorales (frame
NLL, lower is better): vanilla LSTM, its 8 variants, torch-style LSTM and GRU and two random
cells, each with ~30 trials over learning rate (log-uniform), hidden size (log int), momentum and
input noise. The metric depends strongly on the learning rate (a parabola in log10 lr around
1e-2), weakly on hidden size, and on the cell by the offsets in ``GREFF_OFFSETS`` (NOAF clearly
worse, as in the paper; one random cell better, see ``cell_names``). High learning rates
sometimes diverge (failed trials), bad trials are pruned, and one random cell has an invalid
row. Cells carry their real genomes (zoo cells, seeded ``random_genome`` cells) and parameter
counts when the genome package is importable.

``write_recall_results`` writes a long-lag recall task (accuracy, higher is better) run at
several gaps (the ``task.gap`` option) for the per-gap comparisons and the accuracy-versus-gap
figure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np

from lstm_search.results import ResultsWriter, TrialResult

# offset of the optimum test NLL from vanilla's, per cell role (larger = worse); the random
# cells are named "cell-<genome id prefix>" once their genomes are drawn (see ``cell_names``)
GREFF_OFFSETS: dict[str, float] = {
    "vanilla": 0.00, "nig": 0.04, "nfg": 0.01, "nog": 0.15, "niaf": 0.05, "noaf": 0.80,
    "np": 0.01, "cifg": 0.02, "fgr": 0.10, "lstm": 0.00, "gru": 0.03,
    "random-better": -0.35, "random-worse": 0.45,
}
GREFF_CELLS = tuple(GREFF_OFFSETS)
RANDOM_SEEDS = {"random-better": 101, "random-worse": 202}
WORST_CELL = "noaf"
INPUT = 88  # JSB piano roll: 88 keys

# Fallback when the genome package is not importable:
# (number of gate/candidate blocks, peephole vectors, extra h*h matrices)
_SHAPES: dict[str, tuple[int, int, int]] = {
    "vanilla": (4, 3, 0), "nig": (3, 2, 0), "nfg": (3, 2, 0), "nog": (3, 2, 0),
    "niaf": (4, 3, 0), "noaf": (4, 3, 0), "np": (4, 0, 0), "cifg": (3, 2, 0),
    "fgr": (4, 3, 9), "lstm": (4, 0, 0), "gru": (3, 0, 0),
    "random-better": (5, 1, 0), "random-worse": (2, 0, 1),
}


def _genome(role: str) -> object | None:
    """The real genome of a cell role (zoo cell or seeded random cell), or None."""
    try:
        from lstm_search import zoo
        from lstm_search.genome import random_genome
    except ImportError:
        return None
    if role in RANDOM_SEEDS:
        return random_genome(RANDOM_SEEDS[role], n_nodes=(6, 12))
    return zoo.get(role)


def genome_id(role: str) -> str:
    genome = _genome(role)
    if genome is not None:
        from lstm_search.genome import genome_id as gid

        return gid(genome)
    return hashlib.sha256(role.encode()).hexdigest()[:16]


def genome_json(role: str) -> str:
    genome = _genome(role)
    if genome is not None:
        return genome.to_json(indent=None)  # type: ignore[attr-defined]
    return json.dumps({"cell": role, "version": 1})


def cell_names() -> dict[str, str]:
    """Role -> the cell name written to the table (random cells: ``cell-<id prefix>``)."""
    return {role: f"cell-{genome_id(role)[:8]}" if role in RANDOM_SEEDS else role
            for role in GREFF_CELLS}


def n_params(role: str, hidden: int) -> int:
    genome = _genome(role)
    head = hidden * INPUT + INPUT  # output layer
    if genome is not None:
        from lstm_search.genome import n_params as count

        return count(genome, INPUT, hidden) + head  # type: ignore[arg-type]
    blocks, peep, extra = _SHAPES[role]
    bias = 2 if role in ("lstm", "gru") else 1  # torch keeps two bias vectors per block
    recurrent = blocks * (hidden * (INPUT + hidden) + bias * hidden) + peep * hidden
    return recurrent + extra * hidden * hidden + head


@contextlib.contextmanager
def _no_fsync() -> Iterator[None]:
    """ResultsWriter fsyncs every line (crash safety for real searches); a throwaway fixture of
    ~8,000 lines does not need it and would spend half a minute in fsync."""
    with mock.patch.object(os, "fsync", lambda fd: None):
        yield


def _row(**kw: object) -> TrialResult:
    base = dict(experiment="greff_jsb", backend="eager", device="cpu", search="optuna",
                package_version="0.1.0", git_commit="0" * 40, torch_version="2.13.0",
                python_version="3.11.7", host="fixture", worker="w0")
    base.update(kw)
    return TrialResult(**base)  # type: ignore[arg-type]


def write_greff_results(root: str | Path, *, seed: int = 0, trials_per_cell: int = 30,
                        cells: tuple[str, ...] = GREFF_CELLS, run: str = "run-0") -> Path:
    """Write ``<root>/greff_jsb/<run>/`` and return that folder."""
    with _no_fsync():
        return _write_greff(root, seed, trials_per_cell, cells, run)


def _write_greff(root: str | Path, seed: int, trials_per_cell: int, cells: tuple[str, ...],
                 run: str) -> Path:
    rng = np.random.default_rng(seed)
    writer = ResultsWriter(Path(root) / "greff_jsb" / run)
    writer.write_run_info({"experiment": "greff_jsb", "run": run, "seed": seed})
    names = cell_names()
    trial = 0
    for role in cells:
        cell, gid, text = names[role], genome_id(role), genome_json(role)
        n = trials_per_cell + int(rng.integers(-5, 6))
        for _ in range(n):
            lr = float(10 ** rng.uniform(-4, 0))
            hidden = round(2 ** rng.uniform(4, 8))  # 16 .. 256, log scale
            momentum = float(rng.uniform(0.0, 0.99))
            noise = float(rng.uniform(0.0, 1.0))
            hp = {"lr": lr, "hidden": hidden, "momentum": momentum, "input_noise": noise}
            # Greff: the learning rate dominates; hidden size helps a little; noise hurts a little
            quality = (8.5 + GREFF_OFFSETS[role]
                       + 0.55 * (math.log10(lr) + 2.0) ** 2
                       - 0.08 * math.log2(hidden / 50)
                       + 0.05 * noise + 0.02 * momentum)
            valid = quality + float(rng.normal(0, 0.06))
            test = valid + 0.05 + float(rng.normal(0, 0.04))
            common = dict(run=run, trial=trial, cell=cell, genome_id=gid, genome=text, task="jsb",
                          seed=int(rng.integers(0, 2**31)), hparams=hp, objective_name="nll",
                          direction="minimize", start_time="2025-01-01T00:00:00+00:00")
            size = n_params(role, hidden)
            if lr > 0.3 and rng.random() < 0.5:  # diverged
                writer.append(_row(**common, status="failed", error="loss is NaN at epoch 2",
                                   epochs=2, n_params=size, train_seconds=2 * size * 2e-5))
                trial += 1
                continue
            if role == "random-worse" and trial % 11 == 0:
                writer.append(_row(**common, status="invalid",
                                   error="node 'n3': no path from x", n_params=None))
                trial += 1
                continue
            pruned = valid > 9.9 and rng.random() < 0.6
            epochs = int(rng.integers(4, 8)) if pruned else int(rng.integers(15, 30))
            tau = 2.0 + 3.0 * float(rng.random())
            start = valid + 3.0
            curve = [valid + (start - valid) * math.exp(-e / tau) + 0.3 * math.exp(-e / tau)
                     for e in range(1, epochs + 1)]
            for e, v in enumerate(curve, 1):
                writer.append_curve(run, trial, e, {"valid.nll": v, "train.nll": v - 0.25
                                                    + 0.1 * math.exp(-e / tau)})
            seconds = epochs * size * 2e-5 * float(rng.uniform(0.8, 1.25))
            if pruned:
                writer.append(_row(**common, status="pruned", objective=curve[-1],
                                   metrics={"valid.nll": curve[-1]}, epochs=epochs,
                                   best_epoch=epochs, n_params=size, train_seconds=seconds))
            else:
                writer.append(_row(**common, status="complete", objective=valid,
                                   metrics={"valid.nll": valid, "test.nll": test,
                                            "train.nll": valid - 0.25},
                                   epochs=epochs, best_epoch=epochs, n_params=size,
                                   train_seconds=seconds,
                                   tokens_per_second=float(rng.uniform(2e4, 5e4))))
            trial += 1
    return writer.run_dir


# probability of recalling a token across a gap: 1 / (1 + exp((gap - reach) / width))
RECALL_REACH: dict[str, float] = {"lstm": 120.0, "gru": 90.0, "vanilla": 130.0, "nfg": 25.0}
RECALL_GAPS = (10, 20, 50, 100, 200, 400)
RECALL_LRS = (0.003, 0.01, 0.03)  # 0.01 is best; the others lose a little accuracy


def write_recall_results(root: str | Path, *, seed: int = 0, seeds_per_gap: int = 3,
                         run: str = "recall-0", gaps: tuple[int, ...] = RECALL_GAPS,
                         gap_as: str = "task") -> Path:
    """Write ``<root>/recall/<run>/``: accuracy (maximised) per cell and gap, one small
    learning-rate search per cell and gap as a real sweep over ``--set task.gap=...`` records.

    The gap is a task option (``task_options``, column ``task.gap``) or, with
    ``gap_as="hp"``, a hyperparameter (``hp.gap``) as in tables written before rows recorded
    their task options.
    """
    with _no_fsync():
        return _write_recall(root, seed, seeds_per_gap, run, gaps, gap_as)


def _write_recall(root: str | Path, seed: int, seeds_per_gap: int, run: str,
                  gaps: tuple[int, ...], gap_as: str) -> Path:
    rng = np.random.default_rng(seed)
    writer = ResultsWriter(Path(root) / "recall" / run)
    trial = 0
    for cell, reach in RECALL_REACH.items():
        for gap in gaps:
            for k in range(seeds_per_gap):
                lr = RECALL_LRS[k % len(RECALL_LRS)]
                p = 0.1 + 0.9 / (1 + math.exp((gap - reach) / (0.25 * reach)))
                p *= 1.0 - 0.08 * abs(math.log10(lr / 0.01))  # detuned learning rates
                valid = float(np.clip(p + rng.normal(0, 0.03), 0, 1))
                test = float(np.clip(valid + rng.normal(0, 0.01), 0, 1))
                options = {"gap": gap, "n_train": 2048, "data_seed": 1234}
                hp = {"lr": lr, **({"gap": gap} if gap_as == "hp" else {})}
                writer.append(_row(
                    experiment="recall", run=run, trial=trial, cell=cell,
                    genome_id=genome_id(cell), genome=genome_json(cell), task="recall",
                    seed=int(rng.integers(0, 2**31)), hparams=hp,
                    task_options=options if gap_as == "task" else {},
                    status="complete", objective=valid, objective_name="acc",
                    direction="maximize", metrics={"valid.acc": valid, "test.acc": test},
                    epochs=10, best_epoch=10, n_params=n_params(cell, 64),
                    train_seconds=float(gap) * 0.1 * float(rng.uniform(0.9, 1.1))))
                trial += 1
    return writer.run_dir


def write_failed_results(root: str | Path, *, n: int = 6, run: str = "failed-0") -> Path:
    """Write ``<root>/greff_jsb/<run>/`` where every trial failed (a broken setup)."""
    with _no_fsync():
        writer = ResultsWriter(Path(root) / "greff_jsb" / run)
        for trial in range(n):
            role = ("lstm", "gru")[trial % 2]
            writer.append(_row(run=run, trial=trial, cell=role, genome_id=genome_id(role),
                               genome=genome_json(role), task="jsb", seed=trial,
                               hparams={"lr": 0.1 * (trial + 1)}, status="failed",
                               error="CUDA out of memory" if trial % 3 else "loss is NaN",
                               objective_name="nll", direction="minimize"))
    return writer.run_dir
