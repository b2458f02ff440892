"""scripts/gpu_checks.sh, the CUDA checks in one script: on a machine without a CUDA device it
says so and exits 2 without running anything (on a GPU machine it is the check itself)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device: the script runs for real")
def test_gpu_checks_without_a_device_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "out")}
    res = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_checks.sh")], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert "gpu_checks: error: no CUDA device here" in res.stderr
    assert not list((tmp_path / "out").iterdir())  # nothing ran, nothing written
