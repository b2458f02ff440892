"""``lstm-search train``: train one cell on one task and print its TrialResult as JSON.

    lstm-search train --cell lstm --task ptb --preset zaremba-small --set train.lr=0.5
    lstm-search train --cell my_cell.json --task recall --set task.gap=50 --epochs 3 --json

Per-epoch metrics go to stdout (one line each, or one JSON object each with ``--json``); the
last line is always the TrialResult as JSON. Exit codes: 0 trained (status complete or pruned),
1 the run failed (non-finite loss, error in training) or the genome is invalid, 2 bad usage
(unknown cell, task, preset or --set key, a bad value, missing data).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lstm_search.config import (
    ConfigError,
    ModelConfig,
    TaskConfig,
    TrainConfig,
    apply_overrides,
    parse_assignments,
    preset,
    preset_names,
)


@dataclass(frozen=True)
class TrainCommandConfig:
    """Everything ``--set`` may change: ``task.*``, ``model.*``, ``train.*``."""

    task: TaskConfig
    model: ModelConfig
    train: TrainConfig


def _finite(value: Any) -> Any:
    """NaN and infinities as null (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cell", required=True,
                        help="a zoo name (lstm, gru, rnn_tanh, vanilla, cifg, ...) or a genome "
                             "JSON file")
    parser.add_argument("--task", required=True,
                        help="ptb, ptb_char, wikitext2, jsb, nottingham, musedata, piano_midi, "
                             "arithmetic, xml, memorize, adding, recall, mqar, selective_copy, "
                             "parity, waveform, moving_shapes")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding ptb/, wikitext-2/, music/ (default: "
                             "$LSTM_SEARCH_DATA, else ./data)")
    parser.add_argument("--preset", default=None,
                        help=f"training recipe: {', '.join(preset_names())} (smoke: also "
                             "1,024 sequences of a synthetic task, 5%% of a corpus; default: the "
                             "dataclass defaults: 2x200, SGD lr 1 on the mean loss per item; "
                             "zaremba-small sums the loss over the unrolled steps as the "
                             "paper's code does)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE",
                        help="override a setting, e.g. train.lr=0.5, model.hidden_size=650, "
                             "task.gap=50 (repeatable)")
    parser.add_argument("--epochs", type=int, default=None, help="same as --set train.epochs=N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default=None,
                        choices=("script", "eager", "compile", "native"),
                        help="same as --set model.backend=B")
    parser.add_argument("--checkpoint-dir", default=None,
                        help="write a checkpoint each epoch here and resume from it if present")
    parser.add_argument("--json", action="store_true",
                        help="print each epoch's metrics as a JSON object")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _resolve_cell(text: str) -> tuple[object, str]:
    from lstm_search import zoo
    from lstm_search.genome import Genome

    if text in zoo.names(spatial=True):
        return zoo.get(text), text
    path = Path(text)
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise ConfigError(f"--cell: no such file {path}")
        genome = Genome.load(str(path))
        return genome, genome.name or ""
    known = ", ".join(zoo.names(spatial=True))
    raise ConfigError(f"--cell: {text!r} is neither a zoo cell ({known}) "
                      "nor a genome JSON file")


def _error(message: str) -> int:
    print(f"lstm-search train: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from lstm_search.data import DataError
    from lstm_search.genome import GenomeError
    from lstm_search.tasks import TASKS

    try:
        if args.task not in TASKS:
            raise ConfigError(f"--task: unknown task {args.task!r}; known: {', '.join(TASKS)}")
        model_cfg, train_cfg = preset(args.preset) if args.preset else (ModelConfig(),
                                                                         TrainConfig())
        configs = TrainCommandConfig(TaskConfig(name=args.task, data_dir=args.data_dir), model_cfg,
                           train_cfg)
        overrides = {**_smoke_task(args.task), **parse_assignments(args.overrides)} \
            if args.preset == "smoke" else parse_assignments(args.overrides)
        if args.epochs is not None:
            overrides["train.epochs"] = str(args.epochs)
        if args.backend is not None:
            overrides["model.backend"] = args.backend
        if args.no_progress:
            overrides["train.progress"] = "false"
        configs = apply_overrides(configs, overrides)
        genome, name = _resolve_cell(args.cell)
    except (ConfigError, GenomeError, OSError) as e:
        return _error(str(e))

    from lstm_search.evaluate import evaluate_candidate, resolve_candidate
    from lstm_search.tasks import make_task

    def on_eval(epoch: int, metrics: dict[str, float], final: bool) -> None:
        if args.json:
            print(json.dumps(_finite({"epoch": epoch, **metrics}), sort_keys=True), flush=True)
        else:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "epoch")
            print(f"epoch {epoch}: {shown}", flush=True)

    try:
        task = make_task(configs.task)
        _announce(genome, name or args.cell, task, configs, args.seed)
        candidate = resolve_candidate(genome, name, {}, task=configs.task, model=configs.model,
                                      train=configs.train, seed=args.seed)
        result = evaluate_candidate(candidate, on_eval=on_eval,
                                    checkpoint_dir=args.checkpoint_dir, task_obj=task)
    except (ConfigError, DataError, ValueError) as e:
        return _error(str(e))
    print(json.dumps(_finite(result.to_dict()), sort_keys=True))
    if result.status in ("failed", "invalid"):
        print(f"lstm-search train: {result.status}: {result.error}", file=sys.stderr)
        return 1
    return 0


def _announce(genome: object, name: str, task: object, configs: TrainCommandConfig,
              seed: int) -> None:
    """Before training, on stderr: the model's size, the work of an epoch and how long one
    takes here (one training step timed on a copy of the model). Silent when the model cannot
    be built: training then reports why."""
    import dataclasses

    from lstm_search.evaluate import build_model, hidden_for_budget, n_parameters
    from lstm_search.train import estimate_epoch_seconds

    model, train = configs.model, configs.train
    try:
        if model.param_budget is not None:
            model = dataclasses.replace(model, hidden_size=hidden_for_budget(
                genome, task, model, train, model.param_budget))  # type: ignore[arg-type]
        net = build_model(genome, task, model, train, seed=seed)  # type: ignore[arg-type]
        seconds, batches = estimate_epoch_seconds(net, task, train)  # type: ignore[arg-type]
    except Exception:  # an invalid genome, a bad setting: evaluate_candidate says what
        return
    print(f"lstm-search train: {name} on {configs.task.name}: {n_parameters(net):,} parameters "
          f"({model.num_layers} x {model.hidden_size}); {batches:,} batches of "
          f"{train.batch_size} per epoch, at most {train.epochs} epoch(s); about "
          f"{_duration(seconds)} per epoch here (training only)"
          + ("; --preset smoke for a quick look" if seconds > 60 else ""),
          file=sys.stderr, flush=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _smoke_task(task: str) -> dict[str, str]:
    """``--preset smoke``'s data: 1,024 training sequences of a synthetic task, 5% of a
    corpus's training split (an explicit --set wins)."""
    from lstm_search.data import DATASETS

    if task in DATASETS:
        return {"task.subset": "0.05"}
    return {"task.n_train": "1024", "task.n_valid": "256", "task.n_test": "256"}
