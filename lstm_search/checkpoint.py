"""Training checkpoints: plain dicts of tensors and numbers, never pickled modules.

A checkpoint holds the model's ``state_dict``, the best epoch's ``state_dict``, the optimizer's
``state_dict``, the trainer's counters (epoch, learning rate, best value, history, why it
stopped: pruned, out of time, and after a mid-epoch time-budget stop the position in the epoch),
the recurrent state carried at such a stop, the genome as JSON and the random states of torch
(CPU and CUDA), numpy and Python. It is written with
``torch.save`` to a temporary file and renamed into place, so a process killed mid-write leaves
the previous checkpoint intact, and read with ``torch.load(weights_only=True)``, which refuses
anything but tensors and plain containers.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "CHECKPOINT_FILE",
    "FORMAT",
    "capture_rng",
    "load_checkpoint",
    "restore_rng",
    "save_checkpoint",
]

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = "lstm-search-checkpoint"
VERSION = 1


def capture_rng() -> dict[str, Any]:
    """The global random states of torch (CPU and every CUDA device), numpy and Python, as
    tensors and plain lists (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": int(py_version), "state": list(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back the random states saved by :func:`capture_rng`."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` (plain dicts, lists, numbers, strings, tensors) atomically to ``path``.

    A folder ``path`` gets :data:`CHECKPOINT_FILE` inside it.
    """
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path.mkdir(parents=True, exist_ok=True)
        path = path / CHECKPOINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
                    ) -> dict[str, Any] | None:
    """The payload saved at ``path`` (a file or a folder holding :data:`CHECKPOINT_FILE`), or
    None when there is none. A file that is not a checkpoint of this format is an error."""
    path = Path(path)
    if path.is_dir() or not path.suffix:
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError ...
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not an lstm-search checkpoint")
    if payload.get("version") != VERSION:
        raise ValueError(f"{path}: checkpoint version {payload.get('version')!r}, this version "
                         f"reads {VERSION}")
    return payload
