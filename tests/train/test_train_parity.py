"""The whole training loop with the compiled ``lstm`` equals the same loop with torch.nn.LSTM.

Both language models start from the same weights (torch's LSTM weights copied into the
compiled stack with ``load_torch_weights``; embedding and decoder copied), train for one epoch
on a slice of PTB in float64 with the same seed, and must give the same loss at every batch.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from helpers_train import tiny_model, tiny_train

from lstm_search import zoo
from lstm_search.config import TaskConfig
from lstm_search.evaluate import build_model
from lstm_search.nn import LanguageModel, load_torch_weights
from lstm_search.tasks import make_task
from lstm_search.train import train


@pytest.mark.parametrize("backend", ["script", "eager"])
def test_compiled_lstm_training_matches_torch_lstm(shared_data: Path, backend: str) -> None:
    task = make_task(TaskConfig(name="ptb", data_dir=str(shared_data), subset=0.002,
                                eval_subset=0.005))
    model_cfg = tiny_model(hidden_size=16, num_layers=2, backend=backend)
    train_cfg = tiny_train(dtype="float64", batch_size=4, bptt=10, lr=1.0,
                           loss_reduction="sum_time", eval_batch_size=10)

    torch.manual_seed(3)
    reference = LanguageModel(torch.nn.LSTM(16, 16, num_layers=2), vocab_size=task.vocab_size,
                              hidden_size=16)
    compiled = build_model(zoo.get("lstm"), task, model_cfg, train_cfg, seed=11)
    load_torch_weights(compiled.rnn, reference.rnn)
    compiled.embedding.load_state_dict(reference.embedding.state_dict())
    compiled.decoder.load_state_dict(reference.decoder.state_dict())

    curves: dict[str, list[float]] = {"reference": [], "compiled": []}
    outcomes = {}
    for name, net in (("reference", reference), ("compiled", compiled)):
        outcomes[name] = train(net, task, train_cfg, seed=5,
                               on_batch=lambda e, b, loss, name=name: curves[name].append(loss))
    ref, got = outcomes["reference"], outcomes["compiled"]
    assert ref.status == got.status == "complete"
    assert len(curves["reference"]) == len(curves["compiled"]) > 20
    # training actually moved the loss (not a vacuous comparison of constants)
    assert curves["reference"][-1] < curves["reference"][0] - 0.5
    for i, (a, b) in enumerate(zip(curves["reference"], curves["compiled"])):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9), f"batch {i + 1}: {a} vs {b}"
    for key in ("valid.nll", "test.nll", "train.loss"):
        assert math.isclose(ref.metrics[key], got.metrics[key], rel_tol=1e-9), key
    assert dataclasses.asdict(ref)["best_epoch"] == got.best_epoch == 1
