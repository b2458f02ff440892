"""The Clockwork RNN's comparison (Koutník et al. 2014, section 4.1): the CW-RNN against the
simple RNN (SRN, the zoo's ``rnn_tanh``), the LSTM and the GRU on waveform generation, every
cell at the same learning rates and seeds (a paired grid: cells x ``lr`` x ``seed``)."""

from lstm_search.spaces import CellChoiceSpace, Choice

SPACE = CellChoiceSpace(
    name="seed_clockwork",
    cells=("clockwork", "rnn_tanh", "lstm", "gru"),
    hparams={"lr": Choice((1e-2, 3e-2)), "seed": Choice((1, 2, 3))},
)
