"""Batching: Zaremba's column layout and BPTT windows, padded piano-roll batches with masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_search.data import batchify, bptt_batches, load_dataset, music_batches, pad_pieces


def test_batchify_columns_are_contiguous_streams() -> None:
    stream = np.random.default_rng(0).integers(0, 100, size=103)
    data = batchify(stream, 4)
    assert data.shape == (25, 4) and data.dtype == torch.int64
    for b in range(4):  # column b = tokens b*25 .. b*25+24; the 3 leftover tokens are dropped
        assert data[:, b].tolist() == stream[b * 25 : (b + 1) * 25].tolist()
    with pytest.raises(ValueError, match="too few"):
        batchify(stream[:5], 4)


def test_bptt_windows_cover_the_stream_with_shifted_targets() -> None:
    data = batchify(torch.arange(4 * 11), 4)  # (11, 4)
    windows = list(bptt_batches(data, 3))
    assert [x.shape[0] for x, _ in windows] == [3, 3, 3, 1]
    assert torch.equal(torch.cat([x for x, _ in windows]), data[:-1])
    assert torch.equal(torch.cat([y for _, y in windows]), data[1:])
    assert [x.shape[0] for x, _ in bptt_batches(data, 3, drop_last=True)] == [3, 3, 3]


def test_ptb_batches(shared_data: Path) -> None:
    ptb = load_dataset("ptb", shared_data)
    data = batchify(ptb.valid, 10)
    assert data.shape == (len(ptb.valid) // 10, 10)
    x, y = next(bptt_batches(data, 35))
    assert torch.equal(x[1:], y[:-1])
    assert x[:, 0].tolist() == ptb.valid[:35].tolist()


def test_pad_pieces_mask_and_lengths() -> None:
    rng = np.random.default_rng(1)
    pieces = [(rng.random((t, 88)) < 0.1).astype(np.float32) for t in (5, 2, 7)]
    rolls, mask, lengths = pad_pieces(pieces)
    assert rolls.shape == (7, 3, 88) and mask.shape == (7, 3) and mask.dtype == torch.bool
    assert lengths.tolist() == [5, 2, 7]
    assert mask.sum(0).tolist() == [5, 2, 7]
    for b, p in enumerate(pieces):
        assert torch.equal(rolls[: len(p), b], torch.from_numpy(p))
        assert rolls[len(p) :, b].abs().sum() == 0 and not mask[len(p) :, b].any()
    with pytest.raises(ValueError, match="one K"):
        pad_pieces([np.zeros((3, 88)), np.zeros((3, 87))])


def test_music_batches_shuffle_by_seed(shared_data: Path) -> None:
    jsb = load_dataset("jsb", shared_data)
    batches = list(music_batches(jsb.valid, 16, seed=3))
    again = list(music_batches(jsb.valid, 16, seed=3))
    other = list(music_batches(jsb.valid, 16, seed=4))
    assert [len(b.lengths) for b in batches] == [16] * 4 + [76 - 64]
    assert all(torch.equal(a.rolls, b.rolls) for a, b in zip(batches, again))
    assert [b.lengths.tolist() for b in batches] != [b.lengths.tolist() for b in other]
    assert sum(int(b.mask.sum()) for b in batches) == jsb.n_steps("valid")
    kept = next(music_batches(jsb.valid, 2))  # no seed: original order
    assert kept.lengths.tolist() == [len(jsb.valid[0]), len(jsb.valid[1])]
