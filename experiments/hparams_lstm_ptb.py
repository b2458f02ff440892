"""TPE over an LSTM's hyperparameters on PTB (Zaremba et al. 2014 medium-sized model family):
learning rate, dropout, hidden size, initialisation scale, clipping; unpromising trials are
pruned by the median rule after each epoch."""

from lstm_search.config import TaskConfig, preset
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import load_space

_model, _train = preset("zaremba-small")

EXPERIMENT = Experiment(
    name="hparams_lstm_ptb",
    description="TPE over an LSTM's hyperparameters on PTB word level (perplexity)",
    space=load_space("lstm_hparams"),
    task=TaskConfig(name="ptb"),
    model=_model,
    train=_train,
    search=SearchConfig(trials=100, sampler="tpe", pruner="median", direction="minimize"),
    smoke={"search.trials": 3, "train.epochs": 1, "task.subset": 0.01, "task.eval_subset": 0.02,
           "train.bptt": 10,
           "space.hparams": {"hidden_size": 16, "lr": 1.0}, "train.progress": False},
)
