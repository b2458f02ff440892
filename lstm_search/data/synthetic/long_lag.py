"""Long time-lag tasks: the adding problem and long-lag recall.

Both put the answer at the last step (``mask`` marks it) and make the relevant input lie far
back, which is what the gates of an LSTM were designed for (Hochreiter & Schmidhuber 1997).
"""

from __future__ import annotations

import numpy as np

from lstm_search.data.synthetic._split import Seed, SyntheticSplit, as_rng
from lstm_search.data.vocab import PAD, Vocabulary

__all__ = ["QUERY", "adding", "recall", "recall_vocab"]

QUERY = "?"  # recall: the last input, asking for the first token


def _last_step_mask(n: int, length: int) -> np.ndarray:
    mask = np.zeros((n, length), dtype=bool)  # (N, T)
    mask[:, -1] = True
    return mask


def adding(n: int, seed: Seed, *, length: int = 100) -> SyntheticSplit:
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4), in the form used by
    Le et al. (2015) and Arjovsky et al. (2016).

    Each step carries a pair (value, marker): values uniform in [0, 1); exactly two markers are
    1, one at a uniform position in the first half and one in the second half. The target is
    the sum of the two marked values (regression, read at the last step): inputs (N, T, 2)
    float32, targets (N,) float32. Always predicting 1 gives a mean squared error near 1/6.
    """
    if length < 2:
        raise ValueError(f"adding: length must be >= 2, got {length}")
    rng = as_rng(seed)
    half = length // 2
    values = rng.random((n, length), dtype=np.float32)  # (N, T)
    first = rng.integers(0, half, size=n)  # (N,)
    second = rng.integers(half, length, size=n)  # (N,)
    markers = np.zeros((n, length), dtype=np.float32)  # (N, T)
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]  # (N,)
    return SyntheticSplit(
        name="adding",
        kind="regress",
        inputs=np.stack([values, markers], axis=-1),  # (N, T, 2)
        targets=targets.astype(np.float32),
        mask=_last_step_mask(n, length),
        lengths=np.full(n, length, dtype=np.int64),
        vocab=None,
    )


def recall_vocab(n_classes: int, n_distractors: int) -> Vocabulary:
    """``<pad>``, the class tokens ``c0..c{K-1}`` (ids 1..K), distractors ``d0..``, ``?``."""
    return Vocabulary(
        [
            PAD,
            *(f"c{k}" for k in range(n_classes)),
            *(f"d{k}" for k in range(n_distractors)),
            QUERY,
        ]
    )


def recall(
    n: int,
    seed: Seed,
    *,
    lag: int = 100,
    n_classes: int = 8,
    n_distractors: int = 16,
) -> SyntheticSplit:
    """Long-lag recall: the first token (one of ``n_classes``) must be named after ``lag``
    distractor tokens and a final query ``?`` ("I grew up in France ... I speak fluent French").

    Sequence classification: inputs (N, lag + 2) int64 ids ``[c_k, d.., d.., ?]``, targets (N,)
    the class index k (token ``c{k}``, id ``k + 1``), read at the last step. Chance accuracy is
    ``1 / n_classes``; distractor tokens never equal a class token.
    """
    if lag < 0 or n_classes < 2 or n_distractors < 1:
        raise ValueError(
            "recall: need lag >= 0, n_classes >= 2, n_distractors >= 1, "
            f"got {lag}, {n_classes}, {n_distractors}"
        )
    rng = as_rng(seed)
    vocab = recall_vocab(n_classes, n_distractors)
    targets = rng.integers(0, n_classes, size=n)  # (N,)
    gap = rng.integers(0, n_distractors, size=(n, lag)) + 1 + n_classes  # (N, L) distractor ids
    query = np.full((n, 1), vocab.index(QUERY))
    inputs = np.concatenate([(targets + 1)[:, None], gap, query], axis=1)  # (N, L + 2)
    return SyntheticSplit(
        name="recall",
        kind="classify",
        inputs=inputs.astype(np.int64),
        targets=targets.astype(np.int64),
        mask=_last_step_mask(n, lag + 2),
        lengths=np.full(n, lag + 2, dtype=np.int64),
        vocab=vocab,
        n_classes=n_classes,
    )
