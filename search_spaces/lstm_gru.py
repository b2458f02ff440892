"""The two baselines side by side, with nothing sampled: the LSTM and the GRU (PyTorch's
conventions, Hochreiter & Schmidhuber 1997 with the forget gate of Gers et al. 2000; Cho et al.
2014), each trained with the experiment's own recipe. Grid search runs each once per seed."""

from lstm_search.spaces import CellChoiceSpace

SPACE = CellChoiceSpace(name="lstm_gru", cells=("lstm", "gru"))
