"""Batching helpers: Zaremba-style language-model streams and padded piano-roll batches.

Language modelling (Zaremba et al. 2014, after Mikolov): the token stream is cut into
``batch_size`` contiguous columns, ``data[:, b]`` being the b-th column; training walks down the
rows in windows of ``bptt`` steps, carrying the hidden state from one window to the next. The
target of ``data[t, b]`` is ``data[t + 1, b]``.

Synthetic tasks: :func:`synthetic_batches` turns a batch-major :class:`SyntheticSplit` into
time-major batches trimmed to their longest sequence.

Music (Boulanger-Lewandowski et al. 2012): pieces of different lengths are padded at the end to
a (T, B, 88) tensor with a (T, B) mask of real steps; the frame NLL averages over masked steps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

if TYPE_CHECKING:
    from lstm_search.data.synthetic import SyntheticSplit

__all__ = [
    "PianoRollBatch",
    "SyntheticBatch",
    "batchify",
    "bptt_batches",
    "music_batches",
    "pad_pieces",
    "synthetic_batches",
]


def batchify(
    tokens: np.ndarray | torch.Tensor | Sequence[int],
    batch_size: int,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Cut an id stream into ``batch_size`` columns: returns a (T, B) int64 tensor.

    The ``len(tokens) % batch_size`` trailing tokens are dropped; column ``b`` holds tokens
    ``b*T .. (b+1)*T - 1`` (Zaremba et al. 2014; PyTorch ``word_language_model``).
    """
    if batch_size < 1:
        raise ValueError(f"batchify: batch_size must be >= 1, got {batch_size}")
    data = torch.as_tensor(np.asarray(tokens) if not torch.is_tensor(tokens) else tokens)
    if data.dim() != 1:
        raise ValueError(f"batchify: expected a 1-D token stream, got shape {tuple(data.shape)}")
    n_rows = data.numel() // batch_size
    if n_rows < 2:
        raise ValueError(
            f"batchify: {data.numel()} tokens are too few for batch_size {batch_size} "
            "(each column needs at least 2 tokens: an input and its target)"
        )
    data = data[: n_rows * batch_size].long()
    return data.view(batch_size, n_rows).t().contiguous().to(device)  # (T, B)


