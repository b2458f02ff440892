"""Greff et al. 2015, "LSTM: A Search Space Odyssey": the vanilla LSTM, its eight variants and
the GRU, each under random search of (section 4):

- hidden units: log-uniform in [20, 200]
- learning rate: log-uniform in [1e-6, 1e-2]
- momentum: 1 - log-uniform in [0.01, 1.0]
- Gaussian input noise std: uniform in [0, 1]
"""

from lstm_search.spaces import CellChoiceSpace, IntUniform, LogUniform, OneMinusLogUniform, Uniform
from lstm_search.zoo import GREFF_VARIANTS

GREFF_HPARAMS = {
    "hidden_size": IntUniform(20, 200, log=True),
    "lr": LogUniform(1e-6, 1e-2),
    "momentum": OneMinusLogUniform(0.01, 1.0),
    "input_noise": Uniform(0.0, 1.0),
}

SPACE = CellChoiceSpace(
    name="greff",
    cells=("vanilla", *GREFF_VARIANTS, "gru"),
    hparams=GREFF_HPARAMS,
)
