"""Greff et al. 2015, "LSTM: A Search Space Odyssey", on JSB Chorales (frame NLL).

The vanilla LSTM, the eight variants and the GRU under random search with the paper's ranges
(search_spaces/greff.py); one hidden layer, SGD with Nesterov momentum, early stopping
(the ``greff`` training preset). The paper ran 200 trials per variant on each data set:
``--set search.trials=2000`` over the ten cells.
"""

from lstm_search.config import TaskConfig, preset
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import load_space

_model, _train = preset("greff")

EXPERIMENT = Experiment(
    name="greff_jsb",
    description="Greff's LSTM variants + GRU on JSB Chorales, random search (frame NLL)",
    space=load_space("greff"),
    task=TaskConfig(name="jsb", data_dir="../shared/data"),
    model=_model,
    train=_train,
    search=SearchConfig(trials=200, sampler="random", direction="minimize"),
    smoke={"search.trials": 4, "train.epochs": 1, "task.subset": 0.05, "task.eval_subset": 0.2,
           "train.batch_size": 8, "train.bptt": 50, "train.patience": "none",
           "train.progress": False},
)
