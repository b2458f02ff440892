"""The Grid LSTM's comparison: the zoo's ``grid_lstm`` (an LSTM along time and one along depth)
against the LSTM and the GRU as deep stacks on parity, every cell at the same learning rates
and seeds (a paired grid: cells x ``lr`` x ``seed``)."""

from lstm_search.spaces import CellChoiceSpace, Choice

SPACE = CellChoiceSpace(
    name="seed_grid",
    cells=("grid_lstm", "lstm", "gru"),
    hparams={"lr": Choice((3e-3, 1e-2)), "seed": Choice((1, 2))},
)
