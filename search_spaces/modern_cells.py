"""The modern recurrences next to the LSTM and the GRU: sLSTM and mLSTM (Beck et al. 2024,
xLSTM), minGRU and minLSTM (Feng et al. 2024), RG-LRU (De et al. 2024, Griffin) and HGRN (Qin et al.
2023), every cell trained at the same shared settings (learning rate) and seeds."""

from lstm_search.spaces import CellChoiceSpace, Choice

CELLS = ("lstm", "gru", "slstm", "mingru", "minlstm", "rglru", "hgrn", "mlstm")

SPACE = CellChoiceSpace(
    name="modern_cells",
    cells=CELLS,
    hparams={"lr": Choice((3e-3,)), "seed": Choice((1, 2, 3))},
)
