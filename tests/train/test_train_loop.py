"""The trainer: non-finite losses, resumption, determinism, pruning and early stopping."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers_train import build, tiny_model, tiny_synthetic, tiny_train

from lstm_search.checkpoint import load_checkpoint
from lstm_search.train import StopTrial, TrainOutcome, train


def _comparable(outcome: TrainOutcome) -> dict[str, object]:
    """Everything but wall-clock figures."""
    history = [{k: v for k, v in h.items() if k != "seconds" and "per_second" not in k}
               for h in outcome.history]
    return {"status": outcome.status, "metrics": outcome.metrics, "history": history,
            "best_epoch": outcome.best_epoch, "epochs": outcome.epochs,
            "objective": outcome.objective}


def test_huge_learning_rate_fails_with_a_reason() -> None:
    task, net = build(tiny_synthetic("adding", seq_len=10), tiny_model(), tiny_train())
    outcome = train(net, task, tiny_train(lr=1e30, clip=None, epochs=2), seed=0)
    assert outcome.status == "failed"
    assert "is inf" in outcome.error or "is nan" in outcome.error, outcome.error
    assert "epoch 1" in outcome.error
    assert outcome.metrics.get("test.mse") is None  # no test evaluation of a failed run


def test_injected_inf_in_the_loss_fails_cleanly() -> None:
    task, net = build(tiny_synthetic("recall", gap=3), tiny_model(), tiny_train())
    original = task.loss
    calls = {"n": 0}

    def poisoned(output: torch.Tensor, batch: object) -> torch.Tensor:
        calls["n"] += 1
        loss = original(output, batch)  # type: ignore[arg-type]
        return loss * math.inf if calls["n"] == 3 else loss

    task.loss = poisoned  # type: ignore[method-assign]
    outcome = train(net, task, tiny_train(epochs=2), seed=0)
    assert outcome.status == "failed"
    assert outcome.error == "training loss is inf at epoch 1, batch 3 (learning rate 0.5)"


class Killed(Exception):
    pass


@pytest.mark.parametrize("task_name", ["memorize", "adding"])
def test_resumed_run_equals_uninterrupted_run(tmp_path: Path, task_name: str) -> None:
    # dropout and input noise draw random numbers, so the RNG state must come back exactly
    task_cfg = tiny_synthetic(task_name)
    model_cfg = tiny_model(num_layers=2, dropout=0.3)
    cfg = tiny_train(epochs=3, input_noise=0.1, momentum=0.9, lr_schedule="step",
                     decay_start=1, lr_decay=0.5)

    task, net = build(task_cfg, model_cfg, cfg, seed=7)
    straight = train(net, task, cfg, seed=7, checkpoint_dir=str(tmp_path / "straight"))

    def kill_after_first(epoch: int, metrics: dict[str, float], final: bool) -> None:
        if epoch == 1:
            raise Killed

    task, net = build(task_cfg, model_cfg, cfg, seed=7)
    with pytest.raises(Killed):
        train(net, task, cfg, seed=7, on_eval=kill_after_first,
              checkpoint_dir=str(tmp_path / "resumed"))
    assert load_checkpoint(tmp_path / "resumed")["trainer"]["epoch"] == 1
    # a fresh process would build a fresh model: use other initial weights to prove the
    # checkpoint's weights are the ones used
    task, net = build(task_cfg, model_cfg, cfg, seed=99)
    torch.manual_seed(12345)  # and disturb the global generator the checkpoint must restore
    resumed = train(net, task, cfg, seed=7, checkpoint_dir=str(tmp_path / "resumed"))
    assert resumed.resumed_from_epoch == 1
    assert _comparable(resumed) == _comparable(straight)
    assert straight.status == "complete" and len(straight.history) == 3


def test_checkpoint_is_plain_tensors_and_rejects_another_run(tmp_path: Path) -> None:
    cfg = tiny_train()
    task, net = build(tiny_synthetic("recall", gap=3), tiny_model(), cfg)
    train(net, task, cfg, seed=1, checkpoint_dir=str(tmp_path), genome_json="{}")
    payload = load_checkpoint(tmp_path)  # torch.load(weights_only=True) inside
    assert payload is not None and payload["genome"] == "{}"
    assert set(payload) >= {"model", "best_model", "optimizer", "trainer", "rng", "config"}
    assert all(isinstance(v, torch.Tensor) for v in payload["model"].values())
    with pytest.raises(ValueError, match=r"belongs to another run .*lr"):
        train(net, task, tiny_train(lr=0.1), seed=1, checkpoint_dir=str(tmp_path),
              genome_json="{}")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "bad")


def test_same_seed_same_result_other_seed_other_result() -> None:
    task_cfg, model_cfg = tiny_synthetic("memorize"), tiny_model(dropout=0.2)
    cfg = tiny_train(epochs=2, input_noise=0.05)
    runs = []
    for seed in (3, 3, 4):
        task, net = build(task_cfg, model_cfg, cfg, seed=seed)
        runs.append(_comparable(train(net, task, cfg, seed=seed)))
    assert runs[0] == runs[1]
    assert runs[0]["metrics"] != runs[2]["metrics"]


def test_on_eval_prunes_and_early_stopping_stops() -> None:
    cfg = tiny_train(epochs=4)
    task, net = build(tiny_synthetic("recall", gap=3), tiny_model(), cfg)
    seen: list[tuple[int, dict[str, float]]] = []

    def prune_at_two(epoch: int, metrics: dict[str, float], final: bool) -> bool:
        seen.append((epoch, metrics))
        return epoch == 2

    out = train(net, task, cfg, seed=0, on_eval=prune_at_two)
    assert out.status == "pruned" and out.epochs == 2 and [e for e, _ in seen] == [1, 2]
    assert {"valid.acc", "valid.nll", "train.loss", "lr"} <= set(seen[0][1])
    assert "test.acc" not in out.metrics and "valid.acc" in out.metrics

    def stop(epoch: int, metrics: dict[str, float], final: bool) -> None:
        raise StopTrial("enough")

    out = train(net, task, cfg, seed=0, on_eval=stop)
    assert (out.status, out.epochs, out.stop_reason) == ("pruned", 1, "enough")

    # zero patience: stop at the first epoch that does not improve
    out = train(net, task, tiny_train(epochs=30, patience=1, lr=1e-6), seed=0)
    assert out.status == "complete" and out.epochs < 30
    assert out.stop_reason.startswith("early stopping")
    assert out.metrics["test.acc"] >= 0  # test evaluated at the best epoch's weights


def test_learning_rate_schedules() -> None:
    task, net = build(tiny_synthetic("recall", gap=3), tiny_model(), tiny_train())
    out = train(net, task, tiny_train(epochs=4, lr=1.0, lr_schedule="step", decay_start=2,
                                      lr_decay=0.5), seed=0)
    assert [h["lr"] for h in out.history] == [1.0, 1.0, 0.5, 0.25]
    # a rate too small to change the accuracy: epoch 2 does not improve, so the rate halves
    # from epoch 3 on, every epoch (Jozefowicz et al. 2015)
    out = train(net, task, tiny_train(epochs=4, lr=1e-9, lr_schedule="plateau",
                                      plateau_patience=1, lr_decay=0.5), seed=0)
    assert [h["lr"] for h in out.history] == pytest.approx([1e-9, 1e-9, 5e-10, 2.5e-10])


def test_adam_and_float64_run() -> None:
    cfg = tiny_train(optimizer="adam", lr=1e-2, dtype="float64")
    task, net = build(tiny_synthetic("adding", seq_len=8), tiny_model(), cfg)
    out = train(net, task, cfg, seed=0)
    assert out.status == "complete" and math.isfinite(out.metrics["test.mse"])
    assert next(net.parameters()).dtype == torch.float64


class FakeClock:
    """The trainer's clock, moved on only by the test (a time budget stop at a chosen batch)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _budget_case(task_cfg, epochs: int = 3):
    model_cfg = tiny_model(num_layers=2, dropout=0.3)
    # plateau_patience=0: the rate decays from epoch 1 on, so recomputing it for the resumed
    # epoch would decay it twice; dropout and input noise draw from the restored generator
    cfg = tiny_train(epochs=epochs, input_noise=0.1, momentum=0.9, lr_schedule="plateau",
                     plateau_patience=0, lr_decay=0.7)
    return model_cfg, cfg


