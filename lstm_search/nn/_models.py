"""Task models around any recurrent stack: language model, piano roll, classifiers, regression.

Every model is ``encoder -> dropout -> recurrent stack -> dropout -> head``. The stack is any
module with ``forward(x, state=None) -> (output, state)`` shaped like ``torch.nn.LSTM``
(time-major: x ``(T, B, I)``, output ``(T, B, H)``); :func:`lstm_search.nn.compile_rnn`
builds one from a genome, and ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` fit too. Dropout is applied
to non-recurrent connections only (Zaremba, Sutskever & Vinyals 2014, section 3): here to the
stack's input and output; between layers the stack applies it itself (its ``dropout`` argument).

Greff et al. (2015) regularise with Gaussian noise on the inputs: ``input_noise`` adds
N(0, std²) to the stack's input while training (after the embedding for token inputs).

Large decoders (a 10k-word vocabulary) are plain ``nn.Linear``; the compiler exposes no
fast-linear helper yet (oneDNN's packed linear runs about twice as fast as MKL on this CPU, see
shared/reference/performance.md).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

__all__ = [
    "FramePredictor",
    "LanguageModel",
    "NextStepClassifier",
    "PianoRollModel",
    "RecurrentModel",
    "SequenceClassifier",
    "SequenceRegressor",
    "StepRegressor",
    "detach_state",
]

State = Any  # a tensor (1-state cells) or a tuple of tensors, as the stack returns it


def detach_state(state: State) -> State:
    """Cut the graph behind a recurrent state (truncated BPTT across batches)."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return tuple(detach_state(s) for s in state)


