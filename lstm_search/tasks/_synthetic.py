"""Tasks on generated data (no files): Jozefowicz et al. (2015)'s arithmetic, XML and
memorisation, the adding problem (Hochreiter & Schmidhuber 1997), long-lag recall,
multi-query associative recall (Arora et al. 2023), selective copying (Gu & Dao 2023), parity
with length generalisation (Delétang et al. 2023) and waveform generation (Koutník et al. 2014).

The data set is fixed by ``TaskConfig.data_seed`` (not the trial's seed), so every trial of a
search sees the same splits. Sizes: ``n_train`` / ``n_valid`` / ``n_test`` (default 10,000 /
1,000 / 1,000; waveform 100 / 1 / 1 copies of its one signal); ``subset`` keeps a fraction of
the training examples.

Each kind of generator output has one head (:data:`HEADS`), which alone decides the model
around the recurrent stack, the training loss and the metrics:

- lm (arithmetic, xml, memorize: next-symbol prediction): the model trains on every real step;
  it is scored where the task's mask is set (the answer, the closing tags, the reproduction)
  with ``acc``, the fraction of scored symbols predicted right, per symbol over all scored
  steps (not per sequence: an answer with one wrong digit still counts its right ones;
  Jozefowicz et al. 2015, section 4), and ``nll`` per scored symbol.
- tag (mqar, selective_copy, parity): a class per step, trained and scored only where the mask
  is set (the queries, the copied tokens, the last bit): ``acc`` per scored step and ``nll``.
- classify (recall: one class per sequence): ``acc`` and ``nll``; chance is ``1 / n_classes``.
- regress (adding): ``mse``; always answering 1 gives about 1/6.
- series (waveform: a real value per step): trained on the squared error; scored by ``nmse``,
  the summed squared error over the summed squared deviation of each target sequence from its
  own mean (0: exact; 1: no better than a constant), and ``mse``.

Task options (``TaskConfig`` fields; setting one that a task does not take is an error):

==============  ==============================================================================
task            options
==============  ==============================================================================
xml             ``seq_len``: the step limit
memorize        ``seq_len``: the number of symbols to memorise
adding          ``seq_len``: the sequence length
recall          ``gap``: the lag (distractors between the cue and the query)
mqar            ``vocab_size`` (64), ``n_pairs`` (8), ``n_queries`` (every pair), ``seq_len`` (64)
selective_copy  ``vocab_size`` (16 data symbols), ``n_copy`` (16), ``seq_len`` (256)
parity          ``modulus`` (2), ``seq_len`` (40: longest training string), ``test_len`` (100)
waveform        ``seq_len`` (320)
==============  ==============================================================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_search.config import ConfigError, ModelConfig, SettingRangeError, TaskConfig, TrainConfig
from lstm_search.data.synthetic import SyntheticSplit, SyntheticSplits, synthetic_splits
from lstm_search.nn import NextStepClassifier, SequenceClassifier, SequenceRegressor, StepRegressor
from lstm_search.tasks._base import Batch, RNNFactory, Task, subset_count

__all__ = ["HEADS", "OPTION_FIELDS", "SYNTHETIC", "SyntheticTask", "generator_params"]

DEFAULT_SIZES = (10_000, 1_000, 1_000)
_SIZES = {"waveform": (100, 1, 1)}  # copies of one signal: the training count sets an epoch

# task name -> {TaskConfig field: the generator's (or split rule's) parameter it sets}
_OPTIONS: dict[str, dict[str, str]] = {
    "arithmetic": {},
    "xml": {"seq_len": "max_steps"},
    "memorize": {"seq_len": "n_symbols"},
    "adding": {"seq_len": "length"},
    "recall": {"gap": "lag"},
    "mqar": {f: f for f in ("vocab_size", "n_pairs", "n_queries", "seq_len")},
    "selective_copy": {f: f for f in ("vocab_size", "n_copy", "seq_len")},
    "parity": {f: f for f in ("modulus", "seq_len", "test_len")},
    "waveform": {"seq_len": "seq_len"},
}
# the TaskConfig fields that are options of some synthetic task
OPTION_FIELDS = ("seq_len", "gap", "vocab_size", "n_pairs", "n_queries", "n_copy", "modulus",
                 "test_len")


@functools.lru_cache(maxsize=8)
def _splits(name: str, seed: int, sizes: tuple[int, int, int],
            params: tuple[tuple[str, Any], ...]) -> SyntheticSplits:
    return synthetic_splits(name, seed, sizes, **dict(params))


def generator_params(config: TaskConfig) -> dict[str, Any]:
    """The generator parameters ``config``'s options set; an option the task does not take
    is a :class:`ConfigError` naming it and the task's options."""
    options = _OPTIONS[config.name]
    params: dict[str, Any] = {}
    for field_name in OPTION_FIELDS:
        value = getattr(config, field_name)
        if value is None:
            continue
        if field_name not in options:
            known = ", ".join(f"task.{f}" for f in options) or "none"
            raise ConfigError(f"task.{field_name} is not an option of task {config.name!r} "
                              f"(its options: {known}); unset it with "
                              f"task.{field_name}=none")
        params[options[field_name]] = value
    return params


