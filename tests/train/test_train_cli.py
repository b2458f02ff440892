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
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    epochs = [json.loads(line) for line in out[:-1]]
    assert [e["epoch"] for e in epochs] == [1, 2]
    result = json.loads(out[-1])
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
