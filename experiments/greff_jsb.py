"""Greff et al. 2015, "LSTM: A Search Space Odyssey", on JSB Chorales (frame NLL).

The vanilla LSTM, the eight variants and the GRU under random search with the paper's ranges
(search_spaces/greff.py): one hidden layer, SGD with Nesterov momentum and the learning rate
rescaled by (1 - momentum), the loss summed over each sequence, early stopping (the ``greff``
training preset).

The default is cut to what two CPU cores finish in about an hour: every cell at the same 8
random hyperparameter settings (a paired comparison; the paper drew 200 settings per variant
independently), updates after every 4 sequences instead of every one, at most 12 epochs with
patience 4. ``--paper``: 200 settings per cell, online updates, 150 epochs, patience 15.
"""

import dataclasses

from lstm_search.config import TaskConfig, preset
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import load_space

_model, _train = preset("greff")

EXPERIMENT = Experiment(
    name="greff_jsb",
    description="Greff's LSTM variants + GRU on JSB Chorales, random search (frame NLL)",
    space=dataclasses.replace(load_space("greff"), settings=8, settings_seed=1),
    task=TaskConfig(name="jsb"),
    model=_model,
    train=dataclasses.replace(_train, epochs=12, patience=4, batch_size=4, progress=False),
    search=SearchConfig(trials=80, sampler="grid", workers=2, direction="minimize"),
    seed=1,
    # smoke: the two baselines at 2 shared settings, so `report --baseline vanilla,gru` works
    smoke={"search.trials": 4, "space.settings": 2, "space.cells": '["vanilla", "gru"]',
           "train.epochs": 1, "task.subset": 0.05,
           "task.eval_subset": 0.2, "train.batch_size": 8, "train.bptt": 50,
           "train.patience": "none"},
    paper={"search.trials": 2000, "space.settings": 200, "train.epochs": 150,
           "train.patience": 15, "train.batch_size": 1},
)
