"""Optimizers and learning-rate schedules of the trainer."""

from __future__ import annotations

import torch
from torch import nn

from lstm_search.config import TrainConfig


def lr_scale(cfg: TrainConfig) -> float:
    """The factor between the schedule's learning rate and the optimizer's step size:
    ``1 - momentum`` with ``momentum_rescale`` (Greff et al. 2015, section IV: "the learning
    rate was rescaled by a factor of (1 - momentum)"), so that the steady-state step of SGD
    with momentum is the learning rate times the gradient; 1 otherwise."""
    if cfg.optimizer == "sgd" and cfg.momentum_rescale:
        return 1.0 - cfg.momentum
    return 1.0


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with (Nesterov) momentum, or Adam (Kingma & Ba 2015)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr * lr_scale(cfg), momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0,
                               weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"train.optimizer: unknown optimizer {cfg.optimizer!r}; use 'sgd' or 'adam'")


def lr_for_epoch(cfg: TrainConfig, epoch: int, current: float, bad_epochs: int,
                 decaying: bool) -> tuple[float, bool]:
    """The learning rate of 1-based ``epoch`` and whether the plateau decay has started.

    ``current`` is the previous epoch's rate, ``bad_epochs`` the epochs since the last
    improvement of the validation objective.
    """
    if cfg.lr_schedule == "step":
        # Zaremba et al. 2014 / TF ptb_word_lm: lr * decay ** max(epoch - decay_start, 0)
        return cfg.lr * cfg.lr_decay ** max(epoch - cfg.decay_start, 0), decaying
    if cfg.lr_schedule == "plateau":
        # Jozefowicz et al. 2015: once `plateau_patience` epochs bring no improvement, the rate
        # is multiplied by lr_decay at every following epoch
        if decaying or bad_epochs >= cfg.plateau_patience:
            return current * cfg.lr_decay, True
        return current, decaying
    return cfg.lr, decaying
