"""Helpers shared by the compiler's parity tests (imported by module name, as pytest puts each
test folder on the path)."""

from __future__ import annotations

from torch import Tensor, nn


def weights_of(layer: nn.Module, second: str = "b") -> dict[str, Tensor]:
    """Each genome node's rows of the layer's parameters, copied as leaf tensors: a node's
    first parameter under its name, its second (a bias) under ``name.<second>``."""
    params = dict(layer.named_parameters())
    out = {}
    for node, entries in layer.param_map().items():
        for k, (pname, r0, r1) in enumerate(entries):
            key = node if k == 0 else f"{node}.{second}"
            out[key] = params[pname][r0:r1].detach().clone().requires_grad_(True)
    return out
