"""The trainer: epochs of (truncated) backpropagation through time, validation, early stopping.

It knows nothing of Optuna or Ray: the one coupling to search code is ``on_eval(epoch,
metrics)``, called after each epoch's validation; returning True (or raising :class:`StopTrial`)
stops the run with status "pruned".

- Truncated BPTT (Williams & Peng 1990) for language models: the state is carried from one
  window to the next, detached, and reset at the start of every epoch (Zaremba et al. 2014).
- Gradient clipping by global norm (Pascanu et al. 2013), SGD with (Nesterov) momentum and step
  or plateau decay, or Adam (Kingma & Ba 2015).
- Early stopping on the validation objective; test metrics are computed once, with the weights
  of the best validation epoch.
- A non-finite loss ends the run with status "failed" and the reason; it is never raised.
- A checkpoint after every epoch (:mod:`lstm_search.checkpoint`); a run resumed from it ends
  with the same metrics as one never interrupted.
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from lstm_search.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from lstm_search.config import TrainConfig
from lstm_search.nn._models import detach_state
from lstm_search.tasks._base import Task

__all__ = [
    "OnEval",
    "StopTrial",
    "TrainOutcome",
    "evaluate_split",
    "resolve_device",
    "seed_everything",
    "train",
]

OnEval = Callable[[int, dict[str, float]], "bool | None"]

# settings that may differ between a run and its resumption
_RESUMABLE_CHANGES = ("epochs", "max_seconds", "progress", "device", "threads", "patience")


class StopTrial(Exception):
    """Raised by an ``on_eval`` callback to stop the run (status "pruned")."""


class NonFiniteLoss(Exception):
    """A loss became NaN or infinite (internal: the run ends as "failed")."""


@dataclass
class TrainOutcome:
    """What a training run produced.

    ``metrics`` holds the best epoch's ``train.loss`` and ``valid.*`` values and, when the run
    completed, ``test.*`` computed with the best epoch's weights. ``history`` has one dict per
    epoch (``epoch``, ``lr``, ``train.loss``, ``valid.*``, ``seconds``).
    """

    status: Literal["complete", "pruned", "failed"]
    error: str | None = None
    stop_reason: str = ""
    best_epoch: int | None = None
    epochs: int = 0
    objective: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    tokens_per_second: float | None = None
    device: str = ""
    resumed_from_epoch: int | None = None


def resolve_device(name: str) -> torch.device:
    """"auto" picks CUDA when present, else the CPU; anything else is passed to torch."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"train.device: bad device {name!r} ({e})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device is {name!r} but CUDA is not available")
    return device


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's legacy global generator and Python's ``random``.

    Dropout and input noise draw from torch's global generator, so a trial seeds it at its
    start (and a checkpoint saves and restores it) rather than relying on whatever state
    earlier code left behind.
    """
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _dtype(name: str) -> torch.dtype:
    return {"float32": torch.float32, "float64": torch.float64}[name]


def _is_better(value: float, best: float | None, direction: str) -> bool:
    if best is None:
        return True
    return value < best if direction == "minimize" else value > best


@torch.no_grad()
def evaluate_split(model: nn.Module, task: Task, split: str, *, batch_size: int, bptt: int,
                   device: torch.device, dtype: torch.dtype = torch.float32
                   ) -> dict[str, float]:
    """Metrics of ``model`` on ``split`` (eval mode: no dropout, no noise)."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    state = None
    try:
        for batch in task.batches(split, batch_size, bptt):
            batch = batch.to(device, dtype)
            out, state = model(batch.x, state if task.carry_state else None)
            for k, v in task.score(out, batch).items():
                sums[k] = sums.get(k, 0.0) + v
    finally:
        model.train(was_training)
    return task.summarize(sums)


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"train.optimizer: unknown optimizer {cfg.optimizer!r}; use 'sgd' or 'adam'")


def _progress(total: int, epoch: int, unit: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=f"epoch {epoch}", unit="batch", file=sys.stderr, leave=False,
                disable=not (enabled and sys.stderr.isatty()), dynamic_ncols=True)


def _config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RESUMABLE_CHANGES}


