"""Generators of MQAR, selective copying, parity and waveform generation: each answer is the
one the task defines, splits are as documented, bad parameters are named.

(Determinism per seed and independence of the global random state are checked for every
generator by ``test_data_synthetic.py``.)"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_search.data import (
    mqar,
    parity,
    selective_copy,
    synthetic_batches,
    synthetic_splits,
    waveform,
)
from lstm_search.data.synthetic import waveform_signal


def test_mqar_each_query_asks_for_the_value_paired_with_its_key() -> None:
    split = mqar(300, 5, vocab_size=40, n_pairs=6, n_queries=4, seq_len=48)
    assert split.kind == "tag" and split.inputs.shape == split.targets.shape == (300, 48)
    assert split.n_classes == len(split.vocab) == 41
    assert (split.mask.sum(axis=1) == 4).all()
    asked_pairs = set()
    for i in range(300):
        symbols = split.decode(i)
        context = symbols[:12]
        keys, values = context[0::2], context[1::2]
        assert all(k.startswith("k") for k in keys) and all(v.startswith("v") for v in values)
        assert len(set(keys)) == 6 and len(set(values)) == 6  # distinct, as in Zoology
        paired = dict(zip(keys, values))
        steps = np.flatnonzero(split.mask[i])
        assert (steps >= 12).all() and ((steps - 12) % 2 == 0).all()  # after the context
        queried = [symbols[t] for t in steps]
        assert len(set(queried)) == 4 and set(queried) <= set(keys)
        for t, key in zip(steps, queried):
            assert split.vocab.itos[split.targets[i, t]] == paired[key]
        asked_pairs.update(keys.index(k) for k in queried)
    assert asked_pairs == set(range(6))  # any pair may be asked, not only the first ones
    assert (split.targets[~split.mask] == 0).all()


def test_mqar_queries_come_soon_after_the_context_and_default_to_every_pair() -> None:
    split = mqar(2000, 1, vocab_size=64, n_pairs=4, seq_len=64)  # 28 query slots
    assert (split.mask.sum(axis=1) == 4).all()  # n_queries defaults to n_pairs
    slots = (np.flatnonzero(split.mask.reshape(-1)) % 64 - 8) // 2
    # Zoology's power law (a = 0.01) favours the first slots: well below the uniform mean 13.5
    assert slots.min() == 0 and slots.mean() < 10.0


def test_selective_copy_targets_are_the_data_tokens_in_order() -> None:
    split = selective_copy(300, 2, vocab_size=5, n_copy=6, seq_len=40)
    assert split.kind == "tag" and split.inputs.shape == (300, 40)
    assert (split.mask[:, 34:]).all() and not split.mask[:, :34].any()
    starts = set()
    for i in range(300):
        symbols = split.decode(i)
        region, markers = symbols[:34], symbols[34:]
        assert markers == ["="] * 6
        data = [s for s in region if s != "_"]
        assert len(data) == 6 and all(s.startswith("t") for s in data)
        assert split.vocab.decode(split.targets[i, 34:]) == data
        starts.add(next(t for t, s in enumerate(region) if s != "_"))
    assert len(starts) > 10  # the positions vary between sequences (selective, not plain copy)


def test_parity_labels_and_longer_test_strings() -> None:
    splits = synthetic_splits("parity", seed=3, sizes=(400, 200, 200), seq_len=12,
                              test_len=30, modulus=2)
    assert splits.params == {"seq_len": 12, "test_len": 30, "modulus": 2}
    train, valid, test = splits.train, splits.valid, splits.test
    assert train.lengths.min() == 1 and train.lengths.max() == 12
    for long in (valid, test):
        assert long.lengths.min() >= 13 and long.lengths.max() <= 30
        assert long.lengths.max() > train.lengths.max()
    for split in (train, valid, test):
        assert split.kind == "tag" and split.n_classes == 2
        ones = (split.inputs == split.vocab.index("1")).sum(axis=1)
        rows = np.arange(len(split))
        assert split.mask.sum() == len(split) and split.mask[rows, split.lengths - 1].all()
        assert np.array_equal(split.targets[rows, split.lengths - 1], ones % 2)
        assert set(np.unique(split.targets[split.mask])) == {0, 1}
        assert (split.inputs[~split.valid] == 0).all()


def test_modular_counting_with_another_modulus() -> None:
    split = parity(500, 0, modulus=3, min_len=5, max_len=9)
    ones = (split.inputs == 2).sum(axis=1)
    assert np.array_equal(split.targets[split.mask], ones % 3)
    assert set(split.targets[split.mask].tolist()) == {0, 1, 2} and split.n_classes == 3


def test_waveform_is_one_normalised_signal_per_seed() -> None:
    a = waveform(3, 7, seq_len=200)
    assert a.kind == "series" and a.inputs.shape == (3, 200, 1) and (a.inputs == 1).all()
    assert a.targets.shape == (3, 200) and a.mask.all()
    assert np.array_equal(a.targets[0], a.targets[2])  # copies of one signal
    assert np.array_equal(a.targets[0], waveform_signal(7, seq_len=200))
    assert np.array_equal(a.targets, waveform(3, 7, seq_len=200).targets)
    assert not np.allclose(a.targets[0], waveform(1, 8, seq_len=200).targets[0])
    signal = a.targets[0].astype(np.float64)
    assert abs(signal.mean()) < 1e-5 and np.abs(signal).max() == pytest.approx(1.0)
    # several periods: the signal is not one sinusoid (its spectrum has several peaks)
    power = np.abs(np.fft.rfft(signal)) ** 2
    assert (power > 0.05 * power.max()).sum() >= 2


def test_tag_and_series_batches_have_a_target_per_step() -> None:
    tag = next(synthetic_batches(parity(10, 0, max_len=7), 4))
    t = int(tag.lengths.max())
    assert tag.targets.shape == tag.mask.shape == (t, 4)
    series = next(synthetic_batches(waveform(6, 0, seq_len=30), 4))
    assert series.inputs.shape == (30, 4, 1) and series.targets.shape == (30, 4)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: mqar(2, 0, n_pairs=4, n_queries=5), "n_queries <= n_pairs"),
    (lambda: mqar(2, 0, vocab_size=10, n_pairs=8), "vocab_size 10 is too small"),
    (lambda: mqar(2, 0, n_pairs=8, seq_len=30), "need seq_len >= 32"),
    (lambda: selective_copy(2, 0, n_copy=8, seq_len=15), "need seq_len >= 16"),
    (lambda: selective_copy(2, 0, vocab_size=0), "vocab_size >= 1"),
    (lambda: parity(2, 0, modulus=1), "modulus must be >= 2"),
    (lambda: synthetic_splits("parity", sizes=(2, 2, 2), seq_len=20, test_len=20),
     r"test_len \(20\) must be greater than seq_len \(20\)"),
    (lambda: waveform(2, 0, seq_len=1), "seq_len >= 2"),
])
def test_bad_parameters_are_named(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
