"""Provenance: which code, on which machine, with which libraries produced a run and its rows.

Every row of the results table records the commit of the package's own source (computed once per
process: the code a process runs is the code it imported), whether that tree was dirty and a
short hash of its diff, the CPU model, torch's thread count during the trial and the GEMM path
compiled cells take (:mod:`lstm_search.compile`'s packed oneDNN or ``F.linear``), since all of
them change float32 results. ``run.json`` records the same for the run, with the versions of
Optuna and Ray read from their installed metadata (importing Ray takes seconds).
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class GitState:
    """The git state of a source tree: commit, whether tracked files changed, and a short hash
    of ``git diff HEAD`` when they did (two dirty states of one commit differ in it)."""

    commit: str = ""
    dirty: bool | None = None
    diff: str = ""


def git_state(where: str | os.PathLike[str]) -> GitState:
    """The :class:`GitState` of the checkout whose tracked files include ``where`` (a file or
    folder); empty when ``where`` is not tracked by git (an installed copy of the package, even
    one inside a checkout's ignored virtualenv, has no commit)."""
    where = Path(where).resolve()
    folder = where if where.is_dir() else where.parent

    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, timeout=30,
                              check=True).stdout

    try:
        git("ls-files", "--error-unmatch", "--", str(where))
        sha = git("rev-parse", "HEAD").decode("ascii", "replace").strip()
        diff = git("diff", "HEAD", "--no-ext-diff", "--no-color", "--binary")
    except (OSError, subprocess.SubprocessError):
        return GitState()
    dirty = bool(diff)
    return GitState(commit=sha, dirty=dirty,
                    diff=hashlib.sha256(diff).hexdigest()[:12] if dirty else "")


@functools.lru_cache(maxsize=1)
def source_state() -> GitState:
    """The :class:`GitState` of this package's source (computed once per process: the code a
    process runs is the code it imported, whatever lands in the checkout later)."""
    return git_state(Path(__file__).resolve())


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str:
    """The commit of ``cwd``'s checkout (default: this package's source), "" outside git."""
    return (git_state(cwd) if cwd else source_state()).commit


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def gemm_path() -> str:
    """The matrix-product path compiled cells take on CPU float32 in this process:
    ``"onednn-packed"`` or ``"F.linear"`` (``LSTM_SEARCH_ONEDNN``; lstm_search.compile._gemm).
    """
    from lstm_search.compile import onednn_available

    return "onednn-packed" if onednn_available() else "F.linear"


def trial_provenance(threads: int | None = None) -> dict[str, Any]:
    """The provenance fields of a :class:`TrialResult` made in this process: versions, the
    source's commit and dirty state, CPU model, torch's thread count during the trial
    (``threads``, the trainer's setting, else torch's current count) and the GEMM path."""
    import torch

    git = source_state()
    return {"package_version": _package_version(), "git_commit": git.commit,
            "git_dirty": git.dirty, "git_diff": git.diff, "torch_version": torch.__version__,
            "cpu_model": cpu_model(), "threads": int(threads or torch.get_num_threads()),
            "gemm_path": gemm_path()}


def provenance_warnings(previous: Mapping[str, Any]) -> list[str]:
    """One-line warnings about the code a run executes: a dirty source tree, and a commit that
    differs from ``previous`` (the provenance recorded in an earlier ``run.json`` of the same
    run: a resumed run should execute the code its first trials ran)."""
    git = source_state()
    out = []
    if git.dirty:
        out.append(f"warning: the source tree has uncommitted changes (commit {git.commit[:12]}"
                   f", diff {git.diff}): rows record them, but the commit alone does not pin "
                   f"the code")
    before = str(previous.get("git_commit") or "")
    if before and git.commit and before.removesuffix("-dirty") != git.commit:
        out.append(f"warning: this run was started at commit {before[:12]}, it now runs "
                   f"{git.commit[:12]}: its rows record different code")
    return out


def _package_version() -> str:
    from lstm_search import __version__

    return __version__


def provenance() -> dict[str, Any]:
    """Versions and commit recorded with every run and every row."""
    from lstm_search import __version__

    git = source_state()
    info: dict[str, Any] = {
        "package_version": __version__,
        "git_commit": git.commit,
        "git_dirty": git.dirty,
        "git_diff": git.diff,
        "cpu_model": cpu_model(),
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    torch = sys.modules.get("torch")
    if torch is None:
        try:
            import torch
        except ImportError:  # analysis-only installs
            torch = None
    info["torch_version"] = getattr(torch, "__version__", "") if torch else ""
    # the search libraries, from their installed metadata: importing Ray takes seconds
    info["optuna_version"] = _installed_version("optuna")
    info["ray_version"] = _installed_version("ray")
    return info


def _installed_version(dist: str) -> str:
    """The installed version of distribution ``dist`` ("" when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


__all__ = [
    "GitState",
    "cpu_model",
    "gemm_path",
    "git_commit",
    "git_state",
    "provenance",
    "provenance_warnings",
    "source_state",
    "trial_provenance",
]
