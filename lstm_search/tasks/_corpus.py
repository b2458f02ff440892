"""Tasks on the standard corpora: word and character language modelling, polyphonic music.

- Word level (PTB, WikiText-2): mean cross-entropy per token (nats) and perplexity
  ``exp(nll)`` (Zaremba et al. 2014; Merity et al. 2016).
- Character level (PTB chars): nll and bits per character ``nll / ln 2`` (Graves 2013).
- Music (JSB Chorales, Nottingham, MuseData, Piano-midi.de): frame-level negative
  log-likelihood, each of the 88 keys an independent Bernoulli, summed over keys and averaged
  over frames (Boulanger-Lewandowski et al. 2012, section 6; Greff et al. 2015 report it for
  JSB).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import torch.nn.functional as F
from torch import Tensor, nn

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.data.batching import batchify, bptt_batches, music_batches
from lstm_search.data.music import MusicCorpus
from lstm_search.data.registry import load_music, load_text
from lstm_search.data.text import TextCorpus
from lstm_search.nn import LanguageModel, PianoRollModel
from lstm_search.tasks._base import (
    Batch,
    RNNFactory,
    Task,
    nats_to_bits,
    resolve_data_dir,
    safe_exp,
    subset_count,
)

__all__ = ["LanguageModelTask", "MusicTask"]


# ``folder`` (where the data-path rule points now) keys the caches; ``data_dir`` as configured
# goes to the loader so that a missing-data error says which step of the rule chose the folder


@functools.lru_cache(maxsize=4)
def _text_corpus(name: str, folder: str, data_dir: str | None) -> TextCorpus:
    return load_text(name, data_dir)


@functools.lru_cache(maxsize=4)
def _music_corpus(name: str, folder: str, data_dir: str | None) -> MusicCorpus:
    return load_music(name, data_dir)


class LanguageModelTask(Task):
    """Next-token prediction over one long stream per split, state carried across windows."""

    carry_state = True
    unit = "tokens"

    def __init__(self, config: TaskConfig, *, dataset: str, char_level: bool = False) -> None:
        super().__init__(config)
        self.name = config.name
        self.char_level = char_level
        self.objective = "bpc" if char_level else "ppl"
        corpus = _text_corpus(dataset, str(resolve_data_dir(config.data_dir).resolve()),
                              config.data_dir)
        self.vocab_size = len(corpus.vocab)
        train = corpus.train
        keep = subset_count(len(train), config.subset, f"{dataset} train split")
        self._streams = {"train": train[:keep]}
        for split in ("valid", "test"):
            stream = corpus.split(split)
            n = subset_count(len(stream), config.eval_subset, f"{dataset} {split} split")
            self._streams[split] = stream[:n]
        self._batched: dict[tuple[str, int], Tensor] = {}

    def input_size(self, model: ModelConfig) -> int:
        return model.embed_size or model.hidden_size

    def build_model(self, rnn: RNNFactory, model: ModelConfig, train: TrainConfig) -> nn.Module:
        return LanguageModel(rnn(self.input_size(model)), vocab_size=self.vocab_size,
                             hidden_size=model.hidden_size, embed_size=model.embed_size,
                             dropout=model.dropout, input_noise=train.input_noise,
                             tie_weights=model.tie_weights)

    def _stream(self, split: str, batch_size: int) -> Tensor:
        key = (split, batch_size)
        if key not in self._batched:
            self._batched[key] = batchify(self._streams[split], batch_size)  # (N, B)
        return self._batched[key]

    def n_batches(self, split: str, batch_size: int, bptt: int) -> int:
        rows = self._stream(split, batch_size).shape[0] - 1
        return -(-rows // bptt)

    def batches(self, split: str, batch_size: int, bptt: int, *,
                seed: int | None = None) -> Iterator[Batch]:
        # the stream's order is the text's order: no shuffling (the state is carried)
        for x, y in bptt_batches(self._stream(split, batch_size), bptt):
            yield Batch(x, y, None, y.numel())  # (L, B), (L, B)

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        # output (L, B, V) logits; summed cross-entropy over L*B tokens
        return F.cross_entropy(output.reshape(-1, output.shape[-1]), batch.y.reshape(-1),
                               reduction="sum")

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        nll = sums["loss"] / max(sums["n"], 1.0)
        if self.char_level:
            return {"nll": nll, "bpc": nats_to_bits(nll)}
        return {"nll": nll, "ppl": safe_exp(nll)}


class MusicTask(Task):
    """Next-frame prediction on piano rolls; pieces padded per batch, scored under a mask."""

    carry_state = False
    unit = "frames"
    objective = "nll"

    def __init__(self, config: TaskConfig, *, dataset: str) -> None:
        super().__init__(config)
        self.name = config.name
        corpus = _music_corpus(dataset, str(resolve_data_dir(config.data_dir).resolve()),
                               config.data_dir)
        # a piece needs two frames: an input and its target
        pieces = {s: [p for p in corpus.split(s) if len(p) >= 2]
                  for s in ("train", "valid", "test")}
        keep = subset_count(len(pieces["train"]), config.subset, f"{dataset} train split")
        pieces["train"] = pieces["train"][:keep]
        for split in ("valid", "test"):
            n = subset_count(len(pieces[split]), config.eval_subset, f"{dataset} {split} split")
            pieces[split] = pieces[split][:n]
        self._pieces = pieces
        self.n_keys = corpus.n_keys

    def input_size(self, model: ModelConfig) -> int:
        return self.n_keys

    def build_model(self, rnn: RNNFactory, model: ModelConfig, train: TrainConfig) -> nn.Module:
        return PianoRollModel(rnn(self.n_keys), hidden_size=model.hidden_size,
                              n_keys=self.n_keys, dropout=model.dropout,
                              input_noise=train.input_noise)

    def n_batches(self, split: str, batch_size: int, bptt: int) -> int:
        return -(-len(self._pieces[split]) // batch_size)

    def batches(self, split: str, batch_size: int, bptt: int, *,
                seed: int | None = None) -> Iterator[Batch]:
        # whole pieces (no truncation): JSB pieces are at most a few hundred frames
        for b in music_batches(self._pieces[split], batch_size, seed=seed):
            mask = b.mask[1:]  # (T-1, B): target frame t+1 exists
            yield Batch(b.rolls[:-1], b.rolls[1:], mask, int(mask.sum()))

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        # output (T, B, 88) logits; Bernoulli NLL summed over keys and over real frames
        nll = F.binary_cross_entropy_with_logits(output, batch.y, reduction="none").sum(-1)
        assert batch.mask is not None
        return (nll * batch.mask.to(nll.dtype)).sum()

