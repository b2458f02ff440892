"""``moving_shapes``: next-frame prediction on a generated video of bouncing squares, the
kind of task on which Shi et al. (2015, "Convolutional LSTM Network", NeurIPS, section 4.1,
Moving MNIST) compare a ConvLSTM with an FC-LSTM; drawn procedurally, nothing downloaded.

Each sequence is ``seq_len + 1`` binary frames of 16×16 pixels (:data:`SIZE`) holding 1 or 2
squares (:data:`MAX_SHAPES`) of side 3 or 4 pixels; each square starts at a uniform position
with a velocity of ±1 or ±2 pixels per frame on each axis and bounces off the borders (the
position is reflected and the velocity component flips); a pixel is 1 where any square
covers it. The model reads frames 0 .. T−1 and predicts, at every step t, frame t + 1 (one
step ahead, the true frames as input: not Shi et al.'s multi-step forecast from 10 frames).

Loss: per-pixel binary cross-entropy of the predicted logits, summed over each frame; a batch's
``n`` counts frames. Metrics: ``bce`` (the objective, minimised), the mean per-pixel binary
cross-entropy in nats; ``mse``, the mean squared error of the predicted probabilities per
pixel. The first step cannot know the squares' velocities and is scored like every other.

The model (:class:`~lstm_search.nn.FramePredictor`) depends on the cell: a spatial cell
(``zoo.get("convlstm")``) gets a convolutional stack over the frames, ``model.hidden_size``
hidden channels, and a 1×1 convolution to the frame; a vector cell (``lstm``: the FC-LSTM)
reads each frame flattened to 256 values and a linear layer maps its output back to 256 logits.

Data: ``task.seq_len`` (default 12 predicted frames), ``n_train`` / ``n_valid`` / ``n_test``
(default 2,000 / 200 / 200 sequences), fixed by ``task.data_seed`` (each split from its own
stream of that seed).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lstm_search.config import ConfigError, ModelConfig, TaskConfig, TrainConfig
from lstm_search.nn import FramePredictor
from lstm_search.tasks._base import Batch, RNNFactory, Task, subset_count

__all__ = ["MAX_SHAPES", "SIZE", "MovingShapesTask", "check_options", "moving_shapes"]

SIZE = 16  # frames are SIZE × SIZE pixels, one channel
MAX_SHAPES = 2  # squares per sequence: 1 .. MAX_SHAPES
SIDES = (3, 4)  # a square's side in pixels
SPEEDS = (-2, -1, 1, 2)  # a velocity component, pixels per frame
DEFAULT_SEQ_LEN = 12
DEFAULT_SIZES = (2_000, 200, 200)
_OPTIONS = ("seq_len",)  # the TaskConfig options moving_shapes takes


def _bounce(p: int, v: int, top: int) -> tuple[int, int]:
    """Position and velocity after one step in [0, top], reflected at both ends."""
    p += v
    while p < 0 or p > top:
        p, v = (-p, -v) if p < 0 else (2 * top - p, -v)
    return p, v


def moving_shapes(n: int, frames: int, seed: int, size: int = SIZE) -> np.ndarray:
    """``n`` sequences of ``frames`` binary frames, (n, frames, size, size) uint8, drawn from
    ``np.random.default_rng(seed)`` (see the module docstring)."""
    if n < 1 or frames < 2 or size < max(SIDES) + 1:
        raise ValueError(f"need n >= 1, frames >= 2, size > {max(SIDES)}; got {n}, {frames}, "
                         f"{size}")
    rng = np.random.default_rng(seed)
    out = np.zeros((n, frames, size, size), dtype=np.uint8)
    for i in range(n):
        for _ in range(int(rng.integers(1, MAX_SHAPES + 1))):
            side = int(rng.choice(SIDES))
            top = size - side
            y, x = (int(v) for v in rng.integers(0, top + 1, size=2))
            vy, vx = (int(v) for v in rng.choice(SPEEDS, size=2))
            for t in range(frames):
                out[i, t, y:y + side, x:x + side] = 1
                y, vy = _bounce(y, vy, top)
                x, vx = _bounce(x, vx, top)
    return out


@functools.lru_cache(maxsize=4)
def _split(n: int, frames: int, seed: int) -> np.ndarray:
    return moving_shapes(n, frames, seed)


def check_options(config: TaskConfig) -> None:
    """Raise :class:`ConfigError` naming an option of another synthetic task set here."""
    from lstm_search.tasks._synthetic import OPTION_FIELDS

    for f in OPTION_FIELDS:
        if f not in _OPTIONS and getattr(config, f) is not None:
            raise ConfigError(f"task.{f} is not an option of task 'moving_shapes' (its "
                              f"options: task.seq_len); unset it with task.{f}=none")


class MovingShapesTask(Task):
    """Next-frame prediction of bouncing squares (see the module docstring)."""

    name = "moving_shapes"
    objective = "bce"
    direction = "minimize"
    unit = "frames"

    def __init__(self, config: TaskConfig) -> None:
        super().__init__(config)
        check_options(config)
        self.seq_len = config.seq_len or DEFAULT_SEQ_LEN
        sizes = (config.n_train or DEFAULT_SIZES[0], config.n_valid or DEFAULT_SIZES[1],
                 config.n_test or DEFAULT_SIZES[2])
        fractions = (config.subset, config.eval_subset, config.eval_subset)
        self._data: dict[str, Tensor] = {}
        for k, (split, n, frac) in enumerate(zip(("train", "valid", "test"), sizes, fractions,
                                                 strict=True)):
            seed = int(np.random.SeedSequence([config.data_seed, k]).generate_state(1)[0])
            frames = _split(n, self.seq_len + 1, seed)
            keep = subset_count(n, frac, f"{split} split")
            self._data[split] = torch.from_numpy(frames[:keep]).unsqueeze(2)  # (n, T+1, 1, H, W)

    def input_size(self, model: ModelConfig) -> int:
        """Channels of a spatial stack's input; a vector stack reads 256 values instead."""
        return 1

    def build_model(self, rnn: RNNFactory, model: ModelConfig, train: TrainConfig) -> nn.Module:
        spatial = bool(getattr(rnn, "spatial", False))
        stack = rnn(1, spatial=(SIZE, SIZE)) if spatial else rnn(SIZE * SIZE)  # type: ignore[call-arg]
        return FramePredictor(stack, frame_shape=(1, SIZE, SIZE),
                              hidden_size=model.hidden_size, spatial=spatial,
                              dropout=model.dropout, input_noise=train.input_noise)

    def n_batches(self, split: str, batch_size: int, bptt: int) -> int:
        return -(-len(self._data[split]) // batch_size)

    def batches(self, split: str, batch_size: int, bptt: int, *,
                seed: int | None = None) -> Iterator[Batch]:
        data = self._data[split]
        n = len(data)
        order = (torch.from_numpy(np.random.default_rng(seed).permutation(n))
                 if seed is not None else torch.arange(n))
        for i in range(0, n, batch_size):
            frames = data[order[i:i + batch_size]].transpose(0, 1).float()  # (T+1, B, 1, H, W)
            x, y = frames[:-1].contiguous(), frames[1:].contiguous()
            yield Batch(x, y, None, int(y.shape[0] * y.shape[1]))

    def loss(self, output: Tensor, batch: Batch) -> Tensor:
        """Per-pixel binary cross-entropy of the logits, summed (over ``n`` frames)."""
        return F.binary_cross_entropy_with_logits(output, batch.y, reduction="sum")

    def score(self, output: Tensor, batch: Batch) -> dict[str, float]:
        se = (torch.sigmoid(output) - batch.y).square().sum()
        return {"bce": float(self.loss(output, batch)), "se": float(se),
                "pixels": float(batch.y.numel()), "n": float(batch.n)}

    def summarize(self, sums: dict[str, float]) -> dict[str, float]:
        px = max(sums.get("pixels", 0.0), 1.0)
        return {"bce": sums["bce"] / px, "mse": sums["se"] / px}
