"""TorchScript for the drop-in modules: :func:`to_torchscript` turns a :class:`Recurrent`
(``LSTM``, ``GRU``, ``RNN`` or any genome's) into a ``torch.jit.ScriptModule`` that
``torch.jit.save`` / ``torch.jit.load`` accept and that needs no lstm_search to run.

The compiled modules' kernels are generated per cell and driven from Python, so TorchScript
cannot script them directly. Instead each layer and direction becomes the standalone module
:func:`~lstm_search.nn.export_torch` writes for the genome (plain PyTorch, the compiler's
identifiers; loaded from a private temporary file, the only way TorchScript reads a class's
source), carrying the layer's weights (:func:`~lstm_search.nn.exported_state_dict`), inside a
scripted stack with the same layers, directions and ``batch_first``. It computes what the
module computes in evaluation (no inter-layer dropout) on padded tensors; packed sequences
and unbatched input stay with the Python module.

``torch.jit.script(module)`` itself works too: :class:`Recurrent` and
:class:`~lstm_search.nn.RecurrentStack` define ``__prepare_scriptable__``
(:func:`scriptable`), which hands TorchScript a small wrapper around that ``ScriptModule``
with the Python module's signature: ``forward(x, hx=None) -> (output, h_n)``, ``h_n`` one
tensor for a one-state cell, a pair for a two-state cell (``(h, c)``), a list beyond.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from lstm_search.genome import genome_id
from lstm_search.nn._dropin import ProjectedLSTMLayer, Recurrent
from lstm_search.nn._export import export_torch, exported_state_dict
from lstm_search.nn._stack import RecurrentStack


class _Stack(nn.Module):
    """Layers (k · directions + d) of exported cells; forward(x, states) like torch.nn.LSTM,
    states as a list of (L · D, B, n) tensors in the genome's state order."""

    def __init__(self, layers: list[nn.Module], num_layers: int, directions: int,
                 n_states: int, hidden_size: int, batch_first: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.num_layers = num_layers
        self.directions = directions
        self.n_states = n_states
        self.hidden_size = hidden_size
        self.batch_first = batch_first

    def forward(self, x: Tensor, states: list[Tensor] | None = None
                ) -> tuple[Tensor, list[Tensor]]:
        if self.batch_first:
            x = x.transpose(0, 1)
        LD = self.num_layers * self.directions
        if states is None:
            zero = x.new_zeros(LD, x.size(1), self.hidden_size)
            states = [zero for _ in range(self.n_states)]
        finals: list[list[Tensor]] = []
        outs: list[Tensor] = []
        for i, layer in enumerate(self.layers):
            d = i % self.directions
            if d == 0 and i > 0:
                x = outs[0] if self.directions == 1 else torch.cat(outs, 2)
                outs = []
            init = [s[i] for s in states]
            xi = x if d == 0 else x.flip(0)
            y, new = layer(xi, init)
            outs.append(y if d == 0 else y.flip(0))
            finals.append(new)
        x = outs[0] if self.directions == 1 else torch.cat(outs, 2)
        h_n = [torch.stack([f[j] for f in finals], 0) for j in range(self.n_states)]
        return (x.transpose(0, 1) if self.batch_first else x), h_n


def _load_source(src: str, tag: str, folder: Path) -> Any:
    path = folder / f"cell_{tag}.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"lstm_search_export_{tag}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # the exporter's own source (see the module docstring)
    return mod


class _OneState(nn.Module):
    """A one-state cell's stack with :class:`Recurrent`'s signature (h_n one tensor)."""

    def __init__(self, stack: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.stack = stack

    def forward(self, x: Tensor, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        y, h_n = self.stack(x, None if hx is None else [hx])
        return y, h_n[0]


class _TwoStates(nn.Module):
    """A two-state cell's stack with :class:`Recurrent`'s signature (h_n a pair, (h, c))."""

    def __init__(self, stack: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.stack = stack

    def forward(self, x: Tensor, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        y, h_n = self.stack(x, None if hx is None else [hx[0], hx[1]])
        return y, (h_n[0], h_n[1])


class _ManyStates(nn.Module):
    """A cell with three states or more: h_n a list in the genome's state order."""

    def __init__(self, stack: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.stack = stack

    def forward(self, x: Tensor, hx: list[Tensor] | None = None
                ) -> tuple[Tensor, list[Tensor]]:
        return self.stack(x, hx)


def scriptable(module: Recurrent | RecurrentStack) -> nn.Module:
    """What ``torch.jit.script(module)`` scripts in ``module``'s place (its
    ``__prepare_scriptable__``): a plain module wrapping :func:`to_torchscript`'s result with
    ``module``'s ``forward(x, hx=None) -> (output, h_n)`` (see the module docstring)."""
    stack = to_torchscript(module)
    n = module.n_states
    return _OneState(stack) if n == 1 else _TwoStates(stack) if n == 2 else _ManyStates(stack)


def to_torchscript(module: Recurrent | RecurrentStack) -> torch.jit.ScriptModule:
    """``module`` as a ``torch.jit.ScriptModule`` (see the module docstring); raises
    ``ValueError`` for an LSTM with ``proj_size`` (its layers are not genome cells)."""
    if isinstance(module, RecurrentStack):
        cells, directions = list(module.layers), 1
    elif isinstance(module, Recurrent):
        cells, directions = list(module.cells), module.num_directions
    else:
        raise TypeError(f"expected an lstm_search.nn.Recurrent (LSTM, GRU, RNN ...) or "
                        f"RecurrentStack (compile_rnn), got {type(module).__name__}")
    if any(isinstance(c, ProjectedLSTMLayer) for c in cells):
        raise ValueError("an LSTM with proj_size has no genome cells to export; use "
                         "torch.jit.trace(module.to_torch(), example) instead")
    ref = next(module.parameters())
    with tempfile.TemporaryDirectory(prefix="lstm_search_export_") as tmp:
        mod = _load_source(export_torch(module.genome), genome_id(module.genome), Path(tmp))
        layers = []
        for cell in cells:
            layer = mod.Layer(cell.input_size, cell.hidden_size).to(device=ref.device,
                                                                     dtype=ref.dtype)
            layer.load_state_dict(exported_state_dict(cell))
            layers.append(layer)
        stack = _Stack(layers, module.num_layers, directions, module.n_states,
                       module.hidden_size, module.batch_first)
        return torch.jit.script(stack)  # reads the classes' source: inside the folder's life
