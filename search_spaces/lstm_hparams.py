"""An LSTM's training hyperparameters (Zaremba et al. 2014 style PTB models): learning rate,
dropout, hidden size, initialisation scale and gradient clipping."""

from lstm_search.spaces import CellChoiceSpace, Choice, LogUniform, Uniform

SPACE = CellChoiceSpace(
    name="lstm_hparams",
    cells=("lstm",),
    hparams={
        "lr": LogUniform(0.1, 10.0),
        "dropout": Uniform(0.0, 0.7),
        "hidden_size": Choice((200, 400, 650)),
        "init_scale": LogUniform(0.01, 0.2),
        "clip": Uniform(1.0, 10.0),
    },
)
