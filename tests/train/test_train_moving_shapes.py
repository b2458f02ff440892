"""The task ``moving_shapes`` (next frame of bouncing squares, Shi et al. 2015's ConvLSTM
against FC-LSTM comparison): the generated frames (seeded, shapes, bounces), batches, the loss
and metrics, the options it refuses, and a one-epoch training run of the convolutional model
(``convlstm``) and of the FC-LSTM (``lstm``) through the trainer and through
``lstm-search train``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers_train import build, tiny_model, tiny_train

from lstm_search.config import ConfigError, TaskConfig
from lstm_search.nn import FramePredictor
from lstm_search.tasks import check_task_config, make_task, task_objective
from lstm_search.tasks._frames import SIZE, moving_shapes
from lstm_search.train import train

TINY = {"n_train": 16, "n_valid": 8, "n_test": 8, "seq_len": 5}


def test_frames_are_seeded_binary_squares_that_move_and_stay_inside() -> None:
    a, b, c = moving_shapes(20, 8, seed=3), moving_shapes(20, 8, seed=3), \
        moving_shapes(20, 8, seed=4)
    assert a.shape == (20, 8, SIZE, SIZE) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert set(np.unique(a)) == {0, 1}
    lit = a.reshape(20, 8, -1).sum(-1)
    assert (lit >= 9).all() and (lit <= 2 * 16).all()  # 1-2 squares of side 3 or 4
    one = [i for i in range(20) if lit[i].min() == lit[i].max() and lit[i, 0] in (9, 16)]
    assert one  # a single square keeps its area while it moves ...
    i = one[0]
    moved = [not np.array_equal(a[i, t], a[i, t + 1]) for t in range(7)]
    assert all(moved)  # ... and moves every frame (speeds are never 0)


def test_a_square_bounces_off_the_border() -> None:
    from lstm_search.tasks._frames import _bounce

    assert _bounce(11, 2, 12) == (11, -2)  # 13 reflected at 12
    assert _bounce(1, -2, 12) == (1, 2)  # -1 reflected at 0
    assert _bounce(5, 1, 12) == (6, 1)


def test_batches_pair_each_frame_with_the_next_and_the_splits_differ() -> None:
    task = make_task(TaskConfig(name="moving_shapes", **TINY))  # type: ignore[arg-type]
    batches = list(task.batches("train", 6, 0))
    assert [b.x.shape for b in batches] == [(5, 6, 1, SIZE, SIZE)] * 2 + [(5, 4, 1, SIZE, SIZE)]
    b = batches[0]
    assert b.n == 5 * 6 and torch.equal(b.x[1:], b.y[:-1])
    assert not torch.equal(next(task.batches("valid", 6, 0)).x,
                           next(task.batches("test", 6, 0)).x)
    again = make_task(TaskConfig(name="moving_shapes", **TINY))  # type: ignore[arg-type]
    assert torch.equal(next(again.batches("train", 6, 0)).y, b.y)
    other = make_task(TaskConfig(name="moving_shapes", data_seed=7,
                                 **TINY))  # type: ignore[arg-type]
    assert not torch.equal(next(other.batches("train", 6, 0)).y, b.y)
    assert task.n_batches("train", 6, 0) == 3


def test_loss_and_metrics() -> None:
    task = make_task(TaskConfig(name="moving_shapes", **TINY))  # type: ignore[arg-type]
    b = next(task.batches("valid", 8, 0))
    zero = torch.zeros_like(b.y)  # logits 0: probability 1/2 everywhere
    assert task.loss(zero, b).item() == pytest.approx(math.log(2) * b.y.numel())
    m = task.summarize(task.score(zero, b))
    assert m["bce"] == pytest.approx(math.log(2)) and m["mse"] == pytest.approx(0.25)
    sure = (b.y * 2 - 1) * 30.0  # confident and right
    m = task.summarize(task.score(sure, b))
    assert m["bce"] < 1e-10 and m["mse"] < 1e-20
    assert task_objective("moving_shapes") == (task.objective_name, task.direction) \
        == ("valid.bce", "minimize")
    logits = torch.randn(b.y.shape)
    want = F.binary_cross_entropy_with_logits(logits, b.y, reduction="mean").item()
    assert task.summarize(task.score(logits, b))["bce"] == pytest.approx(want)


def test_options_of_other_tasks_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"task\.gap is not an option of task "
                                          r"'moving_shapes' \(its options: task\.seq_len\)"):
        check_task_config(TaskConfig(name="moving_shapes", gap=3))
    with pytest.raises(ConfigError, match=r"task\.n_pairs is not an option"):
        make_task(TaskConfig(name="moving_shapes", n_pairs=3))


@pytest.mark.parametrize("cell,spatial", [("convlstm", True), ("lstm", False)])
def test_one_epoch_of_each_model(cell: str, spatial: bool) -> None:
    cfg = tiny_train(epochs=1, optimizer="adam", lr=0.01)
    task_cfg = TaskConfig(name="moving_shapes", **TINY)  # type: ignore[arg-type]
    task, net = build(task_cfg, tiny_model(hidden_size=4 if spatial else 16), cfg, cell=cell)
    assert isinstance(net, FramePredictor) and net.spatial is spatial
    assert getattr(net.rnn, "spatial", None) == ((SIZE, SIZE) if spatial else None)
    y, _ = net(next(task.batches("train", 3, 0)).x)
    assert y.shape == (5, 3, 1, SIZE, SIZE)
    outcome = train(net, task, cfg, seed=0)
    assert outcome.status == "complete", outcome.error
    assert 0.0 < outcome.metrics["test.bce"] < 1.0 and math.isfinite(outcome.objective)


def test_train_command_trains_the_convolutional_model(
        capsys: pytest.CaptureFixture[str]) -> None:
    from lstm_search.cli import main

    assert main(["train", "--cell", "convlstm", "--task", "moving_shapes", "--preset", "smoke",
                 "--set", "task.n_train=8", "--set", "task.n_valid=4", "--set",
                 "task.n_test=4", "--set", "task.seq_len=4", "--set", "model.hidden_size=4",
                 "--set", "model.num_layers=2", "--set", "train.threads=1", "--no-progress",
                 "--epochs", "1"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["objective_name"] == "valid.bce" and result["status"] == "complete"
    # two layers of 4 channels over 16x16 maps with 1 input channel, plus the 1x1 conv head
    k2, hw = 9, SIZE * SIZE
    layers = (16 * k2 * (1 + 4) + 16 + 12 * hw) + (16 * k2 * (4 + 4) + 16 + 12 * hw)
    assert result["n_params"] == layers + 4 + 1


def test_a_spatial_cell_on_a_task_of_vectors_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"convlstm is a cell of spatial values.*moving_shapes"):
        build(TaskConfig(name="adding", n_train=4, n_valid=2, n_test=2, seq_len=5),
              tiny_model(), tiny_train(), cell="convlstm")
