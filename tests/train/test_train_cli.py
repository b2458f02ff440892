"""``lstm-search train`` end to end on a synthetic task; --set and data errors exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lstm_search import zoo
from lstm_search.cli import main

TINY = ["--preset", "smoke", "--set", "task.n_train=32", "--set", "task.n_valid=16",
        "--set", "task.n_test=16", "--set", "train.threads=1", "--no-progress"]


def test_train_prints_epochs_and_a_final_trial_result(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    code = main(["train", "--cell", "gru", "--task", "recall", "--set", "task.gap=4",
                 "--epochs", "2", "--seed", "5", "--json", *TINY])
    captured = capsys.readouterr()
    out = captured.out.strip().splitlines()
    assert code == 0
    epochs = [json.loads(line) for line in out[:-1]]
    assert [e["epoch"] for e in epochs] == [1, 2]
    result = json.loads(out[-1])
    # before training, on stderr: the size (the count the row records) and an epoch's time
    first = captured.err.splitlines()[0]
    assert first.startswith("lstm-search train: gru on recall: ")
    assert f"{result['n_params']:,} parameters" in first and "per epoch here" in first
    assert result["status"] == "complete" and result["cell"] == "gru"
    assert result["task"] == "recall" and result["seed"] == 5 and result["epochs"] == 2
    assert result["objective_name"] == "valid.acc" and result["direction"] == "maximize"
    assert "test.acc" in result["metrics"] and result["n_params"] > 0


def test_train_reads_a_genome_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cell.json"
    path.write_text(zoo.get("mut1").to_json())
    code = main(["train", "--cell", str(path), "--task", "adding", "--set", "task.seq_len=6",
                 *TINY])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert json.loads(out[-1])["metrics"]["test.mse"] >= 0
    assert out[0].startswith("epoch 1: lr 1")


@pytest.mark.parametrize(("args", "message"), [
    (["--cell", "lstm", "--task", "recall", "--set", "train.lrr=1"],
     "unknown configuration key 'train.lrr'"),
    (["--cell", "lstm", "--task", "recall", "--set", "train.lr=fast"],
     "bad value for 'train.lr': 'fast' is not a number"),
    (["--cell", "lstm", "--task", "recall", "--set", "train.lr"], "expected KEY=VALUE"),
    (["--cell", "lstm", "--task", "recall", "--preset", "nope"], "unknown preset 'nope'"),
    (["--cell", "nope", "--task", "recall"], "'nope' is neither a zoo cell"),
    (["--cell", "lstm", "--task", "nope"], "unknown task 'nope'"),
    (["--cell", "lstm", "--task", "recall", "--set", "train.lr=nan"], "'train.lr'"),
    (["--cell", "lstm", "--task", "recall", "--set", "train.lr=-1"], "finite number > 0"),
    (["--cell", "lstm", "--task", "recall", "--set", "train.epochs=0"], "'train.epochs'"),
    (["--cell", "lstm", "--task", "recall", "--set", "task.gap=-5"], "'task.gap'"),
])
def test_bad_usage_exits_2_with_a_message(args: list[str], message: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_data_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    assert main(["train", "--cell", "lstm", "--task", "ptb", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "dataset 'ptb'" in err and "ptb.train.txt" in err and "Traceback" not in err


def test_diverging_run_exits_1_with_status_failed(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["train", "--cell", "rnn_tanh", "--task", "adding", "--set", "train.lr=1e30",
                 "--set", "train.clip=none", "--set", "task.seq_len=6", *TINY])
    captured = capsys.readouterr()
    assert code == 1
    result = json.loads(captured.out.strip().splitlines()[-1])
    assert result["status"] == "failed" and "training loss is" in result["error"]


def test_smoke_preset_shrinks_a_synthetic_task_and_a_corpus() -> None:
    from lstm_search.cli._train import _smoke_task

    assert _smoke_task("recall") == {"task.n_train": "1024", "task.n_valid": "256",
                                     "task.n_test": "256"}
    assert _smoke_task("ptb") == {"task.subset": "0.05"}


def test_epoch_estimate_is_the_median_step_times_the_batches(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that advances 0.125 s per reading: each timed step lasts 0.125 s, timing goes on
    until 1 s was timed (8 steps), and the model and the random state are left as they were."""
    import itertools

    import torch

    from lstm_search import zoo
    from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
    from lstm_search.evaluate import build_model
    from lstm_search.tasks import make_task
    from lstm_search.train import _estimate, estimate_epoch_seconds

    task = make_task(TaskConfig(name="recall", gap=4, n_train=64, n_valid=16, n_test=16))
    train = TrainConfig(batch_size=16, progress=False)
    net = build_model(zoo.get("gru"), task, ModelConfig(hidden_size=8, num_layers=1), train,
                      seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    ticks = itertools.count()
    monkeypatch.setattr(_estimate, "_now", lambda: next(ticks) * 0.125)
    seconds, batches = estimate_epoch_seconds(net, task, train, warmup=1)
    assert batches == 4 and seconds == pytest.approx(0.125 * 4)
    assert next(ticks) == 1 + 2 * 8  # warm-up: one reading; then 8 steps of 0.125 s = 1 s
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    assert torch.equal(rng, torch.get_rng_state())
