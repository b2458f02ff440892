"""Quickstart: LSTM vs GRU vs two of Greff's variants on the long-lag recall task.

Built-in synthetic data (no download), a small model and a short TPE search over the learning
rate: a few minutes on two CPU cores. ``lstm-search run quickstart --smoke`` runs in seconds.
"""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import load_space

EXPERIMENT = Experiment(
    name="quickstart",
    description="LSTM, GRU, NFG and CIFG on long-lag recall (accuracy, higher is better)",
    space=load_space("quickstart"),
    task=TaskConfig(name="recall", gap=10, n_train=1024, n_valid=256, n_test=256),
    model=ModelConfig(hidden_size=32, num_layers=1, backend="script", init_scale=None),
    train=TrainConfig(optimizer="adam", lr=1e-2, lr_schedule="none", epochs=6, batch_size=32,
                      clip=5.0, progress=False, threads=1),
    search=SearchConfig(trials=16, sampler="tpe", pruner="median", direction="maximize"),
    smoke={"search.trials": 4, "train.epochs": 1, "task.n_train": 128, "task.n_valid": 64,
           "task.n_test": 64},
)
