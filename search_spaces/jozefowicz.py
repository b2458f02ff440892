"""Jozefowicz, Zaremba & Sutskever 2015, "An Empirical Exploration of Recurrent Network
Architectures": cells a few of the paper's six mutations away from the LSTM and the GRU, and the
hyperparameters it draws for every evaluation (section 3): initialisation scale
{0.3 ... 2.8}/sqrt(n) (here U(-s, s) with s in [0.3, 2.8] / sqrt(hidden)), learning rate in
[0.1, 5], gradient clipping in [1, 20]. The paper uses 1-4 layers; the layer count is a
training setting of each experiment here.

The evolutionary strategy (``search.sampler = "evolution"``) mutates members of its population
and draws these hyperparameters per evaluation; as a define-by-run space (random search, Ray
Tune) it samples a parent, a number of mutations and a mutation seed.
"""

from lstm_search.spaces import LogUniform, MutationSpace, Uniform

JOZEFOWICZ_HPARAMS = {
    "lr": LogUniform(0.1, 5.0),
    "clip": Uniform(1.0, 20.0),
    "init_scale": Uniform(0.3 / 14.1, 2.8 / 14.1),  # /sqrt(200): the hidden size used here
}

SPACE = MutationSpace(
    name="jozefowicz",
    parents=("lstm", "gru", "mut1", "mut2", "mut3"),
    max_mutations=3,
    hparams=JOZEFOWICZ_HPARAMS,
)
