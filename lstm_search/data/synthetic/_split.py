"""The common shape of every synthetic task: :class:`SyntheticSplit` and fixed splits by seed."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lstm_search.data.vocab import EOS, PAD, Vocabulary

__all__ = [
    "PER_STEP_KINDS",
    "Seed",
    "SyntheticSplit",
    "SyntheticSplits",
    "as_rng",
    "make_splits",
    "pack_strings",
    "sample_distinct",
]

Seed = int | np.random.Generator
Kind = Literal["lm", "tag", "classify", "regress", "series"]
PER_STEP_KINDS: tuple[Kind, ...] = ("lm", "tag", "series")  # targets (N, T): one per step


def as_rng(seed: Seed) -> np.random.Generator:
    """A generator from a seed, or the generator itself (never numpy's global state)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed must be an int or a numpy Generator, got {type(seed).__name__}")
    return np.random.default_rng(int(seed))


@dataclass(frozen=True, eq=False)
class SyntheticSplit:
    """N generated examples, padded to a common length T, batch-major.

    kind "lm" (arithmetic, xml, memorize): next-symbol prediction.
        inputs (N, T) int64 ids, targets (N, T) int64 (``targets[:, t] = sequence[t + 1]``);
        ``mask`` marks the targets that are scored (the answer, closing tags, the recall).
    kind "tag" (mqar, selective_copy, parity): a class at some steps only.
        inputs (N, T) int64 ids, targets (N, T) int64 class indices, read where ``mask`` is set
        (the queries, the copy, the last step); the other targets are 0 and carry no meaning.
    kind "classify" (recall): inputs (N, T) int64 ids, targets (N,) int64 class indices;
        ``mask`` marks the step whose output is classified (the last one).
    kind "regress" (adding): inputs (N, T, F) float32, targets (N,) float32; ``mask`` as above.
    kind "series" (waveform): inputs (N, T, F) float32, targets (N, T) float32, one real value
        per step where ``mask`` is set.

    Padding uses id 0 (``<pad>``) and is never in ``mask``; ``valid`` marks every real step
    (``t < lengths[n]``), the positions a language-model loss may train on.
    """

    name: str
    kind: Kind
    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray  # (N, T) bool
    lengths: np.ndarray  # (N,) int64
    vocab: Vocabulary | None  # input symbols; None for real-valued inputs
    n_classes: int | None = None  # classify, tag: number of classes; lm: len(vocab)
    text: tuple[str, ...] | None = None  # the generated strings, for reading and tests

    def __post_init__(self) -> None:
        n, t = self.inputs.shape[:2]
        if self.mask.shape != (n, t) or self.lengths.shape != (n,):
            raise ValueError(
                f"{self.name}: inconsistent shapes inputs {self.inputs.shape}, "
                f"mask {self.mask.shape}, lengths {self.lengths.shape}"
            )
        if self.mask.any() and not (self.mask <= self.valid).all():
            raise ValueError(f"{self.name}: mask marks padding positions")

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def valid(self) -> np.ndarray:
        """(N, T) bool: real (not padding) steps."""
        return np.arange(self.inputs.shape[1])[None, :] < self.lengths[:, None]

    def decode(self, i: int) -> list[str]:
        """Input symbols of example ``i`` (without padding)."""
        if self.vocab is None:
            raise ValueError(f"{self.name}: inputs are real-valued; there is nothing to decode")
        return self.vocab.decode(self.inputs[i, : self.lengths[i]])

    def to_torch(self, device: Any = None) -> dict[str, Any]:
        """The arrays as torch tensors (same shapes), e.g. for a ``TensorDataset``."""
        import torch

        return {
            k: torch.as_tensor(getattr(self, k), device=device)
            for k in ("inputs", "targets", "mask", "lengths")
        }


@dataclass(frozen=True)
class SyntheticSplits:
    """Fixed train/valid/test splits of one task, drawn from one seed."""

    name: str
    seed: int
    train: SyntheticSplit
    valid: SyntheticSplit
    test: SyntheticSplit
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def vocab(self) -> Vocabulary | None:
        return self.train.vocab

    def split(self, name: str) -> SyntheticSplit:
        if name not in ("train", "valid", "test"):
            raise KeyError(f"{self.name}: unknown split {name!r}")
        return getattr(self, name)


def make_splits(
    generator: Callable[..., SyntheticSplit],
    seed: int,
    sizes: Sequence[int] = (10_000, 1_000, 1_000),
    *,
    split_params: Sequence[Mapping[str, Any]] | None = None,
    same_data: bool = False,
    **params: Any,
) -> SyntheticSplits:
    """Train/valid/test from ``generator(n, rng, **params)``.

    Each split gets its own generator spawned from ``numpy.random.SeedSequence(seed)``, so the
    same seed gives the same splits, and changing the training size leaves valid/test unchanged.

    ``split_params``: three mappings (train, valid, test) of generator parameters added to
    ``params`` for that split (parity's short training and long test sequences).
    ``same_data``: every split is drawn from ``seed`` itself, so all three hold the same data
    (a waveform the network generates without input: there is nothing else to test on).
    """
    if len(sizes) != 3 or any(int(n) < 1 for n in sizes):
        raise ValueError(f"sizes must be three positive counts (train, valid, test), got {sizes}")
    if split_params is not None and len(split_params) != 3:
        raise ValueError(f"split_params must be three mappings (train, valid, test), "
                         f"got {len(split_params)}")
    per_split = split_params or ({}, {}, {})
    seeds = ([np.random.SeedSequence(int(seed))] * 3 if same_data
             else np.random.SeedSequence(int(seed)).spawn(3))
    train, valid, test = (
        generator(int(n), np.random.default_rng(child), **{**params, **extra})
        for n, child, extra in zip(sizes, seeds, per_split)
    )
    return SyntheticSplits(train.name, int(seed), train, valid, test, dict(params))


def sample_distinct(rng: np.random.Generator, n: int, high: int, k: int) -> np.ndarray:
    """(n, k) int64: in each row, ``k`` distinct integers of ``range(high)`` in random order
    (every ordered choice equally likely; rows drawn in blocks to bound the memory)."""
    if not 0 <= k <= high:
        raise ValueError(f"cannot draw {k} distinct values from range({high})")
    out = np.empty((n, k), dtype=np.int64)
    block = max(1, 4_000_000 // max(high, 1))
    for i in range(0, n, block):
        m = min(block, n - i)
        out[i : i + m] = np.argsort(rng.random((m, high)), axis=1)[:, :k]
    return out


def pack_strings(
    texts: Sequence[str],
    scored: np.ndarray,
    vocab: Vocabulary,
    name: str,
    *,
    append_eos: bool,
) -> SyntheticSplit:
    """Language-model arrays from strings whose characters are the symbols.

    Each sequence is a text (plus ``<eos>`` when ``append_eos``); inputs = sequence[:-1] and
    targets = sequence[1:], padded with ``<pad>`` (id 0). ``scored`` is a flat bool array with
    one entry per symbol of all sequences in order: whether predicting that symbol is scored.
    """
    if vocab.itos[0] != PAD:
        raise ValueError(f"{name}: the vocabulary must start with {PAD!r}")
    lut = np.full(128, -1, dtype=np.int64)  # ASCII code -> id
    for i, sym in enumerate(vocab.itos):
        if len(sym) == 1 and ord(sym) < 128:
            lut[ord(sym)] = i
    codes = np.frombuffer("".join(texts).encode("ascii"), dtype=np.uint8)
    chars = lut[codes]
    if (chars < 0).any():
        bad = chr(int(codes[np.flatnonzero(chars < 0)[0]]))
        raise ValueError(f"{name}: character {bad!r} is not in the vocabulary")
    sizes = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))  # (N,)
    if append_eos:  # insert <eos> after each text
        ends = np.cumsum(sizes)
        ids = np.insert(chars, ends, vocab.index(EOS))
        sizes = sizes + 1
    else:
        ids = chars
    if scored.shape != ids.shape:
        raise ValueError(f"{name}: scored has {scored.shape[0]} entries for {ids.shape[0]} symbols")
    starts = np.cumsum(sizes) - sizes  # (N,) offset of each sequence
    first = np.zeros(ids.shape[0], dtype=bool)
    first[starts] = True  # no step predicts a sequence's first symbol
    last = np.zeros(ids.shape[0], dtype=bool)
    last[starts + sizes - 1] = True  # a sequence's last symbol is input to no step
    lengths = sizes - 1  # (N,) steps per sequence
    t_max = int(lengths.max())
    valid = np.arange(t_max)[None, :] < lengths[:, None]  # (N, T)
    inputs = np.zeros(valid.shape, dtype=np.int64)  # (N, T)
    targets = np.zeros(valid.shape, dtype=np.int64)  # (N, T)
    mask = np.zeros(valid.shape, dtype=bool)  # (N, T)
    inputs[valid] = ids[~last]  # row-major fill matches the sequences' order
    targets[valid] = ids[~first]
    mask[valid] = scored[~first]
    return SyntheticSplit(
        name=name,
        kind="lm",
        inputs=inputs,
        targets=targets,
        mask=mask,
        lengths=lengths,
        vocab=vocab,
        n_classes=len(vocab),
        text=tuple(texts),
    )
