"""NAS-Bench-NLP-like random cells (Klyuchnikov et al. 2020): random graphs over linear, blend,
product, sum, tanh, sigmoid and leaky ReLU nodes, 1-2 states, with the learning rate searched
on a log scale around the benchmark's training recipe."""

from lstm_search.spaces import LogUniform, RandomGraphSpace

SPACE = RandomGraphSpace(
    name="nasbench_nlp",
    n_states=(1, 2),
    n_nodes=(4, 16),
    hparams={"lr": LogUniform(1.0, 20.0)},
)