@pytest.mark.parametrize("stop_at", [(2, 3), (1, 6)])  # mid-epoch; last batch of an epoch
def test_time_budget_stop_resumes_to_the_uninterrupted_result(tmp_path: Path, monkeypatch,
                                                             stop_at) -> None:
    import dataclasses

    import lstm_search.train._clock as train_clock

    clock = FakeClock()
    monkeypatch.setattr(train_clock, "now", clock)
    task_cfg = tiny_synthetic("memorize")
    model_cfg, cfg = _budget_case(task_cfg)
    task, net = build(task_cfg, model_cfg, cfg, seed=7)
    assert task.n_batches("train", cfg.batch_size, cfg.bptt) == 6
    straight = train(net, task, cfg, seed=7)

    def spend_the_budget(epoch: int, batch: int, loss: float) -> None:
        if (epoch, batch) == stop_at:
            clock.t += 1000.0

    budget = dataclasses.replace(cfg, max_seconds=100.0)
    folder = str(tmp_path / "ck")
    task, net = build(task_cfg, model_cfg, cfg, seed=7)
    stopped = train(net, task, budget, seed=7, checkpoint_dir=folder, on_batch=spend_the_budget)
    saved = load_checkpoint(folder)["trainer"]
    assert stopped.status == "complete" and stopped.stop_reason.startswith("time budget")
    assert saved["out_of_time"] and not saved["finished"]  # the checkpoint says why
    assert saved["stop_reason"] == stopped.stop_reason
    if stop_at == (2, 3):
        assert stopped.partial_epoch == 2 and stopped.epochs == 2
        assert "epoch 2 stopped after batch 3 of 6" in stopped.stop_reason
        last = stopped.history[-1]
        assert (last["epoch"], last["partial"], last["batches"]) == (2.0, 1.0, 3.0)
        assert saved["epoch"] == 1 and saved["position"]["batch"] == 3
        assert len(saved["history"]) == 1  # the partial validation is not the checkpoint's
    else:
        assert stopped.partial_epoch is None and stopped.epochs == 1
        assert "partial" not in stopped.history[-1] and saved["position"] is None
    assert "test.acc" in stopped.metrics

    # the same budget again: nothing left to train, the same outcome
    batches: list[tuple[int, int]] = []
    task, net = build(task_cfg, model_cfg, cfg, seed=99)
    again = train(net, task, budget, seed=7, checkpoint_dir=folder,
                  on_batch=lambda e, b, loss: batches.append((e, b)))
    assert batches == [] and _comparable(again) == _comparable(stopped)

    # no budget: continues from the stop (other initial weights, a disturbed generator: the
    # checkpoint's are used) and ends exactly as the run never stopped
    task, net = build(task_cfg, model_cfg, cfg, seed=99)
    torch.manual_seed(12345)
    resumed = train(net, task, cfg, seed=7, checkpoint_dir=folder,
                    on_batch=lambda e, b, loss: batches.append((e, b)))
    assert batches[0] == ((stop_at[0], stop_at[1] + 1) if stop_at[1] < 6 else (2, 1))
    assert _comparable(resumed) == _comparable(straight)
    assert resumed.partial_epoch is None and resumed.stop_reason == straight.stop_reason == \
        "3 epochs"
    assert not load_checkpoint(folder)["trainer"]["out_of_time"]


