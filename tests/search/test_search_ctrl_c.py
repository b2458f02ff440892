"""Ctrl-C in a terminal, as a user sees it: ``lstm-search run`` with two worker processes that
train real cells, interrupted once a trial is recorded, ends with a few plain lines (where the
run is, progress, the --resume command): no traceback from any process and no warning from the
multiprocessing resource tracker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from search_helpers import _default_sigint, rows

LSTM_SEARCH = Path(sys.executable).parent / "lstm-search"


@pytest.mark.integration
def test_ctrl_c_with_two_workers_is_quiet(tmp_path: Path) -> None:
    if not LSTM_SEARCH.exists():
        pytest.skip(f"no console script at {LSTM_SEARCH}")
    out = tmp_path / "results"
    run_dir = out / "quickstart" / "c"
    for _attempt in range(3):  # a Ctrl-C the interpreter drops in a finaliser: try again
        proc = subprocess.Popen(
            [str(LSTM_SEARCH), "run", "quickstart", "--workers", "2", "--out", str(out),
             "--run", "c", *(["--resume"] if run_dir.exists() else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
            preexec_fn=_default_sigint, env=dict(os.environ, OMP_NUM_THREADS="1"))
        end = time.monotonic() + 300
        while not rows(run_dir) and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(1.0)  # both workers inside a trial
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            break
    text = err.decode()
    assert proc.returncode == 130, text[-2000:]
    assert "Traceback" not in text and "KeyboardInterrupt" not in text, text
    assert "leaked" not in text and "resource_tracker" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) <= 12, text
    assert lines[-1].strip().endswith("--resume")