def _clone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class _Run:
    """The mutable state of one training run (what a checkpoint holds besides weights)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.epoch = 0  # epochs finished
        self.lr = cfg.lr
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0  # epochs since the last improvement
        self.decaying = False  # plateau schedule: decay started
        self.history: list[dict[str, float]] = []
        self.seconds = 0.0  # wall time, all epochs (training and validation)
        self.train_seconds = 0.0  # wall time in training batches only
        self.items = 0  # training items (tokens, frames, sequences) processed
        self.stop_reason = ""
        self.finished = False

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def load(self, data: dict[str, Any]) -> None:
        for k, v in data.items():
            if hasattr(self, k):
                setattr(self, k, v)


def _lr_for_epoch(run: _Run, cfg: TrainConfig, epoch: int) -> float:
    """The learning rate of 1-based ``epoch``."""
    if cfg.lr_schedule == "step":
        # Zaremba et al. 2014 / TF ptb_word_lm: lr * decay ** max(epoch - decay_start, 0)
        return cfg.lr * cfg.lr_decay ** max(epoch - cfg.decay_start, 0)
    if cfg.lr_schedule == "plateau":
        # Jozefowicz et al. 2015: once `plateau_patience` epochs bring no improvement, the rate
        # is multiplied by lr_decay at every following epoch
        if run.decaying or run.bad_epochs >= cfg.plateau_patience:
            run.decaying = True
            return run.lr * cfg.lr_decay
        return run.lr
    return cfg.lr


def train(
    model: nn.Module,
    task: Task,
    config: TrainConfig,
    *,
    seed: int,
    on_eval: OnEval | None = None,
    checkpoint_dir: str | None = None,
    genome_json: str = "",
    evaluate_test: bool = True,
    on_batch: Callable[[int, int, float], None] | None = None,
) -> TrainOutcome:
    """Train ``model`` on ``task``; return a :class:`TrainOutcome` (never raises for a diverging
    run: a non-finite loss gives status "failed").

    With ``checkpoint_dir`` a checkpoint is written after every epoch and, when one is already
    there, the run continues from it (same weights, optimizer, schedule and random states), so
    the final metrics equal those of an uninterrupted run. ``on_batch(epoch, batch, loss)``
    sees every training batch's mean loss per item (loss curves, parity tests). Exceptions
    other than a non-finite loss or :class:`StopTrial` (bad configuration, a bug) propagate.
    """
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _train(model, task, config, seed=seed, on_eval=on_eval,
                      checkpoint_dir=checkpoint_dir, genome_json=genome_json,
                      evaluate_test=evaluate_test, on_batch=on_batch)
    finally:
        torch.set_num_threads(threads)  # leave the process as it was


def _train(model: nn.Module, task: Task, cfg: TrainConfig, *, seed: int,
           on_eval: OnEval | None, checkpoint_dir: str | None, genome_json: str,
           evaluate_test: bool, on_batch: Callable[[int, int, float], None] | None
           ) -> TrainOutcome:
    device = resolve_device(cfg.device)
    dtype = _dtype(cfg.dtype)
    if cfg.epochs < 0 or cfg.batch_size < 1 or cfg.bptt < 1:
        raise ValueError(f"train: epochs >= 0, batch_size >= 1 and bptt >= 1 are required "
                         f"(got {cfg.epochs}, {cfg.batch_size}, {cfg.bptt})")
    model.to(device=device, dtype=dtype)
    optimizer = _make_optimizer(model, cfg)
    run = _Run(cfg)
    best_state: dict[str, torch.Tensor] | None = None
    eval_bs = cfg.eval_batch_size or cfg.batch_size
    outcome = TrainOutcome(status="complete", device=str(device))

    payload = load_checkpoint(checkpoint_dir, map_location=device) if checkpoint_dir else None
    if payload is not None:
        saved_cfg = payload.get("config", {})
        if saved_cfg != _config_dict(cfg) or payload.get("genome", "") != genome_json:
            changed = sorted(k for k in set(saved_cfg) | set(_config_dict(cfg))
                             if saved_cfg.get(k) != _config_dict(cfg).get(k))
            raise ValueError(f"checkpoint in {checkpoint_dir} belongs to another run "
                             f"(differs in: {', '.join(changed) or 'genome'}); "
                             "use another checkpoint folder")
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        run.load(payload["trainer"])
        best_state = payload.get("best_model")
        restore_rng(payload["rng"])
        outcome.resumed_from_epoch = run.epoch
    else:
        seed_everything(seed)

    def checkpoint() -> None:
        if checkpoint_dir:
            save_checkpoint(checkpoint_dir, {
                "genome": genome_json, "config": _config_dict(cfg), "model": model.state_dict(),
                "best_model": best_state, "optimizer": optimizer.state_dict(),
                "trainer": run.to_dict(), "rng": capture_rng()})

    try:
        while not run.finished and run.epoch < cfg.epochs:
            epoch = run.epoch + 1
            run.lr = _lr_for_epoch(run, cfg, epoch)
            for group in optimizer.param_groups:
                group["lr"] = run.lr
            t0 = time.perf_counter()
            train_loss, items, out_of_time = _train_epoch(model, task, optimizer, cfg, run,
                                                          epoch, seed, device, dtype, on_batch)
            t_train = time.perf_counter() - t0
            valid = evaluate_split(model, task, "valid", batch_size=eval_bs, bptt=cfg.bptt,
                                   device=device, dtype=dtype)
            run.seconds += time.perf_counter() - t0
            run.train_seconds += t_train
            run.items += items
            metrics = {"epoch": float(epoch), "lr": run.lr, "train.loss": train_loss,
                       **{f"valid.{k}": v for k, v in valid.items()},
                       "seconds": time.perf_counter() - t0, f"train.{task.unit}": float(items),
                       f"train.{task.unit}_per_second": items / max(t_train, 1e-9)}
            run.history.append(metrics)
            run.epoch = epoch
            value = valid[task.objective]
            if not math.isfinite(value):
                raise NonFiniteLoss(f"validation {task.objective} is {value} after epoch {epoch}")
            if _is_better(value, run.best_value, task.direction):
                run.best_value, run.best_epoch, run.bad_epochs = value, epoch, 0
                best_state = _clone_state(model)
            else:
                run.bad_epochs += 1
            if cfg.patience is not None and run.bad_epochs >= cfg.patience:
                run.finished, run.stop_reason = True, f"early stopping after epoch {epoch}"
            if out_of_time:
                run.finished, run.stop_reason = True, f"time budget of {cfg.max_seconds}s spent"
            checkpoint()
            if on_eval is not None:
                try:
                    stop = on_eval(epoch, dict(metrics))
                except StopTrial as e:
                    stop, run.stop_reason = True, str(e) or "stopped by on_eval"
                if stop:
                    outcome.status = "pruned"
                    run.stop_reason = run.stop_reason or f"pruned after epoch {epoch}"
                    break
        if not run.stop_reason:
            run.stop_reason = f"{run.epoch} epochs"
    except NonFiniteLoss as e:
        outcome.status, outcome.error = "failed", str(e)
        run.stop_reason = "non-finite loss"

    outcome.stop_reason = run.stop_reason
    outcome.epochs = run.epoch
    outcome.history = list(run.history)
    outcome.best_epoch = run.best_epoch
    outcome.objective = run.best_value
    outcome.train_seconds = run.seconds
    outcome.tokens_per_second = run.items / run.train_seconds if run.train_seconds else None
    if run.best_epoch is not None:
        best = run.history[run.best_epoch - 1]
        outcome.metrics = {k: v for k, v in best.items()
                           if k.startswith(("train.loss", "valid."))}
        if evaluate_test and outcome.status == "complete" and best_state is not None:
            model.load_state_dict(best_state)
            test = evaluate_split(model, task, "test", batch_size=eval_bs, bptt=cfg.bptt,
                                  device=device, dtype=dtype)
            outcome.metrics.update({f"test.{k}": v for k, v in test.items()})
    return outcome


def _train_epoch(model: nn.Module, task: Task, optimizer: torch.optim.Optimizer,
                 cfg: TrainConfig, run: _Run, epoch: int, seed: int, device: torch.device,
                 dtype: torch.dtype, on_batch: Callable[[int, int, float], None] | None = None
                 ) -> tuple[float, int, bool]:
    """One pass over the training split: (mean loss per item, items, time budget spent)."""
    model.train()
    params = [p for g in optimizer.param_groups for p in g["params"]]
    state = None  # reset at each epoch start (Zaremba et al. 2014)
    loss_sum, items, out_of_time = 0.0, 0, False
    start = time.perf_counter()
    total = task.n_batches("train", cfg.batch_size, cfg.bptt)
    # a different, reproducible shuffle per epoch (tasks that keep text order ignore it)
    shuffle_seed = (seed * 1_000_003 + epoch) % 2**63
    bar = _progress(total, epoch, task.unit, cfg.progress)
    try:
        for i, batch in enumerate(task.batches("train", cfg.batch_size, cfg.bptt,
                                               seed=shuffle_seed)):
            batch = batch.to(device, dtype)
            state = detach_state(state) if task.carry_state else None
            out, state = model(batch.x, state)
            total_loss = task.loss(out, batch)  # summed over batch.n items
            value = float(total_loss.detach())
            if not math.isfinite(value):
                raise NonFiniteLoss(f"training loss is {value} at epoch {epoch}, batch {i + 1} "
                                    f"(learning rate {run.lr:g})")
            loss = total_loss / batch.n
            if cfg.loss_reduction == "sum_time":
                loss = loss * batch.x.shape[0]  # summed over the window's steps (Zaremba)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip is not None and cfg.clip > 0:
                norm = nn.utils.clip_grad_norm_(params, cfg.clip)
                if not math.isfinite(float(norm)):
                    raise NonFiniteLoss(f"gradient norm is {float(norm)} at epoch {epoch}, "
                                        f"batch {i + 1} (learning rate {run.lr:g})")
            optimizer.step()
            loss_sum += value
            items += batch.n
            if on_batch is not None:
                on_batch(epoch, i + 1, value / batch.n)
            if bar is not None and (i % 10 == 0 or i + 1 == total):
                elapsed = time.perf_counter() - start
                bar.set_postfix(loss=f"{loss_sum / max(items, 1):.3f}",
                                **{f"{task.unit}/s": f"{items / max(elapsed, 1e-9):,.0f}"},
                                refresh=False)
            if bar is not None:
                bar.update(1)
            if cfg.max_seconds is not None and run.seconds + (time.perf_counter() - start) \
                    > cfg.max_seconds:
                out_of_time = True
                break
    finally:
        if bar is not None:
            bar.close()
    return loss_sum / max(items, 1), items, out_of_time
