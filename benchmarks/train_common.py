"""Shared helpers of the training benchmarks: machine description and result files."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
DATA = Path(os.environ.get("LSTM_SEARCH_DATA", Path(__file__).resolve().parents[1].parent
                           / "shared" / "data"))


def machine() -> dict[str, Any]:
    """CPU model, core count, load, torch version, threads and the commit of this run (with
    ``-dirty`` when the tree had uncommitted changes)."""
    import torch

    from lstm_search.provenance import source_state

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "python": platform.python_version(),
            "cuda": torch.cuda.is_available(), "commit": _commit(source_state()),
            "load_average_at_start": os.getloadavg()}


def _commit(state: Any) -> str:
    return state.commit + ("-dirty" if state.dirty else "")


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def write_markdown(name: str, text: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text(text.rstrip() + "\n")
    return path
