"""How long an epoch will take, measured before training: the training step (forward, loss,
backward) timed on the epoch's first batches (their lengths differ: music pieces are padded to
the longest of a batch), its mean times the batches of an epoch. The step is timed on a
copy of the model, so the run that follows starts from the same weights and random state."""

from __future__ import annotations

import copy
import itertools
import time

import torch
from torch import nn

from lstm_search.config import TrainConfig
from lstm_search.tasks import Task

__all__ = ["estimate_epoch_seconds"]


def _now() -> float:  # the clock (tests replace it)
    return time.perf_counter()


def estimate_epoch_seconds(model: nn.Module, task: Task, cfg: TrainConfig, *,
                           warmup: int = 3, min_steps: int = 3, max_steps: int = 15,
                           min_seconds: float = 1.0) -> tuple[float, int]:
    """(seconds of one training epoch, its number of batches): the mean training step times
    the batches of an epoch. ``warmup`` untimed steps first (TorchScript's profiling executor
    optimises a graph after its first runs; allocation), then at least ``min_steps`` timed
    ones, more (up to ``max_steps``) until ``min_seconds`` were timed, each on the next of the
    epoch's first batches (cycling when there are fewer), so that batches of different
    lengths are averaged rather than the first one taken for all. On ``cfg``'s device and
    dtype; validation is not counted."""
    from lstm_search.train._loop import _DTYPES, resolve_device

    total = task.n_batches("train", cfg.batch_size, cfg.bptt)
    probe = copy.deepcopy(model).to(device=resolve_device(cfg.device), dtype=_DTYPES[cfg.dtype])
    probe.train()
    rng = torch.get_rng_state()
    times: list[float] = []
    try:
        first = list(itertools.islice(task.batches("train", cfg.batch_size, cfg.bptt, seed=0),
                                      warmup + max_steps))
        param = next(probe.parameters(), None)
        if param is not None:
            first = [b.to(param.device, param.dtype) for b in first]
        timed = first[warmup:] or first  # the warm-up batches are timed only when no others
        for i in range(warmup + max_steps):
            batch = first[i] if i < warmup and i < len(first) else timed[(i - warmup) % len(timed)]
            t0 = _now()
            out, _ = probe(batch.x, None)
            (task.loss(out, batch) / batch.n).backward()
            if i >= warmup:
                times.append(_now() - t0)
                if len(times) >= min_steps and sum(times) >= min_seconds:
                    break
    finally:
        torch.set_rng_state(rng)
    return sum(times) / len(times) * total, total
