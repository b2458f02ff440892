"""Synthetic tasks: determinism by seed, correct answers, well-formed XML, aligned masks."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import torch

from lstm_search.data import (
    EOS,
    SYNTHETIC_TASKS,
    SyntheticSplit,
    adding,
    arithmetic,
    memorize,
    recall,
    synthetic_batches,
    synthetic_splits,
    xml,
)

SMALL = (200, 50, 50)


def _arrays(split: SyntheticSplit) -> list[np.ndarray]:
    return [split.inputs, split.targets, split.mask, split.lengths]


def _equal(a: SyntheticSplit, b: SyntheticSplit) -> bool:
    return all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(_arrays(a), _arrays(b)))


def _scored_symbols(split: SyntheticSplit, i: int) -> list[str]:
    return split.vocab.decode(split.targets[i][split.mask[i]])


@pytest.mark.parametrize("name", list(SYNTHETIC_TASKS))
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    np.random.seed(1)  # the global state must play no part
    a = synthetic_splits(name, seed=7, sizes=SMALL)
    np.random.seed(2)
    b = synthetic_splits(name, seed=7, sizes=SMALL)
    c = synthetic_splits(name, seed=8, sizes=SMALL)
    for split in ("train", "valid", "test"):
        assert _equal(a.split(split), b.split(split))
        assert not _equal(a.split(split), c.split(split))
    if name == "waveform":  # one signal to generate, without input: the same in every split
        signals = [a.split(s).targets for s in ("train", "valid", "test")]
        assert all(np.array_equal(t, signals[0][: len(t)]) for t in signals)
    else:
        assert not _equal(a.train, a.valid) and not _equal(a.valid, a.test)
    # a generator object is accepted in place of a seed
    gen = SYNTHETIC_TASKS[name]
    assert _equal(gen(30, np.random.default_rng(5)), gen(30, 5))


def test_valid_and_test_do_not_depend_on_training_size() -> None:
    small = synthetic_splits("arithmetic", seed=3, sizes=(100, 40, 40))
    large = synthetic_splits("arithmetic", seed=3, sizes=(500, 40, 40))
    assert _equal(small.valid, large.valid) and _equal(small.test, large.test)
    assert len(large.train) == 500


@pytest.mark.parametrize("name", ["arithmetic", "xml", "memorize"])
def test_lm_masks_align(name: str) -> None:
    split = SYNTHETIC_TASKS[name](300, 0)
    valid = split.valid
    assert split.kind == "lm" and split.inputs.shape == split.targets.shape == split.mask.shape
    assert (split.mask <= valid).all() and split.mask.any(axis=1).all()
    assert (split.inputs[~valid] == 0).all() and (split.targets[~valid] == 0).all()
    # targets are the inputs shifted by one step
    inner = valid[:, 1:]
    assert np.array_equal(split.inputs[:, 1:][inner], split.targets[:, :-1][inner])
    # the full sequence, decoded, is the generated text (+ <eos> where the task has one)
    for i in range(5):
        symbols = [*split.decode(i), split.vocab.itos[split.targets[i, split.lengths[i] - 1]]]
        assert "".join(s for s in symbols if s != EOS) == split.text[i]


def test_arithmetic_answers_are_right() -> None:
    split = arithmetic(2000, 11, max_digits=8)
    n_letters = 0
    for i, text in enumerate(split.text):
        m = re.fullmatch(r"([0-9a-z]+)([+-])([0-9a-z]+)=(-?\d+)", text)
        assert m, text
        a_text, op, b_text, answer = m.groups()
        a, b = re.sub("[a-z]", "", a_text), re.sub("[a-z]", "", b_text)
        assert a[0].isdigit() and b[0].isdigit()  # letters only follow characters
        assert 1 <= len(a) <= 8 and 1 <= len(b) <= 8
        assert (len(a) == 1 or a[0] != "0") and (len(b) == 1 or b[0] != "0")
        expected = int(a) + int(b) if op == "+" else int(a) - int(b)
        assert int(answer) == expected and answer == str(expected)
        assert _scored_symbols(split, i) == [*answer, EOS]
        n_letters += len(re.findall("[a-z]", text))
    assert n_letters > 0
    ops = [re.search(r"[+-]", t.split("=")[0]).group() for t in split.text]
    assert 0.4 < ops.count("+") / len(ops) < 0.6
    digits = [
        len(re.sub("[a-z]", "", t.split("=")[0]).split("+")[0].split("-")[0]) for t in split.text
    ]
    assert set(digits) == set(range(1, 9))
    plain = arithmetic(50, 0, distractor_p=0.0)
    assert not any(re.search("[a-z]", t) for t in plain.text)


def _check_xml(text: str, max_steps: int) -> None:
    stack: list[str] = []
    opened = 0
    pos = 0
    for m in re.finditer(r"<(/?)([a-z]+)>", text):
        assert m.start() == pos, f"stray characters in {text!r}"
        pos = m.end()
        closing, name = m.groups()
        assert 2 <= len(name) <= 10
        if closing:
            assert stack and stack.pop() == name, f"close of {name!r} does not match in {text!r}"
        else:
            stack.append(name)
            opened += 1
    assert pos == len(text) and not stack and opened >= 1
    assert opened <= max_steps
    ET.fromstring(f"<root>{text}</root>")  # a real XML parser agrees


def test_xml_is_well_formed_and_closing_tags_are_scored() -> None:
    split = xml(500, 4, max_steps=50)
    for i, text in enumerate(split.text):
        _check_xml(text, 50)
        closing = "".join(f"{name}>" for name in re.findall(r"</([a-z]+)>", text))
        assert "".join(_scored_symbols(split, i)) == closing
    assert max(len(re.findall(r"<[a-z]", t)) for t in split.text) > 5  # some nesting happens
    short = xml(200, 4, max_steps=3)
    for text in short.text:
        _check_xml(text, 3)


def test_memorize_reproduces_the_symbols() -> None:
    split = memorize(300, 2, n_symbols=5, alphabet=26)
    assert split.inputs.shape == (300, 10)
    for i, text in enumerate(split.text):
        head, tail = text.split("=")
        assert head == tail and len(head) == 5
        assert "".join(_scored_symbols(split, i)) == head
    assert len(set(split.text)) > 290


def test_adding_targets_are_the_sum_of_the_marked_values() -> None:
    split = adding(400, 9, length=60)
    assert split.kind == "regress" and split.inputs.shape == (400, 60, 2)
    values, markers = split.inputs[..., 0], split.inputs[..., 1]
    assert (markers.sum(axis=1) == 2).all()
    assert (markers[:, :30].sum(axis=1) == 1).all() and (markers[:, 30:].sum(axis=1) == 1).all()
    np.testing.assert_allclose(split.targets, (values * markers).sum(axis=1), rtol=1e-6)
    assert split.mask.sum() == 400 and split.mask[:, -1].all()
    assert values.min() >= 0.0 and values.max() < 1.0


@pytest.mark.parametrize("lag", [0, 7, 150])
def test_recall_target_is_the_first_token(lag: int) -> None:
    split = recall(500, 3, lag=lag, n_classes=6, n_distractors=10)
    assert split.kind == "classify" and split.inputs.shape == (500, lag + 2)
    assert split.n_classes == 6 and set(split.targets.tolist()) == set(range(6))
    for i in range(20):
        symbols = split.decode(i)
        assert symbols[0] == f"c{split.targets[i]}" and symbols[-1] == "?"
        assert all(s.startswith("d") for s in symbols[1:-1]) and len(symbols) == lag + 2
    assert split.mask.sum() == 500 and split.mask[:, -1].all()


def test_synthetic_batches_are_time_major_and_cover_the_split() -> None:
    split = arithmetic(70, 1)
    batches = list(synthetic_batches(split, 32, seed=0))
    assert [b.lengths.numel() for b in batches] == [32, 32, 6]
    for b in batches:
        t = int(b.lengths.max())
        assert b.inputs.shape == b.targets.shape == b.mask.shape == (t, b.lengths.numel())
        assert torch.equal(b.valid.sum(0), b.lengths)
    assert sum(int(b.mask.sum()) for b in batches) == int(split.mask.sum())
    first = next(synthetic_batches(split, 4))
    assert torch.equal(
        first.inputs[:, 0][: split.lengths[0]],
        torch.from_numpy(split.inputs[0][: split.lengths[0]]),
    )
    cls = next(synthetic_batches(recall(10, 0, lag=5), 4))
    assert cls.inputs.shape == (7, 4) and cls.targets.shape == (4,)
    reg = next(synthetic_batches(adding(10, 0, length=12), 4))
    assert reg.inputs.shape == (12, 4, 2) and reg.targets.dtype == torch.float32


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ValueError, match="unknown synthetic task 'copy'"):
        synthetic_splits("copy")
    with pytest.raises(ValueError, match="max_digits"):
        arithmetic(5, 0, max_digits=0)
    with pytest.raises(ValueError, match="lag >= 0"):
        recall(5, 0, lag=-1)
    with pytest.raises(TypeError, match="seed must be an int"):
        memorize(5, "zero")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="three positive counts"):
        synthetic_splits("adding", sizes=(10, 0, 10))
