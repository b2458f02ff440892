"""The resumable state of one training run: counters, history, and a mid-epoch position.

Everything here goes into the checkpoint besides the weights and the optimizer (see
:mod:`lstm_search.checkpoint`), so that a run resumed from it ends exactly as one never
interrupted. A time-budget stop in the middle of an epoch keeps ``position``: the batch reached,
the epoch's running loss and item count and its seconds so far; the recurrent state carried at
the stop is saved beside it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from lstm_search.config import TrainConfig
from lstm_search.train._types import NonFiniteLoss

# settings that may differ between a run and its resumption
RESUMABLE_CHANGES = ("epochs", "max_seconds", "progress", "device", "threads", "patience")


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The settings a checkpoint must agree with to be resumed (``RESUMABLE_CHANGES`` aside)."""
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in RESUMABLE_CHANGES}


@dataclass
class Position:
    """Where a time-budget stop left an epoch: batches done, running sums, seconds so far."""

    batch: int = 0
    loss_sum: float = 0.0
    items: int = 0
    seconds: float = 0.0
    train_seconds: float = 0.0


@dataclass
class TrainState:
    """The mutable state of one training run (what a checkpoint holds besides weights)."""

    lr: float
    epoch: int = 0  # epochs finished
    best_value: float | None = None
    best_epoch: int | None = None
    bad_epochs: int = 0  # epochs since the last improvement
    decaying: bool = False  # plateau schedule: decay started
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0  # wall time, all epochs (training and validation)
    train_seconds: float = 0.0  # wall time in training batches only
    items: int = 0  # training items (tokens, frames, sequences) processed
    stop_reason: str = ""
    finished: bool = False  # for good: epochs done, early stopping or pruned
    pruned: bool = False  # on_eval stopped the run
    out_of_time: bool = False  # the time budget stopped the last call (resumable)
    position: Position | None = None  # mid-epoch position of a time-budget stop

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], cfg: TrainConfig) -> TrainState:
        names = {f.name for f in dataclasses.fields(cls)}
        state = cls(lr=cfg.lr, **{k: v for k, v in data.items() if k in names and k != "lr"})
        state.lr = data.get("lr", cfg.lr)
        if isinstance(state.position, dict):
            state.position = Position(**state.position)
        if state.finished and "out_of_time" not in data and \
                state.stop_reason.startswith("time budget"):
            state.finished = False  # written before time stops were resumable
        return state

    def over_budget(self, cfg: TrainConfig) -> bool:
        return cfg.max_seconds is not None and self.seconds > cfg.max_seconds

    def final_after(self, cfg: TrainConfig) -> bool:
        """Whether the trainer stops after the epoch just recorded, whatever a callback says:
        its last epoch, early stopping, or the time budget spent."""
        return self.finished or self.epoch >= cfg.epochs or self.over_budget(cfg)

    def record(self, metrics: dict[str, float], value: float, direction: str,
               cfg: TrainConfig) -> bool:
        """Record a validated epoch; True when it is the best so far. Early stopping after
        ``cfg.patience`` epochs without improvement marks the run finished; a non-finite
        ``value`` raises :class:`NonFiniteLoss` (the epoch stays in the history)."""
        self.position = None
        self.history.append(metrics)
        self.epoch = int(metrics["epoch"])
        if not math.isfinite(value):
            raise NonFiniteLoss(f"validation objective is {value} after epoch {self.epoch}")
        better = is_better(value, self.best_value, direction)
        if better:
            self.best_value, self.best_epoch, self.bad_epochs = value, self.epoch, 0
        else:
            self.bad_epochs += 1
        if cfg.patience is not None and self.bad_epochs >= cfg.patience:
            self.finished, self.stop_reason = True, f"early stopping after epoch {self.epoch}"
        return better


def is_better(value: float, best: float | None, direction: str) -> bool:
    if best is None:
        return True
    return value < best if direction == "minimize" else value > best