class SyntheticTask(Task):
    """One generated task; its head (:data:`HEADS`) comes from the generator's ``kind``."""

    carry_state = False

    def __init__(self, config: TaskConfig) -> None:
        super().__init__(config)
        self.name = config.name
        params = generator_params(config)
        default = _SIZES.get(config.name, DEFAULT_SIZES)
        sizes = (config.n_train or default[0], config.n_valid or default[1],
                 config.n_test or default[2])
        try:
            splits = _splits(config.name, config.data_seed, sizes, tuple(sorted(params.items())))
        except ValueError as e:
            set_ = ", ".join(f"task.{f}={getattr(config, f)}" for f in _OPTIONS[config.name]
                             if getattr(config, f) is not None) or "defaults"
            raise SettingRangeError(f"task {config.name!r} ({set_}): {e}") from None
        self.kind = splits.train.kind
        self.head = HEADS[self.kind]
        self.vocab = splits.train.vocab
        self.n_classes = splits.train.n_classes
        keep = {"train": subset_count(len(splits.train), config.subset, "train split")}
        for s in ("valid", "test"):
            keep[s] = subset_count(len(splits.split(s)), config.eval_subset, f"{s} split")
        self._data = {s: _as_tensors(splits.split(s), keep[s]) for s in keep}
        self.objective, self.direction, self.unit = (self.head.objective, self.head.direction,
                                                     self.head.unit)

    def input_size(self, model: ModelConfig) -> int:
        if self.vocab is None:
            return int(self._data["train"]["inputs"].shape[-1])
        return model.embed_size or model.hidden_size

    def build_model(self, rnn: RNNFactory, model: ModelConfig, train: TrainConfig) -> nn.Module:
        return self.head.model(self, rnn(self.input_size(model)), model, train)

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
            if not self.head.per_step:
                yield Batch(x, data["targets"][idx], None, len(idx))  # targets (B,)
                continue
            y = data["targets"][idx, :t].t().contiguous()  # (T, B)
            real = (torch.arange(t)[:, None] < data["lengths"][idx][None, :])  # (T, B)
            mask = data["mask"][idx, :t].t().contiguous()  # (T, B) scored steps
            trained = mask if self.head.train_on_mask else real
            yield _StepBatch(x, y, mask, int(trained.sum()), real)

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        return self.head.loss(output, batch)

    def score(self, output: Tensor, batch: Batch) -> dict[str, float]:
        return self.head.score(output, batch)

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        return self.head.summarize(sums)


class _StepBatch(Batch):
    """A batch with a target per step: ``mask`` the scored steps, ``real`` every non-padding
    step; ``n`` counts the steps the loss covers."""

    def __init__(self, x: Tensor, y: Tensor, mask: Tensor, n: int, real: Tensor) -> None:
        super().__init__(x, y, mask, n)
        self.real = real

    def to(self, device: torch.device, dtype: torch.dtype) -> Batch:
        moved = super().to(device, dtype)
        assert moved.mask is not None
        return _StepBatch(moved.x, moved.y, moved.mask, moved.n, self.real.to(device))


# -- heads: model, loss and metrics per kind --------------------------------------------------

