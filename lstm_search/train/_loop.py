"""The training loop: epochs, validation, early stopping, checkpoints, the outcome."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch
from torch import nn

from lstm_search.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from lstm_search.config import TrainConfig
from lstm_search.nn import detach_state
from lstm_search.tasks import Task
from lstm_search.train import _clock
from lstm_search.train._epoch import evaluate_split, train_epoch
from lstm_search.train._optim import lr_for_epoch, lr_scale, make_optimizer
from lstm_search.train._state import Position, TrainState, config_dict, is_better
from lstm_search.train._types import NonFiniteLoss, OnBatch, OnEval, StopTrial, TrainOutcome


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


_DTYPES = {"float32": torch.float32, "float64": torch.float64}


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
    on_batch: OnBatch | None = None,
) -> TrainOutcome:
    """Train ``model`` on ``task``; return a :class:`TrainOutcome` (never raises for a diverging
    run: a non-finite loss gives status "failed").

    ``on_eval(epoch, metrics, final)`` is called after each epoch's validation (see
    :data:`lstm_search.train.OnEval`). With ``checkpoint_dir`` a checkpoint is written after
    every epoch (and at a time-budget or pruning stop) and, when one is already there, the run
    continues from it (same weights, optimizer, schedule, random states and, after a mid-epoch
    time stop, position in the epoch), so the final metrics equal those of an uninterrupted
    run; a run the checkpoint records as pruned returns status "pruned" at once.
    ``on_batch(epoch, batch, loss)`` sees every training batch's mean loss per item (loss
    curves, parity tests). Exceptions other than a non-finite loss or :class:`StopTrial` (bad
    configuration, a bug) propagate.
    """
    if config.epochs < 0 or config.batch_size < 1 or config.bptt < 1:
        raise ValueError(f"train: epochs >= 0, batch_size >= 1 and bptt >= 1 are required "
                         f"(got {config.epochs}, {config.batch_size}, {config.bptt})")
    threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        trainer = _Trainer(model, task, config, seed, checkpoint_dir, genome_json)
        return trainer.run(on_eval, on_batch, evaluate_test)
    finally:
        torch.set_num_threads(threads)  # leave the process as it was


class _Trainer:
    """One call of :func:`train`: the model, its optimizer, the resumable state."""

    def __init__(self, model: nn.Module, task: Task, cfg: TrainConfig, seed: int,
                 checkpoint_dir: str | None, genome_json: str) -> None:
        self.model, self.task, self.cfg, self.seed = model, task, cfg, seed
        self.checkpoint_dir, self.genome_json = checkpoint_dir, genome_json
        self.device, self.dtype = resolve_device(cfg.device), _DTYPES[cfg.dtype]
        model.to(device=self.device, dtype=self.dtype)
        self.optimizer = make_optimizer(model, cfg)
        self.state = TrainState(lr=cfg.lr)
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.carried: Any = None  # recurrent state at a mid-epoch stop
        self.outcome = TrainOutcome(status="complete", device=str(self.device))
        if not self._resume():
            seed_everything(seed)

    def run(self, on_eval: OnEval | None, on_batch: OnBatch | None,
            evaluate_test: bool) -> TrainOutcome:
        state, cfg = self.state, self.cfg
        try:
            while not state.finished and state.epoch < cfg.epochs:
                if state.over_budget(cfg):  # spent by the epoch before (this call or earlier)
                    self._stop_for_time(f"time budget of {cfg.max_seconds}s spent")
                    break
                metrics = self._epoch(state.epoch + 1, on_batch)
                if metrics is None:  # out of time mid-epoch
                    break
                if on_eval is not None and self._ask(on_eval, metrics):
                    break
            state.stop_reason = state.stop_reason or f"{state.epoch} epochs"
            if state.pruned:
                self.outcome.status = "pruned"
            partial = self._partial_entry()
        except NonFiniteLoss as e:
            self.outcome.status, self.outcome.error = "failed", str(e)
            state.stop_reason, partial = "non-finite loss", None
        return self._finish(partial, evaluate_test)

    # -- one epoch ---------------------------------------------------------------------------

    def _epoch(self, epoch: int, on_batch: OnBatch | None) -> dict[str, float] | None:
        """Train and validate ``epoch``; its metrics, or None when the time budget stopped it
        mid-way (the checkpoint then keeps the position)."""
        state, cfg, task = self.state, self.cfg, self.task
        state.out_of_time, state.stop_reason = False, ""
        if state.position is None:  # a mid-epoch resume keeps the epoch's rate
            state.lr, state.decaying = lr_for_epoch(cfg, epoch, state.lr, state.bad_epochs,
                                                    state.decaying)
        for group in self.optimizer.param_groups:
            group["lr"] = state.lr * lr_scale(cfg)
        start = state.position or Position()
        t0 = _clock.now()
        reached, self.carried, stopped = train_epoch(
            self.model, task, self.optimizer, cfg, state, epoch, self.seed, self.device,
            self.dtype, on_batch, start, self.carried)
        t_train = _clock.now() - t0
        state.train_seconds += t_train
        state.items += reached.items - start.items
        reached.train_seconds += t_train
        if stopped:
            state.seconds += t_train
            reached.seconds += t_train
            state.position = reached
            total = task.n_batches("train", cfg.batch_size, cfg.bptt)
            self.carried = detach_state(self.carried) if task.carry_state else None
            self._stop_for_time(f"time budget of {cfg.max_seconds}s spent (epoch {epoch} "
                                f"stopped after batch {reached.batch} of {total})")
            return None
        self.carried = None
        valid = self._evaluate("valid")
        state.seconds += _clock.now() - t0
        metrics = {"epoch": float(epoch), "lr": state.lr,
                   "train.loss": reached.loss_sum / max(reached.items, 1),
                   **{f"valid.{k}": v for k, v in valid.items()},
                   "seconds": start.seconds + _clock.now() - t0,
                   f"train.{task.unit}": float(reached.items),
                   f"train.{task.unit}_per_second":
                       reached.items / max(reached.train_seconds, 1e-9)}
        try:
            if state.record(metrics, valid[task.objective], task.direction, cfg):
                self.best_weights = _clone(self.model)
        except NonFiniteLoss:
            raise NonFiniteLoss(f"validation {task.objective} is {valid[task.objective]} "
                                f"after epoch {epoch}") from None
        self._checkpoint()  # before on_eval: a callback that raises leaves this epoch saved
        return metrics

    def _ask(self, on_eval: OnEval, metrics: dict[str, float]) -> bool:
        """Offer the epoch to ``on_eval``; True when it stops (prunes) the run."""
        state = self.state
        try:
            stop = on_eval(state.epoch, dict(metrics), state.final_after(self.cfg))
        except StopTrial as e:
            stop, state.stop_reason = True, str(e) or "stopped by on_eval"
        if not stop:
            return False
        state.finished, state.pruned = True, True
        state.stop_reason = state.stop_reason or f"pruned after epoch {state.epoch}"
        self._checkpoint()  # so that a resumed run is pruned too
        return True

    def _stop_for_time(self, reason: str) -> None:
        if not self.state.out_of_time:  # a call whose budget was spent earlier writes nothing
            self.state.out_of_time, self.state.stop_reason = True, reason
            self._checkpoint()

    def _evaluate(self, split: str) -> dict[str, float]:
        cfg = self.cfg
        return evaluate_split(self.model, self.task, split,
                              batch_size=cfg.eval_batch_size or cfg.batch_size, bptt=cfg.bptt,
                              device=self.device, dtype=self.dtype)

    # -- checkpoints ---------------------------------------------------------------------------

    def _resume(self) -> bool:
        """Load the checkpoint in ``checkpoint_dir`` if there is one; True when loaded."""
        if not self.checkpoint_dir:
            return False
        payload = load_checkpoint(self.checkpoint_dir, map_location=self.device)
        if payload is None:
            return False
        saved, mine = payload.get("config", {}), config_dict(self.cfg)
        if saved != mine or payload.get("genome", "") != self.genome_json:
            changed = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
            raise ValueError(f"checkpoint in {self.checkpoint_dir} belongs to another run "
                             f"(differs in: {', '.join(changed) or 'genome'}); "
                             "use another checkpoint folder")
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.state = TrainState.from_dict(payload["trainer"], self.cfg)
        self.best_weights = payload.get("best_model")
        self.carried = payload.get("carried_state")
        restore_rng(payload["rng"])
        self.outcome.resumed_from_epoch = self.state.epoch
        return True

    def _checkpoint(self) -> None:
        if self.checkpoint_dir:
            save_checkpoint(self.checkpoint_dir, {
                "genome": self.genome_json, "config": config_dict(self.cfg),
                "model": self.model.state_dict(), "best_model": self.best_weights,
                "optimizer": self.optimizer.state_dict(), "trainer": self.state.to_dict(),
                "rng": capture_rng(),
                "carried_state": self.carried if self.state.position is not None else None})

    # -- the outcome ---------------------------------------------------------------------------

    def _partial_entry(self) -> dict[str, float] | None:
        """The history entry of an epoch stopped mid-way by the time budget (validated now,
        with the weights at the stop), or None when the run stands between epochs."""
        pos, state, task = self.state.position, self.state, self.task
        if pos is None:
            return None
        valid = self._evaluate("valid")
        value = valid[task.objective]
        if not math.isfinite(value):
            raise NonFiniteLoss(f"validation {task.objective} is {value} in epoch "
                                f"{state.epoch + 1} (stopped after batch {pos.batch})")
        return {"epoch": float(state.epoch + 1), "lr": state.lr,
                "train.loss": pos.loss_sum / max(pos.items, 1),
                **{f"valid.{k}": v for k, v in valid.items()},
                "seconds": pos.seconds, f"train.{task.unit}": float(pos.items),
                f"train.{task.unit}_per_second": pos.items / max(pos.train_seconds, 1e-9),
                "partial": 1.0, "batches": float(pos.batch)}

    def _finish(self, partial: dict[str, float] | None, evaluate_test: bool) -> TrainOutcome:
        state, outcome, task = self.state, self.outcome, self.task
        outcome.stop_reason = state.stop_reason
        outcome.history = list(state.history)
        outcome.best_epoch, outcome.objective = state.best_epoch, state.best_value
        outcome.train_seconds = state.seconds
        outcome.tokens_per_second = (state.items / state.train_seconds
                                     if state.train_seconds else None)
        best = state.history[state.best_epoch - 1] if state.best_epoch is not None else None
        best_weights = self.best_weights
        if partial is not None:
            outcome.history.append(partial)
            outcome.partial_epoch = int(partial["epoch"])
            value = partial[f"valid.{task.objective}"]
            if is_better(value, state.best_value, task.direction):
                # the weights at the stop are the best of this outcome (not of the checkpoint)
                best, best_weights = partial, _clone(self.model)
                outcome.best_epoch, outcome.objective = outcome.partial_epoch, value
        outcome.epochs = len(outcome.history)
        if best is not None:
            outcome.metrics = {k: v for k, v in best.items()
                               if k.startswith(("train.loss", "valid."))}
            if evaluate_test and outcome.status == "complete" and best_weights is not None:
                self.model.load_state_dict(best_weights)
                test = self._evaluate("test")
                outcome.metrics.update({f"test.{k}": v for k, v in test.items()})
        return outcome


def _clone(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
