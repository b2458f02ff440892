"""NAS-Bench-NLP-like random cells (Klyuchnikov et al. 2020): random graphs over linear, blend,
product, sum, tanh, sigmoid and leaky ReLU nodes, 1-2 states, with the learning rate searched
on a log scale over 1-20, a range for plain SGD on a Zaremba-style language model (the
experiments using this space train with SGD). This is NOT the benchmark's recipe: NAS-Bench-NLP
trained every cell with Adam at a fixed lr of 1e-3 (weight decay 1.2e-6, AWD-LSTM
regularisation, 50 epochs); to reproduce it, train with ``optimizer="adam", lr=1e-3``."""

from lstm_search.spaces import LogUniform, RandomGraphSpace

SPACE = RandomGraphSpace(
    name="nasbench_nlp",
    n_states=(1, 2),
    n_nodes=(4, 16),
    hparams={"lr": LogUniform(1.0, 20.0)},
)
