"""Sequence generation without input (Koutník et al. 2014, "A Clockwork RNN", section 4.1).

The network receives no information and must output a fixed target sequence: its weights
encode the sequence. Koutník et al. used 320 steps of a music recording; here the target is a
seeded sum of sinusoids of different periods, so no file is needed. The score is the
normalised mean squared error (NMSE): the squared error summed over the steps over that of
the sequence's own mean, so 0 is perfect and 1 is as good as a constant output.
"""

from __future__ import annotations

import numpy as np

from lstm_search.data.synthetic._split import Seed, SyntheticSplit, as_rng

__all__ = ["waveform", "waveform_signal"]


def waveform_signal(seed: Seed, *, seq_len: int = 320, n_components: int = 4,
                    min_period: float = 4.0, max_period: float | None = None) -> np.ndarray:
    """(seq_len,) float32: ``sum_k a_k sin(2 pi t / P_k + phi_k)`` with periods ``P_k``
    log-uniform in [``min_period``, ``max_period``] (default ``seq_len / 2``), amplitudes uniform
    in [0.5, 1], phases uniform; then centred and scaled to a peak of 1 (Koutník et al. scaled
    their target to [-1, 1])."""
    top = seq_len / 2 if max_period is None else max_period
    if seq_len < 2 or n_components < 1:
        raise ValueError(f"waveform: need seq_len >= 2 and n_components >= 1, got seq_len "
                         f"{seq_len}, n_components {n_components}")
    if not 2.0 <= min_period <= top:
        raise ValueError(f"waveform: need 2 <= min_period <= max_period, got {min_period}, {top}")
    rng = as_rng(seed)
    periods = np.exp(rng.uniform(np.log(min_period), np.log(top), size=n_components))  # (K,)
    amplitudes = rng.uniform(0.5, 1.0, size=n_components)  # (K,)
    phases = rng.uniform(0.0, 2 * np.pi, size=n_components)  # (K,)
    t = np.arange(seq_len)[:, None]  # (T, 1)
    signal = (amplitudes * np.sin(2 * np.pi * t / periods + phases)).sum(axis=1)  # (T,)
    signal = signal - signal.mean()
    return (signal / np.abs(signal).max()).astype(np.float32)


def waveform(
    n: int,
    seed: Seed,
    *,
    seq_len: int = 320,
    n_components: int = 4,
) -> SyntheticSplit:
    """``n`` copies of :func:`waveform_signal` (``seed``) as the targets (N, T) of a constant
    input of ones (N, T, 1): kind "series", every step scored. The input says nothing (a
    constant 1 acts as one more bias), as in Koutník et al.'s task without input; the copies
    only set how many sequences an epoch trains on."""
    signal = waveform_signal(seed, seq_len=seq_len, n_components=n_components)
    return SyntheticSplit(
        name="waveform",
        kind="series",
        inputs=np.ones((n, seq_len, 1), dtype=np.float32),
        targets=np.tile(signal, (n, 1)),
        mask=np.ones((n, seq_len), dtype=bool),
        lengths=np.full(n, seq_len, dtype=np.int64),
        vocab=None,
    )
