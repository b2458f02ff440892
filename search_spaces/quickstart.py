"""The quickstart's comparison: LSTM, GRU and two of Greff's variants (no forget gate, coupled
input and forget gate), with the learning rate drawn log-uniformly."""

from lstm_search.spaces import CellChoiceSpace, LogUniform

SPACE = CellChoiceSpace(
    name="quickstart",
    cells=("lstm", "gru", "nfg", "cifg"),
    hparams={"lr": LogUniform(1e-3, 3e-2)},
)
