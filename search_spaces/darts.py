"""DARTS' recurrent search space (Liu et al. 2019): 8 nodes, each picking one predecessor and
one activation of {tanh, relu, sigmoid, identity}; every sample is a true DARTS cell (no
biases, the mean of the 8 nodes as output; see :class:`lstm_search.spaces.TemplateSpace`)."""

from lstm_search.spaces import LogUniform, TemplateSpace

SPACE = TemplateSpace(
    name="darts",
    n_nodes=8,
    activations=("tanh", "relu", "sigmoid", "identity"),
    hparams={"lr": LogUniform(1.0, 20.0)},
)
