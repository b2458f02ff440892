"""The :class:`Task` contract the trainer relies on, and the pieces every task shares.

A task owns its data splits, builds the model around a recurrent stack, turns a split into
batches, and says how a batch is scored: a training loss (a sum, divided by the batch's count),
per-split sums, and metrics from those sums. It declares the metric a search optimises
(``objective``) and whether lower or higher is better (``direction``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.data.paths import DATA_ENV, resolve_data_dir

__all__ = [
    "DATA_ENV",
    "Batch",
    "RNNFactory",
    "Task",
    "resolve_data_dir",
]

# (input_size) -> recurrent stack; built by the caller from the genome and the model config.
# The factory of a spatial cell (genome format 2's values) has an attribute ``spatial`` True
# and takes the map size as ``rnn(channels, spatial=(H, W))`` (see tasks._frames).
RNNFactory = Callable[..., nn.Module]


@dataclass
class Batch:
    """One step of training or evaluation.

    ``x``: ``(T, B)`` int64 tokens or ``(T, B, I)`` floats; ``y``: targets shaped like the
    model's output; ``mask``: where targets are scored (None: everywhere); ``n``: how many items
    the loss sum covers (tokens, frames, sequences), also the throughput count.
    """

    x: Tensor
    y: Tensor
    mask: Tensor | None
    n: int

    def to(self, device: torch.device, dtype: torch.dtype) -> Batch:
        def move(t: Tensor | None) -> Tensor | None:
            if t is None:
                return None
            t = t.to(device, non_blocking=True)
            return t.to(dtype) if t.is_floating_point() else t

        return Batch(move(self.x), move(self.y), move(self.mask), self.n)  # type: ignore[arg-type]


class Task:
    """Base class of every task. Subclasses set the class attributes and implement the methods.

    The trainer calls, in order: :meth:`build_model`, then per epoch :meth:`batches` on
    "train" (with the epoch's shuffle seed), :meth:`loss` per batch, and :meth:`batches` on
    "valid"/"test" with :meth:`score` and :meth:`summarize`.
    """

    name: str = ""
    objective: str = "nll"  # key of summarize()'s result optimised on the validation split
    direction: Literal["minimize", "maximize"] = "minimize"
    carry_state: bool = False  # truncated BPTT: the state flows from one batch to the next
    unit: str = "items"  # what Batch.n counts ("tokens", "frames", "sequences")

    def __init__(self, config: TaskConfig) -> None:
        self.config = config

    @property
    def objective_name(self) -> str:
        """The results-table name of the objective, e.g. ``"valid.ppl"``."""
        return f"valid.{self.objective}"

    # -- to implement ------------------------------------------------------------------------
    def input_size(self, model: ModelConfig) -> int:
        """Width of the recurrent stack's input."""
        raise NotImplementedError

    def build_model(self, rnn: RNNFactory, model: ModelConfig, train: TrainConfig) -> nn.Module:
        """The task's model around ``rnn(self.input_size(model))``."""
        raise NotImplementedError

    def batches(self, split: str, batch_size: int, bptt: int, *,
                seed: int | None = None) -> Iterator[Batch]:
        """Batches of ``split``; ``seed`` (train only) shuffles the order reproducibly."""
        raise NotImplementedError

    def n_batches(self, split: str, batch_size: int, bptt: int) -> int:
        """How many batches :meth:`batches` yields (for the progress bar)."""
        raise NotImplementedError

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        """The summed training loss over the batch's ``n`` items (a scalar tensor)."""
        raise NotImplementedError

    def score(self, output: Tensor, batch: Batch) -> dict[str, float]:
        """Sums to accumulate over a split (``summarize`` turns them into metrics)."""
        return {"loss": float(self.loss(output, batch)), "n": float(batch.n)}

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        """Metrics of a split from the accumulated sums of :meth:`score`."""
        return {"nll": sums["loss"] / max(sums["n"], 1.0)}


def nats_to_bits(x: float) -> float:
    return x / math.log(2.0)


def safe_exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def subset_count(total: int, subset: float | None, what: str) -> int:
    """How many of ``total`` items a ``subset`` fraction keeps (at least 1)."""
    if subset is None:
        return total
    if not 0.0 < subset <= 1.0:
        raise ValueError(f"task.subset must be in (0, 1], got {subset} ({what})")
    return max(1, round(total * subset))