def test_time_budget_stop_keeps_the_carried_state(shared_data: Path, tmp_path: Path,
                                                  monkeypatch) -> None:
    # truncated BPTT: the state carried from batch to batch must survive a mid-epoch stop
    import dataclasses

    import lstm_search.train._clock as train_clock
    from lstm_search.config import TaskConfig

    clock = FakeClock()
    monkeypatch.setattr(train_clock, "now", clock)
    task_cfg = TaskConfig(name="ptb", data_dir=str(shared_data), subset=0.0005,
                          eval_subset=0.0005)
    model_cfg, cfg = _budget_case(task_cfg, epochs=2)
    task, net = build(task_cfg, model_cfg, cfg, seed=3)
    assert task.carry_state and task.n_batches("train", cfg.batch_size, cfg.bptt) >= 4
    straight = train(net, task, cfg, seed=3)

    def spend(epoch: int, batch: int, loss: float) -> None:
        if (epoch, batch) == (1, 2):
            clock.t += 1000.0

    folder = str(tmp_path / "ck")
    task, net = build(task_cfg, model_cfg, cfg, seed=3)
    stopped = train(net, task, dataclasses.replace(cfg, max_seconds=10.0), seed=3,
                    checkpoint_dir=folder, on_batch=spend)
    assert stopped.partial_epoch == 1
    assert load_checkpoint(folder)["carried_state"] is not None
    task, net = build(task_cfg, model_cfg, cfg, seed=4)
    resumed = train(net, task, cfg, seed=3, checkpoint_dir=folder)
    assert _comparable(resumed) == _comparable(straight)


