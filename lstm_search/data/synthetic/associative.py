"""Recall tasks of the efficient sequence model literature: multi-query associative recall
(Arora et al. 2023, Zoology) and selective copying (Gu & Dao 2023, Mamba).

Both are kind "tag" (see :class:`SyntheticSplit`): a class is asked for at some steps only
(``mask``), and the loss and the accuracy are taken there alone.
"""

from __future__ import annotations

import numpy as np

from lstm_search.data.synthetic._split import Seed, SyntheticSplit, as_rng, sample_distinct
from lstm_search.data.vocab import PAD, Vocabulary

__all__ = ["BLANK", "COPY", "mqar", "mqar_vocab", "selective_copy", "selective_copy_vocab"]

BLANK = "_"  # selective copy: the noise token between the data tokens
COPY = "="  # selective copy: the marker at each step where a data token is to be output


def mqar_vocab(vocab_size: int) -> Vocabulary:
    """``<pad>``, the keys ``k0..`` (the first ``vocab_size // 2`` symbols, ids from 1), then
    the values ``v0..`` (the rest)."""
    n_keys = vocab_size // 2
    return Vocabulary([PAD, *(f"k{i}" for i in range(n_keys)),
                       *(f"v{i}" for i in range(vocab_size - n_keys))])


def mqar(
    n: int,
    seed: Seed,
    *,
    vocab_size: int = 64,
    n_pairs: int = 8,
    n_queries: int | None = None,
    seq_len: int = 64,
    power_a: float = 0.01,
) -> SyntheticSplit:
    """Multi-query associative recall (Arora et al. 2023, "Zoology: Measuring and Improving
    Recall in Efficient Language Models", section 3.1 and their ``multiquery_ar`` generator).

    A sequence of ``seq_len`` tokens opens with ``n_pairs`` key-value pairs ``k v k v ..``
    (distinct keys from the first half of the ``vocab_size`` symbols, distinct values from the
    second half); ``n_queries`` of those keys (default: every one, as in Zoology) are asked for
    later, each at a step ``2 n_pairs + 2 g`` whose slot ``g`` is drawn without replacement
    with probability proportional to ``(g + 1) ** (power_a - 1)`` (Zoology's power law: most
    queries come soon after the context). The other steps hold random symbols. The target at a
    query step is the value paired with its key (token id; ``n_classes`` = ids of the
    vocabulary); ``mask`` marks the query steps, the only ones scored.
    """
    n_queries = n_pairs if n_queries is None else n_queries
    n_keys = vocab_size // 2
    if n_pairs < 1 or not 1 <= n_queries <= n_pairs:
        raise ValueError(f"mqar: need n_pairs >= 1 and 1 <= n_queries <= n_pairs, got n_pairs "
                         f"{n_pairs}, n_queries {n_queries}")
    if n_keys < n_pairs or vocab_size - n_keys < n_pairs:
        raise ValueError(f"mqar: vocab_size {vocab_size} is too small for {n_pairs} distinct "
                         f"keys and values (each half holds {n_keys}); need vocab_size >= "
                         f"{2 * n_pairs}")
    slots = (seq_len - 2 * n_pairs) // 2  # query slots after the context, every other step
    if slots < n_queries:
        raise ValueError(f"mqar: seq_len {seq_len} is too short for {n_pairs} pairs and "
                         f"{n_queries} queries; need seq_len >= {2 * n_pairs + 2 * n_queries}")
    if not 0.0 < power_a <= 1.0:
        raise ValueError(f"mqar: power_a must be in (0, 1], got {power_a}")
    rng = as_rng(seed)
    rows = np.arange(n)[:, None]
    key_ids = sample_distinct(rng, n, n_keys, n_pairs) + 1  # (N, P)
    value_ids = sample_distinct(rng, n, vocab_size - n_keys, n_pairs) + 1 + n_keys  # (N, P)
    asked = sample_distinct(rng, n, n_pairs, n_queries)  # (N, Q) which pairs are queried
    # Gumbel top-k: slots without replacement, each draw proportional to the power law
    log_p = (power_a - 1.0) * np.log(np.arange(1, slots + 1))  # (S,)
    slot = np.argsort(-(log_p + rng.gumbel(size=(n, slots))), axis=1)[:, :n_queries]  # (N, Q)
    at = 2 * n_pairs + 2 * slot  # (N, Q) query steps
    inputs = rng.integers(1, vocab_size + 1, size=(n, seq_len))  # (N, T) filler symbols
    inputs[:, 0 : 2 * n_pairs : 2] = key_ids
    inputs[:, 1 : 2 * n_pairs : 2] = value_ids
    inputs[rows, at] = key_ids[rows, asked]
    targets = np.zeros((n, seq_len), dtype=np.int64)  # (N, T)
    targets[rows, at] = value_ids[rows, asked]
    mask = np.zeros((n, seq_len), dtype=bool)  # (N, T)
    mask[rows, at] = True
    vocab = mqar_vocab(vocab_size)
    return SyntheticSplit(
        name="mqar",
        kind="tag",
        inputs=inputs.astype(np.int64),
        targets=targets,
        mask=mask,
        lengths=np.full(n, seq_len, dtype=np.int64),
        vocab=vocab,
        n_classes=len(vocab),
    )