class _Head:
    """How one kind of generated task is modelled and scored: the model around the stack, the
    summed training loss (over ``Batch.n`` items), the per-split sums and the metrics."""

    objective: str = "acc"
    direction: Literal["minimize", "maximize"] = "maximize"
    unit: str = "sequences"
    per_step: bool = False  # targets (T, B), batches are _StepBatch
    train_on_mask: bool = False  # per step: the loss covers the scored steps only

    def model(self, task: SyntheticTask, stack: nn.Module, model: ModelConfig,
              train: TrainConfig) -> nn.Module:
        raise NotImplementedError

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        raise NotImplementedError

    def score(self, output: Tensor, batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        n = max(sums.get("n", 0.0), 1.0)
        return {"acc": sums["correct"] / n, "nll": sums["nll"] / n}


def _common(model: ModelConfig, train: TrainConfig) -> dict[str, Any]:
    return {"hidden_size": model.hidden_size, "dropout": model.dropout,
            "input_noise": train.input_noise}


class _PerStepClass(_Head):
    """A class per step from token inputs; accuracy and nll over the scored steps."""

    unit = "tokens"
    per_step = True

    def model(self, task: SyntheticTask, stack: nn.Module, model: ModelConfig,
              train: TrainConfig) -> nn.Module:
        assert task.vocab is not None and task.n_classes is not None
        return NextStepClassifier(stack, vocab_size=len(task.vocab), n_classes=task.n_classes,
                                  embed_size=model.embed_size, **_common(model, train))

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        assert isinstance(batch, _StepBatch) and batch.mask is not None
        trained = batch.mask if self.train_on_mask else batch.real
        nll = F.cross_entropy(output.reshape(-1, output.shape[-1]), batch.y.reshape(-1),
                              reduction="none")  # (T*B,)
        return (nll * trained.reshape(-1).to(nll.dtype)).sum()

    def score(self, output: Tensor, batch: Batch) -> dict[str, float]:
        assert batch.mask is not None
        m = batch.mask.reshape(-1)  # (T*B,) scored steps
        logits = output.reshape(-1, output.shape[-1])[m]  # (S, C)
        y = batch.y.reshape(-1)[m]  # (S,)
        nll = F.cross_entropy(logits, y, reduction="sum")
        correct = (logits.argmax(-1) == y).sum()
        return {"nll": float(nll), "correct": float(correct), "n": float(m.sum())}


class _NextSymbol(_PerStepClass):
    """kind "lm": trains on every real step, scored where the mask is set."""


class _Tagging(_PerStepClass):
    """kind "tag": trains and is scored where the mask is set, nowhere else."""

    unit = "targets"
    train_on_mask = True


class _SequenceClass(_Head):
    """kind "classify": one class per sequence, read at the last step."""

    def model(self, task: SyntheticTask, stack: nn.Module, model: ModelConfig,
              train: TrainConfig) -> nn.Module:
        assert task.vocab is not None and task.n_classes is not None
        return SequenceClassifier(stack, n_classes=task.n_classes, vocab_size=len(task.vocab),
                                  embed_size=model.embed_size, **_common(model, train))

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        return F.cross_entropy(output, batch.y, reduction="sum")  # output (B, C)

    def score(self, output: Tensor, batch: Batch) -> dict[str, float]:
        nll = F.cross_entropy(output, batch.y, reduction="sum")
        correct = (output.argmax(-1) == batch.y).sum()
        return {"nll": float(nll), "correct": float(correct), "n": float(batch.n)}


class _SequenceValue(_Head):
    """kind "regress": one real value per sequence, read at the last step; mean squared error."""

    objective, direction = "mse", "minimize"

    def model(self, task: SyntheticTask, stack: nn.Module, model: ModelConfig,
              train: TrainConfig) -> nn.Module:
        return SequenceRegressor(stack, **_common(model, train))

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        return ((output - batch.y) ** 2).sum()  # output (B,)

    def score(self, output: Tensor, batch: Batch) -> dict[str, float]:
        return {"se": float(((output - batch.y) ** 2).sum()), "n": float(batch.n)}

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        return {"mse": sums["se"] / max(sums.get("n", 0.0), 1.0)}


class _Series(_Head):
    """kind "series": a real value per step, trained on the squared error over the scored steps
    and scored by the normalised mean squared error (Koutník et al. 2014, section 4.1):
    ``sum (y_hat - y)^2 / sum (y - mean(y))^2``, each sequence's deviations taken from its own
    mean, summed over the split; 0 is exact, 1 is a constant output at the mean."""

    objective, direction, unit = "nmse", "minimize", "steps"
    per_step = True
    train_on_mask = True

    def model(self, task: SyntheticTask, stack: nn.Module, model: ModelConfig,
              train: TrainConfig) -> nn.Module:
        return StepRegressor(stack, **_common(model, train))

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        assert batch.mask is not None
        return (((output - batch.y) ** 2) * batch.mask.to(output.dtype)).sum()  # output (T, B)

    def score(self, output: Tensor, batch: Batch) -> dict[str, float]:
        assert batch.mask is not None
        m = batch.mask.to(batch.y.dtype)  # (T, B)
        mean = (batch.y * m).sum(0) / m.sum(0).clamp_min(1.0)  # (B,) each sequence's mean
        se = (((output - batch.y) ** 2) * m).sum()
        sst = (((batch.y - mean) ** 2) * m).sum()
        return {"se": float(se), "sst": float(sst), "n": float(m.sum())}

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        se, sst = sums["se"], sums["sst"]
        nmse = se / sst if sst > 0 else (0.0 if se == 0 else float("inf"))
        return {"nmse": nmse, "mse": se / max(sums.get("n", 0.0), 1.0)}


# generator kind -> its head: the one place deciding model, loss and metrics per kind
HEADS: dict[str, _Head] = {
    "lm": _NextSymbol(),
    "tag": _Tagging(),
    "classify": _SequenceClass(),
    "regress": _SequenceValue(),
    "series": _Series(),
}


def _as_tensors(split: SyntheticSplit, keep: int) -> dict[str, Tensor]:
    return {k: torch.as_tensor(getattr(split, k)[:keep])
            for k in ("inputs", "targets", "mask", "lengths")}


SYNTHETIC: dict[str, Callable[[TaskConfig], Task]] = {
    name: SyntheticTask for name in _OPTIONS
}
