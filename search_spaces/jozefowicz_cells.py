"""The cells of Jozefowicz, Zaremba & Sutskever 2015's comparison (table 1): their LSTM (no
peepholes; PyTorch's ``lstm`` computes the same function, with a second, redundant bias per
gate), LSTM-b (forget-gate bias 1), LSTM-f (no forget gate), the GRU and the three best evolved
cells MUT1-3, each trained at the same random hyperparameter settings drawn from the paper's
ranges (section 3; ``settings``: the paper used 20 per cell and task)."""

from lstm_search.spaces import CellChoiceSpace, load_space

JOZEFOWICZ_HPARAMS = load_space("jozefowicz").hparams

SPACE = CellChoiceSpace(
    name="jozefowicz_cells",
    cells=("lstm", "lstm_b", "lstm_f", "gru", "mut1", "mut2", "mut3"),
    hparams=JOZEFOWICZ_HPARAMS,
    settings=20,
    settings_seed=1,
)