def selective_copy_vocab(vocab_size: int) -> Vocabulary:
    """``<pad>``, the noise token ``_``, the marker ``=``, the data tokens ``t0..`` (ids 3..)."""
    return Vocabulary([PAD, BLANK, COPY, *(f"t{i}" for i in range(vocab_size))])


def selective_copy(
    n: int,
    seed: Seed,
    *,
    vocab_size: int = 16,
    n_copy: int = 16,
    seq_len: int = 256,
) -> SyntheticSplit:
    """Selective copying (Gu & Dao 2023, "Mamba", section 3.1 and appendix E.1; Feng et al.
    2024, "Were RNNs All We Needed?", section 4.1): the copying task of Arjovsky et al. (2016)
    with the tokens to remember at random places.

    ``n_copy`` data tokens (uniform over ``vocab_size`` symbols) stand at random distinct
    steps, in order, among noise tokens ``_`` in the first ``seq_len - n_copy`` steps; the last
    ``n_copy`` steps are markers ``=``, and at the j-th marker the target is the j-th data token
    (token id). ``mask`` marks the markers, the only steps scored. Gu & Dao use 4,096 steps of
    noise, 16 data tokens and 16 symbols; the default here is a cheap 256 steps.
    """
    if vocab_size < 1 or n_copy < 1:
        raise ValueError(f"selective_copy: need vocab_size >= 1 and n_copy >= 1, got "
                         f"vocab_size {vocab_size}, n_copy {n_copy}")
    region = seq_len - n_copy  # where the data tokens are scattered
    if region < n_copy:
        raise ValueError(f"selective_copy: seq_len {seq_len} is too short to scatter and then "
                         f"copy {n_copy} tokens; need seq_len >= {2 * n_copy}")
    rng = as_rng(seed)
    vocab = selective_copy_vocab(vocab_size)
    rows = np.arange(n)[:, None]
    data = rng.integers(0, vocab_size, size=(n, n_copy)) + vocab.index("t0")  # (N, M)
    where = np.sort(sample_distinct(rng, n, region, n_copy), axis=1)  # (N, M) ascending
    inputs = np.full((n, seq_len), vocab.index(BLANK), dtype=np.int64)  # (N, T)
    inputs[rows, where] = data
    inputs[:, region:] = vocab.index(COPY)
    targets = np.zeros((n, seq_len), dtype=np.int64)  # (N, T)
    targets[:, region:] = data
    mask = np.zeros((n, seq_len), dtype=bool)
    mask[:, region:] = True
    return SyntheticSplit(
        name="selective_copy",
        kind="tag",
        inputs=inputs,
        targets=targets,
        mask=mask,
        lengths=np.full(n, seq_len, dtype=np.int64),
        vocab=vocab,
        n_classes=len(vocab),
    )
