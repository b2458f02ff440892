"""The seed systems of the LSTM literature, each against the LSTM and the GRU on the task where
its paper's claim shows, at an equal parameter budget: one suite of six experiments.

- ``seed_clockwork``: the Clockwork RNN (Koutník et al. 2014) against an SRN, the LSTM and
  the GRU on sequence generation (NMSE; 750 parameters each).
- ``seed_attention``: the LSTMN-style ``lstm_attention`` (Cheng et al. 2016) on multi-query
  associative recall (accuracy; about 10,000 parameters).
- ``seed_attention_ptb``: the attentive read-out ``lstm_attentive_readout`` (Daniluk et al.
  2017) and ``lstm_attention`` on PTB words (perplexity; about 2.7 million parameters).
- ``seed_grid``: 4-layer stacks of the Grid LSTM (Kalchbrenner et al. 2015) on parity with
  longer test strings (accuracy).
- ``seed_depth_gated``: 3-layer Depth-Gated LSTM stacks (Yao et al. 2015) on PTB characters
  (bits per character; about 60,000 parameters).
- ``seed_convlstm``: the ConvLSTM (Shi et al. 2015) against the FC-LSTM on next-frame
  prediction of bouncing squares (about 30,000 parameters; the GRU is not part of Shi et
  al.'s comparison).

Every part shares its settings across its cells: each cell is trained at the same learning
rates and seeds, so the report pairs them by setting (each part's docstring gives its task,
budget and schedule). The default runs each part's two-core grid (84 trials in all, 4-6 pairs
per cell: rankings and effect sizes without verdicts; about 2 hours with 2 workers, estimated
from the parts' recorded trial times); ``--paper`` runs 8 pairs per cell, the fewest whose exact
signed-rank test can reach p < 0.05 after Holm's correction (152 trials, about 4 hours);
``--smoke`` one epoch on little data (a minute or two). ``lstm-search report
OUT/seed_systems/RUN`` writes each part's report and one table of every system against its
baselines.
"""

from lstm_search.suite import Part, Suite

SUITE = Suite(
    name="seed_systems",
    description="Clockwork RNN, LSTMN-style attention, attentive read-out, Grid LSTM, "
                "Depth-Gated LSTM and ConvLSTM, each against the LSTM and GRU on its task.",
    parts=(
        Part("seed_clockwork", baselines=("rnn_tanh", "lstm", "gru")),
        Part("seed_attention", baselines=("lstm", "gru")),
        Part("seed_attention_ptb", baselines=("lstm", "gru"),
             cells=("lstm_attentive_readout", "lstm_attention")),
        Part("seed_grid", baselines=("lstm", "gru")),
        Part("seed_depth_gated", baselines=("lstm", "gru")),
        Part("seed_convlstm", baselines=("lstm",)),
    ),
)
