"""Accuracy against the time lag at an equal parameter budget: long-lag recall (the first of
8 cue tokens named after ``gap`` random distractors, "I grew up in France ... I speak fluent
French") for the tanh RNN, LSTM, LSTM-b, NFG and GRU at gaps 10-80.

Every model has about 9,544 parameters (an LSTM of 32 units with its embedding and classifier;
``model.param_budget`` sizes each cell), 20,000 training sequences, Adam, early stopping on
validation accuracy. Chance is 1/8. ``--paper``: three seeds and gaps up to 160.
"""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import Choice, load_space

EXPERIMENT = Experiment(
    name="long_lag",
    description="Long-lag recall: test accuracy vs gap at an equal parameter budget",
    space=load_space("long_lag"),
    task=TaskConfig(name="recall", n_train=20_000, n_valid=500, n_test=500),
    model=ModelConfig(num_layers=1, init_scale=None, param_budget=9_544),
    train=TrainConfig(optimizer="adam", lr=3e-3, lr_schedule="none", epochs=30, batch_size=64,
                      clip=1.0, patience=10, progress=False, threads=1),
    search=SearchConfig(trials=20, sampler="grid", workers=2, direction="maximize"),
    seed=1,
    smoke={"search.trials": 3, "train.epochs": 1, "task.n_train": 256, "task.n_valid": 64,
           "task.n_test": 64, "space.hparams": {"task.gap": Choice((5,)), "seed": 1}},
    paper={"search.trials": 75, "train.epochs": 60,
           "space.hparams": {"task.gap": Choice((10, 20, 40, 80, 160)),
                             "seed": Choice((1, 2, 3))}},
)
