"""NAS-Bench-NLP-like random cells on PTB (Klyuchnikov et al. 2020): random search over random
graphs (search_spaces/nasbench_nlp.py), two layers of 200 units, a short Zaremba-style recipe.
The benchmark trained 14,322 cells: ``--set search.trials=14322``."""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import load_space

EXPERIMENT = Experiment(
    name="random_cells_ptb",
    description="NAS-Bench-NLP-like random cells on PTB word level (perplexity)",
    space=load_space("nasbench_nlp"),
    task=TaskConfig(name="ptb"),
    model=ModelConfig(hidden_size=200, num_layers=2, dropout=0.1, init_scale=0.1),
    train=TrainConfig(optimizer="sgd", lr=5.0, lr_schedule="plateau", epochs=10, batch_size=20,
                      bptt=35, clip=0.25, patience=3),
    search=SearchConfig(trials=100, sampler="random", direction="minimize"),
    smoke={"search.trials": 3, "train.epochs": 1, "task.subset": 0.01, "task.eval_subset": 0.02,
           "model.hidden_size": 16,
           "model.num_layers": 1, "train.bptt": 10, "train.progress": False},
)
