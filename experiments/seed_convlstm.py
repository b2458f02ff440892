"""ConvLSTM vs FC-LSTM on next-frame prediction of bouncing squares at an equal parameter
budget (Shi, Chen, Wang, Yeung, Wong, Woo 2015, "Convolutional LSTM Network: A Machine Learning
Approach for Precipitation Nowcasting", NeurIPS, section 4.1, Moving MNIST).

The claim: convolutional input-to-state and state-to-state transitions capture the frames'
spatial correlations that an FC-LSTM, reading each frame as one flat vector, must learn from
full matrices, so a ConvLSTM predicts moving objects with a lower cross-entropy. Here the
frames are the ``moving_shapes`` task's (16×16, 1-2 bouncing squares, generated, no
download; one step ahead from the true frames, 12 predicted frames per sequence, 1,000
training sequences), the loss the per-pixel binary cross-entropy (the objective ``valid.bce``,
nats per pixel). ``model.param_budget`` sizes both models to about 30,000 parameters: the
ConvLSTM (3×3 kernels, peephole maps of 16×16, a 1×1 convolution head) gets about 20 hidden
channels, the FC-LSTM (256 inputs, a linear head to 256 logits) about 22 units. One layer
each, Adam at 2 learning rates and 2 seeds (8 trials), early stopping on the validation
cross-entropy. Shi et al.'s networks are far larger (FC-LSTM of 2,048 units; ConvLSTMs of 2-3
layers of 64-256 channels with 5×5 kernels) and forecast 10 frames from 10.
"""

from lstm_search.config import ModelConfig, TaskConfig, TrainConfig
from lstm_search.experiment import Experiment, SearchConfig
from lstm_search.spaces import Choice, load_space

EXPERIMENT = Experiment(
    name="seed_convlstm",
    description="ConvLSTM vs FC-LSTM: next frame of bouncing squares, BCE at ~30,000 parameters",
    space=load_space("seed_convlstm"),
    task=TaskConfig(name="moving_shapes", n_train=1000, seq_len=12),
    model=ModelConfig(num_layers=1, init_scale=None, param_budget=30_000),
    train=TrainConfig(optimizer="adam", lr=1e-2, lr_schedule="none", epochs=20, batch_size=16,
                      clip=1.0, patience=5, progress=False, threads=1),
    search=SearchConfig(trials=8, sampler="grid", workers=2, direction="minimize"),
    seed=1,
    smoke={"search.trials": 2, "train.epochs": 1, "task.n_train": 8, "task.n_valid": 4,
           "task.n_test": 4, "task.seq_len": 4, "space.hparams": {"lr": 1e-2, "seed": 1}},
    # 8 paired settings per cell, where the exact signed-rank test can reach p < 0.05
    paper={"search.trials": 16,
           "space.hparams": {"lr": Choice((3e-3, 1e-2)), "seed": Choice((1, 2, 3, 4))}},
)