class RecurrentModel(nn.Module):
    """``encoder -> dropout (+ input noise) -> stack -> dropout -> head``.

    Args:
        rnn: the recurrent stack (time-major, ``forward(x, state) -> (output, state)``).
        hidden_size: width of the stack's output.
        n_outputs: width of the head (vocabulary size, 88 keys, classes, 1 for regression).
        vocab_size: token inputs (``(T, B)`` int64) through an embedding of this many symbols;
            None: real-valued inputs ``(T, B, n_inputs)`` fed as they are.
        embed_size: embedding width (the stack's input size); None: ``hidden_size``.
        dropout: dropout probability on the stack's input and output.
        input_noise: std of Gaussian noise added to the stack's input while training.
        readout: "all" (one prediction per step) or "last" (one per sequence, from the last step).
        tie_weights: share the embedding and head matrices (Press & Wolf 2017; Inan et al. 2017);
            needs token inputs and ``embed_size == hidden_size == n_outputs``'s row width.
    """

    def __init__(
        self,
        rnn: nn.Module,
        *,
        hidden_size: int,
        n_outputs: int,
        vocab_size: int | None = None,
        embed_size: int | None = None,
        dropout: float = 0.0,
        input_noise: float = 0.0,
        readout: Literal["all", "last"] = "all",
        tie_weights: bool = False,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if input_noise < 0:
            raise ValueError(f"input_noise must be >= 0, got {input_noise}")
        if readout not in ("all", "last"):
            raise ValueError(f"readout must be 'all' or 'last', got {readout!r}")
        self.embedding = (nn.Embedding(vocab_size, embed_size or hidden_size)
                          if vocab_size is not None else None)
        self.rnn = rnn
        self.drop = nn.Dropout(dropout)
        self.decoder = nn.Linear(hidden_size, n_outputs)
        self.input_noise = float(input_noise)
        self.readout = readout
        if tie_weights:
            if self.embedding is None:
                raise ValueError("tie_weights needs token inputs (an embedding)")
            if self.embedding.embedding_dim != hidden_size or vocab_size != n_outputs:
                raise ValueError(
                    f"tie_weights needs embed_size == hidden_size (got "
                    f"{self.embedding.embedding_dim} and {hidden_size}) and as many outputs "
                    f"as symbols (got {n_outputs} and {vocab_size})")
            self.decoder.weight = self.embedding.weight

    def encode(self, x: Tensor) -> Tensor:
        """The stack's input: ``(T, B, E)`` from tokens ``(T, B)`` or vectors ``(T, B, I)``."""
        if self.embedding is not None:
            x = self.embedding(x)  # (T, B, E)
        if self.training and self.input_noise > 0:
            # Greff et al. 2015, section 4: Gaussian noise on the inputs while training
            x = x + self.input_noise * torch.randn_like(x)
        return self.drop(x)

    def forward(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        """Outputs ``(T, B, n_outputs)`` (readout "all") or ``(B, n_outputs)`` ("last")."""
        out, state = self.rnn(self.encode(x), state)  # (T, B, H)
        if self.readout == "last":
            out = out[-1]  # (B, H)
        return self.decoder(self.drop(out)), state


class LanguageModel(RecurrentModel):
    """Word or character language model: embedding -> stack -> dropout -> decoder over the
    vocabulary (Zaremba et al. 2014; Mikolov et al. 2010). Logits ``(T, B, V)``."""

    def __init__(self, rnn: nn.Module, *, vocab_size: int, hidden_size: int,
                 embed_size: int | None = None, dropout: float = 0.0, input_noise: float = 0.0,
                 tie_weights: bool = False) -> None:
        super().__init__(rnn, hidden_size=hidden_size, n_outputs=vocab_size,
                         vocab_size=vocab_size, embed_size=embed_size, dropout=dropout,
                         input_noise=input_noise, tie_weights=tie_weights)


class NextStepClassifier(RecurrentModel):
    """A class per step from token inputs (Jozefowicz et al. 2015's arithmetic, XML and
    memorisation tasks: the loss and accuracy are taken where the task's target mask is set)."""

    def __init__(self, rnn: nn.Module, *, vocab_size: int, n_classes: int, hidden_size: int,
                 embed_size: int | None = None, dropout: float = 0.0,
                 input_noise: float = 0.0) -> None:
        super().__init__(rnn, hidden_size=hidden_size, n_outputs=n_classes,
                         vocab_size=vocab_size, embed_size=embed_size, dropout=dropout,
                         input_noise=input_noise)


class PianoRollModel(RecurrentModel):
    """Polyphonic music (Boulanger-Lewandowski et al. 2012): 88 key inputs -> stack -> 88
    independent Bernoulli logits for the next frame (frame NLL = sum over keys)."""

    def __init__(self, rnn: nn.Module, *, hidden_size: int, n_keys: int = 88,
                 dropout: float = 0.0, input_noise: float = 0.0) -> None:
        super().__init__(rnn, hidden_size=hidden_size, n_outputs=n_keys, dropout=dropout,
                         input_noise=input_noise)


class SequenceClassifier(RecurrentModel):
    """One class per sequence, read from the last step (long-lag recall)."""

    def __init__(self, rnn: nn.Module, *, n_classes: int, hidden_size: int,
                 vocab_size: int | None = None, n_inputs: int | None = None,
                 embed_size: int | None = None, dropout: float = 0.0,
                 input_noise: float = 0.0) -> None:
        del n_inputs  # vectors are fed as they are; the stack's input size says the width
        super().__init__(rnn, hidden_size=hidden_size, n_outputs=n_classes,
                         vocab_size=vocab_size, embed_size=embed_size, dropout=dropout,
                         input_noise=input_noise, readout="last")


class SequenceRegressor(RecurrentModel):
    """One real value per sequence, read from the last step (Hochreiter & Schmidhuber 1997's
    adding problem). Output ``(B,)``."""

    def __init__(self, rnn: nn.Module, *, hidden_size: int, n_targets: int = 1,
                 dropout: float = 0.0, input_noise: float = 0.0) -> None:
        super().__init__(rnn, hidden_size=hidden_size, n_outputs=n_targets, dropout=dropout,
                         input_noise=input_noise, readout="last")

    def forward(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        out, state = super().forward(x, state)  # (B, n_targets)
        return (out.squeeze(-1) if out.shape[-1] == 1 else out), state


class StepRegressor(RecurrentModel):
    """One real value per step from real-valued inputs (Koutník et al. 2014's sequence
    generation: the stack is driven by a constant input and its output is the waveform).
    Output ``(T, B)``."""

    def __init__(self, rnn: nn.Module, *, hidden_size: int, dropout: float = 0.0,
                 input_noise: float = 0.0) -> None:
        super().__init__(rnn, hidden_size=hidden_size, n_outputs=1, dropout=dropout,
                         input_noise=input_noise)

    def forward(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        out, state = super().forward(x, state)  # (T, B, 1)
        return out.squeeze(-1), state


class FramePredictor(nn.Module):
    """Next-frame prediction from frames ``(T, B, C, H, W)``: per-pixel logits of the next
    frame, ``(T, B, C, H, W)``, as Shi et al. (2015, "Convolutional LSTM Network", section 4)
    compare a ConvLSTM with an FC-LSTM.

    ``spatial`` True: the stack is a spatial (convolutional) stack over the frames as they are
    (input channels C, hidden channels ``hidden_size``); a 1×1 convolution of its output maps
    to the C channels (Shi et al. read the hidden states of every layer there; this head reads
    the last layer's). ``spatial`` False (the FC-LSTM): each frame is flattened to a vector of
    C·H·W values, run through a vector stack of width ``hidden_size``, and a linear layer maps
    its output back to C·H·W logits. Dropout on the stack's input and output, Gaussian
    ``input_noise`` on the input while training, as :class:`RecurrentModel`.
    """

    def __init__(self, rnn: nn.Module, *, frame_shape: tuple[int, int, int], hidden_size: int,
                 spatial: bool, dropout: float = 0.0, input_noise: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if input_noise < 0:
            raise ValueError(f"input_noise must be >= 0, got {input_noise}")
        self.rnn = rnn
        self.frame_shape = tuple(int(v) for v in frame_shape)
        self.spatial = bool(spatial)
        c, h, w = self.frame_shape
        self.decoder: nn.Module = (nn.Conv2d(hidden_size, c, 1) if self.spatial
                                   else nn.Linear(hidden_size, c * h * w))
        self.drop = nn.Dropout(dropout)
        self.input_noise = float(input_noise)

    def forward(self, x: Tensor, state: State = None) -> tuple[Tensor, State]:
        T, B = x.shape[0], x.shape[1]
        if tuple(x.shape[2:]) != self.frame_shape:
            raise ValueError(f"expected frames (T, B, {', '.join(map(str, self.frame_shape))})"
                             f", got {tuple(x.shape)}")
        inp = x if self.spatial else x.reshape(T, B, -1)
        if self.training and self.input_noise > 0:
            inp = inp + self.input_noise * torch.randn_like(inp)
        out, state = self.rnn(self.drop(inp), state)
        out = self.drop(out)
        if self.spatial:  # (T, B, n, H, W) -> a 1x1 convolution per frame
            y = self.decoder(out.flatten(0, 1)).unflatten(0, (T, B))
        else:
            y = self.decoder(out).reshape(T, B, *self.frame_shape)
        return y, state
