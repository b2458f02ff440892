"""Modular counting with length generalisation: parity (modulus 2) of a bit string.

Following Delétang et al. (2023), "Neural Networks and the Chomsky Hierarchy", section 4
(Parity Check, a regular task): the network reads a string of bits and names the number of
ones modulo ``modulus`` after the last bit. It trains on strings of length 1 to ``seq_len``
and is validated and tested on longer strings only (``seq_len + 1`` to ``test_len``;
Delétang et al. train up to 40 and test from 41 to 500), so the accuracy measures whether
the network learnt the counting rule rather than the lengths it saw.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstm_search.data.synthetic._split import Seed, SyntheticSplit, as_rng
from lstm_search.data.vocab import PAD, Vocabulary

__all__ = ["parity", "parity_split_params", "parity_vocab"]


def parity_vocab() -> Vocabulary:
    """``<pad>``, ``0`` (id 1), ``1`` (id 2)."""
    return Vocabulary([PAD, "0", "1"])


def parity(
    n: int,
    seed: Seed,
    *,
    modulus: int = 2,
    min_len: int = 1,
    max_len: int = 40,
) -> SyntheticSplit:
    """``n`` bit strings of lengths uniform in ``min_len..max_len``, bits uniform; the target,
    read at the last bit (``mask``), is the number of ones modulo ``modulus`` (class index,
    ``n_classes = modulus``). Kind "tag": inputs (N, max_len) ids padded with ``<pad>``."""
    if modulus < 2:
        raise ValueError(f"parity: modulus must be >= 2, got {modulus}")
    if not 1 <= min_len <= max_len:
        raise ValueError(f"parity: need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    rng = as_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n)  # (N,)
    valid = np.arange(max_len)[None, :] < lengths[:, None]  # (N, T)
    bits = rng.integers(0, 2, size=(n, max_len)) * valid  # (N, T), 0 on padding
    rows = np.arange(n)
    targets = np.zeros((n, max_len), dtype=np.int64)  # (N, T)
    targets[rows, lengths - 1] = bits.sum(axis=1) % modulus
    mask = np.zeros((n, max_len), dtype=bool)
    mask[rows, lengths - 1] = True
    return SyntheticSplit(
        name="parity",
        kind="tag",
        inputs=np.where(valid, bits + 1, 0).astype(np.int64),  # "0" -> 1, "1" -> 2, pad 0
        targets=targets,
        mask=mask,
        lengths=lengths.astype(np.int64),
        vocab=parity_vocab(),
        n_classes=modulus,
    )


def parity_split_params(*, seq_len: int = 40, test_len: int = 100,
                        modulus: int = 2) -> tuple[dict[str, Any], ...]:
    """The generator parameters of the train, valid and test splits: lengths 1..``seq_len``
    for training, ``seq_len + 1``..``test_len`` for validation and test."""
    if seq_len < 1 or test_len <= seq_len:
        raise ValueError(f"parity: test_len ({test_len}) must be greater than seq_len "
                         f"({seq_len}): valid and test strings are longer than every training "
                         "string")
    short = {"modulus": modulus, "min_len": 1, "max_len": seq_len}
    long = {"modulus": modulus, "min_len": seq_len + 1, "max_len": test_len}
    return short, long, dict(long)
