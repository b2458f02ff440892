"""The quickstart's comparison: LSTM, GRU and two of Greff's variants (no forget gate, coupled
input and forget gate), each trained at the same 5 learning rates drawn log-uniformly."""

from lstm_search.spaces import CellChoiceSpace, LogUniform

SPACE = CellChoiceSpace(
    name="quickstart",
    cells=("lstm", "gru", "nfg", "cifg"),
    hparams={"lr": LogUniform(1e-3, 3e-2)},
    settings=5,
    settings_seed=1,
)
