"""Zaremba, Sutskever & Vinyals 2014, "Recurrent Neural Network Regularization": the small
model on PTB word level (2 x 200, no dropout, U(-0.1, 0.1), SGD lr 1 halved each epoch after
epoch 4, 13 epochs, batch 20, unroll 20, gradient norm clipped at 5) with the LSTM and the GRU.
The paper reports test perplexity 114.5 for the LSTM. This recipe is already the paper's; the
medium model is ``--preset``-sized: ``--set model.hidden_size=650 ...`` (see config.PRESETS).
"""

from lstm_search.config import TaskConfig, preset
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import load_space

_model, _train = preset("zaremba-small")

EXPERIMENT = Experiment(
    name="zaremba_ptb",
    description="Zaremba et al. 2014 small model on PTB: LSTM and GRU (test perplexity)",
    space=load_space("lstm_gru"),
    task=TaskConfig(name="ptb"),
    model=_model,
    train=_train,
    search=SearchConfig(trials=2, sampler="grid", workers=2, direction="minimize"),
    seed=1,
    smoke={"train.epochs": 1, "task.subset": 0.01, "task.eval_subset": 0.02,
           "model.hidden_size": 16, "train.bptt": 10, "train.progress": False},
)
