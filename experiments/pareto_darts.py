"""Quality against size: DARTS cells (the darts space) on long-lag recall, NSGA-II over the task's
accuracy and the parameter count; the result is a Pareto front (``lstm_search.search.pareto``)."""

import dataclasses

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import LogUniform, load_space

EXPERIMENT = Experiment(
    name="pareto_darts",
    description="DARTS cells: recall accuracy vs parameter count (NSGA-II)",
    # Adam instead of the template's SGD recipe: its learning rate range
    space=dataclasses.replace(load_space("darts"), hparams={"lr": LogUniform(1e-3, 3e-2)}),
    task=TaskConfig(name="recall", gap=10, n_train=1024, n_valid=256, n_test=256),
    model=ModelConfig(hidden_size=32, num_layers=1, init_scale=None),
    train=TrainConfig(optimizer="adam", lr=1e-2, lr_schedule="none", epochs=5, batch_size=32,
                      progress=False, threads=1),
    search=SearchConfig(trials=40, sampler="nsga2", second_objective="n_params",
                        direction="maximize"),
    smoke={"search.trials": 4, "train.epochs": 1, "task.n_train": 128, "task.n_valid": 64,
           "task.n_test": 64, "space.hparams": {"lr": 0.01}},
)
