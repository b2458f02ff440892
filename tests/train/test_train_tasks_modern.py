"""The tasks mqar, selective_copy, parity and waveform: options and their errors, where the
loss is taken, what the metrics mean, a tiny training run each, and selection from an
experiment with ``--set task.name=...``."""

from __future__ import annotations

import math

import pytest
import torch
from helpers_train import build, tiny_model, tiny_train

from lstm_search import zoo
from lstm_search.config import ConfigError, SettingRangeError, TaskConfig, apply_overrides
from lstm_search.nn import NextStepClassifier, StepRegressor
from lstm_search.tasks import Task, check_task_config, make_task
from lstm_search.train import train

TINY = {  # a few seconds of CPU at most
    "mqar": {"vocab_size": 8, "n_pairs": 2, "seq_len": 8},
    "selective_copy": {"vocab_size": 3, "n_copy": 2, "seq_len": 10},
    "parity": {"seq_len": 6, "test_len": 12},
    "waveform": {"seq_len": 24},
}
OBJECTIVES = {"mqar": ("acc", "maximize"), "selective_copy": ("acc", "maximize"),
              "parity": ("acc", "maximize"), "waveform": ("nmse", "minimize")}


def _task(name: str, **changes: object) -> Task:
    options = {**TINY[name], **changes}
    return make_task(TaskConfig(name=name, n_train=32, n_valid=16, n_test=16,
                                **options))  # type: ignore[arg-type]


def _all(task: Task, split: str) -> list:
    return list(task.batches(split, 8, 8))