def bptt_batches(
    data: torch.Tensor, bptt: int, *, drop_last: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(input, target) windows of ``bptt`` rows over a (T, B) stream from :func:`batchify`.

    ``input`` is rows ``i .. i+L-1`` and ``target`` rows ``i+1 .. i+L`` (both (L, B)); the last
    window is shorter unless ``drop_last``. Windows are views, not copies.
    """
    if bptt < 1:
        raise ValueError(f"bptt_batches: bptt must be >= 1, got {bptt}")
    if data.dim() != 2:
        raise ValueError(f"bptt_batches: expected a (T, B) tensor, got shape {tuple(data.shape)}")
    n = data.size(0) - 1  # the last row has no target
    for i in range(0, n, bptt):
        length = min(bptt, n - i)
        if drop_last and length < bptt:
            return
        yield data[i : i + length], data[i + 1 : i + 1 + length]  # (L, B), (L, B)


class PianoRollBatch(NamedTuple):
    """A padded batch of piano rolls from :func:`pad_pieces`."""

    rolls: torch.Tensor  # (T, B, K) float32, zeros after each piece's end
    mask: torch.Tensor  # (T, B) bool, True on real steps
    lengths: torch.Tensor  # (B,) int64


def pad_pieces(
    pieces: Sequence[np.ndarray | torch.Tensor],
    device: torch.device | str | None = None,
) -> PianoRollBatch:
    """Pad pieces of shape (T_i, K) at the end to one (T_max, B, K) float32 tensor.

    ``mask[t, b]`` is True where step ``t`` is a real step of piece ``b``. For next-step
    prediction feed ``rolls[:-1]`` and score against ``rolls[1:]`` under ``mask[1:]``.
    """
    if len(pieces) == 0:
        raise ValueError("pad_pieces: no pieces given")
    tensors = [torch.as_tensor(np.asarray(p) if not torch.is_tensor(p) else p) for p in pieces]
    keys = {t.shape[1] if t.dim() == 2 else None for t in tensors}
    if len(keys) != 1 or None in keys:
        shapes = sorted({tuple(t.shape) for t in tensors})[:5]
        raise ValueError(f"pad_pieces: pieces must all be (T, K) with one K; got shapes {shapes}")
    lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.long)  # (B,)
    rolls = torch.nn.utils.rnn.pad_sequence([t.float() for t in tensors])  # (T_max, B, K)
    steps = torch.arange(rolls.shape[0]).unsqueeze(1)  # (T_max, 1)
    mask = steps < lengths.unsqueeze(0)  # (T_max, B)
    return PianoRollBatch(rolls.to(device), mask.to(device), lengths.to(device))


def music_batches(
    pieces: Sequence[np.ndarray | torch.Tensor],
    batch_size: int,
    *,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> Iterator[PianoRollBatch]:
    """Padded batches of ``batch_size`` pieces (the last may be smaller).

    With ``seed`` the piece order is shuffled by a generator of that seed (pass a new seed per
    epoch, e.g. ``seed=base_seed + epoch``); without it the order is kept.
    """
    if batch_size < 1:
        raise ValueError(f"music_batches: batch_size must be >= 1, got {batch_size}")
    order = np.arange(len(pieces))
    if seed is not None:
        order = np.random.default_rng(seed).permutation(len(pieces))
    for i in range(0, len(order), batch_size):
        yield pad_pieces([pieces[j] for j in order[i : i + batch_size]], device=device)


class SyntheticBatch(NamedTuple):
    """A time-major batch of a synthetic task from :func:`synthetic_batches`."""

    inputs: torch.Tensor  # (T, B) int64 ids, or (T, B, F) float32 for real-valued inputs
    targets: torch.Tensor  # "lm", "tag": (T, B) int64; "series": (T, B) float32;
    # "classify": (B,) int64; "regress": (B,) float32
    mask: torch.Tensor  # (T, B) bool: the scored steps
    valid: torch.Tensor  # (T, B) bool: real (not padding) steps
    lengths: torch.Tensor  # (B,) int64


def synthetic_batches(
    split: SyntheticSplit,
    batch_size: int,
    *,
    seed: int | None = None,
    device: torch.device | str | None = None,
    drop_last: bool = False,
) -> Iterator[SyntheticBatch]:
    """Time-major batches of ``batch_size`` examples, each trimmed to its longest sequence.

    With ``seed`` the examples are shuffled by a generator of that seed; otherwise kept in
    order. For kinds "classify"/"regress" the answer is read at step ``lengths - 1`` (the
    single True of each ``mask`` column); the other kinds have a target per step.
    """
    from lstm_search.data.synthetic import PER_STEP_KINDS

    if batch_size < 1:
        raise ValueError(f"synthetic_batches: batch_size must be >= 1, got {batch_size}")
    n = len(split)
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    valid_all = split.valid  # (N, T)
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        if drop_last and len(idx) < batch_size:
            return
        t = int(split.lengths[idx].max())

        def tm(a: np.ndarray, idx: np.ndarray = idx, t: int = t) -> torch.Tensor:
            # (N, T, ...) rows idx -> (t, B, ...) on device
            return torch.from_numpy(np.ascontiguousarray(a[idx, :t].swapaxes(0, 1))).to(device)

        targets = (tm(split.targets) if split.kind in PER_STEP_KINDS
                   else torch.from_numpy(split.targets[idx]))
        yield SyntheticBatch(
            inputs=tm(split.inputs),
            targets=targets.to(device),
            mask=tm(split.mask),
            valid=tm(valid_all),
            lengths=torch.from_numpy(split.lengths[idx]).to(device),
        )
