"""evaluate_candidate: the one door; invalid genomes, hyperparameters, curves, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_train import tiny_model, tiny_synthetic, tiny_train

from lstm_search import zoo
from lstm_search.config import ConfigError
from lstm_search.evaluate import apply_hparams, evaluate_candidate, resolve_candidate
from lstm_search.results import ResultsWriter, load_curves


def test_complete_row_and_curves(tmp_path: Path) -> None:
    writer = ResultsWriter(tmp_path / "exp" / "run1")
    seen: list[int] = []
    result = evaluate_candidate(
        resolve_candidate(zoo.get("cifg"), "cifg", {"lr": 0.3, "hidden_size": 10}, seed=2,
                          task=tiny_synthetic("recall", gap=3), model=tiny_model(),
                          train=tiny_train(epochs=2)),
        experiment="exp", run="run1", trial=4, writer=writer,
        on_eval=lambda epoch, metrics, final: seen.append(epoch))
    assert result.status == "complete", result.error
    assert (result.experiment, result.run, result.trial, result.cell) == ("exp", "run1", 4,
                                                                           "cifg")
    assert result.hparams == {"lr": 0.3, "hidden_size": 10} and seen == [1, 2]
    assert result.objective_name == "valid.acc" and result.direction == "maximize"
    assert result.objective == result.metrics["valid.acc"]
    assert {"test.acc", "test.nll", "valid.nll", "train.loss"} <= set(result.metrics)
    assert result.epochs == 2 and result.best_epoch in (1, 2)
    assert result.genome_id and json.loads(result.genome)["states"]
    assert result.n_params > 0 and result.tokens_per_second > 0 and result.device == "cpu"
    assert result.torch_version and result.start_time and result.end_time
    curves = load_curves(tmp_path)
    assert list(curves["epoch"]) == [1, 2] and set(curves["trial"]) == {4}
    assert not writer.trials_path.exists()  # the caller appends the row, once


def test_invalid_genome_gives_an_invalid_row_without_training() -> None:
    bad = zoo.get("lstm").replace(output="nowhere")
    result = evaluate_candidate(resolve_candidate(bad, "", {}, task=tiny_synthetic("recall"),
                                                  model=tiny_model(), train=tiny_train()))
    assert result.status == "invalid" and "nowhere" in result.error
    assert result.cell == "cell-invalid"
    assert result.epochs == 0 and result.metrics == {}


def test_training_error_gives_a_failed_row() -> None:
    # hidden size 0 cannot be built: the row says why instead of raising
    result = evaluate_candidate(resolve_candidate(
        zoo.get("gru"), "gru", {"hidden_size": 0}, task=tiny_synthetic("recall"),
        model=tiny_model(), train=tiny_train()))
    assert result.status == "failed" and result.error


def test_pruned_row_keeps_best_metrics() -> None:
    result = evaluate_candidate(resolve_candidate(zoo.get("gru"), "gru", {},
                                                  task=tiny_synthetic("recall"),
                                                  model=tiny_model(), train=tiny_train(epochs=3)),
                                on_eval=lambda e, m, final: True)
    assert result.status == "pruned" and result.epochs == 1
    assert "valid.acc" in result.metrics and result.objective is not None


def test_hparams_split_between_model_and_train() -> None:
    model, train = apply_hparams({"lr": "0.1", "hidden_size": 64, "train.momentum": 0.5,
                                  "model.dropout": 0.2}, tiny_model(), tiny_train())
    assert (train.lr, train.momentum, model.hidden_size, model.dropout) == (0.1, 0.5, 64, 0.2)
    with pytest.raises(ConfigError, match="unknown hyperparameter 'learning_rate'"):
        apply_hparams({"learning_rate": 0.1}, tiny_model(), tiny_train())
