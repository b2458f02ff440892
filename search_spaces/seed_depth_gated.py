"""The Depth-Gated LSTM's comparison: the zoo's ``depth_gated`` (a depth gate from the layer
below's memory cell into this layer's) against the LSTM and the GRU as equally deep stacks on
character-level PTB, every cell at the same learning rates and seeds (a paired grid: cells x
``lr`` x ``seed``)."""

from lstm_search.spaces import CellChoiceSpace, Choice

SPACE = CellChoiceSpace(
    name="seed_depth_gated",
    cells=("depth_gated", "lstm", "gru"),
    hparams={"lr": Choice((3e-3, 1e-2)), "seed": Choice((1, 2))},
)