@pytest.mark.parametrize(("config", "error", "message"), [
    (TaskConfig(name="mqar", gap=3), ConfigError,
     r"task\.gap is not an option of task 'mqar' \(its options: task\.vocab_size, "
     r"task\.n_pairs, task\.n_queries, task\.seq_len\); unset it with task\.gap=none"),
    (TaskConfig(name="waveform", n_copy=2), ConfigError, "task.n_copy is not an option"),
    (TaskConfig(name="recall", modulus=3), ConfigError, "task.modulus is not an option"),
    (TaskConfig(name="mqar", n_pairs=4, n_queries=5), SettingRangeError,
     r"task 'mqar' \(task\.n_pairs=4, task\.n_queries=5\): mqar: need .*n_queries <= n_pairs"),
    (TaskConfig(name="mqar", vocab_size=6, n_pairs=4), SettingRangeError,
     r"task\.vocab_size=6.*vocab_size 6 is too small"),
    (TaskConfig(name="selective_copy", n_copy=8, seq_len=12), SettingRangeError,
     r"task\.n_copy=8, task\.seq_len=12.*need seq_len >= 16"),
    (TaskConfig(name="parity", seq_len=10, test_len=10), SettingRangeError,
     r"test_len \(10\) must be greater than seq_len \(10\)"),
])
def test_bad_options_name_the_option(config: TaskConfig, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make_task(config)


def test_option_ranges_are_checked_with_the_config() -> None:
    with pytest.raises(SettingRangeError, match="modulus must be >= 2, got 1"):
        TaskConfig(name="parity", modulus=1)
    with pytest.raises(SettingRangeError, match="n_pairs must be >= 1, got 0"):
        apply_overrides(TaskConfig(), {"name": "mqar", "n_pairs": "0"})
    with pytest.raises(ConfigError, match="bad value for 'n_queries': 'many'"):
        apply_overrides(TaskConfig(), {"n_queries": "many"})
    check_task_config(TaskConfig(name="mqar", n_pairs=3))  # cheap check: no error, no data
    with pytest.raises(ConfigError, match="unknown task 'zoology'"):
        check_task_config(TaskConfig(name="zoology"))


def test_mqar_trains_and_scores_the_queries_only() -> None:
    task = _task("mqar")
    assert (task.objective_name, task.direction, task.unit) == ("valid.acc", "maximize",
                                                                "targets")
    batch = next(iter(task.batches("train", 8, 8, seed=0)))
    assert batch.mask is not None and batch.n == int(batch.mask.sum()) == 8 * 2  # 2 queries
    out = torch.randn(*batch.y.shape, task.n_classes, requires_grad=True)
    task.loss(out, batch).backward()
    touched = out.grad.abs().sum(-1) > 0  # (T, B)
    assert torch.equal(touched, batch.mask)


def test_next_symbol_tasks_still_train_on_every_real_step() -> None:
    task = make_task(TaskConfig(name="memorize", n_train=16, n_valid=8, n_test=8))
    batch = next(iter(task.batches("train", 8, 8)))
    out = torch.randn(*batch.y.shape, task.n_classes, requires_grad=True)
    task.loss(out, batch).backward()
    touched = out.grad.abs().sum(-1) > 0
    assert batch.mask is not None and (touched & ~batch.mask).any()
    assert batch.n == int(touched.sum())


@pytest.mark.parametrize("name", ["mqar", "selective_copy", "parity"])
def test_accuracy_is_one_for_the_targets_and_zero_for_wrong_ones(name: str) -> None:
    task = _task(name)
    for shift, expected in ((0, 1.0), (1, 0.0)):
        sums: dict[str, float] = {}
        for batch in _all(task, "test"):
            wrong = (batch.y + shift) % task.n_classes
            logits = 10.0 * torch.nn.functional.one_hot(wrong, task.n_classes).float()
            for k, v in task.score(logits, batch).items():
                sums[k] = sums.get(k, 0.0) + v
        metrics = task.summarize(sums)
        assert metrics["acc"] == expected
        assert (metrics["nll"] < 0.01) == (expected == 1.0)


def test_parity_validates_and_tests_on_longer_strings() -> None:
    task = _task("parity", modulus=3)
    assert task.n_classes == 3
    train_steps = max(b.x.shape[0] for b in _all(task, "train"))
    for split in ("valid", "test"):
        lengths = [int(b.mask.float().argmax(0).min()) + 1 for b in _all(task, split)]
        assert min(lengths) > train_steps == 6  # every long string beats the longest training
    batch = _all(task, "test")[0]
    assert batch.n == batch.x.shape[1]  # one scored answer per string, at its last bit


def test_waveform_nmse_is_zero_for_the_target_and_one_for_its_mean() -> None:
    task = _task("waveform")
    assert (task.objective_name, task.direction) == ("valid.nmse", "minimize")
    batches = _all(task, "valid")

    def nmse(predict: object) -> float:
        sums: dict[str, float] = {}
        for b in batches:
            for k, v in task.score(predict(b), b).items():  # type: ignore[operator]
                sums[k] = sums.get(k, 0.0) + v
        return task.summarize(sums)["nmse"]

    assert nmse(lambda b: b.y.clone()) == 0.0
    assert nmse(lambda b: b.y.mean(0, keepdim=True).expand_as(b.y)) == pytest.approx(1.0)
    assert nmse(lambda b: b.y + 0.5) > 1.0
    assert nmse(lambda b: 0.5 * b.y) == pytest.approx(0.25, rel=1e-5)


def test_waveform_is_the_same_signal_in_every_split_and_seeded() -> None:
    a, b = _task("waveform"), _task("waveform")
    c = make_task(TaskConfig(name="waveform", seq_len=24, data_seed=5))
    y = {s: _all(a, s)[0].y[:, 0] for s in ("train", "valid", "test")}
    assert torch.equal(y["train"], y["valid"]) and torch.equal(y["valid"], y["test"])
    assert torch.equal(y["train"], _all(b, "train")[0].y[:, 0])
    assert not torch.allclose(y["train"], _all(c, "train")[0].y[:, 0])
    assert len(_all(c, "valid")) == 1 and _all(c, "train")[0].x.shape == (24, 8, 1)


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_training_run(name: str) -> None:
    objective, direction = OBJECTIVES[name]
    cfg = tiny_train(epochs=3, optimizer="adam", lr=0.02)
    task_cfg = TaskConfig(name=name, n_train=32, n_valid=16, n_test=16,
                          **TINY[name])  # type: ignore[arg-type]
    task, net = build(task_cfg, tiny_model(), cfg, cell="gru")
    assert isinstance(net, StepRegressor if name == "waveform" else NextStepClassifier)
    outcome = train(net, task, cfg, seed=0)
    assert outcome.status == "complete", outcome.error
    assert task.objective_name == f"valid.{objective}" and task.direction == direction
    curve = [h[f"valid.{objective}"] for h in outcome.history]
    best = (max if direction == "maximize" else min)(curve)
    assert outcome.best_epoch is not None and curve[outcome.best_epoch - 1] == best
    assert outcome.objective == best
    value = outcome.metrics[f"test.{objective}"]
    assert math.isfinite(value) and value >= 0.0
    if objective == "acc":
        assert value <= 1.0


def test_an_experiment_selects_a_task_by_set() -> None:
    from lstm_search.evaluate import evaluate_candidate, resolve_candidate
    from lstm_search.experiment import ExperimentError, find_experiment, load_experiment
    from lstm_search.search._run import check_tasks

    exp = load_experiment(find_experiment("quickstart"))
    sets = {"task.name": "mqar", "task.n_pairs": "2", "task.vocab_size": "8",
            "task.seq_len": "8", "task.n_train": "32", "task.n_valid": "16",
            "task.n_test": "16", "train.epochs": "1", "model.hidden_size": "8"}
    with pytest.raises(ExperimentError, match=r"task\.gap is not an option of task 'mqar'"):
        check_tasks(exp.resolved(overrides=sets))  # quickstart's recall gap does not apply
    exp = exp.resolved(overrides={**sets, "task.gap": "none"})
    check_tasks(exp)
    candidate = resolve_candidate(zoo.get("gru"), "gru", {}, task=exp.task, model=exp.model,
                                  train=exp.train, seed=0)
    row = evaluate_candidate(candidate)
    assert row.status == "complete", row.error
    assert (row.task, row.objective_name, row.direction) == ("mqar", "valid.acc", "maximize")
    assert row.task_options["n_pairs"] == 2 and "gap" not in row.task_options
    assert 0.0 <= row.metrics["test.acc"] <= 1.0


def test_train_command_runs_a_new_task_and_names_a_bad_option(
        capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from lstm_search.cli import main

    tiny = ["--preset", "smoke", "--set", "task.n_train=16", "--set", "task.n_valid=1",
            "--set", "task.n_test=1", "--set", "task.seq_len=16", "--set", "train.threads=1",
            "--no-progress", "--epochs", "1"]
    assert main(["train", "--cell", "lstm", "--task", "waveform", *tiny]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["objective_name"] == "valid.nmse" and result["direction"] == "minimize"
    assert result["metrics"]["test.nmse"] >= 0.0
    assert main(["train", "--cell", "lstm", "--task", "parity", *tiny,
                 "--set", "task.test_len=8"]) == 2
    err = capsys.readouterr().err
    assert "test_len (8) must be greater than seq_len (16)" in err and "Traceback" not in err


def test_the_objective_table_is_what_each_task_reports() -> None:
    """``task_objective`` (used to refuse a study of the wrong direction before anything runs)
    agrees with the objective and direction of every task as built; the corpora from the
    classes, the synthetic tasks from a few generated sequences."""
    from lstm_search.tasks import OBJECTIVES, TASKS, task_objective
    from lstm_search.tasks._corpus import LanguageModelTask, MusicTask
    from lstm_search.tasks._synthetic import SYNTHETIC

    assert set(OBJECTIVES) == set(TASKS)
    for name in SYNTHETIC:
        task = make_task(TaskConfig(name=name, n_train=4, n_valid=2, n_test=2))
        assert task_objective(name) == (task.objective_name, task.direction), name
    for name in ("jsb", "nottingham", "musedata", "piano_midi"):
        assert task_objective(name) == (f"valid.{MusicTask.objective}", MusicTask.direction)
    assert LanguageModelTask.direction == "minimize"
    assert {task_objective(n) for n in ("ptb", "wikitext2")} == {("valid.ppl", "minimize")}
    assert task_objective("ptb_char") == ("valid.bpc", "minimize")
    task = make_task(TaskConfig(name="moving_shapes", n_train=2, n_valid=1, n_test=1))
    assert task_objective("moving_shapes") == (task.objective_name, task.direction)
