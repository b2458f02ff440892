"""Quickstart: LSTM vs GRU vs two of Greff's variants on the long-lag recall task.

Built-in synthetic data (no download; the cue must be recalled 40 steps later), a small model,
every cell trained at the same 5 learning rates of Adam (grid search: exactly 5 trials per cell,
enough for the report's statistics): a few minutes on two CPU cores;
``lstm-search run quickstart --smoke``: seconds.
"""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import load_space

EXPERIMENT = Experiment(
    name="quickstart",
    description="LSTM, GRU, NFG and CIFG on long-lag recall (accuracy, higher is better)",
    space=load_space("quickstart"),
    task=TaskConfig(name="recall", gap=40, n_train=2048, n_valid=256, n_test=256),
    model=ModelConfig(hidden_size=32, num_layers=1, backend="script", init_scale=None),
    train=TrainConfig(optimizer="adam", lr=1e-2, lr_schedule="none", epochs=8, batch_size=32,
                      clip=5.0, progress=False, threads=1),
    # every cell at the same learning rates: a paired, fair comparison
    search=SearchConfig(trials=20, sampler="grid", direction="maximize"),
    seed=1,
    smoke={"search.trials": 4, "space.settings": 1, "train.epochs": 1, "task.gap": 10,
           "task.n_train": 128, "task.n_valid": 64, "task.n_test": 64},
)
