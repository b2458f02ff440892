"""Small builders shared by the training tests (tiny sizes: each test runs in seconds)."""

from __future__ import annotations

from torch import nn

from lstm_search import zoo
from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.evaluate import build_model
from lstm_search.tasks import Task, make_task


def tiny_synthetic(name: str = "memorize", **options: object) -> TaskConfig:
    return TaskConfig(name=name, n_train=48, n_valid=16, n_test=16,
                      **options)  # type: ignore[arg-type]


def tiny_model(**changes: object) -> ModelConfig:
    base = {"hidden_size": 12, "num_layers": 1, "dropout": 0.0, "init_scale": 0.1}
    base.update(changes)
    return ModelConfig(**base)  # type: ignore[arg-type]


def tiny_train(**changes: object) -> TrainConfig:
    base = {"epochs": 1, "batch_size": 8, "bptt": 8, "lr": 0.5, "lr_schedule": "none",
            "progress": False, "clip": 5.0, "threads": 1}
    base.update(changes)
    return TrainConfig(**base)  # type: ignore[arg-type]


def build(task_cfg: TaskConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, *,
          cell: str = "lstm", seed: int = 0) -> tuple[Task, nn.Module]:
    task = make_task(task_cfg)
    net = build_model(zoo.get(cell), task, model_cfg, train_cfg, seed=seed)
    return task, net
