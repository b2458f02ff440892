"""A DARTS-like recurrent template (Liu et al. 2019): 8 nodes, each picking one predecessor and
one activation of {tanh, relu, sigmoid, identity}; see
:class:`lstm_search.spaces.TemplateSpace` for the equations and how the output (DARTS: mean of
the 8 nodes) is written with the genome vocabulary (their sum)."""

from lstm_search.spaces import LogUniform, TemplateSpace

SPACE = TemplateSpace(
    name="darts",
    n_nodes=8,
    activations=("tanh", "relu", "sigmoid", "identity"),
    hparams={"lr": LogUniform(1.0, 20.0)},
)
