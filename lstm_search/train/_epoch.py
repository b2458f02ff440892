"""One epoch of (truncated) backpropagation through time, and the evaluation of a split."""

from __future__ import annotations

import math
import sys
from typing import Any

import torch
from torch import nn

from lstm_search.config import TrainConfig
from lstm_search.nn import detach_state
from lstm_search.tasks import Task
from lstm_search.train import _clock
from lstm_search.train._state import Position, TrainState
from lstm_search.train._types import NonFiniteLoss, OnBatch


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


def _progress(total: int, epoch: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=f"epoch {epoch}", unit="batch", file=sys.stderr, leave=False,
                disable=not (enabled and sys.stderr.isatty()), dynamic_ncols=True)


def train_epoch(model: nn.Module, task: Task, optimizer: torch.optim.Optimizer,
                cfg: TrainConfig, run: TrainState, epoch: int, seed: int, device: torch.device,
                dtype: torch.dtype, on_batch: OnBatch | None, start: Position, state: Any
                ) -> tuple[Position, Any, bool]:
    """Train on the training split from ``start`` (batch 0: the epoch's start; later: resuming
    a time-budget stop with the epoch's running sums and the carried recurrent ``state``).

    Returns (the position reached, the recurrent state, stopped): ``stopped`` when the time
    budget ran out with batches left (checked after every batch, so each call trains at least
    one). The position's seconds are those of ``start``: the caller adds the time it measured.
    """
    model.train()
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if start.batch == 0:
        state = None  # reset at each epoch start (Zaremba et al. 2014)
    done, loss_sum, items, stopped = start.batch, start.loss_sum, start.items, False
    t_start = _clock.now()
    total = task.n_batches("train", cfg.batch_size, cfg.bptt)
    # a different, reproducible shuffle per epoch (tasks that keep text order ignore it)
    shuffle_seed = (seed * 1_000_003 + epoch) % 2**63
    bar = _progress(total, epoch, cfg.progress)
    if start.batch:
        bar.update(start.batch)
    try:
        for i, batch in enumerate(task.batches("train", cfg.batch_size, cfg.bptt,
                                               seed=shuffle_seed)):
            if i < start.batch:
                continue  # done before the stop this call resumes
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
            done = i + 1
            if on_batch is not None:
                on_batch(epoch, i + 1, value / batch.n)
            if i % 10 == 0 or i + 1 == total:
                elapsed = _clock.now() - t_start
                bar.set_postfix(loss=f"{loss_sum / max(items, 1):.3f}",
                                **{f"{task.unit}/s": f"{items / max(elapsed, 1e-9):,.0f}"},
                                refresh=False)
            bar.update(1)
            if cfg.max_seconds is not None and done < total and \
                    run.seconds + (_clock.now() - t_start) > cfg.max_seconds:
                stopped = True  # out of time mid-epoch
                break
    finally:
        bar.close()
    reached = Position(batch=done, loss_sum=loss_sum, items=items, seconds=start.seconds,
                       train_seconds=start.train_seconds)
    return reached, state, stopped
