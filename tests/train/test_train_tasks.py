"""Every task builds its model and trains one tiny epoch; metrics have the task's names."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers_train import build, tiny_model, tiny_synthetic, tiny_train

from lstm_search.config import ConfigError, TaskConfig
from lstm_search.nn import PianoRollModel
from lstm_search.tasks import make_task, task_names
from lstm_search.train import train

SYNTHETIC = {"arithmetic": "acc", "xml": "acc", "memorize": "acc", "adding": "mse",
             "recall": "acc", "mqar": "acc", "selective_copy": "acc", "parity": "acc",
             "waveform": "nmse"}
CORPORA = {"ptb": ("ppl", 0.001), "ptb_char": ("bpc", 0.0005), "wikitext2": ("ppl", 0.0005),
           "jsb": ("nll", 0.05), "nottingham": ("nll", 0.01), "musedata": ("nll", 0.01),
           "piano_midi": ("nll", 0.03)}


FRAMES = {"moving_shapes": "bce"}  # tests/train/test_train_moving_shapes.py


def test_registry_covers_every_task() -> None:
    assert set(task_names()) == set(SYNTHETIC) | set(CORPORA) | set(FRAMES)
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        make_task(TaskConfig(name="nope"))


def _check(task_name: str, objective: str, outcome: object, task: object) -> None:
    assert outcome.status == "complete", outcome.error
    assert task.objective_name == f"valid.{objective}"
    assert task.direction == ("maximize" if objective == "acc" else "minimize")
    for split in ("valid", "test"):
        value = outcome.metrics[f"{split}.{objective}"]
        assert math.isfinite(value)
        if objective == "acc":
            assert 0.0 <= value <= 1.0


@pytest.mark.parametrize(("name", "objective"), sorted(SYNTHETIC.items()))
def test_synthetic_task_trains_one_epoch(name: str, objective: str) -> None:
    cfg = tiny_train()
    task, net = build(tiny_synthetic(name), tiny_model(), cfg, cell="gru")
    _check(name, objective, train(net, task, cfg, seed=0), task)


@pytest.mark.parametrize(("name", "spec"), sorted(CORPORA.items()))
def test_corpus_task_trains_one_epoch(shared_data: Path, name: str,
                                      spec: tuple[str, float]) -> None:
    objective, fraction = spec
    cfg = tiny_train(eval_batch_size=16)
    task_cfg = TaskConfig(name=name, data_dir=str(shared_data), subset=fraction,
                          eval_subset=fraction)
    task, net = build(task_cfg, tiny_model(), cfg)
    outcome = train(net, task, cfg, seed=0)
    _check(name, objective, outcome, task)
    if objective == "ppl":  # perplexity is exp of the per-token nll
        assert outcome.metrics["valid.ppl"] == pytest.approx(
            math.exp(outcome.metrics["valid.nll"]))
    if objective == "bpc":
        assert outcome.metrics["valid.bpc"] == pytest.approx(
            outcome.metrics["valid.nll"] / math.log(2))


def test_music_frame_nll_sums_keys_and_averages_frames(shared_data: Path) -> None:
    # Boulanger-Lewandowski et al. 2012: -sum_k log p(key k) per frame, averaged over frames;
    # an untrained model with all logits 0 gives 88 * ln 2 per frame
    task = make_task(TaskConfig(name="jsb", data_dir=str(shared_data), eval_subset=0.05))
    _, net = build(TaskConfig(name="jsb", data_dir=str(shared_data), eval_subset=0.05),
                   tiny_model(), tiny_train())
    assert isinstance(net, PianoRollModel)
    with torch.no_grad():
        net.decoder.weight.zero_()
        net.decoder.bias.zero_()
    from lstm_search.train import evaluate_split

    metrics = evaluate_split(net, task, "valid", batch_size=4, bptt=10,
                             device=torch.device("cpu"))
    assert metrics["nll"] == pytest.approx(88 * math.log(2), rel=1e-5)


def test_language_model_weight_tying_and_dropout() -> None:
    from lstm_search.nn import LanguageModel

    lm = LanguageModel(torch.nn.LSTM(8, 8), vocab_size=20, hidden_size=8, tie_weights=True,
                       dropout=0.5)
    assert lm.decoder.weight is lm.embedding.weight
    with pytest.raises(ValueError, match="tie_weights needs embed_size == hidden_size"):
        LanguageModel(torch.nn.LSTM(4, 8), vocab_size=20, hidden_size=8, embed_size=4,
                      tie_weights=True)
    lm.eval()
    x = torch.randint(0, 20, (5, 2))
    out1, _ = lm(x)
    out2, _ = lm(x)
    assert torch.equal(out1, out2)  # no dropout in eval mode
    lm.train()
    assert not torch.equal(lm(x)[0], lm(x)[0])  # dropout on non-recurrent connections
