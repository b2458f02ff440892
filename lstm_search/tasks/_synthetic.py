"""Tasks on generated data (no files): Jozefowicz et al. (2015)'s arithmetic, XML and
memorisation, the adding problem (Hochreiter & Schmidhuber 1997) and long-lag recall.

The data set is fixed by ``TaskConfig.data_seed`` (not the trial's seed), so every trial of a
search sees the same splits. Sizes: ``n_train`` / ``n_valid`` / ``n_test`` (default 10,000 /
1,000 / 1,000); ``subset`` keeps a fraction of the training examples.

Metrics:

- arithmetic, xml, memorize (next-symbol prediction): the model trains on every real step; it is
  scored where the task's mask is set (the answer, the closing tags, the reproduction) with
  ``acc``, the fraction of scored symbols predicted right, per symbol over all scored steps
  (not per sequence: an answer with one wrong digit still counts its right ones; Jozefowicz
  et al. 2015, section 4), and ``nll`` per scored symbol.
- recall (one class per sequence): ``acc`` and ``nll``; chance is ``1 / n_classes``.
- adding (regression): ``mse``; always answering 1 gives about 1/6.

Task options: ``seq_len`` is the adding problem's length, XML's step limit and the number of
symbols to memorise; ``gap`` is the recall lag (distractors between the cue and the query).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.data.synthetic import SyntheticSplit, SyntheticSplits, synthetic_splits
from lstm_search.nn import NextStepClassifier, SequenceClassifier, SequenceRegressor
from lstm_search.tasks._base import Batch, RNNFactory, Task, subset_count

__all__ = ["SYNTHETIC", "SyntheticTask"]

DEFAULT_SIZES = (10_000, 1_000, 1_000)

# task name -> (generator parameter fed by TaskConfig.seq_len, by TaskConfig.gap)
_OPTIONS: dict[str, tuple[str | None, str | None]] = {
    "arithmetic": (None, None),
    "xml": ("max_steps", None),
    "memorize": ("n_symbols", None),
    "adding": ("length", None),
    "recall": (None, "lag"),
}


@functools.lru_cache(maxsize=8)
def _splits(name: str, seed: int, sizes: tuple[int, int, int],
            params: tuple[tuple[str, Any], ...]) -> SyntheticSplits:
    return synthetic_splits(name, seed, sizes, **dict(params))


class SyntheticTask(Task):
    """One generated task; ``kind`` ("lm", "classify", "regress") comes from the generator."""

    carry_state = False

    def __init__(self, config: TaskConfig) -> None:
        super().__init__(config)
        self.name = config.name
        len_key, gap_key = _OPTIONS[config.name]
        params: dict[str, Any] = {}
        for field_name, key in (("seq_len", len_key), ("gap", gap_key)):
            value = getattr(config, field_name)
            if value is None:
                continue
            if key is None:
                raise ValueError(f"task.{field_name} is not an option of task {config.name!r}")
            params[key] = value
        sizes = (config.n_train or DEFAULT_SIZES[0], config.n_valid or DEFAULT_SIZES[1],
                 config.n_test or DEFAULT_SIZES[2])
        splits = _splits(config.name, config.data_seed, sizes, tuple(sorted(params.items())))
        self.kind = splits.train.kind
        self.vocab = splits.train.vocab
        self.n_classes = splits.train.n_classes
        keep = {"train": subset_count(len(splits.train), config.subset, "train split")}
        for s in ("valid", "test"):
            keep[s] = subset_count(len(splits.split(s)), config.eval_subset, f"{s} split")
        self._data = {s: _as_tensors(splits.split(s), keep[s]) for s in keep}
        if self.kind == "regress":
            self.objective, self.direction, self.unit = "mse", "minimize", "sequences"
        elif self.kind == "classify":
            self.objective, self.direction, self.unit = "acc", "maximize", "sequences"
        else:
            self.objective, self.direction, self.unit = "acc", "maximize", "tokens"

    def input_size(self, model: ModelConfig) -> int:
        if self.vocab is None:
            return int(self._data["train"]["inputs"].shape[-1])
        return model.embed_size or model.hidden_size

    def build_model(self, rnn: RNNFactory, model: ModelConfig, train: TrainConfig) -> nn.Module:
        stack = rnn(self.input_size(model))
        common = {"hidden_size": model.hidden_size, "dropout": model.dropout,
                  "input_noise": train.input_noise}
        if self.kind == "regress":
            return SequenceRegressor(stack, **common)
        assert self.vocab is not None and self.n_classes is not None
        if self.kind == "classify":
            return SequenceClassifier(stack, n_classes=self.n_classes, vocab_size=len(self.vocab),
                                      embed_size=model.embed_size, **common)
        return NextStepClassifier(stack, vocab_size=len(self.vocab), n_classes=self.n_classes,
                                  embed_size=model.embed_size, **common)

    def n_batches(self, split: str, batch_size: int, bptt: int) -> int:
        return -(-len(self._data[split]["inputs"]) // batch_size)

    def batches(self, split: str, batch_size: int, bptt: int, *,
                seed: int | None = None) -> Iterator[Batch]:
        data = self._data[split]
        n = len(data["inputs"])
        order = (torch.from_numpy(np.random.default_rng(seed).permutation(n))
                 if seed is not None else torch.arange(n))
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            t = int(data["lengths"][idx].max())  # trim the batch's padding
            x = data["inputs"][idx, :t].transpose(0, 1).contiguous()  # (T, B) or (T, B, F)
            if self.kind == "lm":
                y = data["targets"][idx, :t].t().contiguous()  # (T, B)
                real = (torch.arange(t)[:, None] < data["lengths"][idx][None, :])  # (T, B)
                mask = data["mask"][idx, :t].t().contiguous()  # (T, B) scored steps
                # the loss trains on every real step; Batch.mask marks the scored ones
                yield _LMBatch(x, y, mask, int(real.sum()), real)
            else:
                yield Batch(x, data["targets"][idx], None, len(idx))  # targets (B,)

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        if self.kind == "regress":
            return ((output - batch.y) ** 2).sum()  # output (B,)
        if self.kind == "classify":
            return F.cross_entropy(output, batch.y, reduction="sum")  # output (B, C)
        assert isinstance(batch, _LMBatch)
        nll = F.cross_entropy(output.reshape(-1, output.shape[-1]), batch.y.reshape(-1),
                              reduction="none")  # (T*B,)
        return (nll * batch.real.reshape(-1).to(nll.dtype)).sum()

    def score(self, output: Tensor, batch: Batch) -> dict[str, float]:
        if self.kind == "regress":
            return {"se": float(((output - batch.y) ** 2).sum()), "n": float(batch.n)}
        if self.kind == "classify":
            nll = F.cross_entropy(output, batch.y, reduction="sum")
            correct = (output.argmax(-1) == batch.y).sum()
            return {"nll": float(nll), "correct": float(correct), "n": float(batch.n)}
        assert batch.mask is not None
        m = batch.mask.reshape(-1)  # (T*B,) scored steps
        logits = output.reshape(-1, output.shape[-1])[m]  # (S, C)
        y = batch.y.reshape(-1)[m]  # (S,)
        nll = F.cross_entropy(logits, y, reduction="sum")
        correct = (logits.argmax(-1) == y).sum()
        return {"nll": float(nll), "correct": float(correct), "n": float(m.sum())}

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums.get("n", 0.0), 1.0)
        if self.kind == "regress":
            return {"mse": sums["se"] / n}
        return {"acc": sums["correct"] / n, "nll": sums["nll"] / n}


class _LMBatch(Batch):
    """A next-symbol batch: ``mask`` the scored steps, ``real`` every non-padding step."""

    def __init__(self, x: Tensor, y: Tensor, mask: Tensor, n: int, real: Tensor) -> None:
        super().__init__(x, y, mask, n)
        self.real = real

    def to(self, device: torch.device, dtype: torch.dtype) -> Batch:
        moved = super().to(device, dtype)
        assert moved.mask is not None
        return _LMBatch(moved.x, moved.y, moved.mask, moved.n, self.real.to(device))


def _as_tensors(split: SyntheticSplit, keep: int) -> dict[str, Tensor]:
    return {k: torch.as_tensor(getattr(split, k)[:keep])
            for k in ("inputs", "targets", "mask", "lengths")}


SYNTHETIC: dict[str, Callable[[TaskConfig], Task]] = {
    name: SyntheticTask for name in _OPTIONS
}