def test_pruned_run_resumes_as_pruned(tmp_path: Path) -> None:
    cfg = tiny_train(epochs=4)
    task, net = build(tiny_synthetic("recall", gap=3), tiny_model(), cfg)
    out = train(net, task, cfg, seed=0, on_eval=lambda epoch, m, final: epoch == 2,
                checkpoint_dir=str(tmp_path))
    assert (out.status, out.epochs) == ("pruned", 2)
    saved = load_checkpoint(tmp_path)["trainer"]
    assert saved["pruned"] and saved["finished"]
    batches: list[int] = []
    again = train(net, task, cfg, seed=0, checkpoint_dir=str(tmp_path),
                  on_batch=lambda e, b, loss: batches.append(b))
    assert batches == []  # nothing trained
    assert (again.status, again.epochs, again.stop_reason) == ("pruned", 2, out.stop_reason)
    assert "test.acc" not in again.metrics


def test_on_eval_is_told_which_epoch_is_final(monkeypatch) -> None:
    """The trainer says when it stops after an epoch whatever on_eval returns (the last
    epoch, early stopping, a spent time budget), so a pruner never cuts a trained run."""
    import dataclasses

    import lstm_search.train._clock as train_clock

    task_cfg = tiny_synthetic("recall", gap=3)

    def finals(cfg) -> list[tuple[int, bool]]:
        seen: list[tuple[int, bool]] = []
        task, net = build(task_cfg, tiny_model(), cfg, seed=0)
        train(net, task, cfg, seed=0, on_eval=lambda e, m, final: seen.append((e, final)))
        return seen

    assert finals(tiny_train(epochs=3)) == [(1, False), (2, False), (3, True)]
    # early stopping: the epoch that exhausts the patience is final, before the last epoch
    stopped = finals(tiny_train(epochs=30, patience=1, lr=1e-6))
    assert stopped[-1][1] and len(stopped) < 30 and not any(f for _, f in stopped[:-1])
    # the time budget spent by epoch 2's last batch: epoch 2 is whole, and final
    clock = FakeClock()
    monkeypatch.setattr(train_clock, "now", clock)
    cfg = dataclasses.replace(tiny_train(epochs=5), max_seconds=100.0)
    task, net = build(task_cfg, tiny_model(), cfg, seed=0)
    total = task.n_batches("train", cfg.batch_size, cfg.bptt)

    def spend(epoch: int, batch: int, loss: float) -> None:
        if (epoch, batch) == (2, total):
            clock.t += 1000.0

    seen: list[tuple[int, bool]] = []
    out = train(net, task, cfg, seed=0, on_batch=spend,
                on_eval=lambda e, m, final: seen.append((e, final)))
    assert seen == [(1, False), (2, True)] and out.stop_reason.startswith("time budget")
