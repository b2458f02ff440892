"""Matrix products through oneDNN with a weight packed once, with a fallback to ``F.linear``.

On the project's CPUs MKL's GEMM (behind ``F.linear``) runs at less than half of oneDNN's rate
(shared/reference/performance.md); ``torch.nn.LSTM`` already uses oneDNN. The packed path uses
PyTorch's private operators ``mkldnn._reorder_linear_weight`` (pack once per sequence) and
``mkldnn._linear_pointwise`` (one product), the ones inductor uses. They exist only in CPU builds
with oneDNN and take float32 only: everything else (CUDA, float64, a build without them) takes
``F.linear``. :func:`linear` here and the generated ``_mm`` are the only callers.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import Tensor

# Set LSTM_SEARCH_ONEDNN=0 to force the F.linear path everywhere (for comparisons and tests).
_ENV = "LSTM_SEARCH_ONEDNN"


def onednn_available() -> bool:
    """Whether this build has the oneDNN linear operators."""
    if os.environ.get(_ENV, "1") == "0":
        return False
    try:
        ops = torch.ops.mkldnn
        return (torch.backends.mkldnn.is_available()
                and hasattr(ops, "_reorder_linear_weight")
                and hasattr(ops, "_linear_pointwise"))
    except (AttributeError, RuntimeError):
        return False


def can_pack(like: Tensor) -> bool:
    """Whether products with a weight like ``like`` may use the packed oneDNN path."""
    return like.device.type == "cpu" and like.dtype == torch.float32 and onednn_available()


def pack(weight: Tensor, batch: int) -> Tensor:
    """``weight`` (out, in) packed for products with ``batch`` rows (no autograd)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous(), batch)


def linear(a: Tensor, weight: Tensor, bias: Tensor | None, packed: bool) -> Tensor:
    """``a @ weight.T + bias``; ``weight`` is packed (from :func:`pack`) when ``packed``."""
    if packed:
        return torch.ops.mkldnn._linear_pointwise(a, weight, bias, "none", [], "")
    return F.linear(a, weight, bias)
